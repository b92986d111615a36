"""API endpoints: who am I, and the OpenAPI document. Resource modules add theirs."""

from flask import current_app, g
from flask_login import current_user

from app.api import bp
from app.api.schemas import ErrorSchema, MeSchema
from app.security.access import PUBLIC, access, api
from app.security.roles import SCOPE_READ

# Every authenticated endpoint may answer these.
AUTH_ERRORS = ((401, "Missing, unknown, revoked or expired token"), (403, "Not allowed"))


def document_errors(*extra: tuple[int, str]):
    """Declare the error responses of an endpoint in the OpenAPI document."""

    def decorate(view):
        for status, description in (*AUTH_ERRORS, *extra):
            view = bp.alt_response(status, schema=ErrorSchema, description=description)(view)
        return view

    return decorate


@bp.route("/me", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, MeSchema)
@document_errors()
def me():
    """Who the token belongs to and what it may do."""
    user = current_user
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "vendor": user.vendor.code if user.vendor else None,
        "scopes": sorted(g.api_token.scopes),
    }


@bp.route("/openapi.json", methods=["GET"])
@access(PUBLIC)
@bp.doc(security=[], responses={"200": {"description": "The OpenAPI document"}})
def openapi():
    """The OpenAPI 3 document, generated from the endpoints' schemas."""
    return current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
