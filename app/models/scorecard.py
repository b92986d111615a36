"""Scorecard templates: a versioned rubric per policy area (sections -> questions).

A published version is immutable; editing makes a new draft version. Every
inspection records the version it used.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.enums import POLICY_AREAS, TEMPLATE_VERSION_STATES

if TYPE_CHECKING:
    from app.models.user import User


class ScorecardTemplate(db.Model):
    __tablename__ = "scorecard_templates"
    __table_args__ = (enum_check("policy_area", POLICY_AREAS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    # One template per policy area; its published version is what inspections use.
    policy_area: Mapped[str] = mapped_column(sa.String(16), index=True, unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ScorecardVersion]] = relationship(
        back_populates="template",
        order_by="ScorecardVersion.number",
        cascade="all, delete-orphan",
    )


class ScorecardVersion(db.Model):
    __tablename__ = "scorecard_versions"
    __table_args__ = (
        sa.UniqueConstraint("template_id", "number"),
        enum_check("state", TEMPLATE_VERSION_STATES),
        sa.CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        sa.ForeignKey("scorecard_templates.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    template: Mapped[ScorecardTemplate] = relationship(back_populates="versions")
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])
    sections: Mapped[list[ScorecardSection]] = relationship(
        back_populates="version",
        order_by="ScorecardSection.position",
        cascade="all, delete-orphan",
    )


class ScorecardSection(db.Model):
    __tablename__ = "scorecard_sections"
    __table_args__ = (sa.UniqueConstraint("version_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("scorecard_versions.id", ondelete="CASCADE")
    )
    position: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))

    version: Mapped[ScorecardVersion] = relationship(back_populates="sections")
    questions: Mapped[list[ScorecardQuestion]] = relationship(
        back_populates="section",
        order_by="ScorecardQuestion.position",
        cascade="all, delete-orphan",
    )


class ScorecardQuestion(db.Model):
    __tablename__ = "scorecard_questions"
    __table_args__ = (
        sa.UniqueConstraint("version_id", "key"),
        sa.UniqueConstraint("section_id", "position"),
        sa.CheckConstraint("weight > 0", name="weight_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The version is repeated here so a key is unique across the whole rubric.
    version_id: Mapped[int] = mapped_column(
        sa.ForeignKey("scorecard_versions.id", ondelete="CASCADE")
    )
    section_id: Mapped[int] = mapped_column(
        sa.ForeignKey("scorecard_sections.id", ondelete="CASCADE")
    )
    position: Mapped[int]
    key: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.Text)
    guidance: Mapped[str] = mapped_column(sa.Text, default="")
    weight: Mapped[float] = mapped_column(sa.Float, default=1.0)
    critical: Mapped[bool] = mapped_column(default=False)
    allow_na: Mapped[bool] = mapped_column(default=True)

    section: Mapped[ScorecardSection] = relationship(back_populates="questions")
