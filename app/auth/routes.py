"""/auth: sign in, sign out, change password."""

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from app.auth import services
from app.auth.forms import ChangePasswordForm, LoginForm
from app.extensions import db, limiter
from app.security.access import PUBLIC, access, signed_in
from app.web import run_service

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    return "login-email:" + (request.form.get("email") or "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key)
def login():
    """Sign in with email and password; rate-limited per address and per email."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = services.safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            db.session.rollback()
            flash(services.GENERIC_LOGIN_ERROR, "danger")
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        session.clear()  # no state carried over from before sign-in (session fixation)
        login_user(user)
        if user.must_change_password:
            flash("Choose a new password to continue.", "warning")
            return redirect(url_for("auth.change_password"))
        return redirect(services.safe_next(form.next.data) or url_for("main.home"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@access(signed_in())
def logout():
    """Sign out here and on every other browser."""
    services.sign_out_everywhere(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@access(signed_in())
def change_password():
    """Change one's own password; other sessions are signed out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        done = run_service(
            lambda: services.change_password(user, form.current.data, form.new_password.data),
            form=form,
        )
        if done.ok:
            # The token rotated: sign in again on this browser with the new one.
            session.clear()
            login_user(user)
            flash("Your password was changed. Other sessions were signed out.", "success")
            return redirect(url_for("main.home"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status
