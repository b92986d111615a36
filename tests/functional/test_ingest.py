"""The one ingestion path for decisions (app/decisions/intake/): every validation rule
stores nothing and names the row, the field and the problem; re-sending changes nothing;
allowed changes are audited; sampled or inspected decisions keep what QA judged."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.decisions.intake import ImportRejected, import_decisions, iter_csv
from app.extensions import db
from app.models import AuditEvent, AuditRowChange, Decision, DecisionLabel
from tests.builders.sampling import sample_holding
from tests.factories import (
    DecisionFactory,
    InspectionFactory,
    LabelFactory,
    UserFactory,
    VendorFactory,
)

pytestmark = pytest.mark.promise("bad-input")

HEADER = (
    "external_id,vendor,moderator_id,site,market,policy_area,item_id,item_url,context,"
    "decision,labels,decided_at"
)


@pytest.fixture
def world():
    """A vendor and labels: two listing labels, a seller label, a retired listing label
    (committed, so that a rejected import's rollback keeps them)."""
    objects = {
        "vendor": VendorFactory(code="ACME"),
        "other": VendorFactory(code="BRAVO"),
        "listing": LabelFactory(code="LST-FAKE", policy_area="listing"),
        "listing2": LabelFactory(code="LST-PRICE", policy_area="listing"),
        "seller": LabelFactory(code="SEL-DOC", policy_area="seller"),
        "retired": LabelFactory(
            code="LST-OLD",
            policy_area="listing",
            active=False,
            retired_at=datetime(2026, 2, 1, tzinfo=UTC),
        ),
    }
    db.session.commit()
    return objects


def row(n: int = 1, **changes) -> dict:
    base = {
        "external_id": f"E-{n}",
        "vendor": "ACME",
        "moderator_id": "MOD-7",
        "site": "Manila",
        "market": "PH",
        "policy_area": "listing",
        "item_id": f"ITEM-{n}",
        "item_url": f"https://market.example.com/items/{n}",
        "context": {"title": "A lamp", "price": 12.5},
        "decision": "reject",
        "labels": ["LST-FAKE"],
        "decided_at": "2026-03-01T09:30:00+08:00",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def run(rows, **kwargs):
    kwargs.setdefault("source", "test")
    return import_decisions(rows, **kwargs)


def rejected(rows, **kwargs) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        run(rows, **kwargs)
    db.session.rollback()
    return caught.value


def decision(external_id: str) -> Decision | None:
    return db.session.scalar(sa.select(Decision).where(Decision.external_id == external_id))


def count(model=Decision) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def import_events() -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "decisions.imported")
    ).all()


# Creating ---------------------------------------------------------------------------------


def test_valid_rows_are_stored_in_utc_with_labels_in_order(world):
    result = run(
        [
            row(1, labels=["LST-PRICE", "LST-FAKE"]),
            row(2, decision="approve", labels=[], context=None, item_url=None),
        ]
    )
    assert result.counts() == {"created": 2, "updated": 0, "unchanged": 0}
    assert result.rows == 2
    db.session.commit()
    first = decision("E-1")
    assert first.vendor.code == "ACME"
    assert first.label_codes == ["LST-PRICE", "LST-FAKE"]  # the primary first
    assert first.decided_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert first.context == {"title": "A lamp", "price": 12.5}
    assert first.item_url == "https://market.example.com/items/1"
    second = decision("E-2")
    assert second.label_codes == []
    assert second.context is None
    assert second.item_url is None


def test_an_import_is_one_audit_event_counting_created_rows(world):
    actor = UserFactory(role="qa_lead")
    run([row(1), row(2)], actor=actor, source="api")
    db.session.commit()
    (event,) = import_events()
    assert event.object_type == "import"
    assert event.actor == actor.email
    assert event.after == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rows": 2,
        "source": "api",
        # The created rows' external ids, sorted, one per line: SHA-256.
        "created_digest": hashlib.sha256(b"E-1\nE-2").hexdigest(),
    }
    assert "2 created" in event.summary
    assert event.row_count == 0  # created rows are counted and digested, not listed


