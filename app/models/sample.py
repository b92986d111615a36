"""Sampling plans (reusable configurations), samples (one draw each), their items
and who is assigned to inspect them (DESIGN §4)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.decision import Decision
from app.models.enums import SAMPLE_ITEM_STATES, SAMPLE_PURPOSES, SAMPLE_STATES
from app.models.user import User
from app.models.vendor import Vendor


class SamplingPlan(db.Model):
    __tablename__ = "sampling_plans"
    __table_args__ = (
        enum_check("purpose", SAMPLE_PURPOSES),
        sa.CheckConstraint("size IS NULL OR size > 0", name="size_positive"),
        sa.CheckConstraint("margin IS NULL OR (margin > 0 AND margin < 1)", name="margin_share"),
        sa.CheckConstraint("confidence > 0 AND confidence < 1", name="confidence_share"),
        sa.CheckConstraint("size IS NOT NULL OR margin IS NOT NULL", name="size_or_margin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    vendor_id: Mapped[int] = mapped_column(sa.ForeignKey("vendors.id", ondelete="RESTRICT"))
    purpose: Mapped[str] = mapped_column(sa.String(16), default="contract")
    strata: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["policy_area", "decision"])
    size: Mapped[int | None]
    margin: Mapped[float | None] = mapped_column(sa.Float)
    confidence: Mapped[float] = mapped_column(sa.Float, default=0.95)
    risk_weights: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    inspector_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    vendor: Mapped[Vendor] = relationship()

    __tenant_column__ = "vendor_id"


class Sample(db.Model):
    """One draw. Stores everything needed to re-derive it: seed, method version,
    population size, per-stratum digests of the sorted population ids, exclusions."""

    __tablename__ = "samples"
    __table_args__ = (
        enum_check("purpose", SAMPLE_PURPOSES),
        enum_check("state", SAMPLE_STATES),
        sa.CheckConstraint("period_end >= period_start", name="period_ordered"),
        sa.Index("ix_samples_vendor_state", "vendor_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sampling_plans.id", ondelete="SET NULL"), index=True
    )
    vendor_id: Mapped[int] = mapped_column(sa.ForeignKey("vendors.id", ondelete="RESTRICT"))
    purpose: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    strata: Mapped[list[str]] = mapped_column(sa.JSON)
    requested_size: Mapped[int | None]
    margin: Mapped[float | None] = mapped_column(sa.Float)
    confidence: Mapped[float | None] = mapped_column(sa.Float)
    risk_weights: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    seed: Mapped[str] = mapped_column(sa.String(128))
    method_version: Mapped[str] = mapped_column(sa.String(16))
    population: Mapped[int]
    population_digests: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    per_stratum: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    exclusions: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    vendor: Mapped[Vendor] = relationship()
    plan: Mapped[SamplingPlan | None] = relationship()
    items: Mapped[list[SampleItem]] = relationship(
        back_populates="sample", order_by="SampleItem.id", cascade="all, delete-orphan"
    )

    __tenant_column__ = "vendor_id"


class SampleItem(db.Model):
    __tablename__ = "sample_items"
    __table_args__ = (
        enum_check("status", SAMPLE_ITEM_STATES),
        sa.UniqueConstraint("sample_id", "decision_id"),
        sa.CheckConstraint(
            "(status = 'skipped') = (skip_reason IS NOT NULL)", name="skip_reason_iff_skipped"
        ),
        sa.Index("ix_sample_items_assignee_status", "assignee_id", "status"),
        sa.Index("ix_sample_items_decision", "decision_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("samples.id", ondelete="CASCADE"))
    decision_id: Mapped[int] = mapped_column(sa.ForeignKey("decisions.id", ondelete="RESTRICT"))
    stratum: Mapped[str] = mapped_column(sa.String(255))
    rank: Mapped[int]  # position within its stratum's HMAC order
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    skip_reason: Mapped[str | None] = mapped_column(sa.Text)
    replacement_for_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample_items.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sample: Mapped[Sample] = relationship(back_populates="items")
    decision: Mapped[Decision] = relationship()
    assignee: Mapped[User | None] = relationship()
    replacement_for: Mapped[SampleItem | None] = relationship(remote_side=[id])
