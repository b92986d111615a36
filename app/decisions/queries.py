"""Reading decisions: the one read path for the decisions pages (the browser, one
decision, the CSV export) and the API (`GET /decisions`, one decision by external id).

Every query goes through `visible()`, so a user sees only the decisions they may see
whatever the filters say (a vendor user: their own vendor's; DESIGN §1). Lists are
narrowed by `DecisionFilters` (app.decisions.filters), built from the browser's query
string or from the API's arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination

from app import months
from app.extensions import db
from app.models import Decision, DecisionLabel, Inspection, Label, Sample, SampleItem, User, Vendor
from app.security.scoping import visible

if TYPE_CHECKING:
    from app.decisions.filters import DecisionFilters

# sort key (a leading '-' is descending) -> ORDER BY keys as (name, descending); ties
# are broken by id so that pages are stable. "vendor" is the vendor's code.
SORTS = {
    "-decided_at": (("decided_at", True), ("id", True)),
    "decided_at": (("decided_at", False), ("id", False)),
    "external_id": (("external_id", False),),  # unique
    "-external_id": (("external_id", True),),
    "vendor": (("vendor", False), ("decided_at", True), ("id", True)),
    "-vendor": (("vendor", True), ("decided_at", True), ("id", True)),
    "moderator": (("moderator_id", False), ("decided_at", True), ("id", True)),
    "-moderator": (("moderator_id", True), ("decided_at", True), ("id", True)),
}
DEFAULT_SORT = "-decided_at"
# Rows fetched per round trip by the export (a server-side cursor on PostgreSQL).
EXPORT_BATCH = 2000
# Lists count their rows up to this many; beyond it they say "more than".
COUNT_CAP = 10_000
# Pages reaching further than this many rows are read with the plain query.
PER_VENDOR_MAX_DEPTH = 500


# What the filters look up ----------------------------------------------------------------


def label_by_code(code: str) -> Label | None:
    """The label with `code` (as stored: trimmed, upper-case), if there is one."""
    return db.session.scalar(sa.select(Label).where(Label.code == code))


def names_a_decision(external_id: str, vendor: Vendor | None, user: User) -> bool:
    """Whether a decision the user may see has this external id. Searching external ids
    first, through their unique index, saves a scan of item ids (which have no index);
    the check is tenant-scoped so that it reveals nothing about other vendors."""
    stmt = visible(
        sa.select(Decision.id).where(Decision.external_id == external_id), user, Decision
    )
    if vendor is not None:
        stmt = stmt.where(Decision.vendor_id == vendor.id)
    return db.session.scalar(stmt) is not None


def decision_span(user: User, vendor: Vendor | None) -> tuple[datetime | None, datetime | None]:
    """When the first and the latest decision the user may see (of `vendor`, if given)
    were made."""
    if vendor is not None:
        stmt = sa.select(sa.func.min(Decision.decided_at), sa.func.max(Decision.decided_at))
        return tuple(db.session.execute(stmt.where(Decision.vendor_id == vendor.id)).one())
    # Two index probes per vendor on (vendor_id, decided_at) instead of reading every
    # decision: there is no index on decided_at alone.
    first, last = (
        sa.select(agg(Decision.decided_at)).where(Decision.vendor_id == Vendor.id).scalar_subquery()
        for agg in (sa.func.min, sa.func.max)
    )
    stmt = visible(sa.select(sa.func.min(first), sa.func.max(last)), user, Vendor)
    return tuple(db.session.execute(stmt).one())


def label_choices() -> list[tuple[str, str, str]]:
    """(policy area, code, name) of every label, for the label filter."""
    return list(
        db.session.execute(
            sa.select(Label.policy_area, Label.code, Label.name).order_by(
                Label.policy_area, Label.code
            )
        )
    )


# Lists -----------------------------------------------------------------------------------


def filtered(stmt: sa.Select, f: DecisionFilters, user: User) -> sa.Select:
    """`stmt` (a select over decisions) narrowed to what `user` may see and the filters."""
    stmt = visible(stmt, user, Decision)
    if f.vendor is not None:
        stmt = stmt.where(Decision.vendor_id == f.vendor.id)
    if f.month is not None:
        start, end = months.bounds(f.month)
        stmt = stmt.where(Decision.decided_at >= start, Decision.decided_at < end)
    if f.policy_area:
        stmt = stmt.where(Decision.policy_area == f.policy_area)
    if f.market:
        stmt = stmt.where(Decision.market == f.market)
    if f.site:
        stmt = stmt.where(Decision.site == f.site)
    if f.moderator:
        stmt = stmt.where(Decision.moderator_id == f.moderator)
    if f.decision:
        stmt = stmt.where(Decision.decision == f.decision)
    if f.label is not None:
        # Through ix_decision_labels_label: the decisions carrying the label anywhere.
        carrying = sa.select(DecisionLabel.decision_id).where(DecisionLabel.label_id == f.label.id)
        stmt = stmt.where(Decision.id.in_(carrying))
    if f.q:
        column = Decision.external_id if f.q_is_external_id else Decision.item_id
        stmt = stmt.where(column == f.q)
    return stmt


def order_by(sort: str, columns) -> list:
    """ORDER BY clauses for `sort`; `columns` maps a key name to its column."""
    return [columns(name).desc() if desc else columns(name) for name, desc in SORTS[sort]]


def _decision_column(name: str):
    return Vendor.code if name == "vendor" else getattr(Decision, name)


def effective_sort(f: DecisionFilters) -> str:
    """The sort applied: with one vendor, sorting by vendor is sorting by time."""
    if f.vendor is not None and f.sort.lstrip("-") == "vendor":
        return DEFAULT_SORT
    return f.sort


def ordered(stmt: sa.Select, f: DecisionFilters) -> sa.Select:
    """`stmt` (over decisions) in the order the filters ask for."""
    sort = effective_sort(f)
    if sort.lstrip("-") == "vendor":
        stmt = stmt.join(Vendor, Vendor.id == Decision.vendor_id)
    return stmt.order_by(*order_by(sort, _decision_column))


def per_vendor_plan(f: DecisionFilters, depth: int = 0) -> bool:
    """Whether to read the list vendor by vendor (PostgreSQL, across vendors).

    Every index on decisions starts with vendor_id (there is none on decided_at alone),
    so a list across vendors would otherwise scan the whole table and sort a month of
    rows to show 25. Instead each vendor contributes its first rows through its own
    index range (a LATERAL join), and those few are merged. That wins whenever each
    vendor's first rows come early in its range: not for an id search or a label, which
    are served by their own indexes, nor for the external_id order (its own index),
    nor for deep pages (`depth`: rows up to the end of the page), where every vendor
    would contribute that many rows. SQLite has no LATERAL; it serves small
    installations with the plain query.
    """
    return (
        db.session.get_bind().dialect.name == "postgresql"
        and depth <= PER_VENDOR_MAX_DEPTH
        and f.vendor is None
        and not f.q
        and f.label is None
        and f.sort.lstrip("-") != "external_id"
    )


def _per_vendor_rows(
    f: DecisionFilters, user: User, columns: list, limit: int, *, in_order: bool = True
):
    """At most `limit` rows (`columns` of decisions) of each vendor, each vendor's first
    in the list order (any rows when not `in_order`), as a LATERAL subquery to join with
    `vendors`."""
    inner = filtered(sa.select(*columns), f, user).where(Decision.vendor_id == Vendor.id)
    if in_order:
        inner_sort = DEFAULT_SORT if f.sort.lstrip("-") == "vendor" else f.sort
        inner = inner.order_by(*order_by(inner_sort, _decision_column))
    return inner.limit(limit).lateral("per_vendor")


def _count_probe(f: DecisionFilters, user: User) -> sa.Select:
    """Counts the list's rows, but stops at COUNT_CAP + 1."""
    cap = COUNT_CAP + 1
    if per_vendor_plan(f):
        # vendor_id is in every index: the count reads index entries only.
        inner = _per_vendor_rows(f, user, [Decision.vendor_id], cap, in_order=False)
        rows = visible(
            sa.select(inner.c.vendor_id).select_from(Vendor).join(inner, sa.true()), user, Vendor
        )
    else:
        rows = filtered(sa.select(Decision.vendor_id), f, user)
    return sa.select(sa.func.count()).select_from(rows.limit(cap).subquery())


