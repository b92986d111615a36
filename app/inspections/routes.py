"""/inspections pages: the list with its filters and export, one inspection with its
history, inspecting an item from the queue (draft, finalise and on to the next),
and a QA lead's correction.

Everyone signed in reads; vendor users see final inspections of their own vendor
only, with inspectors as pseudonyms. QA people inspect; QA leads correct.
"""

from __future__ import annotations

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

from app.decisions import display as decision_display
from app.decisions import queries as decision_queries
from app.errors import ValidationFailed
from app.exports import attachment_headers, csv_stream
from app.inspections import forms, queries, services
from app.models import Decision, Inspection, SampleItem
from app.models.enums import INSPECTION_STATUSES, POLICY_AREAS, SAMPLE_PURPOSES, SEVERITIES
from app.sampling import queries as sampling_queries
from app.scorecards.queries import published_version
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import (
    can_correct_inspection,
    can_edit_inspection,
    can_inspect_item,
)
from app.security.public_ids import public_id
from app.security.roles import ROLE_QA_INSPECTOR, ROLE_QA_LEAD
from app.security.scoping import get_or_404, visible_history, visible_vendors
from app.web import paginate, parse_id, run_service

bp = Blueprint("inspections", __name__, url_prefix="/inspections")
blueprint_policy(bp, signed_in())

QA = signed_in(ROLE_QA_LEAD, ROLE_QA_INSPECTOR)
LEAD = signed_in(ROLE_QA_LEAD)
PER_PAGE = 50


@bp.context_processor
def _helpers():
    return {"OUTCOMES": queries.OUTCOMES}


# The list ------------------------------------------------------------------------------


@bp.get("/")
def index():
    f = queries.parse_filters(request.args, current_user)
    page = explanation = None
    if not f.errors:
        page = paginate(queries.statement(f, current_user), PER_PAGE)
        explanation = queries.explain(f, current_user, page.total)
    return render_template(
        "inspections/index.html",
        f=f,
        page=page,
        explanation=explanation,
        month_choices=queries.month_choices(current_user, f.month),
        vendors=[f.vendor] if f.vendor_fixed else visible_vendors(current_user),
        inspectors=queries.inspector_choices(current_user),
        statuses=INSPECTION_STATUSES,
        purposes=SAMPLE_PURPOSES,
        severities=SEVERITIES,
        policy_areas=POLICY_AREAS,
        sorts=queries.SORTS,
    ), (400 if f.errors else 200)


@bp.get("/export.csv")
def export():
    f = queries.parse_filters(request.args, current_user)
    if f.errors:
        return Response("\n".join(f.errors.values()) + "\n", status=400, mimetype="text/plain")
    return Response(
        stream_with_context(csv_stream(queries.CSV_COLUMNS, queries.export_rows(f, current_user))),
        mimetype="text/csv",
        headers=attachment_headers(queries.export_filename(f)),
    )


# One inspection ----------------------------------------------------------------------


def _inspection_or_404(inspection_id: int) -> Inspection:
    return get_or_404(Inspection, inspection_id, current_user)


def _decision_context(decision: Decision) -> dict:
    return {
        "d": decision,
        "labels": decision_queries.labels_for([decision.id])[decision.id],
        "context": decision_display.context_entries(decision.context),
        "item_link": decision_display.http_url(decision.item_url),
    }


@bp.get("/<ref:inspection_id>")
def detail(inspection_id: int):
    inspection = _inspection_or_404(inspection_id)
    questions = queries.questions_of(inspection.scorecard_version)
    answers = {a.question_id: a.answer for a in inspection.answers}
    return render_template(
        "inspections/detail.html",
        inspection=inspection,
        questions=questions,
        answers=answers,
        history=visible_history(current_user, inspection),
        may_edit=inspection.status == "draft" and can_edit_inspection(current_user, inspection),
        may_correct=can_correct_inspection(current_user, inspection),
        **_decision_context(inspection.decision),
    )


# Inspecting ----------------------------------------------------------------------------


