"""/vendors: vendor list and detail (tenant-scoped)."""

import sqlalchemy as sa
from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from app.extensions import db
from app.models import Vendor
from app.security.access import access, blueprint_policy, signed_in
from app.security.scoping import scoped, vendor_or_404

bp = Blueprint("vendors", __name__, url_prefix="/vendors")
blueprint_policy(bp, signed_in())


@bp.get("/")
def index():
    q = (request.args.get("q") or "").strip()
    status = request.args.get("status", "active")
    stmt = scoped(sa.select(Vendor), Vendor, current_user)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(sa.func.lower(Vendor.code).like(like), sa.func.lower(Vendor.name).like(like))
        )
    if status == "active":
        stmt = stmt.where(Vendor.active)
    elif status == "inactive":
        stmt = stmt.where(sa.not_(Vendor.active))
    page = db.paginate(
        stmt.order_by(Vendor.code), per_page=current_app.config["PAGE_SIZE"], error_out=False
    )
    return render_template("vendors/index.html", page=page, q=q, status=status)


@bp.get("/<code>")
@access(signed_in())
def detail(code: str):
    vendor = vendor_or_404(code, current_user)
    return render_template("vendors/detail.html", vendor=vendor)
