"""Decision populations and draws for the sampling tests, and the draw by the
definitions of DESIGN §4 (nothing but hmac and sorted()) to compare a draw with."""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import sqlalchemy as sa

from app.extensions import db
from app.models import Decision, Sample, SampleItem
from app.sampling import services
from tests.factories import InspectionFactory

AREAS = ("listing", "seller", "content", "ipr")
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
SEED = "published seed 2026-03"


def make_population(vendor, n: int = 240, prefix: str = "P", start=None) -> list[dict]:
    """`n` decisions of `vendor` spread over March 2026 (deterministic), plus one just
    before and one just after the month, which no March draw may take."""
    rng = random.Random(f"{prefix}{n}")
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append(
            {
                "external_id": f"{prefix}-{vendor.code}-{i:05d}",
                "vendor_id": vendor.id,
                "moderator_id": f"MOD-{i % 7}",
                "site": ("Manila", "Cebu")[i % 2],
                "market": ("US", "PH", "GB")[i % 3],
                "policy_area": AREAS[rng.randrange(4)],
                "item_id": f"IT-{prefix}-{i}",
                "decision": "reject" if rng.random() < 0.3 else "approve",
                "decided_at": start + timedelta(minutes=(31 * 24 * 60 - 1) * i // n),
            }
        )
    outside = [
        datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 4, 1, 0, 0, tzinfo=UTC),
    ]
    for j, moment in enumerate(outside):
        rows.append(
            {**rows[0], "external_id": f"{prefix}-{vendor.code}-out{j}", "decided_at": moment}
        )
    db.session.execute(sa.insert(Decision), rows)
    return [r for r in rows if r["decided_at"].month == 3]


def key_of(row, strata=("policy_area", "decision")) -> str:
    return "|".join(row[name] for name in strata)


def expected_draw(rows: list[dict], seed: str, n: int, strata=("policy_area", "decision")):
    """The draw by the definitions of DESIGN §4, with nothing but hmac and sorted()."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(key_of(row, strata), []).append(row["external_id"])
    total = sum(len(ids) for ids in groups.values())
    quotas = {key: Fraction(n * len(ids), total) for key, ids in groups.items()}
    shares = {key: math.floor(q) for key, q in quotas.items()}
    left = n - sum(shares.values())
    for key in sorted(groups, key=lambda k: (-(quotas[k] - shares[k]), k))[:left]:
        shares[key] += 1

    def order(external_id):
        return hmac.new(seed.encode(), external_id.encode(), hashlib.sha256).hexdigest()

    return {key: sorted(ids, key=order)[: shares[key]] for key, ids in groups.items()}, {
        key: sorted(ids, key=order) for key, ids in groups.items()
    }


def drawn_by_stratum(sample: Sample, originals_only: bool = True) -> dict[str, list[str]]:
    rows = db.session.execute(
        sa.select(SampleItem.stratum, Decision.external_id)
        .join(Decision, Decision.id == SampleItem.decision_id)
        .where(SampleItem.sample_id == sample.id)
        .where(SampleItem.replacement_for_id.is_(None) if originals_only else sa.true())
        .order_by(SampleItem.stratum, SampleItem.rank)
    )
    found: dict[str, list[str]] = {}
    for stratum, external_id in rows:
        found.setdefault(stratum, []).append(external_id)
    return found


def items_of(sample: Sample) -> list[SampleItem]:
    """The sample's items as stored now (requests change them in their own session)."""
    return list(
        db.session.scalars(
            sa.select(SampleItem)
            .where(SampleItem.sample_id == sample.id)
            .order_by(SampleItem.id)
            .execution_options(populate_existing=True)
        )
    )


def decision_ids(sample: Sample) -> set[int]:
    return {item.decision_id for item in items_of(sample)}


def inspect(decision_id: int, vendor, inspector) -> None:
    """A draft inspection of the decision (which a draw must then leave out)."""
    InspectionFactory(
        decision=db.session.get(Decision, decision_id),
        vendor_id=vendor.id,
        inspector=inspector,
        month=MARCH[0],
    )


def draw(vendor, *, lead=None, commit=True, **kwargs) -> Sample:
    kwargs.setdefault("period_start", MARCH[0])
    kwargs.setdefault("period_end", MARCH[1])
    kwargs.setdefault("seed", SEED)
    if "margin" not in kwargs:
        kwargs.setdefault("size", 24)
    sample = services.draw_sample(vendor=vendor, actor=lead, **kwargs)
    if commit:
        db.session.commit()
    return sample


def sample_holding(decision: Decision) -> Sample:
    """A contract sample of March 2026 whose one item is `decision`: a sampled decision,
    whose decision, labels, vendor and time an import may no longer change."""
    from tests.factories import SampleFactory, SampleItemFactory

    sample = SampleFactory(
        vendor=decision.vendor,
        purpose="contract",
        period_start=MARCH[0],
        period_end=MARCH[1],
        strata=["policy_area", "decision"],
        seed="s",
        method_version="1",
        population=1,
    )
    SampleItemFactory(sample=sample, decision=decision, stratum="listing|reject", rank=0)
    return sample
