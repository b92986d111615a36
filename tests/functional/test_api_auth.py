"""API authentication (DESIGN §8, §9): bearer tokens in the Authorization header only,
stored hashed, scoped; cookies never authenticate the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken
from app.security.roles import ROLE_SCOPES
from app.tokens.services import create_token, revoke_token

pytestmark = pytest.mark.promise("accounts")

ME = "/api/v1/me"


def _token(user, scopes=None, **kwargs) -> str:
    _, plain = create_token(user, name="test", scopes=scopes, **kwargs)
    db.session.commit()
    return plain


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _assert_401(response) -> dict:
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.get_json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"]
    return error


def test_me_answers_the_tokens_user_role_vendor_and_scopes(client, make_user):
    user = make_user("vendor_lead", name="Vera Lead")
    response = client.get(ME, headers=_bearer(_token(user)))
    assert response.status_code == 200
    assert response.get_json() == {
        "email": user.email,
        "name": "Vera Lead",
        "role": "vendor_lead",
        "vendor": user.vendor.code,
        "scopes": sorted(ROLE_SCOPES["vendor_lead"]),
    }


def test_me_for_staff_and_integration_users_has_no_vendor(client, make_user):
    for role in ("qa_lead", "integration"):
        user = make_user(role)
        body = client.get(ME, headers=_bearer(_token(user, scopes=["read"]))).get_json()
        assert body["role"] == role
        assert body["vendor"] is None
        assert body["scopes"] == ["read"]


def test_the_bearer_scheme_is_case_insensitive(client, make_user):
    token = _token(make_user("qa_lead"))
    assert client.get(ME, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_no_token_is_a_401_with_www_authenticate(client):
    error = _assert_401(client.get(ME))
    assert "bearer token" in error["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Token {token}",
        "{token}",
        "Bearer{token}",
        "Bearer {token}x",
        "Bearer {token} {token}",
    ],
)
def test_malformed_authorization_headers_are_a_401(client, make_user, header):
    token = _token(make_user("qa_lead"))
    _assert_401(client.get(ME, headers={"Authorization": header.format(token=token)}))


def test_unknown_token_is_a_401(client):
    error = _assert_401(client.get(ME, headers=_bearer("vqa_" + "x" * 43)))
    assert error["message"] == "the token is not valid"


@pytest.mark.parametrize("name", ["access_token", "token", "api_key"])
def test_token_in_the_query_string_is_refused_even_with_the_header(client, make_user, name):
    token = _token(make_user("qa_lead"))
    only_query = client.get(f"{ME}?{name}={token}")
    _assert_401(only_query)
    both = client.get(f"{ME}?{name}={token}", headers=_bearer(token))
    error = _assert_401(both)
    assert "only in the Authorization header" in error["message"]


def test_a_session_cookie_alone_does_not_authenticate_the_api(client, auth, make_user):
    user = make_user("admin")
    assert auth.login(user).status_code == 302
    assert client.get("/").status_code == 200  # the browser session works for pages
    _assert_401(client.get(ME))
    _assert_401(client.get(ME, headers={"Accept": "application/json"}))


def test_the_token_decides_who_calls_even_with_another_users_cookie(client, auth, make_user):
    admin = make_user("admin")
    viewer = make_user("vendor_viewer")
    auth.login(admin)
    body = client.get(ME, headers=_bearer(_token(viewer))).get_json()
    assert body["email"] == viewer.email
    assert body["role"] == "vendor_viewer"


def test_a_token_without_the_read_scope_is_a_403(client, make_user):
    user = make_user("integration")
    response = client.get(ME, headers=_bearer(_token(user, scopes=["decisions:write"])))
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden"
    assert "'read' scope" in error["message"]
    assert "WWW-Authenticate" not in response.headers


def test_revoked_token_is_a_401(client, make_user):
    user = make_user("qa_lead")
    token = _token(user)
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    revoke_token(row)
    db.session.commit()
    _assert_401(client.get(ME, headers=_bearer(token)))


def test_expired_token_is_a_401(client, make_user):
    user = make_user("qa_lead")
    token = _token(user, expires_at=datetime.now(UTC) + timedelta(days=1))
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.session.commit()
    error = _assert_401(client.get(ME, headers=_bearer(token)))
    assert "expired" in error["message"]


def test_deactivated_users_token_is_a_401(client, make_user):
    user = make_user("integration")
    token = _token(user)
    user.active = False
    db.session.commit()
    error = _assert_401(client.get(ME, headers=_bearer(token)))
    assert "deactivated" in error["message"]


def test_tokens_are_stored_hashed_and_last_use_is_recorded(client, make_user):
    user = make_user("qa_lead")
    token = _token(user)
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    assert row.last_used_at is None
    assert token not in (row.token_hash, row.prefix)
    assert token.startswith(row.prefix)
    client.get(ME, headers=_bearer(token))
    db.session.refresh(row)
    assert row.last_used_at is not None
    assert datetime.now(UTC) - row.last_used_at < timedelta(minutes=1)
