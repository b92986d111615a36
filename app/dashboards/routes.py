"""/dashboards pages: a vendor's month (KPI tiles with intervals and target status, a
six-month trend, breakdowns, label confusion, moderators, targeted inspections) and
the QA overview of every vendor for a month.

The numbers are the metrics API's (app.dashboards.queries); every number links to
the inspections behind it. Vendor users see their own vendor only.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from app import months
from app.charts import BarRow, TrendPoint, bar_chart, trend_chart
from app.dashboards import queries
from app.metrics.definitions import Share, floor_status
from app.metrics.queries import SHARE_NAMES, SHARES, Targets
from app.models import Vendor
from app.security.access import blueprint_policy, signed_in
from app.security.predicates import can_see_all_vendors
from app.security.scoping import vendor_or_404

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")
blueprint_policy(bp, signed_in())

MODERATOR_SORTS = {
    "inspected": lambda row: (-row["inspected"], row["key"]),
    "accuracy": lambda row: (_value(row["overall_accuracy"]), row["key"]),
    "low": lambda row: (row["overall_accuracy"]["ci_high"] or 0, row["key"]),
    "moderator": lambda row: (row["key"],),
}
# Which inspections each figure counts, as the inspections list's `outcome` filter.
SHARE_OUTCOMES = {
    "overall_accuracy": "incorrect",
    "decision_accuracy": "decision_wrong",
    "label_accuracy": "labels_wrong",
    "false_negative_rate": "false_negative",
    "false_positive_rate": "false_positive",
    "critical_error_rate": "critical",
}
MONTH_CHOICES = 18


def _value(share: dict) -> float:
    return -1.0 if share["value"] is None else share["value"]


def _month_arg() -> date:
    """The `month` argument (YYYY-MM); without one, or a bad one, the latest closed month."""
    return months.from_text(request.args.get("month")) or months.last_closed()


def _month_choices(chosen: date) -> list[date]:
    """The months the month menu offers, newest first."""
    return months.back(max(months.last_closed(), chosen), MONTH_CHOICES)[::-1]


def inspections_link(vendor: Vendor, month: date, **filters) -> str:
    """The inspections list behind a number."""
    args = {"month": f"{month:%Y-%m}", "status": "final", "purpose": "contract"}
    if can_see_all_vendors(current_user):
        args["vendor"] = vendor.code
    args.update({k: v for k, v in filters.items() if v is not None})
    return url_for("inspections.index", **args)


@bp.get("/")
def index():
    """QA: every vendor's month side by side. Vendor users go to their own dashboard."""
    if not can_see_all_vendors(current_user):
        vendor = current_user.vendor
        if vendor is None:
            abort(404)
        month = months.from_text(request.args.get("month"))
        return redirect(
            url_for(
                "dashboards.vendor", code=vendor.code, month=f"{month:%Y-%m}" if month else None
            )
        )
    month = _month_arg()
    rows = queries.overview(current_user, month)
    chart = bar_chart(
        [
            BarRow.from_share(
                row.vendor.code,
                row.figures.share("overall_accuracy"),
                href=url_for("dashboards.vendor", code=row.vendor.code, month=f"{month:%Y-%m}"),
                flagged=row.accuracy_status == "missed",
            )
            for row in rows
        ],
        title=f"Overall accuracy by vendor, {month:%B %Y}",
        id="vendors-accuracy",
    )
    return render_template(
        "dashboards/index.html",
        month=month,
        months=_month_choices(month),
        rows=rows,
        chart=chart,
    )


@bp.get("/vendors/<key:code>")
def vendor(code: str):
    vendor = vendor_or_404(code, current_user)
    month = _month_arg()
    metrics = queries.vendor_metrics(vendor, month)
    targets = queries.targets_for(vendor, month)
    trend = queries.trend(vendor, month)
    sort = request.args.get("msort", "inspected")
    moderators = sorted(
        metrics["breakdowns"]["moderator"],
        key=MODERATOR_SORTS.get(sort, MODERATOR_SORTS["inspected"]),
    )
    return render_template(
        "dashboards/vendor.html",
        vendor=vendor,
        month=month,
        months=_month_choices(month),
        m=metrics,
        targets=targets,
        trend_charts=_trend_charts(vendor, trend, targets),
        area_chart=_area_chart(vendor, month, metrics, targets),
        moderators=moderators,
        msort=sort if sort in MODERATOR_SORTS else "inspected",
        confusion=_confusion(metrics["label_confusion"]),
        link=lambda **filters: inspections_link(vendor, month, **filters),
        shares=SHARES,
        share_names=SHARE_NAMES,
        share_outcomes=SHARE_OUTCOMES,
        breakdowns=(("policy_area", "Policy area"), ("market", "Market"), ("site", "Site")),
    )


def _trend_charts(vendor: Vendor, trend: dict, targets: Targets) -> list:
    def points(name: str) -> list[TrendPoint]:
        return [
            TrendPoint.from_share(
                f"{month:%b %Y}",
                figures.share(name),
                href=url_for("dashboards.vendor", code=vendor.code, month=f"{month:%Y-%m}"),
            )
            for month, figures in trend.items()
        ]

    return [
        trend_chart(
            points("overall_accuracy"),
            title=f"{vendor.code}: overall accuracy, last six months",
            target=targets.accuracy_target,
            target_kind="floor",
            id="trend-accuracy",
        ),
        trend_chart(
            points("critical_error_rate"),
            title=f"{vendor.code}: critical error rate, last six months",
            target=targets.critical_error_cap,
            target_kind="cap",
            id="trend-critical",
        ),
    ]


def _share(body: dict) -> Share:
    return Share(body["count"], body["n"])


def _area_chart(vendor: Vendor, month: date, metrics: dict, targets: Targets):
    rows = metrics["breakdowns"]["policy_area"]
    return bar_chart(
        [
            BarRow.from_share(
                row["key"],
                _share(row["overall_accuracy"]),
                href=inspections_link(vendor, month, policy_area=row["key"]),
                flagged=floor_status(_share(row["overall_accuracy"]), targets.accuracy_target)
                == "missed",
            )
            for row in rows
        ],
        title=f"{vendor.code}: overall accuracy by policy area, {month:%B %Y}",
        target=targets.accuracy_target,
        id="areas-accuracy",
    )


def _confusion(pairs: list[dict]) -> dict:
    """The label confusion as a matrix (applied by expected) when it is small enough to
    read, and always as the list of pairs."""
    applied = sorted({p["applied"] for p in pairs}, key=lambda c: (c != "approve", c))
    expected = sorted({p["expected"] for p in pairs}, key=lambda c: (c != "approve", c))
    cells = {(p["applied"], p["expected"]): p["count"] for p in pairs}
    small = len(applied) <= 12 and len(expected) <= 12
    return {"rows": applied, "columns": expected, "cells": cells, "matrix": small, "pairs": pairs}
