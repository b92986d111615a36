"""The metrics of DESIGN §3 counted by SQL (no Flask): one statement per vendor-month.

A vendor-month is the final inspections of the vendor whose decision was made in that
calendar month (UTC); `contract` inspections make the headline figures, the others
(`targeted`) are counted apart. Inspections keep their month, purpose and matches
(app/models/inspection.py), so a vendor-month is one range of the index
`ix_inspections_vendor_month`; the decisions (moderator, site, market, labels) are
joined by primary key.

`vendor_month_sql()` is the whole aggregate as one statement (overall figures per
purpose, breakdowns, label confusion); `vendor_month()` runs it and shapes the
answer of `GET /api/v1/vendors/<code>/metrics` (DESIGN §11).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.metrics.definitions import Share, cap_status, floor_status

# The shares of DESIGN §3, in the order they are reported.
SHARES = (
    "overall_accuracy",
    "decision_accuracy",
    "label_accuracy",
    "false_negative_rate",
    "false_positive_rate",
    "critical_error_rate",
)
SHARE_NAMES = {
    "overall_accuracy": "Overall accuracy",
    "decision_accuracy": "Decision accuracy",
    "label_accuracy": "Label accuracy",
    "false_negative_rate": "False negatives",
    "false_positive_rate": "False positives",
    "critical_error_rate": "Critical errors",
}
BREAKDOWNS = ("policy_area", "market", "site", "moderator")
_BREAKDOWN_COLUMNS = {
    "policy_area": "policy_area",
    "market": "market",
    "site": "site",
    "moderator": "moderator_id",
}
# What each figure counts, in SQL over one inspection row and its decision's columns
# ({i}: the inspection's table alias, {d}: the decision's).
_SUMS = {
    "correct": "CASE WHEN {i}correct THEN 1 ELSE 0 END",
    "decision_match": "CASE WHEN {i}decision_match THEN 1 ELSE 0 END",
    "label_n": "CASE WHEN {i}label_match IS NOT NULL THEN 1 ELSE 0 END",
    "label_match": "CASE WHEN {i}label_match THEN 1 ELSE 0 END",
    "false_negative": (
        "CASE WHEN {d}decision = 'approve' AND {i}expected_decision = 'reject' THEN 1 ELSE 0 END"
    ),
    "false_positive": (
        "CASE WHEN {d}decision = 'reject' AND {i}expected_decision = 'approve' THEN 1 ELSE 0 END"
    ),
    "critical": "CASE WHEN {i}severity = 'critical' THEN 1 ELSE 0 END",
}
_FIGURES = ("n", *_SUMS, "rubric_n", "rubric_sum")


def _aggregates(i: str = "i.", d: str = "d.") -> str:
    sums = ", ".join(
        f"SUM({expression.format(i=i, d=d)}) AS {name}" for name, expression in _SUMS.items()
    )
    rubric = f"COUNT({i}rubric_score) AS rubric_n, SUM({i}rubric_score) AS rubric_sum"
    return f"COUNT(*) AS n, {sums}, {rubric}"


def vendor_month_sql(postgres: bool = False) -> str:
    """One statement: rows (kind, key, second key, figures…). Kinds: `all` (key =
    purpose), one per breakdown (contract only), `confusion` (applied primary label
    or `approve`, expected primary label or `approve`; contract only).

    The vendor-month's rows are read once (a materialised CTE) and grouped per kind."""
    # Primary labels by key, only for rejects (ids here; codes joined per confusion cell).
    applied_id = (
        "CASE WHEN d.decision = 'reject' THEN (SELECT x.label_id FROM decision_labels x"
        " WHERE x.decision_id = d.id AND x.position = 0) END"
    )
    expected_id = (
        "CASE WHEN i.expected_decision = 'reject' THEN (SELECT x.label_id FROM"
        " inspection_labels x WHERE x.inspection_id = i.id AND x.position = 0) END"
    )
    if postgres:
        # A decision by its key for each inspection: PostgreSQL would otherwise hash
        # the whole decisions table to join a few thousand rows (the OFFSET keeps the
        # lateral subquery from being flattened into that join).
        materialized = "MATERIALIZED "
        decisions = (
            "CROSS JOIN LATERAL (SELECT d.decision, d.policy_area, d.market, d.site,"  # noqa: S608
            f" d.moderator_id, {applied_id} AS applied_id FROM decisions d"
            " WHERE d.id = i.decision_id OFFSET 0) d"
        )
        applied = "d.applied_id"
    else:  # SQLite joins by key anyway, and materialises a CTE used more than once
        materialized = ""
        decisions = "JOIN decisions d ON d.id = i.decision_id"
        applied = applied_id
    base = (
        f"WITH base AS {materialized}("  # noqa: S608 (fixed fragments only)
        "SELECT i.purpose, i.correct, i.decision_match, i.label_match, i.severity,"
        " i.expected_decision, i.rubric_score, d.decision, d.policy_area, d.market, d.site,"
        f" d.moderator_id, {applied} AS applied_id, {expected_id} AS expected_id"
        f" FROM inspections i {decisions}"
        " WHERE i.vendor_id = :vendor_id AND i.month = :month AND i.status = 'final') "
    )
    aggregates = _aggregates("", "")
    nothing = ", ".join(["NULL"] * (len(_FIGURES) - 1))
    branches = [
        f"SELECT 'all' AS kind, purpose AS k1, NULL AS k2, {aggregates}"  # noqa: S608
        " FROM base GROUP BY purpose"
    ]
    for name, column in _BREAKDOWN_COLUMNS.items():
        branches.append(
            f"SELECT '{name}', {column}, NULL, {aggregates} FROM base"  # noqa: S608
            f" WHERE purpose = 'contract' GROUP BY {column}"
        )
    label = "CASE WHEN {side} = 'approve' THEN 'approve' ELSE COALESCE({alias}.code, '?') END"
    applied_code = label.format(side="b.decision", alias="la")
    expected_code = label.format(side="b.expected_decision", alias="le")
    branches.append(
        f"SELECT 'confusion', {applied_code}, {expected_code}, COUNT(*), {nothing}"  # noqa: S608
        " FROM base b LEFT JOIN labels la ON la.id = b.applied_id"
        " LEFT JOIN labels le ON le.id = b.expected_id"
        " WHERE b.purpose = 'contract' GROUP BY 2, 3"
    )
    return base + " UNION ALL ".join(branches)


