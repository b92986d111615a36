"""Jobs whose worker died: a poll answers failed with a clear message, their files are
removed, and the sweep runs at start, in RQ workers' maintenance and as `flask jobs
sweep`; live jobs (a heartbeat that is fresh, a process that still runs) are left alone.

The sweep commits on a connection of its own, so these tests commit for real and
remove what they made.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from app.database import utcnow
from app.decisions import import_files
from app.extensions import db
from app.jobs import enqueue, liveness, register
from app.jobs import services as jobs
from app.models import ApiToken, Job, User, Vendor
from app.tokens.services import create_token
from tests.builders.committing import audit_chain_restored
from tests.builders.databases import own_database
from tests.factories import UserFactory, VendorFactory
from tests.refs import ref

pytestmark = pytest.mark.committing

STOPPED = (
    "The worker running this import stopped (the server restarted or crashed). "
    "Nothing was imported; upload the file again."
)
CHECK_STOPPED = (
    "The worker running this check stopped (the server restarted or crashed). "
    "Nothing was imported; upload the file again."
)
NEVER_STARTED = (
    "No worker took this import from the queue within 6 hours (check that the job workers "
    "are running). Nothing was imported; upload the file again."
)
ELSEWHERE = "other-host:4242:987654:0123456789abcdef"  # a process on another machine


def _dead_runner() -> str:
    """The runner of a process of this machine that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return liveness.runner_id(process.pid)


@pytest.fixture
def owner(app):
    """A committed QA lead with an API token; their jobs are removed afterwards."""
    with audit_chain_restored() as cleanups:
        user = UserFactory(role="qa_lead", email=f"sweep-{uuid.uuid4().hex[:8]}@example.test")
        _token, plain = create_token(user, name="poll", scopes=["read"])
        db.session.commit()
        found = SimpleNamespace(
            id=user.id, email=user.email, headers={"Authorization": f"Bearer {plain}"}
        )
        cleanups += [
            sa.delete(Job.__table__).where(Job.created_by_id == found.id),
            sa.delete(ApiToken.__table__).where(ApiToken.user_id == found.id),
            sa.delete(User.__table__).where(User.id == found.id),
        ]
        db.session.remove()
        yield found


def _staged_job(
    app,
    owner,
    *,
    state: str = "running",
    runner: str | None = None,
    silent_for: timedelta | None = timedelta(0),
    queued_for: timedelta = timedelta(0),
    kind: str = import_files.KIND_IMPORT,
) -> tuple[int, Path]:
    """A committed job of `owner` with its uploaded file on disk, as a worker left it."""
    token = secrets.token_hex(16)
    claimed = kind == import_files.KIND_IMPORT
    with app.test_request_context():
        path = import_files.upload_path(owner.id, token, claimed=claimed)
    path.write_bytes(b"external_id,vendor\nX-1,ACME\n")
    now = utcnow()
    job = Job(
        kind=kind,
        state=state,
        title="Import of march.csv",
        params={"upload": token, "owner": owner.id, "filename": "march.csv", "claimed": claimed},
        stage="reading" if state == "running" else "",
        created_by_id=owner.id,
        created_at=now - queued_for,
        started_at=now if state == "running" else None,
        runner=runner,
        heartbeat_at=None if silent_for is None else now - silent_for,
    )
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    db.session.remove()
    return job_id, path


def _stored(job_id: int):
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(Job.state, Job.message, Job.finished_at).where(Job.id == job_id)
        ).one()


SCENARIOS = {
    # name: (state, runner, silent for, queued for, expected state, expected message)
    "its process on this machine ended": ("running", "dead", timedelta(0), None, STOPPED),
    "its heartbeat elsewhere stopped": ("running", ELSEWHERE, timedelta(minutes=5), None, STOPPED),
    "its heartbeat elsewhere is fresh": ("running", ELSEWHERE, timedelta(seconds=5), None, ""),
    # A job of this very process is alive, however old its heartbeat (on SQLite a job
    # holds the write lock, so it cannot beat while it works).
    "it runs in this process": ("running", "here", timedelta(hours=1), None, ""),
    "queued by a process that ended": ("queued", "dead", timedelta(0), None, STOPPED),
    "queued for a worker, within the limit": ("queued", None, None, timedelta(hours=5), ""),
    "queued for a worker, past the limit": (
        "queued",
        None,
        None,
        timedelta(hours=7),
        NEVER_STARTED,
    ),
}


