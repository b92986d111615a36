"""/decisions pages: the decisions browser, one decision, and the CSV export of the
current filters. Every read goes through app.decisions.queries, which shows each user
only the decisions they may see."""

from flask import Response, current_app, render_template, request, stream_with_context
from flask_login import current_user

from app.decisions import (
    queries,
    upload,  # noqa: F401  (its views attach to bp)
)
from app.decisions.blueprint import bp
from app.decisions.display import context_entries, http_url
from app.decisions.filters import month_choices, parse_filters
from app.decisions.intake import FIELDS
from app.exports import attachment_headers, csv_stream
from app.inspections.services import open_item_for
from app.models import Decision
from app.models.enums import DECISIONS
from app.security.scoping import can_see_work_in_progress, get_or_404, visible_vendors
from app.web import page_number


@bp.get("/")
def index():
    f = parse_filters(request.args, current_user)
    vendors = [f.vendor] if f.vendor_fixed else visible_vendors(current_user)
    span = f.span or queries.decision_span(current_user, f.vendor)
    page = labels = None
    if not f.errors:
        page = queries.decision_page(
            f, current_user, page_number(), current_app.config["PAGE_SIZE"]
        )
        labels = queries.labels_for([d.id for d in page.items])
    return render_template(
        "decisions/index.html",
        f=f,
        page=page,
        labels=labels,
        vendors=vendors,
        vendor_codes={v.id: v.code for v in vendors},
        months=month_choices(span, f.month),
        latest_month=span[1],
        label_choices=queries.label_choices(),
        decisions=DECISIONS,
        http_url=http_url,
    ), (400 if f.errors else 200)


@bp.get("/export.csv")
def export():
    f = parse_filters(request.args, current_user)
    if f.errors:
        return Response("\n".join(f.errors.values()) + "\n", status=400, mimetype="text/plain")
    body = csv_stream(FIELDS, queries.export_rows(f, current_user))
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers=attachment_headers(queries.export_filename(f)),
    )


@bp.get("/<ref:decision_id>")
def detail(decision_id: int):
    decision = get_or_404(Decision, decision_id, current_user)
    samples, inspection = queries.review_status(decision, current_user)
    # Only people who see open samples may be sent to an open sample's item.
    may_open = inspection is None and can_see_work_in_progress(current_user)
    return render_template(
        "decisions/detail.html",
        d=decision,
        labels=queries.labels_for([decision.id])[decision.id],
        context=context_entries(decision.context),
        item_link=http_url(decision.item_url),
        samples=samples,
        inspection=inspection,
        open_item=open_item_for(decision) if may_open else None,
    )
