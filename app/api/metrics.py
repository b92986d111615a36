"""A vendor-month's metrics through the API: `GET /vendors/<key:code>/metrics?month=`
(DESIGN §3, §11). The same numbers as the dashboard; a vendor user may ask only for
its own vendor (another vendor's code answers 404)."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.api import bp
from app.api.reference import visible_vendor
from app.api.routes import document_errors
from app.api.schemas import Month
from app.dashboards.queries import vendor_metrics
from app.errors import ValidationFailed
from app.metrics.definitions import TARGET_STATUSES
from app.metrics.queries import BREAKDOWNS, SHARES
from app.security.access import access, api
from app.security.roles import SCOPE_READ


class ShareSchema(Schema):
    value = fields.Float(allow_none=True, required=True, metadata={"description": "count / n"})
    count = fields.Integer(required=True)
    n = fields.Integer(required=True)
    ci_low = fields.Float(allow_none=True, required=True, metadata={"description": "Wilson 95%"})
    ci_high = fields.Float(allow_none=True, required=True)


class RubricSchema(Schema):
    value = fields.Float(allow_none=True, required=True, metadata={"description": "0..100"})
    n = fields.Integer(required=True, metadata={"description": "Inspections with a score"})


def _figures_fields() -> dict:
    body = {"inspected": fields.Integer(required=True)}
    for name in SHARES:
        body[name] = fields.Nested(ShareSchema, required=True)
    body["rubric_score"] = fields.Nested(RubricSchema, required=True)
    return body


FiguresSchema = Schema.from_dict(_figures_fields(), name="FiguresSchema")
BreakdownRowSchema = Schema.from_dict(
    {
        "key": fields.String(required=True),
        "flagged": fields.Boolean(
            metadata={"description": "Moderators only: accuracy surely below target"}
        ),
        **_figures_fields(),
    },
    name="BreakdownRowSchema",
)


class TargetSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "floor or cap"})
    target = fields.Float(allow_none=True, required=True)
    status = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": " / ".join(TARGET_STATUSES) + "; null without a contract"},
    )


class TargetsSchema(Schema):
    contract_month = fields.String(
        allow_none=True, required=True, metadata={"description": "The contract version in force"}
    )
    overall_accuracy = fields.Nested(TargetSchema, required=True)
    critical_error_rate = fields.Nested(TargetSchema, required=True)


class ConfusionSchema(Schema):
    applied = fields.String(required=True, metadata={"description": "Primary label or approve"})
    expected = fields.String(required=True, metadata={"description": "Primary label or approve"})
    count = fields.Integer(required=True)


MetricsSchema = Schema.from_dict(
    {
        "vendor": fields.String(required=True),
        "month": fields.String(required=True),
        **_figures_fields(),
        "targets": fields.Nested(TargetsSchema, required=True),
        "breakdowns": fields.Dict(
            keys=fields.String(metadata={"enum": list(BREAKDOWNS)}),
            values=fields.List(fields.Nested(BreakdownRowSchema)),
            required=True,
        ),
        "label_confusion": fields.List(fields.Nested(ConfusionSchema), required=True),
        "targeted": fields.Nested(FiguresSchema, required=True),
    },
    name="MetricsSchema",
)


class MetricsArgsSchema(Schema):
    # Required, but checked after the vendor: another tenant's vendor is a 404 first.
    month = Month(metadata={"description": "YYYY-MM (required)"})


@bp.route("/vendors/<key:code>/metrics", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(MetricsArgsSchema, location="query")
@bp.response(200, MetricsSchema)
@document_errors(
    (404, "No such vendor, or not one the caller may see"),
    (422, "`month` is missing, not YYYY-MM, or after the current month"),
)
def vendor_month_metrics(args, code: str):
    """The vendor-month's shares with Wilson intervals, target status against the
    contract in force, breakdowns, label confusion, and targeted inspections apart."""
    vendor = visible_vendor(code)
    if "month" not in args:
        raise ValidationFailed(
            "Give the month as YYYY-MM.", [{"field": "month", "message": "Give the month."}]
        )
    return vendor_metrics(vendor, args["month"])
