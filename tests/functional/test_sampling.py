"""Drawing samples (DESIGN §4): the published method, exclusions, replacements,
assignment, states and `flask samples verify`. The same tests run on SQLite and on
PostgreSQL, and compare with a re-derivation from the definitions (in
tests/builders/sampling.py)."""

from __future__ import annotations

import hashlib
import math
import random
from datetime import date

import pytest
import sqlalchemy as sa

from app.errors import Conflict, InvalidTransition, ValidationFailed
from app.extensions import db
from app.models import AuditEvent, Decision, Sample, SampleItem
from app.sampling import queries, services
from tests.builders.sampling import (
    MARCH,
    SEED,
    decision_ids,
    draw,
    drawn_by_stratum,
    expected_draw,
    inspect,
    items_of,
    key_of,
    make_population,
)
from tests.factories import UserFactory, VendorFactory
from tests.refs import ref


@pytest.fixture
def vendor():
    return VendorFactory(code="ACME")


@pytest.fixture
def lead():
    return UserFactory(role="qa_lead")


@pytest.fixture
def march(vendor):
    return make_population(vendor)


# The draw -----------------------------------------------------------------------------


def test_a_draw_is_exactly_the_published_method(vendor, lead, march):
    sample = draw(vendor, lead=lead, size=24)
    wanted, _ = expected_draw(march, SEED, 24)
    assert drawn_by_stratum(sample) == {k: v for k, v in wanted.items() if v}
    assert sample.population == len(march) == 240
    assert sample.method_version == "hmac-sha256-v1"
    assert sample.state == "open"
    for key, ids in wanted.items():
        stratum_ids = [r["external_id"] for r in march if key_of(r) == key]
        joined = "\n".join(sorted(stratum_ids)).encode()
        assert sample.population_digests[key] == hashlib.sha256(joined).hexdigest()
        assert sample.per_stratum[key] == {
            "population": len(stratum_ids),
            "allocated": len(ids),
            "drawn": len(ids),
        }
    ranks = [(i.stratum, i.rank) for i in items_of(sample)]
    assert ranks == sorted(ranks)  # draw order: strata by key, then rank


# The pinned result of this data and seed: the same on SQLite and PostgreSQL.
PINNED_ITEMS_DIGEST = "32fbd0af2805376afcda1c5e3a542f2657e583fa12f47e255338c1e9105e6e8b"


def test_draws_are_identical_on_every_database(vendor, march):
    sample = draw(vendor, size=40, seed="cross-database")
    drawn = [
        (i.stratum, i.rank, db.session.get(Decision, i.decision_id).external_id)
        for i in items_of(sample)
    ]
    wanted, _ = expected_draw(march, "cross-database", 40)
    assert [d[2] for d in drawn] == [eid for key in sorted(wanted) for eid in wanted[key]]
    assert services.items_digest(drawn) == PINNED_ITEMS_DIGEST


def test_size_from_a_margin_uses_the_finite_population_correction(vendor, march):
    sample = draw(vendor, margin=0.1, confidence=0.9)
    z = 1.6448536269514722
    n0 = z * z * 0.25 / 0.01
    assert len(items_of(sample)) == math.ceil(n0 / (1 + (n0 - 1) / 240))
    assert sample.margin == 0.1 and sample.confidence == 0.9 and sample.requested_size is None


def test_other_strata_and_no_strata(vendor, march):
    sample = draw(vendor, size=12, strata=["market"], seed="by market")
    wanted, _ = expected_draw(march, "by market", 12, strata=("market",))
    assert drawn_by_stratum(sample) == wanted
    whole = draw(vendor, size=5, strata=[], seed="whole")
    wanted, _ = expected_draw(march, "whole", 5, strata=())
    assert drawn_by_stratum(whole) == wanted
    assert list(whole.per_stratum) == [""]


