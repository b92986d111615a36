"""/inspections pages: the list with its filters and export, one inspection with its
history, inspecting an item from the queue (draft, finalise and on to the next),
and a QA lead's correction.

Everyone signed in reads; vendor users see final inspections of their own vendor
only, with inspectors as pseudonyms. QA people inspect; QA leads correct.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from app.decisions import browse as decisions_browse
from app.errors import Conflict, NotAllowed, ValidationFailed
from app.exports import attachment_headers, csv_stream
from app.extensions import db
from app.inspections import browse, forms, services
from app.inspections.views import person, visible_history, visible_inspections
from app.models import Decision, Inspection, Label, SampleItem, User, Vendor
from app.models.enums import INSPECTION_STATUSES, POLICY_AREAS, SAMPLE_PURPOSES, SEVERITIES
from app.sampling.services import queue_statement
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import may_edit_inspection, may_inspect_item
from app.security.roles import ROLE_QA_INSPECTOR, ROLE_QA_LEAD
from app.security.scoping import get_or_404, scoped
from app.web import apply_errors, paginate, parse_id

bp = Blueprint("inspections", __name__, url_prefix="/inspections")
blueprint_policy(bp, signed_in())

QA = signed_in(ROLE_QA_LEAD, ROLE_QA_INSPECTOR)
LEAD = signed_in(ROLE_QA_LEAD)
PER_PAGE = 50


@bp.context_processor
def _helpers():
    return {"person": person, "OUTCOMES": browse.OUTCOMES}


# The list ------------------------------------------------------------------------------


@bp.get("/")
def index():
    f = browse.parse_filters(request.args, current_user)
    page = None
    if not f.errors:
        page = paginate(browse.with_details(browse.statement(f)), PER_PAGE)
    vendors = (
        [f.vendor]
        if f.vendor_fixed
        else db.session.scalars(
            scoped(sa.select(Vendor), Vendor, current_user).order_by(Vendor.code)
        )
    )
    inspectors = []
    if not current_user.is_vendor_user:
        inspectors = db.session.scalars(
            sa.select(User)
            .where(User.role.in_((ROLE_QA_LEAD, ROLE_QA_INSPECTOR)))
            .order_by(User.name)
        ).all()
    return render_template(
        "inspections/index.html",
        f=f,
        page=page,
        vendors=vendors,
        inspectors=inspectors,
        statuses=INSPECTION_STATUSES,
        purposes=SAMPLE_PURPOSES,
        severities=SEVERITIES,
        policy_areas=POLICY_AREAS,
        sorts=browse.SORTS,
    ), (400 if f.errors else 200)


@bp.get("/export.csv")
def export():
    f = browse.parse_filters(request.args, current_user)
    if f.errors:
        return Response("\n".join(f.errors.values()) + "\n", status=400, mimetype="text/plain")
    return Response(
        stream_with_context(csv_stream(browse.CSV_COLUMNS, browse.export_rows(f))),
        mimetype="text/csv",
        headers=attachment_headers(browse.export_filename(f)),
    )


# One inspection ----------------------------------------------------------------------


def _inspection_or_404(inspection_id: int) -> Inspection:
    inspection = db.session.scalar(
        visible_inspections(sa.select(Inspection).where(Inspection.id == inspection_id))
    )
    if inspection is None:
        abort(404)
    return inspection


def _decision_context(decision: Decision) -> dict:
    return {
        "d": decision,
        "labels": decisions_browse.labels_for([decision.id])[decision.id],
        "context": decisions_browse.context_entries(decision.context),
        "item_link": decisions_browse.http_url(decision.item_url),
    }


@bp.get("/<int:inspection_id>")
def detail(inspection_id: int):
    inspection = _inspection_or_404(inspection_id)
    questions = services.questions_of(inspection.scorecard_version)
    answers = {a.question_id: a.answer for a in inspection.answers}
    return render_template(
        "inspections/detail.html",
        inspection=inspection,
        questions=questions,
        answers=answers,
        history=visible_history(inspection),
        may_edit=inspection.status == "draft" and may_edit_inspection(current_user, inspection),
        may_correct=inspection.status == "final" and current_user.role == ROLE_QA_LEAD,
        **_decision_context(inspection.decision),
    )


# Inspecting ----------------------------------------------------------------------------


def _labels_for(decision: Decision, inspection: Inspection | None) -> list[Label]:
    """Active labels of the decision's policy area, and any the verdict already has."""
    keep = [il.label_id for il in inspection.expected_labels] if inspection else []
    return list(
        db.session.scalars(
            sa.select(Label)
            .where(
                Label.policy_area == decision.policy_area,
                sa.or_(Label.active.is_(True), Label.id.in_(keep)),
            )
            .order_by(Label.code)
        )
    )


