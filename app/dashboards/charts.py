"""The dashboards' charts. Each is drawn twice, at a laptop's width and at a phone's (the
page shows one or the other), and carries the title the page shows above it: the SVG is
drawn at its own size, so text reads the same in every chart (app/charts/svg.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from app import months
from app.charts import BarRow, TrendPoint, bar_chart, trend_chart
from app.metrics.definitions import Share, floor_status
from app.metrics.queries import Figures, Targets
from app.models.enums import POLICY_AREA_NAMES

# Widths in pixels: a half-width card of the page at 1400 px, a full-width one, a phone.
TREND_WIDTH = 600
BAR_WIDTH = 780
NARROW_WIDTH = 340
EN_DASH = " \u2013 "


@dataclass(frozen=True)
class Chart:
    """A chart as the page shows it: a visible title, a line on how to read it, and the
    drawing for wide and for narrow screens."""

    title: str
    note: str
    wide: Markup
    narrow: Markup


def _share(body: dict) -> Share:
    return Share(body["count"], body["n"])


def _tick(month: date) -> str:
    """A month on a narrow axis: "Nov", and "Jan \u201927" where a year begins."""
    return f"{month:%b \u2019%y}" if month.month == 1 else f"{month:%b}"


def _span(trend: dict[date, Figures]) -> str:
    first, last = min(trend), max(trend)
    if first.year == last.year:
        return f"{first:%B}{EN_DASH}{months.name(last)}"
    return f"{months.name(first)}{EN_DASH}{months.name(last)}"


def overview_chart(rows: list, month: date, href: Callable[[str], str]) -> Chart:
    """Every vendor's overall accuracy in `month`, flagged where it missed its target;
    each bar opens the vendor's dashboard (`href(code)`)."""
    bars = [
        BarRow.from_share(
            row.vendor.code,
            row.figures.share("overall_accuracy"),
            href=href(row.vendor.code),
            flagged=row.accuracy_status == "missed",
        )
        for row in rows
    ]
    title = f"Overall accuracy by vendor, {months.name(month)}"
    return Chart(
        title=title,
        note="Orange: the vendor missed its target (its whole range is below it). "
        "Choose a bar for the vendor's dashboard.",
        wide=bar_chart(bars, title=title, width=BAR_WIDTH, id="vendors-accuracy"),
        narrow=bar_chart(bars, title=title, width=NARROW_WIDTH, id="vendors-accuracy-narrow"),
    )


def trend_charts(
    code: str, trend: dict[date, Figures], targets: Targets, href: Callable[[date], str]
) -> list[Chart]:
    """Overall accuracy and critical errors over the trend's months, against the target
    and the cap; each month opens that month's dashboard (`href(month)`)."""
    span = _span(trend)

    def points(name: str) -> list[TrendPoint]:
        return [
            TrendPoint.from_share(
                f"{month:%b %Y}", figures.share(name), href=href(month), tick=_tick(month)
            )
            for month, figures in trend.items()
        ]

    charts = []
    for name, noun, target, kind, key in (
        ("overall_accuracy", "Overall accuracy", targets.accuracy_target, "floor", "accuracy"),
        ("critical_error_rate", "Critical errors", targets.critical_error_cap, "cap", "critical"),
    ):
        title = f"{noun}, {span}"
        svg_title = f"{code}: {noun.lower()}, {span}"
        limit = "target" if kind == "floor" else "cap"
        note = "Dots: each month's share; whiskers: its likely range (95%)."
        if target is not None:
            note += f" Dashed line: the contract {limit}."
        common = {"target": target, "target_kind": kind, "title": svg_title}
        charts.append(
            Chart(
                title=title,
                note=note,
                wide=trend_chart(
                    points(name), width=TREND_WIDTH, height=240, id=f"trend-{key}", **common
                ),
                narrow=trend_chart(
                    points(name),
                    width=NARROW_WIDTH,
                    height=200,
                    id=f"trend-{key}-narrow",
                    **common,
                ),
            )
        )
    return charts


def area_chart(
    code: str, month: date, metrics: dict, targets: Targets, href: Callable[[str], str]
) -> Chart:
    """Overall accuracy per policy area in `month`; each bar opens the area's inspections
    (`href(area)`)."""
    bars = [
        BarRow.from_share(
            POLICY_AREA_NAMES.get(row["key"], row["key"]),
            _share(row["overall_accuracy"]),
            href=href(row["key"]),
            flagged=floor_status(_share(row["overall_accuracy"]), targets.accuracy_target)
            == "missed",
        )
        for row in metrics["breakdowns"]["policy_area"]
    ]
    title = "Overall accuracy by policy area"
    svg_title = f"{code}: overall accuracy by policy area, {months.name(month)}"
    note = "Orange: below the target even at the top of its likely range."
    if targets.accuracy_target is not None:
        note += " Dashed line: the contract target."
    note += " Choose a bar for the area's inspections."
    common = {"target": targets.accuracy_target, "title": svg_title}
    return Chart(
        title=title,
        note=note,
        wide=bar_chart(bars, width=BAR_WIDTH, id="areas-accuracy", **common),
        narrow=bar_chart(bars, width=NARROW_WIDTH, id="areas-accuracy-narrow", **common),
    )
