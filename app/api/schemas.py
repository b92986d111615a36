"""Marshmallow schemas shared by the API endpoints (DESIGN §11 field names)."""

from marshmallow import Schema, fields


class ErrorDetailSchema(Schema):
    index = fields.Integer(allow_none=True)
    line = fields.Integer(allow_none=True)
    field = fields.String(allow_none=True)
    message = fields.String()


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class MeSchema(Schema):
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    vendor = fields.String(allow_none=True, required=True)
    scopes = fields.List(fields.String(), required=True)