def test_targeted_draws_weight_strata(vendor, march):
    sample = draw(
        vendor,
        size=20,
        purpose="targeted",
        seed="risky",
        risk_weights={"listing|reject": 5, "seller|approve": 0},
    )
    sizes = {}
    for row in march:
        sizes[key_of(row)] = sizes.get(key_of(row), 0) + 1
    from app.sampling.algorithm import allocate

    wanted = allocate(sizes, 20, {"listing|reject": 5, "seller|approve": 0})
    assert {k: v["allocated"] for k, v in sample.per_stratum.items()} == wanted
    assert sample.per_stratum["seller|approve"]["allocated"] == 0
    assert sample.per_stratum["listing|reject"]["allocated"] > 20 * sizes["listing|reject"] / 240


def test_the_server_generates_a_secret_seed_when_none_is_given(vendor, march):
    one = draw(vendor, seed=None, size=5)
    two = draw(vendor, seed=None, size=5)
    assert len(one.seed) == 32 and one.seed != two.seed
    int(one.seed, 16)


def test_a_size_larger_than_the_population_takes_everyone(vendor):
    rows = make_population(vendor, n=9, prefix="S")
    sample = draw(vendor, size=50)
    assert len(items_of(sample)) == len(rows) == 9
    assert sample.requested_size == 50


# Exclusions ---------------------------------------------------------------------------


def test_inspected_decisions_and_decisions_of_open_samples_are_never_drawn(vendor, march):
    inspector = UserFactory(role="qa_inspector")
    ids = {r["external_id"]: r for r in march}
    by_external = dict(
        db.session.execute(
            sa.select(Decision.external_id, Decision.id).where(Decision.vendor_id == vendor.id)
        ).all()
    )
    # Inspect the decisions the next draw would otherwise take first.
    _, order = expected_draw(march, SEED, 24)
    inspected = {order[key][0] for key in order}
    for external_id in inspected:
        inspect(by_external[external_id], vendor, inspector)
    first = draw(vendor, size=60)
    first_ids = decision_ids(first)
    assert not first_ids & {by_external[e] for e in inspected}
    assert first.exclusions["inspected"] == len(inspected)
    assert first.exclusions["in_open_samples"] == 0
    remaining = [r for e, r in ids.items() if e not in inspected]
    wanted, _ = expected_draw(remaining, SEED, 60)
    assert drawn_by_stratum(first) == {k: v for k, v in wanted.items() if v}

    second = draw(vendor, size=60, seed="second")
    assert not decision_ids(second) & first_ids
    assert second.exclusions == {
        "inspected": len(inspected),
        "in_open_samples": 60,
        "total": 60 + len(inspected),
        "digest": second.exclusions["digest"],
    }
    assert second.population == 240 - 60 - len(inspected)

    # A cancelled sample frees its decisions; a closed one's uninspected ones too.
    services.cancel_sample(first, "wrong period")
    db.session.commit()
    third = draw(vendor, size=60, seed="third")
    assert third.population == 240 - 60 - len(inspected)  # second is still open
    assert third.exclusions["in_open_samples"] == 60


def test_decisions_of_other_vendors_and_outside_the_period_are_not_drawn(vendor, march):
    other = VendorFactory()
    make_population(other, prefix="O")
    sample = draw(vendor, size=240)
    external_ids = set(
        db.session.scalars(
            sa.select(Decision.external_id).where(Decision.id.in_(decision_ids(sample)))
        )
    )
    assert external_ids == {r["external_id"] for r in march}


# Replacements -------------------------------------------------------------------------


def test_a_skipped_item_is_replaced_reproducibly(vendor, lead, march):
    inspector = UserFactory(role="qa_inspector")
    sample = draw(vendor, size=24, inspectors=[inspector], lead=lead)
    _, order = expected_draw(march, SEED, 24)
    item = next(i for i in items_of(sample) if sample.per_stratum[i.stratum]["allocated"] >= 2)
    stratum = item.stratum
    k = sample.per_stratum[stratum]["allocated"]

    replacement = services.skip_item(item, "  The listing page was deleted. ", actor=lead)
    db.session.commit()
    assert item.status == "skipped" and item.skip_reason == "The listing page was deleted."
    assert replacement.replacement_for_id == item.id
    assert replacement.stratum == stratum
    assert replacement.rank == k + 1
    assert replacement.decision.external_id == order[stratum][k]
    assert replacement.assignee_id == inspector.id
    assert sample.per_stratum[stratum]["drawn"] == k + 1

    # The next candidate is inspected meanwhile: the one after it is taken instead.
    by_external = dict(db.session.execute(sa.select(Decision.external_id, Decision.id)).all())
    inspect(by_external[order[stratum][k + 1]], vendor, inspector)
    second = services.skip_item(replacement, "duplicate", actor=lead)
    db.session.commit()
    assert second.decision.external_id == order[stratum][k + 2]
    assert second.rank == k + 3
    event = db.session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "sample.item_skipped")
        .order_by(AuditEvent.seq.desc())
    )
    assert event.after["replacement"]["external_id"] == order[stratum][k + 2]
    assert event.after["reason"] == "duplicate"


