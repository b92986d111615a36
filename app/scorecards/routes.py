"""/scorecards: scorecard templates, their versions and the rubric editor.

Everyone signed in reads templates and their published (and superseded) versions:
vendors should know the rubric they are judged on. Draft versions are for QA and
admins only; to anyone else a draft answers 404. Only QA leads create templates and
change them (DESIGN §1).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from app.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.models import AuditEvent, ScorecardSection, ScorecardTemplate, ScorecardVersion, User
from app.models.enums import POLICY_AREA_NAMES, POLICY_AREAS
from app.scorecards import services
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
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import can_see_scorecard_drafts
from app.security.roles import ROLE_ADMIN, ROLE_QA_LEAD
from app.web import apply_errors, arg_choice, paginate

bp = Blueprint("scorecards", __name__, url_prefix="/scorecards")
blueprint_policy(bp, signed_in())

LEAD = signed_in(ROLE_QA_LEAD)
HISTORY_LIMIT = 30


def _actor() -> User:
    return current_user._get_current_object()


def _is_lead() -> bool:
    return current_user.is_authenticated and current_user.role == ROLE_QA_LEAD


def person(user_id: int | None) -> str:
    """Who published a version: vendor users see the stable pseudonym, never a name."""
    if user_id is None:
        return "—"
    user = db.session.get(User, user_id)
    if user is None:
        return "—"
    return user.pseudonym if current_user.is_vendor_user else user.name


@bp.context_processor
def _helpers():
    return {
        "is_lead": _is_lead(),
        "sees_drafts": current_user.is_authenticated and can_see_scorecard_drafts(current_user),
        "person": person,
    }


def _template_or_404(template_id: int) -> ScorecardTemplate:
    return db.get_or_404(ScorecardTemplate, template_id)


def _version_or_404(template: ScorecardTemplate, version_id: int) -> ScorecardVersion:
    """A version of `template`; a draft only for those who may see drafts."""
    version = db.session.scalar(
        sa.select(ScorecardVersion)
        .where(ScorecardVersion.id == version_id, ScorecardVersion.template_id == template.id)
        .options(selectinload(ScorecardVersion.sections).selectinload(ScorecardSection.questions))
    )
    if version is None:
        abort(404)
    if version.state == services.DRAFT and not can_see_scorecard_drafts(current_user):
        abort(404)
    return version


def _with_rubric(version: ScorecardVersion | None) -> ScorecardVersion | None:
    if version is None:
        return None
    return db.session.scalar(
        sa.select(ScorecardVersion)
        .where(ScorecardVersion.id == version.id)
        .options(selectinload(ScorecardVersion.sections).selectinload(ScorecardSection.questions))
    )


# Reading --------------------------------------------------------------------------------


@bp.get("/")
def index():
    area = arg_choice("area", POLICY_AREAS, "")
    stmt = sa.select(ScorecardTemplate)
    if area:
        stmt = stmt.where(ScorecardTemplate.policy_area == area)
    order = sa.case({a: n for n, a in enumerate(POLICY_AREAS)}, value=ScorecardTemplate.policy_area)
    page = paginate(stmt.order_by(order, ScorecardTemplate.id))
    rows = services.template_rows(list(page.items))
    missing = []
    if _is_lead():
        taken = set(db.session.scalars(sa.select(ScorecardTemplate.policy_area)))
        missing = [a for a in POLICY_AREAS if a not in taken]
    return render_template(
        "scorecards/index.html",
        page=page,
        rows=rows,
        area=area,
        filtered=bool(area),
        missing_areas=missing,
    )


@bp.get("/<int:template_id>")
def detail(template_id: int):
    template = _template_or_404(template_id)
    versions = list(template.versions)
    if not can_see_scorecard_drafts(current_user):
        versions = [v for v in versions if v.state != services.DRAFT]
    published = _with_rubric(next((v for v in versions if v.state == services.PUBLISHED), None))
    draft = next((v for v in versions if v.state == services.DRAFT), None)
    history = []
    if current_user.role in (ROLE_ADMIN, ROLE_QA_LEAD):
        history = db.session.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.object_type == "scorecard_template",
                AuditEvent.object_id == str(template.id),
            )
            .order_by(AuditEvent.seq.desc())
            .limit(HISTORY_LIMIT)
        ).all()
    return render_template(
        "scorecards/detail.html",
        template=template,
        versions=sorted(versions, key=lambda v: v.number, reverse=True),
        published=published,
        draft=draft,
        draft_questions=services.question_count(draft) if draft is not None else 0,
        history=history,
    )


@bp.get("/<int:template_id>/versions/<int:version_id>")
def version(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    return render_template(
        "scorecards/version.html",
        template=template,
        version=version,
        has_published=services.current_of(template) is not None,
    )


# Templates ------------------------------------------------------------------------------


def _free_areas() -> list[str]:
    taken = set(db.session.scalars(sa.select(ScorecardTemplate.policy_area)))
    return [a for a in POLICY_AREAS if a not in taken]


@bp.route("/new", methods=["GET", "POST"])
@access(LEAD)
def create():
    form = TemplateForm()
    free = _free_areas()
    if request.method == "GET" and free:
        form.policy_area.choices = [(a, POLICY_AREA_NAMES[a]) for a in free]
    if form.validate_on_submit():
        try:
            template = services.create_template(
                name=form.name.data,
                policy_area=form.policy_area.data,
                description=form.description.data,
                actor=_actor(),
            )
        except ValidationFailed as err:
            db.session.rollback()
            apply_errors(form, err)
        else:
            db.session.commit()
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


@bp.route("/<int:template_id>/edit", methods=["GET", "POST"])
@access(LEAD)
def edit(template_id: int):
    template = _template_or_404(template_id)
    form = TemplateDetailsForm(obj=template)
    if form.validate_on_submit():
        try:
            changed = services.update_template(
                template,
                name=form.name.data,
                description=form.description.data,
                actor=_actor(),
            )
        except ValidationFailed as err:
            db.session.rollback()
            apply_errors(form, err)
        else:
            db.session.commit()
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


@bp.post("/<int:template_id>/new-draft")
@access(LEAD)
def new_draft(template_id: int):
    template = _template_or_404(template_id)
    try:
        draft = services.new_draft(template, actor=_actor())
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "warning")
        return redirect(url_for("scorecards.detail", template_id=template_id))
    db.session.commit()
    flash(
        f"Version {draft.number} is a new draft, a copy of the published rubric. "
        "Inspections keep using the published version until you publish this one.",
        "success",
    )
    return redirect(
        url_for("scorecards.edit_version", template_id=template_id, version_id=draft.id)
    )


@bp.post("/<int:template_id>/versions/<int:version_id>/publish")
@access(LEAD)
def publish(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    try:
        services.publish(version, actor=_actor())
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "warning")
        return redirect(
            url_for("scorecards.version", template_id=template_id, version_id=version_id)
        )
    db.session.commit()
    flash(
        f"Version {version.number} is published: new inspections of this policy area "
        "are scored on it.",
        "success",
    )
    return redirect(url_for("scorecards.detail", template_id=template_id))


@bp.post("/<int:template_id>/versions/<int:version_id>/discard")
@access(LEAD)
def discard(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    number = version.number
    try:
        services.discard_draft(version, actor=_actor())
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "warning")
        return redirect(
            url_for("scorecards.version", template_id=template_id, version_id=version_id)
        )
    db.session.commit()
    flash(f"Draft version {number} was discarded.", "success")
    return redirect(url_for("scorecards.detail", template_id=template_id))


def _blank_count(raw, default: int = BLANK_ROWS) -> int:
    try:
        count = int(raw)
    except (TypeError, ValueError):
        return default
    return min(max(count, 1), MAX_BLANK_ROWS)


@bp.route("/<int:template_id>/versions/<int:version_id>/edit", methods=["GET", "POST"])
@access(LEAD)
def edit_version(template_id: int, version_id: int):
    template = _template_or_404(template_id)
    version = _version_or_404(template, version_id)
    view = url_for("scorecards.version", template_id=template_id, version_id=version_id)
    if version.state != services.DRAFT:
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
        if version.state != services.DRAFT:  # published meanwhile by someone else
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
    else the status to answer and the messages that name no row."""
    if not form.validate():
        return 400, [f"{name}: {', '.join(errors)}" for name, errors in form.errors.items()]
    if rubric.has_row_errors:
        # Say everything at once: the services' checks of the rows too.
        _, problems = services.normalise_sections(rubric.sections)
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
        if version.state != services.DRAFT:
            return 409, [err.message]
        # Someone else saved meanwhile: keep these rows; saving again replaces theirs.
        form.revision.data = services.revision(version)
        return 409, [err.message + " Saving again replaces the other changes."]
    except NotFound as err:
        db.session.rollback()
        abort(404, err.message)
    db.session.commit()
    return (302 if changed else 303), []