@pytest.mark.promise("jobs")
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_poll_answers_failed_when_the_worker_died_and_running_while_it_lives(
    app, client, auth, owner, scenario, tried
):
    state, runner, silent_for, queued_for, message = SCENARIOS[scenario]
    runner = {"dead": _dead_runner(), "here": liveness.runner_id()}.get(runner, runner)
    job_id, path = _staged_job(
        app,
        owner,
        state=state,
        runner=runner,
        silent_for=silent_for,
        queued_for=queued_for or timedelta(0),
    )
    assert auth.login(owner.email).status_code == 302
    status = client.get(f"/jobs/{ref(job_id)}.json").get_json()
    tried()
    if not message:  # alive: nothing changes
        assert (status["state"], status["done"]) == (state, False)
        assert path.exists() and _stored(job_id).state == state
        return
    assert (status["state"], status["done"], status["stage"]) == ("failed", True, "failed")
    stored = _stored(job_id)
    assert stored.message == message and stored.finished_at is not None
    assert not path.exists()  # the staged file is removed with the job
    page = client.get(f"/jobs/{ref(job_id)}").get_data(as_text=True)
    assert message in page and "failed" in page
    body = client.get(f"/api/v1/jobs/{ref(job_id)}", headers=owner.headers).get_json()
    assert (body["state"], body["message"]) == ("failed", message)
    tried(2)


@pytest.mark.promise("jobs")
def test_the_api_poll_of_a_dead_check_job_answers_failed(app, client, owner, tried):
    job_id, path = _staged_job(app, owner, runner=_dead_runner(), kind=import_files.KIND_CHECK)
    body = client.get(f"/api/v1/jobs/{ref(job_id)}", headers=owner.headers).get_json()
    tried()
    assert (body["state"], body["message"]) == ("failed", CHECK_STOPPED)
    assert body["finished_at"] is not None
    assert not path.exists()


@pytest.mark.promise("jobs")
def test_the_job_list_shows_a_dead_job_as_failed(app, client, auth, owner, monkeypatch, tried):
    monkeypatch.setitem(jobs._last_sweep, "at", float("-inf"))
    job_id, path = _staged_job(app, owner, runner=_dead_runner())
    assert auth.login(owner.email).status_code == 302
    page = client.get("/jobs/?state=failed").get_data(as_text=True)
    tried()
    assert f"/jobs/{ref(job_id)}" in page
    assert _stored(job_id).state == "failed" and not path.exists()


@pytest.mark.promise("jobs")
def test_flask_jobs_sweep_fails_dead_jobs_and_leaves_live_ones(app, runner, owner, tried):
    dead, dead_path = _staged_job(app, owner, runner=_dead_runner())
    stale, stale_path = _staged_job(app, owner, runner=ELSEWHERE, silent_for=timedelta(hours=1))
    live, live_path = _staged_job(app, owner, runner=ELSEWHERE)
    result = runner.invoke(args=["jobs", "sweep"])
    tried()
    assert result.exit_code == 0, result.output
    assert f"job {dead} (Import of march.csv): failed. {STOPPED}" in result.output
    assert f"job {stale} (Import of march.csv): failed." in result.output
    assert f"job {live} " not in result.output
    assert "2 job(s) left by a stopped worker marked failed." in result.output
    assert [_stored(j).state for j in (dead, stale, live)] == ["failed", "failed", "running"]
    assert (dead_path.exists(), stale_path.exists(), live_path.exists()) == (False, False, True)
    again = runner.invoke(args=["jobs", "sweep"])
    assert again.exit_code == 0
    assert "No job was left by a stopped worker." in again.output


@pytest.mark.promise("jobs")
def test_the_app_sweeps_when_it_starts(app, owner, tried):
    job_id, path = _staged_job(app, owner, runner=_dead_runner())
    create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "UPLOAD_DIR": app.config["UPLOAD_DIR"],
            "JOBS_SWEEP_AT_START": True,
        }
    )
    tried()
    assert (_stored(job_id).state, _stored(job_id).message) == ("failed", STOPPED)
    assert not path.exists()


@pytest.fixture
def empty_database_url(tmp_path):
    with own_database(tmp_path, "sweep") as url:
        yield url


