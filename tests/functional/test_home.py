"""Each role's home page shows real figures from the database, within the viewer's
tenant; /healthz answers without sign-in."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, Decision, Label, User, Vendor
from app.tokens.services import create_token, revoke_token, token_status
from tests.factories import ContractFactory, LabelFactory, VendorFactory


def _month(offset: int) -> date:
    """The first day of the month `offset` months from now (UTC)."""
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def _kpi(page: str, label: str) -> int:
    match = re.search(
        rf'<div class="kpi-label">{re.escape(label)}</div>\s*<div class="kpi">([\d,]+)</div>', page
    )
    assert match, f"no {label!r} figure on the page"
    return int(match.group(1).replace(",", ""))


def _row(page: str, code: str) -> str:
    """The vendor table row of vendor `code`, as text."""
    for row in re.findall(r"<tr>.*?</tr>", page, re.S):
        if f">{code}</a>" in row:
            return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)))
    raise AssertionError(f"no row for {code}")


def _count(stmt) -> int:
    return db.session.scalar(stmt)


def _decision(vendor: Vendor, n: int, decided_at: datetime) -> Decision:
    decision = Decision(
        external_id=f"home-{vendor.code}-{n}",
        vendor_id=vendor.id,
        moderator_id="mod-1",
        site="Manila",
        market="US",
        policy_area="listing",
        item_id=f"item-{n}",
        decision="approve",
        decided_at=decided_at,
    )
    db.session.add(decision)
    return decision


def _vendor_with_contracts(code: str, name: str) -> Vendor:
    """A vendor with a contract in force now, an older one and one not yet in force."""
    vendor = VendorFactory(code=code, name=name)
    ContractFactory(vendor=vendor, effective_month=_month(-14), accuracy_target=0.9)
    ContractFactory(
        vendor=vendor, effective_month=_month(-2), accuracy_target=0.965, critical_error_cap=0.0125
    )
    ContractFactory(vendor=vendor, effective_month=_month(1), accuracy_target=0.99)
    db.session.flush()
    db.session.expire(vendor)  # reload the contracts in their declared order
    return vendor


# --- admin ----------------------------------------------------------------------------


def test_admin_home_counts_match_the_database(client, login_as, make_user):
    admin = login_as("admin")
    VendorFactory(active=False)
    _vendor_with_contracts("HOMEADM", "Home Admin Vendor")
    make_user("vendor_lead")
    make_user("qa_inspector", active=False)
    LabelFactory()
    LabelFactory(active=False, retired_at=datetime.now(UTC))
    create_token(admin, name="works")
    revoked, _ = create_token(admin, name="revoked")
    revoke_token(revoked)
    expired, _ = create_token(admin, name="expired")
    expired.expires_at = datetime.now(UTC) - timedelta(days=1)
    leaver = make_user("integration", active=False)
    db.session.flush()
    leaver_token = ApiToken(
        user=leaver, name="of a deactivated user", prefix="vqa_x", token_hash="x" * 64, scopes=[]
    )
    db.session.add(leaver_token)
    db.session.commit()

    page = client.get("/").get_data(as_text=True)
    assert "Administration" in page

    active_vendors = _count(sa.select(sa.func.count()).select_from(Vendor).where(Vendor.active))
    all_vendors = _count(sa.select(sa.func.count()).select_from(Vendor))
    assert _kpi(page, "Active vendors") == active_vendors
    assert f"{all_vendors} in all" in page
    assert _kpi(page, "Active users") == _count(
        sa.select(sa.func.count()).select_from(User).where(User.active)
    )
    assert _kpi(page, "Active labels") == _count(
        sa.select(sa.func.count()).select_from(Label).where(Label.active)
    )
    retired = _count(sa.select(sa.func.count()).select_from(Label).where(sa.not_(Label.active)))
    assert f"{retired} retired" in page
    # Only tokens that work now: not revoked, not expired, of an active user.
    tokens = db.session.scalars(sa.select(ApiToken)).all()
    working = sum(1 for t in tokens if token_status(t) == "active")
    assert _kpi(page, "Active API tokens") == working
    assert working < len(tokens)

    # The vendors table has the active vendor and its contract in force.
    assert "≥ 96.5%" in _row(page, "HOMEADM")
    # Recent changes come from the audit log.
    assert f"created token {revoked.prefix}" in page


def test_admin_home_counts_follow_changes(client, login_as):
    admin = login_as("admin")
    before = client.get("/").get_data(as_text=True)
    VendorFactory()
    LabelFactory()
    create_token(admin, name="another")
    db.session.commit()
    after = client.get("/").get_data(as_text=True)
    for label in ("Active vendors", "Active labels", "Active API tokens"):
        assert _kpi(after, label) == _kpi(before, label) + 1


# --- QA -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector"])
def test_qa_home_lists_vendors_with_the_contract_in_force(client, login_as, role):
    vendor = _vendor_with_contracts("HOMEQA", "Home QA Vendor")
    VendorFactory(code="HOMENONE", name="Vendor Without Contract")
    VendorFactory(code="HOMEGONE", name="Retired Vendor Ltd", active=False)
    now = datetime.now(UTC)
    for n in range(3):
        _decision(vendor, n, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    last_month = _month(-1)
    _decision(vendor, 9, datetime(last_month.year, last_month.month, 15, tzinfo=UTC))
    db.session.commit()
    login_as(role)

    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Quality assurance" in page
    row = _row(page, "HOMEQA")
    assert "Home QA Vendor" in row
    assert "≥ 96.5%" in row  # the version in force, not the older or the future one
    assert "90.0%" not in row and "99.0%" not in row
    assert "≤ 1.25%" in row
    assert "5 business days" in row
    assert row.split()[-2] == "3"  # decisions this month; last month's is not counted
    assert "No contract in force this month" in _row(page, "HOMENONE")
    assert "Retired Vendor Ltd" not in page
    assert _kpi(page, "Vendors") == _count(
        sa.select(sa.func.count()).select_from(Vendor).where(Vendor.active)
    )
    assert _kpi(page, "Items in my queue") == 0


# --- vendor users ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_home_shows_own_vendor_and_contract_and_nothing_else(
    client, login_as, make_user, role
):
    own = _vendor_with_contracts("HOMEOWN", "Own Moderation Co")
    other = _vendor_with_contracts("HOMERIVAL", "Rival Review Partners")
    teammate = make_user("vendor_viewer", vendor=own, name="Tess Teammate")
    rival = make_user("vendor_lead", vendor=other, name="Rory Rival")
    _decision(own, 1, datetime.now(UTC))
    _decision(other, 2, datetime.now(UTC))
    _decision(other, 3, datetime.now(UTC))
    db.session.commit()
    user = login_as(role, vendor=own)

    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Own Moderation Co" in page
    assert "HOMEOWN" in page
    assert "≥ 96.5%" in page
    assert "≤ 1.25%" in page
    assert f"Contract in force since {_month(-2):%Y-%m}" in page
    assert _kpi(page, "Decisions received") == 1
    assert teammate.name in page
    assert user.name in page
    for leak in (other.name, other.code, rival.name, rival.email):
        assert leak not in page


def test_vendor_home_without_a_contract_says_so(client, login_as):
    vendor = VendorFactory(code="HOMEBARE", name="Bare Vendor")
    login_as("vendor_viewer", vendor=vendor)
    page = client.get("/").get_data(as_text=True)
    assert "No contract is in force this month." in page


# --- health ---------------------------------------------------------------------------


def test_healthz_answers_ok_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_home_needs_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
