"""The numbers the dashboards and the metrics API show: the counting of app/metrics
with the contract version in force each month (DESIGN §2, §3). One vendor's month
(`vendor_metrics`, also `GET /api/v1/vendors/<code>/metrics`), its trend, and the QA
overview of every vendor a user may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from app import months
from app.extensions import db
from app.metrics import queries as metrics
from app.metrics.definitions import cap_status, floor_status
from app.models import Label, User, Vendor, VendorContract
from app.security.scoping import visible_vendors
from app.vendors.queries import contracts_in_force

TREND_MONTHS = 6


def targets_of(contract: VendorContract | None) -> metrics.Targets:
    """The targets of a contract version (none: no contract)."""
    if contract is None:
        return metrics.Targets(None, None, None)
    return metrics.Targets(
        contract.effective_month, contract.accuracy_target, contract.critical_error_cap
    )


def targets_for(vendor: Vendor, month: date) -> metrics.Targets:
    """The targets of the contract version in force in `month`."""
    return targets_of(vendor.contract_for(month))


def vendor_metrics(vendor: Vendor, month: date) -> dict:
    """The answer of `GET /api/v1/vendors/<code>/metrics?month=` (DESIGN §11)."""
    return metrics.vendor_month(
        db.session.connection(), vendor.id, vendor.code, month, targets_for(vendor, month)
    )


def trend(vendor: Vendor, month: date, count: int = TREND_MONTHS) -> dict[date, metrics.Figures]:
    """The vendor's figures in the `count` months ending with `month`, oldest first."""
    return metrics.trend(db.session.connection(), vendor.id, months.back(month, count))


@dataclass
class OverviewRow:
    """One vendor's line of the QA overview."""

    vendor: Vendor
    figures: metrics.Figures
    targets: metrics.Targets
    accuracy_status: str | None
    critical_status: str | None

    @property
    def accuracy(self) -> dict:
        return self.figures.share("overall_accuracy").as_dict()

    @property
    def critical(self) -> dict:
        return self.figures.share("critical_error_rate").as_dict()


def overview(user: User, month: date) -> list[OverviewRow]:
    """Every vendor `user` may see, with its month's figures against its targets;
    inactive vendors only when they have inspections that month."""
    vendors = visible_vendors(user)
    counted = metrics.all_vendors(db.session.connection(), month)
    contracts = contracts_in_force([v.id for v in vendors], month)  # one query for all
    rows = []
    for vendor in vendors:
        figures = counted.get(vendor.id, metrics.Figures())
        if not vendor.active and not figures.n:
            continue
        targets = targets_of(contracts.get(vendor.id))
        rows.append(
            OverviewRow(
                vendor=vendor,
                figures=figures,
                targets=targets,
                accuracy_status=floor_status(
                    figures.share("overall_accuracy"), targets.accuracy_target
                ),
                critical_status=cap_status(
                    figures.share("critical_error_rate"), targets.critical_error_cap
                ),
            )
        )
    return rows


def label_names(codes: Iterable[str]) -> dict[str, str]:
    """The names of the labels with these codes (the taxonomy is the same for everyone)."""
    codes = sorted(set(codes))
    if not codes:
        return {}
    rows = db.session.execute(sa.select(Label.code, Label.name).where(Label.code.in_(codes)))
    return dict(rows.tuples().all())
