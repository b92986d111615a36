"""Background jobs: a registry of kinds, `enqueue`, and the runner with its progress channel.

A job is a `Job` row plus a handler registered for its kind. `enqueue` stores the row
(committed, so a worker elsewhere can see it) and starts it:

- on RQ (queue `portal`) when `REDIS_URL` is set: an `rq worker portal` process loads the
  app and calls `app.jobs.worker.perform(job_id)`;
- otherwise in a background thread of this process, with its own app context and session;
- in tests (`TESTING`), synchronously inside the request, so tests stay deterministic.
  `JOBS_MODE` (`inline`, `thread`, `rq`) overrides the choice.

The handler's work runs in one transaction that commits once, together with the job's
final state and result. Progress travels separately: small transactions on their own
connection, at most every `JOBS_PROGRESS_INTERVAL` seconds, that touch only the job's
progress columns (so they never wait for the work's locks). SQLite lets one writer at a
time, so while a job writes, its progress may not reach the database; the process running
the job also keeps it in memory, and the job page shows the newer of the two.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app

from app.database import SQLITE_BUSY_TIMEOUT_MS, utcnow
from app.extensions import db
from app.models import Job, User

logger = logging.getLogger(__name__)

MODES = ("inline", "thread", "rq")
DEFAULT_QUEUE = "portal"
PERFORM = "app.jobs.worker.perform"  # what RQ workers call, with the job's id
DEFAULT_TIMEOUT = 4 * 3600  # seconds an RQ worker lets one job run
DEFAULT_PROGRESS_INTERVAL = 0.5
# A job keeps this many row errors; the total is kept too.
ERRORS_KEPT = 100
UNEXPECTED_MESSAGE = (
    "The job stopped because of an unexpected error, and nothing it did was kept. "
    "The error was logged; try again, or report job {id} if it happens again."
)

ProgressFn = Callable[..., None]


class JobFailed(Exception):
    """Raised by a handler to end its job as failed with a message its owner should
    read (and, for a rejected file, the row errors). Nothing the job did is kept."""

    def __init__(self, message: str, errors: list | None = None, total_errors: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])
        self.total_errors = len(self.errors) if total_errors is None else total_errors


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its handler, a label for people, and optionally a template shown
    on the job page below the result (for follow-up actions)."""

    name: str
    handler: Callable[[Job, ProgressFn], dict | None]
    label: str
    template: str | None = None
    unit: str = "items"


_KINDS: dict[str, JobKind] = {}


def register(kind: str, *, label: str, template: str | None = None, unit: str = "items"):
    """Register the decorated function as the handler of `kind`.

    The handler is called as `handler(job, report_progress)` inside an app context and
    returns the result dict stored on the job (counts, for an import). It flushes but
    never commits; it raises `JobFailed` to fail with a message of its own.
    `report_progress(done, stage=None, total=None)` may be called as often as it likes;
    `unit` names what `done` counts ("rows").
    """

    def decorate(handler):
        _KINDS[kind] = JobKind(kind, handler, label, template, unit)
        return handler

    return decorate


def job_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def job_mode(app: Flask) -> str:
    """How jobs run in this app: `JOBS_MODE` when set, else inline in tests, RQ when
    `REDIS_URL` is set, a background thread otherwise."""
    mode = app.config.get("JOBS_MODE")
    if mode:
        if mode not in MODES:
            raise ValueError(f"JOBS_MODE must be one of {', '.join(MODES)}, not {mode!r}")
        return mode
    if app.config.get("TESTING"):
        return "inline"
    return "rq" if app.config.get("REDIS_URL") else "thread"


# Enqueueing ---------------------------------------------------------------------------


