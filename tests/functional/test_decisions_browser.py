"""The decisions browser: filters, sorting, paging, tenant isolation, safe rendering of
links and context, the CSV export (DESIGN §1, §2, §9)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.decisions import queries
from app.decisions.intake import FIELDS
from app.exports import BOM, restore_cell
from app.extensions import db
from app.models import Decision, DecisionLabel, Inspection
from tests.factories import (
    InspectionFactory,
    LabelFactory,
    SampleFactory,
    SampleItemFactory,
    UserFactory,
    VendorFactory,
)
from tests.refs import ref

MARCH = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
_counter = iter(range(1, 10**9))


def make_decision(vendor, labels=(), **fields) -> Decision:
    """A decision of `vendor` (a reject when it has labels), flushed."""
    n = next(_counter)
    values = {
        "external_id": f"ext-{n:06d}",
        "moderator_id": "mod-1",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "item_id": f"item-{n:06d}",
        "item_url": f"https://shop.example/items/{n}",
        "context": {"title": f"Item {n}"},
        "decision": "reject" if labels else "approve",
        "decided_at": MARCH,
    }
    values.update(fields)
    decision = Decision(vendor=vendor, **values)
    decision.decision_labels = [
        DecisionLabel(position=i, label=label) for i, label in enumerate(labels)
    ]
    db.session.add(decision)
    db.session.flush()
    return decision


def listed(response) -> list[str]:
    """The external ids of the list's rows, in order (their detail links)."""
    html = response.get_data(as_text=True)
    ids = []
    for part in html.split('href="/decisions/')[1:]:
        target, _, rest = part.partition('">')
        if target.isdigit():
            ids.append(rest.split("<", 1)[0])
    return ids


@pytest.fixture
def vendor():
    return VendorFactory()


@pytest.fixture
def qa(login_as):
    return login_as("qa_lead")


# Listing and filters -----------------------------------------------------------------


def test_default_is_the_latest_month_with_data_newest_first(client, qa, vendor):
    old = make_decision(vendor, decided_at=FEBRUARY)
    early = make_decision(vendor, decided_at=MARCH)
    late = make_decision(vendor, decided_at=MARCH.replace(day=20))
    response = client.get("/decisions/")
    assert response.status_code == 200
    assert listed(response) == [late.external_id, early.external_id]
    assert "Latest (2026-03)" in response.get_data(as_text=True)
    assert listed(client.get("/decisions/?month=all")) == [
        late.external_id,
        early.external_id,
        old.external_id,
    ]
    assert listed(client.get("/decisions/?month=2026-02")) == [old.external_id]


def test_months_are_utc_calendar_months(client, qa, vendor):
    last_instant = make_decision(vendor, decided_at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC))
    first_instant = make_decision(vendor, decided_at=datetime(2026, 3, 1, tzinfo=UTC))
    assert listed(client.get("/decisions/?month=2026-02")) == [last_instant.external_id]
    assert listed(client.get("/decisions/?month=2026-03")) == [first_instant.external_id]


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ("policy_area=seller", "policy_area", "seller"),
        ("market=DE", "market", "DE"),
        ("site=Cebu", "site", "Cebu"),
        ("moderator=mod-77", "moderator_id", "mod-77"),
        ("decision=approve", "decision", "approve"),
    ],
)
def test_each_filter_narrows_the_list(client, qa, vendor, query, field, value):
    label = LabelFactory()
    matching = make_decision(vendor, **{field: value})
    if field == "decision":
        make_decision(vendor, labels=[label])
    else:
        make_decision(vendor)
    assert listed(client.get(f"/decisions/?{query}")) == [matching.external_id]


def test_vendor_filter(client, qa, vendor):
    other = VendorFactory()
    mine = make_decision(vendor)
    theirs = make_decision(other)
    assert listed(client.get(f"/decisions/?vendor={vendor.code}")) == [mine.external_id]
    assert listed(client.get(f"/decisions/?vendor={other.code.lower()}")) == [theirs.external_id]
    assert set(listed(client.get("/decisions/"))) == {mine.external_id, theirs.external_id}
    assert client.get("/decisions/?vendor=NOSUCH").status_code == 404


