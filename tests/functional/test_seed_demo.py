"""seed-demo fills months of decisions and drawn, assigned contract samples."""

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Decision,
    Inspection,
    InspectionVersion,
    Sample,
    SampleItem,
    SamplingPlan,
    Vendor,
)
from tests.builders.demo import seed_demo
from tests.builders.world import module_world


@module_world
def seeded():
    """`flask seed-demo` run once for the module: its exit code and output, and the data
    set it made (each test reads it inside a rolled-back SAVEPOINT)."""
    return seed_demo()


def test_seed_demo_creates_decisions_and_verifiable_samples(app, runner, seeded):
    result = seeded
    assert result.exit_code == 0, result.output
    vendors = db.session.scalar(sa.select(sa.func.count()).select_from(Vendor))
    per_month = app.config["DEMO_DECISIONS_PER_MONTH"]
    decisions = db.session.scalar(sa.select(sa.func.count()).select_from(Decision))
    assert decisions == vendors * 6 * per_month
    months = db.session.scalars(sa.select(Decision.decided_at)).all()
    assert len({(m.year, m.month) for m in months}) == 6
    with_url = db.session.scalar(
        sa.select(sa.func.count()).select_from(Decision).where(Decision.item_url.like("https://%"))
    )
    assert with_url == decisions
    samples = db.session.scalars(sa.select(Sample).where(Sample.purpose == "contract")).all()
    assert len(samples) == vendors * 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SamplingPlan)) == vendors
    unassigned = db.session.scalar(
        sa.select(sa.func.count()).select_from(SampleItem).where(SampleItem.assignee_id.is_(None))
    )
    assert unassigned == 0
    skipped = db.session.scalar(
        sa.select(sa.func.count()).select_from(SampleItem).where(SampleItem.status == "skipped")
    )
    assert skipped == vendors
    for sample in samples[:3]:
        verified = runner.invoke(args=["samples", "verify", str(sample.id)])
        assert verified.exit_code == 0, verified.output
        assert "matches its re-derivation" in verified.output
    again = runner.invoke(args=["seed-demo"])
    assert "decisions created: 0" in again.output
    assert "samples drawn: 0" in again.output
    assert "inspections made: 0" in again.output


def test_seed_demo_inspections_show_each_vendors_pattern(app, seeded):
    from app.dashboards.queries import vendor_metrics
    from app.seed.demo import sampled_months

    result = seeded
    assert result.exit_code == 0, result.output
    months = sampled_months()

    def accuracy(code: str, month) -> float:
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
        return vendor_metrics(vendor, month)["overall_accuracy"]["value"]

    assert accuracy("ACME", months[0]) < accuracy("ACME", months[-1])  # improving
    assert accuracy("NORTHSTAR", months[0]) > accuracy("NORTHSTAR", months[-1])  # slipping
    # Older samples are done and closed; the latest one still has drafts and pending items.
    states = dict(
        db.session.execute(
            sa.select(Sample.period_start, sa.func.count())
            .where(Sample.purpose == "contract", Sample.state == "closed")
            .group_by(Sample.period_start)
        ).all()
    )
    assert set(states) == set(months[:-1])
    drafts = db.session.scalar(
        sa.select(sa.func.count()).select_from(Inspection).where(Inspection.status == "draft")
    )
    assert drafts > 0
    pending = db.session.scalar(
        sa.select(sa.func.count()).select_from(SampleItem).where(SampleItem.status == "pending")
    )
    assert pending > 0
    corrected = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(InspectionVersion)
        .where(InspectionVersion.source == "correction")
    )
    assert corrected == 1
    targeted = db.session.scalars(sa.select(Sample).where(Sample.purpose == "targeted")).all()
    assert len(targeted) == 1
    assert all(
        i.purpose == "targeted"
        for i in db.session.scalars(
            sa.select(Inspection)
            .join(SampleItem, SampleItem.id == Inspection.sample_item_id)
            .where(SampleItem.sample_id == targeted[0].id)
        )
    )
