"""The hash-chained audit log: written with the change, gone with a rollback, verified by
`flask audit verify`, which names the first event that was tampered with."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.services import record, verify_chain
from app.extensions import db
from app.labels.services import create_label, update_label
from app.models import AuditChainHead, AuditEvent, AuditRowChange, Label
from tests.builders.audit_chain import append_events as _append
from tests.builders.audit_chain import chain_head as _head

EVENTS = AuditEvent.__table__
ROWS = AuditRowChange.__table__
HEAD = AuditChainHead.__table__


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def _verify(runner):
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


# --- transactions -------------------------------------------------------------------


def test_event_is_written_when_the_change_commits():
    events_before = _count()
    label = create_label(code="TX-COMMIT", name="Committed", policy_area="seller")
    assert _count() == events_before  # queued, not yet written
    db.session.commit()
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "label.created"))
    assert event is not None
    assert event.object_id == str(label.id)
    assert event.after["code"] == "TX-COMMIT"
    assert _head() == (event.seq, event.hash)


def test_event_vanishes_with_a_rollback():
    events_before, head_before = _count(), _head()
    create_label(code="TX-ROLLBACK", name="Rolled back", policy_area="seller")
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(sa.select(Label).where(Label.code == "TX-ROLLBACK")) is None
    # The queued event went with the change: a later commit does not write it.
    db.session.commit()
    assert _count() == events_before
    assert _head() == head_before


def test_event_is_not_written_when_the_change_fails_at_commit():
    create_label(code="TX-TAKEN", name="Taken", policy_area="seller")
    db.session.commit()
    events_before, head_before = _count(), _head()
    # A change that only fails when flushed at commit, with its event queued beside it.
    db.session.add(Label(code="TX-TAKEN", name="Duplicate", policy_area="seller"))
    record(db.session, "label.created", "label", None, summary="should never be written")
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert _count() == events_before
    assert _head() == head_before
    assert (
        db.session.scalar(sa.select(AuditEvent).where(AuditEvent.summary.contains("never"))) is None
    )


def test_several_events_of_one_transaction_are_chained_in_order():
    a = create_label(code="TX-ONE", name="One", policy_area="ipr")
    update_label(a, name="One renamed", typical_severity="minor")
    db.session.commit()
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.object_id == str(a.id), AuditEvent.object_type == "label")
        .order_by(AuditEvent.seq)
    ).all()
    assert [e.action for e in events] == ["label.created", "label.updated"]
    assert events[1].seq == events[0].seq + 1
    assert events[1].prev_hash == events[0].hash


# --- verification -------------------------------------------------------------------


def test_chain_verifies_after_many_changes(runner):
    labels = [
        create_label(code=f"MANY-{i:03d}", name=f"Many {i}", policy_area="content")
        for i in range(40)
    ]
    db.session.commit()
    for i, label in enumerate(labels):
        update_label(label, name=f"Many {i} (renamed)", typical_severity="critical")
        if i % 7 == 0:
            db.session.commit()
    record(
        db.session,
        "label.imported",
        "label",
        None,
        summary="bulk import",
        rows=[
            {"object_type": "label", "object_id": label.id, "before": None, "after": {"n": i}}
            for i, label in enumerate(labels)
        ],
    )
    db.session.commit()
    result = verify_chain(db.session)
    assert result.ok, result.problem
    assert result.checked == _head()[0] >= 81
    code, output = _verify(runner)
    assert code == 0, output
    assert "audit chain intact" in output


def test_verify_on_an_empty_chain_is_ok(runner):
    if _count():
        pytest.skip("the database already holds committed audit events")
    code, output = _verify(runner)
    assert code == 0 and "0 events" in output


@pytest.mark.promise("audit")
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("summary", "nothing to see here"),
        ("actor", "someone.else@example.test"),
        ("after", {"code": "FORGED", "name": "Forged"}),
        ("object_id", "424242"),
        ("occurred_at", None),
    ],
)
def test_verify_names_an_edited_event(runner, column, value, tried):
    seqs = _append(5)
    target = seqs[2]
    if column == "occurred_at":
        stmt = sa.text(
            "UPDATE audit_events SET occurred_at = occurred_at - INTERVAL '1 hour' WHERE seq = :s"
            if db.engine.dialect.name == "postgresql"
            else "UPDATE audit_events SET occurred_at = datetime(occurred_at, '-1 hour') "
            "WHERE seq = :s"
        )
        db.session.execute(stmt, {"s": target})
    elif column == "after":
        db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == target).values(after=value))
    else:
        db.session.execute(
            sa.text(f"UPDATE audit_events SET {column} = :v WHERE seq = :s"),  # noqa: S608
            {"v": value, "s": target},
        )
    tried()
    code, output = _verify(runner)
    assert code != 0
    assert f"audit chain broken at event #{target}:" in output
    assert f"event #{target} was altered" in output


@pytest.mark.promise("audit")
def test_verify_names_a_deleted_middle_event(runner, tried):
    seqs = _append(5)
    target = seqs[2]
    db.session.execute(sa.delete(EVENTS).where(EVENTS.c.seq == target))
    tried()
    code, output = _verify(runner)
    assert code != 0
    assert f"broken at event #{target}:" in output
    assert "missing" in output


@pytest.mark.promise("audit")
def test_verify_names_a_deleted_last_event(runner, tried):
    seqs = _append(3)
    db.session.execute(sa.delete(EVENTS).where(EVENTS.c.seq == seqs[-1]))
    tried()
    code, output = _verify(runner)
    assert code != 0
    assert f"broken at event #{seqs[-1]}:" in output


@pytest.mark.promise("audit")
def test_verify_names_swapped_events(runner, tried):
    seqs = _append(5)
    a, b = seqs[1], seqs[3]
    # seq is unique, so swap through a free value.
    db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == a).values(seq=-1))
    db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == b).values(seq=a))
    db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == -1).values(seq=b))
    tried()
    code, output = _verify(runner)
    assert code != 0
    assert f"broken at event #{a}:" in output


@pytest.mark.promise("audit")
def test_verify_names_an_event_whose_row_changes_were_edited(runner, tried):
    _append(2)
    record(
        db.session,
        "label.imported",
        "label",
        None,
        summary="bulk import of three labels",
        rows=[
            {"object_type": "label", "object_id": n, "before": None, "after": {"name": f"L{n}"}}
            for n in range(3)
        ],
    )
    db.session.commit()
    bulk_seq = _head()[0]
    _append(2, prefix="AFTER")
    assert _verify(runner)[0] == 0
    event_id = db.session.scalar(sa.select(EVENTS.c.id).where(EVENTS.c.seq == bulk_seq))
    db.session.execute(
        sa.update(ROWS)
        .where(ROWS.c.event_id == event_id, ROWS.c.position == 1)
        .values(after={"name": "tampered"})
    )
    tried()
    code, output = _verify(runner)
    assert code != 0
    assert f"broken at event #{bulk_seq}:" in output
    assert "row changes" in output


@pytest.mark.promise("audit")
def test_verify_names_an_event_whose_row_change_was_deleted(runner, tried):
    record(
        db.session,
        "label.imported",
        "label",
        None,
        rows=[{"object_type": "label", "object_id": n, "after": {"n": n}} for n in range(2)],
    )
    db.session.commit()
    bulk_seq = _head()[0]
    event_id = db.session.scalar(sa.select(EVENTS.c.id).where(EVENTS.c.seq == bulk_seq))
    db.session.execute(sa.delete(ROWS).where(ROWS.c.event_id == event_id, ROWS.c.position == 0))
    tried()
    code, output = _verify(runner)
    assert code != 0
    assert f"broken at event #{bulk_seq}:" in output


# --- concurrency (PostgreSQL) -------------------------------------------------------

THREADS = 8
PER_THREAD = 12


@pytest.mark.committing
def test_parallel_writers_never_fork_the_chain(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: real concurrent connections and row locks")
    engine = sa.create_engine(
        app.config["SQLALCHEMY_DATABASE_URI"], pool_size=THREADS, max_overflow=0
    )
    with engine.connect() as conn:
        start_seq, start_hash = conn.execute(
            sa.select(HEAD.c.seq, HEAD.c.last_hash).where(HEAD.c.id == 1)
        ).one()
    barrier = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        barrier.wait()  # start together so appends really contend for the chain head
        for i in range(PER_THREAD):
            # Events are keyed with the app's AUDIT_KEY, as in a worker's app context.
            with app.app_context(), Session(engine) as session:
                record(
                    session,
                    "test.parallel",
                    "test",
                    f"{n}-{i}",
                    after={"thread": n, "i": i},
                    summary=f"parallel append {n}-{i}",
                )
                session.commit()

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for future in [pool.submit(writer, n) for n in range(THREADS)]:
                future.result()
        with Session(engine) as session:
            events = session.execute(
                sa.select(EVENTS.c.seq, EVENTS.c.prev_hash, EVENTS.c.hash, EVENTS.c.object_id)
                .where(EVENTS.c.seq > start_seq)
                .order_by(EVENTS.c.seq)
            ).all()
            total = THREADS * PER_THREAD
            assert [e.seq for e in events] == list(range(start_seq + 1, start_seq + total + 1))
            assert len({e.object_id for e in events}) == total  # nothing lost or doubled
            previous = start_hash
            for e in events:
                assert e.prev_hash == previous
                previous = e.hash
            result = verify_chain(session)
            assert result.ok, result.problem
            assert result.checked == start_seq + total
    finally:
        # Leave the database exactly as it was found.
        with engine.begin() as conn:
            conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq > start_seq))
            conn.execute(
                sa.update(HEAD).where(HEAD.c.id == 1).values(seq=start_seq, last_hash=start_hash)
            )
        engine.dispose()
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(HEAD.c.seq, HEAD.c.last_hash)).one() == (
            start_seq,
            start_hash,
        )
