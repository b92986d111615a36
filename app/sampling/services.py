"""Sampling plans and samples: drawing, assignment, skipping with a reproducible
replacement, closing and cancelling, and re-deriving a draw (DESIGN §4).

Each operation validates its input, flushes and writes its audit event; the caller
commits once. The algorithm itself lives in `algorithm.py`; `population.py` runs it
in the database.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from app.audit.services import record
from app.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    Decision,
    Inspection,
    Sample,
    SampleItem,
    SamplingPlan,
    User,
    Vendor,
)
from app.models.enums import QA_ROLES, SAMPLE_PURPOSES
from app.sampling import algorithm, population
from app.validation import TEXT_WHITESPACE, has_control_characters, problem, raise_problems

DEFAULT_STRATA = list(algorithm.DEFAULT_STRATA)
STRATUM_FIELDS = population.STRATUM_COLUMNS
STRATUM_FIELD_NAMES = {
    "policy_area": "Policy area",
    "decision": "Decision",
    "market": "Market",
    "site": "Site",
    "moderator_id": "Moderator",
}
MAX_SIZE = 50_000
MIN_MARGIN, MAX_MARGIN = 0.001, 0.5
MIN_CONFIDENCE, MAX_CONFIDENCE = 0.5, 0.9999
MAX_WEIGHT = 1000
MAX_SEED_LENGTH = 128
MAX_REASON_LENGTH = 500
MAX_INSPECTORS = 100
MAX_STRATUM_KEY = 255  # the column's width
MIN_YEAR, MAX_YEAR = 2000, 2100


def utc_today() -> date:
    return datetime.now(UTC).date()


def new_seed() -> str:
    """A server seed: 128 random bits, so nobody can predict a future draw."""
    return secrets.token_hex(16)


# Validation ---------------------------------------------------------------------------


def plain_text(value) -> bool:
    """Text a database can store and compare: encodable, without control characters."""
    if not isinstance(value, str) or has_control_characters(value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_date(name: str, label: str, value, problems: list[dict]) -> date | None:
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            problems.append(problem(name, f"{label} is required (YYYY-MM-DD)."))
            return None
        try:
            value = date.fromisoformat(text)
        except ValueError:
            problems.append(problem(name, f"{label} must be a date as YYYY-MM-DD."))
            return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        problems.append(problem(name, f"{label} must be between {MIN_YEAR} and {MAX_YEAR}."))
        return None
    return value


def _number(value) -> float | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_strata(strata, problems: list[dict]) -> list[str]:
    """A list of decision fields (default policy area and decision), each known, once."""
    if strata is None:
        return list(DEFAULT_STRATA)
    if isinstance(strata, str):
        strata = [s for s in (part.strip() for part in strata.split(",")) if s]
    if not isinstance(strata, list | tuple) or not all(isinstance(s, str) for s in strata):
        problems.append(problem("strata", "Give the strata as a list of decision fields."))
        return list(DEFAULT_STRATA)
    unknown = [s for s in strata if s not in STRATUM_FIELDS]
    if unknown:
        problems.append(
            problem(
                "strata",
                f"Unknown stratum field {unknown[0]!r}; choose from {', '.join(STRATUM_FIELDS)}.",
            )
        )
    elif len(set(strata)) != len(strata):
        problems.append(problem("strata", "List each stratum field once."))
    return list(strata)


def check_size(size, margin, confidence, problems: list[dict]) -> tuple:
    """Exactly one of a size (1..MAX_SIZE) or a margin (with a confidence)."""
    given_size = size not in (None, "")
    given_margin = margin not in (None, "")
    conf = _number(confidence) if confidence not in (None, "") else algorithm.DEFAULT_CONFIDENCE
    if conf is None or not MIN_CONFIDENCE <= conf <= MAX_CONFIDENCE:
        problems.append(
            problem("confidence", f"The confidence must be between {MIN_CONFIDENCE} and 0.9999.")
        )
        conf = algorithm.DEFAULT_CONFIDENCE
    if given_size and given_margin:
        problems.append(problem("size", "Give a size or a margin of error, not both."))
        return None, None, conf
    if not given_size and not given_margin:
        problems.append(problem("size", "Give a sample size or a margin of error."))
        return None, None, conf
    if given_size:
        number = _number(size)
        if number is None or number != int(number) or not 1 <= number <= MAX_SIZE:
            problems.append(
                problem("size", f"The size must be a whole number from 1 to {MAX_SIZE:,}.")
            )
            return None, None, conf
        return int(number), None, conf
    number = _number(margin)
    if number is None or not MIN_MARGIN <= number <= MAX_MARGIN:
        problems.append(
            problem("margin", "The margin of error must be between 0.001 and 0.5 (0.1% to 50%).")
        )
        return None, None, conf
    return None, number, conf


def check_purpose(purpose, problems: list[dict]) -> str:
    purpose = purpose or "contract"
    if purpose not in SAMPLE_PURPOSES:
        problems.append(problem("purpose", "The purpose must be contract or targeted."))
        return "contract"
    return purpose


def check_weights(weights, purpose: str, strata: list[str], problems: list[dict]) -> dict:
    """Risk weights {stratum key: weight ≥ 0}, for targeted samples only."""
    if not weights:
        return {}
    if purpose != "targeted":
        problems.append(problem("risk_weights", "Risk weights apply to targeted samples only."))
        return {}
    if not isinstance(weights, dict):
        problems.append(problem("risk_weights", "Give risk weights as {stratum: weight}."))
        return {}
    clean = {}
    for key, value in weights.items():
        number = _number(value)
        if not plain_text(key) or len(algorithm.split_stratum_key(key)) != max(len(strata), 1):
            problems.append(
                problem(
                    "risk_weights",
                    f"{key!r} is not a stratum of {' x '.join(strata) or 'the population'}"
                    f" (write values joined by |, e.g. listing|reject).",
                )
            )
        elif number is None or not 0 <= number <= MAX_WEIGHT:
            problems.append(
                problem("risk_weights", f"The weight of {key} must be from 0 to {MAX_WEIGHT}.")
            )
        else:
            clean[key] = number
    return clean


def check_seed(seed, problems: list[dict]) -> str | None:
    if seed in (None, ""):
        return None
    if not isinstance(seed, str) or len(seed) > MAX_SEED_LENGTH or not seed.strip():
        problems.append(problem("seed", f"A seed is text of 1 to {MAX_SEED_LENGTH} characters."))
        return None
    if not plain_text(seed):
        problems.append(problem("seed", "Remove the control characters from the seed."))
        return None
    return seed


def check_inspectors(inspectors, problems: list[dict]) -> list[User]:
    """Active QA people (inspectors or leads), each once, in the order given."""
    users = list(inspectors or [])
    if len(users) > MAX_INSPECTORS:
        problems.append(problem("inspectors", f"Assign at most {MAX_INSPECTORS} inspectors."))
        return []
    bad = [u for u in users if u.role not in QA_ROLES or not u.active]
    if bad:
        problems.append(
            problem("inspectors", f"{bad[0].email} is not an active QA inspector or lead.")
        )
        return []
    seen, unique = set(), []
    for user in users:
        if user.id not in seen:
            seen.add(user.id)
            unique.append(user)
    return unique


def inspectors_by_email(emails: Iterable[str]) -> list[User]:
    """Resolve e-mail addresses to active QA users; the first unknown one is an error
    on the `inspectors` field."""
    emails = [e.strip().lower() for e in emails or [] if isinstance(e, str)]
    if not emails:
        return []
    # Text no database could hold names nobody: it is reported as unknown below.
    safe = sorted({e for e in emails if plain_text(e)})
    found = {u.email: u for u in db.session.scalars(sa.select(User).where(User.email.in_(safe)))}
    problems = []
    for email in emails:
        user = found.get(email)
        if user is None or user.role not in QA_ROLES or not user.active:
            problems.append(problem("inspectors", f"No active QA inspector or lead {email}."))
            break
    raise_problems(problems)
    return [found[e] for e in emails]


def qa_people() -> list[User]:
    """Who can be assigned items: active inspectors and leads, by name."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role.in_(QA_ROLES), User.active)
            .order_by(sa.func.lower(User.name), User.email)
        )
    )


