"""Helpers for tests that commit for real on PostgreSQL (marked `committing`): wait
until another connection waits for a row lock, and put the audit chain back as it was
(the suite checks that no test leaves committed rows behind)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditChainHead, AuditEvent


def wait_for_lock_waiter(timeout: float = 5.0) -> bool:
    """Block until another connection waits for a lock; False if none did in time."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    with db.engine.connect() as conn:
        while datetime.now(UTC) < deadline:
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            if waiting:
                return True
            conn.rollback()
            threading.Event().wait(0.01)
    return False


@contextmanager
def audit_chain_restored() -> Iterator[list]:
    """Around a committing test: afterwards the session is rolled back, the events the
    test appended are removed and the chain head is as it was. Yields a list: append the
    statements that delete the test's own rows; they run in order, in the same clean-up
    transaction."""
    head = AuditChainHead.__table__
    with db.engine.connect() as conn:
        start = conn.execute(sa.select(head.c.seq, head.c.last_hash)).one_or_none()
    cleanups: list = []
    try:
        yield cleanups
    finally:
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn:
            seq = start.seq if start else 0
            conn.execute(sa.delete(AuditEvent.__table__).where(AuditEvent.seq > seq))
            if start:
                conn.execute(
                    sa.update(head).where(head.c.id == 1).values(seq=seq, last_hash=start.last_hash)
                )
            else:
                conn.execute(sa.delete(head))
            for statement in cleanups:
                conn.execute(statement)
