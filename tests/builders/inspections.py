"""Builders for tests about inspections and metrics: a published scorecard, decisions
in an open sample with their items, and inspections made through the services."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.extensions import db
from app.inspections import services
from app.models import (
    Sample,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardTemplate,
    ScorecardVersion,
)
from tests.factories import DecisionFactory, LabelFactory, SampleFactory, SampleItemFactory

# key, weight, critical, N/A allowed
QUESTIONS = (
    ("policy_applied", 3.0, False, False),
    ("label_specific", 2.0, False, True),
    ("evidence_checked", 1.0, False, True),
    ("escalation_followed", 1.0, True, True),
)


def scorecard(policy_area: str = "listing", questions=QUESTIONS) -> ScorecardVersion:
    """A published scorecard version for `policy_area` with `questions` in one section."""
    template = ScorecardTemplate(name=f"{policy_area.title()} rubric", policy_area=policy_area)
    version = ScorecardVersion(
        template=template, number=1, state="published", published_at=datetime.now(UTC)
    )
    section = ScorecardSection(version=version, position=0, title="Judgement")
    db.session.add(template)
    db.session.flush()
    for position, (key, weight, critical, allow_na) in enumerate(questions):
        section.questions.append(
            ScorecardQuestion(
                version_id=version.id,
                position=position,
                key=key,
                text=f"Question {key}",
                weight=weight,
                critical=critical,
                allow_na=allow_na,
            )
        )
    db.session.flush()
    return version


def all_yes(questions=QUESTIONS) -> dict[str, str]:
    return {key: "yes" for key, *_ in questions}


def sample_of(vendor, decisions, *, purpose: str = "contract", assignee=None) -> Sample:
    """An open sample holding `decisions` as pending items (assigned to `assignee`)."""
    first = min(d.decided_at for d in decisions).date()
    last = max(d.decided_at for d in decisions).date()
    sample = SampleFactory(
        vendor=vendor,
        purpose=purpose,
        state="open",
        period_start=first,
        period_end=last,
        strata=["policy_area", "decision"],
        requested_size=len(decisions),
        seed="test",
        method_version="hmac-sha256-v1",
        population=len(decisions),
    )
    for rank, decision in enumerate(decisions, start=1):
        SampleItemFactory(
            sample=sample,
            decision=decision,
            stratum=f"{decision.policy_area}|{decision.decision}",
            rank=rank,
            assignee=assignee,
            assigned_at=datetime.now(UTC) if assignee else None,
        )
    return sample


def decision(vendor, *, decided=None, labels=(), **kwargs):
    kwargs.setdefault("decision", "reject" if labels else "approve")
    return DecisionFactory(
        vendor=vendor,
        decided_at=decided or datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
        labels=list(labels),
        **kwargs,
    )


def labels(policy_area: str = "listing", count: int = 3):
    return [LabelFactory(policy_area=policy_area) for _ in range(count)]


def inspect(decision_row, actor, *, expected=None, expected_labels=None, severity=None, **extra):
    """A final inspection of `decision_row` through the services. By default QA agrees
    with the moderator (correct, severity none, every question yes)."""
    expected = expected or decision_row.decision
    if expected_labels is None:
        expected_labels = decision_row.label_codes if expected == "reject" else []
    values = {
        "expected_decision": expected,
        "expected_labels": list(expected_labels),
        "severity": severity,
        "answers": extra.pop("answers", None),
        "notes": extra.pop("notes", ""),
    }
    if values["answers"] is None:
        version = services.published_version(decision_row.policy_area)
        values["answers"] = {q.key: "yes" for q in services.questions_of(version)}
    if severity is None:
        correct = expected == decision_row.decision and (
            expected == "approve" or set(expected_labels) == set(decision_row.label_codes)
        )
        values["severity"] = "none" if correct else "major"
    return services.create_inspection(
        decision_row, values, actor=actor, finalise=extra.pop("finalise", True)
    )


def month(text: str) -> date:
    year, number = text.split("-")
    return date(int(year), int(number), 1)
