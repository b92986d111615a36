"""Scorecard template operations (DESIGN §2 "Scorecard template", §3 rubric score).

One template per policy area; each template has numbered versions. A version starts
as a `draft` that a QA lead edits freely; publishing it makes it the rubric every new
inspection of that policy area is scored on, and the version published before it
becomes `superseded`. Published and superseded versions never change (inspections
record the version they used, so their scores stay explainable); editing a published
rubric means making a new draft from it. A template has at most one draft at a time.

Every operation takes the acting user, validates, flushes and records its audit event;
the caller commits once. Changes to one template are serialised by a row lock on the
template, so two leads acting at once never both win (e.g. two publishes, or two new
drafts). What a valid rubric is lives in `rubric.py`; reads in `queries.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from app.audit.services import record
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Inspection,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardTemplate,
    ScorecardVersion,
    User,
)
from app.models.enums import POLICY_AREA_NAMES, POLICY_AREAS
from app.scorecards.queries import DRAFT, PUBLISHED, SUPERSEDED, current_of, question_count
from app.scorecards.rubric import clean, fingerprint, normalise_sections
from app.validation import (
    CONTROL_MESSAGE,
    TEXT_WHITESPACE,
    has_control_characters,
    problem,
    raise_problems,
)

NAME_MAX = 120
DESCRIPTION_MAX = 2000


# The stored rubric ---------------------------------------------------------------------


def rubric(version: ScorecardVersion | int) -> list[dict]:
    """A version's sections and questions as plain data, read straight from the
    database (not from objects loaded earlier): what an audit event, a revision
    fingerprint and an immutability check compare."""
    version_id = version if isinstance(version, int) else version.id
    s, q = ScorecardSection, ScorecardQuestion
    rows = db.session.execute(
        sa.select(
            s.id,
            s.title,
            q.key,
            q.text,
            q.guidance,
            q.weight,
            q.critical,
            q.allow_na,
        )
        .select_from(s)
        .outerjoin(q, q.section_id == s.id)
        .where(s.version_id == version_id)
        .order_by(s.position, q.position)
    )
    sections: list[dict] = []
    by_id: dict[int, dict] = {}
    for section_id, title, key, text, guidance, weight, critical, allow_na in rows:
        if section_id not in by_id:
            by_id[section_id] = {"title": title, "questions": []}
            sections.append(by_id[section_id])
        if key is not None:
            by_id[section_id]["questions"].append(
                {
                    "key": key,
                    "text": text,
                    "guidance": guidance or "",
                    "weight": float(weight),
                    "critical": bool(critical),
                    "allow_na": bool(allow_na),
                }
            )
    return sections


def revision(version: ScorecardVersion) -> str:
    """A fingerprint of a version's content: the editor sends back the one it showed,
    so a save over someone else's newer save is refused instead of silently lost."""
    return fingerprint(rubric(version))


# Audit states --------------------------------------------------------------------------


def template_state(template: ScorecardTemplate) -> dict:
    return {
        "name": template.name,
        "policy_area": template.policy_area,
        "description": template.description,
    }


def version_state(version: ScorecardVersion) -> dict:
    return {
        "version_id": version.id,
        "number": version.number,
        "state": version.state,
        "published_at": version.published_at.isoformat() if version.published_at else None,
        "published_by_id": version.published_by_id,
    }


# Templates -----------------------------------------------------------------------------


def _check_details(name: str, description: str) -> list[dict]:
    problems = []
    if not name:
        problems.append(problem("name", "A name is required."))
    elif len(name) > NAME_MAX:
        problems.append(problem("name", f"At most {NAME_MAX} characters."))
    elif has_control_characters(name):
        problems.append(problem("name", CONTROL_MESSAGE))
    if len(description) > DESCRIPTION_MAX:
        problems.append(problem("description", f"At most {DESCRIPTION_MAX} characters."))
    elif has_control_characters(description, TEXT_WHITESPACE):
        problems.append(problem("description", CONTROL_MESSAGE))
    return problems


