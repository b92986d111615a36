"""The home tiles' sparkline (app/charts/svg.py `sparkline`): what a reader sees (the
line, gaps for months without data, the target, the latest value) and what the CSP and
the page's CSS framework demand (no inline styles, only prefixed class names)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.charts.svg import TrendPoint, sparkline
from app.metrics.definitions import Share

NS = "{http://www.w3.org/2000/svg}"


def _points(*shares: tuple[int, int] | None) -> list[TrendPoint]:
    return [
        TrendPoint.from_share(f"M{i}", Share(*s) if s else Share(0, 0))
        for i, s in enumerate(shares)
    ]


def _svg(markup) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own output, not untrusted input


def _classes(root: ET.Element) -> set[str]:
    return {c for e in root.iter() for c in e.get("class", "").split()}


def test_a_sparkline_draws_the_line_the_target_and_the_latest_value():
    markup = sparkline(
        _points((90, 100), None, (95, 100), (97, 100)), title="Accuracy", target=0.95
    )
    root = _svg(markup)
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "Accuracy"
    desc = root.find(f"{NS}desc").text
    assert "M1: no data" in desc and "M3: 97.0%" in desc and "Target 95.0%" in desc
    # Two segments: the month without data leaves a gap.
    (line,) = [e for e in root.iter(f"{NS}path") if "qa-chart-line" in e.get("class", "")]
    assert line.get("d").count("M") == 2
    latest = [e for e in root.iter(f"{NS}circle") if "qa-chart-latest" in e.get("class", "")]
    assert len(latest) == 1 and latest[0].find(f"{NS}title").text.startswith("M3: 97.0%")
    assert any(e.text == "97.0%" for e in root.iter(f"{NS}text"))
    targets = [e for e in root.iter(f"{NS}line") if "qa-chart-target" in e.get("class", "")]
    assert len(targets) == 1


def test_a_sparkline_has_no_inline_style_and_only_prefixed_classes():
    markup = str(sparkline(_points((1, 2), (2, 3)), title="x", target=0.5))
    assert "style=" not in markup and "<a " not in markup
    assert all(c.startswith("qa-chart") for c in _classes(_svg(markup)))


def test_a_sparkline_without_data_says_so():
    root = _svg(sparkline(_points(None, None), title="Nothing yet"))
    assert any(e.text == "No data" for e in root.iter(f"{NS}text"))


def test_a_sparkline_is_deterministic_and_escapes_text():
    points = _points((3, 4), (1, 4))
    first = sparkline(points, title="<b>&</b>", id="spark")
    assert first == sparkline(points, title="<b>&</b>", id="spark")
    assert "<b>" not in str(first) and "&lt;b&gt;" in str(first)


def test_a_sparkline_refuses_a_share_outside_0_and_1():
    with pytest.raises(ValueError):
        sparkline([TrendPoint("x", 1.5, None, None, 1)], title="bad")
