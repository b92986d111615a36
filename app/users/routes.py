"""/users: user administration (admin only)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.models import User, Vendor
from app.models.enums import ROLE_NAMES, ROLES
from app.security.access import blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN, ROLE_INTEGRATION
from app.tokens.services import token_status
from app.users import queries, services
from app.users.forms import UserCreateForm, UserEditForm, vendor_choices
from app.vendors.queries import vendor_by_code
from app.web import arg_choice, paginate, run_service

bp = Blueprint("users", __name__, url_prefix="/users")
blueprint_policy(bp, signed_in(ROLE_ADMIN))


def _vendor_from_form(form) -> Vendor | None:
    """The vendor picked in the form; an unknown code becomes an error on the field."""
    code = (form.vendor.data or "").strip()
    if not code:
        return None
    vendor = vendor_by_code(code)
    if vendor is None:
        form.vendor.errors = [*form.vendor.errors, "Unknown vendor."]
    return vendor


@bp.get("/")
def index():
    """Users, with search, filters, sorting and pagination."""
    args = request.args
    sort = args.get("sort", "name")
    filters = {
        "q": (args.get("q") or "").strip(),
        "role": arg_choice("role", ROLES, ""),
        "vendor_code": (args.get("vendor") or "").strip().upper(),
        "status": arg_choice("status", queries.USER_STATUSES, "active"),
        "sort": sort if sort.lstrip("-") in queries.USER_SORTS else "name",
    }
    page = paginate(queries.user_list(**filters))
    filtered = any(args.get(k) for k in ("q", "role", "vendor")) or filters["status"] != "active"
    return render_template(
        "users/index.html",
        page=page,
        filtered=filtered,
        vendors={choice.value: choice.label for choice in vendor_choices()[1:]},
        roles=ROLE_NAMES,
        **filters,
    )


@bp.route("/new", methods=["GET", "POST"])
def create():
    """Add a user (a person with a password, or an integration)."""
    form = UserCreateForm()
    if form.validate_on_submit():
        vendor = _vendor_from_form(form)
        if not form.vendor.errors:
            done = run_service(
                lambda: services.create_user(
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                    vendor=vendor,
                    password=form.password.data or None,
                    time_zone=form.time_zone.data,
                    must_change_password=bool(form.must_change_password.data)
                    and form.role.data != ROLE_INTEGRATION,
                    actor=current_user._get_current_object(),
                ),
                form=form,
            )
            if done.ok:
                user = done.value
                flash(f"User {user.email} created.", "success")
                if user.role == ROLE_INTEGRATION:
                    flash("Integration users work through API tokens: create one now.", "info")
                return redirect(url_for("users.detail", user_id=user.id))
    status = 400 if request.method == "POST" else 200
    return render_template("users/form.html", form=form, user=None), status


@bp.get("/<id:user_id>")
def detail(user_id: int):
    """One user, with their API tokens and recent activity."""
    return _render_detail(queries.user_or_404(user_id))


def _render_detail(user: User, status: int = 200):
    return (
        render_template(
            "users/detail.html",
            user=user,
            tokens=user.tokens,
            token_status=token_status,
            events=queries.user_activity(user),
        ),
        status,
    )


@bp.route("/<id:user_id>/edit", methods=["GET", "POST"])
def edit(user_id: int):
    """Change a user's name, role, vendor and time zone."""
    user = queries.user_or_404(user_id)
    form = UserEditForm(obj=user)
    if request.method == "GET":
        form.vendor.data = user.vendor.code if user.vendor else ""
    if form.validate_on_submit():
        vendor = _vendor_from_form(form)
        if not form.vendor.errors:
            was_integration = user.role == ROLE_INTEGRATION
            done = run_service(
                lambda: services.update_user(
                    user,
                    name=form.name.data,
                    role=form.role.data,
                    vendor=vendor,
                    time_zone=form.time_zone.data,
                    actor=current_user._get_current_object(),
                ),
                form=form,
            )
            if done.ok:
                _flash_change(user, done.value, was_integration)
                return redirect(url_for("users.detail", user_id=user.id))
    status = 400 if request.method == "POST" else 200
    return render_template("users/form.html", form=form, user=user), status


def _flash_change(user: User, change: services.UserChange, was_integration: bool) -> None:
    if not change.changed:
        flash("Nothing changed.", "info")
        return
    flash(f"User {user.email} updated.", "success")
    if change.signed_out:
        flash("Their role or vendor changed, so they were signed out everywhere.", "info")
    if change.revoked_tokens:
        flash(
            f"{change.revoked_tokens} API token(s) were revoked: "
            "their scopes go beyond the new role.",
            "warning",
        )
    if was_integration and user.role != ROLE_INTEGRATION and user.password_hash is None:
        flash("This user has no password yet: reset it so they can sign in.", "warning")


def _action(user_id: int, operation, done: str, nothing: str):
    """Run a POSTed account action; a refusal shows the user's page again with why (and
    the refusal's own status)."""
    user = queries.user_or_404(user_id)
    outcome = run_service(lambda: operation(user, actor=current_user._get_current_object()))
    if not outcome.ok:
        return _render_detail(user, outcome.error.status)
    message = done if outcome.value else nothing
    flash(message.format(email=user.email), "info")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.post("/<id:user_id>/deactivate")
def deactivate(user_id: int):
    """Deactivate a user and sign them out everywhere."""
    return _action(
        user_id,
        services.deactivate_user,
        "{email} was deactivated and signed out everywhere.",
        "{email} was already inactive.",
    )


@bp.post("/<id:user_id>/activate")
def activate(user_id: int):
    """Reactivate a user."""
    return _action(
        user_id,
        services.activate_user,
        "{email} was reactivated.",
        "{email} was already active.",
    )


@bp.post("/<id:user_id>/reset-password")
def reset_password(user_id: int):
    """Set a temporary password and show it once; it is never shown again."""
    user = queries.user_or_404(user_id)
    outcome = run_service(
        lambda: services.reset_password(user, actor=current_user._get_current_object())
    )
    if not outcome.ok:
        return _render_detail(user, outcome.error.status)
    return render_template("users/password_reset.html", user=user, password=outcome.value)