def test_csv_rows_with_string_values_are_normalised_like_json_rows(world):
    text = (
        f"{HEADER}\n"
        "E-1,ACME,MOD-7,Manila,PH,listing,ITEM-1,https://market.example.com/items/1,"
        '"{""title"": ""A lamp"", ""price"": 12.5}",reject,LST-PRICE|LST-FAKE,'
        "2026-03-01T09:30:00+08:00\n"
        "E-2,ACME,MOD-7,Manila,PH,listing,ITEM-2,,,approve,,2026-03-01T01:30:00Z\n"
    )
    result = run(iter_csv(io.StringIO(text)), locate="line")
    assert result.created == 2
    db.session.commit()
    assert decision("E-1").label_codes == ["LST-PRICE", "LST-FAKE"]
    assert decision("E-1").context == {"title": "A lamp", "price": 12.5}
    assert decision("E-2").decided_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    # The same rows sent as JSON are identical.
    again = run(
        [
            row(1, labels=["LST-PRICE", "LST-FAKE"]),
            row(
                2,
                decision="approve",
                labels=[],
                context=None,
                item_url=None,
                decided_at="2026-03-01T01:30:00+00:00",
            ),
        ]
    )
    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 2}


def test_a_dry_run_counts_and_stores_nothing(world):
    run([row(1)])
    result = run([row(1), row(2), row(3, site="Cebu")], dry_run=True)
    assert result.counts() == {"created": 2, "updated": 0, "unchanged": 1}
    assert result.dry_run
    assert count() == 1


# Validation rules -------------------------------------------------------------------------

LONG = "x" * 3000


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"external_id": ...}, "external_id", "Required"),
        ({"vendor": ...}, "vendor", "Required"),
        ({"moderator_id": ""}, "moderator_id", "Required"),
        ({"site": None}, "site", "Required"),
        ({"market": "  "}, "market", "Required"),
        ({"policy_area": ...}, "policy_area", "Required"),
        ({"item_id": ...}, "item_id", "Required"),
        ({"decision": ...}, "decision", "Required"),
        ({"decided_at": ...}, "decided_at", "Required"),
        ({"vendor": "NOPE"}, "vendor", "Unknown vendor 'NOPE'"),
        ({"decision": "escalate"}, "decision", "approve or reject"),
        ({"decision": "approve"}, "labels", "An approve takes no labels"),
        ({"labels": []}, "labels", "A reject needs at least one label"),
        ({"labels": ...}, "labels", "A reject needs at least one label"),
        ({"labels": ["LST-NOPE"]}, "labels", "Unknown label 'LST-NOPE'"),
        ({"labels": ["SEL-DOC"]}, "labels", "belongs to policy area seller, not listing"),
        ({"labels": ["LST-OLD"]}, "labels", "was retired"),
        ({"labels": ["LST-FAKE", "LST-FAKE"]}, "labels", "appears twice"),
        ({"labels": "LST-FAKE||LST-PRICE"}, "labels", "empty label code"),
        ({"labels": {"code": "LST-FAKE"}}, "labels", "list of label codes"),
        ({"decided_at": "yesterday"}, "decided_at", "ISO 8601"),
        ({"decided_at": "2026-03-01T09:30:00"}, "decided_at", "UTC offset"),
        ({"decided_at": "2026-03-01"}, "decided_at", "UTC offset"),
        ({"decided_at": 1772328600}, "decided_at", "ISO 8601"),
        ({"policy_area": "spam"}, "policy_area", "seller, listing, content, ipr"),
        ({"external_id": "x" * 129}, "external_id", "at most 128"),
        ({"moderator_id": "x" * 65}, "moderator_id", "at most 64"),
        ({"site": "x" * 65}, "site", "at most 64"),
        ({"market": "x" * 33}, "market", "at most 32"),
        ({"item_id": "x" * 129}, "item_id", "at most 128"),
        ({"item_url": "https://e.com/" + "x" * 2040}, "item_url", "at most 2048"),
        ({"item_url": "javascript:alert(1)"}, "item_url", "http:// or https://"),
        ({"item_url": "ftp://files.example.com/a"}, "item_url", "http:// or https://"),
        ({"item_url": "https:///path"}, "item_url", "host name"),
        ({"item_url": "https://e.com/a b"}, "item_url", "spaces"),
        ({"context": [1, 2]}, "context", "JSON object"),
        ({"context": "not json"}, "context", "not valid JSON"),
        ({"context": "[1]"}, "context", "JSON object"),
        ({"context": {"text": LONG * 3}}, "context", "at most 8 KB"),
        ({"context": {"bad": "\x00"}}, "context", "NUL"),
        ({"context": {"bad": "\ud800"}}, "context", "surrogate"),
        ({"context": '{"n": NaN}'}, "context", "not valid JSON"),
        ({"moderator_id": "MOD\x007"}, "moderator_id", "control"),
        ({"site": 42}, "site", "text"),
        ({"surprise": 1}, "surprise", "Unknown field"),
    ],
)
def test_each_rule_rejects_the_row_and_stores_nothing(world, changes, field, message):
    err = rejected([row(1), row(2, **changes)])
    assert err.total_errors == len(err.errors) >= 1
    first = err.errors[0]
    assert first["index"] == 1
    assert first["field"] == field
    assert message in first["message"]
    assert count() == 0
    assert import_events() == []


