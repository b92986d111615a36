"""Server-side SVG charts for the dashboard pages and the PDFs, Flask-free.

`trend_chart` draws a monthly line with Wilson intervals and the target; `bar_chart` draws
one horizontal bar per row. Both return `markupsafe.Markup` without inline styles, so the
result can be put straight into a template under the Content-Security-Policy.
"""

from app.charts.svg import Axis, BarRow, TrendPoint, bar_chart, safe_href, trend_chart, value_axis

__all__ = ["Axis", "BarRow", "TrendPoint", "bar_chart", "safe_href", "trend_chart", "value_axis"]
