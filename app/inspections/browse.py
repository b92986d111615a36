"""The inspections list: filters (those the dashboards drill down with), sorting and
the CSV export. Tenant-scoped: vendor users see final inspections of their own
vendor only (app.inspections.views)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import aliased, joinedload
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.inspections.views import person, visible_inspections
from app.models import (
    Decision,
    DecisionLabel,
    Inspection,
    InspectionLabel,
    Label,
    User,
    Vendor,
)
from app.models.enums import INSPECTION_STATUSES, POLICY_AREAS, SAMPLE_PURPOSES, SEVERITIES
from app.security.scoping import tenant_vendor_id, vendor_or_404
from app.validation import month_from_text, normalise_code
from app.web import parse_id

# What a drill-down asks for: which inspections of the group a number counts.
OUTCOMES = {
    "correct": "Correct",
    "incorrect": "Incorrect",
    "decision_wrong": "Wrong decision",
    "labels_wrong": "Right reject, wrong labels",
    "labels_judged": "Rejects judged rejects",
    "false_negative": "False negatives (approved, should be rejected)",
    "false_positive": "False positives (rejected, should be approved)",
    "critical": "Critical severity",
}
TEXT_FILTERS = ("market", "site", "moderator")
SORTS = {
    "newest": (Inspection.id.desc(),),
    "oldest": (Inspection.id.asc(),),
    "decided": (Decision.decided_at.desc(), Inspection.id.desc()),
    "score": (Inspection.rubric_score.asc(), Inspection.id.desc()),
}
MAX_TEXT = 128


@dataclass
class Filters:
    vendor: Vendor | None = None
    vendor_fixed: bool = False
    month: date | None = None
    status: str = ""
    purpose: str = ""
    policy_area: str = ""
    market: str = ""
    site: str = ""
    moderator: str = ""
    outcome: str = ""
    severity: str = ""
    inspector: User | None = None
    applied: str = ""  # the applied primary label code, or "approve"
    expected: str = ""  # the expected primary label code, or "approve"
    q: str = ""
    sort: str = "newest"
    errors: dict[str, str] = field(default_factory=dict)

    def query_args(self) -> dict[str, str]:
        """The filters as query arguments (for the export link and drill-downs)."""
        args = {
            "vendor": self.vendor.code if self.vendor and not self.vendor_fixed else "",
            "month": self.month.strftime("%Y-%m") if self.month else "",
            "inspector": str(self.inspector.id) if self.inspector else "",
        }
        for name in (
            "status",
            "purpose",
            "policy_area",
            *TEXT_FILTERS,
            "outcome",
            "severity",
            "applied",
            "expected",
            "q",
        ):
            args[name] = getattr(self, name)
        return {k: v for k, v in args.items() if v}


def _text(args: MultiDict, name: str) -> str:
    return (args.get(name) or "").strip()[:MAX_TEXT]


def _choice(f: Filters, args: MultiDict, name: str, allowed, message: str) -> str:
    value = _text(args, name)
    if value and value not in allowed:
        f.errors[name] = message
        return ""
    return value


def parse_filters(args: MultiDict, user: User) -> Filters:
    """Read the filters. Another vendor's (or an unknown) vendor code is a 404; other
    bad values are reported in `errors`."""
    f = Filters()
    code = normalise_code(args.get("vendor"))
    if code:
        f.vendor = vendor_or_404(code, user)
    own = tenant_vendor_id(user)
    if own is not None:
        f.vendor = f.vendor or db.session.get(Vendor, own)
        if f.vendor is None:
            abort(404)
        f.vendor_fixed = True
    month = _text(args, "month")
    if month:
        f.month = month_from_text(month)
        if f.month is None:
            f.errors["month"] = "Give the month as YYYY-MM."
    f.status = _choice(f, args, "status", INSPECTION_STATUSES, "Choose draft or final.")
    if user.is_vendor_user:
        f.status = "final"
    f.purpose = _choice(f, args, "purpose", SAMPLE_PURPOSES, "Choose contract or targeted.")
    f.policy_area = _choice(f, args, "policy_area", POLICY_AREAS, "Unknown policy area.")
    f.outcome = _choice(f, args, "outcome", OUTCOMES, "Unknown outcome.")
    f.severity = _choice(f, args, "severity", SEVERITIES, "Unknown severity.")
    for name in TEXT_FILTERS:
        setattr(f, name, _text(args, name))
    f.applied = normalise_code(_text(args, "applied"))
    f.expected = normalise_code(_text(args, "expected"))
    f.applied = "approve" if f.applied == "APPROVE" else f.applied
    f.expected = "approve" if f.expected == "APPROVE" else f.expected
    f.q = _text(args, "q")
    inspector = _text(args, "inspector")
    if inspector and not user.is_vendor_user:
        inspector_id = parse_id(inspector)
        f.inspector = db.session.get(User, inspector_id) if inspector_id else None
        if f.inspector is None:
            f.errors["inspector"] = "No such inspector."
    sort = _text(args, "sort") or "newest"
    f.sort = sort if sort in SORTS else "newest"
    return f


def _primary(table, owner_column, owner_id):
    """The code of the first label (position 0) of an inspection or decision."""
    return (
        sa.select(Label.code)
        .join(table, table.label_id == Label.id)
        .where(owner_column == owner_id, table.position == 0)
        .scalar_subquery()
    )


def statement(f: Filters) -> sa.Select:
    """Inspections matching the filters, with their decisions, in the chosen order."""
    stmt = visible_inspections(
        sa.select(Inspection).join(Decision, Decision.id == Inspection.decision_id)
    )
    if f.vendor is not None:
        stmt = stmt.where(Inspection.vendor_id == f.vendor.id)
    if f.month is not None:
        stmt = stmt.where(Inspection.month == f.month)
    for name, column in (
        ("status", Inspection.status),
        ("purpose", Inspection.purpose),
        ("severity", Inspection.severity),
        ("policy_area", Decision.policy_area),
        ("market", Decision.market),
        ("site", Decision.site),
        ("moderator", Decision.moderator_id),
    ):
        value = getattr(f, name)
        if value:
            stmt = stmt.where(column == value)
    if f.inspector is not None:
        stmt = stmt.where(Inspection.inspector_id == f.inspector.id)
    if f.q:
        stmt = stmt.where(Decision.external_id.contains(f.q, autoescape=True))
    stmt = _outcome(stmt, f.outcome)
    if f.applied:
        if f.applied == "approve":
            stmt = stmt.where(Decision.decision == "approve")
        else:
            applied = aliased(DecisionLabel)
            stmt = stmt.where(
                Decision.decision == "reject",
                _primary(applied, applied.decision_id, Decision.id) == f.applied,
            )
    if f.expected:
        if f.expected == "approve":
            stmt = stmt.where(Inspection.expected_decision == "approve")
        else:
            expected = aliased(InspectionLabel)
            stmt = stmt.where(
                Inspection.expected_decision == "reject",
                _primary(expected, expected.inspection_id, Inspection.id) == f.expected,
            )
    return stmt.order_by(*SORTS[f.sort])


def _outcome(stmt: sa.Select, outcome: str) -> sa.Select:
    conditions = {
        "correct": Inspection.correct.is_(True),
        "incorrect": Inspection.correct.is_(False),
        "decision_wrong": Inspection.decision_match.is_(False),
        "labels_wrong": Inspection.label_match.is_(False),
        "labels_judged": Inspection.label_match.is_not(None),
        "false_negative": sa.and_(
            Decision.decision == "approve", Inspection.expected_decision == "reject"
        ),
        "false_positive": sa.and_(
            Decision.decision == "reject", Inspection.expected_decision == "approve"
        ),
        "critical": Inspection.severity == "critical",
    }
    return stmt.where(conditions[outcome]) if outcome else stmt


def with_details(stmt: sa.Select) -> sa.Select:
    return stmt.options(
        joinedload(Inspection.decision).joinedload(Decision.vendor),
        joinedload(Inspection.inspector),
    )


# Export -------------------------------------------------------------------------------

CSV_COLUMNS = [
    "inspection_id",
    "decision",
    "vendor",
    "month",
    "purpose",
    "status",
    "policy_area",
    "market",
    "site",
    "moderator_id",
    "decision_made",
    "labels",
    "expected_decision",
    "expected_labels",
    "severity",
    "correct",
    "rubric_score",
    "inspector",
    "notes",
    "created_at",
    "finalised_at",
]


def export_filename(f: Filters) -> str:
    parts = ["inspections"]
    if f.vendor is not None:
        parts.append(f.vendor.code.lower())
    if f.month is not None:
        parts.append(f.month.strftime("%Y-%m"))
    return "-".join(parts) + ".csv"


def export_rows(f: Filters) -> Iterator[list]:
    """Rows of the export, read a batch at a time."""
    stmt = with_details(statement(f)).options(
        joinedload(Inspection.expected_labels).joinedload(InspectionLabel.label)
    )
    offset, batch = 0, 500
    while True:
        rows = db.session.scalars(stmt.limit(batch).offset(offset)).unique().all()
        for inspection in rows:
            d = inspection.decision
            yield [
                inspection.id,
                d.external_id,
                d.vendor.code,
                inspection.month.strftime("%Y-%m"),
                inspection.purpose,
                inspection.status,
                d.policy_area,
                d.market,
                d.site,
                d.moderator_id,
                d.decision,
                "|".join(d.label_codes),
                inspection.expected_decision or "",
                "|".join(il.label.code for il in inspection.expected_labels),
                inspection.severity or "",
                "" if inspection.correct is None else ("yes" if inspection.correct else "no"),
                "" if inspection.rubric_score is None else round(inspection.rubric_score, 2),
                person(inspection.inspector, email=True),
                inspection.notes,
                inspection.created_at.isoformat(),
                inspection.finalised_at.isoformat() if inspection.finalised_at else "",
            ]
        if len(rows) < batch:
            return
        offset += batch
        for inspection in rows:  # keep memory flat on big exports
            db.session.expunge(inspection.decision)
            db.session.expunge(inspection)
