"""Background jobs: how they run (inline in tests, a thread, RQ), what their pages and
the API show, and who may see them."""

from __future__ import annotations

import re
import socket
import threading
import uuid

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.jobs import JobFailed, enqueue, register
from app.jobs import services as jobs
from app.models import Job, User, Vendor
from tests.factories import UserFactory, VendorFactory
from tests.refs import ref

# Kinds of job used only here ------------------------------------------------------------

STEPS = threading.local()


@register("test.count", label="Counting test", unit="rows")
def _count(job, report_progress):
    total = job.params["n"]
    report_progress(0, "counting", total=total)
    for done in range(1, total + 1):
        report_progress(done, "counting")
    return {"rows": total, "created": total}


@register("test.reject", label="Rejecting test")
def _reject(job, report_progress):
    VendorFactory(code="JOBREJ")  # must not survive the failure
    raise JobFailed(
        "Nothing was imported: 3 problems found.",
        [
            {"line": 2, "field": "vendor", "message": "Unknown vendor 'NOPE'."},
            {"line": 5, "field": "decided_at", "message": "Must have an offset."},
        ],
        total_errors=3,
    )


@register("test.crash", label="Crashing test")
def _crash(job, report_progress):
    VendorFactory(code="JOBCRASH")
    raise RuntimeError("secret internals: /srv/portal/app.py line 12")


# Synchronous runs (the default in tests) ------------------------------------------------


def test_in_tests_a_job_runs_inside_the_request_and_stores_its_result(app, login_as):
    user = login_as("qa_lead")
    job = enqueue("test.count", {"n": 7}, actor=user, title="Seven rows")
    assert job.state == "succeeded"
    assert job.result == {"rows": 7, "created": 7}
    assert (job.progress, job.total, job.stage) == (7, 7, "done")
    assert job.started_at is not None and job.finished_at is not None
    assert job.created_by_id == user.id


def test_a_failed_job_keeps_its_errors_and_none_of_its_changes(app, login_as):
    user = login_as("admin")
    job = enqueue("test.reject", {}, actor=user, title="Bad file")
    assert job.state == "failed"
    assert job.message == "Nothing was imported: 3 problems found."
    assert job.total_errors == 3
    assert job.errors[0] == {"line": 2, "field": "vendor", "message": "Unknown vendor 'NOPE'."}
    assert db.session.scalar(sa.select(Vendor).where(Vendor.code == "JOBREJ")) is None


def test_an_unexpected_error_is_logged_but_never_shown(app, client, login_as, caplog):
    user = login_as("admin")
    job = enqueue("test.crash", {}, actor=user, title="Crash")
    assert job.state == "failed"
    assert "secret internals" not in job.message
    assert f"job {job.id}" in job.message and "nothing it did was kept" in job.message
    assert "secret internals" in caplog.text  # the traceback is in the log
    assert db.session.scalar(sa.select(Vendor).where(Vendor.code == "JOBCRASH")) is None
    page = client.get(f"/jobs/{ref(job)}").get_data(as_text=True)
    assert "unexpected error" in page and "secret internals" not in page


def test_a_job_runs_only_once(app, login_as):
    user = login_as("qa_lead")
    job = enqueue("test.count", {"n": 2}, actor=user, title="Once")
    finished = job.finished_at
    jobs.run_job(job.id)  # a queue message delivered twice
    db.session.refresh(job)
    assert job.state == "succeeded" and job.finished_at == finished


def test_an_unknown_kind_is_refused_at_enqueue(app, login_as):
    user = login_as("admin")
    with pytest.raises(ValueError):
        enqueue("test.nothing", {}, actor=user, title="?")


# Pages ----------------------------------------------------------------------------------