def test_a_used_up_stratum_gives_no_replacement(vendor, lead):
    make_population(vendor, n=6, prefix="T")
    sample = draw(vendor, size=6, strata=[])
    item = items_of(sample)[0]
    assert services.skip_item(item, "unreadable", actor=lead) is None
    assert item.status == "skipped"


def test_skipping_needs_a_reason_and_a_pending_item(vendor, lead, march):
    sample = draw(vendor, size=4)
    item = items_of(sample)[0]
    with pytest.raises(ValidationFailed) as err:
        services.skip_item(item, "   ", actor=lead)
    assert err.value.details[0]["field"] == "reason"
    item.status = "inspected"
    with pytest.raises(InvalidTransition):
        services.skip_item(item, "late", actor=lead)


# Assignment ---------------------------------------------------------------------------


def test_items_are_dealt_round_robin_in_draw_order(vendor, march):
    a, b, c = (UserFactory(role="qa_inspector") for _ in range(3))
    sample = draw(vendor, size=10, inspectors=[a, b, c])
    assert [i.assignee_id for i in items_of(sample)] == [a.id, b.id, c.id] * 3 + [a.id]

    lead = UserFactory(role="qa_lead")
    items = items_of(sample)
    items[0].status = "inspected"
    count = services.assign_round_robin(sample, [c, lead], actor=lead)
    db.session.commit()
    assert count == 9
    assert [i.assignee_id for i in items_of(sample)] == [a.id] + [c.id, lead.id] * 4 + [c.id]

    assert services.reassign_item(items[1], b, actor=lead) is True
    assert services.reassign_item(items[1], b, actor=lead) is False
    services.reassign_item(items[2], None, actor=lead)
    db.session.commit()
    assert items[1].assignee_id == b.id and items[2].assignee_id is None
    actions = db.session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.object_type == "sample", AuditEvent.object_id == str(sample.id))
        .order_by(AuditEvent.seq)
    ).all()
    assert actions == [
        "sample.drawn",
        "sample.assigned",
        "sample.item_reassigned",
        "sample.item_reassigned",
    ]


def test_only_active_qa_people_are_assigned(vendor, march):
    viewer = UserFactory(role="vendor_viewer", vendor=vendor)
    with pytest.raises(ValidationFailed) as err:
        draw(vendor, size=4, inspectors=[viewer])
    assert err.value.details[0]["field"] == "inspectors"
    gone = UserFactory(role="qa_inspector", active=False)
    sample = draw(vendor, size=4)
    with pytest.raises(ValidationFailed):
        services.reassign_item(items_of(sample)[0], gone)


# States -------------------------------------------------------------------------------


def test_a_sample_closes_only_when_every_item_is_inspected_or_skipped(vendor, lead, march):
    sample = draw(vendor, size=5)
    items = items_of(sample)
    with pytest.raises(Conflict, match="5 pending items"):
        services.close_sample(sample, actor=lead)
    for item in items[:4]:
        item.status = "inspected"
    replacement = services.skip_item(items[4], "spam", actor=lead)
    with pytest.raises(Conflict, match="1 pending item;"):
        services.close_sample(sample, actor=lead)
    replacement.status = "inspected"
    services.close_sample(sample, actor=lead)
    db.session.commit()
    assert sample.state == "closed" and sample.closed_at is not None
    with pytest.raises(InvalidTransition):
        services.cancel_sample(sample)
    with pytest.raises(InvalidTransition):
        services.assign_round_robin(sample, [lead])


