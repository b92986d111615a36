"""Reading the label taxonomy: the filtered list, one label, and how much labels are
used. Labels are reference data every signed-in user reads; usage counts span every
vendor, so callers show them only to whom `can_see_all_vendors` allows. Flask-free but
for the 404 of a label that is not there."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import DecisionLabel, InspectionLabel, Label

LABEL_STATUSES = ("active", "retired", "all")
_SEVERITY_ORDER = sa.case(
    {"minor": 1, "major": 2, "critical": 3}, value=Label.typical_severity, else_=0
)
LABEL_SORTS = {
    "code": (Label.code,),
    "name": (Label.name, Label.code),
    "policy_area": (Label.policy_area, Label.code),
    "severity": (_SEVERITY_ORDER, Label.code),
    "updated": (Label.updated_at, Label.code),
}


def label_sort(sort: str) -> str:
    """`sort` when it names a column of LABEL_SORTS (with `-` for descending), else "code"."""
    return sort if sort.lstrip("-") in LABEL_SORTS else "code"


def label_list(*, q: str = "", area: str = "", status: str = "active", sort: str = "code"):
    """The labels matching the list filters (a search in code, name and description; a
    policy area; active, retired or all), in the order `sort` names."""
    stmt = sa.select(Label)
    if q:
        needle = q.lower()
        stmt = stmt.where(
            sa.or_(
                *(
                    sa.func.lower(column).contains(needle, autoescape=True)
                    for column in (Label.code, Label.name, Label.description)
                )
            )
        )
    if area:
        stmt = stmt.where(Label.policy_area == area)
    if status == "active":
        stmt = stmt.where(Label.active)
    elif status == "retired":
        stmt = stmt.where(sa.not_(Label.active))
    sort = label_sort(sort)
    columns = LABEL_SORTS[sort.lstrip("-")]
    if sort.startswith("-"):
        return stmt.order_by(*(column.desc() for column in columns))
    return stmt.order_by(*columns)


def label_or_404(label_id: int) -> Label:
    """The label with this id, or 404."""
    return db.get_or_404(Label, label_id)


@dataclass(frozen=True)
class LabelUsage:
    """How many decisions and inspections refer to a label."""

    decisions: int
    inspections: int

    @property
    def in_use(self) -> bool:
        return bool(self.decisions or self.inspections)

    def reason(self) -> str:
        parts = []
        if self.decisions:
            parts.append(f"{self.decisions} decision{'s' if self.decisions != 1 else ''}")
        if self.inspections:
            parts.append(f"{self.inspections} inspection{'s' if self.inspections != 1 else ''}")
        return "Used by " + " and ".join(parts) + "; code and policy area can no longer change."


def label_usage(label: Label) -> LabelUsage:
    """Count the decisions and inspections that use `label`."""
    decisions = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(DecisionLabel.decision_id))).where(
            DecisionLabel.label_id == label.id
        )
    )
    inspections = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(InspectionLabel.inspection_id))).where(
            InspectionLabel.label_id == label.id
        )
    )
    return LabelUsage(decisions or 0, inspections or 0)


def decision_counts(label_ids: list[int]) -> dict[int, int]:
    """Decisions per label, for the labels on one page of a list."""
    if not label_ids:
        return {}
    rows = db.session.execute(
        sa.select(DecisionLabel.label_id, sa.func.count())
        .where(DecisionLabel.label_id.in_(label_ids))
        .group_by(DecisionLabel.label_id)
    )
    return dict(rows.tuples().all())
