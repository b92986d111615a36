"""Vendor and contract operations. Each validates its input, flushes and writes its
audit event; the caller commits once.

Values are in storage units here: targets, caps and tier bounds are shares in 0..1,
tier `pct` is a percentage of the invoice (negative = penalty, positive = credit).
Forms convert what people type (percentages, text) before calling these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from itertools import pairwise

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.audit.services import record, record_change
from app.errors import Conflict
from app.extensions import db
from app.models import User, Vendor, VendorContract
from app.validation import (
    holiday_country_code,
    is_time_zone,
    normalise_code,
    problem,
    raise_problems,
)

CODE_RE = re.compile(r"^[A-Z0-9_-]{2,20}$")
MARKET_RE = re.compile(r"^[A-Z]{2}$")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
TIER_METRICS = ("overall_accuracy", "critical_error_rate")
MAX_SITE_LENGTH = 80
MAX_LIST_ITEMS = 50
MAX_TIERS = 20
DEFAULT_DISPUTE_WINDOW = 5


# Months ------------------------------------------------------------------------------


def this_month(today: date | None = None) -> date:
    """The first day of the current month (UTC, as the metrics count months)."""
    today = today or datetime.now(UTC).date()
    return today.replace(day=1)


# Parsing helpers ---------------------------------------------------------------------


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
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.replace(day=1)
    match = MONTH_RE.match((value or "").strip())
    if not match:
        raise ValueError("Enter the month as YYYY-MM, e.g. 2026-03.")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValueError("Enter a real month between 2000-01 and 2100-12.")
    return date(year, month, 1)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _share(field: str, label: str, value, problems: list[dict]) -> float | None:
    number = _number(value)
    if number is None:
        problems.append(problem(field, f"{label} is required (a percentage from 0 to 100)."))
        return None
    if not 0 <= number <= 1:
        problems.append(problem(field, f"{label} must be between 0% and 100%."))
        return None
    return round(number, 6)


def _check_time_zone(field: str, value: str, problems: list[dict]) -> str:
    value = (value or "").strip()
    if not value:
        problems.append(problem(field, "Choose a time zone, e.g. Europe/Warsaw."))
    elif not is_time_zone(value):
        problems.append(
            problem(field, f"Unknown time zone {value!r}; use an IANA name like Asia/Manila.")
        )
    return value


def _check_holiday_country(field: str, value: str, problems: list[dict]) -> str:
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


def _check_vendor_fields(
    name: str, sites, markets, time_zone: str, holiday_country: str
) -> tuple[dict, list[dict]]:
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
        "time_zone": _check_time_zone("time_zone", time_zone, problems),
        "holiday_country": _check_holiday_country("holiday_country", holiday_country, problems),
    }
    return values, problems


# Vendors -----------------------------------------------------------------------------


def _code_taken(code: str) -> bool:
    return db.session.scalar(sa.select(Vendor.id).where(Vendor.code == code)) is not None


def create_vendor(
    *,
    code: str,
    name: str,
    sites: str | Iterable[str] | None = None,
    markets: str | Iterable[str] | None = None,
    time_zone: str = "UTC",
    holiday_country: str = "US",
    actor: User | None = None,
) -> Vendor:
    """Create an active vendor. `sites` and `markets` may be comma-separated strings."""
    code = normalise_code(code)
    values, problems = _check_vendor_fields(name, sites, markets, time_zone, holiday_country)
    if not code:
        problems.insert(0, problem("code", "A code is required, e.g. ACME."))
    elif not CODE_RE.match(code):
        problems.insert(
            0,
            problem("code", "Use 2 to 20 characters: letters A-Z, digits, underscore or hyphen."),
        )
    raise_problems(problems)
    duplicate = Conflict(
        f"A vendor with code {code} already exists.",
        [problem("code", f"The code {code} is already in use.")],
    )
    if _code_taken(code):
        raise duplicate
    vendor = Vendor(code=code, active=True, **values)
    try:
        # Added inside a savepoint: a concurrent insert of the same code loses here
        # without spoiling the rest of the transaction.
        with db.session.begin_nested():
            db.session.add(vendor)
    except IntegrityError:
        raise duplicate from None
    record(
        db.session,
        "vendor.created",
        "vendor",
        vendor.id,
        after=vendor.audit_state(),
        summary=f"created vendor {code}",
        actor=actor,
    )
    return vendor


def update_vendor(
    vendor: Vendor,
    *,
    name: str,
    sites: str | Iterable[str] | None = None,
    markets: str | Iterable[str] | None = None,
    time_zone: str,
    holiday_country: str,
    code: str | None = None,
    actor: User | None = None,
) -> bool:
    """Change a vendor's details (never its code). Returns False when nothing changed."""
    values, problems = _check_vendor_fields(name, sites, markets, time_zone, holiday_country)
    if code is not None and normalise_code(code) != vendor.code:
        problems.insert(0, problem("code", "The code cannot change once the vendor exists."))
    raise_problems(problems)
    before = vendor.audit_state()
    for key, value in values.items():
        setattr(vendor, key, value)
    db.session.flush()
    return record_change(
        db.session,
        "vendor.updated",
        "vendor",
        vendor,
        before,
        summary=lambda changed: f"updated vendor {vendor.code}: {', '.join(changed)}",
        actor=actor,
    )


