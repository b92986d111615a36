"""GET /api/v1/vendors and /api/v1/labels: reference data for API clients, vendor users
confined to their own vendor, cursor pagination (DESIGN §1, §8)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import LabelFactory, VendorFactory

VENDORS = "/api/v1/vendors"
LABELS = "/api/v1/labels"


def _all_pages(api, path: str, **params) -> list[dict]:
    """Every item of a list, following next_cursor to the end."""
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get(path, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert pages < 100


def test_vendors_list_shows_code_name_and_active_by_code(api_client, make_user):
    VendorFactory(code="ZED", name="Zed Moderation", active=False)
    VendorFactory(code="ACME", name="Acme Review")
    body = api_client(make_user("qa_inspector")).get(VENDORS).get_json()
    codes = [v["code"] for v in body["items"]]
    assert codes == sorted(codes)
    assert {"code": "ACME", "name": "Acme Review", "active": True} in body["items"]
    assert {"code": "ZED", "name": "Zed Moderation", "active": False} in body["items"]
    assert body["next_cursor"] is None


def test_vendors_can_be_filtered_on_active(api_client, make_user):
    VendorFactory(code="GONE1", active=False)
    VendorFactory(code="LIVE1")
    api = api_client(make_user("admin"))
    active = {v["code"] for v in api.get(VENDORS, query_string={"active": "true"}).json["items"]}
    inactive = {v["code"] for v in api.get(VENDORS, query_string={"active": "false"}).json["items"]}
    assert "LIVE1" in active and "GONE1" not in active
    assert "GONE1" in inactive and "LIVE1" not in inactive


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_a_vendor_user_sees_only_its_own_vendor(api_client, make_user, role):
    own = VendorFactory()
    other = VendorFactory()
    api = api_client(make_user(role, vendor=own))
    body = api.get(VENDORS).get_json()
    assert body == {
        "items": [{"code": own.code, "name": own.name, "active": True}],
        "next_cursor": None,
    }
    assert api.get(f"{VENDORS}/{own.code}").get_json()["code"] == own.code
    response = api.get(f"{VENDORS}/{other.code}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert other.name not in response.get_data(as_text=True)
    absent = api.get(f"{VENDORS}/NOSUCHV").get_json()
    hidden = response.get_json()
    assert hidden["error"]["message"].replace(other.code, "?") == absent["error"][
        "message"
    ].replace("NOSUCHV", "?")


def test_one_vendor_by_code_ignoring_case(api_client, make_user):
    VendorFactory(code="CASEY", name="Casey Ltd")
    api = api_client(make_user("integration"))
    assert api.get(f"{VENDORS}/casey").get_json() == {
        "code": "CASEY",
        "name": "Casey Ltd",
        "active": True,
    }
    assert api.get(f"{VENDORS}/NOPE").status_code == 404


def test_vendor_pages_cover_every_vendor_once(api_client, make_user):
    created = {VendorFactory().code for _ in range(7)}
    items = _all_pages(api_client(make_user("qa_lead")), VENDORS, limit=2)
    codes = [v["code"] for v in items]
    assert len(codes) == len(set(codes))
    assert created <= set(codes)
    assert codes == sorted(codes)


def test_labels_list_with_policy_area_and_active_filters(api_client, make_user):
    LabelFactory(code="AAA-FAKE", name="Counterfeit", policy_area="ipr")
    LabelFactory(
        code="AAA-OLD",
        name="Old rule",
        policy_area="ipr",
        active=False,
        retired_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    LabelFactory(code="AAA-SPAM", name="Spam", policy_area="content")
    api = api_client(make_user("vendor_viewer"))

    everything = _all_pages(api, LABELS)
    assert {"code": "AAA-FAKE", "name": "Counterfeit", "policy_area": "ipr", "active": True} in (
        everything
    )
    assert {"code": "AAA-OLD", "name": "Old rule", "policy_area": "ipr", "active": False} in (
        everything
    )
    ipr = _all_pages(api, LABELS, policy_area="ipr")
    assert {label["policy_area"] for label in ipr} == {"ipr"}
    assert {"AAA-FAKE", "AAA-OLD"} <= {label["code"] for label in ipr}
    active_ipr = _all_pages(api, LABELS, policy_area="ipr", active="true")
    assert "AAA-OLD" not in {label["code"] for label in active_ipr}
    assert "AAA-FAKE" in {label["code"] for label in active_ipr}


def test_label_pages_have_no_duplicates_or_gaps(api_client, make_user):
    created = {LabelFactory(policy_area="seller").code for _ in range(9)}
    items = _all_pages(api_client(make_user("admin")), LABELS, policy_area="seller", limit=4)
    codes = [label["code"] for label in items]
    assert len(codes) == len(set(codes))
    assert created <= set(codes)
    assert codes == sorted(codes)
    assert {label["policy_area"] for label in items} == {"seller"}


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        (LABELS, "policy_area=food", "policy_area"),
        (LABELS, "active=maybe", "active"),
        (VENDORS, "active=maybe", "active"),
        (VENDORS, "limit=0", "limit"),
        (VENDORS, "limit=1001", "limit"),
        (LABELS, "limit=ten", "limit"),
        (VENDORS, "cursor=not-a-cursor", "cursor"),
    ],
)
def test_bad_arguments_are_a_422_naming_the_argument(api_client, make_user, path, query, field):
    response = api_client(make_user("admin")).get(f"{path}?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert field in error["message"]
    assert [d["field"] for d in error["details"]] == [field]


def test_a_cursor_of_one_list_is_refused_by_another(api_client, make_user):
    for _ in range(3):
        VendorFactory()
    api = api_client(make_user("admin"))
    cursor = api.get(VENDORS, query_string={"limit": 1}).get_json()["next_cursor"]
    assert cursor
    response = api.get(LABELS, query_string={"cursor": cursor})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "cursor"


def test_reference_data_needs_a_token_with_the_read_scope(client, api_client, make_user):
    assert client.get(VENDORS).status_code == 401
    assert client.get(LABELS).status_code == 401
    writer = api_client(make_user("integration"), scopes=["decisions:write"])
    assert writer.get(VENDORS).status_code == 403
    assert writer.get(LABELS).status_code == 403
