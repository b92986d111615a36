"""A QA lead reads the QA overview, follows a vendor's accuracy figure to the inspections
behind it, and downloads them as CSV."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import expect

from tests.e2e.browser import OTHER_VENDOR, check_page, open_from_nav

FIGURE_COLUMN = "Overall accuracy"


# Each visible bar's drawn length and the figure its row shows, from the browser's
# layout: the SVG once said the right widths while a CSS rule stretched every bar to
# full width.
DRAWN_BARS = """() => [...document.querySelectorAll("svg .qa-chart-bar")]
  .filter((bar) => bar.getBoundingClientRect().width > 0)
  .map((bar) => [bar.getBoundingClientRect().width,
                 parseFloat(bar.parentElement.querySelector(".qa-chart-value").textContent)])"""


def test_overview_bars_are_as_long_as_their_figures(open_as):
    page = open_as("qa_lead")
    page.goto("/dashboards/")
    bars = page.evaluate(DRAWN_BARS)
    assert len(bars) >= 2, bars
    width_of_longest, longest = max(bars, key=lambda bar: bar[1])
    for width, figure in bars:  # the axis starts at 0%
        assert abs(width - width_of_longest * figure / longest) <= 2, bars
    assert len({round(width) for width, _ in bars}) > 1, "every bar is drawn the same length"


def test_dashboard_figure_drill_down_and_csv(open_as):
    page = open_as("qa_lead")
    page.goto("/")
    open_from_nav(page, "Dashboard")  # (checked by the tour)

    # The vendor's overall accuracy in the table of every vendor: "88.9% … 40/45".
    header = page.get_by_role("columnheader", name=FIGURE_COLUMN, exact=True)
    table = page.get_by_role("table").filter(has=header)
    columns = [text.strip() for text in table.get_by_role("columnheader").all_inner_texts()]
    row = table.get_by_role("row").filter(has_text=OTHER_VENDOR)
    cell = row.locator("td, th").nth(columns.index(FIGURE_COLUMN))
    right, inspected = map(int, re.search(r"(\d+)\s*/\s*(\d+)", cell.inner_text()).groups())
    wrong = inspected - right
    assert wrong > 0, cell.inner_text()
    cell.get_by_role("link").first.click()

    # The drill-down: the inspections that make the figure, and only those.
    expect(page.get_by_role("heading", name="Inspections", exact=True)).to_be_visible()
    # It says what it explains ("NORTHSTAR · November 2026 · … the 4 incorrect of 28"),
    # with the way back to the dashboard.
    banner = page.get_by_role("region", name="What this list shows")
    expect(banner).to_contain_text(OTHER_VENDOR)
    expect(banner).to_contain_text(re.compile(rf"\b{wrong} incorrect of {inspected}\b"))
    expect(banner.get_by_role("link", name=re.compile("dashboard|overview", re.I))).to_be_visible()
    results = page.get_by_role("table").first
    rows = results.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile(r"^#")))
    expect(rows).to_have_count(wrong)
    for text in rows.all_inner_texts():
        assert OTHER_VENDOR in text, text
    check_page(page, "drill-down")

    with (
        page.expect_response(lambda r: "/inspections/export" in r.url) as answer,
        page.expect_download() as download,
    ):
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv"), response.headers
    assert "attachment" in response.headers.get("content-disposition", "")
    assert download.value.suggested_filename.endswith(".csv")
    text = download.value.path().read_text(encoding="utf-8-sig")
    table_rows = list(csv.reader(io.StringIO(text)))
    assert table_rows[0][:4] == ["inspection_id", "decision", "vendor", "month"], table_rows[0]
    assert len(table_rows) == 1 + wrong
    assert {r[2] for r in table_rows[1:]} == {OTHER_VENDOR}
