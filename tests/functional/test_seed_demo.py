"""seed-demo fills months of decisions and drawn, assigned contract samples."""

import sqlalchemy as sa

from app.extensions import db
from app.models import Decision, Sample, SampleItem, SamplingPlan, Vendor


def test_seed_demo_creates_decisions_and_verifiable_samples(app, runner):
    result = runner.invoke(args=["seed-demo"])
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
    samples = db.session.scalars(sa.select(Sample)).all()
    assert len(samples) == vendors * 3
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