# Size preview -------------------------------------------------------------------------


@dataclass
class Preview:
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
    start = _parse_date("period_start", "The start date", period_start, problems)
    end = _parse_date("period_end", "The end date", period_end, problems)
    strata = check_strata(strata, problems)
    size, margin, confidence = check_size(size, margin, confidence, problems)
    if start and end and end < start:
        problems.append(problem("period_end", "The period ends before it starts."))
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


# Drawing ------------------------------------------------------------------------------


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


def _lock_vendor(vendor: Vendor) -> None:
    """Draws of one vendor run one at a time, so two cannot pick the same decisions
    (SQLite already holds its write lock)."""
    db.session.execute(sa.select(Vendor.id).where(Vendor.id == vendor.id).with_for_update())


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
    start = _parse_date("period_start", "The start date", period_start, problems)
    end = _parse_date("period_end", "The end date", period_end, problems)
    if start and end:
        if end < start:
            problems.append(problem("period_end", "The period ends before it starts."))
        elif end >= utc_today():
            problems.append(
                problem("period_end", "Sample a closed period: it must end before today (UTC).")
            )
    strata = check_strata(strata, problems)
    size, margin, confidence = check_size(size, margin, confidence, problems)
    purpose = check_purpose(purpose, problems)
    weights = check_weights(risk_weights, purpose, strata, problems)
    given_seed = check_seed(seed, problems)
    inspectors = check_inspectors(inspectors, problems)
    raise_problems(problems)
    seed = given_seed or new_seed()

    _lock_vendor(vendor)
    drawn_at = datetime.now(UTC)
    scope = population.Scope(vendor.id, start, end, tuple(strata))
    if size is not None:
        capacity = size
    else:
        z = algorithm.z_score(confidence)
        capacity = math.ceil(z * z * 0.25 / (margin * margin))

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
    """Draw with a plan's configuration for one period."""
    if not plan.active:
        raise Conflict(f"The plan {plan.name!r} is inactive; activate it to draw from it.")
    inspectors = []
    if plan.inspector_ids:
        by_id = {
            u.id: u
            for u in db.session.scalars(sa.select(User).where(User.id.in_(plan.inspector_ids)))
        }
        inspectors = [
            by_id[i]
            for i in plan.inspector_ids
            if i in by_id and by_id[i].active and by_id[i].role in QA_ROLES
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


# Items: assignment, skipping ----------------------------------------------------------


def _require_open(sample: Sample) -> None:
    if sample.state != "open":
        raise InvalidTransition(f"Sample #{sample.id} is {sample.state}; only open samples change.")


def _pending_items(sample: Sample) -> list[SampleItem]:
    return list(
        db.session.scalars(
            sa.select(SampleItem)
            .where(SampleItem.sample_id == sample.id, SampleItem.status == "pending")
            .order_by(SampleItem.id)
        )
    )


def assign_round_robin(
    sample: Sample,
    inspectors: Sequence[User],
    *,
    only_unassigned: bool = False,
    actor: User | None = None,
) -> int:
    """Deal the pending items (in draw order) to `inspectors` in turn; returns how
    many items were assigned."""
    _require_open(sample)
    problems: list[dict] = []
    inspectors = check_inspectors(inspectors, problems)
    if not problems and not inspectors:
        problems.append(problem("inspectors", "Choose at least one inspector."))
    raise_problems(problems)
    items = [i for i in _pending_items(sample) if not only_unassigned or i.assignee_id is None]
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
        summary=f"Assigned {len(items)} pending items of sample #{sample.id} round-robin",
        actor=actor,
    )
    return len(items)


