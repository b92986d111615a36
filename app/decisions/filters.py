"""The decisions browser's filters (and its CSV export's): read from the query string
for a given user, checked, and written back as query arguments. The lookups they need
(a vendor, a label, whether a search names a decision, the months with decisions) go
through `app.decisions.queries`; the API builds the same `DecisionFilters` from its own
arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from werkzeug.datastructures import MultiDict

from app import months
from app.decisions import queries
from app.decisions.queries import DEFAULT_SORT, SORTS
from app.models import Label, User, Vendor
from app.models.enums import DECISIONS, POLICY_AREAS
from app.security.scoping import list_vendor_or_404
from app.validation import normalise_code

ALL_MONTHS = "all"
MAX_MONTH_CHOICES = 120
# Longer than any stored value: a longer search can only match nothing.
MAX_TEXT = 200
TEXT_FILTERS = ("market", "site", "moderator", "q")


@dataclass
class DecisionFilters:
    """The filters of a list of decisions.

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
    """Read the filters from `args` for `user`. Another vendor's (or an unknown) vendor
    code is a 404; other bad values are reported in `errors` (the list then shows
    nothing). A vendor user's list is always their own vendor's."""
    f = DecisionFilters()
    f.vendor, f.vendor_fixed = list_vendor_or_404(normalise_code(args.get("vendor")), user)

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
        f.label = queries.label_by_code(f.label_code)
        if f.label is None:
            f.errors["label"] = f"There is no label with the code “{f.label_code}”."
    if f.q:
        f.q_is_external_id = queries.names_a_decision(f.q, f.vendor, user)
    sort = args.get("sort") or DEFAULT_SORT
    f.sort = sort if sort in SORTS else DEFAULT_SORT

    month = _text(args, "month").lower()
    if month == ALL_MONTHS:
        f.month_arg = ALL_MONTHS
    elif month:
        f.month = months.from_text(month)
        if f.month is None:
            f.errors["month"] = f"“{month}” is not a month; use YYYY-MM, e.g. 2026-03."
        elif f.month > months.current():
            f.errors["month"] = months.after_message(f.month, months.current())
            f.month = None
        else:
            f.month_arg = month
    elif not f.q:
        # By default the latest month with decisions; a search looks through all months.
        f.span = queries.decision_span(user, f.vendor)
        latest = f.span[1]
        f.month = months.first_day(latest) if latest else None
    return f


def month_choices(span: tuple[datetime | None, datetime | None], chosen: date | None) -> list[str]:
    """The months between the first and the latest decision, newest first (YYYY-MM)."""
    first, last = span
    choices: list[date] = []
    if first is not None and last is not None:
        choices = months.between(months.first_day(first), months.first_day(last), MAX_MONTH_CHOICES)
    if chosen is not None and chosen not in choices:
        choices = sorted({*choices, chosen}, reverse=True)
    return [months.label(m) for m in choices]