def test_a_row_that_is_not_an_object_is_reported(world):
    err = rejected([row(1), "E-2", 7])
    assert [(e["index"], e["field"]) for e in err.errors] == [(1, None), (2, None)]
    assert count() == 0


def test_every_bad_field_of_every_row_is_reported_in_order(world):
    err = rejected(
        [
            row(1, vendor="NOPE", decided_at="soon"),
            row(2),
            row(3, decision="approve", market=""),
        ]
    )
    assert [(e["index"], e["field"]) for e in err.errors] == [
        (0, "vendor"),
        (0, "decided_at"),
        (2, "market"),
        (2, "labels"),
    ]
    assert err.total_errors == 4
    assert "4 problems" in err.message


def test_an_external_id_twice_in_a_batch_names_the_first(world):
    err = rejected([row(1), row(2), row(1, site="Cebu"), row(1)])
    assert [(e["index"], e["field"]) for e in err.errors] == [
        (2, "external_id"),
        (3, "external_id"),
    ]
    assert "first at index 0" in err.errors[0]["message"]
    assert count() == 0


def test_errors_are_capped_with_the_total(world):
    rows = [row(n, vendor="NOPE") for n in range(150)]
    err = rejected(rows)
    assert len(err.errors) == 100
    assert err.total_errors == 150
    assert [e["index"] for e in err.errors] == list(range(100))
    assert "the first 100 are listed" in err.message
    small = rejected(rows, error_cap=5)
    assert len(small.errors) == 5 and small.total_errors == 150


def test_a_retired_label_is_fine_for_decisions_made_before_it_was_retired(world):
    result = run([row(1, labels=["LST-OLD"], decided_at="2026-01-31T23:59:59Z")])
    assert result.created == 1
    err = rejected([row(2, labels=["LST-OLD"], decided_at="2026-02-01T00:00:00Z")])
    assert err.errors[0]["field"] == "labels"
    # The same instant in another zone is still on or after the retirement.
    err = rejected([row(3, labels=["LST-OLD"], decided_at="2026-02-01T08:00:00+08:00")])
    assert "retired" in err.errors[0]["message"]


def test_codes_are_matched_case_insensitively_and_values_trimmed(world):
    result = run([row(1, vendor=" acme ", labels=[" lst-fake "], site=" Manila ")])
    assert result.created == 1
    db.session.commit()
    stored = decision("E-1")
    assert (stored.vendor.code, stored.label_codes, stored.site) == ("ACME", ["LST-FAKE"], "Manila")


# Re-sending and updating ---------------------------------------------------------------------