def test_the_job_page_shows_progress_and_the_result(client, login_as):
    user = login_as("qa_lead")
    job = enqueue("test.count", {"n": 4}, actor=user, title="Four rows")
    response = client.get(f"/jobs/{ref(job)}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Four rows" in page and "succeeded" in page and "Counting test" in page
    assert "4 of 4 rows (100%)" in page
    assert re.search(r'data-result="created">4<', page)
    # It follows the job with a script file (no inline script: the CSP forbids it).
    assert "js/jobs.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)


def test_the_job_page_lists_row_errors_with_the_total(client, login_as):
    user = login_as("admin")
    job = enqueue("test.reject", {}, actor=user, title="Bad file")
    page = client.get(f"/jobs/{ref(job)}").get_data(as_text=True)
    assert "Nothing was imported: 3 problems found." in page
    assert "Showing the first 2 of 3 problems" in page
    assert "Unknown vendor &#39;NOPE&#39;." in page and "decided_at" in page
    assert '<td class="text-nowrap">5</td>' in page


def test_a_running_job_shows_its_live_progress(client, login_as):
    user = login_as("qa_lead")
    job = Job(kind="test.count", title="Half way", state="running", progress=50, total=200)
    job.created_by = user
    db.session.add(job)
    db.session.commit()
    status = client.get(f"/jobs/{ref(job)}.json").get_json()
    assert status == {
        "id": ref(job),
        "state": "running",
        "done": False,
        "progress": 50,
        "total": 200,
        "percent": 25,
        "stage": "",
        "text": "50 of 200 rows (25%)",
    }
    page = client.get(f"/jobs/{ref(job)}").get_data(as_text=True)
    assert 'max="200" value="50"' in page and f"/jobs/{ref(job)}.json" in page
    # Without a total the bar shows rows done and the stage.
    job.total, job.stage = None, "checking"
    db.session.commit()
    status = client.get(f"/jobs/{ref(job)}.json").get_json()
    assert (status["percent"], status["text"], status["stage"]) == (
        None,
        "50 rows done",
        "checking",
    )


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("admin", True),
        ("qa_lead", True),
        ("qa_inspector", False),
        ("vendor_lead", False),
        ("vendor_viewer", False),
    ],
)
def test_only_the_creator_admins_and_qa_leads_see_a_job(client, auth, make_user, role, sees):
    creator = make_user("qa_lead")
    job = enqueue("test.count", {"n": 1}, actor=creator, title="Someone else's job")
    viewer = make_user(role)
    db.session.commit()
    auth.login(viewer)
    expected = 200 if sees else 404
    assert client.get(f"/jobs/{ref(job)}").status_code == expected
    assert client.get(f"/jobs/{ref(job)}.json").status_code == expected
    listing = client.get("/jobs/?whose=all").get_data(as_text=True)
    assert ("Someone else&#39;s job" in listing) is sees
    assert client.get("/jobs/999999").status_code == 404


def test_the_creator_sees_their_own_job_whatever_their_role(client, auth, make_user):
    creator = make_user("qa_inspector")
    job = enqueue("test.count", {"n": 1}, actor=creator, title="Mine")
    db.session.commit()
    auth.login(creator)
    assert client.get(f"/jobs/{ref(job)}").status_code == 200
    assert "Mine" in client.get("/jobs/").get_data(as_text=True)


def test_the_job_list_shows_my_recent_jobs_with_a_state_filter(client, login_as, make_user):
    me = login_as("admin")
    other = make_user("qa_lead")
    enqueue("test.count", {"n": 1}, actor=me, title="My good job")
    enqueue("test.reject", {}, actor=me, title="My bad job")
    enqueue("test.count", {"n": 1}, actor=other, title="Their job")
    page = client.get("/jobs/").get_data(as_text=True)
    assert "My good job" in page and "My bad job" in page and "Their job" not in page
    page = client.get("/jobs/?state=failed").get_data(as_text=True)
    assert "My bad job" in page and "My good job" not in page
    page = client.get("/jobs/?whose=all").get_data(as_text=True)
    assert "Their job" in page
    assert client.get("/jobs/?state=nonsense&whose=%00").status_code == 200


def test_the_job_list_is_empty_for_someone_without_jobs(client, login_as):
    login_as("vendor_viewer")
    page = client.get("/jobs/?whose=all")
    assert page.status_code == 200
    assert "You have not started any background jobs yet." in page.get_data(as_text=True)


# API ------------------------------------------------------------------------------------


