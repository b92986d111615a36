"""The audit chain is keyed (HMAC-SHA256 with AUDIT_KEY, which the database never holds):
whoever can write the database but lacks the key cannot rewrite an event and recompute
the chain; whoever has the key too is caught by a head published earlier
(`flask audit head`, then `flask audit verify --anchor SEQ:HASH`). Chains written before
the key are converted once by `flask audit rekey`. Imports record the rows they create
(a count and a digest of their external ids)."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
import sqlalchemy as sa

from app.audit.services import canonical_json, hashed_fields
from app.decisions.intake import import_decisions
from app.extensions import db
from app.models import AuditChainHead, AuditEvent
from app.models.audit import GENESIS_HASH
from tests.builders.audit_chain import append_events as _append
from tests.builders.audit_chain import chain_head as _head
from tests.factories import LabelFactory, VendorFactory

EVENTS = AuditEvent.__table__
HEAD = AuditChainHead.__table__
ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _plain(fields: dict) -> str:
    """The unkeyed hash anyone can compute: SHA-256 of the canonical JSON."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def _keyed(key: str):
    def digest(fields: dict) -> str:
        message = canonical_json(fields).encode("utf-8")
        return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()

    return digest


def _rewrite(from_seq: int, hasher, *, edit: dict | None = None) -> None:
    """What someone with write access to the database does: edit event `from_seq`, then
    recompute its hash and every later one with `hasher`, relink, and move the head."""
    if edit:
        db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == from_seq).values(**edit))
    db.session.expire_all()
    prev = db.session.scalar(sa.select(EVENTS.c.hash).where(EVENTS.c.seq == from_seq - 1))
    prev = prev or GENESIS_HASH
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq >= from_seq).order_by(AuditEvent.seq)
    ).all()
    last_seq = from_seq - 1
    for ev in events:
        ev.prev_hash = prev
        ev.hash = hasher(hashed_fields(ev))
        db.session.flush()
        prev, last_seq = ev.hash, ev.seq
    db.session.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=last_seq, last_hash=prev))
    db.session.commit()


def _cli(runner, *args):
    result = runner.invoke(args=["audit", *args])
    return result.exit_code, result.output


# --- without the key, a rewrite is caught ---------------------------------------------


@pytest.mark.promise("audit")
@pytest.mark.parametrize("guess", ["sha256", "hmac-empty-key", "hmac-secret-key"])
def test_a_rewrite_recomputed_without_the_key_fails_verification(app, runner, tried, guess):
    seqs = _append(5)
    assert _cli(runner, "verify")[0] == 0
    hasher = {
        "sha256": _plain,
        "hmac-empty-key": _keyed(""),
        "hmac-secret-key": _keyed(app.config["SECRET_KEY"]),
    }[guess]
    target = seqs[1]
    _rewrite(target, hasher, edit={"summary": "nothing happened here"})
    tried()
    code, output = _cli(runner, "verify")
    assert code == 1, output
    assert f"audit chain broken at event #{target}:" in output


@pytest.mark.promise("audit")
def test_verification_with_another_audit_key_fails(app, runner, monkeypatch, tried):
    _append(3)
    assert _cli(runner, "verify")[0] == 0
    monkeypatch.setitem(app.config, "AUDIT_KEY", "another-key-Zq4mW8rT2vX6bN1pL5hJ9cF3")
    tried()
    code, output = _cli(runner, "verify")
    assert code == 1, output
    assert "AUDIT_KEY" in output


def test_the_web_check_shows_the_head_to_keep_elsewhere(client, login_as):
    _append(2)
    login_as("admin")
    response = client.post("/audit/verify", follow_redirects=True)
    seq, last_hash = _head()
    assert f"Its head is {seq}:{last_hash}" in response.get_data(as_text=True)


def test_the_web_check_uses_the_key_too(app, client, login_as, monkeypatch):
    _append(2)
    login_as("admin")
    monkeypatch.setitem(app.config, "AUDIT_KEY", "another-key-Zq4mW8rT2vX6bN1pL5hJ9cF3")
    response = client.post("/audit/verify", follow_redirects=True)
    assert response.status_code == 200
    assert b"The audit chain is broken at event #1" in response.data


# --- audit head and the anchor ---------------------------------------------------------


def test_audit_head_prints_the_chain_head_to_keep_elsewhere(runner):
    _append(3)
    result = runner.invoke(args=["audit", "head"])
    assert result.exit_code == 0, result.output
    match = ANCHOR.match(result.stdout.strip())
    assert match, result.stdout
    assert (int(match[1]), match[2]) == _head()
    # What it is and how to use it goes to standard error, so stdout is the anchor alone.
    assert f"flask audit verify --anchor {match[0]}" in result.stderr
    assert "occurred at" in result.stderr