@dataclass
class Figures:
    """Counts of one group of inspections; `share()` turns them into DESIGN §3 shares."""

    n: int = 0
    correct: int = 0
    decision_match: int = 0
    label_n: int = 0
    label_match: int = 0
    false_negative: int = 0
    false_positive: int = 0
    critical: int = 0
    rubric_n: int = 0
    rubric_sum: float = 0.0

    @classmethod
    def from_row(cls, values: Sequence) -> Figures:
        cells = [0 if v is None else v for v in values]
        return cls(*(int(v) for v in cells[:-1]), float(cells[-1]))

    def share(self, name: str) -> Share:
        return {
            "overall_accuracy": lambda: Share(self.correct, self.n),
            "decision_accuracy": lambda: Share(self.decision_match, self.n),
            "label_accuracy": lambda: Share(self.label_match, self.label_n),
            "false_negative_rate": lambda: Share(self.false_negative, self.n),
            "false_positive_rate": lambda: Share(self.false_positive, self.n),
            "critical_error_rate": lambda: Share(self.critical, self.n),
        }[name]()

    @property
    def rubric_score(self) -> float | None:
        return self.rubric_sum / self.rubric_n if self.rubric_n else None

    def as_dict(self) -> dict:
        body: dict = {"inspected": self.n}
        for name in SHARES:
            body[name] = self.share(name).as_dict()
        body["rubric_score"] = {"value": self.rubric_score, "n": self.rubric_n}
        return body


@dataclass
class VendorMonth:
    """Everything one statement counted for a vendor-month."""

    contract: Figures
    targeted: Figures
    breakdowns: dict[str, dict[str, Figures]]
    confusion: list[tuple[str, str, int]]