def test_resending_identical_rows_changes_nothing_and_writes_no_event(world):
    run([row(1), row(2, decision="approve", labels=[])])
    db.session.commit()
    before = decision("E-1").updated_at
    result = run([row(1), row(2, decision="approve", labels=[])])
    db.session.commit()
    assert result.counts() == {"created": 0, "updated": 0, "unchanged": 2}
    assert len(import_events()) == 1
    db.session.expire_all()
    assert decision("E-1").updated_at == before


def test_rows_written_by_the_application_compare_as_unchanged(world):
    DecisionFactory(
        external_id="E-1",
        vendor=world["vendor"],
        moderator_id="MOD-7",
        site="Manila",
        market="PH",
        item_id="ITEM-1",
        item_url="https://market.example.com/items/1",
        context={"price": 12.5, "title": "A lamp"},
        decision="reject",
        decided_at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC),
        labels=[world["listing"]],
    )
    DecisionFactory(
        external_id="E-2",
        vendor=world["vendor"],
        moderator_id="MOD-7",
        site="Manila",
        market="PH",
        item_id="ITEM-2",
        decision="approve",
        decided_at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC),
    )
    result = run([row(1), row(2, decision="approve", labels=[], item_url=None, context=None)])
    assert result.counts() == {"created": 0, "updated": 0, "unchanged": 2}


def test_an_allowed_change_is_an_update_audited_with_before_and_after(world):
    actor = UserFactory(role="integration")
    run([row(1), row(2), row(3)])
    db.session.commit()
    result = run(
        [
            row(1, site="Cebu"),
            row(2, labels=["LST-PRICE", "LST-FAKE"]),
            row(3),
            row(4),
        ],
        actor=actor,
        source="api",
    )
    db.session.commit()
    assert result.counts() == {"created": 1, "updated": 2, "unchanged": 1}
    db.session.expire_all()
    assert decision("E-1").site == "Cebu"
    assert decision("E-2").label_codes == ["LST-PRICE", "LST-FAKE"]
    event = import_events()[-1]
    assert event.actor == actor.email
    assert event.after["updated"] == 2
    changes = db.session.scalars(
        sa.select(AuditRowChange)
        .where(AuditRowChange.event_id == event.id)
        .order_by(AuditRowChange.position)
    ).all()
    assert [c.object_id for c in changes] == [str(decision("E-1").id), str(decision("E-2").id)]
    assert (changes[0].before["site"], changes[0].after["site"]) == ("Manila", "Cebu")
    assert changes[1].before["labels"] == ["LST-FAKE"]
    assert changes[1].after["labels"] == ["LST-PRICE", "LST-FAKE"]
    assert changes[1].after["decided_at"] == "2026-03-01T01:30:00+00:00"
    from app.audit.services import verify_chain

    assert verify_chain(db.session).ok


@pytest.mark.parametrize(
    "changes",
    [
        {"labels": ["LST-PRICE"]},
        {"labels": ["LST-FAKE", "LST-PRICE"]},
        {"decision": "approve", "labels": []},
        {"vendor": "BRAVO"},
        {"decided_at": "2026-03-01T09:30:01+08:00"},
        {"moderator_id": "MOD-8"},
        {"market": "US"},
        {"item_id": "ITEM-X"},
        {"item_url": None},
        {"item_url": "http://market.example.com/items/1"},
        {"context": None},
        {"context": {"title": "A lamp", "price": 13}},
        {"policy_area": "seller", "labels": ["SEL-DOC"]},
    ],
)
def test_any_field_of_an_unsampled_decision_may_change(world, changes):
    run([row(1)])
    result = run([row(1, **changes)])
    assert result.counts() == {"created": 0, "updated": 1, "unchanged": 0}
    assert run([row(1, **changes)]).unchanged == 1


def test_context_with_the_same_content_in_other_spacing_is_unchanged(world):
    run(
        iter_csv(io.StringIO(f"{HEADER}\n" + _csv_line(context='{"a": 1, "b": [1, 2]}'))),
        locate="line",
    )
    again = run(
        iter_csv(io.StringIO(f"{HEADER}\n" + _csv_line(context='{ "a":1,"b":[1,2] }'))),
        locate="line",
    )
    assert again.unchanged == 1


