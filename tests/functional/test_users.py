"""User administration: list, create, edit, deactivate, reactivate, reset password."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import AuditEvent, User
from app.security.passwords import verify_password
from app.users import services
from tests.builders.committing import audit_chain_restored, wait_for_lock_waiter
from tests.factories import TEST_PASSWORD, UserFactory, VendorFactory

NEW_PASSWORD = "a long and fresh passphrase"


def _events(user: User, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.object_type == "user",
                AuditEvent.object_id == str(user.id),
                AuditEvent.action == action,
            )
        )
    )


def _user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _signed_in_copy(app, client):
    """A second browser carrying a copy of `client`'s session cookie."""
    other = app.test_client()
    other.set_cookie("vqa_session", client.get_cookie("vqa_session").value)
    return other


def _signed_out(browser) -> bool:
    response = browser.get("/")
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


# Access ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"])
def test_non_admins_are_refused_every_user_page(client, login_as, make_user, role):
    login_as(role)
    target = make_user("qa_inspector")
    for path in ("/users/", "/users/new", f"/users/{target.id}", f"/users/{target.id}/edit"):
        assert client.get(path).status_code == 403, path
    for action in ("deactivate", "activate", "reset-password", "edit"):
        assert client.post(f"/users/{target.id}/{action}").status_code == 403, action
    assert client.post("/users/new", data={"email": "x@example.test"}).status_code == 403
    db.session.refresh(target)
    assert target.active
    assert _user("x@example.test") is None


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/users/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_unknown_user_is_404(client, login_as):
    login_as("admin")
    for user_id in ("999999", "99999999999999", "0"):
        assert client.get(f"/users/{user_id}").status_code == 404
        assert client.post(f"/users/{user_id}/deactivate").status_code == 404


# List -----------------------------------------------------------------------------


def test_list_searches_filters_and_sorts(client, login_as, make_user):
    login_as("admin", name="Zed Admin")
    vendor = VendorFactory()
    alice = make_user("vendor_lead", vendor, name="Alice Anders", email="alice@acme.test")
    bob = make_user("qa_lead", name="Bob Brown", email="bob@corp.test")
    carol = make_user("qa_inspector", name="Carol Clark", email="carol@corp.test", active=False)
    bob.last_login_at = datetime.now(UTC) - timedelta(days=1)
    db.session.commit()

    page = client.get("/users/").data.decode()
    assert "Alice Anders" in page and "Bob Brown" in page
    assert "Carol Clark" not in page  # inactive users are hidden by default

    assert "Carol Clark" in client.get("/users/?status=inactive").data.decode()
    assert "Alice Anders" not in client.get("/users/?status=inactive").data.decode()
    everyone = client.get("/users/?status=all").data.decode()
    assert all(u.name in everyone for u in (alice, bob, carol))

    by_email = client.get("/users/?q=ACME").data.decode()
    assert "Alice Anders" in by_email and "Bob Brown" not in by_email
    by_name = client.get("/users/?q=brown").data.decode()
    assert "Bob Brown" in by_name and "Alice Anders" not in by_name

    by_role = client.get("/users/?role=qa_lead").data.decode()
    assert "Bob Brown" in by_role and "Alice Anders" not in by_role
    by_vendor = client.get(f"/users/?vendor={vendor.code}").data.decode()
    assert "Alice Anders" in by_vendor and "Bob Brown" not in by_vendor

    def order(query):
        html = client.get(f"/users/?status=all&{query}").data.decode()
        names = [n for n in ("Alice Anders", "Bob Brown", "Carol Clark") if n in html]
        return sorted(names, key=html.index)

    assert order("sort=name") == ["Alice Anders", "Bob Brown", "Carol Clark"]
    assert order("sort=-name") == ["Carol Clark", "Bob Brown", "Alice Anders"]
    assert order("sort=email") == ["Alice Anders", "Bob Brown", "Carol Clark"]
    assert order("sort=-role")[0] == "Alice Anders"  # vendor_lead sorts after qa_*
    assert order("sort=-last_login")[0] == "Bob Brown"  # never-signed-in users go last
    # Nonsense filters fall back to defaults instead of failing.
    for query in ("sort=password_hash&status=x&role=y&page=zz", "page=99999999999999999999"):
        assert client.get(f"/users/?{query}").status_code == 200


