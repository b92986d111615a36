"""Writing and verifying the keyed, hash-chained audit log.

Services call `record()` for every change; the events are appended when the
session commits, in the same transaction, under a lock on the chain head so
concurrent writers never fork the chain. Each event's hash is
HMAC-SHA256(key = AUDIT_KEY as UTF-8, message = its canonical JSON as UTF-8); the
JSON includes the previous event's hash and a digest of its bulk row changes. The key
lives in the configuration, never in the database, so whoever can write the database
but lacks the key cannot edit an event and recompute the chain after it.

Whoever holds the key too could rebuild the whole chain; a head kept elsewhere
(`chain_head()`, printed by `flask audit head`) catches that: `check_anchor()` tells
whether the chain still holds it.

Chains written before the key (plain SHA-256 of the same JSON) fail verification
until `rekey_chain()` (`flask audit rekey`) has checked them and re-hashed them with
the key, once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context
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


def chain_key(key: str | None = None) -> bytes:
    """The chain's key: `key`, or the running app's AUDIT_KEY, as UTF-8."""
    if key is None:
        if not has_app_context():
            raise RuntimeError(
                "audit events are keyed with the app's AUDIT_KEY: use an app context"
            )
        key = current_app.config.get("AUDIT_KEY")
    if not key:
        raise RuntimeError("AUDIT_KEY is not set: audit events cannot be written or checked")
    return key.encode("utf-8")


def event_hash(fields: dict, key: bytes) -> str:
    """HMAC-SHA256 with the chain's key over an event's hashed fields (`hashed_fields`)."""
    return hmac.new(key, canonical_json(fields).encode("utf-8"), hashlib.sha256).hexdigest()


def unkeyed_hash(fields: dict) -> str:
    """How events were hashed before the chain was keyed: SHA-256 of the same JSON,
    which anyone can compute. Only `rekey_chain` accepts it."""
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
    key = chain_key()
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
        ev.hash = event_hash(hashed_fields(ev), key)
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
    unkeyed: int = 0  # events with an unkeyed hash (a chain from before the key)
    head: str = f"0:{GENESIS_HASH}"  # the last event checked, as SEQ:HASH


def _events(session: Session, batch: int) -> Iterator[tuple[AuditEvent, list[dict]]]:
    """Every event from seq 1 on, in order, with its bulk row changes; the session is
    cleared after each batch, so memory stays flat however long the chain."""
    next_seq = 1
    while True:
        # What the database holds, not objects the session may have loaded earlier.
        events = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.seq >= next_seq)
            .order_by(AuditEvent.seq)
            .limit(batch)
            .execution_options(populate_existing=True)
        ).all()
        if not events:
            return
        ids = [ev.id for ev in events]
        rows_by_event: dict[int, list[dict]] = {}
        for row in session.scalars(
            sa.select(AuditRowChange)
            .where(AuditRowChange.event_id.in_(ids))
            .order_by(AuditRowChange.event_id, AuditRowChange.position)
            .execution_options(populate_existing=True)
        ):
            rows_by_event.setdefault(row.event_id, []).append(_row_dict(row))
        for ev in events:
            yield ev, rows_by_event.get(ev.id, [])
        next_seq = events[-1].seq + 1
        session.flush()  # what the caller changed (a rekey) goes before the session is cleared
        session.expunge_all()


def _check(session: Session, key: bytes, batch: int, *, allow_unkeyed: bool) -> VerifyResult:
    """Walk the whole chain in order and check every link, row digest and keyed hash.
    `allow_unkeyed`: accept plain SHA-256 hashes before the first keyed one (a chain
    from before the key, as `rekey_chain` takes it)."""
    prev = GENESIS_HASH
    expected_seq = 1
    checked = unkeyed = 0

    def broken(problem: str, seq: int) -> VerifyResult:
        return VerifyResult(False, checked, problem, seq, unkeyed, f"{checked}:{prev}")

    for ev, rows in _events(session, batch):
        if ev.seq != expected_seq:
            return broken(f"event #{expected_seq} is missing", expected_seq)
        if ev.prev_hash != prev:
            return broken(f"event #{ev.seq} does not follow event #{ev.seq - 1}", ev.seq)
        if len(rows) != ev.row_count or rows_digest(rows) != ev.rows_digest:
            return broken(f"the row changes of event #{ev.seq} were altered", ev.seq)
        fields = hashed_fields(ev)
        if event_hash(fields, key) != ev.hash:
            keyed_before = checked > unkeyed
            if unkeyed_hash(fields) != ev.hash:
                if keyed_before:
                    return broken(f"event #{ev.seq} was altered", ev.seq)
                return broken(
                    f"event #{ev.seq} does not verify with this AUDIT_KEY: it was altered, "
                    "or the chain was written with another key",
                    ev.seq,
                )
            if keyed_before:
                return broken(
                    f"event #{ev.seq} carries an unkeyed hash after keyed events: it was "
                    "rewritten by someone without AUDIT_KEY",
                    ev.seq,
                )
            if not allow_unkeyed:
                return broken(
                    f"event #{ev.seq} carries an unkeyed hash (plain SHA-256): the chain was "
                    "written before AUDIT_KEY keyed it, or rewritten without the key. After "
                    "an upgrade, run `flask audit rekey` once",
                    ev.seq,
                )
            unkeyed += 1
        prev = ev.hash
        expected_seq += 1
        checked += 1
    head = session.get(AuditChainHead, 1, populate_existing=True)
    head_seq = head.seq if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_seq != checked or head_hash != prev:
        return broken(
            f"the chain ends at event #{checked} but its head records event #{head_seq}",
            checked + 1,
        )
    return VerifyResult(True, checked, unkeyed=unkeyed, head=f"{checked}:{prev}")


def verify_chain(session: Session, batch: int = 2000, *, key: str | None = None) -> VerifyResult:
    """Walk the whole chain in order and check every link and keyed hash (with `key`,
    by default the app's AUDIT_KEY)."""
    return _check(session, chain_key(key), batch, allow_unkeyed=False)


# --- the head kept elsewhere --------------------------------------------------------


@dataclass
class Head:
    seq: int
    hash: str
    occurred_at: datetime | None = None
    problem: str | None = None

    @property
    def anchor(self) -> str:
        """The head as `flask audit verify --anchor` takes it."""
        return f"{self.seq}:{self.hash}"


def chain_head(session: Session, *, key: str | None = None) -> Head:
    """The chain's head, to keep outside the database. `problem` says why it cannot be
    trusted: its event is missing, is not the head, or does not verify with the key
    (the rest of the chain is `verify_chain`'s job)."""
    head = session.get(AuditChainHead, 1, populate_existing=True)
    if head is None or head.seq == 0:
        return Head(0, GENESIS_HASH)
    ev = session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.seq == head.seq)
        .execution_options(populate_existing=True)
    )
    if ev is None:
        return Head(head.seq, head.last_hash, problem=f"event #{head.seq}, the head, is missing")
    found = Head(head.seq, head.last_hash, ev.occurred_at)
    if ev.hash != head.last_hash:
        found.problem = f"event #{head.seq} is not the head the chain records"
    elif event_hash(hashed_fields(ev), chain_key(key)) != ev.hash:
        found.problem = f"event #{head.seq}, the head, does not verify with this AUDIT_KEY"
    return found


