"""Server-side SVG charts: what a reader of the page or the PDF sees (markers, gaps, the
target where the axis says, tooltips, links) and what the CSP and escaping demand."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.charts import BarRow, TrendPoint, bar_chart, safe_href, trend_chart, value_axis
from app.charts.svg import BAND, FONT_SIZE, SMALL_FONT_SIZE, WARNING, sparkline
from app.metrics.definitions import Share

NS = "{http://www.w3.org/2000/svg}"
EXTERNAL = ["https://evil.example", "//evil.example", "javascript:alert(1)", "/\\evil.example"]
INTERNAL = "/inspections/?vendor=ACME&month=2026-10"


def _svg(markup) -> ET.Element:
    root = ET.fromstring(str(markup))  # noqa: S314 - our own output, not untrusted input
    assert root.tag == f"{NS}svg"
    return root


def _all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    """The `tag` elements under `root`, with the chart class `cls` ("row": qa-chart-row)."""
    found = root.iter(f"{NS}{tag}")
    return [e for e in found if cls is None or f"qa-chart-{cls}" in e.get("class", "").split()]


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


def _area(element: ET.Element) -> tuple[float, float, float, float]:
    return tuple(float(element.get(a)) for a in ("x", "y", "width", "height"))


def _inside(x: float, y: float, area: tuple[float, float, float, float]) -> bool:
    left, top, width, height = area
    return left <= x <= left + width and top <= y <= top + height


def test_site_relative_links_drill_down_over_their_point_or_row():
    trend = _svg(trend_chart(_months([0.96, None], href=INTERNAL), title="Accuracy"))
    bars = _svg(bar_chart([BarRow("ACME", 0.96, 0.94, 0.97, 400, INTERNAL)], title="Vendors"))

    (link,) = _all(trend, "a")  # the month without data has nothing to open
    assert link.get("href") == INTERNAL
    marker = _one(trend, "circle", "marker")
    area = _area(_one(link, "rect", "hit"))
    assert _inside(float(marker.get("cx")), float(marker.get("cy")), area)
    (link,) = _all(bars, "a")
    assert link.get("href") == INTERNAL
    bar = _one(bars, "rect", "bar")
    left, top, width, height = _area(bar)
    area = _area(_one(link, "rect", "hit"))
    assert _inside(left, top, area) and _inside(left + width, top + height, area)


def _roles(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("role") == "img"]


@pytest.mark.parametrize("with_links", [True, False])
def test_no_image_holds_a_link_and_every_link_is_named(with_links):
    """An element with role="img" is one picture to assistive technology: a link inside it
    cannot be reached (axe: nested-interactive). The links lie over the drawing instead."""
    href = INTERNAL if with_links else None
    charts = [
        trend_chart(_months([0.96, 0.95, None, 0.97], href=href), title="Trend", target=0.95),
        bar_chart(
            [BarRow("ACME", 0.96, 0.94, 0.97, 400, href), BarRow("Globex", 0.9, 0.85, 0.93, 99)],
            title="Bars",
            target=0.95,
        ),
    ]
    for markup in charts:
        root = _svg(markup)
        images = _roles(root)
        assert len(images) == 1
        assert _all(images[0], "a") == []
        links = _all(root, "a")
        assert len(links) == (3 if with_links and "Trend" in markup else 1 if with_links else 0)
        if with_links:
            assert root.get("role") == "group"
            assert root.get("aria-labelledby") == root[0].get("id")  # the title
            assert images[0].get("aria-labelledby") == root[1].get("id")  # the description
        else:
            assert root.get("role") == "img"
        for link in links:
            assert link.get("aria-label").startswith(("ACME: 96.0%", "Jul 2026", "Aug", "Oct"))
            assert _all(link, "title")[0].text == link.get("aria-label")


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
        (image,) = _roles(root)
        named_by = f"{root.get('aria-labelledby')} {image.get('aria-labelledby')}".split()
        title_id, desc_id = root[0].get("id"), root[1].get("id")
        assert root[0].tag == f"{NS}title" and root[1].tag == f"{NS}desc"
        assert {title_id, desc_id} <= set(named_by)
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


# Living inside a Bootstrap page -------------------------------------------------------


def bootstrap_classes() -> set[str]:
    """Every class name the Bootstrap stylesheet the pages load has a rule for."""
    import flask_bootstrap

    css = Path(flask_bootstrap.__file__).parent / "static/bootstrap5/css/bootstrap.min.css"
    names = set(re.findall(r"\.(-?[_a-zA-Z][_a-zA-Z0-9-]*)", css.read_text(encoding="utf-8")))
    assert {"row", "col", "table", "card", "btn", "d-none"} <= names  # read the right file
    return names


def chart_classes(markup) -> set[str]:
    return {name for e in _svg(markup).iter() for name in e.get("class", "").split()}


def test_no_chart_class_is_a_bootstrap_class():
    """Bootstrap's `.row > *` once stretched every bar of a chart to full width: the
    `rect` widths were right, the page drew them wrong. No chart class may be one the
    framework styles."""
    used = set().union(*(chart_classes(markup) for markup in _sample_charts()))
    used |= chart_classes(bar_chart(_vendor_rows(), title="Vendors", width=340))
    used |= chart_classes(trend_chart(_months([0.9, 0.95]), title="Narrow", width=340))
    used |= chart_classes(sparkline(_months([0.9, None, 0.95]), title="Tile", target=0.92))
    assert {"qa-chart", "qa-chart-row", "qa-chart-bar", "qa-chart-link"} <= used
    assert used & bootstrap_classes() == set()
    assert all(name.startswith("qa-chart") for name in used)


def test_bar_lengths_are_proportional_to_the_values():
    rows = [BarRow("LOW", 0.88, 0.82, 0.93, 135), BarRow("HIGH", 0.99, 0.96, 1.0, 135)]
    root = _svg(bar_chart(rows, title="Vendors", target=0.95))

    low, high = (float(b.get("width")) for b in _all(root, "rect", "bar"))
    assert low < high
    assert low / high == pytest.approx(0.88 / 0.99, abs=0.005)  # the axis starts at zero
    (start,) = {b.get("x") for b in _all(root, "rect", "bar")}
    assert float(start) == pytest.approx(_pixel_of(_ticks(root, "x1"), 0.0), abs=0.15)


# One text scale, readable on a phone ---------------------------------------------------


def test_charts_are_drawn_at_their_own_size_with_one_font_size():
    """1 unit = 1 px: a chart is never scaled up, so text reads the same in every chart
    (the page's CSS only lets a chart shrink to a narrower container)."""
    for markup in [*_sample_charts(), bar_chart(_vendor_rows(), title="V", width=340)]:
        root = _svg(markup)
        _, _, width, height = (float(v) for v in root.get("viewBox").split())
        assert (float(root.get("width")), float(root.get("height"))) == (width, height)
        assert root.get("font-size") == str(FONT_SIZE)
        sizes = {e.get("font-size") for e in root.iter() if e is not root} - {None}
        assert sizes <= {str(SMALL_FONT_SIZE)}


def test_a_narrow_trend_labels_every_month_and_keeps_the_target_label_clear_of_data():
    points = [
        TrendPoint(f"{m} 2026", 0.95, 0.93, 0.97, 100, tick=m)
        for m in ("Jun", "Jul", "Aug", "Sep", "Oct", "Nov")
    ]
    root = _svg(trend_chart(points, title="Accuracy", target=0.95, width=340, height=200))

    labels = _all(_one(root, "g", "x-labels"), "text")
    assert [t.text for t in labels] == ["Jun", "Jul", "Aug", "Sep", "Oct", "Nov"]
    xs = [float(t.get("x")) for t in labels]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 3 * 7 + 8  # no overlap
    # The target's label is a legend above the plot: no marker or whisker can hide it.
    (target,) = _all(_one(root, "g", "target"), "text")
    assert target.text == "target 95.0%"
    plot_top = min(y for _, y in _ticks(root, "y1"))
    assert float(target.get("y")) + FONT_SIZE / 2 < plot_top
    assert float(target.get("x")) <= 340
    # Markers carry the full month in their tooltip.
    assert _all(_all(root, "circle", "marker")[0], "title")[0].text.startswith("Jun 2026:")


def test_a_wide_trend_thins_out_long_month_labels_but_keeps_the_latest():
    points = [TrendPoint(f"Month {i:02d} of 2026", 0.95, 0.93, 0.97, 100) for i in range(12)]
    root = _svg(trend_chart(points, title="Accuracy", width=340))

    labels = [t.text for t in _all(_one(root, "g", "x-labels"), "text")]
    assert 1 < len(labels) < 12
    assert labels[-1] == "Month 11 of 2026"


def test_narrow_bars_show_the_value_without_n():
    root = _svg(bar_chart(_vendor_rows(), title="Vendors", width=340))

    values = [t.text for t in _all(root, "text", "value")]
    assert values == ["96.2%", "93.0%", "no data", "98.5%"]
