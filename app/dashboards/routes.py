"""/dashboards pages: a vendor's month (KPI tiles with intervals and target status, a
six-month trend, breakdowns, label confusion, moderators, targeted inspections) and
the QA overview of every vendor for a month.

The numbers are the metrics API's (app.dashboards.services); every number links to
the inspections behind it. Vendor users see their own vendor only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from app.charts import BarRow, TrendPoint, bar_chart, trend_chart
from app.dashboards import services
from app.extensions import db
from app.metrics import queries
from app.metrics.definitions import Share, cap_status, floor_status
from app.models import Vendor
from app.security.access import blueprint_policy, signed_in
from app.security.scoping import scoped, tenant_vendor_id, vendor_or_404
from app.validation import month_from_text
from app.vendors.services import contracts_in_force

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


def _value(share: dict) -> float:
    return -1.0 if share["value"] is None else share["value"]


def _month_arg(default: date) -> date:
    """The `month` argument (YYYY-MM), or `default`; a bad value shows the default."""
    return month_from_text(request.args.get("month")) or default


def last_month(today: date | None = None) -> date:
    """The latest closed month: the one a business review looks at."""
    today = today or datetime.now(UTC).date()
    first = today.replace(day=1)
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def _month_choices(chosen: date) -> list[date]:
    latest = max(last_month(), chosen)
    return list(reversed(services.months_back(latest, 18)))


def inspections_link(vendor: Vendor, month: date, **filters) -> str:
    """The inspections list behind a number."""
    args = {"month": month.strftime("%Y-%m"), "status": "final", "purpose": "contract"}
    if not current_user.is_vendor_user:
        args["vendor"] = vendor.code
    args.update({k: v for k, v in filters.items() if v is not None})
    return url_for("inspections.index", **args)


@bp.get("/")
def index():
    """QA: every vendor's month side by side. Vendor users go to their own dashboard."""
    own = tenant_vendor_id(current_user)
    if own is not None:
        vendor = db.session.get(Vendor, own)
        if vendor is None:
            abort(404)
        month = month_from_text(request.args.get("month"))
        return redirect(
            url_for(
                "dashboards.vendor", code=vendor.code, month=f"{month:%Y-%m}" if month else None
            )
        )
    month = _month_arg(last_month())
    vendors = db.session.scalars(
        scoped(sa.select(Vendor), Vendor, current_user).order_by(Vendor.code)
    ).all()
    counted = queries.all_vendors(db.session.connection(), month)
    contracts = contracts_in_force([v.id for v in vendors], month)  # one query for all
    rows = []
    for vendor in vendors:
        figures = counted.get(vendor.id, queries.Figures())
        if not vendor.active and not figures.n:
            continue
        targets = services.targets_of(contracts.get(vendor.id))
        accuracy = figures.share("overall_accuracy")
        critical = figures.share("critical_error_rate")
        rows.append(
            {
                "vendor": vendor,
                "figures": figures,
                "accuracy": accuracy.as_dict(),
                "critical": critical.as_dict(),
                "targets": targets,
                "accuracy_status": floor_status(accuracy, targets.accuracy_target),
                "critical_status": cap_status(critical, targets.critical_error_cap),
            }
        )
    chart = bar_chart(
        [
            BarRow.from_share(
                row["vendor"].code,
                row["figures"].share("overall_accuracy"),
                href=url_for("dashboards.vendor", code=row["vendor"].code, month=f"{month:%Y-%m}"),
                flagged=row["accuracy_status"] == "missed",
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


@bp.get("/vendors/<code>")
def vendor(code: str):
    vendor = vendor_or_404(code, current_user)
    month = _month_arg(last_month())
    metrics = services.vendor_metrics(vendor, month)
    targets = services.targets_for(vendor, month)
    months = services.months_back(month)
    trend = queries.trend(db.session.connection(), vendor.id, months)
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
        shares=queries.SHARES,
        share_names=queries.SHARE_NAMES,
        share_outcomes=SHARE_OUTCOMES,
        breakdowns=(("policy_area", "Policy area"), ("market", "Market"), ("site", "Site")),
    )


def _trend_charts(vendor: Vendor, trend: dict, targets: queries.Targets) -> list:
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


def _area_chart(vendor: Vendor, month: date, metrics: dict, targets: queries.Targets):
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
