"""/scorecards: scorecard templates, their versions and the rubric editor.

Everyone signed in reads templates and their published (and superseded) versions:
vendors should know the rubric they are judged on. Draft versions are for QA and
admins only; to anyone else a draft answers 404. Only QA leads create templates and
change them (DESIGN §1).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import ScorecardTemplate, ScorecardVersion, User
from app.models.enums import POLICY_AREA_NAMES, POLICY_AREAS
from app.scorecards import queries, services
from app.scorecards.forms import (
    BLANK_ROWS,
    COLUMN_NAMES,
    MAX_BLANK_ROWS,
    RubricForm,
    TemplateDetailsForm,
    TemplateForm,
    apply_problems,
    blank_rows,
    build_rubric,
    rows_from_form,
    rows_from_version,
)
from app.scorecards.rubric import normalise_sections
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import can_manage_scorecards, can_see_scorecard_history
from app.security.roles import ROLE_QA_LEAD
from app.web import arg_choice, paginate, run_service

bp = Blueprint("scorecards", __name__, url_prefix="/scorecards")
blueprint_policy(bp, signed_in())

LEAD = signed_in(ROLE_QA_LEAD)
HISTORY_LIMIT = 30


def _actor() -> User:
    return current_user._get_current_object()


def _template_or_404(template_id: int) -> ScorecardTemplate:
    template = queries.template(template_id)
    if template is None:
        abort(404)
    return template


def _version_or_404(template: ScorecardTemplate, version_id: int) -> ScorecardVersion:
    """A version of `template`; a draft only for those who may see drafts."""
    version = queries.version(version_id, current_user, template)
    if version is None:
        abort(404)
    return version


# Reading --------------------------------------------------------------------------------


@bp.get("/")
def index():
    area = arg_choice("area", POLICY_AREAS, "")
    page = paginate(queries.in_area_order(queries.templates(area)))
    return render_template(
        "scorecards/index.html",
        page=page,
        rows=queries.template_rows(list(page.items)),
        area=area,
        filtered=bool(area),
        missing_areas=queries.free_areas() if can_manage_scorecards(current_user) else [],
    )


@bp.get("/<id:template_id>")
def detail(template_id: int):
    template = _template_or_404(template_id)
    versions = queries.versions_for(template, current_user)
    published = next((v for v in versions if v.state == queries.PUBLISHED), None)
    draft = next((v for v in versions if v.state == queries.DRAFT), None)
    history = []
    if can_see_scorecard_history(current_user):
        history = queries.history(template, HISTORY_LIMIT)
    return render_template(
        "scorecards/detail.html",
        template=template,
        versions=versions,
        published=queries.with_rubric(published),
        draft=draft,
        draft_questions=queries.question_count(draft) if draft is not None else 0,
        history=history,
    )


@bp.get("/<id:template_id>/versions/<id:version_id>")
def version(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    return render_template(
        "scorecards/version.html",
        template=template,
        version=version,
        has_published=queries.current_of(template) is not None,
    )


# Templates ------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@access(LEAD)
def create():
    form = TemplateForm()
    free = queries.free_areas()
    if request.method == "GET" and free:
        form.policy_area.choices = [(a, POLICY_AREA_NAMES[a]) for a in free]
    if form.validate_on_submit():
        done = run_service(
            lambda: services.create_template(
                name=form.name.data,
                policy_area=form.policy_area.data,
                description=form.description.data,
                actor=_actor(),
            ),
            form=form,
        )
        if done.ok:
            template = done.value
            flash(
                f"Scorecard template {template.name} was created. Version 1 is a draft: "
                "add its questions, then publish it.",
                "success",
            )
            return redirect(
                url_for(
                    "scorecards.edit_version",
                    template_id=template.id,
                    version_id=template.versions[0].id,
                )
            )
    status = 400 if request.method == "POST" else 200
    return render_template("scorecards/form.html", form=form, template=None, free=free), status


@bp.route("/<id:template_id>/edit", methods=["GET", "POST"])
@access(LEAD)
def edit(template_id: int):
    template = _template_or_404(template_id)
    form = TemplateDetailsForm(obj=template)
    if form.validate_on_submit():
        done = run_service(
            lambda: services.update_template(
                template,
                name=form.name.data,
                description=form.description.data,
                actor=_actor(),
            ),
            form=form,
        )
        if done.ok:
            changed = done.value
            flash(
                f"Scorecard template {template.name} was updated."
                if changed
                else "Nothing changed.",
                "success" if changed else "info",
            )
            return redirect(url_for("scorecards.detail", template_id=template.id))
    status = 400 if request.method == "POST" else 200
    return render_template("scorecards/form.html", form=form, template=template, free=[]), status


# Versions -------------------------------------------------------------------------------


@bp.post("/<id:template_id>/new-draft")
@access(LEAD)
def new_draft(template_id: int):
    template = _template_or_404(template_id)
    done = run_service(lambda: services.new_draft(template, actor=_actor()))
    if not done.ok:
        return redirect(url_for("scorecards.detail", template_id=template_id))
    flash(
        f"Version {done.value.number} is a new draft, a copy of the published rubric. "
        "Inspections keep using the published version until you publish this one.",
        "success",
    )
    return redirect(
        url_for("scorecards.edit_version", template_id=template_id, version_id=done.value.id)
    )


@bp.post("/<id:template_id>/versions/<id:version_id>/publish")
@access(LEAD)
def publish(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    if not run_service(lambda: services.publish(version, actor=_actor())).ok:
        return redirect(
            url_for("scorecards.version", template_id=template_id, version_id=version_id)
        )
    flash(
        f"Version {version.number} is published: new inspections of this policy area "
        "are scored on it.",
        "success",
    )
    return redirect(url_for("scorecards.detail", template_id=template_id))


def _not_found_is_404(call):
    """Run `call`; a version deleted meanwhile (NotFound) is a 404 page, not a message."""
    try:
        return call()
    except NotFound:
        db.session.rollback()
        abort(404)


@bp.post("/<id:template_id>/versions/<id:version_id>/discard")
@access(LEAD)
def discard(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    number = version.number
    done = run_service(
        lambda: _not_found_is_404(lambda: services.discard_draft(version, actor=_actor()))
    )
    if not done.ok:
        return redirect(
            url_for("scorecards.version", template_id=template_id, version_id=version_id)
        )
    flash(f"Draft version {number} was discarded.", "success")
    return redirect(url_for("scorecards.detail", template_id=template_id))


def _blank_count(raw, default: int = BLANK_ROWS) -> int:
    try:
        count = int(raw)
    except (TypeError, ValueError):
        return default
    return min(max(count, 1), MAX_BLANK_ROWS)


@bp.route("/<id:template_id>/versions/<id:version_id>/edit", methods=["GET", "POST"])
@access(LEAD)
def edit_version(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    view = url_for("scorecards.version", template_id=template_id, version_id=version_id)
    if version.state != queries.DRAFT:
        flash(
            f"Version {version.number} is {version.state} and can no longer change. "
            "Make a new draft to edit the rubric.",
            "warning",
        )
        return redirect(view)

    form = RubricForm()
    general: list[str] = []
    status = 200
    if request.method == "GET":
        rows = rows_from_version(version)
        rows += blank_rows(rows, _blank_count(request.args.get("blank")))
        form.revision.data = services.revision(version)
    else:
        more = request.form.get("action") == "more"
        rows = rows_from_form(request.form)
        blanks = sum(1 for row in rows if row.blank and not row.remove)
        rubric = build_rubric(rows)
        status, general = _save(version, form, rubric)
        if status == 302:
            flash(f"Draft version {version.number} was saved.", "success")
            if more:
                extra = _blank_count(max(blanks, BLANK_ROWS) + BLANK_ROWS)
                return redirect(
                    url_for(
                        "scorecards.edit_version",
                        template_id=template_id,
                        version_id=version_id,
                        blank=extra,
                    )
                )
            return redirect(view)
        if status == 303:  # nothing to change
            flash("Nothing changed.", "info")
            return redirect(view)
        if version.state != queries.DRAFT:  # published meanwhile by someone else
            flash(general[0] if general else "This version can no longer change.", "warning")
            return redirect(view)
        if more:
            rows += blank_rows(rows, BLANK_ROWS)
    return render_template(
        "scorecards/editor.html",
        template=template,
        version=version,
        form=form,
        rows=rows,
        general=general,
        columns=COLUMN_NAMES,
    ), status


def _save(version: ScorecardVersion, form: RubricForm, rubric) -> tuple[int, list[str]]:
    """Save the editor's rows: (302, []) when saved, (303, []) when nothing changed,
    else the status to answer and the messages that name no row.

    Not through `run_service`: the services' problems go on the editor's rows and
    columns (`sections[i].questions[j].key`), which are no form fields, and a
    concurrent save keeps the rows shown; neither is a form error or a flash."""
    if not form.validate():
        return 400, [f"{name}: {', '.join(errors)}" for name, errors in form.errors.items()]
    if rubric.has_row_errors:
        # Say everything at once: the services' checks of the rows too.
        _, problems = normalise_sections(rubric.sections)
        return 400, apply_problems(rubric, problems)
    try:
        changed = services.save_draft(
            version,
            rubric.sections,
            actor=_actor(),
            expected_revision=form.revision.data or None,
        )
    except ValidationFailed as err:
        db.session.rollback()
        return 400, apply_problems(rubric, err.details or [{"message": err.message}])
    except Conflict as err:
        db.session.rollback()
        db.session.refresh(version)
        if version.state != queries.DRAFT:
            return 409, [err.message]
        # Someone else saved meanwhile: keep these rows; saving again replaces theirs.
        form.revision.data = services.revision(version)
        return 409, [err.message + " Saving again replaces the other changes."]
    except NotFound as err:
        db.session.rollback()
        abort(404, err.message)
    db.session.commit()
    return (302 if changed else 303), []
