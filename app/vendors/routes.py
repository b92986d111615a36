"""/vendors: vendor list and detail (tenant-scoped); vendor and contract administration
(admins only)."""

from datetime import date, timedelta

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.errors import Conflict, DomainError, ValidationFailed
from app.extensions import db
from app.models import Vendor, VendorContract
from app.security.access import access, blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN
from app.security.scoping import scoped, vendor_or_404
from app.validation import holiday_countries, time_zones
from app.vendors import services
from app.vendors.forms import ContractForm, VendorForm
from app.web import apply_errors, arg_choice, paginate

bp = Blueprint("vendors", __name__, url_prefix="/vendors")
blueprint_policy(bp, signed_in())

ADMIN_ONLY = signed_in(ROLE_ADMIN)

SORTS = {
    "code": (Vendor.code,),
    "-code": (Vendor.code.desc(),),
    "name": (sa.func.lower(Vendor.name), Vendor.code),
    "-name": (sa.func.lower(Vendor.name).desc(), Vendor.code),
}


@bp.get("/")
def index():
    q = (request.args.get("q") or "").strip()
    status = request.args.get("status", "active")
    sort = arg_choice("sort", SORTS, "code")
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
    else:
        status = "all"
    page = paginate(stmt.order_by(*SORTS[sort]))
    month = services.this_month()
    in_force = services.contracts_in_force([v.id for v in page.items], month)
    return render_template(
        "vendors/index.html",
        page=page,
        q=q,
        status=status,
        sort=sort,
        in_force=in_force,
        month=month,
    )


@bp.get("/<code>")
@access(signed_in())
def detail(code: str):
    vendor = vendor_or_404(code, current_user)
    month = services.this_month()
    return render_template(
        "vendors/detail.html",
        vendor=vendor,
        month=month,
        in_force=vendor.contract_for(month),
        can_delete=services.can_delete_contract,
    )


# Administration ----------------------------------------------------------------------


def _contract_or_404(vendor: Vendor, contract_id: int) -> VendorContract:
    """A contract version of this vendor only; any other id is 404."""
    return db.first_or_404(
        sa.select(VendorContract).where(
            VendorContract.id == contract_id, VendorContract.vendor_id == vendor.id
        )
    )


def _reject(form, err: DomainError):
    """Roll back, put the service's messages on the form fields, and pick the status."""
    db.session.rollback()
    apply_errors(form, err)
    return 409 if isinstance(err, Conflict) else 400


def _form_page(template: str, status: int, **context):
    return render_template(
        template,
        time_zones=time_zones(),
        holiday_countries=holiday_countries(),
        **context,
    ), status


@bp.route("/new", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def create():
    form = VendorForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                vendor = services.create_vendor(**form.values(), actor=current_user)
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
            else:
                db.session.commit()
                flash(f"Vendor {vendor.code} created. Add its contract next.", "success")
                return redirect(url_for("vendors.contract_create", code=vendor.code))
    return _form_page("vendors/form.html", status, form=form, vendor=None)


@bp.route("/<code>/edit", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def edit(code: str):
    vendor = vendor_or_404(code, current_user)
    form = VendorForm()
    status = 200
    if request.method == "GET":
        form.fill_from(vendor)
    else:
        status = 400
        if form.validate_on_submit():
            values = form.values()
            # The code is shown read-only; a browser that sends none keeps it.
            values["code"] = values["code"] or None
            try:
                changed = services.update_vendor(vendor, **values, actor=current_user)
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
            else:
                db.session.commit()
                flash(
                    f"Vendor {vendor.code} updated." if changed else "Nothing changed.",
                    "success" if changed else "info",
                )
                return redirect(url_for("vendors.detail", code=vendor.code))
    form.code.render_kw = {**(form.code.render_kw or {}), "readonly": True}
    form.code.description = "The code cannot change once the vendor exists."
    return _form_page("vendors/form.html", status, form=form, vendor=vendor)


def _set_active(code: str, active: bool):
    vendor = vendor_or_404(code, current_user)
    changed = services.set_vendor_active(vendor, active, actor=current_user)
    db.session.commit()
    if not changed:
        flash(f"Vendor {vendor.code} was already {'active' if active else 'inactive'}.", "info")
    elif active:
        flash(f"Vendor {vendor.code} is active again.", "success")
    else:
        flash(f"Vendor {vendor.code} is deactivated; its history stays.", "success")
    return redirect(url_for("vendors.detail", code=vendor.code))


@bp.post("/<code>/deactivate")
@access(ADMIN_ONLY)
def deactivate(code: str):
    return _set_active(code, False)


@bp.post("/<code>/activate")
@access(ADMIN_ONLY)
def activate(code: str):
    return _set_active(code, True)


@bp.route("/<code>/contracts/new", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def contract_create(code: str):
    vendor = vendor_or_404(code, current_user)
    form = ContractForm()
    status = 200
    if request.method == "GET":
        # Start from the latest version, one month after it (or from this month).
        latest = vendor.contracts[0] if vendor.contracts else None
        if latest is not None:
            form.fill_from(latest)
            following = max(latest.effective_month, services.this_month())
            form.effective_month.data = _next_month(following).strftime("%Y-%m")
        else:
            form.effective_month.data = services.this_month().strftime("%Y-%m")
        form.notes.data = ""
    else:
        status = 400
        if form.validate_on_submit():
            try:
                contract = services.create_contract(vendor, **form.values(), actor=current_user)
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
            else:
                db.session.commit()
                flash(
                    f"Contract version from {contract.month_label} added to {vendor.code}.",
                    "success",
                )
                return redirect(url_for("vendors.detail", code=vendor.code))
    return _form_page("vendors/contract_form.html", status, form=form, vendor=vendor, contract=None)


@bp.route("/<code>/contracts/<int:contract_id>/edit", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def contract_edit(code: str, contract_id: int):
    vendor = vendor_or_404(code, current_user)
    contract = _contract_or_404(vendor, contract_id)
    form = ContractForm()
    status = 200
    if request.method == "GET":
        form.fill_from(contract)
    else:
        status = 400
        if form.validate_on_submit():
            try:
                changed = services.update_contract(contract, **form.values(), actor=current_user)
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
            else:
                db.session.commit()
                flash(
                    f"Contract version {contract.month_label} updated."
                    if changed
                    else "Nothing changed.",
                    "success" if changed else "info",
                )
                return redirect(url_for("vendors.detail", code=vendor.code))
    return _form_page(
        "vendors/contract_form.html", status, form=form, vendor=vendor, contract=contract
    )


@bp.post("/<code>/contracts/<int:contract_id>/delete")
@access(ADMIN_ONLY)
def contract_delete(code: str, contract_id: int):
    vendor = vendor_or_404(code, current_user)
    contract = _contract_or_404(vendor, contract_id)
    label = contract.month_label
    services.delete_contract(contract, actor=current_user)  # Conflict → 409 page
    db.session.commit()
    flash(f"Contract version {label} of {vendor.code} deleted.", "success")
    return redirect(url_for("vendors.detail", code=vendor.code))


def _next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
