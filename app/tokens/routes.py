"""/tokens: API tokens (admin only). A new token is shown once, on the page that
answers its creation, and never again: only its hash is stored."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.services import safe_next
from app.errors import ValidationFailed
from app.extensions import db
from app.models import User
from app.security.access import blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN, SCOPES
from app.tokens import queries, services
from app.tokens.forms import TokenForm
from app.users.queries import active_users, find_user
from app.web import apply_errors, arg_choice, paginate, parse_id, run_service

bp = Blueprint("tokens", __name__, url_prefix="/tokens")
blueprint_policy(bp, signed_in(ROLE_ADMIN))

# The service names the expiry `expires_at`; the form asks for the day, `expires_on`.
EXPIRY_ALIAS = {"expires_at": "expires_on"}


@bp.get("/")
def index():
    """Every token, with user search, a status filter and pagination."""
    q = (request.args.get("q") or "").strip()
    status = arg_choice("status", queries.TOKEN_STATUSES, "active")
    user_id = parse_id(request.args.get("user"))
    page = paginate(queries.token_list(q=q, status=status, user_id=user_id))
    return render_template(
        "tokens/index.html",
        page=page,
        q=q,
        status=status,
        user_filter=find_user(user_id),
        filtered=bool(q or user_id) or status != "active",
        token_status=services.token_status,
    )


@bp.route("/new", methods=["GET", "POST"])
def create():
    """Step 1 picks the user (GET ?user=); step 2 names the token and picks its scopes."""
    form = TokenForm()
    if request.method == "GET":
        form.user.data = request.args.get("user", "")
    user = queries.active_user(parse_id(form.user.data))
    if request.method == "GET":
        if user is not None:
            form.scopes.data = list(services.allowed_scopes(user))
        return _render_form(form, user)
    if form.validate():
        done = run_service(lambda: _create(form, user), form=form, aliases=EXPIRY_ALIAS)
        if done.ok:
            token, plain = done.value
            return render_template("tokens/created.html", token=token, plain=plain)
    elif user is None and not form.user.errors:
        apply_errors(form, _user_error(form.user.data))
    return _render_form(form, user, 400)


def _render_form(form: TokenForm, user: User | None, status: int = 200):
    return (
        render_template(
            "tokens/form.html",
            form=form,
            user=user,
            users=active_users(),
            allowed=services.allowed_scopes(user) if user else (),
            scope_help=SCOPES,
        ),
        status,
    )


def _create(form: TokenForm, user: User | None):
    """Create the token the form describes for `user` (the active user it names)."""
    if user is None:
        raise _user_error(form.user.data)
    return services.create_token(
        user,
        name=form.name.data,
        scopes=form.scopes.data,
        expires_at=services.expiry_from_date(form.expires_on.data, current_user.time_zone),
        actor=current_user._get_current_object(),
    )


def _user_error(raw: str | None) -> ValidationFailed:
    message = "Choose an active user." if raw else "Choose a user."
    return ValidationFailed(message, [{"field": "user", "message": message}])


@bp.post("/<id:token_id>/revoke")
def revoke(token_id: int):
    """Revoke a token; it stops working with the next request."""
    token = queries.token_or_404(token_id)
    if token.revoked_at is not None:
        flash(f"Token {token.prefix}… was already revoked.", "info")
    else:
        services.revoke_token(token, actor=current_user._get_current_object())
        db.session.commit()
        flash(f"Token {token.prefix}… of {token.user.email} was revoked.", "success")
    return redirect(safe_next(request.args.get("next")) or url_for("tokens.index"))
