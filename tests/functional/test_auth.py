"""Signing in and out, session tokens, password changes, redirects, rate limits."""

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.promise("accounts")


def test_login_page_renders_form(client):
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert b'name="email"' in response.data
    assert b'name="password"' in response.data


def test_login_succeeds_and_shows_home(client, auth, make_user):
    user = make_user("qa_lead")
    response = auth.login(user)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    home = client.get("/")
    assert home.status_code == 200
    assert user.name.encode() in home.data


def test_failed_login_gives_one_generic_message(client, auth, make_user):
    user = make_user("qa_lead")
    wrong_password = auth.login(user, "not the password at all")
    unknown_user = auth.login("nobody@example.test", TEST_PASSWORD)
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert b"Email or password is not correct." in response.data
    assert client.get("/").status_code == 302


def test_deactivated_and_integration_users_cannot_sign_in(auth, make_user):
    inactive = make_user("qa_lead", active=False)
    integration = make_user("integration")
    assert auth.login(inactive).status_code == 401
    assert auth.login(integration, "").status_code in (400, 401)


def test_anonymous_is_sent_to_login_with_next(client):
    response = client.get("/vendors/?status=all")
    assert response.status_code == 302
    assert "/auth/login?next=" in response.headers["Location"]


def test_next_only_redirects_within_the_site(client, auth, make_user):
    user = make_user("qa_lead")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        client.post("/auth/logout")
        response = client.post(
            "/auth/login", data={"email": user.email, "password": TEST_PASSWORD, "next": evil}
        )
        assert response.status_code == 302
        assert "evil" not in response.headers["Location"]
    client.post("/auth/logout")
    response = client.post(
        "/auth/login",
        data={"email": user.email, "password": TEST_PASSWORD, "next": "/vendors/?q=a"},
    )
    assert response.headers["Location"].endswith("/vendors/?q=a")


def test_logout_rotates_token_so_a_copied_cookie_stops_working(app, client, auth, make_user):
    user = make_user("qa_lead")
    auth.login(user)
    cookie = client.get_cookie("vqa_session").value
    assert client.get("/").status_code == 200
    client.post("/auth/logout")
    thief = app.test_client()
    thief.set_cookie("vqa_session", cookie)
    assert thief.get("/").status_code == 302  # sent to sign in


def test_deactivation_ends_existing_sessions(client, auth, make_user):
    user = make_user("qa_lead")
    auth.login(user)
    user.active = False
    user.rotate_session_token()
    db.session.commit()
    assert client.get("/").status_code == 302


def test_logout_needs_post(client, auth, make_user):
    auth.login(make_user("qa_lead"))
    assert client.get("/auth/logout").status_code == 405


def test_password_change_rotates_token_and_is_audited(app, client, auth, make_user):
    user = make_user("vendor_lead")
    auth.login(user)
    old_cookie = client.get_cookie("vqa_session").value
    response = client.post(
        "/auth/password",
        data={
            "current": TEST_PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this browser stays signed in
    other = app.test_client()
    other.set_cookie("vqa_session", old_cookie)
    assert other.get("/").status_code == 302
    client.post("/auth/logout")
    assert auth.login(user, "a brand new passphrase").status_code == 302
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))
    ).all()
    assert "user.password_changed" in actions


def test_password_change_rejects_bad_input_and_changes_nothing(client, auth, make_user):
    user = make_user("qa_inspector")
    auth.login(user)
    before = user.password_hash
    wrong = client.post(
        "/auth/password",
        data={
            "current": "wrong",
            "new_password": "x" * 14 + "abcde",
            "confirm": "x" * 14 + "abcde",
        },
    )
    assert wrong.status_code == 400
    assert b"current password is not correct" in wrong.data
    short = client.post(
        "/auth/password",
        data={"current": TEST_PASSWORD, "new_password": "short", "confirm": "short"},
    )
    assert short.status_code == 400
    assert b"at least 12 characters" in short.data
    db.session.refresh(user)
    assert user.password_hash == before


def test_login_is_rate_limited(client, make_user):
    user = make_user("qa_lead")
    codes = [
        client.post(
            "/auth/login", data={"email": user.email, "password": "wrong-" + str(i)}
        ).status_code
        for i in range(12)
    ]
    assert codes[0] == 401
    assert 429 in codes
    # Even the right password is refused while limited.
    assert (
        client.post(
            "/auth/login", data={"email": user.email, "password": TEST_PASSWORD}
        ).status_code
        == 429
    )


def test_csrf_is_required_on_forms(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        user = make_user("qa_lead")
        client = app.test_client()
        response = client.post("/auth/login", data={"email": user.email, "password": TEST_PASSWORD})
        assert response.status_code == 400
        page = client.get("/auth/login").data.decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(
            "/auth/login",
            data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_old_hashes_are_upgraded_at_login(app, auth, make_user):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(TEST_PASSWORD)
    user = make_user("qa_lead", password_hash=weak)
    assert auth.login(user).status_code == 302
    db.session.refresh(user)
    assert user.password_hash != weak
    assert f"m={app.config['ARGON2_MEMORY_COST']}" in user.password_hash
    assert user.password_hash.startswith("$argon2id$")


def test_security_headers_and_cookie_flags(client, auth, make_user):
    response = client.get("/auth/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    login = auth.login(make_user("qa_lead"))
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_pages_have_no_inline_script(client, auth, make_user):
    auth.login(make_user("admin"))
    html = client.get("/").data.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "cdn" not in html.lower()