def _csv_line(context: str) -> str:
    quoted = '"' + context.replace('"', '""') + '"'
    return (
        f"E-1,ACME,MOD-7,Manila,PH,listing,ITEM-1,,{quoted},reject,LST-FAKE,2026-03-01T01:30:00Z\n"
    )


# Sampled and inspected decisions ------------------------------------------------------------


def _inspect(decision_row: Decision) -> None:
    InspectionFactory(decision=decision_row, inspector=UserFactory(role="qa_inspector"))


@pytest.mark.parametrize("judged", [sample_holding, _inspect])
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"decision": "approve", "labels": []}, "decision"),
        ({"labels": ["LST-PRICE"]}, "labels"),
        ({"vendor": "BRAVO"}, "vendor"),
        ({"decided_at": "2026-03-02T09:30:00+08:00"}, "decided_at"),
    ],
)
def test_what_qa_judged_cannot_change_once_sampled_or_inspected(world, judged, changes, field):
    run([row(1)])
    judged(decision("E-1"))
    db.session.commit()
    err = rejected([row(2), row(1, **changes)])
    (error,) = err.errors
    assert (error["index"], error["field"]) == (1, field)
    state = "in a sample" if judged is sample_holding else "inspected"
    assert state in error["message"]
    assert count() == 1
    assert decision("E-1").label_codes == ["LST-FAKE"]


def test_other_fields_of_a_sampled_decision_may_change(world):
    run([row(1)])
    sample_holding(decision("E-1"))
    result = run([row(1, moderator_id="MOD-9", site="Cebu", market="US", item_id="I-9")])
    assert result.updated == 1
    assert run([row(1)]).updated == 1  # and back


def test_identical_rows_for_an_inspected_decision_are_unchanged(world):
    run([row(1)])
    _inspect(decision("E-1"))
    assert run([row(1)]).unchanged == 1


# CSV reading ----------------------------------------------------------------------------------


def test_csv_header_problems_are_line_one_errors():
    with pytest.raises(ImportRejected) as caught:
        iter_csv(io.StringIO("external_id,vendor,colour\n"))
    messages = [e["message"] for e in caught.value.errors]
    assert all(e["line"] == 1 for e in caught.value.errors)
    assert "Unknown column 'colour'." in messages
    assert any(m.startswith("Missing column(s): moderator_id, site") for m in messages)
    with pytest.raises(ImportRejected) as caught:
        iter_csv(io.StringIO(""))
    assert caught.value.errors[0]["line"] == 1


def test_csv_rows_are_located_by_their_starting_line(world):
    text = (
        f"\ufeff{HEADER}\n"
        + _csv_line('{"note":\n "two lines"}')
        + "\n"
        + "E-2,ACME,MOD-7\n"
        + "E-3,NOPE,MOD-7,Manila,PH,listing,ITEM-3,,,approve,,2026-03-01T01:30:00Z\n"
    )
    err = rejected(iter_csv(io.StringIO(text)), locate="line")
    assert [(e["line"], e["field"]) for e in err.errors] == [(5, None), (6, "vendor")]
    assert "Expected 12 values" in err.errors[0]["message"]


def test_csv_may_leave_out_the_optional_columns(world):
    text = (
        "external_id,vendor,moderator_id,site,market,policy_area,item_id,decision,decided_at\n"
        "E-1,ACME,MOD-7,Manila,PH,listing,ITEM-1,approve,2026-03-01T01:30:00Z\n"
    )
    assert run(iter_csv(io.StringIO(text)), locate="line").created == 1


def test_labels_of_other_decisions_are_untouched(world):
    run([row(1), row(2, labels=["LST-PRICE"])])
    run([row(1, labels=["LST-PRICE", "LST-FAKE"])])
    db.session.commit()
    assert decision("E-2").label_codes == ["LST-PRICE"]
    assert count(DecisionLabel) == 3