def _page_query(f: DecisionFilters, user: User, limit: int, offset: int) -> sa.Select:
    """The decisions of one page, in the list order."""
    if not per_vendor_plan(f, offset + limit):
        return ordered(filtered(sa.select(Decision), f, user), f).limit(limit).offset(offset)
    keys = [Decision.id, Decision.decided_at, Decision.moderator_id]
    inner = _per_vendor_rows(f, user, keys, offset + limit)
    top = (
        visible(
            sa.select(*inner.c, Vendor.code.label("vendor"))
            .select_from(Vendor)
            .join(inner, sa.true()),
            user,
            Vendor,
        )
        .order_by(
            *order_by(f.sort, lambda name: inner.c[name] if name != "vendor" else Vendor.code)
        )
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    return (
        sa.select(Decision)
        .join(top, top.c.id == Decision.id)
        .order_by(*order_by(f.sort, lambda name: top.c[name]))
    )


class DecisionPage(Pagination):
    """One page of the browser's list, with a total counted up to COUNT_CAP: past it,
    `more` is set and the total reads "more than COUNT_CAP" (counting a month of a
    large platform exactly would cost more than the page itself)."""

    more = False

    def _query_items(self) -> list:
        f, user = self._query_args["filters"], self._query_args["user"]
        stmt = _page_query(f, user, self.per_page, self._query_offset)
        return list(db.session.scalars(stmt))

    def _query_count(self) -> int:
        found = db.session.scalar(
            _count_probe(self._query_args["filters"], self._query_args["user"])
        )
        self.more = found > COUNT_CAP
        return min(found, COUNT_CAP)

    @property
    def total_label(self) -> str:
        return f"more than {COUNT_CAP:,}" if self.more else f"{self.total:,}"

    @property
    def pages(self) -> int:
        """Past the cap, there is always one more page after a full one."""
        counted = super().pages
        if not self.more or not self.items:
            return counted
        return max(counted, self.page + (len(self.items) == self.per_page))


def decision_page(f: DecisionFilters, user: User, page: int, per_page: int) -> DecisionPage:
    """One page of the browser's list of decisions."""
    return DecisionPage(
        page=page, per_page=per_page, max_per_page=None, error_out=False, filters=f, user=user
    )


@dataclass(frozen=True)
class LabelRef:
    """A label of a decision, as a list shows it."""

    code: str
    name: str
    primary: bool


def labels_for(decision_ids: list[int]) -> dict[int, list[LabelRef]]:
    """The labels of many decisions in one query, primary first."""
    out: dict[int, list[LabelRef]] = {i: [] for i in decision_ids}
    if not decision_ids:
        return out
    rows = db.session.execute(
        sa.select(DecisionLabel.decision_id, DecisionLabel.position, Label.code, Label.name)
        .join(Label, Label.id == DecisionLabel.label_id)
        .where(DecisionLabel.decision_id.in_(decision_ids))
        .order_by(DecisionLabel.decision_id, DecisionLabel.position)
    )
    for decision_id, position, code, name in rows:
        out[decision_id].append(LabelRef(code, name, position == 0))
    return out


def label_codes_for(decision_ids: list[int]) -> dict[int, list[str]]:
    """The label codes of many decisions in one query, primary first."""
    return {i: [ref.code for ref in refs] for i, refs in labels_for(decision_ids).items()}


# One decision ----------------------------------------------------------------------------


@dataclass
class SampleMembership:
    """A sample a decision was drawn into, and its item's status there."""

    sample_id: int
    purpose: str
    state: str
    item_status: str


def review_status(
    decision: Decision, user: User
) -> tuple[list[SampleMembership], Inspection | None]:
    """The samples a decision was drawn into and its inspection, as far as `user` may
    know: vendor users see closed samples and final inspections only (DESIGN §1)."""
    samples_stmt = visible(
        sa.select(Sample.id, Sample.purpose, Sample.state, SampleItem.status)
        .join(SampleItem, SampleItem.sample_id == Sample.id)
        .where(SampleItem.decision_id == decision.id)
        .order_by(Sample.id),
        user,
        Sample,
    )
    inspection_stmt = visible(
        sa.select(Inspection).where(Inspection.decision_id == decision.id), user, Inspection
    )
    samples = [SampleMembership(*row) for row in db.session.execute(samples_stmt)]
    return samples, db.session.scalar(inspection_stmt)


# The exchange format: the API's items and the CSV export -----------------------------------


def _exchange_select(*, context_as_text: bool = False) -> sa.Select:
    """Decisions as the exchange format reads them: the id, then the columns of the
    API fields (but the labels) in their order, the vendor's code joined in."""
    context = sa.cast(Decision.context, sa.Text) if context_as_text else Decision.context
    return sa.select(
        Decision.id,
        Decision.external_id,
        Vendor.code.label("vendor"),
        Decision.moderator_id,
        Decision.site,
        Decision.market,
        Decision.policy_area,
        Decision.item_id,
        Decision.item_url,
        context.label("context"),
        Decision.decision,
        Decision.decided_at,
    ).join(Vendor, Vendor.id == Decision.vendor_id)


def decision_rows(f: DecisionFilters, user: User) -> sa.Select:
    """The filtered decisions the user may see, as rows for `exchange_items` (unordered:
    the API pages them by time)."""
    return filtered(_exchange_select(), f, user)


def decision_row(external_id: str, user: User) -> sa.Row | None:
    """The decision with `external_id` as a row for `exchange_items`, if `user` may see
    it."""
    stmt = visible(_exchange_select(), user, Decision).where(Decision.external_id == external_id)
    return db.session.execute(stmt).first()


def exchange_items(rows) -> list[dict]:
    """Decision rows (from `decision_rows`) as the API gives them: the API fields, the
    labels as codes, primary first."""
    labels = label_codes_for([row.id for row in rows])
    return [
        {
            "external_id": row.external_id,
            "vendor": row.vendor,
            "moderator_id": row.moderator_id,
            "site": row.site,
            "market": row.market,
            "policy_area": row.policy_area,
            "item_id": row.item_id,
            "item_url": row.item_url,
            "context": row.context,
            "decision": row.decision,
            "labels": labels[row.id],
            "decided_at": row.decided_at,
        }
        for row in rows
    ]


def export_filename(f: DecisionFilters) -> str:
    """The export's file name: the vendor and the month it holds."""
    parts = ["decisions"]
    if f.vendor is not None:
        parts.append(re.sub(r"[^A-Za-z0-9-]", "_", f.vendor.code))
    parts.append(months.label(f.month) if f.month else "all-months")
    return "_".join(parts) + ".csv"


def export_rows(f: DecisionFilters, user: User) -> Iterator[list]:
    """The filtered decisions as rows of the import CSV format (`intake.FIELDS`), in
    the list order, fetched in batches through a streaming cursor (labels: one query
    per batch). The context is the JSON text exactly as stored (the text the platform
    sent): re-importing an export then finds nothing changed, and nothing is decoded
    and re-encoded."""
    stmt = filtered(_exchange_select(context_as_text=True), f, user).order_by(
        *order_by(effective_sort(f), _decision_column)
    )
    result = db.session.execute(stmt.execution_options(yield_per=EXPORT_BATCH))
    for batch in result.partitions():
        codes = label_codes_for([row[0] for row in batch])
        for decision_id, *plain, item_url, context, decision, decided_at in batch:
            yield [
                *plain,
                item_url or "",
                "" if context in (None, "null") else context,
                decision,
                "|".join(codes[decision_id]),
                decided_at.astimezone(UTC).isoformat(),
            ]
