"""Samples through the API: `POST /samples` draws one, `GET /samples/<id>` reads one,
`GET /samples` lists them (DESIGN §4, §8, §11).

Drawing needs the `samples:write` scope and the qa_lead role. Anyone with `read` may
read samples; a vendor user sees only its own vendor's closed samples (an open one,
or another vendor's, answers 404 as if it did not exist).
"""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from app.api import bp
from app.api.pagination import Keyset, PageArgsSchema, page_body, page_of, paginate
from app.api.reference import visible_vendor
from app.api.routes import document_errors
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Sample
from app.models.enums import SAMPLE_PURPOSES, SAMPLE_STATES
from app.sampling import queries
from app.sampling.services import checks
from app.sampling.services.checks import inspectors_by_email
from app.sampling.services.draws import draw_sample
from app.security.access import access, api
from app.security.public_ids import public_id
from app.security.roles import ROLE_QA_LEAD, SCOPE_READ, SCOPE_SAMPLES_WRITE
from app.security.scoping import can_see_plans, display_person

SAMPLE_ORDER = Keyset("samples", (Sample.id,))


class SampleRequestSchema(Schema):
    """A draw (DESIGN §11): give `size`, or `margin` (with `confidence`)."""

    vendor = fields.String(
        required=True, validate=validate.Length(min=1, max=20), metadata={"example": "ACME"}
    )
    period_start = fields.Date(
        required=True, metadata={"description": "First day (UTC), inclusive"}
    )
    period_end = fields.Date(
        required=True, metadata={"description": "Last day (UTC), inclusive; before today"}
    )
    size = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=checks.MAX_SIZE),
        metadata={"description": "Items to draw (or give `margin`)"},
    )
    margin = fields.Float(
        allow_none=True,
        validate=validate.Range(min=checks.MIN_MARGIN, max=checks.MAX_MARGIN),
        metadata={"description": "Margin of error as a share, e.g. 0.05 (or give `size`)"},
    )
    confidence = fields.Float(
        allow_none=True,
        validate=validate.Range(min=checks.MIN_CONFIDENCE, max=checks.MAX_CONFIDENCE),
        metadata={"description": "Confidence level for `margin` (default 0.95)"},
    )
    seed = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=checks.MAX_SEED_LENGTH),
        metadata={"description": "Omit: the server generates one and reveals it"},
    )
    strata = fields.List(
        fields.String(validate=validate.OneOf(checks.STRATUM_FIELDS)),
        validate=validate.Length(max=len(checks.STRATUM_FIELDS)),
        metadata={"description": 'Decision fields; default ["policy_area", "decision"]'},
    )
    purpose = fields.String(load_default="contract", validate=validate.OneOf(SAMPLE_PURPOSES))
    inspectors = fields.List(
        fields.Email(validate=validate.Length(max=254)),
        validate=validate.Length(max=checks.MAX_INSPECTORS),
        metadata={"description": "QA people's emails; items are dealt to them round-robin"},
    )
    risk_weights = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=255)),
        values=fields.Float(validate=validate.Range(min=0, max=checks.MAX_WEIGHT)),
        metadata={"description": "Targeted only: {stratum key: weight}, e.g. listing|reject"},
    )


class StratumSchema(Schema):
    population = fields.Integer(required=True)
    allocated = fields.Integer(required=True)
    drawn = fields.Integer(
        required=True, metadata={"description": "Items of the stratum, replacements included"}
    )


class ExclusionsSchema(Schema):
    inspected = fields.Integer(required=True)
    in_open_samples = fields.Integer(required=True)
    total = fields.Integer(required=True)
    digest = fields.String(required=True)


class SampleSummarySchema(Schema):
    """A sample without its item list."""

    id = fields.Integer(required=True)
    vendor = fields.String(required=True)
    plan = fields.Integer(
        allow_none=True,
        metadata={"description": "The sampling plan drawn from; null for vendor users"},
    )
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    size = fields.Integer(allow_none=True, metadata={"description": "The size asked for"})
    margin = fields.Float(allow_none=True)
    confidence = fields.Float(allow_none=True)
    seed = fields.String(required=True)
    strata = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    risk_weights = fields.Dict(keys=fields.String(), values=fields.Float())
    inspectors = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Assignees' emails (pseudonyms such as QA-7 for vendor users)"},
    )
    state = fields.String(required=True)
    method_version = fields.String(required=True)
    population = fields.Integer(required=True)
    per_stratum = fields.Dict(keys=fields.String(), values=fields.Nested(StratumSchema))
    population_digests = fields.Dict(keys=fields.String(), values=fields.String())
    exclusions = fields.Nested(ExclusionsSchema)
    created_at = fields.DateTime(required=True)
    closed_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)


