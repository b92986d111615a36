"""/users: user administration (admin only)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from app.errors import DomainError
from app.extensions import db
from app.models import User, Vendor
from app.models.enums import ROLE_NAMES, ROLES
from app.security.access import blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN, ROLE_INTEGRATION
from app.tokens.services import token_status
from app.users import services
from app.users.forms import UserCreateForm, UserEditForm, vendor_choices
from app.web import apply_errors, arg_choice, paginate

bp = Blueprint("users", __name__, url_prefix="/users")
blueprint_policy(bp, signed_in(ROLE_ADMIN))


def _vendor_from_form(form) -> Vendor | None:
    """The vendor picked in the form; an unknown code becomes an error on the field."""
    code = (form.vendor.data or "").strip()
    if not code:
        return None
    vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
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
        "status": arg_choice("status", services.USER_STATUSES, "active"),
        "sort": sort if sort.lstrip("-") in services.USER_SORTS else "name",
    }
    page = paginate(services.user_list_query(**filters))
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
    form = UserCreateForm()
    if form.validate_on_submit():
        vendor = _vendor_from_form(form)
        if not form.vendor.errors:
            try:
                user = services.create_user(
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                    vendor=vendor,
                    password=form.password.data or None,
                    time_zone=form.time_zone.data,
                    must_change_password=bool(form.must_change_password.data)
                    and form.role.data != ROLE_INTEGRATION,
                    actor=current_user._get_current_object(),
                )
            except DomainError as err:
                db.session.rollback()
                apply_errors(form, err)
            else:
                db.session.commit()
                flash(f"User {user.email} created.", "success")
                if user.role == ROLE_INTEGRATION:
                    flash("Integration users work through API tokens: create one now.", "info")
                return redirect(url_for("users.detail", user_id=user.id))
    status = 400 if request.method == "POST" else 200
    return render_template("users/form.html", form=form, user=None), status


@bp.get("/<int:user_id>")
def detail(user_id: int):
    return _render_detail(db.get_or_404(User, user_id))


def _render_detail(user: User, status: int = 200):
    return (
        render_template(
            "users/detail.html",
            user=user,
            tokens=user.tokens,
            token_status=token_status,
            events=services.user_activity(user),
        ),
        status,
    )


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
def edit(user_id: int):
    user = db.get_or_404(User, user_id)
    form = UserEditForm(obj=user)
    if request.method == "GET":
        form.vendor.data = user.vendor.code if user.vendor else ""
    if form.validate_on_submit():
        vendor = _vendor_from_form(form)
        if not form.vendor.errors:
            was_integration = user.role == ROLE_INTEGRATION
            try:
                change = services.update_user(
                    user,
                    name=form.name.data,
                    role=form.role.data,
                    vendor=vendor,
                    time_zone=form.time_zone.data,
                    actor=current_user._get_current_object(),
                )
            except DomainError as err:
                db.session.rollback()
                apply_errors(form, err)
            else:
                db.session.commit()
                _flash_change(user, change, was_integration)
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


def _refused(user: User, err: DomainError):
    """An account action the service refused: undo it and show the user's page with why."""
    db.session.rollback()
    flash(err.message, "danger")
    return _render_detail(user, err.status)


def _action(user_id: int, operation, done: str, nothing: str):
    """Run a POSTed account action; a refusal re-renders the page with its message."""
    user = db.get_or_404(User, user_id)
    try:
        changed = operation(user, actor=current_user._get_current_object())
    except DomainError as err:
        return _refused(user, err)
    db.session.commit()
    flash(done.format(email=user.email) if changed else nothing.format(email=user.email), "info")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.post("/<int:user_id>/deactivate")
def deactivate(user_id: int):
    return _action(
        user_id,
        services.deactivate_user,
        "{email} was deactivated and signed out everywhere.",
        "{email} was already inactive.",
    )


@bp.post("/<int:user_id>/activate")
def activate(user_id: int):
    return _action(
        user_id,
        services.activate_user,
        "{email} was reactivated.",
        "{email} was already active.",
    )


@bp.post("/<int:user_id>/reset-password")
def reset_password(user_id: int):
    """Set a temporary password and show it once; it is never shown again."""
    user = db.get_or_404(User, user_id)
    try:
        plain = services.reset_password(user, actor=current_user._get_current_object())
    except DomainError as err:
        return _refused(user, err)
    db.session.commit()
    return render_template("users/password_reset.html", user=user, password=plain)
