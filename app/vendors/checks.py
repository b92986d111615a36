"""Checks of vendor and contract input, in storage units: each returns clean values and
the field problems it found, and touches no database (the services add what needs
one: codes and months already taken). Flask-free.

Targets, caps and tier bounds are shares in 0..1; tier `pct` is a percentage of the
invoice (negative = penalty, positive = credit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Required, TypedDict

from app import months
from app.validation import holiday_country_code, is_time_zone, number, problem

if TYPE_CHECKING:
    from app.models import Vendor

CODE_RE = re.compile(r"^[A-Z0-9_-]{2,20}$")
MARKET_RE = re.compile(r"^[A-Z]{2}$")
TIER_METRICS = ("overall_accuracy", "critical_error_rate")
MAX_SITE_LENGTH = 80
MAX_LIST_ITEMS = 50
MAX_TIERS = 20
DEFAULT_DISPUTE_WINDOW = 5


class ContractTerms(TypedDict, total=False):
    """What a contract version says, as create_contract and update_contract take it.
    Time zone and holiday country default to the vendor's."""

    effective_month: Required[str | date]
    accuracy_target: Required[float | None]
    critical_error_cap: Required[float | None]
    dispute_window_days: int | str | None
    time_zone: str | None
    holiday_country: str | None
    notes: str
    penalty_tiers: list[dict] | None


# Values -------------------------------------------------------------------------------


def split_list(value: str | Iterable[str] | None) -> list[str]:
    """A comma-separated string (or a list) as trimmed, non-empty items, first occurrence
    kept, duplicates dropped case-insensitively."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    seen: set[str] = set()
    out = []
    for item in items:
        text = " ".join(str(item).split())
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


def parse_month(value: str | date | None) -> date:
    """`YYYY-MM` (or a date) as the first day of that month; ValueError if it is not one."""
    if isinstance(value, date):
        return months.first_day(value)
    return months.parse(value)


def _share(field: str, label: str, value, problems: list[dict]) -> float | None:
    share = number(value)
    if share is None:
        problems.append(problem(field, f"{label} is required (a percentage from 0 to 100)."))
        return None
    if not 0 <= share <= 1:
        problems.append(problem(field, f"{label} must be between 0% and 100%."))
        return None
    return round(share, 6)


def check_time_zone(field: str, value: str, problems: list[dict]) -> str:
    """The time zone as given (trimmed); a problem on `field` when it is none we know."""
    value = (value or "").strip()
    if not value:
        problems.append(problem(field, "Choose a time zone, e.g. Europe/Warsaw."))
    elif not is_time_zone(value):
        problems.append(
            problem(field, f"Unknown time zone {value!r}; use an IANA name like Asia/Manila.")
        )
    return value


def check_holiday_country(field: str, value: str, problems: list[dict]) -> str:
    """The holiday country as its alpha-2 code; a problem on `field` when the holiday
    calendar has none for it."""
    value = (value or "").strip().upper()
    if not value:
        problems.append(problem(field, "Choose a holiday country, e.g. PH."))
        return value
    code = holiday_country_code(value)
    if code is None:
        problems.append(
            problem(field, f"No holiday calendar for {value!r}; use a country code like PH.")
        )
        return value
    return code


# Vendors ------------------------------------------------------------------------------


def check_code(code: str) -> list[dict]:
    """Problems with a new vendor's code (already normalised)."""
    if not code:
        return [problem("code", "A code is required, e.g. ACME.")]
    if not CODE_RE.match(code):
        return [
            problem("code", "Use 2 to 20 characters: letters A-Z, digits, underscore or hyphen.")
        ]
    return []


def check_vendor_fields(
    name: str, sites, markets, time_zone: str, holiday_country: str
) -> tuple[dict, list[dict]]:
    """A vendor's details (all but its code) as stored, and the problems found."""
    problems: list[dict] = []
    name = " ".join((name or "").split())
    if not name:
        problems.append(problem("name", "A name is required."))
    elif len(name) > 120:
        problems.append(problem("name", "Keep the name to 120 characters or fewer."))
    site_list = split_list(sites)
    if len(site_list) > MAX_LIST_ITEMS:
        problems.append(problem("sites", f"List at most {MAX_LIST_ITEMS} sites."))
    long_sites = [s for s in site_list if len(s) > MAX_SITE_LENGTH]
    if long_sites:
        problems.append(
            problem("sites", f"Site names are at most {MAX_SITE_LENGTH} characters each.")
        )
    market_list = [m.upper() for m in split_list(markets)]
    bad_markets = [m for m in market_list if not MARKET_RE.match(m)]
    if bad_markets:
        problems.append(
            problem(
                "markets",
                f"Markets are 2-letter country codes separated by commas; "
                f"not valid: {', '.join(bad_markets[:5])}.",
            )
        )
    elif len(market_list) > MAX_LIST_ITEMS:
        problems.append(problem("markets", f"List at most {MAX_LIST_ITEMS} markets."))
    values = {
        "name": name,
        "sites": site_list,
        "markets": market_list,
        "time_zone": check_time_zone("time_zone", time_zone, problems),
        "holiday_country": check_holiday_country("holiday_country", holiday_country, problems),
    }
    return values, problems