def test_cancelling_frees_the_decisions(vendor, lead, march):
    sample = draw(vendor, size=240)
    with pytest.raises(ValidationFailed, match="no decisions to draw"):
        draw(vendor, size=5, seed="again")
    services.cancel_sample(sample, "drawn by mistake", actor=lead)
    db.session.commit()
    assert sample.state == "cancelled"
    again = draw(vendor, size=5, seed="again")
    assert again.population == 240
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sample.cancelled"))
    assert event.after == {"state": "cancelled", "reason": "drawn by mistake"}


# Validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size": None}, "size"),
        ({"size": 5, "margin": 0.05}, "size"),
        ({"size": 0}, "size"),
        ({"size": None, "margin": 0.9}, "margin"),
        ({"size": None, "margin": 0.05, "confidence": 1.5}, "confidence"),
        ({"strata": ["colour"]}, "strata"),
        ({"strata": ["market", "market"]}, "strata"),
        ({"purpose": "fun"}, "purpose"),
        ({"risk_weights": {"listing|reject": 2}}, "risk_weights"),
        ({"purpose": "targeted", "risk_weights": {"listing": 2}}, "risk_weights"),
        ({"purpose": "targeted", "risk_weights": {"listing|reject": -1}}, "risk_weights"),
        ({"seed": "x" * 129}, "seed"),
        ({"seed": "bad\x00seed"}, "seed"),
        ({"period_end": date(2026, 2, 1)}, "period_end"),
        ({"period_end": date(2099, 1, 1)}, "period_end"),
        ({"period_start": "first of March"}, "period_start"),
    ],
)
def test_bad_draws_name_the_field_and_store_nothing(vendor, march, changes, field):
    args = {"size": 10, **changes}
    with pytest.raises(ValidationFailed) as err:
        draw(vendor, commit=False, **args)
    assert field in [d["field"] for d in err.value.details]
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sample)) == 0


def test_an_empty_period_is_refused(vendor, march):
    with pytest.raises(ValidationFailed) as err:
        draw(vendor, period_start=date(2025, 1, 1), period_end=date(2025, 1, 31))
    assert err.value.details[0]["field"] == "period_start"


# Plans --------------------------------------------------------------------------------


def test_plans_are_created_updated_audited_and_drawn_from(vendor, lead, march):
    inspector = UserFactory(role="qa_inspector")
    plan = services.create_plan(
        name="ACME monthly",
        vendor=vendor,
        size=12,
        inspectors=[inspector],
        actor=lead,
    )
    db.session.commit()
    assert plan.strata == ["policy_area", "decision"] and plan.confidence == 0.95
    assert (
        services.update_plan(
            plan, name="ACME monthly", vendor=vendor, size=12, inspectors=[inspector], actor=lead
        )
        is False
    )
    assert (
        services.update_plan(
            plan, name="ACME monthly", vendor=vendor, margin=0.1, inspectors=[inspector], actor=lead
        )
        is True
    )
    db.session.commit()
    sample = services.draw_from_plan(
        plan, period_start=MARCH[0], period_end=MARCH[1], seed=SEED, actor=lead
    )
    db.session.commit()
    assert sample.plan_id == plan.id and sample.margin == 0.1
    assert {i.assignee_id for i in items_of(sample)} == {inspector.id}
    actions = db.session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.object_type == "sampling_plan")
        .order_by(AuditEvent.seq)
    ).all()
    assert actions == ["plan.created", "plan.updated"]
    plan.active = False
    with pytest.raises(Conflict):
        services.draw_from_plan(plan, period_start=MARCH[0], period_end=MARCH[1])


# Queue --------------------------------------------------------------------------------


def test_a_queue_holds_my_pending_items_of_open_samples_oldest_first(vendor, march):
    me, other = UserFactory(role="qa_inspector"), UserFactory(role="qa_inspector")
    first = draw(vendor, size=4, inspectors=[me, other])
    second = draw(vendor, size=4, inspectors=[me], seed="later")
    items = db.session.scalars(queries.queue_statement(me)).all()
    assert [i.sample_id for i in items] == [first.id, first.id] + [second.id] * 4
    items[0].status = "inspected"
    services.cancel_sample(second)
    assert len(db.session.scalars(queries.queue_statement(me)).all()) == 1


