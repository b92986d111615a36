"""Drawing a sample by the published method (DESIGN §4): the size preview, an ad-hoc
draw, a draw from a plan, and what the audit log keeps of a draw."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import current_app

from app.audit.services import record
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Sample, SampleItem, SamplingPlan, User, Vendor
from app.sampling import algorithm, population, queries
from app.sampling.services.checks import (
    MAX_STRATUM_KEY,
    check_dates,
    check_inspectors,
    check_parameters,
    check_period,
    check_seed,
    check_size,
    check_strata,
)
from app.security.predicates import can_inspect
from app.validation import problem, raise_problems


def utc_today() -> date:
    """Today in UTC, the calendar periods are counted in."""
    return datetime.now(UTC).date()


def new_seed() -> str:
    """A server seed: 128 random bits, so nobody can predict a future draw."""
    return secrets.token_hex(16)


# Size preview -------------------------------------------------------------------------


@dataclass
class Preview:
    """What a draw would take now: the population, n, and the margin n buys."""

    population: int
    size: int
    margin: float | None
    confidence: float
    strata: dict[str, int] = field(default_factory=dict)


def preview(
    *,
    vendor: Vendor,
    period_start,
    period_end,
    strata=None,
    size=None,
    margin=None,
    confidence=None,
) -> Preview:
    """What a draw would take: the population now, n, and the margin n buys."""
    problems: list[dict] = []
    start, end = check_dates(period_start, period_end, problems)
    strata = check_strata(strata, problems)
    size, margin, confidence = check_size(size, margin, confidence, problems)
    check_period(start, end, problems)
    raise_problems(problems)
    scope = population.Scope(vendor.id, start, end, tuple(strata))
    counts = population.stratum_counts(db.session.connection(), scope)
    total = sum(f.population for f in counts.values())
    n = min(size, total) if size is not None else algorithm.sample_size(total, margin, confidence)
    return Preview(
        population=total,
        size=n,
        margin=algorithm.margin_of_error(n, total, confidence),
        confidence=confidence,
        strata={key: f.population for key, f in sorted(counts.items())},
    )


# What a draw records ------------------------------------------------------------------


def sample_state(sample: Sample) -> dict:
    """What the audit log keeps of a sample (everything needed to re-derive it)."""
    return {
        "vendor": sample.vendor.code,
        "plan": sample.plan_id,
        "purpose": sample.purpose,
        "state": sample.state,
        "period_start": sample.period_start.isoformat(),
        "period_end": sample.period_end.isoformat(),
        "strata": list(sample.strata),
        "requested_size": sample.requested_size,
        "margin": sample.margin,
        "confidence": sample.confidence,
        "risk_weights": dict(sample.risk_weights or {}),
        "seed": sample.seed,
        "method_version": sample.method_version,
        "population": sample.population,
        "per_stratum": sample.per_stratum,
        "population_digests": sample.population_digests,
        "exclusions": sample.exclusions,
    }


def items_digest(items: Iterable[tuple[str, int, str]]) -> str:
    """SHA-256 of the drawn items as "stratum<TAB>rank<TAB>external_id" lines in draw
    order: recorded with the draw so later changes to the items show."""
    lines = "\n".join(f"{key}\t{rank}\t{eid}" for key, rank, eid in items)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def draw_scope(sample: Sample) -> population.Scope:
    """The draw's population as it stood when it was made."""
    return population.Scope(
        sample.vendor_id,
        sample.period_start,
        sample.period_end,
        tuple(sample.strata or ()),
        as_of=sample.created_at,
        sample_id=sample.id,
    )


def lock_vendor(vendor: Vendor) -> None:
    """Draws of one vendor run one at a time, so two cannot pick the same decisions
    (SQLite already holds its write lock)."""
    db.session.execute(sa.select(Vendor.id).where(Vendor.id == vendor.id).with_for_update())


# Drawing ------------------------------------------------------------------------------


