"""The JSON API under /api/v1, authenticated by bearer tokens only."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import routes  # noqa: E402,F401  (routes attach themselves to bp)
