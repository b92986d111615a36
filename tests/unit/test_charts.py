"""Server-side SVG charts: what a reader of the page or the PDF sees (markers, gaps, the
target where the axis says, tooltips, links) and what the CSP and escaping demand."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from app.charts import BarRow, TrendPoint, bar_chart, safe_href, trend_chart, value_axis
from app.charts.svg import BAND, WARNING
from app.metrics.definitions import Share

NS = "{http://www.w3.org/2000/svg}"
EXTERNAL = ["https://evil.example", "//evil.example", "javascript:alert(1)", "/\\evil.example"]
INTERNAL = "/inspections/?vendor=ACME&month=2026-10"


def _svg(markup) -> ET.Element:
    root = ET.fromstring(str(markup))  # noqa: S314 - our own output, not untrusted input
    assert root.tag == f"{NS}svg"
    return root


def _all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(f"{NS}{tag}")
    return [e for e in found if cls is None or cls in e.get("class", "").split()]


def _one(root: ET.Element, tag: str, cls: str | None = None) -> ET.Element:
    (element,) = _all(root, tag, cls)
    return element


def _ticks(root: ET.Element, coordinate: str) -> list[tuple[float, float]]:
    """(value, pixel) of each labelled gridline, read from the labels as a reader would."""
    grid = _one(root, "g", "grid")
    labels = _all(grid, "text")
    lines = _all(grid, "line")
    assert len(labels) == len(lines)
    return [
        (float(label.text.rstrip("%")) / 100, float(line.get(coordinate)))
        for label, line in zip(labels, lines, strict=True)
    ]


def _pixel_of(ticks: list[tuple[float, float]], value: float) -> float:
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    return p0 + (value - v0) / (v1 - v0) * (p1 - p0)


def _segments(path_d: str) -> list[str]:
    return [s for s in path_d.split("M") if s]


def _months(values, n=400, href=None):
    names = ["Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026", "Nov 2026", "Dec 2026"]
    return [
        TrendPoint(
            name,
            v,
            None if v is None else max(0.0, v - 0.02),
            None if v is None else min(1.0, v + 0.015),
            0 if v is None else n,
            href,
        )
        for name, v in zip(names, values, strict=False)
    ]


# Trend --------------------------------------------------------------------------------


def test_one_marker_per_month_higher_value_drawn_higher():
    values = [0.962, 0.951, 0.975, 0.940]
    root = _svg(trend_chart(_months(values), title="Accuracy"))

    markers = _all(root, "circle", "marker")
    assert len(markers) == 4
    ys = [float(m.get("cy")) for m in markers]
    by_value = sorted(range(4), key=lambda i: values[i])
    by_height = sorted(range(4), key=lambda i: -ys[i])
    assert by_value == by_height
    xs = [float(m.get("cx")) for m in markers]
    assert xs == sorted(xs)


def test_every_month_is_labelled_under_its_marker():
    root = _svg(trend_chart(_months([0.96, 0.95, 0.97]), title="Accuracy"))

    labels = _all(_one(root, "g", "x-labels"), "text")
    assert [t.text for t in labels] == ["Jul 2026", "Aug 2026", "Sep 2026"]
    markers = _all(root, "circle", "marker")
    assert [t.get("x") for t in labels] == [m.get("cx") for m in markers]


def test_target_line_sits_where_the_axis_puts_the_target():
    root = _svg(trend_chart(_months([0.962, 0.951, 0.975]), title="Accuracy", target=0.95))

    target = _one(root, "g", "target")
    line = _one(target, "line")
    assert line.get("y1") == line.get("y2")
    assert line.get("stroke-dasharray")
    assert _all(target, "text")[0].text == "target 95.0%"
    assert float(line.get("y1")) == pytest.approx(_pixel_of(_ticks(root, "y1"), 0.95), abs=0.15)


def test_a_cap_is_labelled_cap_and_the_axis_includes_it():
    points = _months([0.004, 0.006, 0.005])
    root = _svg(trend_chart(points, title="Wrongful removals", target=0.02, target_kind="cap"))

    assert _all(_one(root, "g", "target"), "text")[0].text == "cap 2.0%"
    ticks = _ticks(root, "y1")
    assert ticks[0][0] <= 0.002 and ticks[-1][0] >= 0.02


def test_axis_includes_every_interval_bound_and_is_clamped_to_100_percent():
    points = [
        TrendPoint("Oct 2026", 0.99, 0.95, 1.0, 80),
        TrendPoint("Nov 2026", 0.90, 0.82, 0.95, 50),
    ]
    root = _svg(trend_chart(points, title="Accuracy", target=0.97))

    ticks = _ticks(root, "y1")
    assert ticks[0][0] <= 0.82
    assert ticks[-1][0] == 1.0
    assert _all(_one(root, "g", "grid"), "text")[-1].text == "100%"
    top, bottom = ticks[-1][1], ticks[0][1]
    bars = _all(root, "path", "ci")
    assert len(bars) == 2
    for bar in bars:
        ys = [float(y) for y in re.findall(r"[ V](-?[\d.]+)", bar.get("d"))]
        assert len(ys) == 4
        assert all(top - 0.01 <= y <= bottom + 0.01 for y in ys)


def test_a_month_without_data_breaks_the_line_and_is_marked():
    points = _months([0.96, 0.95, None, 0.97, 0.98])
    root = _svg(trend_chart(points, title="Accuracy"))

    line = _one(root, "path", "line")
    first, second = _segments(line.get("d"))
    assert first.count("L") == 1 and second.count("L") == 1
    assert len(_all(root, "circle", "marker")) == 4
    gap = _one(root, "g", "no-data")
    assert [t.text for t in _all(gap, "text")] == ["no data"]
    assert _all(gap, "title")[0].text == "Sep 2026: no data, n = 0"
    sep = next(t for t in _all(_one(root, "g", "x-labels"), "text") if t.text == "Sep 2026")
    assert _all(gap, "circle")[0].get("cx") == sep.get("x")


def test_markers_carry_value_interval_and_n_as_tooltip():
    point = TrendPoint("Oct 2026", 0.962, 0.941, 0.976, 412)
    root = _svg(trend_chart([point], title="Accuracy"))

    (tooltip,) = _all(_one(root, "circle", "marker"), "title")
    assert tooltip.text == "Oct 2026: 96.2% (95% CI 94.1\u201397.6%), n = 412"


def test_description_lists_every_value_for_text_only_readers():
    points = _months([0.962, None])
    root = _svg(trend_chart(points, title="Accuracy", target=0.95))

    desc = _all(root, "desc")[0].text
    assert "Jul 2026: 96.2% (95% CI 94.2\u201397.7%), n = 400" in desc
    assert "Aug 2026: no data, n = 0" in desc
    assert "Target 95.0%" in desc
    given = _svg(trend_chart(points, title="Accuracy", description="Flat since July."))
    assert _all(given, "desc")[0].text == "Flat since July."


def test_points_come_from_shares():
    share = Share(count=396, n=412)
    point = TrendPoint.from_share("Oct 2026", share, href="/inspections/")
    low, high = share.interval

    assert (point.value, point.ci_low, point.ci_high, point.n) == (share.value, low, high, 412)
    assert BarRow.from_share("ACME", share, flagged=True).flagged


# Links and escaping -------------------------------------------------------------------


@pytest.mark.parametrize("href", EXTERNAL)
def test_external_links_are_dropped(href):
    trend = _svg(trend_chart(_months([0.96], href=href), title="Accuracy"))
    bars = _svg(bar_chart([BarRow("ACME", 0.96, 0.94, 0.97, 400, href)], title="Vendors"))

    for root in (trend, bars):
        assert _all(root, "a") == []
    assert safe_href(href) is None


def test_site_relative_links_drill_down():
    trend = _svg(trend_chart(_months([0.96, None], href=INTERNAL), title="Accuracy"))
    bars = _svg(bar_chart([BarRow("ACME", 0.96, 0.94, 0.97, 400, INTERNAL)], title="Vendors"))

    (link,) = _all(trend, "a")
    assert link.get("href") == INTERNAL
    assert _all(link, "circle", "marker")
    (link,) = _all(bars, "a")
    assert link.get("href") == INTERNAL
    assert _all(link, "rect", "bar")


@pytest.mark.parametrize("href", [None, "", "inspections/", "/\t/evil.example", "/a b"])
def test_only_clean_site_relative_hrefs_are_safe(href):
    assert safe_href(href) is None
    assert safe_href("/inspections/?vendor=ACME") == "/inspections/?vendor=ACME"


HOSTILE = "<script>alert(\"x\")</script> & 'AT&T'"


def test_hostile_text_is_escaped_everywhere():
    point = TrendPoint(HOSTILE, 0.96, 0.94, 0.97, 400, "/x?a=1&b=\"'><script>")
    trend = trend_chart([point], title=HOSTILE, description=HOSTILE)
    bars = bar_chart([BarRow(HOSTILE, 0.96, 0.94, 0.97, 400)], title=HOSTILE, target=0.9)

    for markup in (trend, bars):
        assert "<script>" not in markup
        root = _svg(markup)
        assert _all(root, "script") == []
        title, *tooltips = _all(root, "title")
        assert title.text == HOSTILE
        assert tooltips and all(t.text.startswith(f"{HOSTILE}: 96.0%") for t in tooltips)
    trend_root = _svg(trend)
    assert _all(_one(trend_root, "g", "x-labels"), "text")[0].text == HOSTILE
    assert _all(trend_root, "desc")[0].text == HOSTILE
    assert _all(trend_root, "a")[0].get("href") == "/x?a=1&b=\"'><script>"
    bar_label = _all(_one(_svg(bars), "g", "row"), "text")[0].text
    assert HOSTILE.startswith(bar_label.rstrip("…"))


def test_control_characters_cannot_break_the_markup():
    root = _svg(trend_chart(_months([0.96]), title="bad\x00\x1b title"))

    assert _all(root, "title")[0].text == "bad title"


# Markup rules -------------------------------------------------------------------------


def _sample_charts():
    return [
        trend_chart(_months([0.96, None, 0.97], href="/x"), title="Trend", target=0.95),
        trend_chart([], title="Empty trend"),
        bar_chart(
            [
                BarRow("ACME", 0.96, 0.94, 0.97, 400, "/x"),
                BarRow("Globex", None, None, None, 0),
                BarRow("Initech", 0.91, 0.88, 0.93, 300, flagged=True),
            ],
            title="Bars",
            target=0.95,
        ),
        bar_chart([], title="Empty bars"),
    ]


def test_no_inline_styles_anywhere():
    for markup in _sample_charts():
        root = _svg(markup)
        assert _all(root, "style") == []
        assert all("style" not in element.attrib for element in root.iter())
        assert "style" not in markup


def test_charts_are_labelled_for_screen_readers_with_ids_unique_per_chart():
    ids = []
    for markup in _sample_charts():
        root = _svg(markup)
        assert root.get("role") == "img"
        assert root.get("width") == "100%"
        title_id, desc_id = root.get("aria-labelledby").split()
        assert root[0].tag == f"{NS}title" and root[0].get("id") == title_id
        assert root[1].tag == f"{NS}desc" and root[1].get("id") == desc_id
        ids += [title_id, desc_id]
    assert len(ids) == len(set(ids))

    a = _svg(trend_chart(_months([0.96]), title="Accuracy"))
    b = _svg(trend_chart(_months([0.95]), title="Accuracy"))
    assert a.get("aria-labelledby") != b.get("aria-labelledby")


def test_an_explicit_id_is_used_and_checked():
    root = _svg(trend_chart(_months([0.96]), title="Accuracy", id="acme-accuracy"))

    assert root.get("aria-labelledby") == "acme-accuracy-title acme-accuracy-desc"
    with pytest.raises(ValueError):
        trend_chart(_months([0.96]), title="Accuracy", id='x" onload="alert(1)')


def test_same_input_same_bytes():
    assert [str(c) for c in _sample_charts()] == [str(c) for c in _sample_charts()]


def test_empty_input_renders_no_data():
    for markup in (trend_chart([], title="Accuracy"), bar_chart([], title="Vendors")):
        root = _svg(markup)
        assert [t.text for t in _all(root, "text")] == ["No data"]
        assert _all(root, "desc")[0].text == "No data."


def test_an_unknown_target_kind_is_refused():
    with pytest.raises(ValueError):
        trend_chart(_months([0.96]), title="Accuracy", target=0.9, target_kind="ceiling")


# Bars ---------------------------------------------------------------------------------


def _vendor_rows():
    return [
        BarRow("ACME", 0.962, 0.941, 0.976, 412, "/inspections/?vendor=ACME"),
        BarRow("Globex", 0.930, 0.900, 0.950, 200, flagged=True),
        BarRow("Initech", None, None, None, 0),
        BarRow("Umbrella", 0.985, 0.970, 0.993, 510),
    ]


def test_bars_have_labels_values_and_lengths_like_the_values():
    root = _svg(bar_chart(_vendor_rows(), title="Vendors", target=0.95))

    rows = _all(root, "g", "row")
    assert len(rows) == 4
    assert [_all(r, "text")[0].text for r in rows] == ["ACME", "Globex", "Initech", "Umbrella"]
    values = [t.text for t in _all(root, "text", "value")]
    assert values == ["96.2% (n = 412)", "93.0% (n = 200)", "no data", "98.5% (n = 510)"]
    widths = [float(b.get("width")) for b in _all(root, "rect", "bar")]
    assert widths[1] < widths[0] < widths[2]
    assert len(_all(root, "path", "ci")) == 3


def test_flagged_rows_use_the_warning_colour():
    root = _svg(bar_chart(_vendor_rows(), title="Vendors"))

    fills = {
        _all(r, "text")[0].text: [b.get("fill") for b in _all(r, "rect", "bar")]
        for r in _all(root, "g", "row")
    }
    assert fills == {"ACME": [BAND], "Globex": [WARNING], "Initech": [], "Umbrella": [BAND]}


def test_bar_target_is_a_vertical_dashed_line_at_the_axis_position():
    root = _svg(bar_chart(_vendor_rows(), title="Vendors", target=0.95))

    target = _one(root, "g", "target")
    line = _one(target, "line")
    assert line.get("x1") == line.get("x2") and line.get("stroke-dasharray")
    assert _all(target, "text")[0].text == "target 95.0%"
    ticks = _ticks(root, "x1")
    assert ticks[0][0] == 0.0
    assert float(line.get("x1")) == pytest.approx(_pixel_of(ticks, 0.95), abs=0.15)


def test_bar_tooltips_and_no_data_rows():
    root = _svg(bar_chart(_vendor_rows(), title="Vendors"))

    tooltips = [_all(r, "title")[0].text for r in _all(root, "g", "row")]
    assert tooltips[0] == "ACME: 96.2% (95% CI 94.1\u201397.6%), n = 412"
    assert tooltips[2] == "Initech: no data, n = 0"
    (empty,) = _all(root, "g", "no-data")
    assert _all(empty, "rect") == []


def test_long_labels_are_shortened_but_kept_whole_in_the_tooltip():
    name = "Globex Content Moderation Services International Holdings"
    root = _svg(bar_chart([BarRow(name, 0.9, 0.88, 0.92, 300)], title="Vendors"))

    shown = _all(_one(root, "g", "row"), "text")[0].text
    assert shown.endswith("…") and name.startswith(shown[:-1])
    assert _all(_one(root, "g", "row"), "title")[0].text.startswith(name)


# Axis ticks ---------------------------------------------------------------------------


def _is_nice(step: float) -> bool:
    exponent = math.floor(math.log10(step))
    return round(step / 10**exponent, 9) in (1, 2, 5)


@pytest.mark.parametrize(
    ("values", "decimals"),
    [
        ([0.921, 0.962, 0.975], 0),
        ([0.50, 0.99], 0),
        ([0.0, 1.0], 0),
        ([0.004, 0.02], 1),
        ([0.004, 0.06], 0),
        ([0.995, 0.998, 0.999], 1),
        ([0.97], 1),
    ],
)
def test_tick_labels_are_evenly_spaced_nice_numbers(values, decimals):
    points = [TrendPoint(f"M{i}", v, v, v, 10) for i, v in enumerate(values)]
    root = _svg(trend_chart(points, title="Accuracy"))

    labels = [t.text for t in _all(_one(root, "g", "grid"), "text")]
    assert 4 <= len(labels) <= 6
    assert all(len(label.rstrip("%").partition(".")[2]) == decimals for label in labels)
    ticks = _ticks(root, "y1")
    shares = [v for v, _ in ticks]
    steps = {round(b - a, 9) for a, b in itertools.pairwise(shares)}
    assert len(steps) == 1 and _is_nice(steps.pop() * 100)
    pixels = [p for _, p in ticks]
    gaps = [b - a for a, b in itertools.pairwise(pixels)]
    assert max(gaps) - min(gaps) <= 0.2
    assert shares[0] <= min(values) and shares[-1] >= max(values)
    assert shares[0] >= 0 and shares[-1] <= 1


def test_value_axis_maps_ticks_onto_pixels():
    axis = value_axis([0.92, 0.97], start=200, end=20)

    assert [axis.label(t) for t in axis.ticks] == ["90%", "92%", "94%", "96%", "98%"]
    assert axis(0.90) == 200 and axis(0.98) == 20
    assert axis(0.94) == pytest.approx(110)


def test_plain_numbers_without_percent():
    point = TrendPoint("Oct 2026", 82.5, 80.1, 84.0, 12)
    root = _svg(trend_chart([point], title="Rubric score", percent=False, target=80))

    labels = [t.text for t in _all(_one(root, "g", "grid"), "text")]
    assert not any(label.endswith("%") for label in labels)
    assert _all(_one(root, "g", "target"), "text")[0].text == "target 80.0"
    assert _all(_one(root, "circle", "marker"), "title")[0].text == (
        "Oct 2026: 82.5 (95% CI 80.1\u201384.0), n = 12"
    )
