"""/: each role's workspace (the tiles of app/main/tiles.py); /healthz for load
balancers."""

from flask import Blueprint, render_template
from flask_login import current_user

from app.main import queries
from app.main.tiles import tiles_for
from app.security.access import PUBLIC, access, signed_in

bp = Blueprint("main", __name__)


@bp.get("/")
@access(signed_in())
def home():
    user = current_user._get_current_object()
    return render_template("main/home.html", tiles=tiles_for(user))


@bp.get("/healthz")
@access(PUBLIC)
def health():
    queries.ping()
    return {"status": "ok"}
