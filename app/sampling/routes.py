"""/sampling pages."""

from flask import Blueprint

from app.security.access import blueprint_policy, signed_in

bp = Blueprint("sampling", __name__, url_prefix="/sampling")
blueprint_policy(bp, signed_in())
