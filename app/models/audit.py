"""The append-only audit log, chained by HMAC-SHA256 keyed with AUDIT_KEY (DESIGN §2)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import utcnow
from app.extensions import db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_object", "object_type", "object_id"),
        sa.Index("ix_audit_events_occurred", "occurred_at"),
        sa.Index("ix_audit_events_actor", "actor_id"),
        sa.Index("ix_audit_events_action", "action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Position in the chain; unique, so two writers can never both extend the same tail.
    seq: Mapped[int] = mapped_column(unique=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(254))  # email or "system", kept if the user goes
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(128))
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    row_count: Mapped[int] = mapped_column(default=0)
    rows_digest: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    row_changes: Mapped[list[AuditRowChange]] = relationship(
        order_by="AuditRowChange.position", back_populates="event"
    )


class AuditRowChange(db.Model):
    """One row changed by a bulk operation (e.g. an import); covered by its event's hash."""

    __tablename__ = "audit_row_changes"
    __table_args__ = (sa.UniqueConstraint("event_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("audit_events.id", ondelete="RESTRICT"))
    position: Mapped[int]
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str] = mapped_column(sa.String(128))
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)

    event: Mapped[AuditEvent] = relationship(back_populates="row_changes")


class AuditChainHead(db.Model):
    """A single row holding the chain's tail. Writers lock it (by updating it) before
    appending, which serialises appends on PostgreSQL and SQLite alike; it also lets
    `audit verify` notice a deleted tail."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)
