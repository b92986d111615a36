"""/vendors: vendor list and detail (tenant-scoped); vendor and contract administration
(admins only)."""

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import months
from app.extensions import db
from app.metrics.queries import SHARE_NAMES
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import can_see_all_vendors
from app.security.roles import ROLE_ADMIN
from app.security.scoping import list_vendor_or_404, vendor_or_404
from app.validation import holiday_countries, time_zones
from app.vendors import queries, services
from app.vendors.forms import ContractForm, VendorForm
from app.web import BaseForm, Outcome, arg_choice, paginate, run_service

bp = Blueprint("vendors", __name__, url_prefix="/vendors")
blueprint_policy(bp, signed_in())

ADMIN_ONLY = signed_in(ROLE_ADMIN)
T = TypeVar("T")


@bp.get("/")
def index():
    """The vendors the user may see, searched, filtered and with the contract in force.
    A vendor user has one vendor: *My vendor* opens its page, not a list of one."""
    if not can_see_all_vendors(current_user):
        vendor, _ = list_vendor_or_404(None, current_user)
        return redirect(url_for("vendors.detail", code=vendor.code))
    q = (request.args.get("q") or "").strip()
    status = request.args.get("status", "active")
    if status not in queries.VENDOR_STATUSES:
        status = "all"
    sort = arg_choice("sort", queries.VENDOR_SORTS, "code")
    page = paginate(queries.vendor_list(current_user, q=q, status=status, sort=sort))
    month = months.current()
    in_force = queries.contracts_in_force([v.id for v in page.items], month)
    return render_template(
        "vendors/index.html",
        page=page,
        q=q,
        status=status,
        sort=sort,
        in_force=in_force,
        month=month,
    )


@bp.get("/<key:code>")
@access(signed_in())
def detail(code: str):
    """One vendor with its contract versions."""
    vendor = vendor_or_404(code, current_user)
    month = months.current()
    return render_template(
        "vendors/detail.html",
        vendor=vendor,
        month=month,
        in_force=vendor.contract_for(month),
        can_delete=services.can_delete_contract,
        team=queries.vendor_team(vendor, current_user),
        metric_names=SHARE_NAMES,
    )


# Administration ----------------------------------------------------------------------


def _form_page(template: str, status: int, **context):
    return render_template(
        template,
        time_zones=time_zones(),
        holiday_countries=holiday_countries(),
        **context,
    ), status


def _submit(form: BaseForm, call: Callable[[], T]) -> tuple[Outcome[T] | None, int]:
    """On a POST: when `form` is valid, run `call` through `run_service`. Returns what it
    did (None when the form was not valid) and the status of the form page shown again."""
    if not form.validate_on_submit():
        return None, 400
    done = run_service(call, form=form)
    return done, done.status


@bp.route("/new", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def create():
    """Add a vendor."""
    form = VendorForm()
    status = 200
    if request.method == "POST":
        done, status = _submit(
            form, lambda: services.create_vendor(**form.values(), actor=current_user)
        )
        if done and done.ok:
            flash(f"Vendor {done.value.code} created. Add its contract next.", "success")
            return redirect(url_for("vendors.contract_create", code=done.value.code))
    return _form_page("vendors/form.html", status, form=form, vendor=None)


@bp.route("/<key:code>/edit", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def edit(code: str):
    """Change a vendor's details (not its code)."""
    vendor = vendor_or_404(code, current_user)
    form = VendorForm()
    status = 200
    if request.method == "GET":
        form.fill_from(vendor)
    else:
        # The code is shown read-only; a browser that sends none keeps it.
        done, status = _submit(
            form,
            lambda: services.update_vendor(
                vendor, **{**form.values(), "code": form.code.data or None}, actor=current_user
            ),
        )
        if done and done.ok:
            _flash_update(f"Vendor {vendor.code} updated.", done.value)
            return redirect(url_for("vendors.detail", code=vendor.code))
    form.code.render_kw = {**(form.code.render_kw or {}), "readonly": True}
    form.code.description = "The code cannot change once the vendor exists."
    return _form_page("vendors/form.html", status, form=form, vendor=vendor)


def _flash_update(message: str, changed: bool) -> None:
    flash(message if changed else "Nothing changed.", "success" if changed else "info")


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


@bp.post("/<key:code>/deactivate")
@access(ADMIN_ONLY)
def deactivate(code: str):
    """Deactivate a vendor; its history stays."""
    return _set_active(code, False)


@bp.post("/<key:code>/activate")
@access(ADMIN_ONLY)
def activate(code: str):
    """Reactivate a vendor."""
    return _set_active(code, True)


@bp.route("/<key:code>/contracts/new", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def contract_create(code: str):
    """Add a contract version, starting from the latest one."""
    vendor = vendor_or_404(code, current_user)
    form = ContractForm()
    status = 200
    if request.method == "GET":
        # Start from the latest version, one month after it (or from this month).
        latest = vendor.contracts[0] if vendor.contracts else None
        if latest is not None:
            form.fill_from(latest)
            following = months.next_month(max(latest.effective_month, months.current()))
            form.effective_month.data = following.strftime("%Y-%m")
        else:
            form.effective_month.data = months.current().strftime("%Y-%m")
        form.notes.data = ""
    else:
        done, status = _submit(
            form, lambda: services.create_contract(vendor, **form.values(), actor=current_user)
        )
        if done and done.ok:
            flash(
                f"Contract version from {done.value.month_label} added to {vendor.code}.",
                "success",
            )
            return redirect(url_for("vendors.detail", code=vendor.code))
    return _form_page("vendors/contract_form.html", status, form=form, vendor=vendor, contract=None)


@bp.route("/<key:code>/contracts/<id:contract_id>/edit", methods=["GET", "POST"])
@access(ADMIN_ONLY)
def contract_edit(code: str, contract_id: int):
    """Change a contract version."""
    vendor = vendor_or_404(code, current_user)
    contract = queries.contract_of_or_404(vendor, contract_id)
    form = ContractForm()
    status = 200
    if request.method == "GET":
        form.fill_from(contract)
    else:
        done, status = _submit(
            form, lambda: services.update_contract(contract, **form.values(), actor=current_user)
        )
        if done and done.ok:
            _flash_update(f"Contract version {contract.month_label} updated.", done.value)
            return redirect(url_for("vendors.detail", code=vendor.code))
    return _form_page(
        "vendors/contract_form.html", status, form=form, vendor=vendor, contract=contract
    )


@bp.post("/<key:code>/contracts/<id:contract_id>/delete")
@access(ADMIN_ONLY)
def contract_delete(code: str, contract_id: int):
    """Delete a contract version that has not taken effect yet."""
    vendor = vendor_or_404(code, current_user)
    contract = queries.contract_of_or_404(vendor, contract_id)
    label = contract.month_label
    services.delete_contract(contract, actor=current_user)  # Conflict → 409 page
    db.session.commit()
    flash(f"Contract version {label} of {vendor.code} deleted.", "success")
    return redirect(url_for("vendors.detail", code=vendor.code))
