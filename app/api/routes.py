"""API endpoints. Later capabilities add theirs here."""

from flask import g
from flask_login import current_user

from app.api import bp
from app.security.access import access, api
from app.security.roles import SCOPE_READ


@bp.get("/me")
@access(api(SCOPE_READ))
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
