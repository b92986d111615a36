"""Inspections through the API (DESIGN §8, §11): `POST /inspections` (409 when the
decision has one), `PATCH /inspections/<id>` with the `version` read (409 when
stale; a QA lead corrects a final inspection by giving a `reason`),
`GET /inspections/<id>` and `GET /inspections?vendor=&month=`.

Writing needs the `inspections:write` scope and a QA role. Anyone with `read` reads;
a vendor user sees only final inspections of its own vendor, with inspectors shown
as pseudonyms, and only the history from finalisation on.
"""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import selectinload

from app.api import bp
from app.api.pagination import Keyset, PageArgsSchema, page_body, page_of, paginate
from app.api.reference import visible_vendor
from app.api.routes import document_errors
from app.api.schemas import Month
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.inspections import queries, services
from app.models import Inspection
from app.models.enums import INSPECTION_STATUSES, SAMPLE_PURPOSES
from app.security.access import access, api
from app.security.public_ids import public_id
from app.security.roles import ROLE_QA_INSPECTOR, ROLE_QA_LEAD, SCOPE_INSPECTIONS_WRITE, SCOPE_READ
from app.security.scoping import (
    can_see,
    can_see_work_in_progress,
    display_person,
    shown_created_at,
    shown_version,
    visible_history,
)
from app.validation import has_control_characters

INSPECTION_ORDER = Keyset("inspections", (Inspection.id,))
WRITE = api(SCOPE_INSPECTIONS_WRITE, ROLE_QA_LEAD, ROLE_QA_INSPECTOR)


class _VerdictFields(Schema):
    expected_decision = fields.String(
        allow_none=True, metadata={"description": "approve or reject"}
    )
    expected_labels = fields.List(
        fields.String(validate=validate.Length(max=64)),
        validate=validate.Length(max=services.MAX_LABELS),
        metadata={"description": "Label codes, the expected primary label first"},
    )
    severity = fields.String(
        allow_none=True,
        metadata={"description": "none (exactly when correct), minor, major or critical"},
    )
    answers = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.String(allow_none=True),
        metadata={"description": "Rubric answers: question key → yes, no or na"},
    )
    notes = fields.String(metadata={"description": f"At most {services.MAX_NOTES:,} characters"})
    status = fields.String(
        validate=validate.OneOf(INSPECTION_STATUSES),
        metadata={"description": "draft, or final to finalise (every question answered)"},
    )


class InspectionRequestSchema(_VerdictFields):
    decision = fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "The decision's external_id"},
    )
    template = fields.Integer(
        allow_none=True,
        metadata={"description": "A published scorecard version id; default the current one"},
    )


class InspectionPatchSchema(_VerdictFields):
    version = fields.Integer(
        required=True, metadata={"description": "The version you read; 409 if it moved on"}
    )
    reason = fields.String(
        metadata={"description": "QA leads only: the reason for correcting a final inspection"}
    )


class HistorySchema(Schema):
    version = fields.Integer(required=True)
    source = fields.String(required=True)
    changed_at = fields.DateTime(required=True)
    changed_by = fields.String(allow_none=True)
    reason = fields.String(required=True)
    snapshot = fields.Dict(required=True)


class InspectionSchema(Schema):
    id = fields.Integer(required=True)
    decision = fields.String(required=True, metadata={"description": "external_id"})
    vendor = fields.String(required=True)
    month = fields.String(required=True, metadata={"description": "YYYY-MM of the decision"})
    purpose = fields.String(required=True, metadata={"description": "contract or targeted"})
    sample = fields.Integer(allow_none=True)
    expected_decision = fields.String(allow_none=True)
    expected_labels = fields.List(fields.String(), required=True)
    severity = fields.String(allow_none=True)
    answers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    notes = fields.String(required=True)
    status = fields.String(required=True)
    template = fields.Integer(allow_none=True, metadata={"description": "Scorecard version id"})
    version = fields.Integer(required=True)
    inspector = fields.String(
        required=True, metadata={"description": "Email; a pseudonym such as QA-7 for vendors"}
    )
    rubric_score = fields.Float(allow_none=True)
    correct = fields.Boolean(allow_none=True)
    created_at = fields.DateTime(required=True)
    finalised_at = fields.DateTime(allow_none=True)
    history = fields.List(fields.Nested(HistorySchema), required=True)


class InspectionSummarySchema(InspectionSchema):
    class Meta:
        exclude = ("history",)


class InspectionArgsSchema(PageArgsSchema):
    vendor = fields.String(validate=validate.Length(min=1, max=20))
    month = Month(metadata={"description": "YYYY-MM: decisions made in that month (UTC)"})
    status = fields.String(validate=validate.OneOf(INSPECTION_STATUSES))
    purpose = fields.String(validate=validate.OneOf(SAMPLE_PURPOSES))
    inspector = fields.Email(
        validate=validate.Length(max=254),
        metadata={"description": "The inspector's email; ignored for vendor users"},
    )


