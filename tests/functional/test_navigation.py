"""The navigation marks exactly the section a page belongs to: a sampling page is not
also *My queue*, the inspect page of one's own queue item is *My queue*, and the
set-up pages sit under *Manage*."""

from __future__ import annotations

import re

import pytest

from tests.builders import inspections
from tests.factories import VendorFactory
from tests.refs import ref


def active_sections(page: str) -> list[str]:
    """The labels of the navigation links marked as the current page."""
    nav = page.split('<main id="main"', 1)[0]
    links = re.findall(
        r'<a class="(?:nav-link|dropdown-item)[^"]*\bactive\b[^"]*"[^>]*>(.*?)</a>', nav, re.S
    )
    return [re.sub(r"<[^>]+>|\s+", " ", link).strip() for link in links]


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("/", "Home"),
        ("/sampling/", "Samples"),
        ("/sampling/draw", "Samples"),
        ("/sampling/plans", "Samples"),
        ("/sampling/queue", "My queue"),
        ("/inspections/", "Inspections"),
        ("/decisions/", "Decisions"),
        ("/dashboards/", "Dashboard"),
    ],
)
def test_a_lead_sees_one_section_marked(client, login_as, path, section):
    login_as("qa_lead")
    response = client.get(path)
    assert response.status_code == 200
    assert active_sections(response.get_data(as_text=True)) == [section]


def test_set_up_pages_are_marked_under_manage(client, login_as):
    login_as("admin")
    for path, section in [("/users/", "Users"), ("/audit/", "Audit log"), ("/labels/", "Labels")]:
        page = client.get(path).get_data(as_text=True)
        assert active_sections(page) == ["Manage", section], path


def test_the_inspect_page_of_ones_own_queue_item_is_my_queue(client, login_as):
    inspector = login_as("qa_inspector")
    inspections.scorecard("listing")
    vendor = VendorFactory()
    sample = inspections.sample_of(vendor, [inspections.decision(vendor)], assignee=inspector)
    response = client.get(f"/inspections/items/{ref(sample.items[0])}")
    assert response.status_code == 200
    assert active_sections(response.get_data(as_text=True)) == ["My queue"]