# Verification -------------------------------------------------------------------------


def verify(runner, sample):
    return runner.invoke(args=["samples", "verify", str(ref(sample))])


def test_verify_says_a_fresh_draw_matches(runner, vendor, lead, march):
    sample = draw(vendor, size=24, lead=lead)
    result = verify(runner, sample)
    assert result.exit_code == 0, result.output
    assert f"sample #{ref(sample)} matches its re-derivation" in result.output
    for name in ("seed", "population", "exclusions", "allocation", "items"):
        assert f"ok   {name}:" in result.output


def test_verify_survives_later_inspections_samples_skips_and_arrivals(runner, vendor, lead, march):
    inspector = UserFactory(role="qa_inspector")
    by_external = dict(db.session.execute(sa.select(Decision.external_id, Decision.id)).all())
    inspect(by_external[march[0]["external_id"]], vendor, inspector)
    sample = draw(vendor, size=24, lead=lead)
    # After the draw: another sample is drawn and inspected, an item is skipped and
    # replaced, a late decision arrives in the period, the sample is closed.
    later = draw(vendor, size=30, seed="later")
    for item in items_of(later):
        inspect(item.decision_id, vendor, inspector)
    services.skip_item(items_of(sample)[3], "no longer online", actor=lead)
    make_population(vendor, n=3, prefix="LATE")
    for item in items_of(sample):
        if item.status == "pending":
            item.status = "inspected"
    services.close_sample(sample, actor=lead)
    db.session.commit()
    result = verify(runner, sample)
    assert result.exit_code == 0, result.output
    assert "24 drawn items and 1 replacement match the re-derived draw" in result.output


def test_verify_detects_a_changed_item(runner, vendor, lead, march):
    sample = draw(vendor, size=24, lead=lead)
    item = items_of(sample)[0]
    outsider = db.session.scalar(
        sa.select(Decision.id)
        .where(Decision.vendor_id == vendor.id, Decision.id.notin_(decision_ids(sample)))
        .limit(1)
    )
    db.session.execute(
        sa.update(SampleItem).where(SampleItem.id == item.id).values(decision_id=outsider)
    )
    result = verify(runner, sample)
    assert result.exit_code == 1
    assert "FAIL items: 1 drawn items are not in the re-derived draw" in result.output
    assert "does not match its re-derivation" in result.output


def test_verify_detects_a_changed_seed(runner, vendor, lead, march):
    sample = draw(vendor, size=24, lead=lead)
    db.session.execute(sa.update(Sample).where(Sample.id == sample.id).values(seed="forged"))
    db.session.expire_all()
    result = verify(runner, sample)
    assert result.exit_code == 1
    assert "FAIL seed: the seed differs from the one recorded when it was drawn" in result.output
    assert "FAIL items" in result.output


def test_verify_explains_a_population_that_changed(runner, vendor, lead, march):
    sample = draw(vendor, size=24, lead=lead)
    victim = db.session.scalar(
        sa.select(Decision)
        .where(Decision.vendor_id == vendor.id, Decision.id.notin_(decision_ids(sample)))
        .order_by(Decision.id)
        .limit(1)
    )
    victim.market = "ZZ"
    victim.policy_area = "ipr" if victim.policy_area != "ipr" else "seller"
    db.session.commit()
    result = verify(runner, sample)
    assert result.exit_code == 1
    assert "FAIL population" in result.output
    assert "cannot be re-derived" in result.output


def test_verify_of_an_unknown_sample(runner):
    result = runner.invoke(args=["samples", "verify", "999999"])
    assert result.exit_code == 1
    assert "no sample #999999" in result.output


# Robustness of the database draw ------------------------------------------------------


def test_a_bound_that_keeps_too_few_candidates_falls_back_to_the_whole_stratum(
    monkeypatch, vendor, lead, march
):
    from app.sampling import algorithm, population

    tiny = b"\x00" * 7 + b"\x01"  # keeps (almost) nothing
    monkeypatch.setattr(population, "candidate_bound", lambda k, n: tiny)
    monkeypatch.setattr(algorithm, "candidate_bound", lambda k, n: tiny)
    sample = draw(vendor, size=24, lead=lead)
    wanted, order = expected_draw(march, SEED, 24)
    assert drawn_by_stratum(sample) == {k: v for k, v in wanted.items() if v}
    item = items_of(sample)[0]
    replacement = services.skip_item(item, "gone", actor=lead)
    k = sample.per_stratum[item.stratum]["allocated"]
    assert replacement.decision.external_id == order[item.stratum][k]


