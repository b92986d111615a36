"""The metrics of a vendor-month as pages and API answer them: the counting of
app/metrics with the contract version in force that month (DESIGN §2, §3)."""

from __future__ import annotations

from datetime import date

from app.extensions import db
from app.metrics import queries
from app.models import Vendor, VendorContract

TREND_MONTHS = 6


def targets_of(contract: VendorContract | None) -> queries.Targets:
    """The targets of a contract version (none: no contract)."""
    if contract is None:
        return queries.Targets(None, None, None)
    return queries.Targets(
        contract.effective_month, contract.accuracy_target, contract.critical_error_cap
    )


def targets_for(vendor: Vendor, month: date) -> queries.Targets:
    """The targets of the contract version in force in `month`."""
    return targets_of(vendor.contract_for(month))


def vendor_metrics(vendor: Vendor, month: date) -> dict:
    """The answer of `GET /api/v1/vendors/<code>/metrics?month=` (DESIGN §11)."""
    return queries.vendor_month(
        db.session.connection(), vendor.id, vendor.code, month, targets_for(vendor, month)
    )


def months_back(month: date, count: int = TREND_MONTHS) -> list[date]:
    """`count` months ending with `month`, oldest first."""
    index = month.year * 12 + month.month - 1
    return [date((index - k) // 12, (index - k) % 12 + 1, 1) for k in reversed(range(count))]
