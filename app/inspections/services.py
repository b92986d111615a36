"""Inspections: QA's verdict on one decision (DESIGN §2, §3).

An inspection is made from a pending item of an open sample, by the item's assignee
(or anyone in QA when the item is unassigned) or by a QA lead; a QA lead may also
inspect a decision outside any sample (a hand-picked, `targeted` inspection). There
is at most one inspection per decision.

Drafts may be incomplete; finalising needs an expected decision, its labels (a
reject needs one at least, an approve takes none), a severity that is `none` exactly
when the inspection is correct, and every rubric question answered. A final
inspection changes only by a QA lead's correction (with a reason) or, later, by a
dispute outcome. Every change bumps `version` (two people saving the same version:
the second is refused and nothing is overwritten) and keeps a snapshot in the
history.

Services take the acting user explicitly, flush and never commit. Reads are in
`queries.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import months
from app.audit.services import record
from app.database import utcnow
from app.errors import Conflict, NotAllowed, ValidationFailed
from app.extensions import db
from app.inspections.queries import inspection_of, open_item_for, questions_of
from app.metrics import definitions
from app.models import (
    Decision,
    Inspection,
    InspectionAnswer,
    InspectionLabel,
    InspectionVersion,
    Label,
    SampleItem,
    ScorecardQuestion,
    ScorecardVersion,
    User,
)
from app.models.enums import ANSWERS, DECISIONS, SEVERITIES
from app.scorecards.queries import published_version
from app.security.predicates import (
    can_correct_inspection,
    can_edit_inspection,
    can_inspect_item,
)
from app.security.public_ids import public_id
from app.validation import TEXT_WHITESPACE, has_control_characters, problem, raise_problems

MAX_NOTES = 10_000
MAX_LABELS = 10
MAX_REASON = 2_000
MAX_VERSION = 2**31 - 1  # versions and ids are 32-bit integers on every database
EDITABLE_FIELDS = ("expected_decision", "expected_labels", "severity", "answers", "notes")


# The verdict as data -----------------------------------------------------------------


def label_codes(inspection: Inspection) -> list[str]:
    return [il.label.code for il in inspection.expected_labels]


def answers_by_key(inspection: Inspection) -> dict[str, str]:
    return {a.question.key: a.answer for a in inspection.answers}


def snapshot(inspection: Inspection) -> dict:
    """The verdict as it stands: what the history keeps and the audit log compares."""
    return {
        "status": inspection.status,
        "expected_decision": inspection.expected_decision,
        "expected_labels": label_codes(inspection),
        "severity": inspection.severity,
        "answers": answers_by_key(inspection),
        "notes": inspection.notes,
        "rubric_score": inspection.rubric_score,
        "correct": inspection.correct,
        "scorecard_version": inspection.scorecard_version_id,
    }


# Validation ---------------------------------------------------------------------------


@dataclass
class Verdict:
    """Checked values of an inspection (None: not given yet)."""

    expected_decision: str | None
    labels: list[Label]
    severity: str | None
    answers: dict[int, str]  # question id -> answer
    notes: str


def _text(value, field: str, limit: int, problems: list[dict]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(problem(field, "Give text."))
        return ""
    if has_control_characters(value, TEXT_WHITESPACE):
        problems.append(problem(field, "Remove control characters from the text."))
    if len(value) > limit:
        problems.append(problem(field, f"Keep it to {limit:,} characters ({len(value):,} now)."))
    return value.strip()


def _choice(value, field: str, allowed: tuple[str, ...], what: str, problems) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or value not in allowed:
        problems.append(problem(field, f"Choose {what}: {', '.join(allowed)}."))
        return None
    return value


def _labels(codes, decision: Decision, keep: Iterable[Label], problems: list[dict]) -> list[Label]:
    """Labels by code, primary first: active labels of the decision's policy area (or
    ones the inspection already had, should they have been retired since)."""
    if codes in (None, ""):
        return []
    if isinstance(codes, str) or not isinstance(codes, list | tuple):
        problems.append(problem("expected_labels", "Give a list of label codes, primary first."))
        return []
    if len(codes) > MAX_LABELS:
        problems.append(problem("expected_labels", f"Give at most {MAX_LABELS} labels."))
        return []
    wanted = []
    for code in codes:
        if not isinstance(code, str) or not code.strip() or has_control_characters(code):
            problems.append(problem("expected_labels", "Every label is a code such as LST-FAKE."))
            return []
        wanted.append(code.strip().upper())
    repeated = sorted({c for c in wanted if wanted.count(c) > 1})
    if repeated:
        problems.append(problem("expected_labels", f"Each label once: {', '.join(repeated)}."))
        return []
    found = {
        label.code: label
        for label in db.session.scalars(sa.select(Label).where(Label.code.in_(wanted)))
    }
    kept = {label.id for label in keep}
    result = []
    for code in wanted:
        label = found.get(code)
        if label is None:
            problems.append(problem("expected_labels", f"No label has the code {code}."))
        elif label.policy_area != decision.policy_area:
            problems.append(
                problem(
                    "expected_labels",
                    f"{code} is a {label.policy_area} label; this decision is about"
                    f" {decision.policy_area}.",
                )
            )
        elif not label.active and label.id not in kept:
            problems.append(problem("expected_labels", f"{code} is retired; choose a current one."))
        else:
            result.append(label)
    return result


def _answers(raw, questions: list[ScorecardQuestion], problems: list[dict]) -> dict[int, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        problems.append(problem("answers", "Give the answers as {question key: yes/no/na}."))
        return {}
    by_key = {q.key: q for q in questions}
    if raw and not questions:
        problems.append(problem("answers", "This policy area has no published scorecard."))
        return {}
    result = {}
    for key, value in raw.items():
        question = by_key.get(key)
        field = f"answers.{key}"
        if question is None:
            problems.append(problem(field, f"The scorecard has no question {key!s:.64}."))
            continue
        if value in (None, ""):
            continue
        if value not in ANSWERS:
            problems.append(problem(field, "Answer yes, no or na."))
        elif value == "na" and not question.allow_na:
            problems.append(problem(field, f"{question.key} cannot be answered N/A."))
        else:
            result[question.id] = value
    return result


def check_verdict(
    values: Mapping[str, Any],
    decision: Decision,
    questions: list[ScorecardQuestion],
    *,
    keep_labels: Iterable[Label] = (),
) -> Verdict:
    """Check each field on its own; the rules between fields come with `check_final`."""
    problems: list[dict] = []
    verdict = Verdict(
        expected_decision=_choice(
            values.get("expected_decision"),
            "expected_decision",
            DECISIONS,
            "the expected decision",
            problems,
        ),
        labels=_labels(values.get("expected_labels"), decision, keep_labels, problems),
        severity=_choice(values.get("severity"), "severity", SEVERITIES, "a severity", problems),
        answers=_answers(values.get("answers"), questions, problems),
        notes=_text(values.get("notes"), "notes", MAX_NOTES, problems),
    )
    raise_problems(problems)
    _check_consistent(verdict, decision, problems)
    raise_problems(problems)
    return verdict


def _correct(verdict: Verdict, decision: Decision) -> bool | None:
    return definitions.is_correct(
        decision.decision,
        decision.label_codes,
        verdict.expected_decision,
        [label.code for label in verdict.labels],
    )


def _check_consistent(verdict: Verdict, decision: Decision, problems: list[dict]) -> None:
    """Rules between fields that hold for drafts too, as far as they are filled in."""
    if verdict.expected_decision == "approve" and verdict.labels:
        problems.append(problem("expected_labels", "An approve takes no labels."))
        return
    if verdict.severity is None or verdict.expected_decision is None:
        return
    if verdict.expected_decision == "reject" and not verdict.labels:
        return  # not judged completely yet
    correct = _correct(verdict, decision)
    if correct and verdict.severity != "none":
        problems.append(problem("severity", "The moderator got it right: the severity is none."))
    elif not correct and verdict.severity == "none":
        problems.append(
            problem("severity", "The moderator got it wrong: choose minor, major or critical.")
        )


def check_final(verdict: Verdict, questions: list[ScorecardQuestion]) -> None:
    """What finalising needs on top of a valid draft."""
    problems: list[dict] = []
    if verdict.expected_decision is None:
        problems.append(problem("expected_decision", "Choose the expected decision."))
    elif verdict.expected_decision == "reject" and not verdict.labels:
        problems.append(problem("expected_labels", "A reject needs at least one label."))
    if verdict.severity is None:
        problems.append(problem("severity", "Choose a severity."))
    missing = [q.key for q in questions if q.id not in verdict.answers]
    if missing:
        problems.append(
            problem(
                "answers",
                f"Answer every question before finalising ({len(missing)} left:"
                f" {', '.join(missing[:10])}{'…' if len(missing) > 10 else ''}).",
            )
        )
    raise_problems(problems)


# Writing ------------------------------------------------------------------------------


def _apply(
    inspection: Inspection,
    verdict: Verdict,
    decision: Decision,
    questions: list[ScorecardQuestion],
) -> None:
    inspection.expected_decision = verdict.expected_decision
    inspection.severity = verdict.severity
    inspection.notes = verdict.notes
    current = [il.label_id for il in inspection.expected_labels]
    if current != [label.id for label in verdict.labels]:
        if current:
            inspection.expected_labels.clear()
            db.session.flush()  # positions are a key: remove before re-adding
        inspection.expected_labels.extend(
            InspectionLabel(position=i, label=label) for i, label in enumerate(verdict.labels)
        )
    existing = {a.question_id: a for a in inspection.answers}
    for question_id, answer in list(existing.items()):
        if question_id not in verdict.answers:
            inspection.answers.remove(answer)
    for question_id, value in verdict.answers.items():
        if question_id in existing:
            existing[question_id].answer = value
        else:
            inspection.answers.append(InspectionAnswer(question_id=question_id, answer=value))
    codes = [label.code for label in verdict.labels]
    inspection.decision_match = definitions.decision_matches(
        decision.decision, verdict.expected_decision
    )
    inspection.label_match = definitions.labels_match(
        decision.decision, decision.label_codes, verdict.expected_decision, codes
    )
    complete = verdict.expected_decision is not None and (
        verdict.expected_decision == "approve" or bool(codes)
    )
    inspection.correct = _correct(verdict, decision) if complete else None
    by_id = {q.id: q for q in questions}
    inspection.rubric_score = definitions.rubric_score(
        definitions.Answer(by_id[qid].weight, by_id[qid].critical, value)
        for qid, value in verdict.answers.items()
    )


def _history(inspection: Inspection, source: str, actor: User, reason: str = "") -> None:
    db.session.flush()
    db.session.add(
        InspectionVersion(
            inspection_id=inspection.id,
            version=inspection.version,
            source=source,
            snapshot=snapshot(inspection),
            reason=reason,
            changed_by_id=actor.id,
        )
    )
    db.session.flush()


def _finalise(inspection: Inspection, item: SampleItem | None, now: datetime) -> None:
    inspection.status = "final"
    inspection.finalised_at = now
    if item is not None and item.status == "pending":
        item.status = "inspected"


def _scorecard(decision: Decision, version_id) -> ScorecardVersion | None:
    """The scorecard version to score on: the one asked for (a published or superseded
    version of the decision's policy area), else the published one."""
    if version_id in (None, ""):
        return published_version(decision.policy_area)
    version = None
    if isinstance(version_id, int) and 0 < version_id <= MAX_VERSION:
        version = db.session.get(ScorecardVersion, version_id)
    if (
        version is None
        or version.state == "draft"
        or version.template.policy_area != decision.policy_area
    ):
        raise ValidationFailed(
            "That scorecard version cannot be used for this decision.",
            [
                problem(
                    "template",
                    f"Give a published scorecard version of the {decision.policy_area}"
                    " template, or leave it out to use the current one.",
                )
            ],
        )
    return version


def create_inspection(
    decision: Decision,
    values: Mapping[str, Any],
    *,
    actor: User,
    finalise: bool = False,
    template_version_id=None,
) -> Inspection:
    """Inspect `decision` (from its open sample item, or hand-picked by a QA lead)."""
    if inspection_of(decision) is not None:
        raise Conflict(f"Decision {decision.external_id} already has an inspection.")
    item = open_item_for(decision)
    if not can_inspect_item(actor, item):
        if item is None:
            raise NotAllowed(
                f"Decision {decision.external_id} is not in an open sample; only a QA lead"
                " may inspect it."
            )
        raise NotAllowed(
            f"Item #{public_id(item.id)} is assigned to someone else;"
            " only they or a QA lead may inspect it."
        )
    version = _scorecard(decision, template_version_id)
    questions = questions_of(version)
    verdict = check_verdict(values, decision, questions)
    if finalise:
        check_final(verdict, questions)
    # One clock reading for the whole change: an inspection finalised at creation was
    # created and finalised at the same instant, never a few milliseconds "before".
    now = utcnow()
    inspection = Inspection(
        created_at=now,
        updated_at=now,
        decision=decision,
        vendor_id=decision.vendor_id,
        sample_item=item,
        scorecard_version=version,
        inspector_id=actor.id,
        status="draft",
        purpose=item.sample.purpose if item is not None else "targeted",
        month=months.first_day(decision.decided_at),
        version=1,
    )
    db.session.add(inspection)
    _apply(inspection, verdict, decision, questions)
    if finalise:
        _finalise(inspection, item, now)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # Someone inspected the same decision a moment ago.
        raise Conflict(f"Decision {decision.external_id} already has an inspection.") from None
    _history(inspection, "finalise" if finalise else "create", actor)
    _audit(inspection, "inspection.create", None, actor)
    return inspection


def _claim_version(inspection: Inspection, version) -> None:
    """Move the inspection from `version` to the next one, or refuse when someone saved
    it in between (the database decides, so two saves of one version cannot both win)."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValidationFailed(
            "Say which version you changed.",
            [problem("version", "Give the version you read (an integer).")],
        )
    if not 1 <= version < MAX_VERSION:  # no inspection has such a version: it is stale
        version = 0
    claimed = db.session.execute(
        sa.update(Inspection)
        .where(Inspection.id == inspection.id, Inspection.version == version)
        .values(version=version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.refresh(inspection)
        raise Conflict(
            f"Inspection #{public_id(inspection.id)} was changed by someone else (it is at version"
            f" {inspection.version}, you had version {version}); reload it and apply your"
            " changes again.",
            {"current_version": inspection.version},
        )
    inspection.version = version + 1


def update_inspection(
    inspection: Inspection,
    values: Mapping[str, Any],
    *,
    actor: User,
    version,
    finalise: bool = False,
) -> Inspection:
    """Change a draft (fields not in `values` stay as they are), or finalise it."""
    if inspection.status == "final":
        raise Conflict(
            f"Inspection #{public_id(inspection.id)} is final;"
            " a QA lead may correct it, with a reason."
        )
    if not can_edit_inspection(actor, inspection):
        raise NotAllowed("Only the inspector who made this draft or a QA lead may change it.")
    decision = inspection.decision
    questions = questions_of(inspection.scorecard_version)
    merged = _merged(inspection, values)
    verdict = check_verdict(merged, decision, questions, keep_labels=_labels_of(inspection))
    if finalise:
        check_final(verdict, questions)
    before = snapshot(inspection)
    _claim_version(inspection, version)
    _apply(inspection, verdict, decision, questions)
    now = utcnow()
    inspection.updated_at = now
    if finalise:
        _finalise(inspection, inspection.sample_item, now)
    _history(inspection, "finalise" if finalise else "edit", actor)
    _audit(inspection, "inspection.finalise" if finalise else "inspection.update", before, actor)
    return inspection


def correct_inspection(
    inspection: Inspection,
    values: Mapping[str, Any],
    *,
    actor: User,
    version,
    reason,
) -> Inspection:
    """A QA lead's correction of a final inspection: a reason is required and the
    previous version stays in the history."""
    if inspection.status != "final":
        raise Conflict(f"Inspection #{public_id(inspection.id)} is a draft; change it instead.")
    if not can_correct_inspection(actor, inspection):
        raise NotAllowed("Only a QA lead may correct a final inspection.")
    problems: list[dict] = []
    reason = _text(reason, "reason", MAX_REASON, problems)
    if not problems and not reason:
        problems.append(problem("reason", "Say why the inspection is corrected."))
    raise_problems(problems)
    decision = inspection.decision
    questions = questions_of(inspection.scorecard_version)
    verdict = check_verdict(
        _merged(inspection, values), decision, questions, keep_labels=_labels_of(inspection)
    )
    check_final(verdict, questions)
    before = snapshot(inspection)
    _claim_version(inspection, version)
    _apply(inspection, verdict, decision, questions)
    if snapshot(inspection) == before:
        raise ValidationFailed(
            "The correction changes nothing.",
            [problem("expected_decision", "Change at least one part of the verdict.")],
        )
    _history(inspection, "correction", actor, reason)
    _audit(inspection, "inspection.correct", before, actor, reason)
    return inspection


def _labels_of(inspection: Inspection) -> list[Label]:
    return [il.label for il in inspection.expected_labels]


def _merged(inspection: Inspection, values: Mapping[str, Any]) -> dict:
    """The inspection's current values with `values` laid over them."""
    current = {
        "expected_decision": inspection.expected_decision,
        "expected_labels": label_codes(inspection),
        "severity": inspection.severity,
        "answers": answers_by_key(inspection),
        "notes": inspection.notes,
    }
    current.update({k: v for k, v in values.items() if k in EDITABLE_FIELDS})
    return current


def _audit(
    inspection: Inspection, action: str, before: dict | None, actor: User, reason: str = ""
) -> None:
    decision = inspection.decision
    verb = {
        "inspection.create": "Inspected",
        "inspection.update": "Updated the inspection of",
        "inspection.finalise": "Finalised the inspection of",
        "inspection.correct": "Corrected the inspection of",
    }[action]
    summary = f"{verb} {decision.external_id} ({inspection.status}, v{inspection.version})"
    if reason:
        summary += f": {reason}"
    record(
        db.session,
        action,
        "inspection",
        inspection.id,
        before=before,
        after=snapshot(inspection),
        summary=summary,
        actor=actor,
    )
