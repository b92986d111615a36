"""Writing and verifying the hash-chained audit log.

Services call `record()` for every change; the events are appended when the
session commits, in the same transaction, under a lock on the chain head so
concurrent writers never fork the chain. Each event's hash is SHA-256 over its
canonical JSON, which includes the previous event's hash and a digest of its
bulk row changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.models import AuditChainHead, AuditEvent, AuditRowChange, User
from app.models.audit import GENESIS_HASH

_PENDING = "audit_pending"


def canonical_json(value: Any) -> str:
    """`value` as the one JSON text its hash is taken over (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    """Normalise to plain JSON so what is hashed is exactly what is read back."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def rows_digest(rows: list[dict]) -> str | None:
    """SHA-256 over an event's bulk row changes in order, or None when it has none."""
    if not rows:
        return None
    digest = hashlib.sha256()
    for row in rows:
        digest.update(canonical_json(row).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def event_hash(fields: dict) -> str:
    """SHA-256 over an event's hashed fields (see `hashed_fields`)."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def hashed_fields(ev: AuditEvent) -> dict:
    """The fields an event's hash covers, as stored."""
    return {
        "seq": ev.seq,
        "occurred_at": _iso(ev.occurred_at),
        "actor_id": ev.actor_id,
        "actor": ev.actor,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "summary": ev.summary,
        "before": ev.before,
        "after": ev.after,
        "request_id": ev.request_id,
        "row_count": ev.row_count,
        "rows_digest": ev.rows_digest,
        "prev_hash": ev.prev_hash,
    }


def _row_dict(row: AuditRowChange | dict) -> dict:
    if isinstance(row, dict):
        return row
    return {
        "position": row.position,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "before": row.before,
        "after": row.after,
    }


def _current_actor() -> User | None:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def record(
    session: Session,
    action: str,
    object_type: str,
    object_id: Any = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    summary: str = "",
    actor: User | None = None,
    rows: list[dict] | None = None,
) -> None:
    """Queue an audit event; it is written when `session` commits, in that transaction.

    `rows` are bulk row changes `{"object_type", "object_id", "before", "after"}`.
    """
    actor = actor or _current_actor()
    pending = session.info.setdefault(_PENDING, [])
    pending.append(
        {
            "action": action,
            "object_type": object_type,
            "object_id": None if object_id is None else str(object_id),
            "before": _jsonable(before),
            "after": _jsonable(after),
            "summary": summary[:500],
            "actor_id": actor.id if actor else None,
            "actor": actor.email if actor else "system",
            "request_id": g.get("request_id") if has_request_context() else None,
            "occurred_at": datetime.now(UTC),
            "rows": [
                {
                    "position": i,
                    "object_type": r["object_type"],
                    "object_id": str(r["object_id"]),
                    "before": _jsonable(r.get("before")),
                    "after": _jsonable(r.get("after")),
                }
                for i, r in enumerate(rows or [])
            ],
        }
    )


def record_change(
    session: Session,
    action: str,
    object_type: str,
    obj: Any,
    before: dict,
    *,
    summary: str | Callable[[dict[str, tuple[Any, Any]]], str],
    actor: User | None = None,
) -> bool:
    """Record `action` on `obj` if its `audit_state()` differs from `before`; return
    whether it did. `summary` may be a function of the changed fields,
    `{key: (before, after)}` in the order of the state."""
    after = obj.audit_state()
    if after == before:
        return False
    if callable(summary):
        changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
        summary = summary(changed)
    record(
        session,
        action,
        object_type,
        obj.id,
        before=before,
        after=after,
        summary=summary,
        actor=actor,
    )
    return True


def record_creation(
    session: Session,
    action: str,
    object_type: str,
    obj: Any,
    *,
    summary: str,
    actor: User | None = None,
) -> None:
    """Record that `obj` was created: its `audit_state()` is the event's `after`."""
    record(
        session,
        action,
        object_type,
        obj.id,
        after=obj.audit_state(),
        summary=summary,
        actor=actor,
    )


def _lock_head(session: Session) -> tuple[int, str]:
    """Take the chain lock (a row lock on PostgreSQL, the write lock on SQLite) and
    return the current tail (seq, hash)."""
    head = AuditChainHead.__table__
    locked = session.execute(sa.update(head).where(head.c.id == 1).values(seq=head.c.seq))
    if locked.rowcount == 0:
        session.execute(sa.insert(head).values(id=1, seq=0, last_hash=GENESIS_HASH))
    seq, last_hash = session.execute(
        sa.select(head.c.seq, head.c.last_hash).where(head.c.id == 1)
    ).one()
    return seq, last_hash


def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # the changes being audited go first, so their ids are known
    seq, prev = _lock_head(session)
    for item in pending:
        seq += 1
        rows = item.pop("rows")
        ev = AuditEvent(
            seq=seq,
            prev_hash=prev,
            row_count=len(rows),
            rows_digest=rows_digest(rows),
            **item,
        )
        ev.hash = event_hash(hashed_fields(ev))
        session.add(ev)
        session.flush()
        if rows:
            session.execute(
                sa.insert(AuditRowChange.__table__), [{"event_id": ev.id, **r} for r in rows]
            )
        prev = ev.hash
    head = AuditChainHead.__table__
    session.execute(sa.update(head).where(head.c.id == 1).values(seq=seq, last_hash=prev))


@event.listens_for(Session, "before_commit")
def _write_audit_events(session: Session) -> None:
    _append_pending(session)


@event.listens_for(Session, "after_rollback")
def _drop_audit_events(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str | None = None
    bad_seq: int | None = None


def verify_chain(session: Session, batch: int = 2000) -> VerifyResult:
    """Walk the whole chain in order and check every link and hash."""
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    while True:
        events = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).all()
        if not events:
            break
        ids = [ev.id for ev in events]
        rows_by_event: dict[int, list[dict]] = {}
        for row in session.scalars(
            sa.select(AuditRowChange)
            .where(AuditRowChange.event_id.in_(ids))
            .order_by(AuditRowChange.event_id, AuditRowChange.position)
        ):
            rows_by_event.setdefault(row.event_id, []).append(_row_dict(row))
        for ev in events:
            if ev.seq != expected_seq:
                return VerifyResult(
                    False, checked, f"event #{expected_seq} is missing", expected_seq
                )
            if ev.prev_hash != prev:
                return VerifyResult(
                    False, checked, f"event #{ev.seq} does not follow event #{ev.seq - 1}", ev.seq
                )
            rows = rows_by_event.get(ev.id, [])
            if len(rows) != ev.row_count or rows_digest(rows) != ev.rows_digest:
                return VerifyResult(
                    False, checked, f"the row changes of event #{ev.seq} were altered", ev.seq
                )
            if event_hash(hashed_fields(ev)) != ev.hash:
                return VerifyResult(False, checked, f"event #{ev.seq} was altered", ev.seq)
            prev = ev.hash
            expected_seq += 1
            checked += 1
        session.expunge_all()
    head = session.get(AuditChainHead, 1)
    head_seq = head.seq if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev:
        return VerifyResult(
            False,
            checked,
            f"the chain ends at event #{checked} but its head records event #{head_seq}",
            checked + 1,
        )
    return VerifyResult(True, checked)
