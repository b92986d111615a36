"""A real fault: the server is killed (SIGKILL) while a background import runs in one of
its threads. Nothing of the file is kept, the job ends failed with a clear message once
the server is back, its staging file is removed, and sending the file again completes.

The server is a real gunicorn process on a database of its own (a SQLite file, or a
fresh PostgreSQL database when TEST_DATABASE_URL is set), driven over HTTP with an API
token, as a client would.
"""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.decisions.intake import FIELDS
from app.extensions import db
from app.security.public_ids import internal_id
from tests.builders.databases import own_database
from tests.builders.environment import STRONG_SECRET
from tests.builders.server import Server
from tests.factories import LabelFactory, UserFactory, VendorFactory

ROWS = 40_000
KILL_AFTER_ROWS = 10_000  # rows read (and partly stored) when the server is killed
STOPPED_MESSAGE = (
    "The worker running this import stopped (the server restarted or crashed). "
    "Nothing was imported; upload the file again."
)


@pytest.fixture
def server_database(tmp_path):
    """A database of the test's own: the server commits for real and is killed."""
    with own_database(tmp_path, "fault") as url:
        yield url


def _prepare(database_url: str, upload_dir: Path) -> str:
    """Migrate the database, add a vendor, a label and an integration user; return the
    user's API token."""
    from app.tokens.services import create_token

    setup = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_DIR": str(upload_dir),
        }
    )
    with setup.app_context():
        upgrade()
        VendorFactory(code="KIL")
        LabelFactory(code="KIL-SPAM", policy_area="listing")
        user = UserFactory(email="feed@kill.example", role="integration")
        _token, plain = create_token(user, name="fault test")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return plain


def _csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    values = {
        "vendor": "KIL",
        "moderator_id": "MOD-1",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "context": '{"queue": "priority"}',
        "decided_at": "2026-03-01T09:30:00+08:00",
    }
    for n in range(rows):
        row = dict(
            values,
            external_id=f"KILL-{n:07d}",
            item_id=f"ITEM-{n}",
            item_url=f"https://shop.example/items/{n}",
            decision="reject" if n % 2 else "approve",
            labels="KIL-SPAM" if n % 2 else "",
        )
        writer.writerow([row.get(field, "") for field in FIELDS])
    return out.getvalue().encode()


def _call(request: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _upload(server: Server, token: str, body: bytes, name: str) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    data = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(  # noqa: S310 (our own test server)
        f"{server.base}/api/v1/decisions/imports",
        data=data,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    return _call(request)


def _job(server: Server, token: str, url: str) -> dict:
    request = urllib.request.Request(  # noqa: S310 (our own test server)
        f"{server.base}{url}", headers={"Authorization": f"Bearer {token}"}
    )
    status, body = _call(request)
    assert status == 200, (status, body, server.log())
    return body


def _poll(server: Server, token: str, url: str, until, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    job = _job(server, token, url)
    while not until(job) and time.monotonic() < deadline:
        time.sleep(0.05)
        job = _job(server, token, url)
    return job


def _done(job: dict) -> bool:
    return job["state"] in ("succeeded", "failed")


def _row_id(number: int) -> int:
    """The job id behind a public number the server answered (its key: STRONG_SECRET)."""
    keyed = Flask("public-ids")
    keyed.config["SECRET_KEY"] = STRONG_SECRET
    with keyed.app_context():
        return internal_id(number)


def _decisions_and_job(database_url: str, number: int) -> tuple[int, str]:
    job_id = _row_id(number)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar()
            state = conn.execute(
                sa.text("SELECT state FROM jobs WHERE id = :id"), {"id": job_id}
            ).scalar()
    finally:
        engine.dispose()
    return count, state


@pytest.mark.committing
@pytest.mark.promise("jobs")
def test_kill_9_during_an_import_keeps_nothing_fails_the_job_and_a_rerun_completes(
    server_database, tmp_path, tried
):
    upload_dir = tmp_path / "uploads"
    token = _prepare(server_database, upload_dir)
    body = _csv(ROWS)
    server = Server(server_database, upload_dir, tmp_path)
    try:
        server.start()
        status, accepted = _upload(server, token, body, "march.csv")
        assert status == 202, (accepted, server.log())
        url = accepted["url"]
        job = _poll(
            server, token, url, lambda j: _done(j) or j["progress"] >= KILL_AFTER_ROWS, timeout=30
        )
        assert job["state"] == "running", job  # killed in the middle of its work
        assert KILL_AFTER_ROWS <= job["progress"] < ROWS
        server.kill()
        tried()

        # The crash leaves the job "running", the partial work uncommitted, the file on disk.
        assert _decisions_and_job(server_database, accepted["job"]) == (0, "running")
        staged = list((upload_dir / "imports").iterdir())
        assert [path.suffix for path in staged] == [".importing"]

        server.start()
        job = _poll(server, token, url, _done, timeout=10)
        assert job["state"] == "failed", job
        assert job["message"] == STOPPED_MESSAGE
        assert job["finished_at"] is not None and job["result"] is None
        assert _decisions_and_job(server_database, accepted["job"]) == (0, "failed")
        assert list((upload_dir / "imports").iterdir()) == []

        # The client sends the same file again, and this time it completes.
        status, again = _upload(server, token, body, "march.csv")
        assert status == 202, again
        tried()
        job = _poll(server, token, again["url"], _done, timeout=60)
        assert job["state"] == "succeeded", (job, server.log())
        assert job["result"] == {"rows": ROWS, "created": ROWS, "updated": 0, "unchanged": 0}
        assert _decisions_and_job(server_database, again["job"]) == (ROWS, "succeeded")
        assert list((upload_dir / "imports").iterdir()) == []
    finally:
        server.stop()
