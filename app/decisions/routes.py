"""/decisions pages: the decisions browser, one decision, and the CSV export of the
current filters. Everything is tenant-scoped (app.decisions.browse)."""

from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    stream_with_context,
)
from flask_login import current_user

from app.decisions import browse
from app.exports import attachment_headers, csv_stream
from app.inspections.services import open_item_for
from app.models import Decision
from app.models.enums import DECISIONS
from app.security.access import blueprint_policy, signed_in
from app.security.scoping import get_or_404
from app.web import page_number

bp = Blueprint("decisions", __name__, url_prefix="/decisions")
blueprint_policy(bp, signed_in())


@bp.get("/")
def index():
    f = browse.parse_filters(request.args, current_user)
    vendors = [f.vendor] if f.vendor_fixed else browse.visible_vendors(current_user)
    span = f.span or browse.decision_span(current_user, f.vendor)
    page = labels = None
    if not f.errors:
        page = browse.decision_page(f, current_user, page_number(), current_app.config["PAGE_SIZE"])
        labels = browse.labels_for([d.id for d in page.items])
    return render_template(
        "decisions/index.html",
        f=f,
        page=page,
        labels=labels,
        vendors=vendors,
        vendor_codes={v.id: v.code for v in vendors},
        months=browse.month_choices(span, f.month),
        latest_month=span[1],
        label_choices=browse.label_choices(),
        decisions=DECISIONS,
        http_url=browse.http_url,
    ), (400 if f.errors else 200)


@bp.get("/export.csv")
def export():
    f = browse.parse_filters(request.args, current_user)
    if f.errors:
        return Response("\n".join(f.errors.values()) + "\n", status=400, mimetype="text/plain")
    body = csv_stream(browse.CSV_COLUMNS, browse.export_rows(f, current_user))
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers=attachment_headers(browse.export_filename(f)),
    )


@bp.get("/<int:decision_id>")
def detail(decision_id: int):
    decision = get_or_404(Decision, decision_id, current_user)
    samples, inspection = browse.review_status(decision, current_user)
    return render_template(
        "decisions/detail.html",
        d=decision,
        labels=browse.labels_for([decision.id])[decision.id],
        context=browse.context_entries(decision.context),
        item_link=browse.http_url(decision.item_url),
        samples=samples,
        inspection=inspection,
        open_item=None if inspection or current_user.is_vendor_user else open_item_for(decision),
    )
