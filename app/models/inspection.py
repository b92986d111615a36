"""Inspections: QA's verdict on one decision, with every version kept."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.decision import Decision
from app.models.enums import (
    ANSWERS,
    DECISIONS,
    INSPECTION_CHANGE_SOURCES,
    INSPECTION_STATUSES,
    SAMPLE_PURPOSES,
    SEVERITIES,
)
from app.models.label import Label
from app.models.sample import SampleItem
from app.models.scorecard import ScorecardQuestion, ScorecardVersion
from app.models.user import User


class Inspection(db.Model):
    __tablename__ = "inspections"
    __table_args__ = (
        enum_check("status", INSPECTION_STATUSES),
        enum_check("expected_decision", DECISIONS),
        enum_check("severity", SEVERITIES),
        enum_check("purpose", SAMPLE_PURPOSES),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint(
            "rubric_score IS NULL OR (rubric_score >= 0 AND rubric_score <= 100)",
            name="rubric_score_range",
        ),
        sa.CheckConstraint(
            "(status = 'final') = (finalised_at IS NOT NULL)", name="finalised_iff_final"
        ),
        sa.Index("ix_inspections_vendor_status", "vendor_id", "status"),
        sa.Index("ix_inspections_inspector_status", "inspector_id", "status"),
        # The metrics read one vendor-month of final inspections of one purpose.
        sa.Index("ix_inspections_vendor_month", "vendor_id", "month", "status", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("decisions.id", ondelete="RESTRICT"), unique=True
    )
    # Denormalised from the decision (which cannot change vendor once inspected) so
    # tenant scoping and per-vendor queries need no join.
    vendor_id: Mapped[int] = mapped_column(sa.ForeignKey("vendors.id", ondelete="RESTRICT"))
    sample_item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample_items.id", ondelete="SET NULL"), unique=True
    )
    scorecard_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("scorecard_versions.id", ondelete="RESTRICT")
    )
    inspector_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(sa.String(8), default="draft")
    expected_decision: Mapped[str | None] = mapped_column(sa.String(8))
    severity: Mapped[str | None] = mapped_column(sa.String(16))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    rubric_score: Mapped[float | None] = mapped_column(sa.Float)
    correct: Mapped[bool | None]
    # What the metrics count, kept with the verdict (DESIGN §3): the month of the
    # decision (first day, UTC; a sampled or inspected decision never changes its
    # time), the purpose of the sample it came from (`targeted` when none), and
    # whether the decision and, for a reject judged a reject, the labels were right.
    purpose: Mapped[str] = mapped_column(sa.String(16), default="contract")
    month: Mapped[date] = mapped_column(sa.Date)
    decision_match: Mapped[bool | None]
    label_match: Mapped[bool | None]
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finalised_at: Mapped[datetime | None]

    decision: Mapped[Decision] = relationship()
    sample_item: Mapped[SampleItem | None] = relationship()
    scorecard_version: Mapped[ScorecardVersion | None] = relationship()
    inspector: Mapped[User] = relationship()
    expected_labels: Mapped[list[InspectionLabel]] = relationship(
        order_by="InspectionLabel.position", cascade="all, delete-orphan"
    )
    answers: Mapped[list[InspectionAnswer]] = relationship(cascade="all, delete-orphan")
    history: Mapped[list[InspectionVersion]] = relationship(
        order_by="InspectionVersion.version",
        cascade="all, delete-orphan",
        back_populates="inspection",
    )

    __tenant_column__ = "vendor_id"


class InspectionLabel(db.Model):
    """An expected label; position 0 is the expected primary label."""

    __tablename__ = "inspection_labels"
    __table_args__ = (sa.UniqueConstraint("inspection_id", "label_id"),)

    inspection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inspections.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    label_id: Mapped[int] = mapped_column(sa.ForeignKey("labels.id", ondelete="RESTRICT"))

    label: Mapped[Label] = relationship()


class InspectionAnswer(db.Model):
    __tablename__ = "inspection_answers"
    __table_args__ = (enum_check("answer", ANSWERS),)

    inspection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inspections.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("scorecard_questions.id", ondelete="RESTRICT"), primary_key=True
    )
    answer: Mapped[str] = mapped_column(sa.String(4))

    question: Mapped[ScorecardQuestion] = relationship()


class InspectionVersion(db.Model):
    """A snapshot of an inspection as it stood after each change."""

    __tablename__ = "inspection_versions"
    __table_args__ = (
        sa.UniqueConstraint("inspection_id", "version"),
        enum_check("source", INSPECTION_CHANGE_SOURCES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(sa.ForeignKey("inspections.id", ondelete="CASCADE"))
    version: Mapped[int]
    source: Mapped[str] = mapped_column(sa.String(16))
    snapshot: Mapped[dict] = mapped_column(sa.JSON)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    changed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    inspection: Mapped[Inspection] = relationship(back_populates="history")
    changed_by: Mapped[User | None] = relationship()
