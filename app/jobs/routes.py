"""/jobs pages."""

from flask import Blueprint

from app.security.access import blueprint_policy, signed_in

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
blueprint_policy(bp, signed_in())
