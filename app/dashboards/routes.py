"""/dashboards pages: a vendor's month (KPI tiles with intervals and target status, a
six-month trend, breakdowns, label confusion, moderators, targeted inspections) and
the QA overview of every vendor for a month.

The numbers are the metrics API's (app.dashboards.queries); every number links to
the inspections behind it. Vendor users see their own vendor only. A `month` that is not
one, or is after the current month, shows the latest closed month with a notice saying so.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from app import months
from app.dashboards import charts, queries
from app.metrics.queries import SHARE_NAMES, SHARES
from app.models import Vendor
from app.security.access import blueprint_policy, signed_in
from app.security.predicates import can_see_all_vendors
from app.security.scoping import vendor_or_404

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")
blueprint_policy(bp, signed_in())

MODERATOR_SORTS = {
    "inspected": lambda row: (-row["inspected"], row["key"]),
    "accuracy": lambda row: (_value(row["overall_accuracy"]), row["key"]),
    # Lowest optimistic estimate first: the flagged moderators lead.
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


def _month_arg() -> tuple[date, str | None]:
    """The `month` argument (YYYY-MM) and, when it cannot be shown, why. Without one the
    latest closed month; a bad one, or one after the current month, falls back to it."""
    text = request.args.get("month")
    default = months.last_closed()
    if not text:
        return default, None
    try:
        return months.parse(text, latest=months.current()), None
    except ValueError as err:
        return default, f"{err} Showing {months.name(default)}."


def _month_choices(chosen: date) -> list[date]:
    """The months the month menu offers, newest first: the current one (so far) and the
    ones before it, and the chosen month if it is older."""
    choices = months.back(months.current(), MONTH_CHOICES)[::-1]
    return choices if chosen in choices else [*choices, chosen]


def _month_context(month: date, notice: str | None) -> dict:
    return {
        "month": month,
        "months": _month_choices(month),
        "current_month": months.current(),
        "month_message": notice,
    }


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
    month, notice = _month_arg()
    rows = queries.overview(current_user, month)
    chart = charts.overview_chart(
        rows,
        month,
        href=lambda code: url_for("dashboards.vendor", code=code, month=f"{month:%Y-%m}"),
    )
    return render_template(
        "dashboards/index.html", rows=rows, chart=chart, **_month_context(month, notice)
    )


@bp.get("/vendors/<key:code>")
def vendor(code: str):
    vendor = vendor_or_404(code, current_user)
    month, notice = _month_arg()
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
        m=metrics,
        targets=targets,
        trend_charts=charts.trend_charts(
            vendor.code,
            trend,
            targets,
            href=lambda m: url_for("dashboards.vendor", code=vendor.code, month=f"{m:%Y-%m}"),
        ),
        area_chart=charts.area_chart(
            vendor.code,
            month,
            metrics,
            targets,
            href=lambda area: inspections_link(vendor, month, policy_area=area),
        ),
        moderators=moderators,
        msort=sort if sort in MODERATOR_SORTS else "inspected",
        confusion=_confusion(metrics["label_confusion"]),
        link=lambda **filters: inspections_link(vendor, month, **filters),
        shares=SHARES,
        share_names=SHARE_NAMES,
        share_outcomes=SHARE_OUTCOMES,
        breakdowns=(("policy_area", "Policy area"), ("market", "Market"), ("site", "Site")),
        **_month_context(month, notice),
    )


MISMATCH_KINDS = ("missed", "overblocked", "label")


def _mismatch_kind(pair: dict) -> str:
    """Approved what QA would reject, rejected what QA would approve, or another label."""
    if pair["applied"] == "approve":
        return "missed"
    return "overblocked" if pair["expected"] == "approve" else "label"


def _confusion(pairs: list[dict]) -> dict:
    """The label confusion as a reader wants it: the pairs where QA expected another
    primary label than the one applied, largest first, then the agreements, summed up."""
    mismatches = sorted(
        (p | {"kind": _mismatch_kind(p)} for p in pairs if p["applied"] != p["expected"]),
        key=lambda p: (-p["count"], MISMATCH_KINDS.index(p["kind"]), p["applied"], p["expected"]),
    )
    agreements = sorted(
        (p for p in pairs if p["applied"] == p["expected"]),
        key=lambda p: (-p["count"], p["applied"]),
    )
    codes = {p[side] for p in pairs for side in ("applied", "expected")} - {"approve"}
    return {
        "mismatches": mismatches,
        "agreements": agreements,
        "total": sum(p["count"] for p in pairs),
        "agreed": sum(p["count"] for p in agreements),
        "names": queries.label_names(codes),
    }
