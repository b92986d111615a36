"""Named permission predicates: who may *do* what (to which object). Every one starts
with `can_`; routes, the API, services and templates (as globals) ask these instead
of testing roles. What a user may *see* is in app/security/scoping.py; which roles
reach which endpoint is declared per route (app/security/access.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.security.roles import QA_ROLES, ROLE_ADMIN, ROLE_INTEGRATION, ROLE_QA_LEAD, STAFF_ROLES
from app.security.scoping import (
    can_see,
    can_see_all_jobs,
    can_see_all_vendors,
    can_see_identities,
    can_see_work_in_progress,
)

if TYPE_CHECKING:
    from app.models import Inspection, Sample, SampleItem, User


def _has(user: User | None, *roles: str) -> bool:
    return user is not None and getattr(user, "role", None) in roles


# Accounts and reference data ---------------------------------------------------------


def can_sign_in(user: User | None) -> bool:
    """People sign in to the pages; integrations are API-only."""
    return user is not None and user.active and user.role != ROLE_INTEGRATION


def can_administer(user: User | None) -> bool:
    """Users, API tokens, vendors and contracts, the label taxonomy, the audit log."""
    return _has(user, ROLE_ADMIN)


def can_see_scorecard_drafts(user: User | None) -> bool:
    """QA and admins see draft scorecard versions; vendor users (and integrations) only
    published and superseded ones: a draft is not a rubric anyone is judged on."""
    return _has(user, *STAFF_ROLES)


def can_manage_scorecards(user: User | None) -> bool:
    return _has(user, ROLE_QA_LEAD)


def can_see_scorecard_history(user: User | None) -> bool:
    """The change log of a scorecard template: its managers and admins."""
    return can_administer(user) or can_manage_scorecards(user)


def can_import_decisions(user: User | None) -> bool:
    """Admins and QA leads push decisions by CSV (integrations do it by API)."""
    return _has(user, ROLE_ADMIN, ROLE_QA_LEAD)


# Sampling and inspecting -------------------------------------------------------------


def can_manage_samples(user: User | None) -> bool:
    """Draw, assign, skip, close and cancel samples; manage plans."""
    return _has(user, ROLE_QA_LEAD)


def can_edit_sample(user: User | None, sample: Sample) -> bool:
    return can_manage_samples(user) and sample.state == "open"


def can_see_all_queues(user: User | None) -> bool:
    """QA leads and admins look at every inspector's queue."""
    return _has(user, ROLE_QA_LEAD, ROLE_ADMIN)


def can_inspect(user: User | None) -> bool:
    """QA people inspect; they have a queue and may be assigned items."""
    return _has(user, *QA_ROLES)


def can_inspect_item(user: User, item: SampleItem | None) -> bool:
    """The item's assignee, anyone in QA for an unassigned item, a QA lead always;
    without an item (a hand-picked decision) only a QA lead."""
    if _has(user, ROLE_QA_LEAD):
        return True
    if item is None or not can_inspect(user):
        return False
    return item.assignee_id in (None, user.id)


def can_inspect_unsampled(user: User | None) -> bool:
    """Inspect a decision outside any sample (it counts as targeted): QA leads."""
    return _has(user, ROLE_QA_LEAD)


def can_edit_inspection(user: User, inspection: Inspection) -> bool:
    """Who may change a draft inspection: its inspector or a QA lead."""
    return _has(user, ROLE_QA_LEAD) or (can_inspect(user) and inspection.inspector_id == user.id)


def can_correct_inspection(user: User, inspection: Inspection) -> bool:
    """A final inspection changes by a QA lead's correction (with a reason)."""
    return inspection.status == "final" and _has(user, ROLE_QA_LEAD)


def can_see_sample_of(user: User, item: SampleItem | None) -> bool:
    """Whether the sample an inspection came from may be linked for `user`."""
    return item is not None and can_see(user, item.sample)


# Templates get every predicate as a global of the same name.
TEMPLATE_PREDICATES = {
    fn.__name__: fn
    for fn in (
        can_administer,
        can_correct_inspection,
        can_edit_inspection,
        can_edit_sample,
        can_import_decisions,
        can_inspect,
        can_inspect_item,
        can_inspect_unsampled,
        can_manage_samples,
        can_manage_scorecards,
        can_see,
        can_see_all_jobs,
        can_see_all_queues,
        can_see_all_vendors,
        can_see_identities,
        can_see_sample_of,
        can_see_scorecard_drafts,
        can_see_scorecard_history,
        can_see_work_in_progress,
    )
}