# Contracts ----------------------------------------------------------------------------


def check_tiers(tiers, problems: list[dict]) -> list[dict]:
    """Validate tiers in storage units; messages name the tier by its position."""
    if tiers is None:
        return []
    if not isinstance(tiers, list | tuple):
        problems.append(problem("penalty_tiers", "Tiers must be a list."))
        return []
    if len(tiers) > MAX_TIERS:
        problems.append(problem("penalty_tiers", f"Give at most {MAX_TIERS} tiers."))
        return []
    clean: list[dict] = []
    for i, tier in enumerate(tiers, start=1):
        where = f"Tier {i}"
        if not isinstance(tier, dict):
            problems.append(problem("penalty_tiers", f"{where}: expected metric, from, to, pct."))
            continue
        metric = tier.get("metric")
        low, high, pct = (
            number(tier.get("from")),
            number(tier.get("to")),
            number(tier.get("pct")),
        )
        if metric not in TIER_METRICS:
            message = f"{where}: the metric must be one of {', '.join(TIER_METRICS)}."
        elif low is None or high is None or not (0 <= low <= 1 and 0 <= high <= 1):
            message = f"{where}: 'from' and 'to' must be between 0% and 100%."
        elif low >= high:
            message = f"{where}: 'from' must be below 'to'."
        elif pct is None or not -100 <= pct <= 100:
            message = f"{where}: the percentage must be between -100 and 100."
        else:
            clean.append(
                {"metric": metric, "from": round(low, 6), "to": round(high, 6), "pct": pct}
            )
            continue
        problems.append(problem("penalty_tiers", message))
    if len(clean) == len(tiers):
        for metric in TIER_METRICS:
            ranges = sorted((t["from"], t["to"]) for t in clean if t["metric"] == metric)
            for (_, prev_high), (low, _) in pairwise(ranges):
                if low < prev_high:
                    problems.append(
                        problem("penalty_tiers", f"Tiers of {metric} must not overlap.")
                    )
                    break
    return clean


def check_contract_fields(vendor: Vendor, terms: ContractTerms) -> tuple[dict, list[dict]]:
    """A contract version's terms as stored, and the problems found; time zone and
    holiday country default to `vendor`'s."""
    unknown = set(terms) - set(ContractTerms.__annotations__)
    if unknown:
        raise TypeError(f"unexpected contract terms: {', '.join(sorted(unknown))}")
    problems: list[dict] = []
    clean: dict = {}
    try:
        clean["effective_month"] = parse_month(terms.get("effective_month"))
    except ValueError as err:
        problems.append(problem("effective_month", str(err)))
    clean["accuracy_target"] = _share(
        "accuracy_target", "The accuracy target", terms.get("accuracy_target"), problems
    )
    clean["critical_error_cap"] = _share(
        "critical_error_cap", "The critical error cap", terms.get("critical_error_cap"), problems
    )
    window = terms.get("dispute_window_days")
    if window is None or window == "":
        window = DEFAULT_DISPUTE_WINDOW
    if isinstance(window, bool) or number(window) is None or float(window) != int(float(window)):
        problems.append(problem("dispute_window_days", "Enter a whole number of business days."))
    elif not 1 <= int(float(window)) <= 60:
        problems.append(
            problem("dispute_window_days", "The dispute window is 1 to 60 business days.")
        )
    else:
        clean["dispute_window_days"] = int(float(window))
    clean["time_zone"] = check_time_zone(
        "time_zone", terms.get("time_zone") or vendor.time_zone, problems
    )
    clean["holiday_country"] = check_holiday_country(
        "holiday_country", terms.get("holiday_country") or vendor.holiday_country, problems
    )
    notes = (terms.get("notes") or "").strip()
    if len(notes) > 5000:
        problems.append(problem("notes", "Keep notes to 5,000 characters or fewer."))
    clean["notes"] = notes
    clean["penalty_tiers"] = check_tiers(terms.get("penalty_tiers"), problems)
    return clean, problems