def test_the_api_shows_a_job_to_its_creator(app, make_user, api_client):
    creator = make_user("integration")
    job = enqueue("test.reject", {}, actor=creator, title="Feed")
    response = api_client(creator).get(f"/api/v1/jobs/{ref(job)}")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "id",
        "kind",
        "state",
        "progress",
        "total",
        "stage",
        "result",
        "errors",
        "total_errors",
        "message",
        "created_at",
        "finished_at",
    }
    assert body["state"] == "failed" and body["total_errors"] == 3
    assert body["errors"][1] == {
        "line": 5,
        "field": "decided_at",
        "message": "Must have an offset.",
    }


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin", 200),
        ("qa_lead", 200),
        ("integration", 404),
        ("qa_inspector", 404),
        ("vendor_lead", 404),
        ("vendor_viewer", 404),
    ],
)
def test_the_api_hides_other_peoples_jobs(make_user, api_client, role, status):
    creator = make_user("integration")
    job = enqueue("test.count", {"n": 2}, actor=creator, title="Feed")
    response = api_client(make_user(role)).get(f"/api/v1/jobs/{ref(job)}")
    assert response.status_code == status
    if status == 404:
        assert set(response.get_json()["error"]) == {"code", "message", "details"}
    else:
        assert response.get_json()["result"] == {"rows": 2, "created": 2}


# In a background thread (the default without Redis) --------------------------------------


GATE: dict[int, tuple[threading.Event, threading.Event]] = {}


@register("test.gated", label="Gated test", unit="rows")
def _gated(job, report_progress):
    reported, proceed = GATE[job.params["gate"]]
    report_progress(5, "checking", total=10)
    reported.set()
    assert proceed.wait(10), "the test never let the job go on"
    report_progress(10, "writing")
    return {"rows": 10}


@pytest.mark.committing
def test_without_redis_a_job_runs_in_a_thread_and_reports_progress(app, client, auth, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MODE", "thread")
    gate = len(GATE) + 1
    GATE[gate] = (threading.Event(), threading.Event())
    reported, proceed = GATE[gate]
    user = UserFactory(email=f"thread-{uuid.uuid4().hex[:8]}@example.test", role="qa_lead")
    db.session.commit()
    user_id, email, job_id = user.id, user.email, None
    db.session.rollback()  # hold no transaction (SQLite: no lock) while the job runs
    try:
        assert auth.login(email).status_code == 302  # before the job may lock SQLite
        with app.test_request_context(method="POST"):
            actor = db.session.get(User, user_id)
            job = enqueue("test.gated", {"gate": gate}, actor=actor, title="In a thread")
            job_id = job.id
            assert job.state == "queued"  # the request does not wait for the job
        assert reported.wait(10)
        # The request answered at once; the job page follows the job while it runs.
        status = client.get(f"/jobs/{ref(job_id)}.json").get_json()
        assert status["state"] == "running"
        assert (status["progress"], status["total"], status["stage"]) == (5, 10, "checking")
        assert status["text"] == "5 of 10 rows (50%)"
        proceed.set()
        assert jobs.wait_for_thread(job_id, timeout=10)
        status = client.get(f"/jobs/{ref(job_id)}.json").get_json()
        assert status["state"] == "succeeded" and status["progress"] == 10
        assert client.get(f"/api/v1/jobs/{ref(job_id)}").status_code == 401  # no token: refused
        page = client.get(f"/jobs/{ref(job_id)}").get_data(as_text=True)
        assert "succeeded" in page and "10 of 10 rows" in page
    finally:
        proceed.set()
        if job_id:
            jobs.wait_for_thread(job_id, timeout=10)
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(sa.delete(Job.__table__).where(Job.__table__.c.created_by_id == user_id))
            conn.execute(sa.delete(User.__table__).where(User.__table__.c.id == user_id))


@pytest.mark.committing
def test_progress_reaches_the_database_on_its_own_connection(app):
    """The reporter commits progress apart from the job's work, which commits once."""
    job = Job(kind="test.count", title="progress", state="running")
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    db.session.rollback()  # hold no transaction (SQLite: no lock) while progress is written
    try:
        reporter = jobs.ProgressReporter(job_id)
        reporter(3, "reading", total=9)
        reporter(4, "reading")  # throttled: within the interval
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.select(Job.progress, Job.total, Job.stage).where(Job.id == job_id)
            ).one()
        assert tuple(row) == (3, 9, "reading")
        assert jobs.live_progress(job_id) == (4, 9, "reading")
        reporter.close()
        assert jobs.live_progress(job_id) is None
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(sa.delete(Job.__table__).where(Job.__table__.c.id == job_id))


# On RQ (when REDIS_URL is set) -----------------------------------------------------------


TEST_REDIS = "redis://127.0.0.1:6379/15"


def _redis_or_skip():
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    from redis import Redis

    return Redis.from_url(TEST_REDIS)