def _render_inspect(form, decision, item, inspection, version, questions, status=200):
    return render_template(
        "inspections/inspect.html",
        form=form,
        item=item,
        inspection=inspection,
        scorecard=version,
        questions=questions,
        next_up=queries.next_item(current_user, item) if item is not None else None,
        progress=sampling_queries.item_progress(item) if item is not None else None,
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


@bp.route("/items/<ref:item_id>", methods=["GET", "POST"])
@access(QA)
def inspect_item(item_id: int):
    """Inspect a sample item: the decision beside the verdict form."""
    item = get_or_404(SampleItem, item_id, current_user)
    decision = item.decision
    existing = queries.inspection_of(decision)
    if existing is not None:
        if existing.status == "final":
            return redirect(url_for("inspections.detail", inspection_id=existing.id))
        return redirect(url_for("inspections.edit", inspection_id=existing.id))
    if item.status != "pending" or item.sample.state != "open":
        flash(
            f"Item #{public_id(item.id)} is {item.status} in a {item.sample.state} sample.",
            "warning",
        )
        return redirect(url_for("sampling.detail", sample_id=item.sample_id))
    if not can_inspect_item(current_user, item):
        abort(403)
    return _create(decision, item)


@bp.route("/decisions/<ref:decision_id>", methods=["GET", "POST"])
@access(LEAD)
def inspect_decision(decision_id: int):
    """A QA lead inspects a decision outside any open sample (a targeted inspection)."""
    decision = get_or_404(Decision, decision_id, current_user)
    existing = queries.inspection_of(decision)
    if existing is not None:
        return redirect(url_for("inspections.detail", inspection_id=existing.id))
    item = queries.open_item_for(decision)
    if item is not None:
        return redirect(url_for("inspections.inspect_item", item_id=item.id))
    return _create(decision, None)


def _submit(form, questions, save) -> tuple[object | None, int]:
    """Run `save(values)` for a posted verdict form: (what it returned, 200), or after a
    refusal (None, status) with the errors on the form or flashed, nothing stored."""
    if not form.validate_on_submit():
        return None, 400
    values = forms.values_of(form, questions)

    def call():
        try:
            return save(values)
        except ValidationFailed as err:
            raise forms.on_questions(err, form, questions) from None

    outcome = run_service(call, form=form, aliases=forms.field_aliases(questions))
    return (outcome.value, 200) if outcome.ok else (None, outcome.error.status)


def _save_verdict(form, questions, item: SampleItem | None, save):
    """Save a posted verdict with `save(values, finalise)`: (where it leads, 200), or
    (None, status) when refused."""
    finalise = request.form.get("action") in ("finalise", "finalise_next")
    following = queries.next_item(current_user, item) if item is not None else None
    saved, status = _submit(form, questions, lambda values: save(values, finalise))
    if saved is None:
        return None, status
    return _after_save(saved, following, finalise), status


def _create(decision: Decision, item: SampleItem | None):
    version = published_version(decision.policy_area)
    questions = queries.questions_of(version)
    form = forms.verdict_form(questions, queries.label_choices(decision, None))
    if request.method == "GET":
        return _render_inspect(form, decision, item, None, version, questions)
    done, status = _save_verdict(
        form,
        questions,
        item,
        lambda values, finalise: services.create_inspection(
            decision, values, actor=current_user, finalise=finalise
        ),
    )
    if done is not None:
        return done
    return _render_inspect(form, decision, item, None, version, questions, status)


@bp.route("/<ref:inspection_id>/edit", methods=["GET", "POST"])
@access(QA)
def edit(inspection_id: int):
    """Continue a draft; finalise it."""
    inspection = _inspection_or_404(inspection_id)
    if inspection.status == "final":
        flash("This inspection is final; a QA lead may correct it.", "info")
        return redirect(url_for("inspections.detail", inspection_id=inspection.id))
    if not can_edit_inspection(current_user, inspection):
        abort(403)
    decision, item = inspection.decision, inspection.sample_item
    version = inspection.scorecard_version
    questions = queries.questions_of(version)
    form = forms.verdict_form(questions, queries.label_choices(decision, inspection))
    if request.method == "GET":
        forms.fill(form, inspection, questions)
        return _render_inspect(form, decision, item, inspection, version, questions)
    done, status = _save_verdict(
        form,
        questions,
        item,
        lambda values, finalise: services.update_inspection(
            inspection, values, actor=current_user, version=_version(form), finalise=finalise
        ),
    )
    if done is not None:
        return done
    inspection = _inspection_or_404(inspection_id)
    return _render_inspect(form, decision, item, inspection, version, questions, status)


def _version(form) -> int | None:
    return parse_id(form.version.data)


@bp.route("/<ref:inspection_id>/correct", methods=["GET", "POST"])
@access(LEAD)
def correct(inspection_id: int):
    """A QA lead corrects a final inspection, with a reason; the old version is kept."""
    inspection = _inspection_or_404(inspection_id)
    if inspection.status != "final":
        return redirect(url_for("inspections.edit", inspection_id=inspection.id))
    decision = inspection.decision
    version = inspection.scorecard_version
    questions = queries.questions_of(version)
    labels = queries.label_choices(decision, inspection)
    form = forms.verdict_form(questions, labels, correction=True)
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
            flash(f"Inspection #{public_id(inspection.id)} corrected.", "success")
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
