"""Re-deriving a draw independently (`flask samples verify`): the seed and parameters
against the hash-chained audit record of the draw, the exclusions and population as
they stood when it was drawn, then the allocation and every item, with nothing but
the plain algorithm of `algorithm.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Decision, Sample, SampleItem
from app.sampling import algorithm, population
from app.sampling.services.draws import draw_scope, items_digest, sample_state
from app.security.public_ids import public_id


def drawn_event(sample: Sample) -> AuditEvent | None:
    """The audit event that recorded the draw (seed, parameters, items digest)."""
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
    """One thing compared, and what was found."""

    name: str
    ok: bool
    message: str


@dataclass
class Verification:
    """Every check of one sample; it matches when they all pass."""

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
    scope = draw_scope(sample)
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
                f"replacement item #{public_id(item.id)} ({item.external_id})"
                f" is not at rank {item.rank} "
                f"of {item.stratum!r}"
            )
        elif skipped is None or skipped.status != "skipped" or skipped.stratum != item.stratum:
            problems.append(
                f"replacement item #{public_id(item.id)} does not replace a skipped item"
            )
        elif item.rank <= allocated.get(item.stratum, 0):
            problems.append(f"replacement item #{public_id(item.id)} has a rank inside the draw")
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
