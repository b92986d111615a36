"""/labels: the rejection label taxonomy. Everyone signed in reads it; admins change it."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.labels import services
from app.labels.forms import LabelForm
from app.models import AuditEvent, Label
from app.models.enums import POLICY_AREAS
from app.security.access import access, blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN
from app.web import apply_errors, arg_choice, paginate

bp = Blueprint("labels", __name__, url_prefix="/labels")
blueprint_policy(bp, signed_in())

STATUSES = ("active", "retired", "all")
_SEVERITY_ORDER = sa.case(
    {"minor": 1, "major": 2, "critical": 3}, value=Label.typical_severity, else_=0
)
SORTS = {
    "code": (Label.code,),
    "name": (Label.name, Label.code),
    "policy_area": (Label.policy_area, Label.code),
    "severity": (_SEVERITY_ORDER, Label.code),
    "updated": (Label.updated_at, Label.code),
}


def _order(sort: str) -> tuple[str, list]:
    key = sort.lstrip("-")
    if key not in SORTS:
        return "code", [Label.code]
    columns = SORTS[key]
    if sort.startswith("-"):
        return sort, [column.desc() for column in columns]
    return sort, list(columns)


@bp.get("/")
def index():
    q = (request.args.get("q") or "").strip()[:200]
    area = arg_choice("area", POLICY_AREAS, "")
    status = arg_choice("status", STATUSES, "active")
    sort, order_by = _order(request.args.get("sort", "code"))

    stmt = sa.select(Label)
    if q:
        needle = q.lower()
        stmt = stmt.where(
            sa.or_(
                *(
                    sa.func.lower(column).contains(needle, autoescape=True)
                    for column in (Label.code, Label.name, Label.description)
                )
            )
        )
    if area:
        stmt = stmt.where(Label.policy_area == area)
    if status == "active":
        stmt = stmt.where(Label.active)
    elif status == "retired":
        stmt = stmt.where(sa.not_(Label.active))
    page = paginate(stmt.order_by(*order_by))
    # Usage counts span every vendor, so vendor users (tenant-confined) do not see them.
    show_usage = not current_user.is_vendor_user
    usage = services.decision_counts([label.id for label in page.items]) if show_usage else {}
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


@bp.get("/<int:label_id>")
def detail(label_id: int):
    label = db.get_or_404(Label, label_id)
    usage = None if current_user.is_vendor_user else services.label_usage(label)
    history = []
    if current_user.role == ROLE_ADMIN:
        history = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == "label", AuditEvent.object_id == str(label.id))
            .order_by(AuditEvent.seq.desc())
            .limit(20)
        ).all()
    return render_template("labels/detail.html", label=label, usage=usage, history=history)


@bp.route("/new", methods=["GET", "POST"])
@access(signed_in(ROLE_ADMIN))
def create():
    form = LabelForm()
    if form.validate_on_submit():
        try:
            label = services.create_label(
                code=form.code.data,
                name=form.name.data,
                policy_area=form.policy_area.data,
                typical_severity=form.typical_severity.data,
                description=form.description.data,
                actor=current_user._get_current_object(),
            )
        except ValidationFailed as err:
            db.session.rollback()
            apply_errors(form, err)
        else:
            db.session.commit()
            flash(f"Label {label.code} was created.", "success")
            return redirect(url_for("labels.detail", label_id=label.id))
    status = 400 if request.method == "POST" else 200
    return render_template("labels/form.html", form=form, label=None, usage=None), status


@bp.route("/<int:label_id>/edit", methods=["GET", "POST"])
@access(signed_in(ROLE_ADMIN))
def edit(label_id: int):
    label = db.get_or_404(Label, label_id)
    usage = services.label_usage(label)
    form = LabelForm(obj=label)
    if form.validate_on_submit():
        # Locked fields are not rendered as inputs; a value sent anyway is still checked
        # by the service, which refuses to change a label that is in use.
        try:
            changed = services.update_label(
                label,
                name=form.name.data,
                typical_severity=form.typical_severity.data,
                description=form.description.data,
                code=request.form.get("code"),
                policy_area=request.form.get("policy_area"),
                actor=current_user._get_current_object(),
            )
        except ValidationFailed as err:
            db.session.rollback()
            apply_errors(form, err)
        else:
            db.session.commit()
            if changed:
                flash(f"Label {label.code} was updated.", "success")
            else:
                flash("Nothing changed.", "info")
            return redirect(url_for("labels.detail", label_id=label.id))
    status = 400 if request.method == "POST" else 200
    return render_template("labels/form.html", form=form, label=label, usage=usage), status


@bp.post("/<int:label_id>/retire")
@access(signed_in(ROLE_ADMIN))
def retire(label_id: int):
    return _change_status(
        label_id,
        services.retire_label,
        "Label {code} was retired. It stays listed under “Retired” for history.",
    )


@bp.post("/<int:label_id>/reactivate")
@access(signed_in(ROLE_ADMIN))
def reactivate(label_id: int):
    return _change_status(label_id, services.reactivate_label, "Label {code} is active again.")


def _change_status(label_id: int, operation, done: str):
    """Retire or reactivate; a label already in that state is a warning, not an error page."""
    label = db.get_or_404(Label, label_id)
    try:
        operation(label, actor=current_user._get_current_object())
    except Conflict as err:
        db.session.rollback()
        flash(err.message, "warning")
    else:
        db.session.commit()
        flash(done.format(code=label.code), "success")
    return redirect(url_for("labels.detail", label_id=label_id))
