"""API token administration: list, create (shown once), revoke; how tokens are accepted."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, AuditEvent
from app.security.tokens import hash_token
from app.tokens.services import create_token
from tests.factories import UserFactory, VendorFactory

pytestmark = pytest.mark.promise("accounts")


def _plain_from(response) -> str:
    match = re.search(r'id="new-token" type="text" value="([^"]+)"', response.data.decode())
    assert match, response.data.decode()[:2000]
    return match.group(1)


def _create(client, owner, **data):
    form = {"user": str(owner.id), "name": "Integration feed", **data}
    if "scopes" not in data:
        form["scopes"] = ["read"]
    return client.post("/tokens/new", data=form)


def _bearer(client, plain: str, path: str = "/api/v1/me"):
    return client.get(path, headers={"Authorization": f"Bearer {plain}"})


def _assert_error_shape(response, status: int):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _token_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken))


# Access ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"])
def test_non_admins_are_refused_every_token_page(client, login_as, make_user, role):
    login_as(role)
    owner = make_user("qa_lead")
    token, _ = create_token(owner, name="kept")
    db.session.commit()
    for path in ("/tokens/", "/tokens/new", f"/tokens/new?user={owner.id}"):
        assert client.get(path).status_code == 403, path
    assert _create(client, owner).status_code == 403
    assert client.post(f"/tokens/{token.id}/revoke").status_code == 403
    db.session.refresh(token)
    assert token.revoked_at is None
    assert _token_count() == 1


# Create ---------------------------------------------------------------------------


def test_created_token_is_shown_once_works_and_is_stored_hashed(client, login_as, make_user):
    admin = login_as("admin")
    owner = make_user("qa_lead", name="Token Owner")
    db.session.commit()
    form = client.get(f"/tokens/new?user={owner.id}").data.decode()
    # Every scope the role allows is offered and checked by default.
    for scope in ("read", "decisions:write", "samples:write", "calibrations:write"):
        assert f'value="{scope}" checked' in form

    response = _create(client, owner, scopes=["read", "decisions:write"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    plain = _plain_from(response)
    assert plain.startswith("vqa_")
    assert "data-select-on-focus" in response.data.decode()

    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == owner.id))
    assert token.token_hash == hash_token(plain)
    assert token.scopes == ["decisions:write", "read"]
    assert token.created_by_id == admin.id
    assert plain.startswith(token.prefix) and len(token.prefix) < len(plain)
    _assert_nowhere_in_database(plain)

    # Never shown again: not in the list, not on the user's page.
    assert plain not in client.get("/tokens/?status=all").data.decode()
    assert plain not in client.get(f"/users/{owner.id}").data.decode()

    me = _bearer(client, plain)
    assert me.status_code == 200
    assert me.get_json()["email"] == owner.email
    assert me.get_json()["scopes"] == ["decisions:write", "read"]

    [event] = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "token.created", AuditEvent.object_id == str(token.id)
        )
    ).all()
    assert event.actor_id == admin.id
    assert plain not in str(event.after) + event.summary


def _assert_nowhere_in_database(plain: str) -> None:
    """No text column of any table holds the plain token."""
    for table in db.metadata.sorted_tables:
        text_columns = [
            c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))
        ]
        for column in text_columns:
            value = sa.cast(column, sa.Text) if isinstance(column.type, sa.JSON) else column
            hits = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(table)
                .where(value.contains(plain, autoescape=True))
            )
            assert hits == 0, f"{table.name}.{column.name} holds the plain token"


def test_integration_users_get_tokens_and_default_scopes(client, login_as, make_user):
    login_as("admin")
    bot = make_user("integration", name="Feed bot")
    db.session.commit()
    chooser = client.get("/tokens/new").data.decode()
    assert "Feed bot" in chooser
    response = _create(client, bot, scopes=["read", "decisions:write"])
    plain = _plain_from(response)
    assert _bearer(client, plain).get_json()["role"] == "integration"


def test_scopes_beyond_the_role_are_refused(client, login_as, make_user):
    login_as("admin")
    viewer = make_user("vendor_viewer")
    db.session.commit()
    form = client.get(f"/tokens/new?user={viewer.id}").data.decode()
    assert 'value="read"' in form and 'value="decisions:write"' not in form
    response = _create(client, viewer, scopes=["read", "decisions:write"])
    assert response.status_code == 400
    html = response.data.decode()
    assert "<strong>Scopes</strong>" in html and "Not allowed for role vendor_viewer" in html
    assert _token_count() == 0


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "Name", "This field is required."),
        ({"name": "x" * 121}, "Name", "120"),
        ({"scopes": []}, "Scopes", "Choose at least one scope."),
        ({"scopes": ["everything"]}, "Scopes", "not a valid choice"),
        ({"expires_on": "2001-01-01"}, "Valid through", "Must be in the future."),
        ({"expires_on": "9999-12-31"}, "Valid through", "within 10 years"),
        ({"expires_on": "next tuesday"}, "Valid through", "Not a valid date value."),
        ({"user": ""}, "User", "Choose a user."),
        ({"user": "abc"}, "User", "Choose an active user."),
        ({"user": "999999"}, "User", "Choose an active user."),
        ({"user": "99999999999999"}, "User", "Choose an active user."),
    ],
)
def test_create_rejects_bad_input_and_stores_nothing(
    client, login_as, make_user, data, field, message
):
    login_as("admin")
    owner = make_user("qa_lead")
    db.session.commit()
    response = _create(client, owner, **data)
    assert response.status_code == 400
    html = response.data.decode()
    assert f"<strong>{field}</strong>" in html
    assert message in html
    assert _token_count() == 0


def test_a_deactivated_user_cannot_be_given_a_token(client, login_as, make_user):
    login_as("admin")
    gone = make_user("qa_lead", active=False)
    db.session.commit()
    assert f'value="{gone.id}"' not in client.get("/tokens/new").data.decode()
    response = _create(client, gone)
    assert response.status_code == 400
    assert b"Choose an active user." in response.data
    assert _token_count() == 0


def test_expiry_date_is_kept_and_shown(client, login_as, make_user):
    login_as("admin", time_zone="Asia/Tokyo")
    owner = make_user("qa_lead")
    db.session.commit()
    day = date.today() + timedelta(days=30)
    response = _create(client, owner, expires_on=day.isoformat())
    assert response.status_code == 200
    token = db.session.scalar(sa.select(ApiToken))
    # Valid through the whole chosen day in the admin's zone (Tokyo is UTC+9).
    assert token.expires_at == datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
    assert _bearer(client, _plain_from(response)).status_code == 200


# Refusals on the API ------------------------------------------------------------------


def test_token_in_the_query_string_is_refused(client, make_user):
    owner = make_user("qa_lead")
    _, plain = create_token(owner, name="leaky")
    db.session.commit()
    for name in ("access_token", "token", "api_key"):
        error = _assert_error_shape(client.get(f"/api/v1/me?{name}={plain}"), 401)
        assert error["code"] == "unauthorized"
        assert "Authorization header" in error["message"]
    # Even alongside a valid header, a token in the URL is refused (it has leaked).
    response = client.get(
        f"/api/v1/me?access_token={plain}", headers={"Authorization": f"Bearer {plain}"}
    )
    assert response.status_code == 401


def test_revoked_token_stops_working_at_once(client, login_as, make_user):
    admin = login_as("admin")
    owner = make_user("qa_lead")
    token, plain = create_token(owner, name="to revoke")
    db.session.commit()
    assert _bearer(client, plain).status_code == 200
    page = client.get("/tokens/").data.decode()
    assert f"/tokens/{token.id}/revoke" in page and "data-confirm" in page

    response = client.post(f"/tokens/{token.id}/revoke", follow_redirects=True)
    assert response.status_code == 200
    assert b"was revoked" in response.data
    error = _assert_error_shape(_bearer(client, plain), 401)
    assert error["code"] == "unauthorized"
    db.session.refresh(token)
    assert token.revoked_at is not None
    [event] = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "token.revoked", AuditEvent.object_id == str(token.id)
        )
    ).all()
    assert event.actor_id == admin.id
    assert event.before["revoked_at"] is None and event.after["revoked_at"]
    # Revoking twice is harmless and writes nothing more.
    again = client.post(f"/tokens/{token.id}/revoke", follow_redirects=True)
    assert b"already revoked" in again.data
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                AuditEvent.action == "token.revoked", AuditEvent.object_id == str(token.id)
            )
        )
        == 1
    )


def test_revoke_needs_post_and_an_existing_token(client, login_as):
    login_as("admin")
    assert client.get("/tokens/1/revoke").status_code == 405
    assert client.post("/tokens/999999/revoke").status_code == 404
    assert client.post("/tokens/99999999999999/revoke").status_code == 404


def test_revoke_returns_only_to_this_site(client, login_as, make_user):
    login_as("admin")
    owner = make_user("qa_lead")
    token, _ = create_token(owner, name="x")
    db.session.commit()
    response = client.post(f"/tokens/{token.id}/revoke?next=https://evil.example/")
    assert response.headers["Location"].endswith("/tokens/")
    token2, _ = create_token(owner, name="y")
    db.session.commit()
    response = client.post(f"/tokens/{token2.id}/revoke?next=/users/{owner.id}")
    assert response.headers["Location"].endswith(f"/users/{owner.id}")


def test_expired_token_is_refused(client, make_user):
    owner = make_user("qa_lead")
    token, plain = create_token(owner, name="short-lived")
    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    error = _assert_error_shape(_bearer(client, plain), 401)
    assert "expired" in error["message"]


def test_tokens_of_a_deactivated_user_stop_working(client, login_as, make_user):
    login_as("admin")
    owner = make_user("qa_lead")
    _, plain = create_token(owner, name="owner's")
    db.session.commit()
    assert _bearer(client, plain).status_code == 200
    client.post(f"/users/{owner.id}/deactivate")
    error = _assert_error_shape(_bearer(client, plain), 401)
    assert "deactivated" in error["message"]
    listed = client.get("/tokens/?status=all").data.decode()
    assert "User inactive" in listed


def test_unknown_or_malformed_tokens_are_refused(client):
    for header in ("Bearer vqa_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "vqa_x"):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        _assert_error_shape(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_last_used_is_recorded(client, make_user):
    owner = make_user("qa_lead")
    token, plain = create_token(owner, name="used")
    db.session.commit()
    assert token.last_used_at is None
    before = datetime.now(UTC)
    assert _bearer(client, plain).status_code == 200
    db.session.refresh(token)
    assert token.last_used_at is not None and token.last_used_at >= before - timedelta(seconds=1)


# List -------------------------------------------------------------------------------


def test_list_filters_searches_and_paginates(app, client, login_as):
    login_as("admin")
    vendor = VendorFactory()
    alice = UserFactory(role="vendor_lead", vendor=vendor, email="alice@acme.test")
    bob = UserFactory(role="qa_lead", email="bob@corp.test", name="Bob Builder")
    create_token(alice, name="Alice live")
    revoked, _ = create_token(bob, name="Bob revoked")
    revoked.revoked_at = datetime.now(UTC)
    expired, _ = create_token(bob, name="Bob expired")
    expired.expires_at = datetime.now(UTC) - timedelta(days=1)
    db.session.commit()

    active = client.get("/tokens/").data.decode()
    assert "Alice live" in active
    assert "Bob revoked" not in active and "Bob expired" not in active
    assert "Bob revoked" in client.get("/tokens/?status=revoked").data.decode()
    assert "Alice live" not in client.get("/tokens/?status=revoked").data.decode()
    assert "Bob expired" in client.get("/tokens/?status=expired").data.decode()
    everything = client.get("/tokens/?status=all").data.decode()
    assert all(n in everything for n in ("Alice live", "Bob revoked", "Bob expired"))
    for column in ("Prefix", "Scopes", "Created", "Last used", "Expires", "Status"):
        assert f"<th>{column}</th>" in everything

    by_user = client.get("/tokens/?status=all&q=builder").data.decode()
    assert "Bob revoked" in by_user and "Alice live" not in by_user
    by_email = client.get("/tokens/?status=all&q=ACME").data.decode()
    assert "Alice live" in by_email and "Bob revoked" not in by_email
    of_bob = client.get(f"/tokens/?status=all&user={bob.id}").data.decode()
    assert "Bob expired" in of_bob and "Alice live" not in of_bob

    empty = client.get("/tokens/?q=nobody-at-all")
    assert empty.status_code == 200
    assert b"No tokens match these filters." in empty.data
    for query in ("status=bogus&user=x&page=-3", "user=99999999999999", "page=" + "9" * 20):
        assert client.get(f"/tokens/?{query}").status_code == 200
    assert client.get("/tokens/new?user=99999999999999").status_code == 200

    size = app.config["PAGE_SIZE"]
    for i in range(size + 1):
        create_token(alice, name=f"bulk {i:03d}")
    db.session.commit()
    first = client.get("/tokens/?q=alice").data.decode()
    second = client.get("/tokens/?q=alice&page=2").data.decode()
    assert f"of {size + 2} tokens" in first
    assert "Alice live" not in first and "Alice live" in second  # newest first


def test_list_empty_state(client, login_as):
    login_as("admin")
    response = client.get("/tokens/")
    assert response.status_code == 200
    assert b"There are no active API tokens." in response.data
