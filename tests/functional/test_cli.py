"""The `flask` commands operators use (DESIGN §8): users, tokens, demo data, audit."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    ApiToken,
    AuditEvent,
    Decision,
    Inspection,
    InspectionVersion,
    Label,
    Sample,
    SampleItem,
    SamplingPlan,
    User,
    Vendor,
    VendorContract,
)
from app.security.roles import ROLE_SCOPES, ROLES
from app.seed.demo import DEMO_PASSWORD
from tests.builders.demo import seed_demo
from tests.builders.world import module_world
from tests.factories import VendorFactory
from tests.refs import ref

PASSWORD = "a long enough passphrase"


def _user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _create_user(runner, *args: str, password: str | None = PASSWORD):
    return runner.invoke(
        args=["users", "create", *args],
        input=None if password is None else password + "\n",
    )


def _all_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


# --- users create ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "qa_lead", "qa_inspector"])
def test_users_create_makes_staff_users_who_can_sign_in(runner, auth, role):
    email = f"new.{role}@example.test"
    result = _create_user(runner, "--email", email, "--role", role, "--name", "New Person")
    assert result.exit_code == 0, result.output
    assert f"created {role} {email}" in result.output
    user = _user(email)
    assert user.role == role
    assert user.vendor is None
    assert user.name == "New Person"
    assert auth.login(email, PASSWORD).status_code == 302
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))
    ).all()
    assert actions == ["user.created"]


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_users_create_makes_vendor_users_of_the_given_vendor(runner, auth, role):
    vendor = VendorFactory(code="ACMECLI")
    email = f"{role}@acme.example"
    # The vendor code is matched case-insensitively, as people type it.
    result = _create_user(runner, "--email", email, "--role", role, "--vendor", "acmecli")
    assert result.exit_code == 0, result.output
    user = _user(email)
    assert user.role == role
    assert user.vendor_id == vendor.id
    assert auth.login(email, PASSWORD).status_code == 302


def test_users_create_normalises_the_email(runner):
    result = _create_user(runner, "--email", "  Mixed.Case@Example.TEST ", "--role", "qa_lead")
    assert result.exit_code == 0, result.output
    assert _user("mixed.case@example.test") is not None


def test_integration_users_get_no_password_and_cannot_sign_in(runner, auth):
    # Whatever arrives on standard input is not taken as a password.
    result = _create_user(
        runner, "--email", "feed@example.test", "--role", "integration", password=PASSWORD
    )
    assert result.exit_code == 0, result.output
    user = _user("feed@example.test")
    assert user.role == "integration"
    assert user.password_hash is None
    assert auth.login("feed@example.test", PASSWORD).status_code == 401
    assert auth.login("feed@example.test", "").status_code in (400, 401)


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--role", "vendor_lead"], PASSWORD, "vendor: Vendor users need a vendor."),
        (["--role", "vendor_viewer", "--vendor", "NOPE"], PASSWORD, "no vendor with code 'NOPE'"),
        (
            ["--role", "qa_lead", "--vendor", "ACMECLI"],
            PASSWORD,
            "vendor: Only vendor roles belong to a vendor.",
        ),
        (["--role", "qa_lead"], "short", "password: Use at least 12 characters."),
        (["--role", "qa_lead"], "", "password: A password is required."),
        (["--role", "qa_lead"], "aaaaaaaaaaaaaaaa", "password: The password is too repetitive."),
        (
            ["--role", "qa_lead", "--time-zone", "Mars/Olympus"],
            PASSWORD,
            "time_zone: Unknown time zone 'Mars/Olympus'.",
        ),
    ],
)
def test_users_create_refuses_bad_input_and_creates_nothing(runner, args, password, message):
    VendorFactory(code="ACMECLI")
    users_before = _count(User)
    events_before = _count(AuditEvent)
    result = _create_user(runner, "--email", "someone@example.test", *args, password=password)
    assert result.exit_code == 1
    assert f"error: {message}" in result.stderr
    assert _user("someone@example.test") is None
    assert _count(User) == users_before
    assert _count(AuditEvent) == events_before


def test_users_create_refuses_an_unknown_role(runner):
    result = _create_user(runner, "--email", "someone@example.test", "--role", "superuser")
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert "'superuser' is not one of" in result.output
    assert _user("someone@example.test") is None


def test_users_create_refuses_an_invalid_email(runner):
    result = _create_user(runner, "--email", "not-an-email", "--role", "qa_lead")
    assert result.exit_code == 1
    assert "email: Enter a valid email address." in result.stderr
    assert _user("not-an-email") is None


def test_users_create_refuses_a_duplicate_email(runner, make_user):
    existing = make_user("qa_lead", email="taken@example.test")
    db.session.commit()  # the command rolls back its own failure only
    users_before = _count(User)
    result = _create_user(runner, "--email", "TAKEN@example.test", "--role", "admin")
    assert result.exit_code == 1
    assert "A user with email taken@example.test already exists." in result.stderr
    assert _count(User) == users_before
    db.session.refresh(existing)
    assert existing.role == "qa_lead"


# --- tokens create --------------------------------------------------------------------


def _token_from(result) -> str:
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    # Only the token goes to standard output, so scripts can capture it.
    assert re.fullmatch(r"vqa_[A-Za-z0-9_-]{20,}", token), result.stdout
    return token


@pytest.mark.parametrize("role", ROLES)
def test_tokens_create_prints_a_working_token_with_the_roles_scopes(
    runner, client, make_user, role
):
    user = make_user(role)
    result = runner.invoke(args=["tokens", "create", "--email", user.email])
    token = _token_from(result)
    assert "scopes:" in result.stderr
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.get_json()
    body = me.get_json()
    assert body["email"] == user.email
    assert body["role"] == role
    assert body["scopes"] == sorted(ROLE_SCOPES[role])
    stored = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    assert token not in (stored.token_hash, stored.prefix)  # shown once, stored hashed


def test_tokens_create_with_chosen_scopes(runner, client, make_user):
    user = make_user("qa_lead")
    result = runner.invoke(
        args=["tokens", "create", "--email", user.email, "--scope", "read", "--scope", "read"]
    )
    token = _token_from(result)
    body = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["scopes"] == ["read"]


def test_tokens_create_refuses_a_scope_beyond_the_role(runner, make_user):
    user = make_user("vendor_viewer")
    result = runner.invoke(
        args=["tokens", "create", "--email", user.email, "--scope", "decisions:write"]
    )
    assert result.exit_code == 1
    assert "may not hold the 'decisions:write' scope" in result.stderr
    assert result.stdout == ""
    assert db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id)) is None


def test_tokens_create_refuses_unknown_scope_user_and_deactivated_user(runner, make_user):
    user = make_user("qa_lead")
    unknown_scope = runner.invoke(
        args=["tokens", "create", "--email", user.email, "--scope", "everything"]
    )
    assert unknown_scope.exit_code == 2
    assert "Invalid value for '--scope'" in unknown_scope.output

    nobody = runner.invoke(args=["tokens", "create", "--email", "nobody@example.test"])
    assert nobody.exit_code == 1
    assert "no user with email 'nobody@example.test'" in nobody.stderr

    gone = make_user("integration", active=False)
    deactivated = runner.invoke(args=["tokens", "create", "--email", gone.email])
    assert deactivated.exit_code == 1
    assert "is deactivated" in deactivated.stderr
    assert deactivated.stdout == ""
    tokens = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id.in_([user.id, gone.id]))
    ).all()
    assert tokens == []


# --- seed-demo ------------------------------------------------------------------------


def _created_counts(output: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r"^(\w[\w ]*?) created: (\d+)$", output, re.M)}


@module_world
def demo():
    """`flask seed-demo` run once for the module: its exit code and output, and the data
    set it made (each test reads it inside a rolled-back SAVEPOINT)."""
    return seed_demo()


def test_seed_demo_creates_a_realistic_data_set_and_is_idempotent(runner, auth, demo):
    first = demo
    assert first.exit_code == 0, first.output
    created = _created_counts(first.output)
    assert created["vendors"] >= 4
    assert created["labels"] >= 50
    assert created["users"] >= 6

    vendors = db.session.scalars(sa.select(Vendor)).all()
    assert len(vendors) >= 4
    for vendor in vendors:
        assert vendor.contracts, f"{vendor.code} has no contract"
    assert _count(VendorContract) >= len(vendors)
    assert _count(Label) >= 50
    roles = set(db.session.scalars(sa.select(User.role).where(User.email.like("%@demo.example"))))
    assert roles == set(ROLES)

    # The demo logins are printed, with the shared password; the integration is not a login.
    assert DEMO_PASSWORD in first.output
    for email in (
        "admin@demo.example",
        "qa.lead@demo.example",
        "qa.inspector@demo.example",
        "acme.lead@demo.example",
        "acme.viewer@demo.example",
    ):
        assert email in first.output
    assert "integration@demo.example" not in first.output
    assert auth.login("qa.lead@demo.example", DEMO_PASSWORD).status_code == 302

    counts = _all_counts()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert set(_created_counts(second.output).values()) == {0}
    assert _all_counts() == counts
    assert "admin@demo.example" in second.output


def test_seed_demo_if_empty_leaves_a_database_with_users_alone(runner, make_user):
    make_user("admin")
    counts = _all_counts()
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not seeding" in result.output
    assert _all_counts() == counts
    assert db.session.scalar(sa.select(Vendor).where(Vendor.code == "ACME")) is None


def test_seed_demo_if_empty_seeds_an_empty_database(runner):
    if _count(User):
        pytest.skip("the shared test database already holds users")
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert _created_counts(result.output)["vendors"] >= 4
    assert _user("admin@demo.example") is not None


# seed-demo fills months of decisions and drawn, assigned contract samples.


def test_seed_demo_creates_decisions_and_verifiable_samples(app, runner, demo):
    result = demo
    assert result.exit_code == 0, result.output
    vendors = db.session.scalar(sa.select(sa.func.count()).select_from(Vendor))
    per_month = app.config["DEMO_DECISIONS_PER_MONTH"]
    decisions = db.session.scalar(sa.select(sa.func.count()).select_from(Decision))
    assert decisions == vendors * 6 * per_month
    months = db.session.scalars(sa.select(Decision.decided_at)).all()
    assert len({(m.year, m.month) for m in months}) == 6
    with_url = db.session.scalar(
        sa.select(sa.func.count()).select_from(Decision).where(Decision.item_url.like("https://%"))
    )
    assert with_url == decisions
    samples = db.session.scalars(sa.select(Sample).where(Sample.purpose == "contract")).all()
    assert len(samples) == vendors * 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SamplingPlan)) == vendors
    unassigned = db.session.scalar(
        sa.select(sa.func.count()).select_from(SampleItem).where(SampleItem.assignee_id.is_(None))
    )
    assert unassigned == 0
    skipped = db.session.scalar(
        sa.select(sa.func.count()).select_from(SampleItem).where(SampleItem.status == "skipped")
    )
    assert skipped == vendors
    for sample in samples[:3]:
        verified = runner.invoke(args=["samples", "verify", str(ref(sample))])
        assert verified.exit_code == 0, verified.output
        assert "matches its re-derivation" in verified.output
    again = runner.invoke(args=["seed-demo"])
    assert "decisions created: 0" in again.output
    assert "samples drawn: 0" in again.output
    assert "inspections made: 0" in again.output


def test_seed_demo_inspections_show_each_vendors_pattern(app, demo):
    from app.dashboards.queries import vendor_metrics
    from app.seed.demo import sampled_months

    result = demo
    assert result.exit_code == 0, result.output
    months = sampled_months()

    def accuracy(code: str, month) -> float:
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
        return vendor_metrics(vendor, month)["overall_accuracy"]["value"]

    assert accuracy("ACME", months[0]) < accuracy("ACME", months[-1])  # improving
    assert accuracy("NORTHSTAR", months[0]) > accuracy("NORTHSTAR", months[-1])  # slipping
    # Older samples are done and closed; the latest one still has drafts and pending items.
    states = dict(
        db.session.execute(
            sa.select(Sample.period_start, sa.func.count())
            .where(Sample.purpose == "contract", Sample.state == "closed")
            .group_by(Sample.period_start)
        ).all()
    )
    assert set(states) == set(months[:-1])
    drafts = db.session.scalar(
        sa.select(sa.func.count()).select_from(Inspection).where(Inspection.status == "draft")
    )
    assert drafts > 0
    pending = db.session.scalar(
        sa.select(sa.func.count()).select_from(SampleItem).where(SampleItem.status == "pending")
    )
    assert pending > 0
    corrected = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(InspectionVersion)
        .where(InspectionVersion.source == "correction")
    )
    assert corrected == 1
    targeted = db.session.scalars(sa.select(Sample).where(Sample.purpose == "targeted")).all()
    assert len(targeted) == 1
    assert all(
        i.purpose == "targeted"
        for i in db.session.scalars(
            sa.select(Inspection)
            .join(SampleItem, SampleItem.id == Inspection.sample_item_id)
            .where(SampleItem.sample_id == targeted[0].id)
        )
    )


# --- audit verify ---------------------------------------------------------------------


def test_audit_verify_passes_on_an_intact_chain_and_fails_on_a_tampered_one(runner, demo):
    assert demo.exit_code == 0, demo.output
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert re.search(r"audit chain intact: \d+ events", intact.output)

    seq = db.session.scalar(
        sa.select(AuditEvent.seq).where(AuditEvent.action == "user.created").limit(1)
    )
    db.session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == seq).values(summary="nothing happened")
    )
    db.session.commit()
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert f"audit chain broken at event #{seq}" in broken.stderr
