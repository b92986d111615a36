"""Vendor and contract operations. Each checks its input (app/vendors/checks.py), adds
what needs the database (codes and months already taken), flushes and writes its
audit event; the caller commits once.

Values are in storage units here: targets, caps and tier bounds are shares in 0..1,
tier `pct` is a percentage of the invoice (negative = penalty, positive = credit).
Forms convert what people type (percentages, text) before calling these.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Unpack

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import months
from app.audit.services import record, record_change, record_creation
from app.errors import Conflict
from app.extensions import db
from app.models import User, Vendor, VendorContract
from app.validation import normalise_code, problem, raise_problems
from app.vendors.checks import (
    ContractTerms,
    check_code,
    check_contract_fields,
    check_vendor_fields,
)

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
    values, problems = check_vendor_fields(name, sites, markets, time_zone, holiday_country)
    raise_problems([*check_code(code), *problems])
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
    record_creation(
        db.session,
        "vendor.created",
        "vendor",
        vendor,
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
    values, problems = check_vendor_fields(name, sites, markets, time_zone, holiday_country)
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


def _checked_contract(vendor: Vendor, terms: ContractTerms, exclude_id: int | None = None) -> dict:
    """The validated contract values; a month that has a version already (other than
    `exclude_id`) is a Conflict."""
    values, problems = check_contract_fields(vendor, terms)
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
    vendor: Vendor, *, actor: User | None = None, **terms: Unpack[ContractTerms]
) -> VendorContract:
    """Add a contract version taking effect in its `effective_month` (one per month).

    Time zone and holiday country default to the vendor's.
    """
    contract = _write_contract(vendor, None, _checked_contract(vendor, terms))
    record_creation(
        db.session,
        "contract.created",
        "contract",
        contract,
        summary=f"added {vendor.code} contract version from {contract.month_label}",
        actor=actor,
    )
    return contract


def update_contract(
    contract: VendorContract, *, actor: User | None = None, **terms: Unpack[ContractTerms]
) -> bool:
    """Change a contract version. Returns False when nothing changed."""
    vendor = contract.vendor
    values = _checked_contract(vendor, terms, exclude_id=contract.id)
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
    return contract.effective_month > months.current(today)


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
