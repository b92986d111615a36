"""Moderation decisions: what a vendor's moderator decided, the thing QA judges."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.enums import DECISIONS, POLICY_AREAS
from app.models.label import Label
from app.models.vendor import Vendor


class Decision(db.Model):
    __tablename__ = "decisions"
    __table_args__ = (
        enum_check("policy_area", POLICY_AREAS),
        enum_check("decision", DECISIONS),
        # The browser, the sampler and the metrics all start from vendor + time.
        sa.Index("ix_decisions_vendor_decided", "vendor_id", "decided_at"),
        sa.Index("ix_decisions_vendor_area_decided", "vendor_id", "policy_area", "decided_at"),
        sa.Index("ix_decisions_vendor_moderator", "vendor_id", "moderator_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    vendor_id: Mapped[int] = mapped_column(sa.ForeignKey("vendors.id", ondelete="RESTRICT"))
    moderator_id: Mapped[str] = mapped_column(sa.String(64))
    site: Mapped[str] = mapped_column(sa.String(64))
    market: Mapped[str] = mapped_column(sa.String(32))
    policy_area: Mapped[str] = mapped_column(sa.String(16))
    item_id: Mapped[str] = mapped_column(sa.String(128))
    item_url: Mapped[str | None] = mapped_column(sa.String(2048))
    context: Mapped[dict | None] = mapped_column(sa.JSON)
    decision: Mapped[str] = mapped_column(sa.String(8))
    decided_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    vendor: Mapped[Vendor] = relationship()
    decision_labels: Mapped[list[DecisionLabel]] = relationship(
        order_by="DecisionLabel.position",
        cascade="all, delete-orphan",
        back_populates="decision_row",
    )

    __tenant_column__ = "vendor_id"

    @property
    def label_codes(self) -> list[str]:
        return [dl.label.code for dl in self.decision_labels]


class DecisionLabel(db.Model):
    """A label applied by the moderator; position 0 is the primary label."""

    __tablename__ = "decision_labels"
    __table_args__ = (
        sa.UniqueConstraint("decision_id", "label_id"),
        sa.CheckConstraint("position >= 0", name="position_nonnegative"),
        sa.Index("ix_decision_labels_label", "label_id"),
    )

    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    label_id: Mapped[int] = mapped_column(sa.ForeignKey("labels.id", ondelete="RESTRICT"))

    decision_row: Mapped[Decision] = relationship(back_populates="decision_labels")
    label: Mapped[Label] = relationship()