def enqueue(kind: str, params: dict, *, actor: User | None, title: str) -> Job:
    """Store a job of `kind` and start it; returns the job (still loaded, not expired).

    Commits the session (the worker must see the row), so call it when the request
    has nothing else pending, and do not write afterwards: on SQLite a running job may
    hold the database's single write lock until it finishes.
    """
    if kind not in _KINDS:
        raise ValueError(f"no job handler is registered for {kind!r}")
    app = current_app._get_current_object()
    mode = job_mode(app)
    job = Job(kind=kind, params=params, title=title[:255], state="queued", created_by=actor)
    db.session.add(job)
    db.session.flush()
    # Keep the loaded objects (the job, the signed-in user) usable after the commit
    # without a new transaction: on SQLite a request's next transaction would wait for
    # the job's write lock.
    session = db.session()
    session.expire_on_commit = False
    try:
        db.session.commit()
    finally:
        session.expire_on_commit = True
    if mode == "inline":
        run_job(job.id, separate_progress=False)
        db.session.refresh(job)
    elif mode == "rq":
        _push_to_rq(app, job)
    else:
        _start_thread(app, job.id)
    return job


def _redis(app: Flask):
    from redis import Redis

    client = app.extensions.get("jobs_redis")
    if client is None:
        client = app.extensions["jobs_redis"] = Redis.from_url(app.config["REDIS_URL"])
    return client


def rq_queue(app: Flask):
    """The RQ queue this app's jobs go to."""
    from rq import Queue

    name = app.config.get("JOBS_QUEUE") or DEFAULT_QUEUE
    return Queue(name, connection=_redis(app))


def _push_to_rq(app: Flask, job: Job) -> None:
    from redis.exceptions import RedisError

    try:
        rq_queue(app).enqueue(
            PERFORM,
            job.id,
            job_timeout=app.config.get("JOBS_TIMEOUT") or DEFAULT_TIMEOUT,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"portal job {job.id} ({job.kind})",
        )
    except RedisError:
        logger.exception("could not put job %s on the queue", job.id)
        _finish_failed(
            job.id, "The job queue is not reachable, so the job could not start. Try again later."
        )
        db.session.refresh(job)


# Threads of this process running jobs, so tests (and shutdown) can wait for them.
_threads: dict[int, threading.Thread] = {}


def _start_thread(app: Flask, job_id: int) -> None:
    def target():
        try:
            with app.app_context():
                run_job(job_id)
        finally:
            _threads.pop(job_id, None)

    thread = threading.Thread(target=target, name=f"portal-job-{job_id}", daemon=True)
    _threads[job_id] = thread
    thread.start()


def wait_for_thread(job_id: int, timeout: float | None = None) -> bool:
    """Wait until an in-process job thread ends; False if it is still running."""
    thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


# Running ------------------------------------------------------------------------------


def run_job(job_id: int, *, separate_progress: bool = True) -> None:
    """Run a queued job in the current app context and store how it ended.

    Only one runner gets a job: it takes it by moving it from queued to running in one
    statement, so a message delivered twice does not run a job twice.
    `separate_progress=False` (synchronous runs) keeps progress on the job row of the
    work's own session.
    """
    jobs = Job.__table__
    taken = db.session.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == "queued")
        .values(state="running", started_at=utcnow(), stage="starting")
    ).rowcount
    db.session.commit()  # also expires what the session held, so the job is read afresh
    if not taken:
        return
    job = db.session.get(Job, job_id)
    kind = _KINDS.get(job.kind)
    progress = ProgressReporter(job_id, job=None if separate_progress else job)
    try:
        if kind is None:
            raise JobFailed(f"This portal does not know how to run a job of kind {job.kind!r}.")
        result = kind.handler(job, progress)
        job.state = "succeeded"
        job.result = result or {}
        job.progress = progress.done
        job.total = progress.total if progress.total is not None else progress.done
        job.stage = "done"
        job.finished_at = utcnow()
        db.session.commit()
    except JobFailed as failure:
        db.session.rollback()
        _finish_failed(job_id, failure.message, failure.errors, failure.total_errors, progress)
    except Exception:
        db.session.rollback()
        logger.exception("job %s (%s) failed", job_id, kind.name if kind else "?")
        _finish_failed(job_id, UNEXPECTED_MESSAGE.format(id=job_id), progress=progress)
    finally:
        progress.close()


