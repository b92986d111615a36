"""Sampling plans: a saved draw configuration (vendor, strata, size or margin, purpose,
risk weights, inspectors) that QA leads draw from period after period."""

from __future__ import annotations

from collections.abc import Sequence

from app.audit.services import record
from app.extensions import db
from app.models import SamplingPlan, User, Vendor
from app.sampling.services.checks import check_inspectors, check_parameters
from app.validation import problem, raise_problems

MAX_NAME_LENGTH = 120


def plan_state(plan: SamplingPlan) -> dict:
    """What the audit log keeps of a plan."""
    return {
        "name": plan.name,
        "vendor": plan.vendor.code if plan.vendor else None,
        "purpose": plan.purpose,
        "strata": list(plan.strata or []),
        "size": plan.size,
        "margin": plan.margin,
        "confidence": plan.confidence,
        "risk_weights": dict(plan.risk_weights or {}),
        "inspector_ids": list(plan.inspector_ids or []),
        "active": plan.active,
    }


def check_plan(
    *,
    name: str,
    vendor: Vendor | None,
    purpose: str = "contract",
    strata=None,
    size=None,
    margin=None,
    confidence=None,
    risk_weights=None,
    inspectors: Sequence[User] = (),
) -> dict:
    """A plan's parameters as the columns of a SamplingPlan; raises ValidationFailed
    naming every field with a problem."""
    problems: list[dict] = []
    name = " ".join((name or "").split())
    if not name:
        problems.append(problem("name", "Give the plan a name."))
    elif len(name) > MAX_NAME_LENGTH:
        problems.append(problem("name", "Keep the name to 120 characters or fewer."))
    if vendor is None:
        problems.append(problem("vendor", "Choose a vendor."))
    values = check_parameters(strata, size, margin, confidence, purpose, risk_weights, problems)
    inspectors = check_inspectors(inspectors, problems)
    raise_problems(problems)
    return {
        "name": name,
        "vendor": vendor,
        **values,
        "inspector_ids": [u.id for u in inspectors],
    }


def create_plan(*, actor: User | None = None, **parameters) -> SamplingPlan:
    """A new, active plan from `parameters` (those of `check_plan`)."""
    plan = SamplingPlan(
        **check_plan(**parameters), active=True, created_by_id=actor.id if actor else None
    )
    db.session.add(plan)
    db.session.flush()
    record(
        db.session,
        "plan.created",
        "sampling_plan",
        plan.id,
        after=plan_state(plan),
        summary=f"Created sampling plan {plan.name!r} for {plan.vendor.code}",
        actor=actor,
    )
    return plan


def update_plan(
    plan: SamplingPlan, *, active: bool = True, actor: User | None = None, **parameters
) -> bool:
    """Change a plan to `parameters` (those of `check_plan`) and `active`; samples drawn
    from it keep their own copy. Returns whether anything changed."""
    values = check_plan(**parameters)
    before = plan_state(plan)
    for key, value in values.items():
        setattr(plan, key, value)
    plan.active = bool(active)
    after = plan_state(plan)
    if after == before:
        return False
    db.session.flush()
    record(
        db.session,
        "plan.updated",
        "sampling_plan",
        plan.id,
        before=before,
        after=after,
        summary=f"Updated sampling plan {plan.name!r}",
        actor=actor,
    )
    return True
