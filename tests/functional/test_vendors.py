"""Vendor and contract administration through the pages: who may do it, what bad input
answers, what is audited, and which contract version is in force."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
import sqlalchemy as sa

from app import months
from app.extensions import db
from app.models import AuditEvent, Vendor, VendorContract
from app.vendors.queries import contracts_in_force
from tests.factories import ContractFactory, VendorFactory


def _months_from_now(n: int) -> date:
    first = months.current()
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


_baseline = {"seq": 0}


@pytest.fixture(autouse=True)
def _audit_baseline():
    """Only events written during the test count (other suites may have committed some)."""
    _baseline["seq"] = db.session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(action: str | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.seq > _baseline["seq"]).order_by(AuditEvent.seq)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def _vendor(code: str) -> Vendor | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Vendor).where(Vendor.code == code))


def _vendor_form(**overrides) -> dict:
    data = {
        "code": "acme-2",
        "name": "Acme Review Services",
        "sites": " Manila, Cebu ,manila,, ",
        "markets": "us, ph, US",
        "time_zone": "Asia/Manila",
        "holiday_country": "ph",
    }
    data.update(overrides)
    return data


def _contract_form(**overrides) -> dict:
    data = {
        "effective_month": "2026-01",
        "accuracy_target": "95",
        "critical_error_cap": "1.5",
        "dispute_window_days": "7",
        "time_zone": "",
        "holiday_country": "",
        "penalty_tiers": (
            "# accuracy tiers\n"
            "overall_accuracy 0-90: -5\n"
            "\n"
            "overall_accuracy 90-95: -2\n"
            "overall_accuracy 98-100: +1.5\n"
            "critical_error_rate 3-100: -4"
        ),
        "notes": "Amendment 2",
    }
    data.update(overrides)
    return data


# Vendors ------------------------------------------------------------------------------


def test_admin_creates_a_vendor_and_it_is_audited(client, login_as):
    admin = login_as("admin")
    page = client.get("/vendors/new")
    assert page.status_code == 200
    assert b"autofocus" in page.data
    assert b'<label class="form-label" for="code">' in page.data
    assert b'id="time-zones"' in page.data

    response = client.post("/vendors/new", data=_vendor_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/vendors/ACME-2/contracts/new")
    vendor = _vendor("ACME-2")
    assert vendor is not None and vendor.active
    assert vendor.sites == ["Manila", "Cebu"]
    assert vendor.markets == ["US", "PH"]
    assert (vendor.time_zone, vendor.holiday_country) == ("Asia/Manila", "PH")
    (event,) = _events("vendor.created")
    assert event.actor == admin.email
    assert event.object_type == "vendor" and event.object_id == str(vendor.id)
    assert event.before is None
    assert event.after["code"] == "ACME-2" and event.after["markets"] == ["US", "PH"]
    assert b"ACME-2" in client.get("/vendors/").data


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("code", "", "A code is required"),
        ("code", "A", "2 to 20 characters"),
        ("code", "X" * 21, "2 to 20 characters"),
        ("code", "AC ME", "2 to 20 characters"),
        ("code", "ACMÉ", "2 to 20 characters"),
        ("name", "   ", "A name is required"),
        ("markets", "US, USA, P1", "not valid: USA, P1"),
        ("sites", "x" * 81, "at most 80 characters"),
        ("time_zone", "Mars/Olympus", "Unknown time zone"),
        ("time_zone", "", "Choose a time zone"),
        ("holiday_country", "XX", "No holiday calendar for"),
    ],
)
def test_bad_vendor_input_answers_400_and_changes_nothing(client, login_as, field, value, message):
    login_as("admin")
    vendors = _count(Vendor)
    response = client.post("/vendors/new", data=_vendor_form(**{"code": "NEWCO", field: value}))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert f'id="{field}"' in body and "is-invalid" in body
    assert _count(Vendor) == vendors
    assert _events() == []


def test_duplicate_code_is_a_conflict(client, login_as):
    login_as("admin")
    VendorFactory(code="ACME")
    db.session.commit()
    vendors = _count(Vendor)
    response = client.post("/vendors/new", data=_vendor_form(code=" acme "))
    assert response.status_code == 409
    assert "The code ACME is already in use." in response.get_data(as_text=True)
    assert _count(Vendor) == vendors
    assert _events() == []


def test_admin_edits_a_vendor_with_before_and_after(client, login_as):
    login_as("admin")
    vendor = VendorFactory(code="ACME", name="Acme", markets=["US"])
    db.session.commit()
    page = client.get("/vendors/acme/edit")
    assert page.status_code == 200
    assert b"readonly" in page.data and b'value="ACME"' in page.data

    response = client.post(
        "/vendors/ACME/edit",
        data=_vendor_form(code="ACME", name="Acme Global", markets="US, CA"),
    )
    assert response.status_code == 302
    db.session.refresh(vendor)
    assert vendor.name == "Acme Global" and vendor.markets == ["US", "CA"]
    (event,) = _events("vendor.updated")
    assert event.before["name"] == "Acme" and event.after["name"] == "Acme Global"
    assert event.before["markets"] == ["US"] and event.after["markets"] == ["US", "CA"]

    # Saving the same values again changes nothing and writes no event.
    client.post(
        "/vendors/ACME/edit", data=_vendor_form(code="ACME", name="Acme Global", markets="US, CA")
    )
    assert len(_events("vendor.updated")) == 1


def test_vendor_code_cannot_change_and_bad_edits_change_nothing(client, login_as):
    login_as("admin")
    vendor = VendorFactory(code="ACME", name="Acme")
    db.session.commit()
    renamed = client.post("/vendors/ACME/edit", data=_vendor_form(code="OTHER", name="New"))
    assert renamed.status_code == 400
    assert "The code cannot change" in renamed.get_data(as_text=True)
    bad_zone = client.post(
        "/vendors/ACME/edit", data=_vendor_form(code="ACME", time_zone="Nowhere/City")
    )
    assert bad_zone.status_code == 400
    db.session.refresh(vendor)
    assert (vendor.code, vendor.name, vendor.time_zone) == ("ACME", "Acme", "Asia/Manila")
    assert _events() == []


def test_deactivate_and_reactivate_a_vendor(client, login_as):
    login_as("admin")
    vendor = VendorFactory(code="ACME")
    db.session.commit()
    detail = client.get("/vendors/ACME").get_data(as_text=True)
    assert 'data-confirm="Deactivate vendor ACME?' in detail
    assert client.get("/vendors/ACME/deactivate").status_code == 405

    assert client.post("/vendors/ACME/deactivate").status_code == 302
    db.session.refresh(vendor)
    assert not vendor.active
    link = b'href="/vendors/ACME"'
    assert link not in client.get("/vendors/").data  # the list shows active vendors by default
    assert link in client.get("/vendors/?status=inactive").data

    assert client.post("/vendors/ACME/activate").status_code == 302
    db.session.refresh(vendor)
    assert vendor.active
    (off,) = _events("vendor.deactivated")
    (on,) = _events("vendor.activated")
    assert off.before["active"] is True and off.after["active"] is False
    assert on.before["active"] is False and on.after["active"] is True


def test_index_sorts_by_code_and_name(client, login_as):
    login_as("qa_lead")
    VendorFactory(code="AAA", name="Zulu Ops")
    VendorFactory(code="ZZZ", name="alpha Ops")
    db.session.commit()
    by_code = client.get("/vendors/?sort=code").get_data(as_text=True)
    assert by_code.index("AAA") < by_code.index("ZZZ")
    by_code_desc = client.get("/vendors/?sort=-code").get_data(as_text=True)
    assert by_code_desc.index("ZZZ") < by_code_desc.index("AAA")
    by_name = client.get("/vendors/?sort=name").get_data(as_text=True)
    assert by_name.index("alpha Ops") < by_name.index("Zulu Ops")
    assert client.get("/vendors/?sort=nonsense").status_code == 200


# Contracts ----------------------------------------------------------------------------


def test_admin_adds_a_contract_version(client, login_as):
    admin = login_as("admin")
    vendor = VendorFactory(code="ACME", time_zone="Asia/Manila", holiday_country="PH")
    db.session.commit()
    page = client.get("/vendors/ACME/contracts/new")
    assert page.status_code == 200
    assert "overall_accuracy 0-90: -5" in page.get_data(as_text=True)  # documented format

    response = client.post("/vendors/ACME/contracts/new", data=_contract_form())
    assert response.status_code == 302
    contract = db.session.scalar(
        sa.select(VendorContract).where(VendorContract.vendor_id == vendor.id)
    )
    assert contract.effective_month == date(2026, 1, 1)
    assert contract.accuracy_target == pytest.approx(0.95)
    assert contract.critical_error_cap == pytest.approx(0.015)
    assert contract.dispute_window_days == 7
    assert (contract.time_zone, contract.holiday_country) == ("Asia/Manila", "PH")
    assert contract.penalty_tiers == [
        {"metric": "overall_accuracy", "from": 0.0, "to": 0.9, "pct": -5.0},
        {"metric": "overall_accuracy", "from": 0.9, "to": 0.95, "pct": -2.0},
        {"metric": "overall_accuracy", "from": 0.98, "to": 1.0, "pct": 1.5},
        {"metric": "critical_error_rate", "from": 0.03, "to": 1.0, "pct": -4.0},
    ]
    (event,) = _events("contract.created")
    assert event.actor == admin.email and event.object_type == "contract"
    assert event.after["effective_month"] == "2026-01"
    assert event.after["accuracy_target"] == pytest.approx(0.95)


def test_dispute_window_defaults_to_five_days(client, login_as):
    login_as("admin")
    VendorFactory(code="ACME")
    db.session.commit()
    response = client.post(
        "/vendors/ACME/contracts/new",
        data=_contract_form(dispute_window_days="", penalty_tiers=""),
    )
    assert response.status_code == 302
    (contract,) = _vendor("ACME").contracts
    assert contract.dispute_window_days == 5
    assert contract.penalty_tiers == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("effective_month", "2026-13", "Enter a real month"),
        ("effective_month", "March 2026", "YYYY-MM"),
        ("effective_month", "", "YYYY-MM"),
        ("accuracy_target", "101", "from 0 to 100"),
        ("accuracy_target", "abc", "from 0 to 100"),
        ("accuracy_target", "nan", "from 0 to 100"),
        ("accuracy_target", "", "Required"),
        ("critical_error_cap", "-1", "from 0 to 100"),
        ("dispute_window_days", "0", "1 to 60 business days"),
        ("dispute_window_days", "61", "1 to 60 business days"),
        ("dispute_window_days", "two", "whole number"),
        ("dispute_window_days", "2.5", "whole number"),
        ("time_zone", "Europe/Atlantis", "Unknown time zone"),
        ("holiday_country", "ZZ", "No holiday calendar"),
        ("penalty_tiers", "overall_accuracy 0-90 -5", "Line 1"),
        ("penalty_tiers", "\nspeed 0-90: -5", "Line 2"),
        ("penalty_tiers", "overall_accuracy 95-90: -5", "from (95) must be below to (90)"),
        ("penalty_tiers", "overall_accuracy 0-120: -5", "between 0 and 100"),
        ("penalty_tiers", "overall_accuracy 0-90: -150", "pct must be between -100 and 100"),
        (
            "penalty_tiers",
            "overall_accuracy 0-90: -5\noverall_accuracy 85-95: -2",
            "Line 2",
        ),
    ],
)
def test_bad_contract_input_answers_400_and_changes_nothing(
    client, login_as, field, value, message
):
    login_as("admin")
    vendor = VendorFactory(code="ACME")
    db.session.commit()
    response = client.post("/vendors/ACME/contracts/new", data=_contract_form(**{field: value}))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert f'id="{field}"' in body and "is-invalid" in body
    db.session.refresh(vendor)
    assert vendor.contracts == []
    assert _events() == []


def test_one_version_per_month(client, login_as):
    login_as("admin")
    vendor = VendorFactory(code="ACME")
    ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1), accuracy_target=0.9)
    db.session.commit()
    response = client.post("/vendors/ACME/contracts/new", data=_contract_form())
    assert response.status_code == 409
    assert "A version for 2026-01 exists already" in response.get_data(as_text=True)
    contracts = _vendor("ACME").contracts
    assert len(contracts) == 1 and contracts[0].accuracy_target == pytest.approx(0.9)
    assert _events() == []


def test_admin_edits_a_contract_version(client, login_as):
    login_as("admin")
    vendor = VendorFactory(code="ACME")
    contract = ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1))
    ContractFactory(vendor=vendor, effective_month=date(2026, 4, 1))
    db.session.commit()
    url = f"/vendors/ACME/contracts/{contract.id}/edit"
    page = client.get(url).get_data(as_text=True)
    assert 'value="95"' in page and 'value="2"' in page
    assert "overall_accuracy 0-90: -5" in page  # stored tiers shown in the typed format

    moved = client.post(url, data=_contract_form(effective_month="2026-04"))
    assert moved.status_code == 409
    bad = client.post(url, data=_contract_form(accuracy_target="200"))
    assert bad.status_code == 400
    db.session.refresh(contract)
    assert contract.accuracy_target == pytest.approx(0.95)
    assert _events() == []

    response = client.post(url, data=_contract_form(accuracy_target="96.5", notes="Amended"))
    assert response.status_code == 302
    db.session.refresh(contract)
    assert contract.accuracy_target == pytest.approx(0.965)
    assert contract.notes == "Amended"
    (event,) = _events("contract.updated")
    assert event.before["accuracy_target"] == pytest.approx(0.95)
    assert event.after["accuracy_target"] == pytest.approx(0.965)
    assert event.before["notes"] == "" and event.after["notes"] == "Amended"


def test_only_a_future_version_can_be_deleted(client, login_as):
    login_as("admin")
    vendor = VendorFactory(code="ACME")
    past = ContractFactory(vendor=vendor, effective_month=_months_from_now(-2))
    current = ContractFactory(vendor=vendor, effective_month=_months_from_now(0))
    future = ContractFactory(vendor=vendor, effective_month=_months_from_now(2))
    db.session.commit()
    detail = client.get("/vendors/ACME").get_data(as_text=True)
    assert f"/contracts/{future.id}/delete" in detail
    assert f"/contracts/{past.id}/delete" not in detail
    assert f"/contracts/{current.id}/delete" not in detail

    for kept in (past, current):
        refused = client.post(f"/vendors/ACME/contracts/{kept.id}/delete")
        assert refused.status_code == 409
        assert "kept as history" in refused.get_data(as_text=True)
    assert _events() == []

    future_id, future_month = future.id, future.month_label
    kept_ids = sorted([past.id, current.id])
    assert client.post(f"/vendors/ACME/contracts/{future_id}/delete").status_code == 302
    assert sorted(c.id for c in _vendor("ACME").contracts) == kept_ids
    (event,) = _events("contract.deleted")
    assert event.object_id == str(future_id)
    assert event.before["effective_month"] == future_month
    assert event.after is None


def test_contracts_are_found_only_within_their_vendor(client, login_as):
    login_as("admin")
    VendorFactory(code="ACME")
    other = ContractFactory(vendor=VendorFactory(code="OTHER"), effective_month=date(2099, 1, 1))
    db.session.commit()
    assert client.get(f"/vendors/ACME/contracts/{other.id}/edit").status_code == 404
    assert client.post(f"/vendors/ACME/contracts/{other.id}/delete").status_code == 404
    assert client.get("/vendors/NOPE/edit").status_code == 404
    assert db.session.get(VendorContract, other.id) is not None


def test_contract_in_force_is_the_latest_version_on_or_before_the_month(client, login_as):
    vendor = VendorFactory(code="ACME")
    old = ContractFactory(vendor=vendor, effective_month=_months_from_now(-6))
    now = ContractFactory(vendor=vendor, effective_month=_months_from_now(-1), accuracy_target=0.97)
    ContractFactory(vendor=vendor, effective_month=_months_from_now(3))
    later_vendor = VendorFactory(code="LATER")
    ContractFactory(vendor=later_vendor, effective_month=_months_from_now(1))
    db.session.commit()
    db.session.refresh(vendor)

    assert vendor.contract_for(_months_from_now(-7)) is None
    assert vendor.contract_for(_months_from_now(-6)) == old
    assert vendor.contract_for(_months_from_now(-2).replace(day=20)) == old
    assert vendor.contract_for(_months_from_now(0)) == now
    in_force = contracts_in_force([vendor.id, later_vendor.id], months.current())
    assert in_force == {vendor.id: now}

    login_as("qa_inspector")
    detail = client.get("/vendors/ACME").get_data(as_text=True)
    assert detail.count(">in force</span>") == 1
    assert f"the version from {now.month_label}" in detail
    assert "scheduled" in detail and "superseded" in detail
    index = client.get("/vendors/").get_data(as_text=True)
    assert "accuracy ≥ 97.0%" in index
    assert f"since {now.month_label}" in index


# Access -------------------------------------------------------------------------------


def _write_requests(contract_id: int) -> list[tuple[str, str]]:
    return [
        ("get", "/vendors/new"),
        ("post", "/vendors/new"),
        ("get", "/vendors/ACME/edit"),
        ("post", "/vendors/ACME/edit"),
        ("post", "/vendors/ACME/deactivate"),
        ("post", "/vendors/ACME/activate"),
        ("get", "/vendors/ACME/contracts/new"),
        ("post", "/vendors/ACME/contracts/new"),
        ("get", f"/vendors/ACME/contracts/{contract_id}/edit"),
        ("post", f"/vendors/ACME/contracts/{contract_id}/edit"),
        ("post", f"/vendors/ACME/contracts/{contract_id}/delete"),
    ]


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"])
def test_only_admins_may_reach_the_write_pages(client, login_as, role):
    vendor = VendorFactory(code="ACME")
    contract = ContractFactory(vendor=vendor, effective_month=date(2099, 1, 1))
    db.session.commit()
    login_as(role, vendor=vendor if role.startswith("vendor") else None)
    for method, url in _write_requests(contract.id):
        response = getattr(client, method)(url, data=_vendor_form(code="ACME", name="Hacked"))
        assert response.status_code == 403, (method, url)
    detail = client.get("/vendors/ACME").get_data(as_text=True)
    assert "/vendors/ACME/edit" not in detail and "/contracts/new" not in detail
    db.session.refresh(vendor)
    assert vendor.name != "Hacked" and vendor.active
    assert db.session.get(VendorContract, contract.id) is not None
    assert _events() == []


def test_anonymous_is_sent_to_sign_in_from_write_pages(client):
    response = client.get("/vendors/new")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_see_only_their_own_vendor(client, login_as, role):
    mine = VendorFactory(code="MINE", name="Mine Ltd")
    VendorFactory(code="THEIRS", name="Theirs Ltd")
    db.session.commit()
    login_as(role, vendor=mine)
    # *My vendor* opens their vendor's page; the list (searched or not) is never offered.
    for query in ("", "?status=all", "?q=theirs&status=all"):
        response = client.get(f"/vendors/{query}")
        assert response.status_code == 302
        assert response.headers["Location"] == "/vendors/MINE"
    page = client.get("/vendors/", follow_redirects=True).get_data(as_text=True)
    assert "Mine Ltd" in page
    assert "THEIRS" not in page and "Theirs Ltd" not in page
    assert client.get("/vendors/MINE").status_code == 200
    assert client.get("/vendors/THEIRS").status_code == 404
    assert client.get("/vendors/theirs").status_code == 404


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_my_vendor_is_their_vendors_page_with_their_team(client, login_as, make_user, role):
    mine = VendorFactory(code="MINE", name="Mine Ltd")
    other = VendorFactory(code="THEIRS", name="Theirs Ltd")
    teammate = make_user("vendor_viewer", vendor=mine, name="Tess Teammate")
    rival = make_user("vendor_lead", vendor=other, name="Rory Rival")
    make_user("vendor_viewer", vendor=mine, name="Gone Teammate", active=False)
    db.session.commit()
    user = login_as(role, vendor=mine)
    page = client.get("/vendors/", follow_redirects=True).get_data(as_text=True)
    assert "Mine Ltd" in page
    assert teammate.name in page and user.name in page
    assert "Gone Teammate" not in page
    assert rival.name not in page and rival.email not in page
    # No way back to a list of vendors: no breadcrumb to one, no vendor choice.
    assert 'aria-label="breadcrumb"' not in page
    # Links to this vendor's pages, each of which opens for them.
    for path in re.findall(r'href="(/(?:dashboards|decisions|sampling|inspections)/[^"]*)"', page):
        response = client.get(html.unescape(path), follow_redirects=True)
        assert response.status_code == 200, path


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_are_never_offered_a_choice_of_vendors(client, login_as, role):
    mine = VendorFactory(code="MINE", name="Mine Ltd")
    VendorFactory(code="THEIRS", name="Theirs Ltd")
    db.session.commit()
    login_as(role, vendor=mine)
    for path in ("/", "/vendors/", "/dashboards/", "/decisions/", "/sampling/", "/inspections/"):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert "All vendors" not in page, path
        assert re.search(r'<select[^>]*name="vendor"', page) is None, path
        assert "THEIRS" not in page and "Theirs Ltd" not in page, path


def test_staff_still_get_the_vendor_list(client, login_as):
    VendorFactory(code="MINE", name="Mine Ltd")
    VendorFactory(code="THEIRS", name="Theirs Ltd")
    db.session.commit()
    login_as("qa_inspector")
    response = client.get("/vendors/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Mine Ltd" in page and "Theirs Ltd" in page
    detail = client.get("/vendors/MINE").get_data(as_text=True)
    assert 'aria-label="breadcrumb"' in detail


def test_seeded_vendors_and_contracts_are_audited_once(app):
    from app.seed.demo import VENDORS, seed_vendors

    existing = {code: _vendor(code) for code, *_ in VENDORS}
    missing = [code for code, vendor in existing.items() if vendor is None]
    uncontracted = [code for code, vendor in existing.items() if not (vendor and vendor.contracts)]
    assert seed_vendors() == len(missing)
    db.session.commit()
    assert seed_vendors() == 0  # idempotent
    db.session.commit()
    assert len(_events("vendor.created")) == len(missing)
    assert len(_events("contract.created")) == 2 * len(uncontracted)
    if "ACME" in uncontracted:
        acme = _vendor("ACME")
        assert acme.contract_for(months.current()).accuracy_target == pytest.approx(0.95)


def test_a_lost_race_is_a_conflict_and_leaves_the_transaction_usable(monkeypatch):
    """When another request inserts the same code or month between the check and the
    insert, the database constraint answers and the service turns it into a Conflict."""
    from app.errors import Conflict
    from app.vendors import services

    vendor = VendorFactory(code="ACME")
    ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1))
    monkeypatch.setattr(services, "_code_taken", lambda code: False)
    monkeypatch.setattr(services, "_month_taken", lambda *args, **kwargs: False)
    with pytest.raises(Conflict):
        services.create_vendor(code="ACME", name="Again", time_zone="UTC", holiday_country="US")
    with pytest.raises(Conflict):
        services.create_contract(
            vendor, effective_month="2026-01", accuracy_target=0.9, critical_error_cap=0.01
        )
    # The rest of the transaction carries on.
    services.create_contract(
        vendor, effective_month="2026-02", accuracy_target=0.9, critical_error_cap=0.01
    )
    db.session.commit()
    assert [c.month_label for c in _vendor("ACME").contracts] == ["2026-02", "2026-01"]
    assert [e.action for e in _events()] == ["contract.created"]


def test_three_letter_holiday_codes_are_stored_as_two_letters(client, login_as):
    login_as("admin")
    response = client.post("/vendors/new", data=_vendor_form(code="PHL1", holiday_country="phl"))
    assert response.status_code == 302
    assert _vendor("PHL1").holiday_country == "PH"


def test_tiers_text_round_trips():
    from app.vendors.forms import parse_tiers, tiers_to_text

    text = (
        "overall_accuracy 0-90: -5\noverall_accuracy 98-100: +1.5\ncritical_error_rate 2.5-100: -3"
    )
    tiers = parse_tiers(text)
    assert tiers[2] == {"metric": "critical_error_rate", "from": 0.025, "to": 1.0, "pct": -3.0}
    assert tiers_to_text(tiers) == text
    assert parse_tiers("overall_accuracy 0 % to 90 %: -5 %") == parse_tiers(
        "overall_accuracy 0-90: -5"
    )
