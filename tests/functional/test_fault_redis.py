"""Redis down: pages still serve, the sign-in rate limit still applies (counted in this
process's memory until Redis is back), an upload that needs the job queue ends in a job
that says clearly why it could not start, and when Redis is back everything uses it again
without a restart.

The outage is made for this test alone: the app reaches Redis through a TCP proxy
(tests/builders/tcp_proxy.py) that the test closes and opens again; its rate-limit keys
and its job queue carry names of their own, removed afterwards.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from app import create_app
from app.decisions.intake import FIELDS
from app.extensions import db, limiter
from app.jobs.services import DEFAULT_QUEUE
from app.models import ApiToken, Job, User
from app.tokens.services import create_token
from tests.builders.committing import audit_chain_restored
from tests.builders.tcp_proxy import TcpProxy
from tests.factories import TEST_PASSWORD, UserFactory

REDIS = ("127.0.0.1", 6379)
REDIS_DB = 15
# No request may take longer than this, even while Redis is away.
BOUND_SECONDS = 5.0
# The rate limit Redis would count, counted in memory while it is away.
LOGIN_LIMIT = 3
QUEUE_DOWN = "The job queue is not reachable, so the job could not start. Try again later."

pytestmark = pytest.mark.committing


@pytest.fixture
def redis():
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            pass
    except OSError:
        pytest.skip("needs a Redis server at 127.0.0.1:6379")
    from redis import Redis

    client = Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB)
    yield client
    client.close()


@pytest.fixture
def proxy(redis):
    proxy = TcpProxy(*REDIS).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def limiter_restored():
    """The app under test binds the one shared rate limiter to its Redis; the test
    app's limiter state is put back afterwards."""
    saved = dict(limiter.__dict__)
    yield
    limiter.__dict__.clear()
    limiter.__dict__.update(saved)


@pytest.fixture
def names(redis):
    """Key prefix and queue name of this test alone, and their removal from Redis."""
    tag = uuid.uuid4().hex[:10]
    prefix, queue = f"vqa-fault-{tag}", f"{DEFAULT_QUEUE}-fault-{tag}"
    yield prefix, queue
    for job_id in redis.lrange(f"rq:queue:{queue}", 0, -1):
        redis.delete(b"rq:job:" + job_id)
    for pattern in (f"*{prefix}*", f"rq:*{queue}*"):
        for key in redis.scan_iter(pattern):
            redis.delete(key)
    redis.srem("rq:queues", f"rq:queue:{queue}")


@pytest.fixture
def redis_app(proxy, names, limiter_restored, database_url, tmp_path):
    """The portal as it runs with Redis: the rate limits and the job queue on it (RQ)."""
    prefix, queue = names
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{REDIS_DB}",
            "RATELIMIT_KEY_PREFIX": prefix,
            "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
            "JOBS_MODE": "rq",
            "JOBS_QUEUE": queue,
            "IMPORT_INLINE_MAX_BYTES": 1,  # every upload goes through the job queue
            "UPLOAD_DIR": str(tmp_path),
            "PROPAGATE_EXCEPTIONS": False,
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def importer(app):
    """A QA lead with an API token, committed for real; removed afterwards with the jobs
    they started and the audit events the test appended."""
    tag = uuid.uuid4().hex[:8]
    with audit_chain_restored() as cleanup:
        user = UserFactory(email=f"fault-redis-{tag}@example.test", role="qa_lead")
        db.session.flush()
        _, token = create_token(user, name="fault test")
        user_id, email = user.id, user.email
        db.session.commit()  # and no transaction left open: SQLite has one writer
        cleanup += [
            sa.delete(Job.__table__).where(Job.__table__.c.created_by_id == user_id),
            sa.delete(ApiToken.__table__).where(ApiToken.user_id == user_id),
            sa.delete(User.__table__).where(User.id == user_id),
        ]
        yield email, token


def _csv() -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerow(
        {
            "external_id": "FAULT-1",
            "vendor": "NOSUCH",
            "moderator_id": "MOD-1",
            "site": "Manila",
            "market": "US",
            "policy_area": "listing",
            "item_id": "ITEM-1",
            "decision": "approve",
            "decided_at": "2026-03-01T09:30:00+08:00",
        }
    )
    return out.getvalue().encode()


class Timed:
    """A test client whose every request is timed against the bound."""

    def __init__(self, client, tried, address: str = "127.0.0.1"):
        self.client = client
        self.tried = tried
        self.address = address

    def __getattr__(self, method):
        def call(*args, **kwargs):
            kwargs.setdefault("environ_base", {"REMOTE_ADDR": self.address})
            answer: list = []

            def send():
                try:
                    answer.append(getattr(self.client, method)(*args, **kwargs))
                except BaseException as err:  # reported below, in the test's thread
                    answer.append(err)

            started = time.monotonic()
            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            thread.join(BOUND_SECONDS)  # a request that hangs fails the test, not the run
            took = time.monotonic() - started
            self.tried()
            assert answer and took < BOUND_SECONDS, (method, args, "took", took)
            response = answer[0]
            if isinstance(response, BaseException):
                raise response
            assert response.status_code < 500, response.get_data(as_text=True)[:500]
            return response

        return call


