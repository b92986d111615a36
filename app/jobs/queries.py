"""Reading background jobs, for the job pages and the API: lists of jobs and one job's
status. Who sees which job is decided in app.security.scoping (`visible`, `get_or_404`,
`can_see_all_jobs`): its creator, and admins and QA leads."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.jobs.services import job_kind, live_progress, sweep_abandoned, sweep_now_and_then
from app.models import Job, User
from app.security.public_ids import public_id
from app.security.scoping import get_or_404, visible


def job_list(user: User, *, everyone: bool = False, state: str = "", kind: str = "") -> sa.Select:
    """Jobs newest first: the user's own, or (`everyone`) all the jobs they may see.
    Jobs whose worker died are marked failed first (at most every few seconds)."""
    if sweep_now_and_then():
        db.session.rollback()  # a new transaction sees what the sweep committed
    stmt = sa.select(Job).order_by(Job.created_at.desc(), Job.id.desc())
    stmt = visible(stmt, user) if everyone else stmt.where(Job.created_by_id == user.id)
    if state:
        stmt = stmt.where(Job.state == state)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    return stmt


def current_job(job_id: int, user: User) -> Job:
    """The job `job_id` if the user may see it (404 otherwise), as it stands: an
    unfinished job whose worker died is marked failed first, so a poll always ends."""
    job = get_or_404(Job, job_id, user)
    if not job.done and sweep_abandoned(job=job).ended:
        db.session.rollback()  # a new transaction sees what the sweep committed
        job = get_or_404(Job, job_id, user)
    return job


def job_status(job: Job) -> dict:
    """What the job page's poller needs: progress (live when this process runs the
    job), state, and whether it is done."""
    progress, total, stage = job.progress, job.total, job.stage
    live = live_progress(job.id) if job.state == "running" else None
    if live is not None:  # newer than the database when the job runs in this process
        progress, total, stage = live[0], live[1] if live[1] is not None else total, live[2]
    percent = min(100, int(100 * progress / total)) if total else None
    kind = job_kind(job.kind)
    unit = kind.unit if kind else "items"
    if percent is not None:
        text = f"{progress:,} of {total:,} {unit} ({percent}%)"
    else:
        text = f"{progress:,} {unit} done"
    return {
        "id": public_id(job.id),
        "state": job.state,
        "done": job.done,
        "progress": progress,
        "total": total,
        "percent": percent,
        "stage": stage,
        "text": text,
    }
