"""Marshmallow schemas shared by the API endpoints (DESIGN §11 field names)."""

from datetime import date

from marshmallow import Schema, ValidationError, fields, validate

from app import months
from app.models.enums import DECISIONS, POLICY_AREAS


class Month(fields.String):
    """A calendar month as `YYYY-MM`, loaded as the date of its first day; a month after
    the current one is refused (nothing has happened in it yet)."""

    def _deserialize(self, value, attr, data, **kwargs) -> date:
        month = months.from_text(super()._deserialize(value, attr, data, **kwargs))
        if month is None:
            raise ValidationError("Give a month as YYYY-MM, e.g. 2026-03.")
        if month > months.current():
            raise ValidationError(months.after_message(month, months.current()))
        return month


class ErrorDetailSchema(Schema):
    index = fields.Integer(allow_none=True)
    line = fields.Integer(allow_none=True)
    field = fields.String(allow_none=True)
    message = fields.String()


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)
    # Only where `details` lists row errors and the list is capped (imports).
    total_errors = fields.Integer(
        metadata={"description": "How many errors there are in all, when details are capped"}
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class MeSchema(Schema):
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    vendor = fields.String(allow_none=True, required=True)
    scopes = fields.List(fields.String(), required=True)


# Reference data ----------------------------------------------------------------------


class VendorSchema(Schema):
    """A vendor as the API shows it (DESIGN §8)."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    active = fields.Boolean(required=True)


class LabelSchema(Schema):
    """A rejection label of the taxonomy (DESIGN §8)."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    policy_area = fields.String(required=True, validate=validate.OneOf(POLICY_AREAS))
    active = fields.Boolean(required=True)


# Decisions ---------------------------------------------------------------------------


def _no_control_characters(value: str) -> None:
    # PostgreSQL cannot store a NUL in text, and no identifier needs a control character.
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("Remove the control characters.")


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=max_length), _no_control_characters], **kwargs
    )


class DecisionSchema(Schema):
    """A moderation decision (DESIGN §11): what POST /decisions takes, row by row, and
    what GET /decisions answers. `labels` are codes, the primary label first."""

    external_id = _text(128, required=True)
    vendor = _text(20, required=True, metadata={"description": "The vendor's code"})
    moderator_id = _text(64, required=True)
    site = _text(64, required=True)
    market = _text(32, required=True)
    policy_area = fields.String(required=True, validate=validate.OneOf(POLICY_AREAS))
    item_id = _text(128, required=True)
    item_url = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=2048), _no_control_characters],
        metadata={"description": "A link to the judged item (optional)"},
    )
    context = fields.Dict(
        keys=fields.String(),
        load_default=None,
        allow_none=True,
        metadata={"description": "What the moderator saw, as a small JSON object (optional)"},
    )
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    labels = fields.List(
        _text(64),
        load_default=list,
        metadata={"description": "Label codes, the primary label first; none for an approve"},
    )
    decided_at = fields.AwareDateTime(
        required=True,
        format="iso",
        metadata={"description": "ISO 8601 with an offset"},
    )
