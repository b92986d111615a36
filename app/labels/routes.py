"""/labels: user administration (admin only)."""

from flask import Blueprint, render_template

from app.security.access import blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN

bp = Blueprint("labels", __name__, url_prefix="/labels")
blueprint_policy(bp, signed_in(ROLE_ADMIN))


@bp.get("/")
def index():
    return render_template("errors/generic.html", status=200, title="Labels", message="")
