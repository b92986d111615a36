"""What each user may *see*: the one place where every object-level visibility rule of
DESIGN §1 is written.

Each rule exists twice, in the two forms callers need, side by side so they cannot
drift apart: a query filter (`visible(select(Model), user)`) for lists, counts and
exports, and a predicate on a loaded object (`can_see(user, obj)`) for one object.
Pages, the API, CSV exports, downloads and templates all use these; nothing else
decides what a vendor user may see.

The rules:
- vendor users see only their own vendor's objects (decisions, samples, inspections,
  contracts, users); asking for another vendor's object is a 404, never a 403, so
  existence is not leaked;
- of samples, only closed ones (an open sample's id is not shown either), and of
  sample items only those of a sample they may see; never sampling plans;
- of inspections, only final ones, and of their history only what the inspection
  said from finalisation on (never drafts, draft versions or draft times);
- QA people appear to them as a stable pseudonym (`QA-<id>`), never by name or email;
- a background job is seen by whoever started it, and by admins and QA leads.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from flask import abort

from app.extensions import db
from app.models import (
    Inspection,
    InspectionVersion,
    Job,
    Sample,
    SampleItem,
    SamplingPlan,
    User,
    Vendor,
)
from app.models.enums import QA_ROLES, VENDOR_ROLES
from app.security.roles import ROLE_ADMIN, ROLE_QA_LEAD
from app.validation import has_control_characters

M = TypeVar("M")

# History entries a vendor user sees: what the inspection said once it was final.
VENDOR_HISTORY_SOURCES = ("finalise", "correction", "dispute")
# Who sees every background job, not only their own.
_ALL_JOBS_ROLES = (ROLE_ADMIN, ROLE_QA_LEAD)


def _tenant_bound(user: User | None) -> bool:
    """Whether `user` is confined to one vendor (a vendor lead or viewer)."""
    return user is not None and user.role in VENDOR_ROLES


def tenant_vendor_id(user: User) -> int | None:
    """The vendor a user is confined to, or None for users who see every vendor."""
    return user.vendor_id if _tenant_bound(user) else None


def _tenant_column(model):
    name = getattr(model, "__tenant_column__", None)
    if name is None:
        raise TypeError(f"{model.__name__} is not vendor-owned (no __tenant_column__)")
    return getattr(model, name)


def scoped(stmt: sa.Select, model, user: User) -> sa.Select:
    """Limit a select over a vendor-owned `model` to `user`'s vendor (tenant rule only;
    `visible` adds the other rules of each model)."""
    vendor_id = tenant_vendor_id(user)
    if vendor_id is None:
        return stmt
    return stmt.where(_tenant_column(model) == vendor_id)


# The query filter --------------------------------------------------------------------


def visible(stmt: sa.Select, user: User, model=None) -> sa.Select:
    """Limit `stmt` (a select over `model`, by default its first entity) to the rows
    `user` may see."""
    model = model or stmt.column_descriptions[0]["entity"]
    if model is Job:
        if user.role in _ALL_JOBS_ROLES:
            return stmt
        return stmt.where(Job.created_by_id == user.id)
    if model is SampleItem:
        if not _tenant_bound(user):
            return stmt
        return stmt.where(SampleItem.sample_id.in_(visible(sa.select(Sample.id), user, Sample)))
    if model is InspectionVersion:
        if not _tenant_bound(user):
            return stmt
        return stmt.where(
            InspectionVersion.source.in_(VENDOR_HISTORY_SOURCES),
            InspectionVersion.inspection_id.in_(
                visible(sa.select(Inspection.id), user, Inspection)
            ),
        )
    stmt = scoped(stmt, model, user)
    if not _tenant_bound(user):
        return stmt
    if model is Sample:
        return stmt.where(Sample.state == "closed")
    if model is Inspection:
        return stmt.where(Inspection.status == "final")
    if model is SamplingPlan:
        return stmt.where(sa.false())
    return stmt


# The same rules on one loaded object -------------------------------------------------


def can_see(user: User, obj) -> bool:
    """Whether `user` may see `obj` (the predicate form of `visible`)."""
    if isinstance(obj, Job):
        return user.role in _ALL_JOBS_ROLES or (
            obj.created_by_id is not None and obj.created_by_id == user.id
        )
    if isinstance(obj, SampleItem):
        return can_see(user, obj.sample)
    if isinstance(obj, InspectionVersion):
        return can_see(user, obj.inspection) and (
            not _tenant_bound(user) or obj.source in VENDOR_HISTORY_SOURCES
        )
    vendor_id = tenant_vendor_id(user)
    if vendor_id is None:
        return True
    if getattr(obj, type(obj).__tenant_column__) != vendor_id:
        return False
    if isinstance(obj, Sample):
        return obj.state == "closed"
    if isinstance(obj, Inspection):
        return obj.status == "final"
    return not isinstance(obj, SamplingPlan)


def can_see_all_jobs(user: User) -> bool:
    """Admins and QA leads see everyone's background jobs, not only their own."""
    return user.role in _ALL_JOBS_ROLES


