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

A job whose worker dies (the server killed or restarted, a worker out of memory) would
stay "running" forever, so every job records its runner (the process) and a heartbeat
(`heartbeat_at`, written with progress and every `JOBS_HEARTBEAT_SECONDS` by a small
thread). `sweep_abandoned` marks failed the jobs whose runner has ended (on this machine)
or whose heartbeat is older than `JOBS_STALE_AFTER_SECONDS`, and removes their files
(app.jobs.liveness has the rule). It runs when the app starts, on every poll of an
unfinished job, from the job list, in RQ workers' maintenance, and as `flask jobs sweep`.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app

from app.database import SQLITE_BUSY_TIMEOUT_MS, utcnow
from app.extensions import db
from app.jobs import liveness
from app.models import Job, User

logger = logging.getLogger(__name__)

MODES = ("inline", "thread", "rq")
DEFAULT_QUEUE = "portal"
PERFORM = "app.jobs.worker.perform"  # what RQ workers call, with the job's id
DEFAULT_TIMEOUT = 4 * 3600  # seconds an RQ worker lets one job run
DEFAULT_PROGRESS_INTERVAL = 0.5
DEFAULT_HEARTBEAT_SECONDS = 10
DEFAULT_STALE_AFTER_SECONDS = 120
DEFAULT_QUEUED_STALE_AFTER_SECONDS = 6 * 3600
# A job keeps this many row errors; the total is kept too.
ERRORS_KEPT = 100
UNEXPECTED_MESSAGE = (
    "The job stopped because of an unexpected error, and nothing it did was kept. "
    "The error was logged; try again, or report job {id} if it happens again."
)

DEFAULT_RETRY = "Nothing it did was kept; start it again."
STOPPED_MESSAGE = (
    "The worker running this {noun} stopped (the server restarted or crashed). {retry}"
)
NEVER_STARTED_MESSAGE = (
    "No worker took this {noun} from the queue within {limit} (check that the job "
    "workers are running). {retry}"
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
    noun: str = "job"
    retry: str = DEFAULT_RETRY
    cleanup: Callable[[dict], None] | None = field(default=None, compare=False)


_KINDS: dict[str, JobKind] = {}


def register(
    kind: str,
    *,
    label: str,
    template: str | None = None,
    unit: str = "items",
    noun: str = "job",
    retry: str = DEFAULT_RETRY,
    cleanup: Callable[[dict], None] | None = None,
):
    """Register the decorated function as the handler of `kind`.

    The handler is called as `handler(job, report_progress)` inside an app context and
    returns the result dict stored on the job (counts, for an import). It flushes but
    never commits; it raises `JobFailed` to fail with a message of its own.
    `report_progress(done, stage=None, total=None)` may be called as often as it likes;
    `unit` names what `done` counts ("rows").

    When the job's worker dies, the job is failed with a message naming it (`noun`,
    "import") and telling what to do (`retry`), and `cleanup(params)` (in an app context)
    removes what the job would have removed itself (its uploaded file).
    """

    def decorate(handler):
        _KINDS[kind] = JobKind(kind, handler, label, template, unit, noun, retry, cleanup)
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
    if mode != "rq":  # it runs in this process: if the process ends first, it never will
        job.runner, job.heartbeat_at = liveness.runner_id(), utcnow()
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

    from app.config import redis_client_options

    client = app.extensions.get("jobs_redis")
    if client is None:
        client = app.extensions["jobs_redis"] = Redis.from_url(
            app.config["REDIS_URL"], **redis_client_options()
        )
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
    now = utcnow()
    taken = db.session.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == "queued")
        .values(
            state="running",
            started_at=now,
            stage="starting",
            heartbeat_at=now,
            runner=liveness.runner_id(),
        )
    ).rowcount
    db.session.commit()  # also expires what the session held, so the job is read afresh
    if not taken:
        return
    heartbeat = Heartbeat(job_id) if separate_progress else None
    try:
        _run_taken(job_id, separate_progress)
    finally:
        if heartbeat is not None:
            heartbeat.stop()