def _name_taken(name: str, exclude_id: int | None = None) -> ScorecardTemplate | None:
    stmt = sa.select(ScorecardTemplate).where(sa.func.lower(ScorecardTemplate.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(ScorecardTemplate.id != exclude_id)
    return db.session.scalar(stmt.limit(1))


def _area_taken(policy_area: str) -> ScorecardTemplate | None:
    return db.session.scalar(
        sa.select(ScorecardTemplate).where(ScorecardTemplate.policy_area == policy_area)
    )


def _name_problem() -> dict:
    return problem("name", "Another scorecard template already has this name.")


def _area_problem(policy_area: str, existing: ScorecardTemplate | None) -> dict:
    area = POLICY_AREA_NAMES.get(policy_area, policy_area)
    named = f" ({existing.name})" if existing is not None else ""
    return problem(
        "policy_area",
        f"The {area} policy area already has a scorecard template{named}; there is one "
        "template per policy area. Make a new version of that one instead.",
    )


def _uniqueness_problems(
    name: str, policy_area: str | None, exclude_id: int | None = None
) -> list[dict]:
    problems = []
    if _name_taken(name, exclude_id) is not None:
        problems.append(_name_problem())
    if policy_area is not None:
        existing = _area_taken(policy_area)
        if existing is not None:
            problems.append(_area_problem(policy_area, existing))
    return problems


def _flush_unique(name: str, policy_area: str | None, exclude_id: int | None = None) -> None:
    """Flush in a savepoint, so that a concurrent insert of the same name or policy area
    surfaces as a field error rather than a broken transaction."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        problems = _uniqueness_problems(name, policy_area, exclude_id)
        raise_problems(problems or [_name_problem()])


def create_template(
    *, name: str, policy_area: str, description: str = "", actor: User | None
) -> ScorecardTemplate:
    """A new template for a policy area that has none, with version 1 as an empty draft.
    Raises ValidationFailed naming every bad field."""
    name = clean(name)
    policy_area = clean(policy_area)
    description = clean(description)
    problems = _check_details(name, description)
    if policy_area not in POLICY_AREAS:
        names = ", ".join(POLICY_AREA_NAMES[a] for a in POLICY_AREAS)
        problems.append(problem("policy_area", f"Choose a policy area: {names}."))
    if not problems:
        problems = _uniqueness_problems(name, policy_area)
    raise_problems(problems)

    template = ScorecardTemplate(
        name=name,
        policy_area=policy_area,
        description=description,
        created_by_id=actor.id if actor else None,
    )
    template.versions.append(ScorecardVersion(number=1, state=DRAFT))
    db.session.add(template)
    _flush_unique(name, policy_area)
    record(
        db.session,
        "scorecard.create",
        "scorecard_template",
        template.id,
        after={**template_state(template), "draft": version_state(template.versions[0])},
        summary=f"created scorecard template {name} ({policy_area}) with draft version 1",
        actor=actor,
    )
    return template


def update_template(
    template: ScorecardTemplate, *, name: str, description: str = "", actor: User | None
) -> bool:
    """Change a template's name and description (its policy area is fixed: inspections
    find their rubric by it). Returns False when nothing changed."""
    name = clean(name)
    description = clean(description)
    problems = _check_details(name, description)
    if not problems and _name_taken(name, template.id) is not None:
        problems = [_name_problem()]
    raise_problems(problems)
    before = template_state(template)
    template.name = name
    template.description = description
    after = template_state(template)
    if after == before:
        return False
    _flush_unique(name, None, template.id)
    changed = sorted(k for k in after if after[k] != before[k])
    record(
        db.session,
        "scorecard.update",
        "scorecard_template",
        template.id,
        before=before,
        after=after,
        summary=f"updated scorecard template {name}: {', '.join(changed)}",
        actor=actor,
    )
    return True


# Locking -------------------------------------------------------------------------------


def _lock(template_id: int) -> None:
    """Serialise changes to one template's versions: a row lock on PostgreSQL (SQLite
    writers already hold the database's write lock). What is read after it is current."""
    db.session.execute(
        sa.select(ScorecardTemplate.id).where(ScorecardTemplate.id == template_id).with_for_update()
    )


def _versions(template_id: int) -> list[ScorecardVersion]:
    """The template's versions as they stand now (refreshing objects loaded earlier)."""
    return list(
        db.session.scalars(
            sa.select(ScorecardVersion)
            .where(ScorecardVersion.template_id == template_id)
            .order_by(ScorecardVersion.number)
            .execution_options(populate_existing=True)
        )
    )


def _current(version: ScorecardVersion) -> ScorecardVersion:
    """Lock the version's template and re-read the version's state."""
    number = version.number
    _lock(version.template_id)
    try:
        db.session.refresh(version)
    except InvalidRequestError:  # deleted meanwhile (a discarded draft)
        raise NotFound(f"Version {number} no longer exists.") from None
    return version


def _immutable(version: ScorecardVersion) -> Conflict:
    return Conflict(
        f"Version {version.number} is {version.state} and can no longer change; "
        "make a new draft from the published version to edit the rubric."
    )


def _used_by_inspections(version: ScorecardVersion) -> bool:
    return (
        db.session.scalar(
            sa.select(Inspection.id).where(Inspection.scorecard_version_id == version.id).limit(1)
        )
        is not None
    )


# Drafts --------------------------------------------------------------------------------


def save_draft(
    version: ScorecardVersion,
    sections: list[dict],
    *,
    actor: User | None,
    expected_revision: str | None = None,
) -> bool:
    """Replace a draft's sections and questions, all or nothing. ValidationFailed names
    every bad field (`sections[i].questions[j].key`, ...); a version that is not a
    draft is immutable (Conflict), and so is one changed since `expected_revision`.
    Returns False when the rubric was already exactly this."""
    cleaned, problems = normalise_sections(sections)
    raise_problems(problems)
    _current(version)
    if version.state != DRAFT:
        raise _immutable(version)
    before = rubric(version)
    if expected_revision is not None and expected_revision != fingerprint(before):
        raise Conflict(
            "Someone else saved this draft while you were editing it; your changes were not saved."
        )
    if cleaned == before:
        return False
    if _used_by_inspections(version):
        raise Conflict(f"Inspections were scored on version {version.number}; it cannot change.")

    # Old rows go first, in their own statements: keys and positions are unique per
    # version, so the new rows must not meet the old ones.
    db.session.execute(
        sa.delete(ScorecardQuestion).where(ScorecardQuestion.version_id == version.id)
    )
    db.session.execute(sa.delete(ScorecardSection).where(ScorecardSection.version_id == version.id))
    db.session.expire(version, ["sections"])
    _add_rubric(version, cleaned)
    db.session.flush()
    record(
        db.session,
        "scorecard.draft_save",
        "scorecard_template",
        version.template_id,
        before={**version_state(version), "sections": before},
        after={**version_state(version), "sections": cleaned},
        summary=(
            f"saved draft version {version.number} of {version.template.name}: "
            f"{len(cleaned)} sections, {sum(len(s['questions']) for s in cleaned)} questions"
        ),
        actor=actor,
    )
    return True


def _add_rubric(version: ScorecardVersion, sections: list[dict]) -> None:
    db.session.flush()  # the version has its id
    for s_pos, data in enumerate(sections, start=1):
        section = ScorecardSection(position=s_pos, title=data["title"])
        version.sections.append(section)
        for q_pos, q in enumerate(data["questions"], start=1):
            section.questions.append(
                ScorecardQuestion(
                    version_id=version.id,
                    position=q_pos,
                    key=q["key"],
                    text=q["text"],
                    guidance=q["guidance"],
                    weight=q["weight"],
                    critical=q["critical"],
                    allow_na=q["allow_na"],
                )
            )


def publish(version: ScorecardVersion, *, actor: User | None) -> ScorecardVersion:
    """Make a draft the template's published rubric; the version published before it
    becomes superseded. The draft needs at least one question."""
    _current(version)
    if version.state != DRAFT:
        raise Conflict(f"Version {version.number} is already {version.state}.")
    if question_count(version) == 0:
        raise ValidationFailed(
            "Add at least one question before publishing.",
            [problem("sections", "Add at least one question before publishing.")],
        )
    previous = None
    for other in _versions(version.template_id):
        if other.state == PUBLISHED and other.id != version.id:
            other.state = SUPERSEDED
            previous = other.number
    before = {**version_state(version), "published_version": previous}
    version.state = PUBLISHED
    version.published_at = datetime.now(UTC)
    version.published_by_id = actor.id if actor else None
    db.session.flush()
    was = f"; version {previous} superseded" if previous is not None else ""
    record(
        db.session,
        "scorecard.publish",
        "scorecard_template",
        version.template_id,
        before=before,
        after={**version_state(version), "published_version": version.number},
        summary=f"published version {version.number} of {version.template.name}{was}",
        actor=actor,
    )
    return version


def new_draft(template: ScorecardTemplate, *, actor: User | None) -> ScorecardVersion:
    """A new draft (number = highest + 1) holding a copy of the published rubric.
    Refused (Conflict) when the template already has a draft."""
    _lock(template.id)
    versions = _versions(template.id)
    draft = next((v for v in versions if v.state == DRAFT), None)
    if draft is not None:
        raise Conflict(
            f"Version {draft.number} is already a draft of this template; edit it, or "
            "discard it first."
        )
    published = next((v for v in versions if v.state == PUBLISHED), None)
    content = rubric(published) if published is not None else []
    number = max((v.number for v in versions), default=0) + 1
    version = ScorecardVersion(template_id=template.id, number=number, state=DRAFT)
    db.session.add(version)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("Someone else made a new version at the same time; reload.") from None
    _add_rubric(version, content)
    db.session.flush()
    db.session.expire(template, ["versions"])
    source = f" from version {published.number}" if published is not None else ""
    record(
        db.session,
        "scorecard.new_draft",
        "scorecard_template",
        template.id,
        after={
            **version_state(version),
            "copied_from": published.number if published is not None else None,
        },
        summary=f"made draft version {number} of {template.name}{source}",
        actor=actor,
    )
    return version


def discard_draft(version: ScorecardVersion, *, actor: User | None) -> None:
    """Delete a draft. Only when its template has a published version: otherwise the
    draft is all the template has, and is edited instead."""
    _current(version)
    if version.state != DRAFT:
        raise _immutable(version)
    if current_of(version.template) is None:
        raise Conflict(
            f"Version {version.number} is the template's only content (nothing is "
            "published yet); edit it instead of discarding it."
        )
    if _used_by_inspections(version):
        raise Conflict(f"Inspections were scored on version {version.number}; it is kept.")
    template = version.template
    before = {**version_state(version), "sections": rubric(version)}
    db.session.delete(version)
    db.session.flush()
    db.session.expire(template, ["versions"])
    record(
        db.session,
        "scorecard.discard",
        "scorecard_template",
        template.id,
        before=before,
        summary=f"discarded draft version {before['number']} of {template.name}",
        actor=actor,
    )