def set_vendor_active(vendor: Vendor, active: bool, *, actor: User | None = None) -> bool:
    """Deactivate or reactivate a vendor. Returns False when it already was in that state."""
    before = vendor.audit_state()
    vendor.active = active
    db.session.flush()
    return record_change(
        db.session,
        "vendor.activated" if active else "vendor.deactivated",
        "vendor",
        vendor,
        before,
        summary=f"{'reactivated' if active else 'deactivated'} vendor {vendor.code}",
        actor=actor,
    )


# Contracts ---------------------------------------------------------------------------


def _check_tiers(tiers, problems: list[dict]) -> list[dict]:
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
            _number(tier.get("from")),
            _number(tier.get("to")),
            _number(tier.get("pct")),
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


def _check_contract_fields(vendor: Vendor, values: dict) -> tuple[dict, list[dict]]:
    problems: list[dict] = []
    clean: dict = {}
    try:
        clean["effective_month"] = parse_month(values.get("effective_month"))
    except ValueError as err:
        problems.append(problem("effective_month", str(err)))
    clean["accuracy_target"] = _share(
        "accuracy_target", "The accuracy target", values.get("accuracy_target"), problems
    )
    clean["critical_error_cap"] = _share(
        "critical_error_cap", "The critical error cap", values.get("critical_error_cap"), problems
    )
    window = values.get("dispute_window_days")
    if window is None or window == "":
        window = DEFAULT_DISPUTE_WINDOW
    if isinstance(window, bool) or _number(window) is None or float(window) != int(float(window)):
        problems.append(problem("dispute_window_days", "Enter a whole number of business days."))
    elif not 1 <= int(float(window)) <= 60:
        problems.append(
            problem("dispute_window_days", "The dispute window is 1 to 60 business days.")
        )
    else:
        clean["dispute_window_days"] = int(float(window))
    clean["time_zone"] = _check_time_zone(
        "time_zone", values.get("time_zone") or vendor.time_zone, problems
    )
    clean["holiday_country"] = _check_holiday_country(
        "holiday_country", values.get("holiday_country") or vendor.holiday_country, problems
    )
    notes = (values.get("notes") or "").strip()
    if len(notes) > 5000:
        problems.append(problem("notes", "Keep notes to 5,000 characters or fewer."))
    clean["notes"] = notes
    clean["penalty_tiers"] = _check_tiers(values.get("penalty_tiers"), problems)
    return clean, problems


def _month_taken(vendor: Vendor, month: date, exclude_id: int | None = None) -> bool:
    stmt = sa.select(VendorContract.id).where(
        VendorContract.vendor_id == vendor.id, VendorContract.effective_month == month
    )
    if exclude_id is not None:
        stmt = stmt.where(VendorContract.id != exclude_id)
    return db.session.scalar(stmt) is not None


def _month_conflict(vendor: Vendor, month: date) -> Conflict:
    label = month.strftime("%Y-%m")
    return Conflict(
        f"{vendor.code} already has a contract version taking effect in {label}.",
        [problem("effective_month", f"A version for {label} exists already; edit that one.")],
    )


def _checked_contract(vendor: Vendor, values: dict, exclude_id: int | None = None) -> dict:
    """The validated contract values; a month that has a version already (other than
    `exclude_id`) is a Conflict."""
    values, problems = _check_contract_fields(vendor, values)
    raise_problems(problems)
    if _month_taken(vendor, values["effective_month"], exclude_id):
        raise _month_conflict(vendor, values["effective_month"])
    return values


def _write_contract(vendor: Vendor, contract: VendorContract | None, values: dict):
    """Insert (contract None) or change a version inside a savepoint, so that a concurrent
    version for the same month loses with a Conflict and the transaction stays usable."""
    try:
        with db.session.begin_nested():
            if contract is None:
                contract = VendorContract(vendor=vendor, **values)
                db.session.add(contract)
            else:
                for key, value in values.items():
                    setattr(contract, key, value)
    except IntegrityError:
        raise _month_conflict(vendor, values["effective_month"]) from None
    # The relationship is ordered newest first; reload it so contract_for() sees the change.
    db.session.expire(vendor, ["contracts"])
    return contract


