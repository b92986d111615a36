"""Vendors and their contracts, versioned by the month a version takes effect."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.models.user import User


class Vendor(db.Model):
    __tablename__ = "vendors"
    __table_args__ = (sa.CheckConstraint("length(code) BETWEEN 2 AND 20", name="code_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    sites: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    markets: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    holiday_country: Mapped[str] = mapped_column(sa.String(8), default="US")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contracts: Mapped[list[VendorContract]] = relationship(
        back_populates="vendor",
        order_by="VendorContract.effective_month.desc()",
        cascade="all, delete-orphan",
    )
    users: Mapped[list[User]] = relationship(back_populates="vendor")

    # Tenant scoping: the column that says which vendor owns a row.
    __tenant_column__ = "id"

    def contract_for(self, month: date) -> VendorContract | None:
        """The contract version in force in `month` (the latest taking effect on or before it)."""
        first = month.replace(day=1)
        for contract in self.contracts:  # newest first
            if contract.effective_month <= first:
                return contract
        return None

    def audit_state(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "sites": list(self.sites or []),
            "markets": list(self.markets or []),
            "time_zone": self.time_zone,
            "holiday_country": self.holiday_country,
            "active": self.active,
        }

    def __repr__(self) -> str:
        return f"<Vendor {self.code}>"


class VendorContract(db.Model):
    """One version of a vendor's contract, in force from `effective_month` until the next.

    Targets: overall accuracy must be at least `accuracy_target`; the critical error
    rate at most `critical_error_cap` (both shares in 0..1). Penalty and credit tiers
    are `[{"metric", "from", "to", "pct"}]`.
    """

    __tablename__ = "vendor_contracts"
    __table_args__ = (
        sa.UniqueConstraint("vendor_id", "effective_month"),
        sa.CheckConstraint("accuracy_target >= 0 AND accuracy_target <= 1", name="accuracy_share"),
        sa.CheckConstraint(
            "critical_error_cap >= 0 AND critical_error_cap <= 1", name="critical_cap_share"
        ),
        sa.CheckConstraint(
            "dispute_window_days >= 1 AND dispute_window_days <= 60", name="dispute_window"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(sa.ForeignKey("vendors.id", ondelete="CASCADE"))
    effective_month: Mapped[date] = mapped_column(sa.Date)  # always the 1st of a month
    accuracy_target: Mapped[float] = mapped_column(sa.Float)
    critical_error_cap: Mapped[float] = mapped_column(sa.Float)
    dispute_window_days: Mapped[int] = mapped_column(default=5)
    penalty_tiers: Mapped[list[dict]] = mapped_column(sa.JSON, default=list)
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    holiday_country: Mapped[str] = mapped_column(sa.String(8), default="US")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    vendor: Mapped[Vendor] = relationship(back_populates="contracts")

    __tenant_column__ = "vendor_id"

    @property
    def month_label(self) -> str:
        return self.effective_month.strftime("%Y-%m")

    def audit_state(self) -> dict:
        return {
            "vendor": self.vendor.code if self.vendor else None,
            "effective_month": self.month_label,
            "accuracy_target": self.accuracy_target,
            "critical_error_cap": self.critical_error_cap,
            "dispute_window_days": self.dispute_window_days,
            "penalty_tiers": list(self.penalty_tiers or []),
            "time_zone": self.time_zone,
            "holiday_country": self.holiday_country,
            "notes": self.notes,
        }