def reassign_item(item: SampleItem, user: User | None, *, actor: User | None = None) -> bool:
    """Give a pending item to another inspector (or to nobody); returns whether it
    changed."""
    sample = item.sample
    _require_open(sample)
    if item.status != "pending":
        raise InvalidTransition(f"Item #{item.id} is {item.status}; only pending items move.")
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
        summary=f"Item #{item.id} of sample #{sample.id} "
        + (f"assigned to {user.email}" if user else "unassigned"),
        actor=actor,
    )
    return True


def find_replacement(sample: Sample, key: str) -> tuple[int, int, str] | None:
    """The replacement for a skipped item of stratum `key`: the decision with the
    lowest rank in the stratum's HMAC order (of the draw's population) that is not in
    the sample and is neither inspected nor in another open sample now.
    Returns (rank, decision id, external_id), or None when the stratum is used up."""
    values = algorithm.split_stratum_key(key) if sample.strata else []
    scope = _draw_scope(sample)
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
    _require_open(sample)
    if item.status != "pending":
        raise InvalidTransition(
            f"Item #{item.id} is {item.status}; only pending items are skipped."
        )
    reason = (reason or "").strip()
    problems: list[dict] = []
    if not reason:
        problems.append(problem("reason", "Say why the item is skipped."))
    elif len(reason) > MAX_REASON_LENGTH:
        problems.append(problem("reason", f"Keep the reason to {MAX_REASON_LENGTH} characters."))
    elif has_control_characters(reason, TEXT_WHITESPACE):
        problems.append(problem("reason", "Remove the control characters."))
    raise_problems(problems)
    # Replacements of one sample are drawn one at a time.
    _lock_vendor(sample.vendor)
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
        summary=f"Skipped item #{item.id} of sample #{sample.id}: {reason[:200]}",
        actor=actor,
    )
    return replacement


