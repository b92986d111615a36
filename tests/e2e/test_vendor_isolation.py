"""A vendor lead and a vendor viewer see their own vendor only: no other vendor's name on
their pages, and 404 (not 403: nothing is given away) for another vendor's URLs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.e2e.browser import OTHER_VENDOR, OWN_VENDOR, expect_status, open_from_nav

OTHERS = ("BRIGHTLINE", "KESTREL", "NORTHSTAR", "ORBIT")
assert OWN_VENDOR not in OTHERS and OTHER_VENDOR in OTHERS


def _first_object(page: Page, section: str) -> str:
    """The URL of the first object (/<section>/<number>) the list on the page links to."""
    shape = re.compile(rf"^/{section}/\d+$")
    for link in page.get_by_role("table").first.get_by_role("link").all():
        href = link.get_attribute("href") or ""
        if shape.match(href):
            return href
    raise AssertionError(f"no link to one of {section} on {page.url}")


def _mentions_no_other_vendor(page: Page) -> None:
    text = page.get_by_role("main").inner_text()
    named = [code for code in OTHERS if code in text]
    assert not named, f"{page.url} names {named}"


@pytest.fixture
def other_vendor_urls(open_as):
    """Pages of another vendor, as a QA lead finds them."""
    page = open_as("qa_lead")
    page.goto(f"/decisions/?vendor={OTHER_VENDOR}")
    decision = _first_object(page, "decisions")
    page.goto(f"/inspections/?vendor={OTHER_VENDOR}&status=final")
    inspection = _first_object(page, "inspections")
    page.goto(f"/sampling/?vendor={OTHER_VENDOR}")
    sample = _first_object(page, "sampling")
    return {
        "vendor page": f"/vendors/{OTHER_VENDOR}",
        "vendor dashboard": f"/dashboards/vendors/{OTHER_VENDOR}",
        "decision": decision,
        "inspection": inspection,
        "sample": sample,
        "decisions filtered": f"/decisions/?vendor={OTHER_VENDOR}",
        "inspections filtered": f"/inspections/?vendor={OTHER_VENDOR}",
        "inspections CSV": f"/inspections/export.csv?vendor={OTHER_VENDOR}",
    }


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_a_vendor_user_sees_only_their_own_vendor(open_as, other_vendor_urls, role):
    page = open_as(role)
    page.goto("/")
    _mentions_no_other_vendor(page)

    open_from_nav(page, "My vendor")
    expect(page.get_by_role("main")).to_contain_text(OWN_VENDOR)
    _mentions_no_other_vendor(page)
    open_from_nav(page, "Dashboard")
    expect(page.get_by_role("heading", level=1)).to_contain_text(OWN_VENDOR)
    _mentions_no_other_vendor(page)
    for section in ("Decisions", "Samples", "Inspections"):
        open_from_nav(page, section)
        _mentions_no_other_vendor(page)
        assert page.get_by_role("table").first.get_by_role("row").count() > 1, section

    # Their own inspection opens; another vendor's pages do not exist for them.
    page.goto(_first_object(page, "inspections"))
    expect(page.get_by_role("main")).to_contain_text(OWN_VENDOR)
    refused = []
    for what, url in other_vendor_urls.items():
        try:
            expect_status(page, url, 404)
        except (AssertionError, PlaywrightError) as error:  # e.g. a download: a 200
            refused.append(f"{what}: {error}")
            continue
        assert OTHER_VENDOR not in page.content(), url
    assert not refused, "\n".join(refused)