def test_label_filter_finds_the_label_in_any_position(client, qa, vendor):
    wanted, other = LabelFactory(), LabelFactory()
    primary = make_decision(vendor, labels=[wanted], decided_at=MARCH.replace(day=12))
    secondary = make_decision(vendor, labels=[other, wanted], decided_at=MARCH.replace(day=11))
    make_decision(vendor, labels=[other])
    response = client.get(f"/decisions/?label={wanted.code.lower()}")
    assert listed(response) == [primary.external_id, secondary.external_id]


def test_search_by_external_or_item_id_looks_through_every_month(client, qa, vendor):
    old = make_decision(vendor, decided_at=FEBRUARY, external_id="A/B-1")
    make_decision(vendor)
    by_item = make_decision(vendor, decided_at=FEBRUARY, item_id="SKU-9")
    assert listed(client.get("/decisions/?q=A/B-1")) == [old.external_id]
    assert listed(client.get("/decisions/?q=+SKU-9+")) == [by_item.external_id]
    assert listed(client.get("/decisions/?q=SKU-9&month=2026-03")) == []


def test_search_is_scoped_before_it_picks_external_or_item_ids(client, login_as, vendor):
    """Another vendor's external id must not change what a vendor user's search finds."""
    mine = make_decision(vendor, item_id="SHARED-1")
    make_decision(VendorFactory(), external_id="SHARED-1")
    login_as("vendor_viewer", vendor=vendor)
    assert listed(client.get("/decisions/?q=SHARED-1")) == [mine.external_id]


@pytest.mark.parametrize(
    "query",
    ["month=2026-13", "month=last", "policy_area=cars", "decision=maybe", "label=NO-SUCH"],
)
def test_bad_filters_are_named_and_list_nothing(client, qa, vendor, query):
    make_decision(vendor)
    response = client.get(f"/decisions/?{query}")
    assert response.status_code == 400
    assert "Please correct the filters" in response.get_data(as_text=True)
    assert listed(response) == []
    assert client.get(f"/decisions/export.csv?{query}").status_code == 400


def test_empty_states_say_what_to_do(client, qa, vendor):
    assert "No decisions yet" in client.get("/decisions/").get_data(as_text=True)
    make_decision(vendor)
    html = client.get("/decisions/?market=ZZ").get_data(as_text=True)
    assert "No decisions in 2026-03 match these filters" in html
    assert "Search all months" in html


# Sorting and paging ------------------------------------------------------------------


def test_sorting(client, qa):
    a, b = VendorFactory(code="AAA"), VendorFactory(code="BBB")
    first = make_decision(b, external_id="x-2", moderator_id="m-1", decided_at=MARCH.replace(day=1))
    second = make_decision(
        a, external_id="x-3", moderator_id="m-3", decided_at=MARCH.replace(day=2)
    )
    third = make_decision(a, external_id="x-1", moderator_id="m-2", decided_at=MARCH.replace(day=3))
    expectations = {
        "": [third, second, first],
        "decided_at": [first, second, third],
        "external_id": [third, first, second],
        "-external_id": [second, first, third],
        "vendor": [third, second, first],
        "-vendor": [first, third, second],
        "moderator": [first, third, second],
        "-moderator": [second, third, first],
        "nonsense": [third, second, first],
    }
    for sort, expected in expectations.items():
        response = client.get(f"/decisions/?sort={sort}")
        assert listed(response) == [d.external_id for d in expected], sort


def test_pagination(client, qa, vendor):
    made = [make_decision(vendor, decided_at=MARCH.replace(minute=i)) for i in range(30)]
    newest_first = [d.external_id for d in reversed(made)]
    page1 = client.get("/decisions/")
    assert listed(page1) == newest_first[:25]
    assert "1\N{EN DASH}25 of 30 decisions" in page1.get_data(as_text=True)
    assert listed(client.get("/decisions/?page=2")) == newest_first[25:]
    assert listed(client.get("/decisions/?page=999")) == []


