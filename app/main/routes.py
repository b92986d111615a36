"""/: the home page for each role; /healthz for load balancers."""

from flask import Blueprint, render_template
from flask_login import current_user

from app.main import queries
from app.security.access import PUBLIC, access, signed_in
from app.security.predicates import can_administer, can_see_all_vendors

bp = Blueprint("main", __name__)


@bp.get("/")
@access(signed_in())
def home():
    user = current_user._get_current_object()
    if can_administer(user):
        return render_template(
            "main/home_admin.html",
            overview=queries.admin_overview(),
            vendors=queries.vendor_rows(user),
        )
    if not can_see_all_vendors(user):
        return render_template("main/home_vendor.html", **queries.vendor_home(user))
    return render_template(
        "main/home_qa.html",
        vendors=queries.vendor_rows(user),
        queue=queries.inspector_queue_count(user),
    )


@bp.get("/healthz")
@access(PUBLIC)
def health():
    queries.ping()
    return {"status": "ok"}