def next_item(user: User, after: SampleItem | None) -> SampleItem | None:
    """The item to inspect next in `user`'s queue: the one after `after` in queue
    order, else the first (never `after` itself)."""
    ids = db.session.scalars(queue_statement(user).with_only_columns(SampleItem.id).options()).all()
    if after is not None and after.id in ids:
        position = ids.index(after.id)
        ids = ids[position + 1 :] + ids[:position]
    return db.session.get(SampleItem, ids[0]) if ids else None


def _show_errors(form, err: ValidationFailed, questions) -> None:
    """The service's problems on the form's fields; 'answer every question' on each
    question left unanswered."""
    db.session.rollback()
    details = err.details if isinstance(err.details, list) else []
    if any(d.get("field") == "answers" for d in details):
        for question in questions:
            field = form[forms.answer_field_name(question)]
            if not field.data:
                field.errors = [*field.errors, "Answer this question before finalising."]
        err = ValidationFailed(err.message, [d for d in details if d.get("field") != "answers"])
        if not err.details:
            return
    apply_errors(form, err, forms.field_aliases(questions))


def _render_inspect(form, decision, item, inspection, version, questions, status=200):
    return render_template(
        "inspections/inspect.html",
        form=form,
        item=item,
        inspection=inspection,
        scorecard=version,
        questions=questions,
        next_up=next_item(current_user, item) if item is not None else None,
        **_decision_context(decision),
    ), status


def _after_save(inspection: Inspection, following: SampleItem | None, finalised: bool):
    """Where a save leads: the draft again, or after finalising the next item of the
    queue (`following`, found before the save took this item off the queue)."""
    if not finalised:
        flash(f"Draft saved (version {inspection.version}).", "success")
        return redirect(url_for("inspections.edit", inspection_id=inspection.id))
    flash(f"Inspection of {inspection.decision.external_id} finalised.", "success")
    if following is not None and request.form.get("action") == "finalise_next":
        return redirect(url_for("inspections.inspect_item", item_id=following.id))
    return redirect(url_for("inspections.detail", inspection_id=inspection.id))


@bp.route("/items/<int:item_id>", methods=["GET", "POST"])
@access(QA)
def inspect_item(item_id: int):
    """Inspect a sample item: the decision beside the verdict form."""
    item = db.session.get(SampleItem, item_id)
    if item is None:
        abort(404)
    decision = item.decision
    existing = services.inspection_of(decision)
    if existing is not None:
        if existing.status == "final":
            return redirect(url_for("inspections.detail", inspection_id=existing.id))
        return redirect(url_for("inspections.edit", inspection_id=existing.id))
    if item.status != "pending" or item.sample.state != "open":
        flash(f"Item #{item.id} is {item.status} in a {item.sample.state} sample.", "warning")
        return redirect(url_for("sampling.detail", sample_id=item.sample_id))
    if not may_inspect_item(current_user, item):
        abort(403)
    return _create(decision, item)


@bp.route("/decisions/<int:decision_id>", methods=["GET", "POST"])
@access(LEAD)
def inspect_decision(decision_id: int):
    """A QA lead inspects a decision outside any open sample (a targeted inspection)."""
    decision = get_or_404(Decision, decision_id, current_user)
    existing = services.inspection_of(decision)
    if existing is not None:
        return redirect(url_for("inspections.detail", inspection_id=existing.id))
    item = services.open_item_for(decision)
    if item is not None:
        return redirect(url_for("inspections.inspect_item", item_id=item.id))
    return _create(decision, None)


