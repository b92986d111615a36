"""Demo inspections with believable patterns, made through the inspection services (so
they are validated, versioned and audited like an inspector's own):

- ACME improves month after month, to well above its target;
- NORTHSTAR slips, and misses its target in the latest months;
- BRIGHTLINE hovers at its target, so its status is `indistinguishable`;
- ORBIT is steadily good; KESTREL is middling, with many critical errors.

Older samples are inspected completely and closed; the latest month's is partly
done (some drafts, some items still pending) so the queues have work. One final
inspection is corrected by the QA lead, and KESTREL has a targeted (risk-weighted)
sample of its rejects.
"""

from __future__ import annotations

import random

import sqlalchemy as sa

from app.extensions import db
from app.inspections import services
from app.inspections.queries import questions_of
from app.models import Decision, Inspection, Label, Sample, User, Vendor
from app.months import last_day
from app.sampling import queries
from app.sampling import services as sampling
from app.scorecards.queries import published_version

# Overall accuracy by month, oldest first (the last closed months), and the share of
# errors that are critical.
PATTERNS = {
    "ACME": ([0.90, 0.93, 0.955, 0.975, 0.99], 0.10),
    "NORTHSTAR": ([0.99, 0.975, 0.95, 0.92, 0.88], 0.15),
    "BRIGHTLINE": ([0.95, 0.945, 0.955, 0.95, 0.948], 0.10),
    "ORBIT": ([0.98, 0.975, 0.985, 0.98, 0.978], 0.05),
    "KESTREL": ([0.93, 0.925, 0.935, 0.93, 0.94], 0.35),
}
LATEST_DONE = 0.9  # share of the latest month's items finalised; a few more are drafts
LATEST_DRAFTS = 4
DEMO_LEAD = "qa.lead@demo.example"


class _Verdicts:
    """Makes the verdict of one item: right, or one of the errors moderators make."""

    def __init__(self, rng: random.Random, labels_by_area: dict[str, list[str]], critical: float):
        self.rng = rng
        self.labels = labels_by_area
        self.critical = critical

    def severity(self) -> str:
        roll = self.rng.random()
        if roll < self.critical:
            return "critical"
        return "major" if roll < self.critical + (1 - self.critical) * 0.45 else "minor"

    def other_label(self, area: str, not_these: list[str]) -> str:
        choices = [code for code in self.labels[area] if code not in not_these]
        return self.rng.choice(choices)

    def verdict(self, decision: Decision, right: bool, questions) -> dict:
        codes = decision.label_codes
        if right:
            expected, labels, severity = decision.decision, codes, "none"
        else:
            severity = self.severity()
            if decision.decision == "approve":
                expected, labels = "reject", [self.other_label(decision.policy_area, [])]
            elif self.rng.random() < 0.5:
                expected, labels = "approve", []
            else:  # the right call, the wrong reason
                expected = "reject"
                labels = [self.other_label(decision.policy_area, codes), *codes[1:]]
        return {
            "expected_decision": expected,
            "expected_labels": labels,
            "severity": severity,
            "answers": self.answers(questions, right, severity),
            "notes": "" if right else self.note(expected, labels),
        }

    def answers(self, questions, right: bool, severity: str) -> dict[str, str]:
        answers = {}
        missed_one = False
        for q in questions:
            if q.critical:
                answers[q.key] = "no" if severity == "critical" else "yes"
            elif not right and not missed_one:
                answers[q.key] = "no"
                missed_one = True
            elif q.allow_na and self.rng.random() < 0.12:
                answers[q.key] = "na"
            else:
                answers[q.key] = "no" if self.rng.random() < 0.06 else "yes"
        return answers

    def note(self, expected: str, labels: list[str]) -> str:
        if expected == "approve":
            return "Allowed under the policy: nothing in the item breaks a rule. Approve."
        return f"Should be rejected as {labels[0]}; see the item history and policy text."


def _labels_by_area() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for code, area in db.session.execute(
        sa.select(Label.code, Label.policy_area).where(Label.active).order_by(Label.code)
    ):
        found.setdefault(area, []).append(code)
    return found


