"""Server-side SVG charts: a monthly trend line and horizontal bars, both with Wilson
intervals and an optional contract target.

The markup is self-contained and uses presentation attributes only (no ``style``), so the
same string can be embedded in a page under the Content-Security-Policy and handed to
WeasyPrint for the PDFs. Every text is escaped, links are site-relative or dropped, and the
output is deterministic: the same input gives the same bytes.

Class names all start with ``qa-chart``: a chart sits inside pages styled by Bootstrap, and
a shared name (``row`` once) lets the framework's rules restyle the drawing. The SVG is
drawn at its own size in pixels (1 unit = 1 px), so every chart shows text at the same
size; the page's stylesheet only lets it shrink to a narrower container
(``.qa-chart { max-width: 100%; height: auto }``). Narrow charts (`COMPACT_WIDTH`) move
the target's label into the plot and keep value labels short.

Drill-down links never sit inside the ``role="img"`` drawing (an image has no interactive
parts for assistive technology): a chart with links is a ``role="group"`` holding the
drawing and, on top of it, one transparent, named link area per row or month.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from markupsafe import Markup, escape

# Palette and type ---------------------------------------------------------------------

LINE = "#0d6efd"
BAND = "#6ea8fe"
TARGET = "#dc3545"
GRID = "#dee2e6"
TEXT = "#495057"
WARNING = "#fd7e14"
BACKGROUND = "#ffffff"
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"
FONT_SIZE = 12
SMALL_FONT_SIZE = 10
CLASS_PREFIX = "qa-chart"
# At or below this width a chart is drawn for a phone: see the module docstring.
COMPACT_WIDTH = 480

TARGET_KINDS = {"floor": "target", "cap": "cap"}

# Average glyph advance of DejaVu Sans at 12px (capitals are wider: vendor codes get room
# from the padding around them); enough to keep labels from overlapping.
_CHAR_WIDTH = 7.0
_SVG_NS = "http://www.w3.org/2000/svg"
_EN_DASH = "\u2013"
_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
# Characters XML 1.0 forbids even when escaped; left in, they make the SVG unparseable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Browsers drop tabs and newlines from URLs and read "\" as "/", so "/\evil.example" or
# "/\t/evil.example" would become the protocol-relative "//evil.example".
_UNSAFE_IN_HREF = re.compile(r"[\x00-\x20\x7f\\]")


# Data ---------------------------------------------------------------------------------


class _ShareLike(Protocol):
    n: int

    @property
    def value(self) -> float | None: ...

    @property
    def interval(self) -> tuple[float | None, float | None]: ...


@dataclass(frozen=True)
class TrendPoint:
    """One month of a trend: its label, share (None: no data) with interval, and n;
    `tick` is a shorter label for the axis (default: `label`)."""

    label: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    href: str | None = None
    tick: str | None = None

    @classmethod
    def from_share(
        cls, label: str, share: _ShareLike, href: str | None = None, tick: str | None = None
    ) -> TrendPoint:
        """The point of a `app.metrics.definitions.Share` (or anything shaped like it)."""
        low, high = share.interval
        return cls(label, share.value, low, high, share.n, href, tick)

    @property
    def axis_label(self) -> str:
        return self.label if self.tick is None else self.tick


@dataclass(frozen=True)
class BarRow:
    """One bar: its label, share (None: no data) with interval, n, and whether to flag it."""

    label: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    href: str | None = None
    flagged: bool = False

    @classmethod
    def from_share(
        cls, label: str, share: _ShareLike, href: str | None = None, flagged: bool = False
    ) -> BarRow:
        """The row of a `app.metrics.definitions.Share` (or anything shaped like it)."""
        low, high = share.interval
        return cls(label, share.value, low, high, share.n, href, flagged)


# Value axis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """A value axis: nice, evenly spaced ticks mapped linearly onto pixels.

    ``ticks[0]`` sits at pixel ``start`` and ``ticks[-1]`` at pixel ``end`` (for a y axis
    ``start`` is the bottom, so higher values get smaller pixels).
    """

    ticks: tuple[float, ...]
    start: float
    end: float
    percent: bool = True
    decimals: int = 0

    @property
    def lo(self) -> float:
        return self.ticks[0]

    @property
    def hi(self) -> float:
        return self.ticks[-1]

    def __call__(self, value: float) -> float:
        """The pixel of `value`."""
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def label(self, value: float) -> str:
        """A tick label: "94%", or "99.5%" on a narrow axis (plain numbers without percent)."""
        if self.percent:
            return f"{value * 100:.{self.decimals}f}%"
        return f"{value:.{self.decimals}f}"


def value_axis(
    values: Iterable[float],
    *,
    start: float,
    end: float,
    percent: bool = True,
    include_zero: bool = False,
) -> Axis:
    """The axis showing every one of `values`, padded, with 4 to 6 nice ticks (1, 2 or 5 times
    a power of ten apart). With `percent` the axis stays within [0, 1] and is at least half
    a percentage point wide, so tick labels need one decimal at most."""
    values = [float(v) for v in values] or [0.0, 1.0]
    if include_zero:
        values.append(0.0)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    if include_zero and min(values) >= 0:
        lo = 0.0
    min_span = 0.005 if percent else (max(abs(lo), abs(hi)) * 0.05 or 1.0)
    if hi - lo < min_span:
        middle = (lo + hi) / 2
        lo, hi = middle - min_span / 2, middle + min_span / 2
    if percent:
        if lo < 0:
            lo, hi = 0.0, min(1.0, hi - lo)
        if hi > 1:
            lo, hi = max(0.0, lo - (hi - 1)), 1.0
    ticks, exponent = _nice_ticks(lo, hi, bounded=percent)
    decimals = max(0, -(exponent + 2) if percent else -exponent)
    return Axis(ticks=ticks, start=start, end=end, percent=percent, decimals=decimals)


def _nice_ticks(lo: float, hi: float, *, bounded: bool) -> tuple[tuple[float, ...], int]:
    """Ticks covering [lo, hi] and the power of ten of their step."""
    span = hi - lo
    top = math.floor(math.log10(span))
    options = []
    for exponent in range(top - 2, top + 2):
        for mantissa in (1, 2, 5):
            step = _tick(1, mantissa, exponent)
            first = math.floor(lo / step + 1e-9)
            last = math.ceil(hi / step - 1e-9)
            if bounded and (first < 0 or _tick(last, mantissa, exponent) > 1):
                continue
            options.append((first, last, mantissa, exponent))
    fitting = [o for o in options if 4 <= o[1] - o[0] + 1 <= 6]
    if fitting:
        # The tightest axis wins; on a tie, more gridlines.
        first, last, mantissa, exponent = min(
            fitting, key=lambda o: ((o[1] - o[0]) * _tick(1, o[2], o[3]), o[0] - o[1])
        )
    else:
        # A range straddling awkwardly can get 7 ticks at one step and 3 at the next: take
        # the 3 and add a tick below (or above, at the floor of a bounded axis).
        first, last, mantissa, exponent = min(
            (o for o in options if o[1] - o[0] + 1 <= 6),
            key=lambda o: _tick(1, o[2], o[3]),
        )
        while last - first + 1 < 4:
            if not bounded or first > 0:
                first -= 1
            else:
                last += 1
    ticks = tuple(_tick(k, mantissa, exponent) for k in range(first, last + 1))
    return ticks, exponent


def _tick(k: int, mantissa: int, exponent: int) -> float:
    # Dividing exact integers gives the float nearest the decimal (0.94, not 0.9400000001).
    if exponent < 0:
        return k * mantissa / 10 ** (-exponent)
    return float(k * mantissa * 10**exponent)


# Charts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    """A drill-down: where to go, what the link is called, and the area that opens it."""

    href: str | None
    label: str
    x: float
    y: float
    width: float
    height: float


def trend_chart(
    points: Sequence[TrendPoint],
    *,
    title: str,
    target: float | None = None,
    target_kind: str = "floor",
    width: int = 640,
    height: int = 240,
    percent: bool = True,
    description: str | None = None,
    id: str | None = None,
) -> Markup:
    """An SVG line chart of one value per month, with its interval and the target.

    Months without data leave a gap in the line and get a "no data" mark on the axis.
    Each marker carries a tooltip (label, value, interval, n); a point with a site-relative
    `href` gets a link over its month's column. Month labels are thinned out (the latest is
    always shown) when they would not fit. `description` defaults to a text listing of every
    value. `id` (default: derived from the content) prefixes the element ids.
    """
    kind = _target_word(target_kind)
    points = list(points)
    for p in points:
        _check_values((p.value, p.ci_low, p.ci_high), percent)
    _check_values((target,), percent)
    content = (title, description, target, target_kind, width, height, percent, points)
    chart_id = _chart_id(id, "trend", content)
    lines = [_summary(p.label, p.value, p.ci_low, p.ci_high, p.n, percent) for p in points]
    desc = _description(description, lines, target, kind, percent)
    if not points:
        return _no_data_svg(chart_id, title, desc, width)

    compact = width <= COMPACT_WIDTH
    target_label = None if target is None else f"{kind} {_fmt_value(target, percent)}"
    label_width = max(len(p.axis_label) for p in points) * _CHAR_WIDTH
    # The target's label sits in the right margin, where no marker can hide it (on a narrow
    # chart, as a legend above the plot); the margin leaves room for half the latest
    # month's label.
    margin = label_width / 2
    if target_label is not None and not compact:
        margin = max(margin, len(target_label) * _CHAR_WIDTH + 10)
    legend = compact and target_label is not None
    left = 46.0 if compact else 52.0
    right, top, bottom = width - max(12.0, margin), 30.0 if legend else 18.0, height - 28.0
    bounds = [v for p in points for v in (p.value, p.ci_low, p.ci_high) if v is not None]
    if target is not None:
        bounds.append(target)
    y = value_axis(bounds, start=bottom, end=top, percent=percent)
    spacing = (right - left) / len(points)
    xs = [left + (i + 0.5) * spacing for i in range(len(points))]

    parts = [_grid_horizontal(y, left, right)]
    if target is not None:
        ty = y(target)
        pieces = [_el("line", _dashed({"x1": left, "y1": ty, "x2": right, "y2": ty}))]
        if legend:
            text_x = right - len(target_label) * _CHAR_WIDTH
            pieces += [
                _el("line", _dashed({"x1": text_x - 26, "y1": 10, "x2": text_x - 4, "y2": 10})),
                _el(
                    "text",
                    {"x": right, "y": 10, "text-anchor": "end", "dominant-baseline": "middle"},
                    _text(target_label),
                ),
            ]
        else:
            where = {"x": right + 4, "y": ty, "dominant-baseline": "middle"}
            pieces.append(_el("text", where, _text(target_label)))
        parts.append(_el("g", {"class": _cls("target"), "fill": TARGET}, *pieces))

    bars = []
    for x, p in zip(xs, points, strict=True):
        if p.value is None or p.ci_low is None or p.ci_high is None:
            continue
        y1, y2 = y(p.ci_low), y(p.ci_high)
        d = f"M{_num(x)} {_num(y1)}V{_num(y2)}"
        d += f"M{_num(x - 4)} {_num(y1)}H{_num(x + 4)}M{_num(x - 4)} {_num(y2)}H{_num(x + 4)}"
        bars.append(_el("path", {"class": _cls("ci"), "d": d}))
    if bars:
        parts.append(_el("g", {"fill": "none", "stroke": BAND, "stroke-width": 1.5}, *bars))

    parts.extend(_line(xs, points, y))

    show_gap_text = spacing >= 48
    marks, hits = [], []
    for x, p, line in zip(xs, points, lines, strict=True):
        if p.value is None:
            gap = [
                _el("title", {}, _text(line)),
                _el(
                    "circle",
                    {"cx": x, "cy": bottom, "r": 3, "fill": BACKGROUND, "stroke": TEXT},
                ),
            ]
            if show_gap_text:
                gap.append(
                    _el(
                        "text",
                        {
                            "x": x,
                            "y": bottom - 7,
                            "text-anchor": "middle",
                            "font-size": SMALL_FONT_SIZE,
                            "fill": TEXT,
                        },
                        _text("no data"),
                    )
                )
            marks.append(_el("g", {"class": _cls("no-data")}, *gap))
            continue
        marks.append(
            _el(
                "circle",
                {
                    "class": _cls("marker"),
                    "cx": x,
                    "cy": y(p.value),
                    "r": 4,
                    "fill": LINE,
                    "stroke": BACKGROUND,
                    "stroke-width": 1.5,
                },
                _el("title", {}, _text(line)),
            )
        )
        hits.append(_Hit(p.href, line, x - spacing / 2, top - 8, spacing, height - top + 8))
    parts.append(_el("g", {}, *marks))

    step = max(1, math.ceil((label_width + 8) / spacing))
    # Counted from the latest month, which must always be labelled.
    labels = [
        _el("text", {"x": x, "y": bottom + 18, "text-anchor": "middle"}, _text(p.axis_label))
        for i, (x, p) in enumerate(zip(xs, points, strict=True))
        if (len(points) - 1 - i) % step == 0
    ]
    parts.append(_el("g", {"class": _cls("x-labels"), "fill": TEXT}, *labels))
    return _svg(chart_id, title, desc, width, height, parts, hits)


def bar_chart(
    rows: Sequence[BarRow],
    *,
    title: str,
    target: float | None = None,
    target_kind: str = "floor",
    width: int = 640,
    row_height: int = 28,
    percent: bool = True,
    description: str | None = None,
    id: str | None = None,
) -> Markup:
    """An SVG chart of horizontal bars, one per row, with interval whiskers and the target.

    Labels sit on the left, the value and n on the right (on a narrow chart the value
    only); flagged rows are drawn in the warning colour and rows without data read
    "no data". The value axis starts at zero so bar lengths compare honestly. A row with a
    site-relative `href` gets a link over its whole line; `description` and `id` work as in
    `trend_chart`.
    """
    kind = _target_word(target_kind)
    rows = list(rows)
    for r in rows:
        _check_values((r.value, r.ci_low, r.ci_high), percent)
    _check_values((target,), percent)
    content = (title, description, target, target_kind, width, row_height, percent, rows)
    chart_id = _chart_id(id, "bar", content)
    lines = [_summary(r.label, r.value, r.ci_low, r.ci_high, r.n, percent) for r in rows]
    desc = _description(description, lines, target, kind, percent)
    if not rows:
        return _no_data_svg(chart_id, title, desc, width)

    compact = width <= COMPACT_WIDTH
    values = [
        "no data"
        if r.value is None
        else _fmt_value(r.value, percent)
        if compact
        else f"{_fmt_value(r.value, percent)} (n = {r.n})"
        for r in rows
    ]
    label_width = min(max(len(r.label) for r in rows) * _CHAR_WIDTH + 12, width * 0.35)
    max_chars = max(4, int((label_width - 12) / _CHAR_WIDTH))
    value_width = max(len(v) for v in values) * _CHAR_WIDTH + 12
    left, right = max(label_width, 40.0), width - value_width
    top = 8.0 if target is None else 24.0  # room for the target's label
    bottom = top + len(rows) * row_height
    height = bottom + 24

    bounds = [v for r in rows for v in (r.value, r.ci_low, r.ci_high) if v is not None]
    if target is not None:
        bounds.append(target)
    x = value_axis(bounds, start=left, end=right, percent=percent, include_zero=True)

    parts = [_grid_vertical(x, top, bottom)]
    bar_height = min(row_height * 0.6, 18)
    drawn, hits = [], []
    for i, (r, value_text, line) in enumerate(zip(rows, values, lines, strict=True)):
        middle = top + (i + 0.5) * row_height
        label = r.label if len(r.label) <= max_chars else r.label[: max_chars - 1] + "…"
        row = [
            _el("title", {}, _text(line)),
            _el(
                "text",
                {
                    "x": left - 6,
                    "y": middle,
                    "text-anchor": "end",
                    "dominant-baseline": "middle",
                    "fill": TEXT,
                },
                _text(label),
            ),
        ]
        if r.value is not None:
            row.append(
                _el(
                    "rect",
                    {
                        "class": _cls("bar"),
                        "x": min(x(0.0), x(r.value)),
                        "y": middle - bar_height / 2,
                        "width": abs(x(r.value) - x(0.0)),
                        "height": bar_height,
                        "fill": WARNING if r.flagged else BAND,
                    },
                )
            )
            if r.ci_low is not None and r.ci_high is not None:
                x1, x2, h = x(r.ci_low), x(r.ci_high), bar_height / 2
                d = f"M{_num(x1)} {_num(middle)}H{_num(x2)}"
                d += f"M{_num(x1)} {_num(middle - h)}V{_num(middle + h)}"
                d += f"M{_num(x2)} {_num(middle - h)}V{_num(middle + h)}"
                row.append(
                    _el(
                        "path",
                        {
                            "class": _cls("ci"),
                            "d": d,
                            "fill": "none",
                            "stroke": TEXT,
                            "stroke-width": 1.5,
                        },
                    )
                )
        row.append(
            _el(
                "text",
                {
                    "class": _cls("value"),
                    "x": right + 8,
                    "y": middle,
                    "dominant-baseline": "middle",
                    "fill": TEXT,
                },
                _text(value_text),
            )
        )
        names = ["row"]
        if r.flagged:
            names.append("flagged")
        if r.value is None:
            names.append("no-data")
        drawn.append(_el("g", {"class": _cls(*names)}, *row))
        hits.append(_Hit(r.href, line, 0, middle - row_height / 2, width, row_height))
    parts.append(_el("g", {}, *drawn))

    if target is not None:
        tx = x(target)
        label = f"{kind} {_fmt_value(target, percent)}"
        half = len(label) * _CHAR_WIDTH / 2
        anchor = "end" if tx + half > width else "start" if tx - half < 0 else "middle"
        parts.append(
            _el(
                "g",
                {"class": _cls("target")},
                _el("line", _dashed({"x1": tx, "y1": top - 4, "x2": tx, "y2": bottom})),
                _el(
                    "text",
                    {"x": tx, "y": top - 8, "text-anchor": anchor, "fill": TARGET},
                    _text(label),
                ),
            )
        )
    return _svg(chart_id, title, desc, width, height, parts, hits)


# Pieces -------------------------------------------------------------------------------


def _cls(*names: str) -> str:
    """Class names of chart parts, all prefixed: no rule of the page's CSS framework can
    match them by accident."""
    return " ".join(f"{CLASS_PREFIX}-{name}" for name in names)


def _line(xs: list[float], points: Sequence[TrendPoint], y: Axis) -> list[Markup]:
    """The path joining the points that have a value (a gap where one has none), or
    nothing when none has."""
    segments, current = [], []
    for x, p in zip(xs, points, strict=True):
        if p.value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x, y(p.value)))
    if current:
        segments.append(current)
    if not segments:
        return []
    d = "".join(
        "M" + "L".join(f"{_num(px)} {_num(py)}" for px, py in segment) for segment in segments
    )
    attrs = {"class": _cls("line"), "d": d, "fill": "none", "stroke": LINE, "stroke-width": 2}
    return [_el("path", {**attrs, "stroke-linejoin": "round"})]


def _grid_horizontal(axis: Axis, left: float, right: float) -> Markup:
    lines = [
        _el("line", {"x1": left, "y1": axis(t), "x2": right, "y2": axis(t)}) for t in axis.ticks
    ]
    labels = [
        _el(
            "text",
            {"x": left - 6, "y": axis(t), "text-anchor": "end", "dominant-baseline": "middle"},
            _text(axis.label(t)),
        )
        for t in axis.ticks
    ]
    return _el(
        "g",
        {"class": _cls("grid")},
        _el("g", {"stroke": GRID, "stroke-width": 1}, *lines),
        _el("g", {"class": _cls("ticks"), "fill": TEXT}, *labels),
    )


def _grid_vertical(axis: Axis, top: float, bottom: float) -> Markup:
    lines = [
        _el("line", {"x1": axis(t), "y1": top, "x2": axis(t), "y2": bottom}) for t in axis.ticks
    ]
    labels = [
        _el("text", {"x": axis(t), "y": bottom + 16, "text-anchor": "middle"}, _text(axis.label(t)))
        for t in axis.ticks
    ]
    return _el(
        "g",
        {"class": _cls("grid")},
        _el("g", {"stroke": GRID, "stroke-width": 1}, *lines),
        _el("g", {"class": _cls("ticks"), "fill": TEXT}, *labels),
    )


def _dashed(attrs: dict[str, object]) -> dict[str, object]:
    return attrs | {"stroke": TARGET, "stroke-width": 1.5, "stroke-dasharray": "6 4"}


def _links(hits: Iterable[_Hit]) -> list[Markup]:
    """A named, transparent link area per drill-down (hover and focus outlines come from the
    page's stylesheet)."""
    links = []
    for hit in hits:
        href = safe_href(hit.href)
        if href is None:
            continue
        area = {"x": hit.x, "y": hit.y, "width": hit.width, "height": hit.height}
        links.append(
            _el(
                "a",
                {"class": _cls("link"), "href": href, "aria-label": hit.label},
                _el("title", {}, _text(hit.label)),
                _el("rect", area | {"class": _cls("hit"), "fill": BACKGROUND, "fill-opacity": 0}),
            )
        )
    return links


def safe_href(href: str | None) -> str | None:
    """`href` if it is a site-relative link ("/inspections/?vendor=ACME"), else None."""
    if not isinstance(href, str) or not href.startswith("/") or href.startswith("//"):
        return None
    if _UNSAFE_IN_HREF.search(href):
        return None
    return href


def _no_data_svg(chart_id: str, title: str, desc: str, width: int) -> Markup:
    height = 60
    message = _el(
        "text",
        {
            "x": width / 2,
            "y": height / 2,
            "text-anchor": "middle",
            "dominant-baseline": "middle",
            "fill": TEXT,
        },
        _text("No data"),
    )
    return _svg(chart_id, title, desc, width, height, [message])


def _svg(
    chart_id: str,
    title: str,
    desc: str,
    width: float,
    height: float,
    parts: list[Markup],
    hits: Iterable[_Hit] = (),
) -> Markup:
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    root = {
        "xmlns": _SVG_NS,
        "class": CLASS_PREFIX,
        "viewBox": f"0 0 {_num(width)} {_num(height)}",
        "width": width,
        "height": height,
        "role": "img",
        "aria-labelledby": f"{title_id} {desc_id}",
        "font-family": FONT_FAMILY,
        "font-size": FONT_SIZE,
    }
    head = [
        _el("title", {"id": title_id}, _text(title)),
        _el("desc", {"id": desc_id}, _text(desc)),
    ]
    links = _links(hits)
    if links:
        # An image must not hold links: the drawing is the image, the links lie over it.
        root |= {"role": "group", "aria-labelledby": title_id}
        parts = [
            _el("g", {"role": "img", "aria-labelledby": desc_id}, *parts),
            _el("g", {"class": _cls("links")}, *links),
        ]
    body = Markup("\n").join([*head, *parts])
    return Markup("<svg{}>\n{}\n</svg>").format(_attrs(root), body)


def _el(tag: str, attrs: Mapping[str, object], *children: Markup) -> Markup:
    if not children:
        return Markup("<{}{}/>").format(tag, _attrs(attrs))
    return Markup("<{0}{1}>{2}</{0}>").format(tag, _attrs(attrs), Markup("").join(children))


def _attrs(attrs: Mapping[str, object]) -> Markup:
    return Markup("").join(
        Markup(' {}="{}"').format(name, _attr_value(value))
        for name, value in attrs.items()
        if value is not None
    )


def _attr_value(value: object) -> Markup:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return escape(_num(value))
    return _text(value)


def _text(value: object) -> Markup:
    """Plain text, escaped; Markup passed in is escaped too (SVG text carries no HTML)."""
    return escape(_XML_INVALID.sub("", str(value)))


def _num(value: float) -> str:
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


# Text ---------------------------------------------------------------------------------


def _target_word(target_kind: str) -> str:
    try:
        return TARGET_KINDS[target_kind]
    except KeyError:
        raise ValueError(f"target_kind must be one of {sorted(TARGET_KINDS)}") from None


def _check_values(values: Iterable[float | None], percent: bool) -> None:
    for v in values:
        if v is None:
            continue
        if not math.isfinite(v):
            raise ValueError(f"chart values must be finite numbers, not {v!r}")
        if percent and not 0 <= v <= 1:
            raise ValueError(f"a share must lie between 0 and 1, not {v!r}")


def _chart_id(given: str | None, kind: str, content: tuple) -> str:
    if given is not None:
        if not _ID_RE.match(given):
            raise ValueError("a chart id starts with a letter and has letters, digits, - or _")
        return given
    # The dataclasses' reprs list every field, so equal charts share an id and others don't.
    digest = hashlib.sha256(repr((kind, content)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"chart-{digest[:10]}"


def _fmt_value(value: float, percent: bool) -> str:
    return f"{value * 100:.1f}%" if percent else f"{value:.1f}"


def _summary(
    label: str,
    value: float | None,
    ci_low: float | None,
    ci_high: float | None,
    n: int,
    percent: bool,
) -> str:
    if value is None:
        return f"{label}: no data, n = {n}"
    text = f"{label}: {_fmt_value(value, percent)}"
    if ci_low is not None and ci_high is not None:
        low = f"{ci_low * 100:.1f}" if percent else f"{ci_low:.1f}"
        text += f" (95% CI {low}{_EN_DASH}{_fmt_value(ci_high, percent)})"
    return f"{text}, n = {n}"


def _description(
    given: str | None, lines: list[str], target: float | None, kind: str, percent: bool
) -> str:
    if given is not None:
        return given
    if not lines:
        return "No data."
    text = "; ".join(lines) + "."
    if target is not None:
        text += f" {kind.capitalize()} {_fmt_value(target, percent)}."
    return text


# Sparkline ----------------------------------------------------------------------------


def sparkline(
    points: Sequence[TrendPoint],
    *,
    title: str,
    target: float | None = None,
    width: int = 320,
    height: int = 80,
    percent: bool = True,
    description: str | None = None,
    id: str | None = None,
) -> Markup:
    """A small line of monthly values for a tile, without axes: the target as a dashed
    line, the first and last months labelled, the latest value marked and written.
    Months without data leave a gap. No links: the tile around it carries them."""
    points = list(points)
    for p in points:
        _check_values((p.value, p.ci_low, p.ci_high), percent)
    _check_values((target,), percent)
    content = (title, description, target, width, height, percent, points)
    chart_id = _chart_id(id, "sparkline", content)
    lines = [_summary(p.label, p.value, p.ci_low, p.ci_high, p.n, percent) for p in points]
    desc = _description(description, lines, target, "target", percent)
    values = [p.value for p in points if p.value is not None]
    if not values:
        return _no_data_svg(chart_id, title, desc, width)

    latest = next(p for p in reversed(points) if p.value is not None)
    latest_text = _fmt_value(latest.value, percent)
    left, right = 8.0, width - (len(latest_text) * _CHAR_WIDTH + 12)
    top, bottom = 10.0, height - 22.0
    y = value_axis(
        [*values, *([] if target is None else [target])], start=bottom, end=top, percent=percent
    )
    spacing = (right - left) / max(len(points) - 1, 1)
    xs = [left + i * spacing for i in range(len(points))] if len(points) > 1 else [right]

    parts = []
    if target is not None:
        ty = y(target)
        parts.append(
            _el(
                "line",
                _dashed({"class": _cls("target"), "x1": left, "y1": ty, "x2": right, "y2": ty}),
            )
        )
    parts.extend(_line(xs, points, y))
    marks = []
    for x, p, line in zip(xs, points, lines, strict=True):
        if p.value is None:  # a hollow mark on the baseline: no data that month
            marks.append(
                _el(
                    "circle",
                    {
                        "class": _cls("no-data"),
                        "cx": x,
                        "cy": bottom,
                        "r": 2.5,
                        "fill": BACKGROUND,
                        "stroke": TEXT,
                    },
                    _el("title", {}, _text(line)),
                )
            )
            continue
        last = p is latest
        marks.append(
            _el(
                "circle",
                {
                    "class": _cls("point", *(["latest"] if last else [])),
                    "cx": x,
                    "cy": y(p.value),
                    "r": 3.5 if last else 2,
                    "fill": LINE,
                    "stroke": BACKGROUND,
                    "stroke-width": 1,
                },
                _el("title", {}, _text(line)),
            )
        )
    parts.append(_el("g", {"class": _cls("points")}, *marks))
    lx = xs[points.index(latest)]
    parts.append(
        _el(
            "text",
            {
                "class": _cls("value"),
                "x": lx + 6,
                "y": y(latest.value),
                "dominant-baseline": "middle",
                "fill": TEXT,
                "font-weight": "bold",
            },
            _text(latest_text),
        )
    )
    ends = [(xs[0], points[0].label, "start")]
    if len(points) > 1:
        ends.append((xs[-1], points[-1].label, "end"))
    parts.append(
        _el(
            "g",
            {"class": _cls("x-labels"), "fill": TEXT, "font-size": SMALL_FONT_SIZE},
            *(
                _el("text", {"x": x, "y": height - 4, "text-anchor": anchor}, _text(label))
                for x, label, anchor in ends
            ),
        )
    )
    return _svg(chart_id, title, desc, width, height, parts)