def _finish_failed(
    job_id: int,
    message: str,
    errors: list | None = None,
    total_errors: int = 0,
    progress: ProgressReporter | None = None,
) -> None:
    job = db.session.get(Job, job_id)
    if job is None:  # deleted while it ran
        return
    job.state = "failed"
    job.message = message
    job.errors = list(errors or [])[:ERRORS_KEPT] or None
    job.total_errors = max(total_errors, len(job.errors or []))
    if progress is not None:
        job.progress = progress.done
        job.total = progress.total
    job.stage = "failed"
    job.finished_at = utcnow()
    db.session.commit()


ABANDONED_MESSAGE = (
    "The job stopped before it finished (the process running it ended, for instance "
    "out of memory or time), and nothing it did was kept. Try again."
)


def fail_abandoned(job_id: int, message: str = ABANDONED_MESSAGE) -> bool:
    """Mark a job that will never finish (its worker died) as failed; True if it was
    still queued or running."""
    db.session.rollback()
    job = db.session.get(Job, job_id)
    if job is None or job.done:
        db.session.rollback()
        return False
    _finish_failed(job_id, message)
    return True


# Progress -----------------------------------------------------------------------------

# Progress of the jobs this process runs: job id -> (done, total, stage).
_live: dict[int, tuple[int, int | None, str]] = {}
_live_lock = threading.Lock()


def live_progress(job_id: int) -> tuple[int, int | None, str] | None:
    """The latest progress of a job this process is running, if it runs here."""
    with _live_lock:
        return _live.get(job_id)


class ProgressReporter:
    """`report_progress(done, stage=None, total=None)` as handed to a handler.

    With `job` given (synchronous runs) it sets the job's columns in the work's own
    session. Otherwise it commits them on a connection of its own, throttled; on a
    locked SQLite database that write is skipped (the in-memory copy stays current).
    """

    def __init__(self, job_id: int, *, job: Job | None = None):
        self.job_id = job_id
        self.job = job
        self.done = 0
        self.total: int | None = None
        self.stage = "starting"
        self.interval = current_app.config.get("JOBS_PROGRESS_INTERVAL", DEFAULT_PROGRESS_INTERVAL)
        self._last_write = -math.inf
        self._engine = db.engine

    def __call__(self, done: int, stage: str | None = None, total: int | None = None) -> None:
        self.done = max(0, int(done))
        if stage is not None:
            self.stage = str(stage)[:64]
        if total is not None:
            self.total = max(0, int(total))
        if self.job is not None:
            self.job.progress, self.job.stage = self.done, self.stage
            if self.total is not None:
                self.job.total = self.total
            return
        with _live_lock:
            _live[self.job_id] = (self.done, self.total, self.stage)
        now = time.monotonic()
        if now - self._last_write >= self.interval:
            self._last_write = now
            self._write()

    def _write(self) -> None:
        values = {"progress": self.done, "stage": self.stage}
        if self.total is not None:
            values["total"] = self.total
        update = (
            sa.update(Job.__table__)
            .where(Job.__table__.c.id == self.job_id, Job.__table__.c.state == "running")
            .values(**values)
        )
        sqlite = self._engine.dialect.name == "sqlite"
        try:
            with self._engine.connect() as conn:
                raw = conn.connection.driver_connection
                if sqlite:
                    # Skip rather than wait while the job's own transaction writes.
                    raw.execute("PRAGMA busy_timeout=0")
                try:
                    with conn.begin():
                        if not sqlite:
                            # Never wait on a lock: progress is only a hint.
                            conn.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
                        conn.execute(update)
                finally:
                    if sqlite:
                        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except sa.exc.OperationalError:
            logger.debug("progress of job %s not written now (database busy)", self.job_id)

    def close(self) -> None:
        with _live_lock:
            _live.pop(self.job_id, None)
