"""The rejection label taxonomy. Retired labels stay for history."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.enums import POLICY_AREAS, SEVERITIES


class Label(db.Model):
    __tablename__ = "labels"
    __table_args__ = (
        enum_check("policy_area", POLICY_AREAS),
        enum_check("typical_severity", SEVERITIES),
        sa.CheckConstraint("length(code) >= 2", name="code_length"),
        sa.CheckConstraint(
            "(active AND retired_at IS NULL) OR (NOT active AND retired_at IS NOT NULL)",
            name="retired_consistent",
        ),
        sa.Index("ix_labels_policy_area_active", "policy_area", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    policy_area: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    typical_severity: Mapped[str] = mapped_column(sa.String(16), default="major")
    active: Mapped[bool] = mapped_column(default=True)
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def audit_state(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "policy_area": self.policy_area,
            "description": self.description,
            "typical_severity": self.typical_severity,
            "active": self.active,
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
        }

    def __repr__(self) -> str:
        return f"<Label {self.code}>"
