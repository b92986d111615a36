"""The JSON API under /api/v1, authenticated by bearer tokens only.

Endpoints are declared with flask-smorest (marshmallow schemas for arguments and
responses), so the OpenAPI document at /api/v1/openapi.json is generated from the
code. Each resource lives in its own module and attaches its routes to `bp`.
"""

from flask import Flask
from flask_smorest import Api

from app.api.blueprint import PortalBlueprint

bp = PortalBlueprint("api", __name__, url_prefix="/api/v1", description="Vendor QA Portal API")


class PortalApi(Api):
    """flask-smorest documenting errors in the portal's shape. Its own error handlers
    are replaced by the portal's (app/errors.py registers them after this), which
    answer every error as {"error": {"code", "message", "details"}}."""

    from app.api.schemas import ErrorSchema as ERROR_SCHEMA


def init_app(app: Flask) -> PortalApi:
    from app.api import (
        decisions,  # noqa: F401
        decisions_read,  # noqa: F401
        inspections,  # noqa: F401
        jobs,  # noqa: F401
        metrics,  # noqa: F401
        reference,  # noqa: F401
        routes,  # noqa: F401  (routes attach themselves to bp)
        samples,  # noqa: F401
        scorecards,  # noqa: F401
    )

    app.config.setdefault("API_TITLE", "Vendor QA Portal API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", None)  # the spec is served by bp itself
    api = PortalApi(
        app,
        spec_kwargs={
            "servers": [{"url": "/"}],
        },
    )
    from app.security.public_ids import LIMIT, PublicIdConverter
    from app.web import MAX_ID, BoundedIntConverter, KeyConverter

    api.register_converter(
        BoundedIntConverter,
        lambda _converter: {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    )
    api.register_converter(
        PublicIdConverter,
        lambda _converter: {"type": "integer", "minimum": 1, "maximum": LIMIT - 1},
    )
    api.register_converter(
        KeyConverter, lambda _converter: {"type": "string", "pattern": "^[^/\\x00-\\x1f\\x7f]+$"}
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "An API token"}
    )
    api.spec.options["security"] = [{"bearerAuth": []}]
    api.register_blueprint(bp)
    return api
