"""Reading scorecard templates and their versions, for the pages, the API and the
inspections (which score on the version published for their policy area).

Templates are not vendor-owned: everyone reads them and their published and
superseded versions. Draft versions are for those who may see drafts
(`can_see_scorecard_drafts`); to anyone else a draft does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    AuditEvent,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardTemplate,
    ScorecardVersion,
    User,
)
from app.models.enums import POLICY_AREAS
from app.security.predicates import can_see_scorecard_drafts

DRAFT = "draft"
PUBLISHED = "published"
SUPERSEDED = "superseded"


def _rubric_loaded():
    return selectinload(ScorecardVersion.sections).selectinload(ScorecardSection.questions)


def _may_see(user: User | None, version: ScorecardVersion) -> bool:
    return version.state != DRAFT or can_see_scorecard_drafts(user)


# Templates ------------------------------------------------------------------------------


def templates(policy_area: str = "") -> sa.Select:
    """The templates (of one policy area, if given), in no particular order."""
    stmt = sa.select(ScorecardTemplate)
    if policy_area:
        stmt = stmt.where(ScorecardTemplate.policy_area == policy_area)
    return stmt


def in_area_order(stmt: sa.Select) -> sa.Select:
    """Templates in the order the policy areas are listed everywhere."""
    order = sa.case({a: n for n, a in enumerate(POLICY_AREAS)}, value=ScorecardTemplate.policy_area)
    return stmt.order_by(order, ScorecardTemplate.id)


def free_areas() -> list[str]:
    """The policy areas that have no template yet."""
    taken = set(db.session.scalars(sa.select(ScorecardTemplate.policy_area)))
    return [a for a in POLICY_AREAS if a not in taken]


def template(template_id: int) -> ScorecardTemplate | None:
    return db.session.get(ScorecardTemplate, template_id)


@dataclass(frozen=True)
class TemplateRow:
    """One line of the templates list."""

    template: ScorecardTemplate
    published: ScorecardVersion | None
    has_draft: bool
    questions: int


def template_rows(templates: list[ScorecardTemplate]) -> list[TemplateRow]:
    """The published version, draft flag and published question count of each template,
    counted by the database in two grouped queries."""
    ids = [t.id for t in templates]
    if not ids:
        return []
    versions = db.session.scalars(
        sa.select(ScorecardVersion).where(
            ScorecardVersion.template_id.in_(ids),
            ScorecardVersion.state.in_((PUBLISHED, DRAFT)),
        )
    ).all()
    published = {v.template_id: v for v in versions if v.state == PUBLISHED}
    drafts = {v.template_id for v in versions if v.state == DRAFT}
    counts = dict(
        db.session.execute(
            sa.select(ScorecardQuestion.version_id, sa.func.count())
            .where(ScorecardQuestion.version_id.in_([v.id for v in published.values()] or [0]))
            .group_by(ScorecardQuestion.version_id)
        )
        .tuples()
        .all()
    )
    return [
        TemplateRow(
            template=t,
            published=published.get(t.id),
            has_draft=t.id in drafts,
            questions=counts.get(published[t.id].id, 0) if t.id in published else 0,
        )
        for t in templates
    ]


def history(template: ScorecardTemplate, limit: int) -> list[AuditEvent]:
    """The latest audit events of a template and its versions, newest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.object_type == "scorecard_template",
                AuditEvent.object_id == str(template.id),
            )
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    )


# Versions -------------------------------------------------------------------------------


def published_version(policy_area: str) -> ScorecardVersion | None:
    """The version inspections of `policy_area` use now: its template's published one."""
    return db.session.scalar(
        sa.select(ScorecardVersion)
        .join(ScorecardTemplate, ScorecardTemplate.id == ScorecardVersion.template_id)
        .where(ScorecardTemplate.policy_area == policy_area, ScorecardVersion.state == PUBLISHED)
        .order_by(ScorecardVersion.number.desc())
        .limit(1)
    )


def current_of(template: ScorecardTemplate) -> ScorecardVersion | None:
    """The template's published version, if it has one."""
    return db.session.scalar(
        sa.select(ScorecardVersion).where(
            ScorecardVersion.template_id == template.id, ScorecardVersion.state == PUBLISHED
        )
    )


def published_by_template(template_ids: list[int]) -> dict[int, ScorecardVersion]:
    """The published version of each of these templates, rubric loaded, by template id."""
    if not template_ids:
        return {}
    return {
        v.template_id: v
        for v in db.session.scalars(
            sa.select(ScorecardVersion)
            .where(
                ScorecardVersion.template_id.in_(template_ids),
                ScorecardVersion.state == PUBLISHED,
            )
            .options(_rubric_loaded())
        )
    }


def versions_for(template: ScorecardTemplate, user: User) -> list[ScorecardVersion]:
    """The template's versions `user` may see, newest first."""
    visible = [v for v in template.versions if _may_see(user, v)]
    return sorted(visible, key=lambda v: v.number, reverse=True)


def version(
    version_id: int, user: User | None, template: ScorecardTemplate | None = None
) -> ScorecardVersion | None:
    """A version (of `template`, if given) with its rubric, if `user` may see it."""
    stmt = (
        sa.select(ScorecardVersion)
        .where(ScorecardVersion.id == version_id)
        .options(_rubric_loaded(), selectinload(ScorecardVersion.template))
    )
    if template is not None:
        stmt = stmt.where(ScorecardVersion.template_id == template.id)
    found = db.session.scalar(stmt)
    return found if found is not None and _may_see(user, found) else None


def with_rubric(version: ScorecardVersion | None) -> ScorecardVersion | None:
    """The version with its sections and questions loaded (for showing the rubric)."""
    if version is None:
        return None
    return db.session.scalar(
        sa.select(ScorecardVersion)
        .where(ScorecardVersion.id == version.id)
        .options(_rubric_loaded())
    )


def version_questions(version: ScorecardVersion) -> list[ScorecardQuestion]:
    """The version's questions in rubric order: section position, then question position."""
    return list(
        db.session.scalars(
            sa.select(ScorecardQuestion)
            .join(ScorecardSection, ScorecardSection.id == ScorecardQuestion.section_id)
            .where(ScorecardQuestion.version_id == version.id)
            .order_by(ScorecardSection.position, ScorecardQuestion.position)
        )
    )


def question_count(version: ScorecardVersion) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ScorecardQuestion)
            .where(ScorecardQuestion.version_id == version.id)
        )
        or 0
    )
