"""Vendor users cannot count other vendors' work from the numbers they see (issue:
"global ids reveal other vendors' volumes").

Inspections of vendor A are made with five inspections of vendor B in between. A's
users see A's inspections on the list page, in the API (and its cursors), in the CSV
export and in links to decisions; none of those shows a database id, and the numbers
shown say nothing about how many rows were made in between.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import re
from datetime import UTC, datetime

import pytest

from app.extensions import db
from app.security.public_ids import LIMIT, internal_id, public_id
from tests.factories import DecisionFactory, InspectionFactory, UserFactory, VendorFactory
from tests.refs import ref

pytestmark = pytest.mark.promise("isolation")


def _final(decision, inspector):
    return InspectionFactory(
        decision=decision,
        vendor_id=decision.vendor_id,
        inspector=inspector,
        status="final",
        expected_decision=decision.decision,
        severity="none",
        correct=True,
        decision_match=True,
        purpose="targeted",
        finalised_at=datetime(2026, 3, 20, tzinfo=UTC),
    )


@pytest.fixture
def world():
    own, other = VendorFactory(code="OWNV"), VendorFactory(code="OTHERV")
    inspector = UserFactory(role="qa_inspector")
    when = datetime(2026, 3, 10, 12, tzinfo=UTC)
    first = _final(DecisionFactory(vendor=own, decided_at=when), inspector)
    between = [_final(DecisionFactory(vendor=other, decided_at=when), inspector) for _ in range(5)]
    second = _final(DecisionFactory(vendor=own, decided_at=when), inspector)
    db.session.commit()
    assert second.id - first.id == 6  # the database ids would tell
    return {"own": own, "mine": [first, second], "theirs": between}


def _database_ids(world) -> set[int]:
    return {i.id for i in world["mine"]} | {i.decision_id for i in world["mine"]}


def _cursor_payload(cursor: str) -> list:
    """What anyone can read in a signed (not encrypted) cursor."""
    payload = cursor.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_api_shows_public_numbers_in_bodies_and_cursors(world, api_client, make_user, tried):
    api = api_client(make_user("vendor_viewer", vendor=world["own"]))
    first = api.get("/api/v1/inspections?limit=1").get_json()
    rest = api.get(f"/api/v1/inspections?limit=1&cursor={first['next_cursor']}").get_json()
    tried(2)
    shown = [first["items"][0]["id"], rest["items"][0]["id"]]
    assert shown == [ref(i) for i in world["mine"]]
    assert not set(shown) & _database_ids(world)
    assert abs(shown[1] - shown[0]) != 6
    assert not set(_cursor_payload(first["next_cursor"])) & _database_ids(world)
    for number in shown:
        tried()
        assert api.get(f"/api/v1/inspections/{number}").status_code == 200


def test_pages_links_and_the_export_show_public_numbers(world, client, login_as, tried):
    login_as("vendor_viewer", vendor=world["own"])
    page = client.get("/inspections/").get_data(as_text=True)
    listed = [int(n) for n in re.findall(r'href="/inspections/(\d+)">#\1</a>', page)]
    assert sorted(listed) == sorted(ref(i) for i in world["mine"])
    decisions = client.get("/decisions/").get_data(as_text=True)
    linked = {int(n) for n in re.findall(r'href="/decisions/(\d+)"', decisions)}
    assert linked == {ref(i.decision_id) for i in world["mine"]}
    export = client.get("/inspections/export.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(export.lstrip("\ufeff"))))
    assert sorted(int(r["inspection_id"]) for r in rows) == sorted(ref(i) for i in world["mine"])
    tried(3)
    # A database id typed into a URL names nothing.
    for inspection in world["mine"]:
        tried()
        assert client.get(f"/inspections/{inspection.id}").status_code == 404


def test_public_numbers_are_one_to_one_and_unrelated_to_their_order(app):
    numbers = [public_id(n) for n in range(1, 20_001)]
    assert len(set(numbers)) == len(numbers)
    assert all(0 < n < LIMIT for n in numbers)
    assert [internal_id(n) for n in numbers] == list(range(1, 20_001))
    steps = {b - a for a, b in itertools.pairwise(numbers)}
    assert len(steps) > 19_000  # no constant or small set of strides to count by
    assert internal_id(0) is None and internal_id(LIMIT) is None
