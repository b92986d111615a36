"""Recording a token's last use is bookkeeping: a read through the API never waits for,
or fails because of, another writer (an import holding SQLite's write lock, another
request writing the token's row on PostgreSQL). These tests commit for real."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, User
from app.tokens.services import create_token
from tests.builders.committing import audit_chain_restored
from tests.factories import UserFactory

pytestmark = [pytest.mark.committing, pytest.mark.promise("integrity")]


@pytest.fixture
def idle_token(app):
    """A committed QA lead's token last used two minutes ago, removed afterwards."""
    with audit_chain_restored() as cleanups:
        user = UserFactory(role="qa_lead", email="bookkeeping@example.test")
        token, plain = create_token(user, name="bookkeeping", scopes=["read"])
        token.last_used_at = datetime.now(UTC) - timedelta(minutes=2)
        db.session.commit()
        token_id, user_id = token.id, user.id
        cleanups += [
            sa.delete(ApiToken.__table__).where(ApiToken.id == token_id),
            sa.delete(User.__table__).where(User.id == user_id),
        ]
        db.session.remove()
        yield token_id, {"Authorization": f"Bearer {plain}"}


def _last_used(token_id: int) -> datetime:
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(ApiToken.last_used_at).where(ApiToken.id == token_id)
        ).scalar_one()


def _hold_the_writer(conn, token_id: int) -> None:
    """What another writer holds while the read comes in: SQLite's write lock (as an
    import does), or on PostgreSQL the token's row."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("UPDATE users SET name = name WHERE id = -1")
    else:
        conn.execute(sa.select(ApiToken.id).where(ApiToken.id == token_id).with_for_update()).all()


def test_a_read_with_an_idle_token_neither_waits_for_nor_fails_on_a_writer(app, idle_token):
    token_id, headers = idle_token
    before = _last_used(token_id)
    client = app.test_client()
    with db.engine.connect() as writer:
        _hold_the_writer(writer, token_id)
        started = time.monotonic()
        responses = [client.get("/api/v1/vendors", headers=headers) for _ in range(8)]
        waited = time.monotonic() - started
        writer.rollback()
    assert [r.status_code for r in responses] == [200] * 8
    assert waited < 5, f"the reads waited {waited:.1f} s for the writer"
    assert _last_used(token_id) == before  # skipped while the writer held on
    assert client.get("/api/v1/vendors", headers=headers).status_code == 200
    assert _last_used(token_id) > before  # recorded by the next read