# Big imports go through in chunks -------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 2 rows, so that a handful of rows crosses several chunk boundaries."""
    from app.decisions.intake import importer

    monkeypatch.setattr(importer, "_CHUNK_ROWS", 2)


def test_chunks_create_update_and_keep_rows_like_one_batch(world, small_chunks):
    run([row(1), row(2), row(3, decision="approve", labels=[])])
    db.session.commit()
    result = run(
        [
            row(4, labels=["LST-PRICE", "LST-FAKE"]),
            row(1),
            row(2, site="Cebu"),
            row(5, decision="approve", labels=[]),
            row(3, decision="reject", labels=["LST-PRICE"]),
            row(6),
            row(7),
        ]
    )
    assert result.counts() == {"created": 4, "updated": 2, "unchanged": 1}
    db.session.commit()
    stored = {d.external_id: d for d in db.session.scalars(sa.select(Decision))}
    assert set(stored) == {f"E-{n}" for n in range(1, 8)}
    assert stored["E-4"].label_codes == ["LST-PRICE", "LST-FAKE"]
    assert stored["E-3"].label_codes == ["LST-PRICE"]
    assert stored["E-5"].label_codes == []
    assert stored["E-2"].site == "Cebu"
    assert count(DecisionLabel) == 1 + 1 + 2 + 1 + 1 + 1  # E-1, E-2, E-4 (2), E-3, E-6, E-7


def test_a_bad_row_after_stored_chunks_leaves_nothing_even_before_rollback(world, small_chunks):
    with pytest.raises(ImportRejected) as caught:
        run([row(n) for n in range(1, 8)] + [row(8, vendor="NOPE"), row(9)])
    assert [(e["index"], e["field"]) for e in caught.value.errors] == [(7, "vendor")]
    assert count() == 0  # the import undid its own writes
    assert count(DecisionLabel) == 0


@pytest.mark.parametrize(
    "ids",
    [[1, 2, 3, 1], [1, 1, 2], [1, 2, 2, 3], [1, 2, 3, 4, 5, 3]],
)
def test_repeats_within_and_across_chunks_are_reported(world, small_chunks, ids):
    err = rejected([row(n) for n in ids])
    first = ids.index(next(n for n in ids if ids.count(n) > 1))
    repeat = len(ids) - 1 - ids[::-1].index(ids[first])
    assert [(e["index"], e["field"]) for e in err.errors] == [(repeat, "external_id")]
    assert f"first at index {first}" in err.errors[0]["message"]
    assert count() == 0


def test_a_dry_run_in_chunks_counts_and_stores_nothing(world, small_chunks):
    run([row(1)])
    result = run([row(n) for n in range(1, 6)], dry_run=True)
    assert result.counts() == {"created": 4, "updated": 0, "unchanged": 1}
    assert count() == 1


def test_sampled_decisions_are_protected_across_chunks(world, small_chunks):
    run([row(n) for n in range(1, 6)])
    sample_holding(decision("E-4"))
    db.session.commit()
    err = rejected([row(n) for n in range(1, 4)] + [row(4, labels=["LST-PRICE"]), row(6)])
    assert [(e["index"], e["field"]) for e in err.errors] == [(3, "labels")]
    assert count() == 5


def test_a_collision_with_another_import_is_a_conflict_and_stores_nothing(
    world, small_chunks, monkeypatch
):
    from app.decisions.intake.staging import Staging
    from app.errors import Conflict

    real = Staging.create_decisions
    calls = []

    def collide(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second chunk meets a row another import just stored
            raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Staging, "create_decisions", collide)
    with pytest.raises(Conflict):
        run([row(n) for n in range(1, 8)])
    assert count() == 0


def test_a_failing_row_source_stops_the_import_and_stores_nothing(world, small_chunks):
    def rows():
        for n in range(1, 6):
            yield row(n)
        raise OSError("the upload went away")

    with pytest.raises(OSError, match="went away"):
        run(rows())
    assert count() == 0