def _run_taken(job_id: int, separate_progress: bool) -> None:
    jobs = Job.__table__
    job = db.session.get(Job, job_id)
    kind = _KINDS.get(job.kind)
    progress = ProgressReporter(job_id, job=None if separate_progress else job)
    try:
        if kind is None:
            raise JobFailed(f"This portal does not know how to run a job of kind {job.kind!r}.")
        result = kind.handler(job, progress)
        # Only a job still running ends as succeeded: one that a sweep declared dead
        # (its heartbeat stopped too long) was reported as "nothing kept", so its work
        # is not committed.
        db.session.flush()
        ended = db.session.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == "running")
            .values(
                state="succeeded",
                result=result or {},
                progress=progress.done,
                total=progress.total if progress.total is not None else progress.done,
                stage="done",
                finished_at=utcnow(),
            )
        ).rowcount
        if not ended:
            db.session.rollback()
            logger.warning("job %s was declared stopped while it ran; its work was undone", job_id)
            return
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
    """Mark a job that will never finish (its worker died) as failed and remove its
    files; True if it was still queued or running."""
    db.session.rollback()
    job = db.session.get(Job, job_id)
    if job is None or job.done:
        db.session.rollback()
        return False
    kind, params = job.kind, dict(job.params or {})
    _finish_failed(job_id, message)
    _clean_up(kind, params, job_id)
    return True


def _clean_up(kind_name: str, params: dict, job_id: int) -> None:
    kind = _KINDS.get(kind_name)
    if kind is None or kind.cleanup is None:
        return
    try:
        kind.cleanup(params)
    except Exception:  # a file left behind is swept later; the job's verdict stands
        logger.exception("could not remove the files of stopped job %s", job_id)


# Workers that died ---------------------------------------------------------------------


def _seconds(name: str, default: float) -> float:
    return float(current_app.config.get(name) or default)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


def stopped_message(kind_name: str, reason: str = liveness.STOPPED) -> str:
    """What the owner of a job whose worker died reads on its page."""
    kind = _KINDS.get(kind_name) or JobKind(kind_name, lambda job, progress: None, kind_name)
    if reason == liveness.NEVER_STARTED:
        limit = _duration(
            _seconds("JOBS_QUEUED_STALE_AFTER_SECONDS", DEFAULT_QUEUED_STALE_AFTER_SECONDS)
        )
        return NEVER_STARTED_MESSAGE.format(noun=kind.noun, limit=limit, retry=kind.retry)
    return STOPPED_MESSAGE.format(noun=kind.noun, retry=kind.retry)


@dataclass
class SweepResult:
    ended: list[tuple[int, str, str]] = field(default_factory=list)  # (id, title, message)
    busy: bool = False  # the database was locked: nothing could be marked; try again


_SWEEP_COLUMNS = ("id", "kind", "title", "state", "runner", "heartbeat_at")
_SWEEP_COLUMNS += ("started_at", "created_at", "params")


def _reason(row, now) -> str | None:
    return liveness.abandonment(
        state=row.state,
        runner=row.runner,
        heartbeat_at=row.heartbeat_at,
        started_at=row.started_at,
        created_at=row.created_at,
        now=now,
        stale_after=_seconds("JOBS_STALE_AFTER_SECONDS", DEFAULT_STALE_AFTER_SECONDS),
        queued_stale_after=_seconds(
            "JOBS_QUEUED_STALE_AFTER_SECONDS", DEFAULT_QUEUED_STALE_AFTER_SECONDS
        ),
    )


def sweep_abandoned(*, job: Job | None = None, wait: bool = False) -> SweepResult:
    """Mark failed the queued and running jobs whose worker is gone (all of them, or
    only `job`), with a message saying so, and remove their files.

    Works on a connection of its own and commits at once, so it neither joins nor
    disturbs the caller's transaction. Without `wait` it never waits for a lock: on a
    locked database it does nothing (`busy`), and a later sweep finishes the work.
    A job is only marked if it is still as it was read (same state and heartbeat), so
    a job that beat meanwhile is left alone.
    """
    result = SweepResult()
    now = utcnow()
    table = Job.__table__
    if job is not None:  # a job the caller has loaded: judged without a query
        rows = [job] if _reason(job, now) else []
    else:
        columns = [table.c[name] for name in _SWEEP_COLUMNS]
        try:
            with _job_connection(wait=wait) as conn:
                rows = conn.execute(
                    sa.select(*columns).where(table.c.state.in_(("queued", "running")))
                ).all()
        except sa.exc.OperationalError:
            result.busy = True
            return result
    for row in rows:
        reason = _reason(row, now)
        if reason is None:
            continue
        message = stopped_message(row.kind, reason)
        # Only if it did not beat since it was read.
        quiet = table.c.heartbeat_at.is_(None)
        if row.heartbeat_at is not None:
            quiet = sa.or_(quiet, table.c.heartbeat_at <= row.heartbeat_at)
        mark = (
            sa.update(table)
            .where(table.c.id == row.id, table.c.state == row.state, quiet)
            .values(state="failed", stage="failed", message=message, finished_at=utcnow())
        )
        try:
            with _job_connection(wait=wait) as conn:
                marked = conn.execute(mark).rowcount
        except sa.exc.OperationalError:
            result.busy = True
            continue
        if marked:
            logger.warning(
                "job %s (%s, runner %s) marked failed: %s",
                row.id,
                row.kind,
                row.runner or "none",
                "its worker stopped" if reason == liveness.STOPPED else "never started",
            )
            _clean_up(row.kind, dict(row.params or {}), row.id)
            result.ended.append((row.id, row.title, message))
    return result


