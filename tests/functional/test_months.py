"""A month after the current one names nothing that has happened: every page and API
call that takes `?month=` refuses it with a message naming the month (DESIGN §3), and
no month menu offers one. `?month=2030-01` once showed an empty dashboard whose month
menu ran to 2030."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app import months
from tests.factories import VendorFactory

CURRENT = months.current()
FUTURE = [months.next_month(CURRENT), months.parse("2030-01"), months.parse("2100-12")]


def message(month) -> str:
    return f"Month {month:%Y-%m} is after the current month ({CURRENT:%Y-%m})."


def offered_months(page: str) -> list[str]:
    return re.findall(r'<option value="(\d{4}-\d{2})"', page)


@pytest.fixture
def vendor():
    return VendorFactory(code="ACME")


@pytest.mark.parametrize("future", FUTURE, ids=lambda m: f"{m:%Y-%m}")
@pytest.mark.parametrize("url", ["/inspections/?month={}", "/decisions/?month={}"])
def test_lists_refuse_a_month_after_the_current_one(client, login_as, vendor, url, future):
    login_as("qa_lead")
    response = client.get(url.format(f"{future:%Y-%m}"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message(future) in page
    assert all(m <= f"{CURRENT:%Y-%m}" for m in offered_months(page))
    export = client.get(url.replace("/?", "/export.csv?").format(f"{future:%Y-%m}"))
    assert export.status_code == 400
    assert message(future) in export.get_data(as_text=True)


def test_the_inspections_month_menu_offers_the_months_inspected_and_no_later_one(
    client, login_as, vendor
):
    """A menu of real months, not a browser month field (which shows "--------- ----"
    when empty and lets anyone pick 2030)."""
    from tests.builders import inspections

    lead = login_as("qa_lead")
    inspections.scorecard("listing")
    for day in (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 5, 5, tzinfo=UTC)):
        inspections.inspect(inspections.decision(vendor, decided=day), lead)
    page = client.get("/inspections/").get_data(as_text=True)
    assert 'type="month"' not in page
    assert offered_months(page.split('name="month"', 1)[1].split("</select>", 1)[0]) == [
        "2026-05",
        "2026-03",
    ]


@pytest.mark.parametrize("future", FUTURE, ids=lambda m: f"{m:%Y-%m}")
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/vendors/ACME/metrics?month={}",
        "/api/v1/inspections?month={}",
        "/api/v1/decisions?month={}",
    ],
)
def test_the_api_refuses_a_month_after_the_current_one(api_client, make_user, vendor, url, future):
    """422 like any other month the API cannot use, naming the field."""
    response = api_client(make_user("qa_lead")).get(url.format(f"{future:%Y-%m}"))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert [d["field"] for d in error["details"]] == ["month"]
    assert message(future) in [d["message"] for d in error["details"]]


@pytest.mark.parametrize(
    "url",
    [
        "/inspections/?month={}",
        "/decisions/?month={}",
        "/dashboards/?month={}",
        "/dashboards/vendors/ACME?month={}",
    ],
)
def test_the_current_month_is_a_month_like_any_other(client, login_as, vendor, url):
    login_as("qa_lead")
    response = client.get(url.format(f"{CURRENT:%Y-%m}"))
    assert response.status_code == 200
    assert "after the current month" not in response.get_data(as_text=True)