@pytest.mark.parametrize("sort", ["", "decided_at", "vendor", "-vendor", "moderator", "-moderator"])
@pytest.mark.parametrize("depth", [500, 4])
def test_pages_across_vendors_follow_one_order(app, client, qa, monkeypatch, sort, depth):
    """Across vendors PostgreSQL reads each vendor's first rows and merges them (up to
    a depth); every page must still be the right slice of one global order."""
    monkeypatch.setitem(app.config, "PAGE_SIZE", 4)
    monkeypatch.setattr(queries, "PER_VENDOR_MAX_DEPTH", depth)
    vendors = [VendorFactory() for _ in range(3)]
    made = [
        make_decision(
            vendors[i % 3],
            moderator_id=f"m-{i % 4}",
            decided_at=MARCH.replace(day=1 + i % 7, hour=i % 5),
        )
        for i in range(14)
    ]
    code = {v.id: v.code for v in vendors}
    newest = sorted(made, key=lambda d: (d.decided_at, d.id), reverse=True)
    if sort == "decided_at":
        expected = list(reversed(newest))
    elif sort.endswith("vendor"):
        expected = sorted(newest, key=lambda d: code[d.vendor_id], reverse=sort == "-vendor")
    elif sort.endswith("moderator"):
        expected = sorted(newest, key=lambda d: d.moderator_id, reverse=sort == "-moderator")
    else:
        expected = newest
    shown = []
    for page in range(1, 5):
        shown += listed(client.get(f"/decisions/?sort={sort}&page={page}"))
    assert shown == [d.external_id for d in expected]