class SampleSchema(SampleSummarySchema):
    items = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Drawn decisions' external ids in draw order, then replacements"},
    )


class SampleArgsSchema(PageArgsSchema):
    vendor = fields.String(validate=validate.Length(min=1, max=20))
    state = fields.String(validate=validate.OneOf(SAMPLE_STATES))
    purpose = fields.String(validate=validate.OneOf(SAMPLE_PURPOSES))


def _inspectors(sample_ids: list[int]) -> dict[int, list[str]]:
    """Each sample's assignees in the order they first appear: emails, or for vendor
    users the stable pseudonyms they know QA people by (DESIGN §1)."""
    return {
        sample_id: [display_person(current_user, user, email=True) for user in users]
        for sample_id, users in queries.assignees(sample_ids).items()
    }


def _summary(sample: Sample, inspectors: list[str]) -> dict:
    return {
        "id": public_id(sample.id),
        "vendor": sample.vendor.code,
        "plan": sample.plan_id if can_see_plans(current_user) else None,
        "period_start": sample.period_start,
        "period_end": sample.period_end,
        "size": sample.requested_size,
        "margin": sample.margin,
        "confidence": sample.confidence,
        "seed": sample.seed,
        "strata": list(sample.strata),
        "purpose": sample.purpose,
        "risk_weights": dict(sample.risk_weights or {}),
        "inspectors": inspectors,
        "state": sample.state,
        "method_version": sample.method_version,
        "population": sample.population,
        "per_stratum": sample.per_stratum,
        "population_digests": sample.population_digests,
        "exclusions": sample.exclusions,
        "created_at": sample.created_at,
        "closed_at": sample.closed_at,
        "cancelled_at": sample.cancelled_at,
    }


def sample_body(sample: Sample) -> dict:
    """A sample as the API shows it: its summary and its items' external ids."""
    return {
        **_summary(sample, _inspectors([sample.id])[sample.id]),
        "items": queries.drawn_external_ids(sample),
    }


@bp.route("/samples", methods=["POST"])
@access(api(SCOPE_SAMPLES_WRITE, ROLE_QA_LEAD))
@bp.arguments(SampleRequestSchema)
@bp.response(201, SampleSchema)
@document_errors(
    (400, "The body is not valid JSON"),
    (409, "Decisions kept changing while drawing; try again"),
    (422, "Some fields are not valid; `details` names each (`field`, `message`)"),
)
def create_sample(args):
    """Draw a sample by the published method (DESIGN §4); the seed is revealed."""
    vendor = queries.vendor_by_code(args["vendor"], current_user)
    if vendor is None:
        raise ValidationFailed(
            f"No vendor has the code {args['vendor']!r}.",
            [{"field": "vendor", "message": f"No vendor has the code {args['vendor']!r}."}],
        )
    inspectors = inspectors_by_email(args.get("inspectors") or [])
    sample = draw_sample(
        vendor=vendor,
        period_start=args["period_start"],
        period_end=args["period_end"],
        strata=args.get("strata"),
        size=args.get("size"),
        margin=args.get("margin"),
        confidence=args.get("confidence"),
        purpose=args.get("purpose"),
        seed=args.get("seed"),
        risk_weights=args.get("risk_weights"),
        inspectors=inspectors,
        actor=current_user,
    )
    db.session.commit()
    return sample_body(sample)


@bp.route("/samples/<ref:sample_id>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, SampleSchema)
@document_errors((404, "No such sample, or not one the caller may see"))
def get_sample(sample_id: int):
    """One sample with its items; vendor users see only their own closed samples."""
    sample = queries.visible_sample(sample_id, current_user)
    if sample is None:
        raise NotFound(f"No sample #{public_id(sample_id)}.")
    return sample_body(sample)


@bp.route("/samples", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(SampleArgsSchema, location="query")
@bp.response(200, page_of(SampleSummarySchema))
@document_errors((404, "The vendor filter names a vendor the caller may not see"))
def list_samples(args):
    """Samples by id (without their item lists), with filters."""
    vendor = visible_vendor(args["vendor"]) if args.get("vendor") else None
    stmt = queries.samples(
        current_user, vendor=vendor, state=args.get("state"), purpose=args.get("purpose")
    )
    # The id column is selected too: the cursor is made from it.
    stmt = stmt.add_columns(Sample.id)
    page = paginate(stmt, SAMPLE_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    samples = [row[0] for row in page.rows]
    inspectors = _inspectors([s.id for s in samples])
    return page_body([_summary(s, inspectors[s.id]) for s in samples], page)