# States -------------------------------------------------------------------------------


def close_sample(sample: Sample, *, actor: User | None = None) -> None:
    """Close an open sample whose items are all inspected or skipped."""
    _require_open(sample)
    pending = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SampleItem)
        .where(SampleItem.sample_id == sample.id, SampleItem.status == "pending")
    )
    if pending:
        raise Conflict(
            f"Sample #{sample.id} still has {pending} pending item{'s' if pending != 1 else ''};"
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
        summary=f"Closed sample #{sample.id} of {sample.vendor.code}",
        actor=actor,
    )


def cancel_sample(sample: Sample, reason: str = "", *, actor: User | None = None) -> None:
    """Cancel an open sample: its decisions may be drawn again; inspections made stay."""
    _require_open(sample)
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
        summary=f"Cancelled sample #{sample.id} of {sample.vendor.code}"
        + (f": {reason[:200]}" if reason else ""),
        actor=actor,
    )


# Plans --------------------------------------------------------------------------------


def plan_state(plan: SamplingPlan) -> dict:
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


def _check_plan(
    name, vendor, purpose, strata, size, margin, confidence, risk_weights, inspectors
) -> dict:
    problems: list[dict] = []
    name = " ".join((name or "").split())
    if not name:
        problems.append(problem("name", "Give the plan a name."))
    elif len(name) > 120:
        problems.append(problem("name", "Keep the name to 120 characters or fewer."))
    if vendor is None:
        problems.append(problem("vendor", "Choose a vendor."))
    strata = check_strata(strata, problems)
    size, margin, confidence = check_size(size, margin, confidence, problems)
    purpose = check_purpose(purpose, problems)
    weights = check_weights(risk_weights, purpose, strata, problems)
    inspectors = check_inspectors(inspectors, problems)
    raise_problems(problems)
    return {
        "name": name,
        "vendor": vendor,
        "purpose": purpose,
        "strata": strata,
        "size": size,
        "margin": margin,
        "confidence": confidence,
        "risk_weights": weights,
        "inspector_ids": [u.id for u in inspectors],
    }


def create_plan(
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
    actor: User | None = None,
) -> SamplingPlan:
    values = _check_plan(
        name, vendor, purpose, strata, size, margin, confidence, risk_weights, inspectors
    )
    plan = SamplingPlan(**values, active=True, created_by_id=actor.id if actor else None)
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
    plan: SamplingPlan,
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
    active: bool = True,
    actor: User | None = None,
) -> bool:
    """Change a plan (samples drawn from it keep their own copy); returns whether
    anything changed."""
    values = _check_plan(
        name, vendor, purpose, strata, size, margin, confidence, risk_weights, inspectors
    )
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


# Queues -------------------------------------------------------------------------------


def queue_statement(user: User) -> sa.Select:
    """The user's pending items of open samples, oldest sample first."""
    return (
        sa.select(SampleItem)
        .join(Sample, Sample.id == SampleItem.sample_id)
        .where(
            SampleItem.assignee_id == user.id,
            SampleItem.status == "pending",
            Sample.state == "open",
        )
        .options(joinedload(SampleItem.decision), joinedload(SampleItem.sample))
        .order_by(Sample.created_at, Sample.id, SampleItem.id)
    )