def test_audit_head_refuses_a_head_that_does_not_verify(runner):
    seqs = _append(2)
    _rewrite(seqs[-1], _plain, edit={"summary": "forged"})
    result = runner.invoke(args=["audit", "head"])
    assert result.exit_code == 1
    assert ANCHOR.match(result.stdout.strip() or "-") is None
    assert f"event #{seqs[-1]}" in result.stderr


@pytest.mark.promise("audit")
def test_an_anchor_still_in_the_chain_verifies_as_it_grows(runner, tried):
    _append(3)
    anchor = runner.invoke(args=["audit", "head"]).stdout.strip()
    _append(2, prefix="LATER")
    for given in (anchor, anchor.split(":")[1]):  # SEQ:HASH, or the hash alone
        tried()
        code, output = _cli(runner, "verify", "--anchor", given)
        assert code == 0, output
        assert f"anchor event #{anchor.split(':')[0]} matches" in output


@pytest.mark.promise("audit")
@pytest.mark.parametrize("form", ["seq:hash", "hash"])
def test_an_anchor_catches_a_chain_rebuilt_with_the_key(app, runner, tried, form):
    seqs = _append(5)
    anchor = runner.invoke(args=["audit", "head"]).stdout.strip()
    # Someone holding both the database and the key edits an early event and rebuilds
    # the whole chain: it verifies on its own ...
    _rewrite(seqs[1], _keyed(app.config["AUDIT_KEY"]), edit={"actor": "nobody@example.test"})
    assert _cli(runner, "verify")[0] == 0
    # ... but no longer holds the head published before.
    tried()
    given = anchor if form == "seq:hash" else anchor.split(":")[1]
    code, output = _cli(runner, "verify", "--anchor", given)
    assert code == 1, output
    assert "anchor" in output
    assert "rewritten" in output


@pytest.mark.promise("audit")
def test_an_anchor_catches_a_truncated_chain(app, runner, tried):
    seqs = _append(4)
    anchor = runner.invoke(args=["audit", "head"]).stdout.strip()
    # The last two events go, and the head is moved back to match.
    db.session.execute(sa.delete(EVENTS).where(EVENTS.c.seq >= seqs[2]))
    last = db.session.scalar(sa.select(EVENTS.c.hash).where(EVENTS.c.seq == seqs[1]))
    db.session.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=seqs[1], last_hash=last))
    assert _cli(runner, "verify")[0] == 0
    tried()
    code, output = _cli(runner, "verify", "--anchor", anchor)
    assert code == 1, output
    assert f"ends at event #{seqs[1]}" in output
    assert "truncated" in output


@pytest.mark.promise("audit")
def test_an_anchor_does_not_excuse_a_broken_chain_after_it(runner, tried):
    _append(2)
    anchor = runner.invoke(args=["audit", "head"]).stdout.strip()
    later = _append(2, prefix="AFTER")
    db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == later[0]).values(summary="x"))
    tried()
    code, output = _cli(runner, "verify", "--anchor", anchor)
    assert code == 1
    assert f"broken at event #{later[0]}" in output


@pytest.mark.parametrize("given", ["12", "abc:" + "0" * 64, "3:XYZ", "0" * 63, "-1:" + "a" * 64])
def test_a_malformed_anchor_is_a_usage_error(runner, given):
    code, output = _cli(runner, "verify", "--anchor", given)
    assert code == 2
    assert "--anchor" in output
    assert "SEQ:HASH" in output


# --- existing chains written before the key ---------------------------------------------


def _unkey() -> None:
    """Make the chain look as a database written before the key does: plain SHA-256."""
    _rewrite(1, _plain)


def test_a_chain_from_before_the_key_asks_for_a_rekey_and_rekey_converts_it(runner):
    _append(3)
    _unkey()
    legacy_head = _head()
    code, output = _cli(runner, "verify")
    assert code == 1
    assert "event #1" in output
    assert "flask audit rekey" in output

    result = runner.invoke(args=["audit", "rekey"])
    assert result.exit_code == 0, result.output
    assert f"{legacy_head[0]} events re-hashed with AUDIT_KEY" in result.output
    code, output = _cli(runner, "verify")
    assert code == 0, output
    # The rekey itself is the chain's next event, and keeps the unkeyed head it replaced.
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.seq == legacy_head[0] + 1))
    assert event.action == "audit.rekeyed"
    assert event.after["head_before"] == f"{legacy_head[0]}:{legacy_head[1]}"
    assert event.after["unkeyed_events"] == legacy_head[0]


def test_rekey_also_takes_events_written_since_the_upgrade(runner):
    _append(2)
    _unkey()
    _append(2, prefix="NEW")  # written with the key, on top of the unkeyed events
    assert _cli(runner, "verify")[0] == 1
    result = runner.invoke(args=["audit", "rekey"])
    assert result.exit_code == 0, result.output
    assert _cli(runner, "verify")[0] == 0