def test_decisions_changing_between_statements_make_the_draw_read_again(
    monkeypatch, vendor, lead, march
):
    from app.sampling import population

    if db.session.connection().dialect.name != "postgresql":
        pytest.skip("SQLite reads the population in one statement under its write lock")
    real = population.stratum_counts
    calls = []

    def first_count_is_stale(conn, scope):
        figures = real(conn, scope)
        calls.append(1)
        if len(calls) == 1:  # as if a decision arrived right after the count
            next(iter(figures.values())).population += 1
        return figures

    monkeypatch.setattr(population, "stratum_counts", first_count_is_stale)
    sample = draw(vendor, size=24, lead=lead)
    assert len(calls) == 2
    wanted, _ = expected_draw(march, SEED, 24)
    assert drawn_by_stratum(sample) == {k: v for k, v in wanted.items() if v}

    def always_stale(conn, scope):
        figures = real(conn, scope)
        next(iter(figures.values())).id_sum += 1
        return figures

    monkeypatch.setattr(population, "stratum_counts", always_stale)
    with pytest.raises(Conflict, match="kept changing while drawing"):
        draw(vendor, size=5, seed="again")


@pytest.mark.postgres_only
@pytest.mark.committing
def test_a_split_read_sees_exactly_what_a_single_read_sees(app, monkeypatch):
    """Large PostgreSQL draws read digests and candidates at once on two other
    connections sharing this transaction's snapshot: the same figures, candidates and
    exclusions as one statement on this connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: other connections sharing an exported snapshot")
    from app.models import Vendor
    from app.sampling import algorithm, population

    split_reads = []
    real_split = population.read_snapshot_split

    def counted(*args, **kwargs):
        split_reads.append(1)
        return real_split(*args, **kwargs)

    monkeypatch.setattr(population, "read_snapshot_split", counted)

    code = f"SPLIT{random.randrange(10**6):06d}"
    vendor = Vendor(code=code, name="Split Read Services")
    db.session.add(vendor)
    db.session.flush()
    rows = make_population(vendor, n=400, prefix="S")
    db.session.commit()
    try:
        scope = population.Scope(vendor.id, *MARCH, ("policy_area", "decision"))

        def allocate(sizes):
            return algorithm.allocate(sizes, 30, None)

        with db.engine.connect() as conn, conn.begin():
            single, single_allocation = population.read_population(
                conn, scope, SEED, allocate, 30, split_from=None
            )
            split, split_allocation = population.read_population(
                conn, scope, SEED, allocate, 30, split_from=0
            )
        assert split_reads == [1]
        assert split_allocation == single_allocation
        assert split.figures == single.figures
        assert len(split.figures) == len(single.figures) > 1
        assert all(f.digest for f in split.figures.values())
        for key, k in split_allocation.items():
            assert split.candidates[key][:k] == single.candidates[key][:k]
        assert split.excluded == single.excluded
        wanted, _ = expected_draw(rows, SEED, 30)
        for key, ids in wanted.items():
            assert [c[2] for c in split.candidates.get(key, [])[: len(ids)]] == ids

        # Decisions this transaction made are invisible to the other connections:
        # the figures disagree with this connection's counts, and it reads alone.
        with db.engine.connect() as conn, conn.begin():
            extra = {**rows[0], "external_id": f"S-{code}-uncommitted"}
            conn.execute(sa.insert(Decision), [extra])
            mine, _ = population.read_population(conn, scope, SEED, allocate, 30, split_from=0)
            assert sum(f.population for f in mine.figures.values()) == len(rows) + 1
            assert split_reads == [1, 1]  # tried once, then read alone
            conn.rollback()
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(sa.delete(Decision.__table__).where(Decision.vendor_id == vendor.id))
            conn.execute(sa.delete(Vendor.__table__).where(Vendor.id == vendor.id))