def get_or_404(model: type[M], ident, user: User) -> M:
    """Load an object by primary key, or 404 if it is absent or `user` may not see it."""
    obj = db.session.get(model, ident)
    if obj is None or not can_see(user, obj):
        abort(404)
    return obj


def vendor_or_404(code: str, user: User) -> Vendor:
    """The vendor with `code`, if `user` may see it (e.g. for `?vendor=CODE` filters)."""
    if not code or len(code) > 20 or has_control_characters(code):
        abort(404)  # no vendor code is that long or holds a control character (or a NUL)
    stmt = visible(sa.select(Vendor).where(Vendor.code == code.strip().upper()), user)
    vendor = db.session.scalar(stmt)
    if vendor is None:
        abort(404)
    return vendor


def list_vendor_or_404(code: str | None, user: User) -> tuple[Vendor | None, bool]:
    """The vendor a filtered list is limited to, and whether the user may change it: the
    vendor `code` names (404 when `user` may not see it), or none; a vendor user's list
    is always their own vendor's (404 for a vendor user without a vendor)."""
    vendor = vendor_or_404(code, user) if code else None
    if not _tenant_bound(user):
        return vendor, False
    if vendor is None and user.vendor_id is not None:
        vendor = db.session.get(Vendor, user.vendor_id)
    if vendor is None:
        abort(404)
    return vendor, True


def visible_vendors(user: User) -> list[Vendor]:
    """The vendors `user` may see, by code (for filter menus)."""
    return list(db.session.scalars(visible(sa.select(Vendor).order_by(Vendor.code), user)))


def visible_history(user: User, inspection: Inspection) -> list[InspectionVersion]:
    """The versions of `inspection` that `user` may see, oldest first."""
    return [h for h in inspection.history if can_see(user, h)]


def can_see_all_vendors(user: User | None) -> bool:
    """Staff see every vendor (lists, filters, the QA overview, usage across vendors);
    vendor users see their own vendor only."""
    return user is not None and not _tenant_bound(user)


def can_see_work_in_progress(user: User | None) -> bool:
    """Whether `user` sees open samples and draft inspections (vendor users see only
    closed samples and final inspections)."""
    return not _tenant_bound(user)


def can_see_plans(user: User | None) -> bool:
    """Whether `user` sees sampling plans, and which plan a sample was drawn from (the
    predicate form of `visible` on plans, without loading one: vendor users never do)."""
    return not _tenant_bound(user)


def shown_version(user: User, inspection: Inspection, version: int | None = None) -> int:
    """The number of one of an inspection's versions (by default its current one) as
    `user` is shown it. Vendor users count from finalisation, the finalised inspection
    being version 1, so that no number tells how much draft work came before."""
    version = inspection.version if version is None else version
    if can_see_work_in_progress(user):
        return version
    final = [h.version for h in inspection.history if h.source in VENDOR_HISTORY_SOURCES]
    return version - min(final, default=1) + 1


def shown_created_at(user: User, inspection: Inspection) -> datetime | None:
    """When `user` is told the inspection was made: for vendor users its finalisation
    (when drafting began is QA's own work in progress)."""
    return inspection.created_at if can_see_work_in_progress(user) else inspection.finalised_at


# People ------------------------------------------------------------------------------


def can_see_identities(user: User | None) -> bool:
    """Whether `user` may see who QA people are (names, emails, who drew or assigned
    what); vendor users see pseudonyms only, and no filter may name a person."""
    return not _tenant_bound(user)


def inspectors(stmt: sa.Select, *, active_only: bool = True) -> sa.Select:
    """Limit a select over users to the active QA people, who may be assigned items
    (the query form of `can_inspect`, for active users); with `active_only=False`, also
    those deactivated since (who inspected before)."""
    stmt = stmt.where(User.role.in_(QA_ROLES))
    return stmt.where(User.active) if active_only else stmt


def display_person(viewer: User | None, person: User | None, *, email: bool = False) -> str:
    """How `person` is shown to `viewer`: a stable pseudonym for vendor users, otherwise
    the name (or the email)."""
    if person is None:
        return "—"
    if not can_see_identities(viewer):
        return person.pseudonym
    return person.email if email else person.name