def test_rekey_refuses_a_chain_that_does_not_verify(runner):
    seqs = _append(3)
    _unkey()
    db.session.execute(sa.update(EVENTS).where(EVENTS.c.seq == seqs[1]).values(summary="x"))
    db.session.commit()
    head = _head()
    result = runner.invoke(args=["audit", "rekey"])
    assert result.exit_code == 1
    assert f"event #{seqs[1]}" in result.output
    assert "nothing was changed" in result.output
    assert _head() == head


def test_rekey_on_a_keyed_chain_changes_nothing(runner):
    _append(2)
    head = _head()
    result = runner.invoke(args=["audit", "rekey"])
    assert result.exit_code == 0, result.output
    assert "already keyed" in result.output
    assert _head() == head


@pytest.mark.promise("audit")
def test_unkeyed_events_after_keyed_ones_fail_and_cannot_be_rekeyed(runner, tried):
    seqs = _append(4)
    # Someone without the key rewrites the tail as a chain from before the key would be.
    _rewrite(seqs[2], _plain, edit={"summary": "edited"})
    tried()
    code, output = _cli(runner, "verify")
    assert code == 1
    assert f"event #{seqs[2]}" in output
    result = runner.invoke(args=["audit", "rekey"])
    assert result.exit_code == 1
    assert f"event #{seqs[2]}" in result.output


# --- imports record the rows they create ------------------------------------------------


def _decision(external_id: str, **changes) -> dict:
    body = {
        "external_id": external_id,
        "vendor": "ACME",
        "moderator_id": "MOD-7",
        "site": "Manila",
        "market": "PH",
        "policy_area": "listing",
        "item_id": f"ITEM-{external_id}",
        "decision": "reject",
        "labels": ["LST-FAKE"],
        "decided_at": "2026-03-01T09:30:00+00:00",
    }
    body.update(changes)
    return body


def _ids_digest(external_ids) -> str:
    """Independently: SHA-256 of the ids sorted by code point, one per line, as UTF-8."""
    ordered = sorted(external_ids, key=lambda text: [ord(c) for c in text])
    return hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()


def _import_event() -> AuditEvent:
    return db.session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "decisions.imported")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )


@pytest.mark.promise("audit")
def test_an_import_records_the_count_and_digest_of_the_rows_it_created(runner, tried):
    VendorFactory(code="ACME")
    LabelFactory(code="LST-FAKE", policy_area="listing")
    db.session.commit()
    # Ids whose byte order, case order and locale order disagree.
    first_ids = ["b-2", "B-10", "a-1", "Z-9", "é-3", "e-4", "ß-5", "ÿ-6", "中-7", "_-8"]
    import_decisions([_decision(e) for e in first_ids], source="api")
    db.session.commit()
    tried(len(first_ids))
    event = _import_event()
    assert event.after["created"] == len(first_ids)
    assert event.after["created_digest"] == _ids_digest(first_ids)

    # A second import: two updated, three created; only the created ones are digested.
    new_ids = ["c-11", "A-12", "á-13"]
    rows = [_decision(e) for e in new_ids] + [
        _decision("a-1", site="Cebu"),
        _decision("b-2", site="Cebu"),
        _decision("Z-9"),
    ]
    import_decisions(rows, source="api")
    db.session.commit()
    tried(len(rows))
    event = _import_event()
    assert (event.after["created"], event.after["updated"], event.after["unchanged"]) == (3, 2, 1)
    assert event.after["created_digest"] == _ids_digest(new_ids)
    assert event.row_count == 2  # the updated rows, with before and after
    # The digest is part of what the chain covers.
    db.session.execute(
        sa.update(EVENTS)
        .where(EVENTS.c.seq == event.seq)
        .values(after={**event.after, "created_digest": _ids_digest(new_ids[:2])})
    )
    code, output = _cli(runner, "verify")
    assert code == 1
    assert f"event #{event.seq} was altered" in output


def test_the_command_line_import_records_its_created_rows(runner, tmp_path):
    VendorFactory(code="ACME")
    LabelFactory(code="LST-FAKE", policy_area="listing")
    db.session.commit()
    header = "external_id,vendor,moderator_id,site,market,policy_area,item_id,decision,labels"
    lines = [header + ",decided_at"] + [
        f"CLI-{n},ACME,MOD-1,Manila,PH,listing,I-{n},approve,,2026-03-0{n}T00:00:00Z"
        for n in range(1, 5)
    ]
    path = tmp_path / "decisions.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["decisions", "import", str(path)])
    assert result.exit_code == 0, result.output
    event = _import_event()
    assert event.after["created"] == 4
    assert event.after["created_digest"] == _ids_digest([f"CLI-{n}" for n in range(1, 5)])
