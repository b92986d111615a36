"""The /decisions blueprint, shared by the browser (routes.py) and the CSV upload
(upload.py); routes.py imports upload.py so that registering it brings both."""

from flask import Blueprint

from app.security.access import blueprint_policy, signed_in

bp = Blueprint("decisions", __name__, url_prefix="/decisions")
blueprint_policy(bp, signed_in())