def test_the_start_sweep_never_stops_the_app_starting(empty_database_url, tmp_path):
    """Not migrated, migrated before the heartbeat, or not reachable: the app starts."""
    settings = {"APP_ENV": "testing", "JOBS_SWEEP_AT_START": True, "UPLOAD_DIR": str(tmp_path)}
    assert create_app({**settings, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    old = create_app({**settings, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with old.app_context():
        upgrade(revision="0003_inspection_metrics")
        db.engine.dispose()
    assert create_app({**settings, "SQLALCHEMY_DATABASE_URI": empty_database_url})
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=2"
    assert create_app({**settings, "SQLALCHEMY_DATABASE_URI": unreachable})


@pytest.mark.promise("jobs")
def test_rq_workers_sweep_in_their_maintenance(app, owner, tried):
    from app.jobs import worker as rq_worker

    calls = []

    class Base:
        def run_maintenance_tasks(self):
            calls.append("rq")

    class Worker(rq_worker.SweepsAbandonedJobs, Base):
        pass

    job_id, path = _staged_job(app, owner, runner=_dead_runner())
    Worker().run_maintenance_tasks()
    tried()
    assert calls == ["rq"]
    assert _stored(job_id).state == "failed" and not path.exists()


@pytest.mark.promise("jobs")
def test_a_job_failed_by_its_rq_worker_loses_its_file_too(app, owner, tried):
    job_id, path = _staged_job(app, owner, runner=ELSEWHERE)
    assert jobs.fail_abandoned(job_id)
    tried()
    assert (_stored(job_id).state, _stored(job_id).message) == ("failed", jobs.ABANDONED_MESSAGE)
    assert not path.exists()


# A job that runs -----------------------------------------------------------------------

GATES: dict[str, tuple[threading.Event, threading.Event]] = {}


@register("test.sweep_gated", label="Gated sweep test", unit="rows")
def _gated(job, report_progress):
    reported, proceed = GATES[job.params["gate"]]
    VendorFactory(code=job.params["vendor"])  # work that must not outlive a dead verdict
    report_progress(1, "writing", total=2)
    reported.set()
    assert proceed.wait(10), "the test never let the job go on"
    return {"rows": 2}


def _read(app, job_id):
    # As a page would (SQLite: a read that does not wait for the job's write lock).
    with app.test_request_context(), db.engine.connect() as conn:
        return conn.execute(
            sa.select(Job.state, Job.message, Job.runner, Job.heartbeat_at).where(Job.id == job_id)
        ).one()


def _run_gated(app, owner, monkeypatch, vendor: str):
    monkeypatch.setitem(app.config, "JOBS_MODE", "thread")
    monkeypatch.setitem(app.config, "JOBS_HEARTBEAT_SECONDS", 0.1)
    gate = uuid.uuid4().hex
    GATES[gate] = (threading.Event(), threading.Event())
    with app.test_request_context(method="POST"):
        actor = db.session.get(User, owner.id)
        job = enqueue("test.sweep_gated", {"gate": gate, "vendor": vendor}, actor=actor, title="t")
        job_id = job.id
    db.session.remove()
    assert GATES[gate][0].wait(10)
    return job_id, GATES[gate][1]


def test_a_running_job_records_its_runner_and_beats(app, owner, monkeypatch):
    job_id, proceed = _run_gated(app, owner, monkeypatch, "SWEEPBEAT")
    try:
        first = _read(app, job_id)
        assert first.state == "running" and first.runner == liveness.runner_id()
        assert first.heartbeat_at is not None
        if db.engine.dialect.name != "sqlite":  # SQLite: the job holds the write lock
            threading.Event().wait(0.5)
            assert _read(app, job_id).heartbeat_at > first.heartbeat_at
        # Alive, so neither a poll nor a sweep touches it.
        assert not jobs.sweep_abandoned().ended
    finally:
        proceed.set()
        assert jobs.wait_for_thread(job_id, timeout=10)
        with db.engine.begin() as conn:
            conn.execute(sa.delete(Vendor.__table__).where(Vendor.code == "SWEEPBEAT"))
    assert _read(app, job_id).state == "succeeded"


def test_a_job_declared_dead_while_it_runs_keeps_nothing(app, owner, monkeypatch):
    """Its heartbeat stopped long enough for a sweep elsewhere to fail it: when the
    work ends after all, the verdict stands and the work is undone (the owner read
    "Nothing was imported")."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("on SQLite a running job holds the write lock: no sweep can fail it")
    job_id, proceed = _run_gated(app, owner, monkeypatch, "SWEEPDEAD")
    try:
        with db.engine.begin() as conn:  # what a sweep on another host does
            conn.execute(
                sa.update(Job.__table__)
                .where(Job.id == job_id)
                .values(state="failed", message=STOPPED, finished_at=utcnow())
            )
    finally:
        proceed.set()
        assert jobs.wait_for_thread(job_id, timeout=10)
    try:
        assert (_read(app, job_id).state, _read(app, job_id).message) == ("failed", STOPPED)
        with db.engine.connect() as conn:
            assert conn.execute(sa.select(Vendor.id).where(Vendor.code == "SWEEPDEAD")).all() == []
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.delete(Vendor.__table__).where(Vendor.code == "SWEEPDEAD"))
