"""Reference data for API clients: vendors and the label taxonomy (DESIGN §8).

Any role may read them with the `read` scope; a vendor user sees only its own vendor
(another vendor's code answers 404). Labels are not vendor-owned: everyone sees all.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_login import current_user
from marshmallow import fields, validate
from werkzeug.exceptions import NotFound as HTTPNotFound

from app.api import bp
from app.api.pagination import Keyset, PageArgsSchema, page_body, page_of, paginate
from app.api.routes import document_errors
from app.api.schemas import LabelSchema, VendorSchema
from app.errors import NotFound
from app.models import Label, Vendor
from app.models.enums import POLICY_AREAS
from app.security.access import access, api
from app.security.roles import SCOPE_READ
from app.security.scoping import vendor_or_404, visible

VENDOR_ORDER = Keyset("vendors", (Vendor.code, Vendor.id))
LABEL_ORDER = Keyset("labels", (Label.code, Label.id))


class VendorArgsSchema(PageArgsSchema):
    active = fields.Boolean(metadata={"description": "Only active (true) or inactive (false)"})


class LabelArgsSchema(PageArgsSchema):
    policy_area = fields.String(validate=validate.OneOf(POLICY_AREAS))
    active = fields.Boolean(metadata={"description": "Only active (true) or retired (false)"})


def _vendor(row) -> dict:
    return {"code": row.code, "name": row.name, "active": row.active}


def visible_vendor(code: str) -> Vendor:
    """The vendor with `code` if the caller may see it; else 404, the same answer whether
    it does not exist or belongs to another tenant."""
    try:
        return vendor_or_404(code, current_user)
    except HTTPNotFound:
        raise NotFound(f"No vendor has the code {code!r}.") from None


@bp.route("/vendors", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(VendorArgsSchema, location="query")
@bp.response(200, page_of(VendorSchema))
@document_errors()
def list_vendors(args):
    """Vendors by code; a vendor user sees only its own."""
    stmt = visible(
        sa.select(Vendor.id, Vendor.code, Vendor.name, Vendor.active), current_user, Vendor
    )
    if args.get("active") is not None:
        stmt = stmt.where(Vendor.active == args["active"])
    page = paginate(stmt, VENDOR_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    return page_body([_vendor(row) for row in page.rows], page)


@bp.route("/vendors/<key:code>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, VendorSchema)
@document_errors((404, "No such vendor, or not one the caller may see"))
def get_vendor(code: str):
    """One vendor by code (case does not matter)."""
    return _vendor(visible_vendor(code))


@bp.route("/labels", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(LabelArgsSchema, location="query")
@bp.response(200, page_of(LabelSchema))
@document_errors()
def list_labels(args):
    """The rejection label taxonomy by code, retired labels included unless filtered."""
    stmt = sa.select(Label.id, Label.code, Label.name, Label.policy_area, Label.active)
    if args.get("policy_area") is not None:
        stmt = stmt.where(Label.policy_area == args["policy_area"])
    if args.get("active") is not None:
        stmt = stmt.where(Label.active == args["active"])
    page = paginate(stmt, LABEL_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    items = [
        {"code": r.code, "name": r.name, "policy_area": r.policy_area, "active": r.active}
        for r in page.rows
    ]
    return page_body(items, page)