def check_anchor(session: Session, seq: int | None, anchor_hash: str) -> str | None:
    """Whether the chain still holds a head kept earlier (`seq` None: the hash at any
    position). None when it does, else what is wrong. With `verify_chain` passing too,
    nothing up to the anchor changed since it was kept, and everything after it links
    on with the key."""
    if seq is None:
        found = session.scalar(sa.select(AuditEvent.seq).where(AuditEvent.hash == anchor_hash))
        if found is None and anchor_hash != GENESIS_HASH:
            return (
                f"no event has the anchor's hash {anchor_hash}: the chain was rewritten "
                "or truncated"
            )
        return None
    if seq == 0:
        return None if anchor_hash == GENESIS_HASH else "event #0 is the start of every chain"
    stored = session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == seq))
    if stored is None:
        last = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
        if last < seq:
            return (
                f"the chain ends at event #{last}, before the anchor's event #{seq}: "
                "it was truncated"
            )
        return f"event #{seq}, the anchor's event, is missing"
    if stored != anchor_hash:
        return (
            f"event #{seq} no longer has the anchor's hash: the chain was rewritten at or before it"
        )
    return None


# --- converting a chain written before the key --------------------------------------


@dataclass
class RekeyResult:
    ok: bool
    events: int = 0
    unkeyed: int = 0
    head_before: str = f"0:{GENESIS_HASH}"
    problem: str | None = None
    bad_seq: int | None = None


def rekey_chain(session: Session, batch: int = 2000, *, key: str | None = None) -> RekeyResult:
    """Re-hash a chain written before the key, once: under the chain lock, check the
    whole chain as it stands (plain SHA-256 hashes first, then keyed ones, every link
    and row digest), then re-hash every event with the key and queue an
    "audit.rekeyed" event keeping the head it replaced. A chain that does not check, or
    that is keyed already, is left as it is. It flushes but never commits.

    It cannot tell a chain from before the key from one rewritten as such: events before
    the rekey are only as strong as the unkeyed chain was."""
    secret = chain_key(key)
    _lock_head(session)
    found = _check(session, secret, batch, allow_unkeyed=True)
    if not found.ok:
        return RekeyResult(False, found.checked, problem=found.problem, bad_seq=found.bad_seq)
    if not found.unkeyed:
        return RekeyResult(True, found.checked, 0, found.head)
    prev = GENESIS_HASH
    for ev, _rows in _events(session, batch):
        ev.prev_hash = prev
        ev.hash = event_hash(hashed_fields(ev), secret)
        prev = ev.hash
    head = AuditChainHead.__table__
    session.execute(sa.update(head).where(head.c.id == 1).values(seq=found.checked, last_hash=prev))
    record(
        session,
        "audit.rekeyed",
        "audit_chain",
        None,
        after={"events": found.checked, "unkeyed_events": found.unkeyed, "head_before": found.head},
        summary=(
            f"Audit chain re-hashed with AUDIT_KEY: {found.checked} events, "
            f"{found.unkeyed} of them unkeyed before"
        ),
    )
    return RekeyResult(True, found.checked, found.unkeyed, found.head)
