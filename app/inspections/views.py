"""What the signed-in user (page or API) may see of inspections: vendor users only
final inspections of their own vendor, inspectors as pseudonyms, and the history
from finalisation on (DESIGN §1)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_login import current_user

from app.models import Inspection, InspectionVersion, User
from app.security.scoping import scoped

# History entries a vendor user sees: what the inspection said once it was final.
VENDOR_HISTORY_SOURCES = ("finalise", "correction", "dispute")


def visible_inspections(stmt: sa.Select) -> sa.Select:
    """Limit a select over inspections to what the signed-in user may see."""
    stmt = scoped(stmt, Inspection, current_user)
    if current_user.is_vendor_user:
        stmt = stmt.where(Inspection.status == "final")
    return stmt


def person(user: User | None, *, email: bool = False) -> str:
    """How QA people are shown: vendor users see a stable pseudonym, never a name."""
    if user is None:
        return "—"
    if current_user.is_vendor_user:
        return user.pseudonym
    return user.email if email else user.name


def visible_history(inspection: Inspection) -> list[InspectionVersion]:
    if current_user.is_vendor_user:
        return [h for h in inspection.history if h.source in VENDOR_HISTORY_SOURCES]
    return list(inspection.history)
