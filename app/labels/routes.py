"""/labels: the rejection label taxonomy. Everyone signed in reads it; admins change it."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.audit.queries import object_history
from app.labels import queries, services
from app.labels.forms import LabelForm
from app.models.enums import POLICY_AREAS
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import can_administer, can_see_all_vendors
from app.security.roles import ROLE_ADMIN
from app.web import arg_choice, paginate, run_service

bp = Blueprint("labels", __name__, url_prefix="/labels")
blueprint_policy(bp, signed_in())


@bp.get("/")
def index():
    """The labels, searched and filtered; usage counts for those who see every vendor."""
    q = (request.args.get("q") or "").strip()[:200]
    area = arg_choice("area", POLICY_AREAS, "")
    status = arg_choice("status", queries.LABEL_STATUSES, "active")
    sort = queries.label_sort(request.args.get("sort", "code"))
    page = paginate(queries.label_list(q=q, area=area, status=status, sort=sort))
    show_usage = can_see_all_vendors(current_user)
    usage = queries.decision_counts([label.id for label in page.items]) if show_usage else {}
    filtered = bool(q or area or status != "active")
    return render_template(
        "labels/index.html",
        page=page,
        usage=usage,
        show_usage=show_usage,
        q=q,
        area=area,
        status=status,
        sort=sort,
        filtered=filtered,
    )


@bp.get("/<id:label_id>")
def detail(label_id: int):
    """One label, with its usage (staff) and its change history (admins)."""
    label = queries.label_or_404(label_id)
    usage = queries.label_usage(label) if can_see_all_vendors(current_user) else None
    history = object_history("label", label.id) if can_administer(current_user) else []
    return render_template("labels/detail.html", label=label, usage=usage, history=history)


@bp.route("/new", methods=["GET", "POST"])
@access(signed_in(ROLE_ADMIN))
def create():
    """Add a label."""
    form = LabelForm()
    if form.validate_on_submit():
        done = run_service(
            lambda: services.create_label(
                code=form.code.data,
                name=form.name.data,
                policy_area=form.policy_area.data,
                typical_severity=form.typical_severity.data,
                description=form.description.data,
                actor=current_user._get_current_object(),
            ),
            form=form,
        )
        if done.ok:
            flash(f"Label {done.value.code} was created.", "success")
            return redirect(url_for("labels.detail", label_id=done.value.id))
    status = 400 if request.method == "POST" else 200
    return render_template("labels/form.html", form=form, label=None, usage=None), status


@bp.route("/<id:label_id>/edit", methods=["GET", "POST"])
@access(signed_in(ROLE_ADMIN))
def edit(label_id: int):
    """Change a label; code and policy area only while no decision or inspection uses it."""
    label = queries.label_or_404(label_id)
    usage = queries.label_usage(label)
    form = LabelForm(obj=label)
    if form.validate_on_submit():
        # Locked fields are not rendered as inputs; a value sent anyway is still checked
        # by the service, which refuses to change a label that is in use.
        done = run_service(
            lambda: services.update_label(
                label,
                name=form.name.data,
                typical_severity=form.typical_severity.data,
                description=form.description.data,
                code=request.form.get("code"),
                policy_area=request.form.get("policy_area"),
                actor=current_user._get_current_object(),
            ),
            form=form,
        )
        if done.ok:
            if done.value:
                flash(f"Label {label.code} was updated.", "success")
            else:
                flash("Nothing changed.", "info")
            return redirect(url_for("labels.detail", label_id=label.id))
    status = 400 if request.method == "POST" else 200
    return render_template("labels/form.html", form=form, label=label, usage=usage), status


@bp.post("/<id:label_id>/retire")
@access(signed_in(ROLE_ADMIN))
def retire(label_id: int):
    """Retire a label (kept for history)."""
    return _change_status(
        label_id,
        services.retire_label,
        "Label {code} was retired. It stays listed under “Retired” for history.",
        "Label {code} is already retired.",
    )


@bp.post("/<id:label_id>/reactivate")
@access(signed_in(ROLE_ADMIN))
def reactivate(label_id: int):
    """Bring a retired label back."""
    return _change_status(
        label_id,
        services.reactivate_label,
        "Label {code} is active again.",
        "Label {code} is already active.",
    )


def _change_status(label_id: int, operation, done: str, already: str):
    """Retire or reactivate; a label already in that state is a warning, not an error page."""
    label = queries.label_or_404(label_id)
    outcome = run_service(lambda: operation(label, actor=current_user._get_current_object()))
    if outcome.ok:
        message, category = (done, "success") if outcome.value else (already, "warning")
        flash(message.format(code=label.code), category)
    return redirect(url_for("labels.detail", label_id=label_id))