def items_with_drafts(item_ids: list[int]) -> set[int]:
    """Which of these items have a draft inspection already."""
    if not item_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(Inspection.sample_item_id).where(
                Inspection.sample_item_id.in_(item_ids), Inspection.status == "draft"
            )
        )
    )


def item_counts(sample: Sample) -> dict[str, int]:
    """Items by status."""
    rows = db.session.execute(
        sa.select(SampleItem.status, sa.func.count())
        .where(SampleItem.sample_id == sample.id)
        .group_by(SampleItem.status)
    )
    counts = {"pending": 0, "inspected": 0, "skipped": 0}
    counts.update(dict(rows.all()))
    return counts


# Verification -------------------------------------------------------------------------


def _draw_scope(sample: Sample) -> population.Scope:
    """The draw's population as it stood when it was made."""
    return population.Scope(
        sample.vendor_id,
        sample.period_start,
        sample.period_end,
        tuple(sample.strata or ()),
        as_of=sample.created_at,
        sample_id=sample.id,
    )


def drawn_event(sample: Sample) -> AuditEvent | None:
    return db.session.scalar(
        sa.select(AuditEvent)
        .where(
            AuditEvent.action == "sample.drawn",
            AuditEvent.object_type == "sample",
            AuditEvent.object_id == str(sample.id),
        )
        .order_by(AuditEvent.seq)
        .limit(1)
    )


@dataclass
class Check:
    name: str
    ok: bool
    message: str


@dataclass
class Verification:
    sample_id: int
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, message: str) -> None:
        self.checks.append(Check(name, ok, message))


