"""PostgreSQL restarted under load: while it is away every request answers a clean 503
(a page saying the portal is temporarily unavailable, or the API's JSON error) within a
bounded time, never a 500; when it is back the same running app answers again, with no
restart, and signed-in users stay signed in.

The outage is made for this test alone: the app talks to PostgreSQL through a TCP proxy
(tests/builders/tcp_proxy.py) that the test closes, breaking every open connection and
refusing new ones as a restarting server does, then opens again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import ApiToken, User
from app.tokens.services import create_token
from tests.builders.committing import audit_chain_restored
from tests.builders.tcp_proxy import TcpProxy
from tests.factories import TEST_PASSWORD, UserFactory

# No request may take longer than this, even while the database is away.
BOUND_SECONDS = 5.0
# How long each phase (up, down, back up) keeps the load running.
PHASE_SECONDS = 1.5
WORKERS = 6


@dataclass
class Answer:
    started: float
    ended: float
    kind: str
    status: int
    seconds: float
    body: str
    retry_after: str | None


@dataclass
class Load:
    """Worker threads sending requests until told to stop; each answer is kept with the
    times its request started and ended, to tell in which phase it ran."""

    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def run(self, kind: str, send: Callable) -> None:
        def loop():
            while not self.stop.is_set():
                started = time.monotonic()
                response = send()
                ended = time.monotonic()
                answer = Answer(
                    started,
                    ended,
                    kind,
                    response.status_code,
                    ended - started,
                    response.get_data(as_text=True),
                    response.headers.get("Retry-After"),
                )
                with self.lock:
                    self.answers.append(answer)
                time.sleep(0.01)

        thread = threading.Thread(target=loop, name=f"load-{kind}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def finish(self) -> list[Answer]:
        self.stop.set()
        for thread in self.threads:
            thread.join(BOUND_SECONDS * 2)
        assert not any(t.is_alive() for t in self.threads), "a request never answered"
        return self.answers


def _url_through(database_url: str, proxy: TcpProxy) -> str:
    return (
        sa.make_url(database_url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def proxy(database_url):
    url = sa.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL): the outage is of a server")
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def people(app):
    """A QA lead (signs in on pages) with an API token, committed for real and removed
    afterwards together with the audit events the test appended."""
    tag = uuid.uuid4().hex[:8]
    with audit_chain_restored() as cleanup:
        user = UserFactory(email=f"fault-{tag}@example.test", role="qa_lead")
        db.session.flush()
        _, token = create_token(user, name="fault test")
        user_id, email = user.id, user.email
        db.session.commit()
        cleanup += [
            sa.delete(ApiToken.__table__).where(ApiToken.user_id == user_id),
            sa.delete(User.__table__).where(User.id == user_id),
        ]
        yield email, token


@pytest.fixture
def fault_app(proxy, database_url):
    """The portal as it runs in production, its database behind the proxy."""
    fault_app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": _url_through(database_url, proxy),
            "RATELIMIT_STORAGE_URI": "memory://",
            "PROPAGATE_EXCEPTIONS": False,
        }
    )
    yield fault_app
    with fault_app.app_context():
        db.engine.dispose()


@pytest.mark.committing  # its own database, not the test's connection
@pytest.mark.promise("faults")
def test_a_database_that_cannot_be_opened_answers_503_not_500(tmp_path, tried):
    """On any database: here an SQLite file whose folder has gone (a lost volume)."""
    missing = tmp_path / "gone" / "portal.db"
    broken = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}",
            "RATELIMIT_STORAGE_URI": "memory://",
            "PROPAGATE_EXCEPTIONS": False,
        }
    )
    client = broken.test_client()
    answers = [
        ("page", client.get("/healthz")),
        ("page", client.post("/auth/login", data={"email": "a@example.test", "password": "x"})),
        ("api", client.get("/api/v1/me", headers={"Authorization": "Bearer abc"})),
        ("api", client.get("/healthz", headers={"Accept": "application/json"})),
    ]
    tried(len(answers))
    for kind, response in answers:
        text = response.get_data(as_text=True)
        _assert_unavailable(
            Answer(0, 0, kind, response.status_code, 0, text, response.headers.get("Retry-After"))
        )
    with broken.app_context():
        db.engine.dispose()


def _signed_in(fault_app, email: str):
    client = fault_app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def _assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, (answer.kind, answer.status, answer.body[:300])
    assert answer.retry_after and answer.retry_after.isdigit()
    assert "Traceback" not in answer.body and "psycopg" not in answer.body
    if answer.kind.startswith("api"):
        error = json.loads(answer.body)["error"]
        assert error["code"] == "unavailable" and error["message"]
    elif answer.kind == "page":
        assert "temporarily unavailable" in answer.body
        assert "<html" in answer.body


@pytest.mark.postgres_only
@pytest.mark.committing
@pytest.mark.promise("faults")
def test_postgresql_restarted_under_load_fails_cleanly_and_the_app_recovers(
    fault_app, proxy, people, tried
):
    email, token = people
    api_headers = {"Authorization": f"Bearer {token}"}
    load = Load()
    for _ in range(2):
        page = _signed_in(fault_app, email)
        load.run("page", lambda page=page: page.get("/"))
    for _ in range(2):
        api = fault_app.test_client()
        load.run("api", lambda api=api: api.get("/api/v1/vendors", headers=api_headers))
    health = fault_app.test_client()
    load.run("health", lambda: health.get("/healthz"))
    signin = fault_app.test_client()
    load.run("sign-in page", lambda: signin.get("/auth/login"))
    assert len(load.threads) == WORKERS

    try:
        time.sleep(PHASE_SECONDS)
        going = time.monotonic()
        proxy.stop()  # PostgreSQL goes away: open connections break, new ones are refused
        gone = time.monotonic()
        time.sleep(PHASE_SECONDS)
        # Signing in while the database is away is not "wrong password".
        refused = fault_app.test_client().post(
            "/auth/login", data={"email": email, "password": TEST_PASSWORD}
        )
        coming = time.monotonic()
        proxy.start()  # back, on the same address
        back = time.monotonic()
        time.sleep(PHASE_SECONDS)
    finally:
        answers = load.finish()
    tried(len(answers) + 1)

    assert refused.status_code == 503
    assert "temporarily unavailable" in refused.get_data(as_text=True)

    def phase(answer: Answer) -> str:
        if answer.ended < going:
            return "up"
        if gone < answer.started and answer.ended < coming:
            return "down"
        if back < answer.started:
            return "back"
        return "changing"  # it ran while the database went or came back

    by_phase = {p: [a for a in answers if phase(a) == p] for p in ("up", "down", "back")}
    assert all(by_phase.values()), {p: len(a) for p, a in by_phase.items()}
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds < BOUND_SECONDS, slowest
    # While it was up, and again after it came back, everything answered.
    for answer in by_phase["up"] + by_phase["back"]:
        assert answer.status == 200, (phase(answer), answer.kind, answer.status, answer.body[:300])
    # While it was away: pages that need no database still served, the rest said 503.
    for answer in by_phase["down"]:
        if answer.kind == "sign-in page":
            assert answer.status == 200
        else:
            _assert_unavailable(answer)
    # Requests that ran while it went or came back answered one or the other.
    for answer in answers:
        if phase(answer) == "changing" and answer.status != 200:
            _assert_unavailable(answer)
    down_kinds = {a.kind for a in by_phase["down"] if a.status == 503}
    assert down_kinds == {"page", "api", "health"}
    # The signed-in users were not signed out by the outage.
    assert all("Sign out" in a.body for a in by_phase["back"] if a.kind == "page")