def test_totals_are_counted_up_to_a_cap(app, client, qa, vendor, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    made = [make_decision(vendor, decided_at=MARCH.replace(minute=i)) for i in range(9)]
    html = client.get("/decisions/").get_data(as_text=True)
    assert "1\N{EN DASH}2 of more than 5 decisions" in html
    assert 'href="/decisions/?page=3"' in html
    shown, page = [], 1
    while True:  # past the counted pages, "Next" keeps going while pages are full
        response = client.get(f"/decisions/?page={page}")
        html = response.get_data(as_text=True)
        shown += listed(response)
        if f'href="/decisions/?page={page + 1}" rel="next"' not in html:
            break
        page += 1
    assert page == 5
    assert shown == [d.external_id for d in reversed(made)]


# Tenant isolation --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_see_only_their_own_vendor(client, login_as, vendor, role):
    other = VendorFactory()
    mine = make_decision(vendor)
    theirs = make_decision(other, decided_at=MARCH.replace(day=25))
    login_as(role, vendor=vendor)
    response = client.get("/decisions/?month=all")
    assert listed(response) == [mine.external_id]
    assert other.code not in response.get_data(as_text=True)
    assert listed(client.get(f"/decisions/?vendor={vendor.code}")) == [mine.external_id]
    assert listed(client.get(f"/decisions/?q={theirs.external_id}")) == []
    for path in (
        f"/decisions/?vendor={other.code}",
        f"/decisions/export.csv?vendor={other.code}",
        f"/decisions/{ref(theirs)}",
        "/decisions/?vendor=NOSUCH",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/decisions/{ref(mine)}").status_code == 200
    exported = client.get("/decisions/export.csv?month=all").get_data(as_text=True)
    assert mine.external_id in exported
    assert theirs.external_id not in exported
    assert other.code not in exported


def test_default_month_of_a_vendor_user_ignores_other_vendors(client, login_as, vendor):
    mine = make_decision(vendor, decided_at=FEBRUARY)
    make_decision(VendorFactory(), decided_at=MARCH)
    login_as("vendor_viewer", vendor=vendor)
    response = client.get("/decisions/")
    assert listed(response) == [mine.external_id]
    assert "2026-03" not in response.get_data(as_text=True)


# Rendering ---------------------------------------------------------------------------


def test_item_urls_are_links_only_for_http(client, qa, vendor):
    web = make_decision(vendor, item_url="https://shop.example/i/1?a=1&b=2")
    make_decision(vendor, item_url="javascript:alert(1)", item_id="bad-1")
    make_decision(vendor, item_url=" JaVaScRiPt:alert(2)", item_id="bad-2")
    make_decision(vendor, item_url="data:text/html,<script>alert(3)</script>", item_id="bad-3")
    html = client.get("/decisions/").get_data(as_text=True)
    assert (
        '<a class="" href="https://shop.example/i/1?a=1&amp;b=2" target="_blank" '
        'rel="noopener noreferrer nofollow">'
    ) in html
    assert web.item_id in html
    assert "javascript:" not in html.lower()
    assert "data:text" not in html
    assert "<script>alert" not in html


def test_detail_shows_every_field_and_context_as_text(client, qa, vendor):
    primary, second = LabelFactory(name="Counterfeit"), LabelFactory(name="Bad photo")
    decision = make_decision(
        vendor,
        labels=[primary, second],
        external_id="shop/42/abc",
        item_url="javascript:alert(1)",
        context={
            "title": "<script>alert('x')</script>",
            "seller": {"name": "Bob & Co", "page": "https://shop.example/s/9"},
            "trap": "javascript:alert(2)",
            "images": ["https://img.example/1.jpg", 2],
            "price": 12.5,
            "flag": None,
        },
    )
    response = client.get(f"/decisions/{ref(decision)}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("shop/42/abc", vendor.code, "mod-1", "Manila", "US", "Listing", "Reject"):
        assert text in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "Bob &amp; Co" in html
    assert 'href="https://shop.example/s/9"' in html
    assert 'href="https://img.example/1.jpg"' in html
    assert "seller.name" in html and "images[1]" in html
    assert 'href="javascript:' not in html
    assert "not a web link" in html
    assert html.index(primary.code) < html.index(second.code)
    assert "(primary)" in html


def test_detail_says_whether_sampled_and_inspected(client, login_as, vendor):
    decision = make_decision(vendor, labels=[LabelFactory()])
    sample = SampleFactory(
        vendor=vendor,
        purpose="contract",
        state="open",
        period_start=MARCH.date(),
        period_end=MARCH.date(),
        strata=["policy_area"],
        seed="s",
        method_version="1",
        population=1,
    )
    SampleItemFactory(sample=sample, decision=decision, stratum="listing", rank=0)
    InspectionFactory(
        decision=decision,
        vendor_id=vendor.id,
        inspector=UserFactory(role="qa_inspector"),
        status="draft",
        month=decision.decided_at.date().replace(day=1),
    )
    login_as("qa_inspector")
    html = client.get(f"/decisions/{ref(decision)}").get_data(as_text=True)
    assert f"Sample #{ref(sample)}" in html
    assert re.search(r"Inspection #\d+</a> \(draft\)", html)
    # Vendor users see closed samples and final inspections only.
    client.post("/auth/logout")
    login_as("vendor_lead", vendor=vendor)
    html = client.get(f"/decisions/{ref(decision)}").get_data(as_text=True)
    assert f"Sample #{ref(sample)}" not in html
    assert "Inspected" not in html
    sample.state = "closed"
    inspection = db.session.scalar(sa.select(Inspection))
    inspection.status, inspection.finalised_at = "final", MARCH
    db.session.flush()
    html = client.get(f"/decisions/{ref(decision)}").get_data(as_text=True)
    assert f"Sample #{ref(sample)}" in html
    assert re.search(r"Inspection #\d+</a>, final since", html)


def test_unknown_decision_is_404(client, qa):
    assert client.get("/decisions/2147483647").status_code == 404
    assert client.get("/decisions/99999999999").status_code == 404


def test_every_page_role_has_decisions_in_the_navigation(client, login_as):
    for role in ("admin", "qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"):
        client.post("/auth/logout")
        login_as(role)
        html = client.get("/").get_data(as_text=True)
        assert 'href="/decisions/"' in html, role


def test_a_page_takes_the_same_number_of_queries_however_many_rows(app, client, qa, vendor):
    labels = [LabelFactory(), LabelFactory()]

    def queries_for_page() -> int:
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/decisions/").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    make_decision(vendor, labels=labels)
    one_row = queries_for_page()
    for i in range(30):
        make_decision(vendor, labels=labels, decided_at=MARCH.replace(minute=i))
    full_page = queries_for_page()
    assert full_page == one_row


# Export ------------------------------------------------------------------------------


def _rows(response) -> list[dict]:
    text = response.get_data(as_text=True)
    assert text.startswith(BOM)
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_export_follows_the_filters_and_the_import_format(client, qa, vendor):
    label_a, label_b = LabelFactory(), LabelFactory()
    rejected = make_decision(
        vendor,
        labels=[label_b, label_a],
        external_id="ext/with/slashes",
        context={"title": 'Wireless earbuds, "new"', "n": 3, "nested": {"ok": True}},
        decided_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
    )
    approved = make_decision(vendor, item_url=None, context=None)
    make_decision(vendor, decided_at=FEBRUARY)
    response = client.get(f"/decisions/export.csv?vendor={vendor.code}&month=2026-03")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="decisions_{vendor.code}_2026-03.csv"'
    )
    text = response.get_data(as_text=True)
    assert text[1:].splitlines()[0] == ",".join(f'"{c}"' for c in FIELDS)
    rows = {row["external_id"]: row for row in _rows(response)}
    assert set(rows) == {rejected.external_id, approved.external_id}
    row = rows[rejected.external_id]
    assert row == {
        "external_id": "ext/with/slashes",
        "vendor": vendor.code,
        "moderator_id": "mod-1",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "item_id": rejected.item_id,
        "item_url": rejected.item_url,
        "context": row["context"],
        "decision": "reject",
        "labels": f"{label_b.code}|{label_a.code}",
        "decided_at": "2026-03-31T23:30:00+00:00",
    }
    assert json.loads(row["context"]) == rejected.context
    assert rows[approved.external_id]["item_url"] == ""
    assert rows[approved.external_id]["context"] == ""
    assert rows[approved.external_id]["labels"] == ""
    assert datetime.fromisoformat(row["decided_at"]) == rejected.decided_at


def test_export_neutralises_formula_cells_and_restores_exactly(client, qa, vendor):
    hostile = {
        "external_id": '=HYPERLINK("https://evil.example","x")',
        "moderator_id": "+cmd|' /C calc'!A0",
        "site": "-2+3",
        "market": "@SUM(1)",
        "item_id": "\t=1+1",
        "item_url": " =2+2",
    }
    decision = make_decision(vendor, **hostile)
    text = client.get("/decisions/export.csv").get_data(as_text=True)
    for value in hostile.values():
        assert f'"{value}' not in text  # never at the start of a cell
    (row,) = _rows(client.get("/decisions/export.csv"))
    for key, value in hostile.items():
        assert row[key] == "'" + value
        assert restore_cell(row[key]) == getattr(decision, key)


def test_export_without_filters_names_the_months(client, qa, vendor):
    make_decision(vendor)
    response = client.get("/decisions/export.csv?month=all")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="decisions_all-months.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"


def test_an_export_imports_again_without_changing_anything(client, qa, vendor):
    """Decisions that came in through the importer, exported and imported again, are
    all `unchanged`: the export speaks the import format."""
    from app.decisions.intake import import_decisions
    from app.decisions.services import import_csv

    label_a, label_b = LabelFactory(), LabelFactory()
    base = {
        "vendor": vendor.code,
        "moderator_id": "mod-1",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "item_id": "item-1",
        "decided_at": "2026-03-10T09:30:00+08:00",
    }
    rows = [
        {
            **base,
            "external_id": "shop/1/a",
            "decision": "reject",
            "labels": [label_b.code, label_a.code],
            "item_url": "https://shop.example/i/1?a=1&b=2",
            "context": {"title": 'Écouteurs "sans fil", neufs', "tags": ["a", "b"], "n": 2},
        },
        {**base, "external_id": "plain-2", "decision": "approve"},
        {
            **base,
            "external_id": "late-3",
            "decision": "approve",
            "decided_at": "2026-03-31T23:59:59.123+00:00",
            "context": {"nested": {"ok": True, "none": None}},
        },
    ]
    assert import_decisions(rows, source="test").created == 3
    body = client.get(f"/decisions/export.csv?vendor={vendor.code}").get_data()
    result = import_csv(io.BytesIO(body), dry_run=True)
    assert (result.rows, result.unchanged, result.created, result.updated) == (3, 3, 0, 0)