def _wrong_password(client, address: str, email: str):
    return client.post(
        "/auth/login",
        data={"email": email, "password": "not the password"},
        environ_base={"REMOTE_ADDR": address},
    )


def _upload_api(api, token: str):
    return api.post(
        "/api/v1/decisions/imports",
        data={"file": (io.BytesIO(_csv()), "march.csv")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.mark.promise("faults")
def test_with_redis_down_pages_serve_limits_fall_back_and_jobs_say_why(
    redis_app, proxy, redis, names, importer, tried
):
    prefix, queue = names
    email, token = importer
    browser = Timed(redis_app.test_client(), tried, "10.0.0.1")
    api = Timed(redis_app.test_client(), tried, "10.0.0.2")
    stranger = Timed(redis_app.test_client(), tried)

    proxy.stop()  # Redis goes away

    # Pages serve, and signing in works.
    assert browser.get("/auth/login").status_code == 200
    assert browser.get("/healthz").status_code == 200
    signed_in = browser.post("/auth/login", data={"email": email, "password": TEST_PASSWORD})
    assert signed_in.status_code == 302
    assert browser.get("/").status_code == 200

    # The sign-in limit still applies, counted in memory.
    answers = [
        _wrong_password(stranger, "10.0.0.9", "nobody@example.test").status_code
        for _ in range(LOGIN_LIMIT + 1)
    ]
    assert answers == [401] * LOGIN_LIMIT + [429]

    # An upload that needs the queue ends in a job that says why it could not start.
    response = browser.post(
        "/decisions/import",
        data={"file": (io.BytesIO(_csv()), "march.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302 and "/jobs/" in response.headers["Location"]
    page = browser.get(response.headers["Location"])
    assert page.status_code == 200
    assert QUEUE_DOWN in page.get_data(as_text=True)
    accepted = _upload_api(api, token)
    assert accepted.status_code == 202
    assert accepted.get_json()["state"] == "failed"
    job = api.get(accepted.get_json()["url"], headers={"Authorization": f"Bearer {token}"})
    assert job.get_json()["state"] == "failed"
    assert job.get_json()["message"] == QUEUE_DOWN
    assert redis.llen(f"rq:queue:{queue}") == 0

    proxy.start()  # Redis is back, on the same address

    # Jobs go on the queue again.
    accepted = _upload_api(api, token)
    assert accepted.status_code == 202
    assert accepted.get_json()["state"] == "queued"
    assert redis.llen(f"rq:queue:{queue}") == 1

    # The sign-in limit is counted in Redis again (shared by every worker process), once
    # the limiter has seen that Redis is back.
    deadline = time.monotonic() + 12
    attempt = 0
    while not list(redis.scan_iter(f"*{prefix}*")):
        assert time.monotonic() < deadline, "the rate limits never went back to Redis"
        attempt += 1
        assert browser.get("/").status_code == 200
        _wrong_password(stranger, f"10.0.1.{attempt}", f"nobody-{attempt}@example.test")
        time.sleep(0.2)
    answers = [
        _wrong_password(stranger, "10.0.2.1", "somebody@example.test").status_code
        for _ in range(LOGIN_LIMIT + 1)
    ]
    assert answers == [401] * LOGIN_LIMIT + [429]


@pytest.mark.promise("faults")
def test_with_redis_hanging_every_request_still_answers_in_bounded_time(
    redis_app, proxy, redis, names, importer, tried
):
    _, queue = names
    email, token = importer
    browser = Timed(redis_app.test_client(), tried, "10.0.3.1")
    api = Timed(redis_app.test_client(), tried, "10.0.3.2")
    stranger = Timed(redis_app.test_client(), tried)
    assert _upload_api(api, token).get_json()["state"] == "queued"  # connected before

    proxy.freeze()  # Redis stops answering, without closing anything

    assert stranger.get("/auth/login").status_code == 200
    signed_in = browser.post("/auth/login", data={"email": email, "password": TEST_PASSWORD})
    assert signed_in.status_code == 302
    assert browser.get("/").status_code == 200
    answers = [
        _wrong_password(stranger, "10.0.3.9", "nobody@example.test").status_code
        for _ in range(LOGIN_LIMIT + 1)
    ]
    assert answers == [401] * LOGIN_LIMIT + [429]
    accepted = _upload_api(api, token)
    assert accepted.get_json()["state"] == "failed"
    job = api.get(accepted.get_json()["url"], headers={"Authorization": f"Bearer {token}"})
    assert job.get_json()["message"] == QUEUE_DOWN

    proxy.stop()  # Redis restarts
    proxy.start()

    assert _upload_api(api, token).get_json()["state"] == "queued"
    assert redis.llen(f"rq:queue:{queue}") == 2
