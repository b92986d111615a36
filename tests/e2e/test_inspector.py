"""An inspector works three items through *My queue*: saves a draft and finalises it,
finalises the next one with Ctrl+Enter, and the third with *Finalise and next*."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browser import check_page, open_from_nav

HEADING = re.compile(r"^Inspect (\S+)")


def _item(page: Page) -> str:
    """The external id of the decision being inspected (from the page's heading)."""
    heading = page.get_by_role("heading", name=HEADING).first
    expect(heading).to_be_visible()
    return HEADING.match(heading.inner_text()).group(1)


def _moderator_decision(page: Page) -> str:
    """What the moderator decided, as the decision card shows it."""
    value = page.locator("dt", has_text=re.compile(r"^\s*Decision\s*$")).first
    return value.locator("xpath=following-sibling::dd[1]").inner_text().strip().lower()


def _verdict(page: Page, *, rubric: bool = True) -> None:
    """Approve, with the severity that follows from the moderator's decision, every
    rubric question answered Yes, and a note."""
    page.get_by_role("radio", name="Approve", exact=True).check()
    right = _moderator_decision(page) == "approve"
    page.get_by_label("Severity").select_option("none" if right else "major")
    if rubric:
        for answer in page.get_by_role("radio", name="Yes", exact=True).all():
            answer.check()
        page.get_by_label("Notes").fill("Allowed under the policy: approve.")


def _finalised(page: Page, previous: str) -> None:
    """The item was finalised, and the page moved on from it."""
    expect(page.get_by_role("heading", name=f"Inspect {previous}")).to_have_count(0)
    said = re.compile(rf"{re.escape(previous)}.*\bfinali[sz]ed", re.IGNORECASE)
    expect(page.get_by_role("alert").filter(has_text=said)).to_be_visible()


def test_an_inspector_works_three_items_through_my_queue(open_as):
    page = open_as("qa_inspector")
    page.goto("/")
    open_from_nav(page, "My queue")  # (checked by the tour)
    table = page.get_by_role("table").first
    table.get_by_role("link", name=re.compile(r"^\s*(Start|Continue|Inspect)")).first.click()

    # 1. A draft first, then finalised with the button.
    first = _item(page)
    expect(page.get_by_text(re.compile(r"Item \d+ of \d+"))).to_be_visible()  # queue progress
    check_page(page, "inspect")
    _verdict(page, rubric=False)
    page.get_by_role("button", name=re.compile("Save draft")).click()
    saved = page.get_by_role("alert").filter(has_text=re.compile("draft saved", re.IGNORECASE))
    expect(saved).to_be_visible()
    expect(page.get_by_role("heading", name=f"Inspect {first}")).to_contain_text(
        re.compile("draft", re.IGNORECASE)
    )
    _verdict(page)
    page.get_by_role("button", name=re.compile("Finalise")).click()
    _finalised(page, first)

    # 2. Ctrl+Enter finalises and moves on.
    second = _item(page)
    _verdict(page)
    page.get_by_label("Notes").press("Control+Enter")
    _finalised(page, second)

    # 3. "Finalise and next".
    third = _item(page)
    _verdict(page)
    page.get_by_role("button", name=re.compile("Finalise and next")).click()
    _finalised(page, third)

    open_from_nav(page, "My queue")
    queue = page.get_by_role("main")
    for done in (first, second, third):
        expect(queue).not_to_contain_text(done)
    open_from_nav(page, "Inspections")
    for done in (first, second, third):
        page.get_by_label("Decision id").fill(done)
        page.get_by_role("button", name="Filter").click()
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=done))
        expect(row).to_have_count(1)
        expect(row).to_contain_text(re.compile(r"\bfinal\b", re.IGNORECASE))
