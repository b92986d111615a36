"""The RQ side: `rq worker portal` runs `perform(job_id)` for each queued job.

Run workers from the project folder with the web processes' environment (the same
`DATABASE_URL`, `SECRET_KEY`, `AUDIT_KEY` (jobs write audit events), `UPLOAD_DIR` on
shared storage, and `REDIS_URL`):

    APP_ENV=production DATABASE_URL=postgresql://… SECRET_KEY=… AUDIT_KEY=… \\
    UPLOAD_DIR=/srv/portal/uploads \\
    REDIS_URL=redis://… rq worker portal --url "$REDIS_URL" -w app.jobs.worker.PortalWorker

`PortalWorker` builds the app once, before the worker forks a process per job, so each
job starts at once, and marks a job failed when the process running it dies (killed,
out of memory, past `JOBS_TIMEOUT`). In its periodic maintenance (every
`--maintenance-interval` seconds, RQ's default 600) it also sweeps the jobs whose worker
stopped anywhere (app.jobs.services.sweep_abandoned), such as a worker killed with its
job. A plain `rq worker portal` runs jobs too, but builds the app for every job and
leaves such a job "running" until a web process or `flask jobs sweep` finds it.
"""

from __future__ import annotations

import os

from flask import Flask, current_app, has_app_context
from rq import Worker

from app.jobs.services import PERFORM, fail_abandoned, run_job, sweep_abandoned

_app: Flask | None = None
_app_pid: int | None = None


def _worker_app() -> Flask:
    """The portal app, built once per worker from the environment. In a forked work
    horse the inherited connection pool is dropped (never share a connection across
    processes) and the horse opens its own."""
    global _app, _app_pid
    if _app is None:
        from app import create_app

        _app, _app_pid = create_app(), os.getpid()
    elif _app_pid != os.getpid():
        from app.extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app


def _app() -> Flask:
    return current_app._get_current_object() if has_app_context() else _worker_app()


def perform(job_id: int) -> None:
    """Run portal job `job_id` (its row says what to do) in a fresh app context."""
    with _app().app_context():
        run_job(job_id)


class MarksAbandonedJobs:
    """When RQ gives up on a job whose process died (killed, out of memory, past its
    timeout), mark the portal job failed; otherwise its page would say "running"
    forever. A job that ended normally has already stored its own outcome."""

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        super().handle_job_failure(  # type: ignore[misc]
            job, queue, started_job_registry=started_job_registry, exc_string=exc_string
        )
        if job.func_name == PERFORM and job.args:
            with _app().app_context():
                fail_abandoned(job.args[0])


class SweepsAbandonedJobs:
    """In the worker's periodic maintenance, fail the jobs whose worker stopped (this
    one's or another's, even one killed with its job) and remove their files."""

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()  # type: ignore[misc]
        with _app().app_context():
            sweep_abandoned()


class PortalWorker(SweepsAbandonedJobs, MarksAbandonedJobs, Worker):
    """An RQ worker that loads the portal app before it starts taking jobs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _worker_app()
