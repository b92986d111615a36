"""Samples through the API (DESIGN §8, §11): drawing with POST /samples, reading one
and listing them, with the same permissions and tenant rules as the pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Decision, Sample, SampleItem
from app.sampling import services
from app.sampling.algorithm import sample_size
from tests.builders.sampling import draw, expected_draw, items_of, make_population
from tests.factories import UserFactory, VendorFactory
from tests.refs import ref, row_id

BODY = {
    "vendor": "ACME",
    "period_start": "2026-03-01",
    "period_end": "2026-03-31",
    "size": 24,
    "seed": "api seed",
}


@pytest.fixture
def vendor():
    return VendorFactory(code="ACME")


@pytest.fixture
def march(vendor):
    return make_population(vendor)


@pytest.fixture
def lead_api(api_client, make_user):
    return api_client(make_user("qa_lead", email="lead@example.test"))


def _close(sample: Sample) -> None:
    for item in items_of(sample):
        item.status = "inspected"
    services.close_sample(sample)
    db.session.commit()


def test_a_lead_draws_a_sample(lead_api, vendor, march):
    a = UserFactory(role="qa_inspector", email="a@example.test")
    b = UserFactory(role="qa_inspector", email="b@example.test")
    response = lead_api.post(
        "/api/v1/samples", json={**BODY, "inspectors": ["a@example.test", "B@example.test"]}
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    wanted, _ = expected_draw(march, "api seed", 24)
    assert body["items"] == [eid for key in sorted(wanted) for eid in wanted[key]]
    assert body["seed"] == "api seed"
    assert body["population"] == 240
    assert body["state"] == "open"
    assert body["vendor"] == "ACME"
    assert body["period_start"] == "2026-03-01" and body["period_end"] == "2026-03-31"
    assert body["size"] == 24 and body["margin"] is None
    assert body["strata"] == ["policy_area", "decision"]
    assert body["purpose"] == "contract"
    assert body["inspectors"] == ["a@example.test", "b@example.test"]
    assert body["method_version"] == "hmac-sha256-v1"
    assert sum(s["allocated"] for s in body["per_stratum"].values()) == 24
    assert set(body["population_digests"]) == set(body["per_stratum"])
    assert body["exclusions"]["total"] == 0
    sample = db.session.get(Sample, row_id(body["id"]))
    assert [i.assignee_id for i in items_of(sample)][:4] == [a.id, b.id, a.id, b.id]


def test_the_server_picks_the_seed_and_margins_size_the_sample(lead_api, vendor, march):
    response = lead_api.post(
        "/api/v1/samples",
        json={
            "vendor": "acme",
            "period_start": "2026-03-01",
            "period_end": "2026-03-31",
            "margin": 0.1,
            "confidence": 0.9,
            "strata": ["market"],
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert len(body["seed"]) == 32
    assert body["margin"] == 0.1 and body["confidence"] == 0.9 and body["size"] is None
    assert set(body["per_stratum"]) == {"GB", "PH", "US"}
    assert len(body["items"]) == sample_size(240, 0.1, 0.9)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vendor": None}, "vendor"),
        ({"vendor": "NOPE"}, "vendor"),
        ({"vendor": "AC\x00ME"}, "vendor"),
        ({"period_start": "March"}, "period_start"),
        ({"period_end": "2999-01-01"}, "period_end"),
        ({"size": None}, "size"),
        ({"size": 0}, "size"),
        ({"margin": 0.05}, "size"),
        ({"size": None, "margin": 2}, "margin"),
        ({"strata": ["colour"]}, "strata.0"),
        ({"strata": "policy_area"}, "strata"),
        ({"purpose": "audit"}, "purpose"),
        ({"seed": ""}, "seed"),
        ({"inspectors": ["nobody@example.test"]}, "inspectors"),
        ({"inspectors": ["not an email"]}, "inspectors.0"),
        ({"risk_weights": {"listing|reject": 2}}, "risk_weights"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_requests_answer_422_naming_the_field(lead_api, vendor, march, changes, field):
    body = {**BODY, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = lead_api.post("/api/v1/samples", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert field in [d.get("field") for d in error["details"]], error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sample)) == 0


@pytest.mark.parametrize("role", ["admin", "qa_inspector", "integration", "vendor_lead"])
def test_only_leads_may_draw(api_client, make_user, vendor, march, role):
    user = make_user(role, vendor=vendor if role == "vendor_lead" else None)
    response = api_client(user).post("/api/v1/samples", json=BODY)
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sample)) == 0


def test_a_token_without_the_samples_scope_cannot_draw(api_client, make_user, vendor, march):
    response = api_client(make_user("qa_lead"), scopes=["read"]).post("/api/v1/samples", json=BODY)
    assert response.status_code == 403
    assert "samples:write" in response.get_json()["error"]["message"]


def test_reading_a_sample(lead_api, vendor, march):
    sample = draw(vendor, size=6)
    services.skip_item(items_of(sample)[0], "gone")
    db.session.commit()
    body = lead_api.get(f"/api/v1/samples/{ref(sample)}").get_json()
    external = dict(db.session.execute(sa.select(Decision.id, Decision.external_id)).all())
    assert body["items"] == [external[i.decision_id] for i in items_of(sample)]
    assert len(body["items"]) == 7
    assert lead_api.get("/api/v1/samples/999999").status_code == 404


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_read_only_their_closed_samples(api_client, make_user, vendor, march, role):
    open_sample = draw(vendor, size=3)
    inspector = UserFactory(role="qa_inspector", email="named.person@example.test")
    closed = draw(vendor, size=3, seed="closed", inspectors=[inspector])
    _close(closed)
    other = VendorFactory()
    make_population(other, n=20, prefix="X")
    theirs = draw(other, size=3)
    _close(theirs)
    client = api_client(make_user(role, vendor=vendor))

    assert client.get(f"/api/v1/samples/{ref(open_sample)}").status_code == 404
    assert client.get(f"/api/v1/samples/{ref(theirs)}").status_code == 404
    response = client.get(f"/api/v1/samples/{ref(closed)}")
    assert response.status_code == 200 and response.get_json()["state"] == "closed"
    assert response.get_json()["inspectors"] == [inspector.pseudonym]
    assert b"named.person" not in response.data
    listed = client.get("/api/v1/samples").get_json()
    assert [s["id"] for s in listed["items"]] == [ref(closed)]
    assert client.get(f"/api/v1/samples?vendor={other.code}").status_code == 404


def test_listing_samples_with_filters_and_cursors(lead_api, vendor, march):
    samples = [draw(vendor, size=2, seed=f"s{i}") for i in range(5)]
    targeted = draw(vendor, size=2, seed="t", purpose="targeted")
    services.cancel_sample(samples[0])
    db.session.commit()

    first = lead_api.get("/api/v1/samples?limit=4").get_json()
    assert [s["id"] for s in first["items"]] == [ref(s) for s in samples[:4]]
    assert "items" not in first["items"][0] and first["items"][0]["state"] == "cancelled"
    rest = lead_api.get(f"/api/v1/samples?limit=4&cursor={first['next_cursor']}").get_json()
    assert [s["id"] for s in rest["items"]] == [ref(samples[4]), ref(targeted)]
    assert rest["next_cursor"] is None

    by_state = lead_api.get("/api/v1/samples?state=open&purpose=contract").get_json()
    assert [s["id"] for s in by_state["items"]] == [ref(s) for s in samples[1:]]
    by_vendor = lead_api.get("/api/v1/samples?vendor=acme&purpose=targeted").get_json()
    assert [s["id"] for s in by_vendor["items"]] == [ref(targeted)]
    assert lead_api.get("/api/v1/samples?state=lost").status_code == 422
    assert lead_api.get("/api/v1/samples?cursor=forged").status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleItem)) == 12
