"""/decisions pages."""

from flask import Blueprint

from app.security.access import blueprint_policy, signed_in

bp = Blueprint("decisions", __name__, url_prefix="/decisions")
blueprint_policy(bp, signed_in())
