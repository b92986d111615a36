"""/: the home page for each role; /healthz for load balancers."""

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user

from app.extensions import db
from app.main import services
from app.security.access import PUBLIC, access, signed_in
from app.security.roles import ROLE_ADMIN, VENDOR_ROLES

bp = Blueprint("main", __name__)


@bp.get("/")
@access(signed_in())
def home():
    user = current_user._get_current_object()
    if user.role == ROLE_ADMIN:
        return render_template(
            "main/home_admin.html",
            overview=services.admin_overview(),
            vendors=services.vendor_rows(user),
        )
    if user.role in VENDOR_ROLES:
        return render_template("main/home_vendor.html", **services.vendor_home(user))
    return render_template(
        "main/home_qa.html",
        vendors=services.vendor_rows(user),
        queue=services.inspector_queue_count(user),
    )


@bp.get("/healthz")
@access(PUBLIC)
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
