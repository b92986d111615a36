"""/auth: sign in, sign out, change password."""

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from app.auth import services, throttle
from app.auth.forms import ChangePasswordForm, LoginForm
from app.extensions import db, limiter
from app.security.access import PUBLIC, access, signed_in
from app.web import run_service

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(
    throttle.address_limit,
    methods=["POST"],
    key_func=throttle.client_key,
    error_message=throttle.ADDRESS_MESSAGE,
)
@limiter.limit(
    throttle.account_limit,
    methods=["POST"],
    key_func=throttle.account_key,
    deduct_when=throttle.failed,
    scope="account",
    error_message=throttle.ACCOUNT_MESSAGE,
)
@limiter.limit(
    throttle.guarded_limit,
    methods=["POST"],
    key_func=throttle.client_key,
    deduct_when=throttle.failed,
    exempt_when=throttle.guard_off,
    scope="guarded",
    error_message=throttle.GUARDED_MESSAGE,
)
def login():
    """Sign in with email and password. Limited per client address, and failures per
    address and account and, while the global guard is on, per address; never per
    account alone (app/auth/throttle.py)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = services.safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            db.session.rollback()
            throttle.record_failure()
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
