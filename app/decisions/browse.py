"""Reading decisions for people: the filters of the decisions browser and its CSV
export, their queries, and how a decision's links and context are shown.

Every query starts from `scoped()`, so a vendor user sees only their own vendor's
decisions whatever the filters say; naming another vendor is a 404 (DESIGN §1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort
from flask_sqlalchemy.pagination import Pagination
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import Decision, DecisionLabel, Inspection, Label, Sample, SampleItem, User, Vendor
from app.models.enums import DECISIONS, POLICY_AREAS
from app.security.scoping import scoped, tenant_vendor_id, vendor_or_404
from app.validation import normalise_code

# The import CSV format (DESIGN §8): an export can be imported again.
CSV_COLUMNS = (
    "external_id",
    "vendor",
    "moderator_id",
    "site",
    "market",
    "policy_area",
    "item_id",
    "item_url",
    "context",
    "decision",
    "labels",
    "decided_at",
)

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
ALL_MONTHS = "all"
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
MAX_MONTH_CHOICES = 120
# Longer than any stored value: a longer search can only match nothing.
MAX_TEXT = 200
TEXT_FILTERS = ("market", "site", "moderator", "q")
# Rows fetched per round trip by the export (a server-side cursor on PostgreSQL).
EXPORT_BATCH = 2000
# Lists count their rows up to this many; beyond it they say "more than".
COUNT_CAP = 10_000
# Pages reaching further than this many rows are read with the plain query.
PER_VENDOR_MAX_DEPTH = 500


def month_start(day: date) -> datetime:
    """The first instant of `day`'s calendar month, in UTC (months are UTC, DESIGN §3)."""
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass
class DecisionFilters:
    """The browser's filters as read from the query string.

    `month` is the first day of the month shown, or None for all months; `month_arg`
    is what the month select shows ("" for the default, "all", or YYYY-MM).
    """

    vendor: Vendor | None = None
    vendor_fixed: bool = False
    month: date | None = None
    month_arg: str = ""
    policy_area: str = ""
    market: str = ""
    site: str = ""
    moderator: str = ""
    decision: str = ""
    label: Label | None = None
    label_code: str = ""
    q: str = ""
    # Whether `q` names a decision by its external id (else it is an item id).
    q_is_external_id: bool = False
    sort: str = DEFAULT_SORT
    errors: dict[str, str] = field(default_factory=dict)
    # (first, latest) decision time in the vendor scope, when it had to be looked up.
    span: tuple[datetime | None, datetime | None] | None = None

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the defaults narrows the list."""
        return bool(
            (self.vendor and not self.vendor_fixed)
            or self.month_arg
            or self.policy_area
            or self.market
            or self.site
            or self.moderator
            or self.decision
            or self.label_code
            or self.q
        )

    def query_args(self) -> dict[str, str]:
        """The filters as query arguments (for the export link)."""
        args = {
            "vendor": self.vendor.code if self.vendor and not self.vendor_fixed else "",
            "month": self.month_arg,
            "policy_area": self.policy_area,
            "market": self.market,
            "site": self.site,
            "moderator": self.moderator,
            "decision": self.decision,
            "label": self.label_code,
            "q": self.q,
            "sort": self.sort if self.sort != DEFAULT_SORT else "",
        }
        return {key: value for key, value in args.items() if value}


def _text(args: MultiDict, name: str) -> str:
    return (args.get(name) or "").strip()[:MAX_TEXT]


def parse_filters(args: MultiDict, user: User) -> DecisionFilters:
    """Read the filters from `args`. Another vendor's (or an unknown) vendor code is a
    404; other bad values are reported in `errors` (the list then shows nothing)."""
    f = DecisionFilters()
    own_vendor_id = tenant_vendor_id(user)
    code = normalise_code(args.get("vendor"))
    if code:
        f.vendor = vendor_or_404(code, user)
    if own_vendor_id is not None:
        if f.vendor is None:
            f.vendor = db.session.get(Vendor, own_vendor_id)
        if f.vendor is None:  # a vendor user without a vendor sees nothing at all
            abort(404)
        f.vendor_fixed = True

    for name in TEXT_FILTERS:
        setattr(f, name, _text(args, name))
    f.policy_area = _text(args, "policy_area")
    if f.policy_area and f.policy_area not in POLICY_AREAS:
        f.errors["policy_area"] = f"Unknown policy area “{f.policy_area}”."
    f.decision = _text(args, "decision")
    if f.decision and f.decision not in DECISIONS:
        f.errors["decision"] = "Choose approve or reject."
    f.label_code = normalise_code(_text(args, "label"))
    if f.label_code:
        f.label = db.session.scalar(sa.select(Label).where(Label.code == f.label_code))
        if f.label is None:
            f.errors["label"] = f"There is no label with the code “{f.label_code}”."
    if f.q:
        f.q_is_external_id = _names_a_decision(f.q, f.vendor, user)
    sort = args.get("sort") or DEFAULT_SORT
    f.sort = sort if sort in SORTS else DEFAULT_SORT

    month = _text(args, "month").lower()
    if month == ALL_MONTHS:
        f.month_arg = ALL_MONTHS
    elif month:
        match = MONTH_PATTERN.match(month)
        year, number = (int(match[1]), int(match[2])) if match else (0, 0)
        if not (match and 1 <= number <= 12 and 2000 <= year <= 2999):
            f.errors["month"] = f"“{month}” is not a month; use YYYY-MM, e.g. 2026-03."
        else:
            f.month_arg = month
            f.month = date(year, number, 1)
    elif not f.q:
        # By default the latest month with decisions; a search looks through all months.
        f.span = decision_span(user, f.vendor)
        latest = f.span[1]
        f.month = latest.date().replace(day=1) if latest else None
    return f


def _names_a_decision(external_id: str, vendor: Vendor | None, user: User) -> bool:
    """Whether a decision the user may see has this external id. Searching external ids
    first, through their unique index, saves a scan of item ids (which have no index);
    the check is tenant-scoped so that it reveals nothing about other vendors."""
    stmt = scoped(sa.select(Decision.id).where(Decision.external_id == external_id), Decision, user)
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
    stmt = scoped(sa.select(sa.func.min(first), sa.func.max(last)), Vendor, user)
    return tuple(db.session.execute(stmt).one())


def month_choices(span: tuple[datetime | None, datetime | None], chosen: date | None) -> list[str]:
    """The months between the first and the latest decision, newest first (YYYY-MM)."""
    first, last = span
    months: list[date] = []
    if first is not None and last is not None:
        month, stop = last.date().replace(day=1), first.date().replace(day=1)
        while month >= stop and len(months) < MAX_MONTH_CHOICES:
            months.append(month)
            month = (month - timedelta(days=1)).replace(day=1)
    if chosen is not None and chosen not in months:
        months = sorted({*months, chosen}, reverse=True)
    return [m.strftime("%Y-%m") for m in months]


def filtered(stmt: sa.Select, f: DecisionFilters, user: User) -> sa.Select:
    """`stmt` (a select over decisions) narrowed to the user's tenant and the filters."""
    stmt = scoped(stmt, Decision, user)
    if f.vendor is not None:
        stmt = stmt.where(Decision.vendor_id == f.vendor.id)
    if f.month is not None:
        stmt = stmt.where(
            Decision.decided_at >= month_start(f.month),
            Decision.decided_at < month_start(next_month(f.month)),
        )
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
        rows = scoped(
            sa.select(inner.c.vendor_id).select_from(Vendor).join(inner, sa.true()), Vendor, user
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
        scoped(
            sa.select(*inner.c, Vendor.code.label("vendor"))
            .select_from(Vendor)
            .join(inner, sa.true()),
            Vendor,
            user,
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
    return DecisionPage(
        page=page, per_page=per_page, max_per_page=None, error_out=False, filters=f, user=user
    )


@dataclass(frozen=True)
class LabelRef:
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


def visible_vendors(user: User) -> list[Vendor]:
    """The vendors the user may filter on, by code."""
    return list(db.session.scalars(scoped(sa.select(Vendor), Vendor, user).order_by(Vendor.code)))


def label_choices() -> list[tuple[str, str, str]]:
    """(policy area, code, name) of every label, for the label filter."""
    return list(
        db.session.execute(
            sa.select(Label.policy_area, Label.code, Label.name).order_by(
                Label.policy_area, Label.code
            )
        )
    )


# Showing a decision ------------------------------------------------------------------


def http_url(value) -> str | None:
    """`value` when it is an absolute http(s) URL that is safe to put in a link, else
    None (a `javascript:` or `data:` URL, or text, is never made a link)."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    text = value.strip()
    if text != value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


@dataclass(frozen=True)
class ContextEntry:
    key: str
    text: str
    url: str | None


MAX_CONTEXT_ENTRIES = 200


def context_entries(context) -> list[ContextEntry]:
    """A decision's context as flat key/value pairs for reading: nested objects become
    dotted keys, list items `[i]`; values are text (http(s) URLs also as links)."""
    entries: list[ContextEntry] = []

    def walk(prefix: str, value) -> None:
        if len(entries) >= MAX_CONTEXT_ENTRIES:
            return
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and value:
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            if isinstance(value, str):
                text = value
            elif value is None or isinstance(value, bool | dict | list):
                text = json.dumps(value)
            else:
                text = str(value)
            entries.append(ContextEntry(prefix or "(value)", text, http_url(value)))

    if context is not None:
        walk("", context)
    return entries


@dataclass
class SampleMembership:
    sample_id: int
    purpose: str
    state: str
    item_status: str


def review_status(
    decision: Decision, user: User
) -> tuple[list[SampleMembership], Inspection | None]:
    """The samples a decision was drawn into and its inspection, as far as `user` may
    know: vendor users see closed samples and final inspections only (DESIGN §1)."""
    samples_stmt = (
        sa.select(Sample.id, Sample.purpose, Sample.state, SampleItem.status)
        .join(SampleItem, SampleItem.sample_id == Sample.id)
        .where(SampleItem.decision_id == decision.id)
        .order_by(Sample.id)
    )
    inspection_stmt = sa.select(Inspection).where(Inspection.decision_id == decision.id)
    if user.is_vendor_user:
        samples_stmt = samples_stmt.where(Sample.state == "closed")
        inspection_stmt = inspection_stmt.where(Inspection.status == "final")
    samples = [SampleMembership(*row) for row in db.session.execute(samples_stmt)]
    return samples, db.session.scalar(inspection_stmt)


# Export ------------------------------------------------------------------------------


def export_filename(f: DecisionFilters) -> str:
    parts = ["decisions"]
    if f.vendor is not None:
        parts.append(re.sub(r"[^A-Za-z0-9-]", "_", f.vendor.code))
    parts.append(f.month.strftime("%Y-%m") if f.month else "all-months")
    return "_".join(parts) + ".csv"


def export_rows(f: DecisionFilters, user: User) -> Iterator[list]:
    """The filtered decisions as rows of the import CSV format, fetched in batches
    through a streaming cursor (labels: one query per batch)."""
    columns = sa.select(
        Decision.id,
        Decision.external_id,
        Vendor.code,
        Decision.moderator_id,
        Decision.site,
        Decision.market,
        Decision.policy_area,
        Decision.item_id,
        Decision.item_url,
        # The context exactly as stored (the JSON text the platform sent): re-importing
        # an export then finds nothing changed, and nothing is decoded and re-encoded.
        sa.cast(Decision.context, sa.Text),
        Decision.decision,
        Decision.decided_at,
    ).join(Vendor, Vendor.id == Decision.vendor_id)
    stmt = filtered(columns, f, user).order_by(*order_by(effective_sort(f), _decision_column))
    result = db.session.execute(stmt.execution_options(yield_per=EXPORT_BATCH))
    for batch in result.partitions():
        codes = labels_for([row[0] for row in batch])
        for (
            decision_id,
            external_id,
            vendor_code,
            moderator_id,
            site,
            market,
            policy_area,
            item_id,
            item_url,
            context,
            decision,
            decided_at,
        ) in batch:
            yield [
                external_id,
                vendor_code,
                moderator_id,
                site,
                market,
                policy_area,
                item_id,
                item_url or "",
                "" if context in (None, "null") else context,
                decision,
                "|".join(ref.code for ref in codes[decision_id]),
                decided_at.astimezone(UTC).isoformat(),
            ]
