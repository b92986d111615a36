"""Account operations: authenticate, sign out everywhere, change password."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, request

from app.audit.services import record
from app.errors import ValidationFailed
from app.extensions import db, login_manager
from app.models import User
from app.security.passwords import hash_password, password_problem, verify_password
from app.security.predicates import can_sign_in
from app.security.tokens import load_user_from_request
from app.users.queries import user_by_email, user_by_session_token

GENERIC_LOGIN_ERROR = "Email or password is not correct."


def configure_login(app: Flask) -> None:
    """Set up Flask-Login: cookie sessions for the pages, bearer tokens for the API."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load_user(session_token: str) -> User | None:
        # API calls authenticate by bearer token only, never by cookie.
        if request.blueprint == "api":
            return None
        user = user_by_session_token(session_token)
        return user if can_sign_in(user) else None

    login_manager.request_loader(load_user_from_request)

    @login_manager.unauthorized_handler
    def _unauthorized():
        from flask import flash, redirect, url_for

        from app.api.errors import api_error
        from app.errors import wants_json

        if wants_json():
            return api_error(401, "unauthorized", "sign-in or a bearer token is required")
        flash(login_manager.login_message, "info")
        return redirect(url_for("auth.login", next=safe_next(request.full_path)))


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    target = target.strip()
    if target.endswith("?"):
        target = target[:-1]
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return None
    return target


def authenticate(email: str, password: str) -> User | None:
    """The active, page-capable user with these credentials, or None. Upgrades the hash
    when it was made with older parameters."""
    email = (email or "").strip().lower()
    user = user_by_email(email)
    ok, new_hash = verify_password(user.password_hash if user else None, password or "")
    if not ok or not can_sign_in(user):
        return None
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = datetime.now(UTC)
    return user


def sign_out_everywhere(user: User) -> None:
    """Rotate the session token so every copy of the user's cookie stops working."""
    user.rotate_session_token()


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; signs the user out everywhere."""
    ok, _ = verify_password(user.password_hash, current or "")
    if not ok:
        raise ValidationFailed("The current password is not correct.", {"field": "current"})
    problem = password_problem(new, user.email)
    if problem:
        raise ValidationFailed(problem, {"field": "new_password"})
    if verify_password(user.password_hash, new)[0]:
        raise ValidationFailed(
            "Choose a password different from the current one.", {"field": "new_password"}
        )
    user.password_hash = hash_password(new)
    user.must_change_password = False
    sign_out_everywhere(user)
    record(
        db.session,
        "user.password_changed",
        "user",
        user.id,
        summary=f"{user.email} changed their password",
        actor=user,
    )