def _submit(form, questions, save) -> tuple[object | None, int]:
    """Run `save(values)` for a posted verdict form: (what it returned, 200), or after a
    refusal (None, status) with the errors on the form or flashed, nothing stored."""
    if not form.validate_on_submit():
        return None, 400
    try:
        saved = save(forms.values_of(form, questions))
        db.session.commit()
        return saved, 200
    except ValidationFailed as err:
        _show_errors(form, err, questions)
        return None, 422
    except (Conflict, NotAllowed) as err:
        db.session.rollback()
        flash(err.message, "danger")
        return None, err.status


def _finalising() -> bool:
    return request.form.get("action") in ("finalise", "finalise_next")


def _create(decision: Decision, item: SampleItem | None):
    version = services.published_version(decision.policy_area)
    questions = services.questions_of(version)
    form = forms.verdict_form(questions, _labels_for(decision, None))
    if request.method == "GET":
        return _render_inspect(form, decision, item, None, version, questions)
    finalise = _finalising()
    following = next_item(current_user, item) if item is not None else None
    inspection, status = _submit(
        form,
        questions,
        lambda values: services.create_inspection(
            decision, values, actor=current_user, finalise=finalise
        ),
    )
    if inspection is not None:
        return _after_save(inspection, following, finalise)
    return _render_inspect(form, decision, item, None, version, questions, status)


@bp.route("/<int:inspection_id>/edit", methods=["GET", "POST"])
@access(QA)
def edit(inspection_id: int):
    """Continue a draft; finalise it."""
    inspection = _inspection_or_404(inspection_id)
    if inspection.status == "final":
        flash("This inspection is final; a QA lead may correct it.", "info")
        return redirect(url_for("inspections.detail", inspection_id=inspection.id))
    if not may_edit_inspection(current_user, inspection):
        abort(403)
    decision, item = inspection.decision, inspection.sample_item
    version = inspection.scorecard_version
    questions = services.questions_of(version)
    form = forms.verdict_form(questions, _labels_for(decision, inspection))
    if request.method == "GET":
        forms.fill(form, inspection, questions)
        return _render_inspect(form, decision, item, inspection, version, questions)
    finalise = _finalising()
    following = next_item(current_user, item) if item is not None else None
    saved, status = _submit(
        form,
        questions,
        lambda values: services.update_inspection(
            inspection, values, actor=current_user, version=_version(form), finalise=finalise
        ),
    )
    if saved is not None:
        return _after_save(saved, following, finalise)
    inspection = _inspection_or_404(inspection_id)
    return _render_inspect(form, decision, item, inspection, version, questions, status)


def _version(form) -> int | None:
    return parse_id(form.version.data)


@bp.route("/<int:inspection_id>/correct", methods=["GET", "POST"])
@access(LEAD)
def correct(inspection_id: int):
    """A QA lead corrects a final inspection, with a reason; the old version is kept."""
    inspection = _inspection_or_404(inspection_id)
    if inspection.status != "final":
        return redirect(url_for("inspections.edit", inspection_id=inspection.id))
    decision = inspection.decision
    version = inspection.scorecard_version
    questions = services.questions_of(version)
    form = forms.verdict_form(questions, _labels_for(decision, inspection), correction=True)
    status = 200
    if request.method == "GET":
        forms.fill(form, inspection, questions)
    else:
        saved, status = _submit(
            form,
            questions,
            lambda values: services.correct_inspection(
                inspection,
                values,
                actor=current_user,
                version=_version(form),
                reason=form.reason.data,
            ),
        )
        if saved is not None:
            flash(f"Inspection #{inspection.id} corrected.", "success")
            return redirect(url_for("inspections.detail", inspection_id=inspection.id))
        inspection = _inspection_or_404(inspection_id)
    return render_template(
        "inspections/correct.html",
        form=form,
        inspection=inspection,
        questions=questions,
        scorecard=version,
        **_decision_context(decision),
    ), status
