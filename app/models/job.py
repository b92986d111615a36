"""Background jobs (large imports now; bulk report exports later), with progress."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.user import User

JOB_STATES = ("queued", "running", "succeeded", "failed")


class Job(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        enum_check("state", JOB_STATES),
        sa.CheckConstraint("progress >= 0", name="progress_nonnegative"),
        sa.Index("ix_jobs_created_by_created", "created_by_id", "created_at"),
        # The sweep for jobs whose worker died reads the unfinished ones.
        sa.Index("ix_jobs_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")
    # A short human description of what it works on (e.g. the uploaded file's name).
    title: Mapped[str] = mapped_column(sa.String(255), default="")
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    progress: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]
    stage: Mapped[str] = mapped_column(sa.String(64), default="")
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    errors: Mapped[list | None] = mapped_column(sa.JSON)
    total_errors: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Who runs it (`host:pid:start:machine`, see app.jobs.liveness) and when it last said
    # it was alive: a job whose worker died is failed by the sweep (app.jobs.services).
    runner: Mapped[str | None] = mapped_column(sa.String(255))
    heartbeat_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(100 * self.progress / self.total))