def draw_sample(
    *,
    vendor: Vendor | None,
    period_start,
    period_end,
    strata=None,
    size=None,
    margin=None,
    confidence=None,
    purpose: str | None = "contract",
    seed: str | None = None,
    risk_weights: dict | None = None,
    inspectors: Sequence[User] | None = None,
    plan: SamplingPlan | None = None,
    actor: User | None = None,
) -> Sample:
    """Draw a sample by the method of DESIGN §4 and store it with its items."""
    problems: list[dict] = []
    if vendor is None:
        problems.append(problem("vendor", "Choose a vendor."))
    start, end = check_dates(period_start, period_end, problems)
    check_period(start, end, problems, before=utc_today())
    values = check_parameters(strata, size, margin, confidence, purpose, risk_weights, problems)
    given_seed = check_seed(seed, problems)
    inspectors = check_inspectors(inspectors, problems)
    raise_problems(problems)
    strata, size, margin = values["strata"], values["size"], values["margin"]
    confidence, purpose, weights = values["confidence"], values["purpose"], values["risk_weights"]
    seed = given_seed or new_seed()

    lock_vendor(vendor)
    drawn_at = datetime.now(UTC)
    scope = population.Scope(vendor.id, start, end, tuple(strata))
    capacity = size if size is not None else algorithm.largest_size(margin, confidence)

    def allocate_fn(sizes: dict[str, int]) -> dict[str, int]:
        total = sum(sizes.values())
        n = size if size is not None else algorithm.sample_size(total, margin, confidence)
        return algorithm.allocate(sizes, n, weights)

    try:
        snapshot, allocation = population.read_population(
            db.session.connection(),
            scope,
            seed,
            allocate_fn,
            capacity,
            split_from=current_app.config["SAMPLING_SPLIT_FROM"],
        )
    except population.PopulationChanged:
        raise Conflict(
            f"Decisions of {vendor.code} kept changing while drawing; try again."
        ) from None
    total = sum(f.population for f in snapshot.figures.values())
    if total == 0:
        raise ValidationFailed(
            f"{vendor.code} has no decisions to draw from {start} to {end} (none, or all "
            "inspected or in open samples).",
            [problem("period_start", "No decisions can be drawn in this period.")],
        )
    if sum(allocation.values()) == 0:
        raise ValidationFailed(
            "The risk weights leave nothing to draw.",
            [problem("risk_weights", "Give at least one stratum a weight above 0.")],
        )
    too_long = [key for key in snapshot.figures if len(key) > MAX_STRATUM_KEY]
    if too_long:
        raise ValidationFailed(
            "A stratum's values are too long to store; use fewer strata fields.",
            [problem("strata", "These strata make keys over 255 characters; use fewer fields.")],
        )

    sample = Sample(
        plan=plan,
        vendor=vendor,
        purpose=purpose,
        state="open",
        period_start=start,
        period_end=end,
        strata=list(strata),
        requested_size=size,
        margin=margin,
        confidence=confidence if margin is not None else None,
        risk_weights=weights,
        seed=seed,
        method_version=algorithm.METHOD_VERSION,
        population=total,
        population_digests={k: f.digest for k, f in sorted(snapshot.figures.items())},
        per_stratum={
            key: {
                "population": f.population,
                "allocated": allocation[key],
                "drawn": len(snapshot.candidates.get(key, [])[: allocation[key]]),
            }
            for key, f in sorted(snapshot.figures.items())
        },
        exclusions=population.exclusions_record(snapshot.excluded),
        created_by_id=actor.id if actor else None,
        created_at=drawn_at,
    )
    db.session.add(sample)
    db.session.flush()

    rows, drawn = [], []
    for key in sorted(allocation):
        k = allocation[key]
        for rank, (_h, decision_id, external_id) in enumerate(
            snapshot.candidates.get(key, [])[:k], start=1
        ):
            assignee = inspectors[len(rows) % len(inspectors)] if inspectors else None
            rows.append(
                {
                    "sample_id": sample.id,
                    "decision_id": decision_id,
                    "stratum": key,
                    "rank": rank,
                    "status": "pending",
                    "assignee_id": assignee.id if assignee else None,
                    "assigned_at": drawn_at if assignee else None,
                    "created_at": drawn_at,
                }
            )
            drawn.append((key, rank, external_id))
    db.session.execute(sa.insert(SampleItem), rows)

    after = {**sample_state(sample), "size": len(rows), "items_digest": items_digest(drawn)}
    if inspectors:
        after["inspectors"] = [u.email for u in inspectors]
    record(
        db.session,
        "sample.drawn",
        "sample",
        sample.id,
        after=after,
        summary=(
            f"Drew {len(rows)} of {total} decisions of {vendor.code} "
            f"({start.isoformat()} to {end.isoformat()}, {purpose})"
        ),
        actor=actor,
    )
    return sample


def draw_from_plan(
    plan: SamplingPlan,
    *,
    period_start,
    period_end,
    seed: str | None = None,
    actor: User | None = None,
) -> Sample:
    """Draw with a plan's configuration for one period (its inspectors who may still
    be assigned items get them)."""
    if not plan.active:
        raise Conflict(f"The plan {plan.name!r} is inactive; activate it to draw from it.")
    inspectors = [
        u for u in queries.users_by_ids(plan.inspector_ids or []) if u.active and can_inspect(u)
    ]
    return draw_sample(
        vendor=plan.vendor,
        period_start=period_start,
        period_end=period_end,
        strata=list(plan.strata or []),
        size=plan.size,
        margin=plan.margin if plan.size is None else None,
        confidence=plan.confidence,
        purpose=plan.purpose,
        seed=seed,
        risk_weights=dict(plan.risk_weights or {}),
        inspectors=inspectors,
        plan=plan,
        actor=actor,
    )