def create_contract(
    vendor: Vendor,
    *,
    effective_month: str | date,
    accuracy_target: float,
    critical_error_cap: float,
    dispute_window_days: int | None = DEFAULT_DISPUTE_WINDOW,
    time_zone: str | None = None,
    holiday_country: str | None = None,
    notes: str = "",
    penalty_tiers: list[dict] | None = None,
    actor: User | None = None,
) -> VendorContract:
    """Add a contract version taking effect in `effective_month` (one per month).

    Time zone and holiday country default to the vendor's.
    """
    values = _checked_contract(
        vendor,
        {
            "effective_month": effective_month,
            "accuracy_target": accuracy_target,
            "critical_error_cap": critical_error_cap,
            "dispute_window_days": dispute_window_days,
            "time_zone": time_zone,
            "holiday_country": holiday_country,
            "notes": notes,
            "penalty_tiers": penalty_tiers,
        },
    )
    contract = _write_contract(vendor, None, values)
    record(
        db.session,
        "contract.created",
        "contract",
        contract.id,
        after=contract.audit_state(),
        summary=f"added {vendor.code} contract version from {contract.month_label}",
        actor=actor,
    )
    return contract


def update_contract(
    contract: VendorContract,
    *,
    effective_month: str | date,
    accuracy_target: float,
    critical_error_cap: float,
    dispute_window_days: int | None = DEFAULT_DISPUTE_WINDOW,
    time_zone: str | None = None,
    holiday_country: str | None = None,
    notes: str = "",
    penalty_tiers: list[dict] | None = None,
    actor: User | None = None,
) -> bool:
    """Change a contract version. Returns False when nothing changed."""
    vendor = contract.vendor
    values = _checked_contract(
        vendor,
        {
            "effective_month": effective_month,
            "accuracy_target": accuracy_target,
            "critical_error_cap": critical_error_cap,
            "dispute_window_days": dispute_window_days,
            "time_zone": time_zone,
            "holiday_country": holiday_country,
            "notes": notes,
            "penalty_tiers": penalty_tiers,
        },
        exclude_id=contract.id,
    )
    if all(getattr(contract, key) == value for key, value in values.items()):
        return False
    before = contract.audit_state()
    _write_contract(vendor, contract, values)
    return record_change(
        db.session,
        "contract.updated",
        "contract",
        contract,
        before,
        summary=lambda changed: (
            f"updated {vendor.code} contract version {before['effective_month']}: "
            f"{', '.join(changed)}"
        ),
        actor=actor,
    )


def can_delete_contract(contract: VendorContract, today: date | None = None) -> bool:
    """Only a version that has not taken effect yet may be deleted; the others are history."""
    return contract.effective_month > this_month(today)


def delete_contract(
    contract: VendorContract, *, actor: User | None = None, today: date | None = None
) -> None:
    """Delete a contract version whose effective month is still in the future."""
    if not can_delete_contract(contract, today):
        raise Conflict(
            f"The {contract.month_label} version has taken effect and is kept as history; "
            "add a new version instead.",
            [problem("effective_month", "Only a version taking effect in the future can go.")],
        )
    vendor = contract.vendor
    before = contract.audit_state()
    contract_id = contract.id
    vendor.contracts.remove(contract)  # delete-orphan removes the row
    db.session.flush()
    record(
        db.session,
        "contract.deleted",
        "contract",
        contract_id,
        before=before,
        summary=f"deleted {vendor.code} contract version {before['effective_month']}",
        actor=actor,
    )


# Reading -----------------------------------------------------------------------------


def contracts_in_force(vendor_ids: Iterable[int], month: date) -> dict[int, VendorContract]:
    """For each vendor, the contract version in force in `month`: the latest one taking
    effect on or before it. One query for the whole list."""
    ids = list(vendor_ids)
    if not ids:
        return {}
    first = month.replace(day=1)
    latest = (
        sa.select(
            VendorContract.vendor_id,
            sa.func.max(VendorContract.effective_month).label("month"),
        )
        .where(VendorContract.vendor_id.in_(ids), VendorContract.effective_month <= first)
        .group_by(VendorContract.vendor_id)
        .subquery()
    )
    stmt = sa.select(VendorContract).join(
        latest,
        sa.and_(
            VendorContract.vendor_id == latest.c.vendor_id,
            VendorContract.effective_month == latest.c.month,
        ),
    )
    return {c.vendor_id: c for c in db.session.scalars(stmt)}
