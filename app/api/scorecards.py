"""Scorecard templates through the API (DESIGN §2, §8): `GET /scorecards` lists the
templates with the rubric each one publishes now; `GET /scorecards/versions/<id>` reads
one version, e.g. the one an inspection was scored on.

Any role may read them with the `read` scope: templates are not vendor-owned, and
vendors should know the rubric they are judged on. Draft versions are for QA and
admins only; to anyone else a draft answers 404, as if it did not exist.
"""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from app.api import bp
from app.api.pagination import Keyset, PageArgsSchema, page_body, page_of, paginate
from app.api.routes import document_errors
from app.errors import NotFound
from app.models import ScorecardTemplate, ScorecardVersion
from app.models.enums import POLICY_AREAS, TEMPLATE_VERSION_STATES
from app.scorecards import queries
from app.security.access import access, api
from app.security.roles import SCOPE_READ

TEMPLATE_ORDER = Keyset("scorecards", (ScorecardTemplate.id,))


class ScorecardQuestionSchema(Schema):
    """One rubric question; inspections answer it by `key` with yes, no or na."""

    key = fields.String(required=True, metadata={"example": "policy_applied"})
    text = fields.String(required=True)
    guidance = fields.String(required=True)
    weight = fields.Float(required=True, metadata={"description": "Greater than 0, at most 100"})
    critical = fields.Boolean(
        required=True, metadata={"description": "Answered `no`, it makes the rubric score 0"}
    )
    allow_na = fields.Boolean(required=True, metadata={"description": "Whether `na` is allowed"})


class ScorecardSectionSchema(Schema):
    title = fields.String(required=True)
    questions = fields.List(fields.Nested(ScorecardQuestionSchema), required=True)


class ScorecardVersionSchema(Schema):
    """A version of a template's rubric, its sections and questions in rubric order."""

    id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(TEMPLATE_VERSION_STATES))
    created_at = fields.DateTime(required=True)
    published_at = fields.DateTime(required=True, allow_none=True)
    sections = fields.List(fields.Nested(ScorecardSectionSchema), required=True)


class ScorecardTemplateRefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    policy_area = fields.String(required=True, validate=validate.OneOf(POLICY_AREAS))


class ScorecardSchema(ScorecardTemplateRefSchema):
    """A template with the version inspections of its policy area use now."""

    description = fields.String(required=True)
    published_version = fields.Nested(
        ScorecardVersionSchema,
        required=True,
        allow_none=True,
        metadata={"description": "null while nothing is published"},
    )


class ScorecardVersionDetailSchema(ScorecardVersionSchema):
    template = fields.Nested(ScorecardTemplateRefSchema, required=True)


class ScorecardArgsSchema(PageArgsSchema):
    policy_area = fields.String(validate=validate.OneOf(POLICY_AREAS))


def version_body(version: ScorecardVersion) -> dict:
    return {
        "id": version.id,
        "number": version.number,
        "state": version.state,
        "created_at": version.created_at,
        "published_at": version.published_at,
        "sections": [
            {
                "title": section.title,
                "questions": [
                    {
                        "key": q.key,
                        "text": q.text,
                        "guidance": q.guidance or "",
                        "weight": q.weight,
                        "critical": q.critical,
                        "allow_na": q.allow_na,
                    }
                    for q in section.questions
                ],
            }
            for section in version.sections
        ],
    }


def _ref(template: ScorecardTemplate) -> dict:
    return {"id": template.id, "name": template.name, "policy_area": template.policy_area}


@bp.route("/scorecards", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(ScorecardArgsSchema, location="query")
@bp.response(200, page_of(ScorecardSchema))
@document_errors()
def list_scorecards(args):
    """Scorecard templates by id, each with its published version's rubric."""
    stmt = queries.templates(args.get("policy_area", "")).add_columns(ScorecardTemplate.id)
    page = paginate(stmt, TEMPLATE_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    templates = [row[0] for row in page.rows]
    published = queries.published_by_template([t.id for t in templates])
    items = [
        {
            **_ref(t),
            "description": t.description or "",
            "published_version": (version_body(published[t.id]) if t.id in published else None),
        }
        for t in templates
    ]
    return page_body(items, page)


@bp.route("/scorecards/versions/<id:version_id>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, ScorecardVersionDetailSchema)
@document_errors((404, "No such version, or a draft the caller may not see"))
def get_scorecard_version(version_id: int):
    """One version of a rubric (published, superseded, or for QA and admins a draft)."""
    version = queries.version(version_id, current_user)
    if version is None:
        raise NotFound(f"No scorecard version #{version_id}.")
    return {**version_body(version), "template": _ref(version.template)}