def _inspect_sample(sample: Sample, accuracy: float, verdicts: _Verdicts, *, latest: bool) -> int:
    items = queries.pending_items(sample)
    if latest:
        finalised = int(len(items) * LATEST_DONE)
        drafts = min(LATEST_DRAFTS, len(items) - finalised)
    else:
        finalised, drafts = len(items), 0
    wrong = set(verdicts.rng.sample(range(finalised), round(finalised * (1 - accuracy))))
    questions_by_area: dict[str, list] = {}
    made = 0
    for index, item in enumerate(items[: finalised + drafts]):
        decision = item.decision
        area = decision.policy_area
        if area not in questions_by_area:
            questions_by_area[area] = questions_of(published_version(area))
        questions = questions_by_area[area]
        values = verdicts.verdict(decision, index not in wrong, questions)
        final = index < finalised
        if not final:  # a draft half-way through: the rubric not finished yet
            values["answers"] = dict(list(values["answers"].items())[:2])
        services.create_inspection(decision, values, actor=item.assignee, finalise=final)
        made += 1
    if not latest:
        sampling.close_sample(sample)
    # One sample at a time: a session holding thousands of new rows makes every
    # autoflush slower.
    db.session.commit()
    return made


def _correct_one(vendor: Vendor) -> None:
    """The QA lead corrects one final inspection, as after a calibration session."""
    lead = db.session.scalar(sa.select(User).where(User.email == DEMO_LEAD))
    inspection = db.session.scalar(
        sa.select(Inspection)
        .where(
            Inspection.vendor_id == vendor.id,
            Inspection.status == "final",
            Inspection.correct.is_(False),
        )
        .order_by(Inspection.id)
        .limit(1)
    )
    if lead is None or inspection is None:
        return
    services.correct_inspection(
        inspection,
        {
            "expected_decision": inspection.decision.decision,
            "expected_labels": inspection.decision.label_codes,
            "severity": "none",
        },
        actor=lead,
        version=inspection.version,
        reason="Calibration session: the policy text allows the moderator's reading, so"
        " the moderator's decision stands.",
    )


def _targeted(vendor: Vendor, verdicts: _Verdicts, inspectors: list[User], start, end) -> int:
    """A risk-weighted draw of the vendor's rejects, inspected completely."""
    strata = [f"{area}|reject" for area in ("seller", "listing", "content", "ipr")]
    sample = sampling.draw_sample(
        vendor=vendor,
        period_start=start,
        period_end=end,
        size=20,
        purpose="targeted",
        seed=f"demo-{vendor.code}-targeted-{start:%Y-%m}",
        risk_weights=dict.fromkeys(strata, 3.0) | {"listing|approve": 0.5},
        inspectors=inspectors,
    )
    return _inspect_sample(sample, 0.8, verdicts, latest=False)


def seed_inspections(months: list) -> int:
    """Inspect the demo vendors' contract samples of `months` (oldest first, the last
    closed months) with each vendor's pattern; return how many inspections were made."""
    labels = _labels_by_area()
    if db.session.scalar(sa.select(Inspection.id).limit(1)) is not None:
        return 0
    inspectors = db.session.scalars(
        sa.select(User)
        .where(User.role == "qa_inspector", User.email.like("%@demo.example"))
        .order_by(User.email)
    ).all()
    made = 0
    for code, (accuracies, critical) in PATTERNS.items():
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
        if vendor is None:
            continue
        rng = random.Random(f"demo-{code}")  # noqa: S311 (demo data, not secrets)
        verdicts = _Verdicts(rng, labels, critical)
        samples = {
            s.period_start: s
            for s in db.session.scalars(
                sa.select(Sample).where(
                    Sample.vendor_id == vendor.id,
                    Sample.purpose == "contract",
                    Sample.state == "open",
                )
            )
        }
        shown = accuracies[-len(months) :]
        for position, (month, accuracy) in enumerate(zip(months, shown, strict=True)):
            sample = samples.get(month)
            if sample is not None:
                latest = position == len(months) - 1
                made += _inspect_sample(sample, accuracy, verdicts, latest=latest)
        if code == "BRIGHTLINE":
            _correct_one(vendor)
        if code == "KESTREL" and months:
            made += _targeted(vendor, verdicts, inspectors, months[-1], last_day(months[-1]))
    return made
