"""`POST /api/v1/decisions`: bulk upsert of moderation decisions by `external_id`
(DESIGN §8, §11), through the one ingestion path (app/decisions/intake/).

All or nothing: any bad row answers 422 listing the bad rows (`index`, `field`,
`message`; capped, with `total_errors`) and stores nothing. Re-sending identical
rows changes nothing. At most 10,000 rows a request (413 beyond; larger loads go
through the CSV import).
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user
from marshmallow import Schema, fields

from app.api import bp
from app.api.routes import document_errors
from app.api.schemas import DecisionSchema
from app.decisions.intake import MAX_API_ROWS, ImportRejected
from app.decisions.intake.validation import decode_json
from app.decisions.services import import_api_rows
from app.errors import error_body
from app.extensions import db
from app.security.access import access, api, body_limit, size_text
from app.security.roles import ROLE_ADMIN, ROLE_INTEGRATION, ROLE_QA_LEAD, SCOPE_DECISIONS_WRITE


class ImportCountsSchema(Schema):
    """What an import did."""

    created = fields.Integer(required=True, metadata={"description": "New decisions"})
    updated = fields.Integer(required=True, metadata={"description": "Decisions changed"})
    unchanged = fields.Integer(
        required=True, metadata={"description": "Rows identical to the stored decision"}
    )


_BODY = {
    "required": True,
    "description": (
        f"A JSON array of decisions (at most {MAX_API_ROWS:,}); "
        '`{"decisions": [...]}` is accepted too. Upserted by `external_id`.'
    ),
    "content": {
        "application/json": {
            "schema": {"type": "array", "maxItems": MAX_API_ROWS, "items": DecisionSchema}
        }
    },
}


def _body_limit() -> int:
    return int(current_app.config["API_DECISIONS_MAX_BYTES"])


def _too_large() -> str:
    return (
        f"The request is larger than the limit of {size_text(_body_limit())}. Send at most "
        f"{MAX_API_ROWS:,} decisions a request; larger loads go through the CSV import "
        "(POST /api/v1/decisions/imports)."
    )


@bp.route("/decisions", methods=["POST"])
@access(api(SCOPE_DECISIONS_WRITE, ROLE_ADMIN, ROLE_QA_LEAD, ROLE_INTEGRATION))
@body_limit(_body_limit, _too_large)
@bp.doc(requestBody=_BODY)
@bp.response(200, ImportCountsSchema)
@document_errors(
    (400, "The body is not JSON, or not an array of decisions"),
    (413, f"More than {MAX_API_ROWS:,} decisions, or a body over the size limit"),
    (415, "The body is not sent as application/json"),
    (
        422,
        "Some rows are not valid; nothing was stored. `details` lists them "
        "(`index`, `field`, `message`), `total_errors` counts them all",
    ),
)
def import_decisions():
    """Create or update decisions, all or nothing; identical rows count as unchanged."""
    if not request.is_json:
        return _error(
            415,
            "unsupported_media_type",
            "Send the request body as JSON, with the header Content-Type: application/json.",
        )
    try:
        payload = decode_json(request.get_data(cache=False).decode("utf-8"))
    except (ValueError, RecursionError):
        return _error(400, "bad_request", "The body is not valid JSON.")
    try:
        result = import_api_rows(payload, actor=current_user._get_current_object())
    except ImportRejected as err:
        # The import undid its own writes; the answer also counts every problem.
        return _error(422, "invalid", err.message, err.errors, total_errors=err.total_errors)
    db.session.commit()
    return result.counts()


def _error(status: int, code: str, message: str, details=None, **extra):
    body = error_body(code, message, details)
    body["error"].update(extra)
    response = jsonify(body)
    response.status_code = status
    return response