def verify_sample(sample: Sample) -> Verification:
    """Re-derive a draw independently (plain hmac and sorted(), not the database's
    HMAC) from the population as it stood when it was drawn, and compare."""
    result = Verification(sample.id)
    event = drawn_event(sample)
    recorded = (event.after or {}) if event else {}

    # 1. Seed and method, against the hash-chained audit record of the draw.
    if event is None:
        result.add("seed", False, "no sample.drawn event in the audit log to compare with")
    elif recorded.get("seed") != sample.seed:
        result.add("seed", False, "the seed differs from the one recorded when it was drawn")
    else:
        result.add("seed", True, "matches the seed recorded in the audit log at the draw")
    if sample.method_version != algorithm.METHOD_VERSION:
        result.add(
            "method",
            False,
            f"method {sample.method_version!r} is not {algorithm.METHOD_VERSION!r}",
        )
    stored = sample_state(sample)
    if event is not None:
        differing = [
            name
            for name in (
                "population",
                "population_digests",
                "exclusions",
                "strata",
                "requested_size",
                "margin",
                "confidence",
                "risk_weights",
                "period_start",
                "period_end",
            )
            if recorded.get(name) != stored.get(name)
        ]
        # per_stratum's "drawn" grows with replacements; the rest is fixed at the draw.
        fixed = {
            k: (v.get("population"), v.get("allocated")) for k, v in stored["per_stratum"].items()
        }
        was = {
            k: (v.get("population"), v.get("allocated"))
            for k, v in (recorded.get("per_stratum") or {}).items()
        }
        if fixed != was:
            differing.append("per_stratum")
        if differing:
            result.add(
                "record",
                False,
                "stored parameters differ from the audit record of the draw: "
                + ", ".join(differing),
            )
        else:
            result.add("record", True, "stored parameters match the audit record of the draw")

    # 2. Exclusions and population, re-read as they stood at the draw.
    scope = _draw_scope(sample)
    conn = db.session.connection()
    excluded = population.excluded_rows(conn, scope)
    exclusions = population.exclusions_record(excluded)
    wanted = sample.exclusions or {}
    if (exclusions["total"], exclusions["digest"]) != (wanted.get("total"), wanted.get("digest")):
        result.add(
            "exclusions",
            False,
            f"{exclusions['total']} decisions were inspected or in open samples at the draw "
            f"by today's records, but the draw excluded {wanted.get('total')}: an inspection "
            "or a sample item of that time was removed or changed",
        )
    else:
        result.add(
            "exclusions",
            True,
            f"{exclusions['total']} excluded decisions ({exclusions['inspected']} inspected, "
            f"{exclusions['in_open_samples']} in open samples) match",
        )
    rows = population.population_rows(conn, scope)
    draw = algorithm.rederive(
        rows,
        sample.seed,
        size=sample.requested_size,
        strata=sample.strata,
        margin=sample.margin,
        confidence=sample.confidence or algorithm.DEFAULT_CONFIDENCE,
        weights=sample.risk_weights or {},
    )
    stored_digests = sample.population_digests or {}
    changed = sorted(
        set(stored_digests) ^ set(draw.digests)
        | {k for k in stored_digests if draw.digests.get(k) != stored_digests[k]}
    )
    if draw.population != sample.population or changed:
        shown = ", ".join(repr(k) for k in changed[:5]) + (" …" if len(changed) > 5 else "")
        result.add(
            "population",
            False,
            f"the period now holds {draw.population} drawable decisions, the draw saw "
            f"{sample.population}; strata whose ids differ: {shown or 'none'} (decisions "
            "were added, removed or changed since the draw, so it cannot be re-derived)",
        )
        return result
    result.add(
        "population",
        True,
        f"{draw.population} decisions in {len(draw.digests)} strata; every digest matches",
    )

    # 3. Allocation and items.
    allocated = {k: v["allocated"] for k, v in draw.per_stratum.items()}
    stored_alloc = {k: v.get("allocated") for k, v in (sample.per_stratum or {}).items()}
    if allocated != stored_alloc:
        result.add("allocation", False, "the re-derived allocation differs from the stored one")
    else:
        result.add("allocation", True, f"{draw.size} items over {len(allocated)} strata match")

    items = db.session.execute(
        sa.select(
            SampleItem.id,
            SampleItem.stratum,
            SampleItem.rank,
            SampleItem.replacement_for_id,
            SampleItem.status,
            Decision.external_id,
        )
        .join(Decision, Decision.id == SampleItem.decision_id)
        .where(SampleItem.sample_id == sample.id)
        .order_by(SampleItem.id)
    ).all()
    originals = [(i.stratum, i.rank, i.external_id) for i in items if i.replacement_for_id is None]
    expected = draw.items
    problems = []
    if sorted(originals) != sorted(expected):
        missing = sorted(set(expected) - set(originals))
        extra = sorted(set(originals) - set(expected))
        problems.append(
            f"{len(extra)} drawn items are not in the re-derived draw"
            + (f" (e.g. {extra[0][2]} in {extra[0][0]!r} at rank {extra[0][1]})" if extra else "")
            + f" and {len(missing)} re-derived items are missing"
            + (f" (e.g. {missing[0][2]})" if missing else "")
        )
    by_id = {i.id: i for i in items}
    for item in items:
        if item.replacement_for_id is None:
            continue
        order = draw.order.get(item.stratum, [])
        skipped = by_id.get(item.replacement_for_id)
        if not 0 < item.rank <= len(order) or order[item.rank - 1] != item.external_id:
            problems.append(
                f"replacement item #{item.id} ({item.external_id}) is not at rank {item.rank} "
                f"of {item.stratum!r}"
            )
        elif skipped is None or skipped.status != "skipped" or skipped.stratum != item.stratum:
            problems.append(f"replacement item #{item.id} does not replace a skipped item")
        elif item.rank <= allocated.get(item.stratum, 0):
            problems.append(f"replacement item #{item.id} has a rank inside the draw")
    if event is not None and recorded.get("items_digest") != items_digest(
        sorted(originals, key=lambda t: (t[0], t[1]))
    ):
        problems.append("the drawn items differ from those recorded in the audit log")
    replacements = sum(1 for i in items if i.replacement_for_id is not None)
    if problems:
        result.add("items", False, "; ".join(problems))
    else:
        result.add(
            "items",
            True,
            f"{len(originals)} drawn items and {replacements} "
            f"replacement{'' if replacements == 1 else 's'} match the re-derived draw",
        )
    return result


def get_sample(sample_id: int) -> Sample:
    sample = db.session.get(Sample, sample_id)
    if sample is None:
        raise NotFound(f"No sample #{sample_id}.")
    return sample
