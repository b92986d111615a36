"""GET /api/v1/decisions (filters, cursor pagination) and GET /api/v1/decisions/<external_id>
(DESIGN §8, §11): vendor users see only their own vendor's decisions, bad filter values
are a 422 naming the argument."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from tests.factories import DecisionFactory, LabelFactory, VendorFactory

DECISIONS = "/api/v1/decisions"


def _all_pages(api, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get(DECISIONS, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= int(params.get("limit", 100))
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert pages < 200


def _ids(items) -> list[str]:
    return [item["external_id"] for item in items]


@pytest.fixture
def acme():
    return VendorFactory(code="ACMEQ", name="Acme Quality Moderation")


@pytest.fixture
def globex():
    return VendorFactory(code="GLOBEXQ", name="Globex Outsourcing")


def test_a_decision_has_the_contract_fields_and_its_labels_primary_first(
    api_client, make_user, acme
):
    fake = LabelFactory(code="IPR-FAKE", policy_area="ipr")
    logo = LabelFactory(code="IPR-LOGO", policy_area="ipr")
    DecisionFactory(
        external_id="evt-1",
        vendor=acme,
        moderator_id="mod-7",
        site="Cebu",
        market="PH",
        policy_area="ipr",
        item_id="L-991",
        item_url="https://shop.example/items/L-991",
        context={"title": "Designer sunglasses", "price": "19.99"},
        decision="reject",
        decided_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
        labels=[logo, fake],  # the primary label sorts after the other by code
    )
    api = api_client(make_user("qa_lead"))
    expected = {
        "external_id": "evt-1",
        "vendor": "ACMEQ",
        "moderator_id": "mod-7",
        "site": "Cebu",
        "market": "PH",
        "policy_area": "ipr",
        "item_id": "L-991",
        "item_url": "https://shop.example/items/L-991",
        "context": {"title": "Designer sunglasses", "price": "19.99"},
        "decision": "reject",
        "labels": ["IPR-LOGO", "IPR-FAKE"],
        "decided_at": "2026-02-03T04:05:06+00:00",
    }
    body = api.get(DECISIONS, query_string={"vendor": "ACMEQ"}).get_json()
    assert body == {"items": [expected], "next_cursor": None}
    assert api.get(f"{DECISIONS}/evt-1").get_json() == expected


def test_an_approve_has_no_labels_and_optional_fields_are_null(api_client, make_user, acme):
    DecisionFactory(external_id="evt-2", vendor=acme)
    item = api_client(make_user("admin")).get(f"{DECISIONS}/evt-2").get_json()
    assert item["labels"] == []
    assert item["item_url"] is None
    assert item["context"] is None


def test_filters_narrow_the_list(api_client, make_user, acme, globex):
    spam = LabelFactory(code="C-SPAM", policy_area="content")
    hate = LabelFactory(code="C-HATE", policy_area="content")
    base = datetime(2026, 3, 10, tzinfo=UTC)
    DecisionFactory(external_id="a1", vendor=acme, decided_at=base)
    DecisionFactory(
        external_id="a2",
        vendor=acme,
        policy_area="content",
        decision="reject",
        market="DE",
        site="Berlin",
        moderator_id="mod-2",
        labels=[hate, spam],
        decided_at=base,
    )
    DecisionFactory(
        external_id="a3",
        vendor=acme,
        policy_area="content",
        decision="reject",
        labels=[spam],
        decided_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    DecisionFactory(external_id="g1", vendor=globex, market="DE", decided_at=base)
    api = api_client(make_user("qa_inspector"))

    def ids(**params):
        return set(_ids(_all_pages(api, **params)))

    assert ids(vendor="ACMEQ") == {"a1", "a2", "a3"}
    assert ids(vendor="acmeq") == {"a1", "a2", "a3"}
    assert ids(vendor="ACMEQ", month="2026-03") == {"a1", "a2"}
    assert ids(vendor="ACMEQ", month="2026-04") == {"a3"}
    assert ids(vendor="ACMEQ", policy_area="content") == {"a2", "a3"}
    assert ids(vendor="ACMEQ", decision="approve") == {"a1"}
    assert ids(market="DE") >= {"a2", "g1"}
    assert ids(vendor="ACMEQ", market="DE") == {"a2"}
    assert ids(vendor="ACMEQ", site="Berlin") == {"a2"}
    assert ids(vendor="ACMEQ", moderator_id="mod-2") == {"a2"}
    assert ids(label="C-SPAM") == {"a2", "a3"}  # a2 carries it second
    assert ids(label="c-hate") == {"a2"}
    assert ids(label="C-SPAM", month="2026-03") == {"a2"}
    assert ids(external_id="g1") == {"g1"}
    assert ids(external_id="nope") == set()


def test_month_is_the_utc_calendar_month(api_client, make_user, acme):
    edges = {
        "before": datetime(2026, 4, 30, 23, 59, 59, 999999, tzinfo=UTC),
        "first": datetime(2026, 5, 1, tzinfo=UTC),
        "last": datetime(2026, 5, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "after": datetime(2026, 6, 1, tzinfo=UTC),
        # 23:30 on 31 May in New York is already June in UTC.
        "local": datetime(2026, 6, 1, 3, 30, tzinfo=UTC),
    }
    for name, when in edges.items():
        DecisionFactory(external_id=f"edge-{name}", vendor=acme, decided_at=when)
    december = DecisionFactory(vendor=acme, decided_at=datetime(2025, 12, 31, 23, tzinfo=UTC))
    api = api_client(make_user("admin"))
    may = _ids(_all_pages(api, vendor="ACMEQ", month="2026-05"))
    assert may == ["edge-first", "edge-last"]
    assert _ids(_all_pages(api, vendor="ACMEQ", month="2025-12")) == [december.external_id]


def test_pages_follow_decision_time_then_id_without_duplicates_or_gaps(api_client, make_user, acme):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    created = []
    for n in range(23):
        # Several decisions share a time, so the id must break the ties.
        created.append(DecisionFactory(vendor=acme, decided_at=start + timedelta(hours=n // 3)))
    db.session.commit()
    expected = [d.external_id for d in sorted(created, key=lambda d: (d.decided_at, d.id))]
    api = api_client(make_user("qa_lead"))
    for limit in (1, 4, 23, 100):
        assert _ids(_all_pages(api, vendor="ACMEQ", limit=limit)) == expected
    first = api.get(DECISIONS, query_string={"vendor": "ACMEQ", "limit": 23}).get_json()
    assert first["next_cursor"] is None  # exactly one full page: no empty page after it


def test_the_default_page_is_100_and_the_limit_at_most_1000(api_client, make_user, acme):
    for _ in range(101):
        DecisionFactory(vendor=acme)
    api = api_client(make_user("admin"))
    body = api.get(DECISIONS, query_string={"vendor": "ACMEQ"}).get_json()
    assert len(body["items"]) == 100
    assert body["next_cursor"]
    body = api.get(DECISIONS, query_string={"vendor": "ACMEQ", "limit": 1000}).get_json()
    assert len(body["items"]) == 101
    assert api.get(DECISIONS, query_string={"limit": 1001}).status_code == 422


@contextmanager
def _count_queries():
    counter = {"n": 0}

    def count(*_args, **_kwargs):
        counter["n"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_page_costs_the_same_few_queries_however_many_decisions_it_holds(
    api_client, make_user, acme
):
    labels = [LabelFactory(policy_area="listing") for _ in range(3)]
    for n in range(30):
        DecisionFactory(vendor=acme, decision="reject", labels=labels[: 1 + n % 3])
    api = api_client(make_user("admin"))
    api.get(DECISIONS, query_string={"limit": 1})  # the token's first use writes last_used
    with _count_queries() as one:
        assert len(api.get(DECISIONS, query_string={"limit": 1}).json["items"]) == 1
    with _count_queries() as thirty:
        body = api.get(DECISIONS, query_string={"vendor": "ACMEQ", "limit": 30}).get_json()
    assert len(body["items"]) == 30
    assert all(item["labels"] for item in body["items"])
    assert thirty["n"] <= one["n"] + 1  # + looking the vendor filter up


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_a_vendor_user_sees_only_its_own_decisions(api_client, make_user, acme, globex, role):
    DecisionFactory(external_id="own-1", vendor=acme)
    DecisionFactory(external_id="other-1", vendor=globex)
    api = api_client(make_user(role, vendor=acme))
    assert set(_ids(_all_pages(api))) == {"own-1"}
    assert _ids(_all_pages(api, vendor="ACMEQ")) == ["own-1"]
    assert _ids(_all_pages(api, external_id="other-1")) == []
    assert api.get(f"{DECISIONS}/own-1").status_code == 200

    for response in (
        api.get(DECISIONS, query_string={"vendor": "GLOBEXQ"}),
        api.get(DECISIONS, query_string={"vendor": "NOSUCH"}),
        api.get(f"{DECISIONS}/other-1"),
        api.get(f"{DECISIONS}/no-such-decision"),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
        assert "Globex" not in response.get_data(as_text=True)
    # Another vendor's code is answered exactly like a code that does not exist.
    hidden = api.get(DECISIONS, query_string={"vendor": "GLOBEXQ"}).get_json()["error"]
    absent = api.get(DECISIONS, query_string={"vendor": "NOSUCHQ"}).get_json()["error"]
    assert hidden["message"].replace("GLOBEXQ", "?") == absent["message"].replace("NOSUCHQ", "?")


def test_staff_asking_for_an_unknown_vendor_or_decision_get_404(api_client, make_user):
    api = api_client(make_user("qa_lead"))
    assert api.get(DECISIONS, query_string={"vendor": "NOSUCH"}).status_code == 404
    assert api.get(f"{DECISIONS}/no-such-decision").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("month=2026-13", "month"),
        ("month=2026-1", "month"),
        ("month=0000-01", "month"),
        ("month=March", "month"),
        ("month=2026-03-01", "month"),
        ("policy_area=food", "policy_area"),
        ("decision=maybe", "decision"),
        ("label=NO-SUCH-LABEL", "label"),
        ("limit=-1", "limit"),
        ("moderator_id=" + "m" * 65, "moderator_id"),
    ],
)
def test_bad_filter_values_are_a_422_naming_the_argument(api_client, make_user, query, field):
    response = api_client(make_user("admin")).get(f"{DECISIONS}?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert field in error["message"]
    assert [d["field"] for d in error["details"]] == [field]


def _a_cursor(api_client, make_user, acme) -> tuple[object, str]:
    for _ in range(3):
        DecisionFactory(vendor=acme)
    api = api_client(make_user("admin"))
    cursor = api.get(DECISIONS, query_string={"limit": 1}).get_json()["next_cursor"]
    assert cursor
    return api, cursor


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_a_tampered_cursor_is_a_422_never_a_server_error(api_client, make_user, acme):
    api, cursor = _a_cursor(api_client, make_user, acme)
    assert api.get(DECISIONS, query_string={"cursor": cursor, "limit": 1}).status_code == 200
    tampered = [
        _flip(cursor, 2),  # the payload
        _flip(cursor, len(cursor) - 2),  # the signature
        cursor[:-5],
        cursor + "x",
        cursor.split(".")[0],
        "x" * 40,
        "....",
        "%00",
        "eyJ9",
    ]
    for bad in tampered:
        response = api.get(DECISIONS, query_string={"cursor": bad})
        assert response.status_code == 422, bad
        error = response.get_json()["error"]
        assert [d["field"] for d in error["details"]] == ["cursor"]
        assert "cursor" in error["message"]


def test_a_cursor_is_only_good_for_the_list_it_came_from(api_client, make_user, acme):
    api, cursor = _a_cursor(api_client, make_user, acme)
    assert api.get("/api/v1/vendors", query_string={"cursor": cursor}).status_code == 422
    assert api.get("/api/v1/labels", query_string={"cursor": cursor}).status_code == 422


def test_filters_combine_with_the_cursor(api_client, make_user, acme, globex):
    for n in range(6):
        DecisionFactory(vendor=acme if n % 2 else globex, decision="approve")
    api = api_client(make_user("admin"))
    items = _all_pages(api, vendor="GLOBEXQ", limit=1)
    assert len(items) == 3
    assert {item["vendor"] for item in items} == {"GLOBEXQ"}


def test_reading_decisions_needs_the_read_scope(client, api_client, make_user):
    assert client.get(DECISIONS).status_code == 401
    assert client.get(f"{DECISIONS}/x").status_code == 401
    writer = api_client(make_user("integration"), scopes=["decisions:write"])
    assert writer.get(DECISIONS).status_code == 403
    assert writer.get(f"{DECISIONS}/x").status_code == 403
