"""Work on an open sample: dealing its items to inspectors, moving one, skipping one
with its reproducible replacement, and closing or cancelling the sample."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from app.audit.services import record
from app.errors import Conflict, InvalidTransition
from app.extensions import db
from app.models import Sample, SampleItem, User
from app.sampling import algorithm, population, queries
from app.sampling.services.checks import MAX_REASON_LENGTH, check_inspectors, check_reason
from app.sampling.services.draws import draw_scope, lock_vendor
from app.security.public_ids import public_id
from app.validation import problem, raise_problems


def require_open(sample: Sample) -> None:
    """Only an open sample changes."""
    if sample.state != "open":
        raise InvalidTransition(
            f"Sample #{public_id(sample.id)} is {sample.state}; only open samples change."
        )


def require_movable(item: SampleItem) -> None:
    """Only a pending item of an open sample goes to another inspector."""
    require_open(item.sample)
    if item.status != "pending":
        raise InvalidTransition(
            f"Item #{public_id(item.id)} is {item.status}; only pending items move."
        )


def require_skippable(item: SampleItem) -> None:
    """Only a pending item of an open sample is skipped."""
    require_open(item.sample)
    if item.status != "pending":
        raise InvalidTransition(
            f"Item #{public_id(item.id)} is {item.status}; only pending items are skipped."
        )


# Assignment ---------------------------------------------------------------------------


def assign_round_robin(
    sample: Sample,
    inspectors: Sequence[User],
    *,
    only_unassigned: bool = False,
    actor: User | None = None,
) -> int:
    """Deal the pending items (in draw order) to `inspectors` in turn; returns how
    many items were assigned."""
    require_open(sample)
    problems: list[dict] = []
    inspectors = check_inspectors(inspectors, problems)
    if not problems and not inspectors:
        problems.append(problem("inspectors", "Choose at least one inspector."))
    raise_problems(problems)
    items = [
        i for i in queries.pending_items(sample) if not only_unassigned or i.assignee_id is None
    ]
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    for position, item in enumerate(items):
        user = inspectors[position % len(inspectors)]
        item.assignee_id = user.id
        item.assigned_at = now
        counts[user.email] = counts.get(user.email, 0) + 1
    db.session.flush()
    record(
        db.session,
        "sample.assigned",
        "sample",
        sample.id,
        after={"assigned": counts, "only_unassigned": only_unassigned},
        summary=f"Assigned {len(items)} pending items of sample #{public_id(sample.id)}"
        " round-robin",
        actor=actor,
    )
    return len(items)


def reassign_item(item: SampleItem, user: User | None, *, actor: User | None = None) -> bool:
    """Give a pending item to another inspector (or to nobody); returns whether it
    changed."""
    sample = item.sample
    require_movable(item)
    if user is not None:
        problems: list[dict] = []
        check_inspectors([user], problems)
        raise_problems(problems)
    new_id = user.id if user else None
    if item.assignee_id == new_id:
        return False
    before = {"item": item.id, "assignee": item.assignee.email if item.assignee else None}
    item.assignee_id = new_id
    item.assignee = user
    item.assigned_at = datetime.now(UTC) if user else None
    db.session.flush()
    record(
        db.session,
        "sample.item_reassigned",
        "sample",
        sample.id,
        before=before,
        after={"item": item.id, "assignee": user.email if user else None},
        summary=f"Item #{public_id(item.id)} of sample #{public_id(sample.id)} "
        + (f"assigned to {user.email}" if user else "unassigned"),
        actor=actor,
    )
    return True


# Skipping -----------------------------------------------------------------------------


def find_replacement(sample: Sample, key: str) -> tuple[int, int, str] | None:
    """The replacement for a skipped item of stratum `key`: the decision with the
    lowest rank in the stratum's HMAC order (of the draw's population) that is not in
    the sample and is neither inspected nor in another open sample now.
    Returns (rank, decision id, external_id), or None when the stratum is used up."""
    values = algorithm.split_stratum_key(key) if sample.strata else []
    scope = draw_scope(sample)
    conn = db.session.connection()
    in_sample = set(
        db.session.scalars(
            sa.select(SampleItem.decision_id).where(SampleItem.sample_id == sample.id)
        )
    )
    stratum_size = (sample.per_stratum.get(key) or {}).get("population", 0)
    used = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SampleItem)
        .where(SampleItem.sample_id == sample.id, SampleItem.stratum == key)
    )
    bound = algorithm.candidate_bound(used + 16, max(stratum_size, 1))
    while True:
        candidates = population.stratum_candidates(conn, scope, sample.seed, key, values, bound)
        fresh = [c for c in candidates if c[1] not in in_sample]
        busy = population.unavailable_ids(conn, sample.vendor_id, [c[1] for c in fresh])
        for rank, (_h, decision_id, external_id) in enumerate(candidates, start=1):
            if decision_id not in in_sample and decision_id not in busy:
                return rank, decision_id, external_id
        if bound == algorithm.TAKE_ALL:
            return None
        bound = algorithm.TAKE_ALL


def skip_item(item: SampleItem, reason: str, *, actor: User | None = None) -> SampleItem | None:
    """Skip a pending item with a reason and add its reproducible replacement (same
    stratum, same assignee). Returns the replacement, or None if the stratum has no
    decision left."""
    sample = item.sample
    require_skippable(item)
    problems: list[dict] = []
    reason = check_reason(reason, problems)
    raise_problems(problems)
    # Replacements of one sample are drawn one at a time.
    lock_vendor(sample.vendor)
    item.status = "skipped"
    item.skip_reason = reason
    db.session.flush()
    found = find_replacement(sample, item.stratum)
    replacement = None
    after = {"item": item.id, "status": "skipped", "reason": reason, "replacement": None}
    if found is not None:
        rank, decision_id, external_id = found
        now = datetime.now(UTC)
        replacement = SampleItem(
            sample_id=sample.id,
            decision_id=decision_id,
            stratum=item.stratum,
            rank=rank,
            status="pending",
            replacement_for_id=item.id,
            assignee_id=item.assignee_id,
            assigned_at=now if item.assignee_id else None,
            created_at=now,
        )
        db.session.add(replacement)
        per_stratum = {k: dict(v) for k, v in sample.per_stratum.items()}
        per_stratum[item.stratum]["drawn"] = per_stratum[item.stratum].get("drawn", 0) + 1
        sample.per_stratum = per_stratum
        db.session.flush()
        after["replacement"] = {"item": replacement.id, "external_id": external_id, "rank": rank}
    record(
        db.session,
        "sample.item_skipped",
        "sample",
        sample.id,
        before={"item": item.id, "status": "pending", "decision": item.decision.external_id},
        after=after,
        summary=f"Skipped item #{public_id(item.id)} of sample #{public_id(sample.id)}:"
        f" {reason[:200]}",
        actor=actor,
    )
    return replacement


# States -------------------------------------------------------------------------------


def close_sample(sample: Sample, *, actor: User | None = None) -> None:
    """Close an open sample whose items are all inspected or skipped."""
    require_open(sample)
    pending = queries.item_counts(sample)["pending"]
    if pending:
        raise Conflict(
            f"Sample #{public_id(sample.id)} still has {pending}"
            f" pending item{'s' if pending != 1 else ''};"
            " inspect or skip every item before closing it."
        )
    sample.state = "closed"
    sample.closed_at = datetime.now(UTC)
    db.session.flush()
    record(
        db.session,
        "sample.closed",
        "sample",
        sample.id,
        before={"state": "open"},
        after={"state": "closed"},
        summary=f"Closed sample #{public_id(sample.id)} of {sample.vendor.code}",
        actor=actor,
    )


def cancel_sample(sample: Sample, reason: str = "", *, actor: User | None = None) -> None:
    """Cancel an open sample: its decisions may be drawn again; inspections made stay."""
    require_open(sample)
    reason = (reason or "").strip()[:MAX_REASON_LENGTH]
    sample.state = "cancelled"
    sample.cancelled_at = datetime.now(UTC)
    db.session.flush()
    record(
        db.session,
        "sample.cancelled",
        "sample",
        sample.id,
        before={"state": "open"},
        after={"state": "cancelled", "reason": reason or None},
        summary=f"Cancelled sample #{public_id(sample.id)} of {sample.vendor.code}"
        + (f": {reason[:200]}" if reason else ""),
        actor=actor,
    )