@pytest.mark.committing
def test_with_redis_a_job_goes_on_the_rq_queue_and_a_worker_runs_it(app, monkeypatch):
    redis = _redis_or_skip()
    from rq import SimpleWorker
    from rq.job import Job as RqJob

    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", TEST_REDIS)
    monkeypatch.setitem(app.config, "JOBS_QUEUE", queue_name)
    monkeypatch.setitem(app.extensions, "jobs_redis", redis)
    job_id, rq_job_ids, worker = None, [], None
    try:
        with app.test_request_context():
            job = enqueue("test.count", {"n": 3}, actor=None, title="On RQ")
            job_id = job.id
            assert job.state == "queued"
            queue = jobs.rq_queue(app)
            assert queue.name == queue_name and queue.count == 1
            assert queue.jobs[0].func_name == "app.jobs.worker.perform"
            assert queue.jobs[0].args == (job_id,)
            rq_job_ids = queue.job_ids
        worker = SimpleWorker([queue], connection=redis)
        worker.work(burst=True)
        assert queue.count == 0
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.select(Job.state, Job.result, Job.progress).where(Job.id == job_id)
            ).one()
        assert tuple(row) == ("succeeded", {"rows": 3, "created": 3}, 3)
    finally:
        db.session.rollback()
        if job_id:
            with db.engine.begin() as conn:
                conn.execute(sa.delete(Job.__table__).where(Job.__table__.c.id == job_id))
        for rq_job_id in rq_job_ids:
            RqJob(rq_job_id, connection=redis).delete()
            redis.delete(f"rq:results:{rq_job_id}")
        if worker is not None:
            redis.delete(worker.key)
            redis.srem("rq:workers", worker.key)
        for key in redis.scan_iter(f"rq:*{queue_name}*"):
            redis.delete(key)
        redis.srem("rq:queues", f"rq:queue:{queue_name}")


@pytest.mark.committing
def test_a_job_whose_worker_process_dies_is_marked_failed(app, monkeypatch):
    redis = _redis_or_skip()
    from rq import SimpleWorker
    from rq.job import Job as RqJob

    from app.jobs import worker as rq_worker

    class Worker(rq_worker.MarksAbandonedJobs, SimpleWorker):
        pass

    def dies(job_id):  # the job started, then its process went away
        with db.engine.begin() as conn:
            conn.execute(sa.update(Job.__table__).where(Job.id == job_id).values(state="running"))
        raise SystemExit(137)

    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", TEST_REDIS)
    monkeypatch.setitem(app.config, "JOBS_QUEUE", queue_name)
    monkeypatch.setitem(app.extensions, "jobs_redis", redis)
    monkeypatch.setattr(rq_worker, "run_job", dies)
    job_id, rq_job_ids, worker = None, [], None
    try:
        with app.test_request_context():
            job_id = enqueue("test.count", {"n": 3}, actor=None, title="Dies").id
            queue = jobs.rq_queue(app)
            rq_job_ids = queue.job_ids
        worker = Worker([queue], connection=redis)
        worker.work(burst=True)
        with db.engine.connect() as conn:
            row = conn.execute(sa.select(Job.state, Job.message).where(Job.id == job_id)).one()
        assert row.state == "failed" and row.message == jobs.ABANDONED_MESSAGE
    finally:
        db.session.rollback()
        if job_id:
            with db.engine.begin() as conn:
                conn.execute(sa.delete(Job.__table__).where(Job.__table__.c.id == job_id))
        for rq_job_id in rq_job_ids:
            RqJob(rq_job_id, connection=redis).delete()
            redis.delete(f"rq:results:{rq_job_id}")
        if worker is not None:
            redis.delete(worker.key)
            redis.srem("rq:workers", worker.key)
        for key in redis.scan_iter(f"rq:*{queue_name}*"):
            redis.delete(key)
        redis.srem("rq:queues", f"rq:queue:{queue_name}")


def test_when_the_queue_is_unreachable_the_job_fails_with_a_clear_message(
    app, login_as, monkeypatch
):
    user = login_as("admin")
    monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    from redis import Redis

    monkeypatch.setitem(app.extensions, "jobs_redis", Redis.from_url("redis://127.0.0.1:1/0"))
    job = enqueue("test.count", {"n": 1}, actor=user, title="Nowhere to go")
    assert job.state == "failed"
    assert job.message == (
        "The job queue is not reachable, so the job could not start. Try again later."
    )