def test_list_paginates(app, client, login_as):
    login_as("admin")
    size = app.config["PAGE_SIZE"]
    for i in range(size + 2):
        UserFactory(name=f"Paged {i:03d}", email=f"paged{i:03d}@example.test")
    db.session.commit()
    first = client.get("/users/?q=paged").data.decode()
    second = client.get("/users/?q=paged&page=2").data.decode()
    assert f"of {size + 2} users" in first
    assert "Paged 000" in first and "Paged 000" not in second
    assert f"Paged {size + 1:03d}" in second
    assert 'rel="next"' in first


def test_list_empty_state(client, login_as):
    login_as("admin")
    response = client.get("/users/?q=nobody-matches-this")
    assert response.status_code == 200
    assert b"No users match these filters." in response.data


# Create ---------------------------------------------------------------------------


def test_admin_creates_a_person_who_can_sign_in(client, auth, login_as):
    admin = login_as("admin")
    response = client.post(
        "/users/new",
        data={
            "email": "New.Person@Example.test",
            "name": "New Person",
            "role": "qa_inspector",
            "vendor": "",
            "time_zone": "Europe/Paris",
            "password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    user = _user("new.person@example.test")
    assert user is not None
    assert (user.name, user.role, user.time_zone) == ("New Person", "qa_inspector", "Europe/Paris")
    assert (
        user.password_hash != NEW_PASSWORD and verify_password(user.password_hash, NEW_PASSWORD)[0]
    )
    [event] = _events(user, "user.created")
    assert event.actor_id == admin.id
    assert not any("hash" in key for key in event.after)
    assert user.password_hash not in str(event.after) and NEW_PASSWORD not in str(event.after)
    client.post("/auth/logout")
    assert auth.login(user, NEW_PASSWORD).status_code == 302


def test_create_vendor_user_and_integration_user(client, login_as):
    login_as("admin")
    vendor = VendorFactory()
    db.session.commit()
    response = client.post(
        "/users/new",
        data={
            "email": "lead@vendor.test",
            "name": "Lead",
            "role": "vendor_lead",
            "vendor": vendor.code,
            "time_zone": "Asia/Manila",
            "password": NEW_PASSWORD,
            "must_change_password": "y",
        },
    )
    assert response.status_code == 302
    lead = _user("lead@vendor.test")
    assert lead.vendor_id == vendor.id and lead.must_change_password

    response = client.post(
        "/users/new",
        data={"email": "bot@vendor.test", "role": "integration", "time_zone": "UTC"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert b"create one now" in response.data
    bot = _user("bot@vendor.test")
    assert bot.role == "integration" and bot.password_hash is None and bot.name == "bot"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-email"}, "Email", "Enter a valid email address."),
        ({"password": "short"}, "Initial password", "at least 12 characters"),
        ({"password": ""}, "Initial password", "A password is required."),
        ({"role": "vendor_lead"}, "Vendor", "Vendor users need a vendor."),
        ({"vendor": "__OWN__"}, "Vendor", "Only vendor roles belong to a vendor."),
        ({"role": "integration"}, "Initial password", "Integration users have no password."),
        ({"role": "superuser"}, "Role", "Not a valid choice"),
        ({"time_zone": "Mars/Olympus"}, "Time zone", "Not a valid choice"),
        ({"vendor": "NOPE"}, "Vendor", "Not a valid choice"),
        ({"email": ""}, "Email", "This field is required."),
        ({"name": "x" * 121}, "Name", "120"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(client, login_as, data, field, message):
    login_as("admin")
    vendor = VendorFactory()
    db.session.commit()
    form = {
        "email": "someone@example.test",
        "name": "Someone",
        "role": "qa_lead",
        "vendor": "",
        "time_zone": "UTC",
        "password": NEW_PASSWORD,
    }
    form.update({k: vendor.code if v == "__OWN__" else v for k, v in data.items()})
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    response = client.post("/users/new", data=form)
    assert response.status_code == 400
    html = response.data.decode()
    assert f"<strong>{field}</strong>" in html
    assert message in html
    assert "is-invalid" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def test_create_refuses_a_duplicate_email(client, login_as, make_user):
    login_as("admin")
    existing = make_user("qa_lead", email="taken@example.test")
    db.session.commit()
    response = client.post(
        "/users/new",
        data={
            "email": "TAKEN@example.test",
            "name": "Other",
            "role": "qa_inspector",
            "time_zone": "UTC",
            "password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert b"This email is already in use." in response.data
    db.session.refresh(existing)
    assert existing.role == "qa_lead"


def test_create_form_renders(client, login_as):
    login_as("admin")
    html = client.get("/users/new").data.decode()
    assert 'name="email"' in html and 'name="password"' in html
    assert '<option value="Europe/London">' in html
    assert 'value="integration"' in html


# Detail and edit ------------------------------------------------------------------


def test_detail_shows_user_tokens_and_activity(client, login_as, make_user):
    from app.tokens.services import create_token

    login_as("admin")
    user = make_user("qa_lead", name="Dora Detail")
    token, _ = create_token(user, name="Reporting job")
    services.update_user(
        user, name="Dora Detail", role="qa_lead", vendor=None, time_zone="Asia/Tokyo"
    )
    db.session.commit()
    html = client.get(f"/users/{user.id}").data.decode()
    assert "Dora Detail" in html and user.email in html
    assert "Reporting job" in html and token.prefix in html
    assert "user.updated" in html and "token.created" in html
    assert "Asia/Tokyo" in html


def test_edit_changes_fields_and_is_audited(client, login_as, make_user):
    admin = login_as("admin")
    user = make_user("qa_inspector", name="Old Name")
    db.session.commit()
    form = client.get(f"/users/{user.id}/edit").data.decode()
    assert f'value="{user.email}" readonly' in form
    response = client.post(
        f"/users/{user.id}/edit",
        data={
            "name": "New Name",
            "role": "qa_inspector",
            "vendor": "",
            "time_zone": "America/New_York",
            "email": "hijack@example.test",  # not a field of the edit form: ignored
        },
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert (user.name, user.time_zone) == ("New Name", "America/New_York")
    assert user.email.startswith("user")
    [event] = _events(user, "user.updated")
    assert event.actor_id == admin.id
    assert event.before["name"] == "Old Name" and event.after["name"] == "New Name"
    assert not any("hash" in key for key in {**event.before, **event.after})


def test_a_legacy_time_zone_can_be_kept_when_editing(client, login_as, make_user):
    login_as("admin")
    user = make_user("qa_inspector", time_zone="GB")
    db.session.commit()
    assert '<option selected value="GB">' in client.get(f"/users/{user.id}/edit").data.decode()
    response = client.post(
        f"/users/{user.id}/edit",
        data={"name": "Kept Zone", "role": user.role, "vendor": "", "time_zone": "GB"},
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert (user.name, user.time_zone) == ("Kept Zone", "GB")


def test_saving_without_changes_writes_no_audit(client, login_as, make_user):
    login_as("admin")
    user = make_user("qa_inspector")
    db.session.commit()
    response = client.post(
        f"/users/{user.id}/edit",
        data={"name": user.name, "role": user.role, "vendor": "", "time_zone": user.time_zone},
        follow_redirects=True,
    )
    assert b"Nothing changed." in response.data
    assert _events(user, "user.updated") == []


def test_role_change_signs_the_user_out(app, client, auth, login_as, make_user):
    target = make_user("qa_inspector")
    db.session.commit()
    auth.login(target)
    victim_browser = _signed_in_copy(app, client)
    assert victim_browser.get("/").status_code == 200
    client.delete_cookie("vqa_session")  # the test client becomes the admin's browser
    login_as("admin")
    response = client.post(
        f"/users/{target.id}/edit",
        data={"name": target.name, "role": "qa_lead", "vendor": "", "time_zone": "UTC"},
        follow_redirects=True,
    )
    assert b"signed out everywhere" in response.data
    assert _signed_out(victim_browser)  # old cookie no longer works
    db.session.refresh(target)
    assert target.role == "qa_lead"
    [event] = _events(target, "user.updated")
    assert (event.before["role"], event.after["role"]) == ("qa_inspector", "qa_lead")


def test_vendor_change_signs_out_and_name_change_does_not(app, client, auth, login_as):
    first, second = VendorFactory(), VendorFactory()
    target = UserFactory(role="vendor_viewer", vendor=first)
    db.session.commit()
    auth.login(target)
    victim_browser = _signed_in_copy(app, client)
    client.delete_cookie("vqa_session")
    login_as("admin")
    data = {"name": "Renamed", "role": "vendor_viewer", "vendor": first.code, "time_zone": "UTC"}
    client.post(f"/users/{target.id}/edit", data=data)
    assert victim_browser.get("/").status_code == 200  # a new name changes no access
    client.post(f"/users/{target.id}/edit", data={**data, "vendor": second.code})
    assert _signed_out(victim_browser)
    db.session.refresh(target)
    assert target.vendor_id == second.id


def test_role_change_revokes_tokens_beyond_the_new_role(client, login_as, make_user, api_client):
    login_as("admin")
    user = make_user("qa_lead")
    reader = api_client(user, scopes=["read"])
    writer = api_client(user, scopes=["read", "samples:write"])
    response = client.post(
        f"/users/{user.id}/edit",
        data={"name": user.name, "role": "qa_inspector", "vendor": "", "time_zone": "UTC"},
        follow_redirects=True,
    )
    assert b"1 API token(s) were revoked" in response.data
    assert reader.get("/api/v1/me").status_code == 200
    assert writer.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"role": "vendor_viewer"}, "Vendor", "Vendor users need a vendor."),
        ({"name": ""}, "Name", "This field is required."),
        ({"time_zone": "Nowhere/Land"}, "Time zone", "Not a valid choice"),
        ({"role": "root"}, "Role", "Not a valid choice"),
    ],
)
def test_edit_rejects_bad_input_and_changes_nothing(
    client, login_as, make_user, data, field, message
):
    login_as("admin")
    user = make_user("qa_inspector", name="Steady")
    db.session.commit()
    token = user.session_token
    form = {"name": "Changed", "role": "qa_lead", "vendor": "", "time_zone": "UTC", **data}
    response = client.post(f"/users/{user.id}/edit", data=form)
    assert response.status_code == 400
    assert f"<strong>{field}</strong>" in response.data.decode()
    assert message in response.data.decode()
    db.session.refresh(user)
    assert (user.name, user.role, user.session_token) == ("Steady", "qa_inspector", token)
    assert _events(user, "user.updated") == []


def test_admin_cannot_change_their_own_role(client, login_as):
    admin = login_as("admin", name="Self")
    UserFactory(role="admin")  # not the last admin: the refusal is about oneself
    db.session.commit()
    response = client.post(
        f"/users/{admin.id}/edit",
        data={"name": "Self", "role": "qa_lead", "vendor": "", "time_zone": "UTC"},
    )
    assert response.status_code == 400
    assert b"You cannot change your own role." in response.data
    db.session.refresh(admin)
    assert admin.role == "admin"
    # Their own name and zone they may change, and they stay signed in.
    response = client.post(
        f"/users/{admin.id}/edit",
        data={"name": "Self Renamed", "role": "admin", "vendor": "", "time_zone": "UTC"},
    )
    assert response.status_code == 302
    assert client.get("/users/").status_code == 200


# Deactivate and reactivate --------------------------------------------------------


def test_deactivate_signs_out_stops_tokens_and_reactivate_restores(
    app, client, auth, login_as, make_user, api_client
):
    target = make_user("vendor_lead")
    db.session.commit()
    api = api_client(target)
    assert api.get("/api/v1/me").status_code == 200
    auth.login(target)
    victim_browser = _signed_in_copy(app, client)
    client.delete_cookie("vqa_session")
    admin = login_as("admin")

    response = client.post(f"/users/{target.id}/deactivate", follow_redirects=True)
    assert response.status_code == 200
    assert b"was deactivated" in response.data
    assert _signed_out(victim_browser)
    denied = api.get("/api/v1/me")
    assert denied.status_code == 401
    assert denied.json["error"]["code"] == "unauthorized"
    db.session.refresh(target)
    assert not target.active
    [event] = _events(target, "user.deactivated")
    assert event.actor_id == admin.id
    assert (event.before["active"], event.after["active"]) == (True, False)
    assert auth_login_status(app, target) == 401

    response = client.post(f"/users/{target.id}/activate", follow_redirects=True)
    assert b"was reactivated" in response.data
    db.session.refresh(target)
    assert target.active
    assert len(_events(target, "user.activated")) == 1
    assert auth_login_status(app, target) == 302


def auth_login_status(app, user) -> int:
    """Sign `user` in from a fresh browser; the status code of the attempt."""
    browser = app.test_client()
    return browser.post(
        "/auth/login", data={"email": user.email, "password": TEST_PASSWORD}
    ).status_code


def test_admin_cannot_deactivate_themselves(client, login_as):
    admin = login_as("admin")
    UserFactory(role="admin")
    db.session.commit()
    response = client.post(f"/users/{admin.id}/deactivate")
    assert response.status_code == 403
    assert b"You cannot deactivate your own account" in response.data
    db.session.refresh(admin)
    assert admin.active
    assert client.get("/users/").status_code == 200  # still signed in
    assert _events(admin, "user.deactivated") == []


def test_the_last_active_admin_is_protected(make_user):
    """Through the pages an admin can only act on another admin, so the guard is
    reached when the acting account is not an admin (e.g. the command line) or when
    two admins act at once (see the PostgreSQL test below)."""
    sole = make_user("admin")
    make_user("admin", active=False)  # inactive admins do not count
    db.session.flush()
    with pytest.raises(Conflict, match="last active admin"):
        services.deactivate_user(sole)
    with pytest.raises(ValidationFailed) as err:
        services.update_user(sole, name=sole.name, role="qa_lead", vendor=None, time_zone="UTC")
    assert err.value.details[0]["field"] == "role"
    db.session.refresh(sole)
    assert sole.active and sole.role == "admin"
    second = make_user("admin")
    db.session.flush()
    assert services.deactivate_user(sole, actor=second) is True


def test_deactivating_another_admin_is_allowed(client, login_as, make_user):
    login_as("admin")
    other = make_user("admin")
    db.session.commit()
    assert client.post(f"/users/{other.id}/deactivate").status_code == 302
    db.session.refresh(other)
    assert not other.active


@pytest.mark.postgres_only
@pytest.mark.committing
def test_two_admins_removing_each_other_at_once_cannot_both_win(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL row locks and real concurrent connections")
    with audit_chain_restored() as cleanup:
        tag = uuid.uuid4().hex[:8]
        a = User(email=f"race-a-{tag}@example.test", name="Race A", role="admin")
        b = User(email=f"race-b-{tag}@example.test", name="Race B", role="admin")
        db.session.add_all([a, b])
        db.session.commit()
        ids = [a.id, b.id]
        cleanup.append(sa.delete(User.__table__).where(User.id.in_(ids)))
        # Another active admin would make both removals legal; there is none in a test
        # database.
        others = sa.select(sa.func.count()).where(
            User.role == "admin", User.active, User.id.not_in(ids)
        )
        assert db.session.scalar(others) == 0
        outcome: dict[str, str] = {}

        def b_removes_a():
            with app.app_context():
                try:
                    actor, target = db.session.get(User, b.id), db.session.get(User, a.id)
                    services.deactivate_user(target, actor=actor)  # waits for a's locks
                    db.session.commit()
                    outcome["b"] = "won"
                except Conflict:
                    db.session.rollback()
                    outcome["b"] = "refused"
                finally:
                    db.session.remove()

        assert services.deactivate_user(b, actor=a) is True  # a now holds the admin locks
        thread = threading.Thread(target=b_removes_a)
        thread.start()
        assert wait_for_lock_waiter()
        db.session.commit()
        thread.join(10)
        assert outcome == {"b": "refused"}
        db.session.expire_all()
        assert db.session.get(User, a.id).active
        assert not db.session.get(User, b.id).active


# Reset password -------------------------------------------------------------------


def test_reset_password_shows_it_once_and_forces_a_change(app, client, auth, login_as, make_user):
    target = make_user("qa_inspector")
    db.session.commit()
    auth.login(target)
    victim_browser = _signed_in_copy(app, client)
    client.delete_cookie("vqa_session")
    admin = login_as("admin")

    response = client.post(f"/users/{target.id}/reset-password")
    assert response.status_code == 200
    html = response.data.decode()
    temporary = re.search(r'id="temporary-password" type="text" value="([^"]+)"', html).group(1)
    assert "data-select-on-focus" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert _signed_out(victim_browser)  # signed out everywhere
    # Never shown again, never stored in plain.
    assert temporary not in client.get(f"/users/{target.id}").data.decode()
    db.session.refresh(target)
    assert target.must_change_password
    assert target.password_hash != temporary
    assert verify_password(target.password_hash, temporary)[0]
    [event] = _events(target, "user.password_reset")
    assert event.actor_id == admin.id
    assert event.after["must_change_password"] is True
    assert temporary not in str(event.before) + str(event.after) + event.summary
    assert not any("hash" in key for key in event.after)

    # The user signs in with it and must choose a new password before anything else.
    client.post("/auth/logout")
    login = auth.login(target, temporary)
    assert login.status_code == 302
    assert login.headers["Location"].endswith("/auth/password")
    assert client.get("/").headers["Location"].endswith("/auth/password")
    changed = client.post(
        "/auth/password",
        data={"current": temporary, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert client.get("/").status_code == 200
    db.session.refresh(target)
    assert not target.must_change_password
    assert auth_login_status(app, target) == 401  # the old password is gone


def test_reset_password_is_refused_for_oneself_and_integrations(client, login_as, make_user):
    admin = login_as("admin")
    bot = make_user("integration")
    db.session.commit()
    own = client.post(f"/users/{admin.id}/reset-password")
    assert own.status_code == 403
    assert "Use “Change password” for your own account.".encode() in own.data
    integration = client.post(f"/users/{bot.id}/reset-password")
    assert integration.status_code == 403
    assert b"Integration users have no password" in integration.data
    db.session.refresh(bot)
    assert bot.password_hash is None
    assert _events(bot, "user.password_reset") == []