def _prepare(conn: Connection) -> None:
    """These statements read a few thousand rows by index: PostgreSQL's JIT compiler,
    which its cost estimate would start, takes longer than the whole statement."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def _month_param(month: date, conn: Connection):
    return sa.bindparam("month", month.replace(day=1), type_=sa.Date())


def read_vendor_month(conn: Connection, vendor_id: int, month: date) -> VendorMonth:
    """Run the vendor-month statement."""
    postgres = conn.dialect.name == "postgresql"
    _prepare(conn)
    stmt = sa.text(vendor_month_sql(postgres)).bindparams(
        sa.bindparam("vendor_id", vendor_id), _month_param(month, conn)
    )
    result = VendorMonth(Figures(), Figures(), {name: {} for name in BREAKDOWNS}, [])
    for kind, k1, k2, *values in conn.execute(stmt):
        if kind == "all":
            setattr(
                result, "contract" if k1 == "contract" else "targeted", Figures.from_row(values)
            )
        elif kind == "confusion":
            result.confusion.append((k1, k2, int(values[0])))
        else:
            result.breakdowns[kind][k1] = Figures.from_row(values)
    result.confusion.sort(key=lambda row: (-row[2], row[0], row[1]))
    return result


@dataclass(frozen=True)
class Targets:
    """The contract version in force that month (None: no contract)."""

    effective_month: date | None
    accuracy_target: float | None
    critical_error_cap: float | None


def target_statuses(figures: Figures, targets: Targets) -> dict:
    return {
        "contract_month": targets.effective_month.strftime("%Y-%m")
        if targets.effective_month
        else None,
        "overall_accuracy": {
            "kind": "floor",
            "target": targets.accuracy_target,
            "status": floor_status(figures.share("overall_accuracy"), targets.accuracy_target),
        },
        "critical_error_rate": {
            "kind": "cap",
            "target": targets.critical_error_cap,
            "status": cap_status(figures.share("critical_error_rate"), targets.critical_error_cap),
        },
    }


def moderator_flagged(figures: Figures, targets: Targets) -> bool:
    """A moderator is flagged only when the interval says the accuracy is really below
    the vendor's target (its upper bound is under it), not on a bad-looking few."""
    return floor_status(figures.share("overall_accuracy"), targets.accuracy_target) == "missed"


def _breakdown_rows(groups: dict[str, Figures], targets: Targets, flag: bool) -> list[dict]:
    rows = []
    for key in sorted(groups, key=lambda k: (-groups[k].n, k)):
        row = {"key": key, **groups[key].as_dict()}
        if flag:
            row["flagged"] = moderator_flagged(groups[key], targets)
        rows.append(row)
    return rows


def shape(vendor_code: str, month: date, counted: VendorMonth, targets: Targets) -> dict:
    """The metrics answer of DESIGN §11."""
    body = {"vendor": vendor_code, "month": month.strftime("%Y-%m")}
    body.update(counted.contract.as_dict())
    body["targets"] = target_statuses(counted.contract, targets)
    body["breakdowns"] = {
        name: _breakdown_rows(counted.breakdowns[name], targets, name == "moderator")
        for name in BREAKDOWNS
    }
    body["label_confusion"] = [
        {"applied": applied, "expected": expected, "count": count}
        for applied, expected, count in counted.confusion
    ]
    body["targeted"] = counted.targeted.as_dict()
    return body


def vendor_month(
    conn: Connection, vendor_id: int, vendor_code: str, month: date, targets: Targets
) -> dict:
    """The metrics of one vendor-month, in the API's shape."""
    return shape(vendor_code, month, read_vendor_month(conn, vendor_id, month), targets)


# Several months, several vendors ------------------------------------------------------


def trend(
    conn: Connection, vendor_id: int, months: Iterable[date], purpose: str = "contract"
) -> dict[date, Figures]:
    """Figures per month (every month of `months`, empty ones included)."""
    months = sorted({m.replace(day=1) for m in months})
    found = {m: Figures() for m in months}
    if not months:
        return found
    _prepare(conn)
    stmt = sa.text(
        f"SELECT i.month, {_aggregates()} FROM inspections i"  # noqa: S608 (fixed fragments)
        " JOIN decisions d ON d.id = i.decision_id"
        " WHERE i.vendor_id = :vendor_id AND i.month >= :first AND i.month <= :last"
        " AND i.status = 'final' AND i.purpose = :purpose GROUP BY i.month"
    ).bindparams(
        sa.bindparam("first", months[0], type_=sa.Date()),
        sa.bindparam("last", months[-1], type_=sa.Date()),
    )
    for month, *values in conn.execute(stmt, {"vendor_id": vendor_id, "purpose": purpose}):
        if isinstance(month, str):  # SQLite answers dates as text here
            month = date.fromisoformat(month)
        if month in found:
            found[month] = Figures.from_row(values)
    return found


def all_vendors(conn: Connection, month: date, purpose: str = "contract") -> dict[int, Figures]:
    """Figures of every vendor with inspections in `month`, by vendor id."""
    _prepare(conn)
    stmt = sa.text(
        f"SELECT i.vendor_id, {_aggregates()} FROM inspections i"  # noqa: S608 (fixed fragments)
        " JOIN decisions d ON d.id = i.decision_id"
        " WHERE i.month = :month AND i.status = 'final' AND i.purpose = :purpose"
        " GROUP BY i.vendor_id"
    ).bindparams(_month_param(month, conn))
    return {
        int(vendor_id): Figures.from_row(values)
        for vendor_id, *values in conn.execute(stmt, {"purpose": purpose})
    }
