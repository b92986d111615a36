"""Named permission predicates on domain objects (who may do what to which object).
Role requirements per route live in app/security/access.py, tenant scoping in
app/security/scoping.py; these answer the questions in between."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.models.enums import ROLE_QA_LEAD
from app.security.roles import STAFF_ROLES

if TYPE_CHECKING:
    from app.models import Inspection, SampleItem, User


def can_see_scorecard_drafts(user: User | None) -> bool:
    """QA and admins see draft scorecard versions; vendor users (and integrations) only
    published and superseded ones: a draft is not a rubric anyone is judged on."""
    return user is not None and user.role in STAFF_ROLES


def may_inspect_item(user: User, item: SampleItem | None) -> bool:
    """The item's assignee, anyone in QA for an unassigned item, a QA lead always;
    without an item (a hand-picked decision) only a QA lead."""
    if user.role == ROLE_QA_LEAD:
        return True
    if item is None or not user.is_qa:
        return False
    return item.assignee_id in (None, user.id)


def may_edit_inspection(user: User, inspection: Inspection) -> bool:
    """Who may change a draft inspection: its inspector or a QA lead."""
    return user.role == ROLE_QA_LEAD or (user.is_qa and inspection.inspector_id == user.id)