def _summary(inspection: Inspection) -> dict:
    item = inspection.sample_item
    return {
        "id": public_id(inspection.id),
        "decision": inspection.decision.external_id,
        "vendor": inspection.decision.vendor.code,
        "month": inspection.month.strftime("%Y-%m"),
        "purpose": inspection.purpose,
        "sample": (
            public_id(item.sample_id) if item is not None and can_see(current_user, item) else None
        ),
        "expected_decision": inspection.expected_decision,
        "expected_labels": services.label_codes(inspection),
        "severity": inspection.severity,
        "answers": services.answers_by_key(inspection),
        "notes": inspection.notes,
        "status": inspection.status,
        "template": inspection.scorecard_version_id,
        "version": shown_version(current_user, inspection),
        "inspector": display_person(current_user, inspection.inspector, email=True),
        "rubric_score": inspection.rubric_score,
        "correct": inspection.correct,
        "created_at": shown_created_at(current_user, inspection),
        "finalised_at": inspection.finalised_at,
    }


def inspection_body(inspection: Inspection) -> dict:
    history = [
        {
            "version": shown_version(current_user, inspection, h.version),
            "source": h.source,
            "changed_at": h.changed_at,
            "changed_by": (
                display_person(current_user, h.changed_by, email=True) if h.changed_by else None
            ),
            "reason": h.reason,
            "snapshot": h.snapshot,
        }
        for h in visible_history(current_user, inspection)
    ]
    return {**_summary(inspection), "history": history}


def _visible_or_404(inspection_id: int) -> Inspection:
    inspection = queries.get(inspection_id, current_user)
    if inspection is None:
        raise NotFound(f"No inspection #{public_id(inspection_id)}.")
    return inspection


def _verdict(args: dict) -> dict:
    return {k: v for k, v in args.items() if k in services.EDITABLE_FIELDS}


@bp.route("/inspections", methods=["POST"])
@access(WRITE)
@bp.arguments(InspectionRequestSchema)
@bp.response(201, InspectionSchema)
@document_errors(
    (400, "The body is not valid JSON"),
    (409, "The decision already has an inspection"),
    (422, "Some fields are not valid; `details` names each (`field`, `message`)"),
)
def create_inspection(args):
    """Inspect a decision of an open sample (QA leads: any decision); `status: final`
    finalises at once."""
    decision = None
    if not has_control_characters(args["decision"]):
        decision = queries.decision_named(args["decision"])
    if decision is None:
        raise ValidationFailed(
            f"No decision has the external_id {args['decision']!r}.",
            [{"field": "decision", "message": f"No decision {args['decision']!r}."}],
        )
    inspection = services.create_inspection(
        decision,
        _verdict(args),
        actor=current_user,
        finalise=args.get("status") == "final",
        template_version_id=args.get("template"),
    )
    db.session.commit()
    return inspection_body(inspection)


@bp.route("/inspections/<ref:inspection_id>", methods=["PATCH"])
@access(WRITE)
@bp.arguments(InspectionPatchSchema)
@bp.response(200, InspectionSchema)
@document_errors(
    (400, "The body is not valid JSON"),
    (404, "No such inspection"),
    (409, "Stale `version`, or a final inspection without a correction reason"),
    (422, "Some fields are not valid; `details` names each (`field`, `message`)"),
)
def update_inspection(args, inspection_id: int):
    """Change a draft, finalise it (`status: final`), or, as a QA lead, correct a final
    inspection (`reason` required). Fields left out stay as they are."""
    inspection = _visible_or_404(inspection_id)
    values = _verdict(args)
    if inspection.status == "final":
        if args.get("status") == "draft":
            raise Conflict(
                f"Inspection #{public_id(inspection.id)} is final; it cannot become a draft."
            )
        if "reason" not in args:
            raise Conflict(
                f"Inspection #{public_id(inspection.id)} is final;"
                " a QA lead corrects it by giving a reason."
            )
        services.correct_inspection(
            inspection, values, actor=current_user, version=args["version"], reason=args["reason"]
        )
    else:
        services.update_inspection(
            inspection,
            values,
            actor=current_user,
            version=args["version"],
            finalise=args.get("status") == "final",
        )
    db.session.commit()
    return inspection_body(inspection)


@bp.route("/inspections/<ref:inspection_id>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, InspectionSchema)
@document_errors((404, "No such inspection, or not one the caller may see"))
def get_inspection(inspection_id: int):
    """One inspection with its history (vendor users: final inspections of their own)."""
    return inspection_body(_visible_or_404(inspection_id))


@bp.route("/inspections", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(InspectionArgsSchema, location="query")
@bp.response(200, page_of(InspectionSummarySchema))
@document_errors((404, "The vendor filter names a vendor the caller may not see"))
def list_inspections(args):
    """Inspections by id, without their history, with filters."""
    f = queries.Filters(
        vendor=visible_vendor(args["vendor"]) if args.get("vendor") else None,
        month=args.get("month"),
        status=args.get("status", ""),
        purpose=args.get("purpose", ""),
        inspector_email=args.get("inspector", ""),
    )
    stmt = queries.filtered(f, current_user).add_columns(Inspection.id)
    if not can_see_work_in_progress(current_user):
        # Vendor users' version numbers count from finalisation (read from the history).
        stmt = stmt.options(selectinload(Inspection.history))
    page = paginate(stmt, INSPECTION_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    return page_body([_summary(row[0]) for row in page.rows], page)