_last_sweep = {"at": -math.inf}
_sweep_lock = threading.Lock()


def sweep_now_and_then() -> bool:
    """A sweep of every job, at most once every `JOBS_HEARTBEAT_SECONDS` per process
    (for pages that list jobs); True if it failed some."""
    interval = _seconds("JOBS_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS)
    with _sweep_lock:
        now = time.monotonic()
        if now - _last_sweep["at"] < interval:
            return False
        _last_sweep["at"] = now
    return bool(sweep_abandoned().ended)


def sweep_at_start(app: Flask) -> None:
    """Once when a process builds the app: fail the jobs that workers which are gone
    left running (a server killed during an import). Never stops the start: a database
    that is not reachable or not migrated yet is left for a later sweep. The engine's
    connections are closed afterwards, so no forked worker inherits one."""
    if not app.config.get("JOBS_SWEEP_AT_START", True) or _command_in({"db", "jobs"}):
        # `flask db …` may run before the jobs table has its columns; `flask jobs sweep`
        # sweeps itself, and reports what it did.
        return
    with app.app_context():
        try:
            swept = sweep_abandoned()
            if swept.ended:
                logger.warning("%s job(s) left by stopped workers marked failed", len(swept.ended))
        except sa.exc.SQLAlchemyError as err:
            logger.info("jobs not swept at start (%s)", type(err).__name__)
        finally:
            db.engine.dispose()


def _command_in(commands: set[str]) -> bool:
    """Whether this process runs one of these `flask` commands."""
    args = sys.argv
    return bool(args) and Path(args[0]).name == "flask" and bool(commands & set(args[1:]))


@contextmanager
def _job_connection(*, wait: bool) -> Iterator[sa.Connection]:
    """A transaction on a connection of its own for the job bookkeeping (progress,
    heartbeats, sweeps). Without `wait` it gives up at once when SQLite's write lock is
    held, and after a second on a PostgreSQL row lock (OperationalError)."""
    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        if sqlite and not wait:
            raw.execute("PRAGMA busy_timeout=0")
        try:
            with conn.begin():
                if not sqlite and not wait:
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
                yield conn
        finally:
            if sqlite and not wait:
                raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


class Heartbeat:
    """Beats for a running job from a small thread: `heartbeat_at` is set to now every
    `JOBS_HEARTBEAT_SECONDS`, on a connection of its own, never waiting for a lock (on
    SQLite a running job holds the write lock, so beats are skipped; there the sweep
    judges the job by its process, see app.jobs.liveness)."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.interval = _seconds("JOBS_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS)
        self._app = current_app._get_current_object()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"portal-job-{job_id}-heartbeat", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        with self._app.app_context():
            while not self._stop.wait(self.interval):
                beat(self.job_id)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def beat(job_id: int) -> bool:
    """Say that a running job's worker is alive; False when that could not be written."""
    table = Job.__table__
    try:
        with _job_connection(wait=False) as conn:
            conn.execute(
                sa.update(table)
                .where(table.c.id == job_id, table.c.state == "running")
                .values(heartbeat_at=utcnow())
            )
    except sa.exc.OperationalError:
        logger.debug("heartbeat of job %s not written now (database busy)", job_id)
        return False
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
        values = {"progress": self.done, "stage": self.stage, "heartbeat_at": utcnow()}
        if self.total is not None:
            values["total"] = self.total
        update = (
            sa.update(Job.__table__)
            .where(Job.__table__.c.id == self.job_id, Job.__table__.c.state == "running")
            .values(**values)
        )
        try:
            # Never wait for a lock: progress is only a hint (skipped while the job's own
            # transaction holds SQLite's write lock).
            with _job_connection(wait=False) as conn:
                conn.execute(update)
        except sa.exc.OperationalError:
            logger.debug("progress of job %s not written now (database busy)", self.job_id)

    def close(self) -> None:
        with _live_lock:
            _live.pop(self.job_id, None)
