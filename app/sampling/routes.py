"""/sampling pages: samples and their items, drawing (from a plan or ad hoc), plans,
and each inspector's queue.

Everyone signed in reads samples; vendor users see only their own vendor's closed
samples (DESIGN §1). Only QA leads draw and change samples and plans; admins and
inspectors may read plans and queues.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import joinedload
from werkzeug.routing import BuildError

from app.errors import Conflict, DomainError, ValidationFailed
from app.extensions import db
from app.models import Decision, Sample, SampleItem, SamplingPlan, User, Vendor
from app.models.enums import QA_ROLES, SAMPLE_PURPOSES, SAMPLE_STATES
from app.sampling import algorithm, services
from app.sampling.forms import (
    AssignForm,
    CancelForm,
    DrawForm,
    PlanForm,
    ReassignForm,
    SkipForm,
    margin_to_percent_text,
    users_by_ids,
)
from app.security.access import access, blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN, ROLE_QA_INSPECTOR, ROLE_QA_LEAD
from app.security.scoping import get_or_404, scoped
from app.web import apply_errors, arg_choice, paginate, parse_id

bp = Blueprint("sampling", __name__, url_prefix="/sampling")
blueprint_policy(bp, signed_in())

LEAD = signed_in(ROLE_QA_LEAD)
STAFF = signed_in(ROLE_ADMIN, ROLE_QA_LEAD, ROLE_QA_INSPECTOR)
ITEMS_PER_PAGE = 50
ITEM_STATUSES = ("pending", "inspected", "skipped")


# Helpers ------------------------------------------------------------------------------


def _visible(stmt: sa.Select) -> sa.Select:
    """Samples the signed-in user may see: vendor users only closed ones of their own."""
    stmt = scoped(stmt, Sample, current_user)
    if current_user.is_vendor_user:
        stmt = stmt.where(Sample.state == "closed")
    return stmt


def _sample_or_404(sample_id: int) -> Sample:
    sample = get_or_404(Sample, sample_id, current_user)
    if current_user.is_vendor_user and sample.state != "closed":
        abort(404)
    return sample


def _item_or_404(sample: Sample, item_id: int) -> SampleItem:
    item = db.session.get(SampleItem, item_id)
    if item is None or item.sample_id != sample.id:
        abort(404)
    return item


def _vendor_by_code(code: str | None) -> Vendor | None:
    if not code:
        return None
    return db.session.scalar(sa.select(Vendor).where(Vendor.code == code.strip().upper()))


def decision_link(decision: Decision) -> str | None:
    """The decisions browser's page of a decision, when that page exists."""
    if "decisions.detail" not in current_app.view_functions:
        return None
    for args in ({"decision_id": decision.id}, {"external_id": decision.external_id}):
        try:
            return url_for("decisions.detail", **args)
        except BuildError:
            continue
    return None


def person(user: User | None) -> str:
    """How an assignee is shown: vendor users see a stable pseudonym, never a name."""
    if user is None:
        return "—"
    if current_user.is_vendor_user:
        return user.pseudonym
    return user.name


@bp.context_processor
def _helpers():
    return {
        "decision_link": decision_link,
        "person": person,
        "stratum_names": services.STRATUM_FIELD_NAMES,
        "is_lead": current_user.is_authenticated and current_user.role == ROLE_QA_LEAD,
    }


def _reject(form, err: DomainError) -> int:
    db.session.rollback()
    apply_errors(form, err)
    return 409 if isinstance(err, Conflict) else 400


# Samples ------------------------------------------------------------------------------


@bp.get("/")
def index():
    vendor_code = (request.args.get("vendor") or "").strip().upper()[:20]
    state = arg_choice("state", SAMPLE_STATES, "")
    purpose = arg_choice("purpose", SAMPLE_PURPOSES, "")
    stmt = _visible(sa.select(Sample).options(joinedload(Sample.vendor)))
    vendor = None
    if vendor_code:
        vendor = db.session.scalar(
            scoped(sa.select(Vendor).where(Vendor.code == vendor_code), Vendor, current_user)
        )
        if vendor is None:
            abort(404)  # as for any other vendor-owned object a user may not see
        stmt = stmt.where(Sample.vendor_id == vendor.id)
    if state:
        stmt = stmt.where(Sample.state == state)
    if purpose:
        stmt = stmt.where(Sample.purpose == purpose)
    page = paginate(stmt.order_by(Sample.created_at.desc(), Sample.id.desc()))
    counts = _item_counts([s.id for s in page.items])
    vendors = db.session.scalars(
        scoped(sa.select(Vendor), Vendor, current_user).order_by(Vendor.code)
    ).all()
    return render_template(
        "sampling/index.html",
        page=page,
        counts=counts,
        vendors=vendors,
        vendor_code=vendor.code if vendor else "",
        state=state,
        purpose=purpose,
        filtered=bool(vendor or state or purpose),
    )


def _item_counts(sample_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {i: dict.fromkeys(ITEM_STATUSES, 0) for i in sample_ids}
    if sample_ids:
        rows = db.session.execute(
            sa.select(SampleItem.sample_id, SampleItem.status, sa.func.count())
            .where(SampleItem.sample_id.in_(sample_ids))
            .group_by(SampleItem.sample_id, SampleItem.status)
        )
        for sample_id, status, n in rows:
            counts[sample_id][status] = n
    return counts


@bp.get("/<int:sample_id>")
def detail(sample_id: int):
    sample = _sample_or_404(sample_id)
    status = arg_choice("status", ITEM_STATUSES, "")
    stratum = (request.args.get("stratum") or "")[:255]
    if stratum not in (sample.per_stratum or {}):
        stratum = ""
    items_stmt = (
        sa.select(SampleItem)
        .where(SampleItem.sample_id == sample.id)
        .options(
            joinedload(SampleItem.decision),
            joinedload(SampleItem.assignee),
            joinedload(SampleItem.replacement_for).joinedload(SampleItem.decision),
        )
        .order_by(SampleItem.id)
    )
    if status:
        items_stmt = items_stmt.where(SampleItem.status == status)
    if stratum:
        items_stmt = items_stmt.where(SampleItem.stratum == stratum)
    items = paginate(items_stmt, per_page=ITEMS_PER_PAGE)
    counts = services.item_counts(sample)
    drawn = sum(v.get("allocated", 0) for v in (sample.per_stratum or {}).values())
    editable = current_user.role == ROLE_QA_LEAD and sample.state == "open"
    return render_template(
        "sampling/detail.html",
        sample=sample,
        items=items,
        counts=counts,
        drawn=drawn,
        margin_bought=algorithm.margin_of_error(
            drawn, sample.population, sample.confidence or algorithm.DEFAULT_CONFIDENCE
        ),
        status=status,
        stratum=stratum,
        editable=editable,
        assign_form=AssignForm(formdata=None) if editable else None,
        inspectors=services.qa_people() if editable else [],
        creator=db.session.get(User, sample.created_by_id) if sample.created_by_id else None,
    )


@bp.post("/<int:sample_id>/assign")
@access(LEAD)
def assign(sample_id: int):
    sample = _sample_or_404(sample_id)
    form = AssignForm()
    try:
        count = services.assign_round_robin(
            sample,
            users_by_ids(form.inspectors.data or []),
            only_unassigned=bool(form.only_unassigned.data),
            actor=current_user,
        )
    except ValidationFailed as err:
        db.session.rollback()
        flash(err.message, "danger")
        return redirect(url_for("sampling.detail", sample_id=sample.id))
    db.session.commit()
    flash(f"Assigned {count} pending item{'s' if count != 1 else ''} round-robin.", "success")
    return redirect(url_for("sampling.detail", sample_id=sample.id))


@bp.post("/<int:sample_id>/items/<int:item_id>/reassign")
@access(LEAD)
def reassign(sample_id: int, item_id: int):
    sample = _sample_or_404(sample_id)
    item = _item_or_404(sample, item_id)
    form = ReassignForm()
    user = None
    if form.assignee.data:
        user_id = parse_id(form.assignee.data)
        user = db.session.get(User, user_id) if user_id else None
        if user is None:
            flash("Choose an inspector from the list.", "danger")
            return redirect(url_for("sampling.detail", sample_id=sample.id))
    try:
        changed = services.reassign_item(item, user, actor=current_user)
    except ValidationFailed as err:
        db.session.rollback()
        flash(err.message, "danger")
        return redirect(url_for("sampling.detail", sample_id=sample.id))
    db.session.commit()
    if changed:
        flash(
            f"Item #{item.id} " + (f"assigned to {user.name}." if user else "unassigned."),
            "success",
        )
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("sampling.detail", sample_id=sample.id))


@bp.post("/<int:sample_id>/items/<int:item_id>/skip")
@access(LEAD)
def skip(sample_id: int, item_id: int):
    sample = _sample_or_404(sample_id)
    item = _item_or_404(sample, item_id)
    form = SkipForm()
    if not form.validate():
        flash("Say why the item is skipped (up to 500 characters).", "danger")
        return redirect(url_for("sampling.detail", sample_id=sample.id))
    try:
        replacement = services.skip_item(item, form.reason.data, actor=current_user)
    except ValidationFailed as err:
        db.session.rollback()
        flash(err.message, "danger")
        return redirect(url_for("sampling.detail", sample_id=sample.id))
    db.session.commit()
    if replacement is not None:
        flash(
            f"Item #{item.id} skipped; replaced by {replacement.decision.external_id} "
            f"(rank {replacement.rank} of {replacement.stratum or 'the population'}).",
            "success",
        )
    else:
        flash(
            f"Item #{item.id} skipped; its stratum has no decision left to replace it.", "warning"
        )
    return redirect(url_for("sampling.detail", sample_id=sample.id))


@bp.post("/<int:sample_id>/close")
@access(LEAD)
def close(sample_id: int):
    sample = _sample_or_404(sample_id)
    services.close_sample(sample, actor=current_user)  # Conflict → 409 page
    db.session.commit()
    flash(f"Sample #{sample.id} closed.", "success")
    return redirect(url_for("sampling.detail", sample_id=sample.id))


@bp.post("/<int:sample_id>/cancel")
@access(LEAD)
def cancel(sample_id: int):
    sample = _sample_or_404(sample_id)
    form = CancelForm()
    if not form.validate():
        flash("Keep the reason to 500 characters.", "danger")
        return redirect(url_for("sampling.detail", sample_id=sample.id))
    services.cancel_sample(sample, form.reason.data or "", actor=current_user)
    db.session.commit()
    flash(f"Sample #{sample.id} cancelled; its decisions may be drawn again.", "success")
    return redirect(url_for("sampling.detail", sample_id=sample.id))


# Drawing ------------------------------------------------------------------------------


def _plan_from_args(raw) -> SamplingPlan | None:
    plan_id = parse_id(raw)
    if plan_id is None:
        return None
    plan = db.session.get(SamplingPlan, plan_id)
    return plan if plan is not None and plan.active else None


def _apply(form, problems: list[tuple[str, str]]) -> None:
    for name, message in problems:
        form[name].errors = [*form[name].errors, message]


@bp.route("/draw", methods=["GET", "POST"])
@access(LEAD)
def draw():
    form = DrawForm()
    plan = _plan_from_args(request.values.get("plan_id") or request.args.get("plan"))
    status = 200
    result = None
    if request.method == "GET":
        if plan is not None:
            form.fill_from_plan(plan)
            form.plan_id.data = str(plan.id)
    else:
        status = 400
        valid = form.validate_on_submit()
        values, problems = form.parameters()
        _apply(form, problems)
        if valid and not problems:
            vendor = _vendor_by_code(form.vendor.data)
            try:
                if request.form.get("action") == "preview":
                    result = services.preview(
                        vendor=vendor,
                        period_start=form.period_start.data,
                        period_end=form.period_end.data,
                        strata=values["strata"],
                        size=values["size"],
                        margin=values["margin"],
                        confidence=values["confidence"],
                    )
                    status = 200
                else:
                    sample = services.draw_sample(
                        vendor=vendor,
                        period_start=form.period_start.data,
                        period_end=form.period_end.data,
                        seed=form.seed.data or None,
                        plan=plan,
                        actor=current_user,
                        **values,
                    )
                    db.session.commit()
                    flash(
                        f"Drew sample #{sample.id}: {len(sample.items)} items of "
                        f"{sample.population} decisions. Seed {sample.seed}.",
                        "success",
                    )
                    return redirect(url_for("sampling.detail", sample_id=sample.id))
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
    return render_template("sampling/draw.html", form=form, plan=plan, result=result), status


@bp.get("/preview")
@access(LEAD)
def preview():
    """n and the margin it buys for the draw form's current values (JSON)."""
    args = request.args
    vendor = _vendor_by_code(args.get("vendor"))
    if vendor is None:
        return jsonify(error="Choose a vendor."), 400
    margin = None
    if args.get("size_mode", "margin") == "margin":
        try:
            from app.sampling.forms import parse_margin_percent

            margin = parse_margin_percent(args.get("margin"))
        except ValueError as err:
            return jsonify(error=str(err)), 400
    size = args.get("size") if args.get("size_mode") == "size" else None
    strata = [s for s in services.STRATUM_FIELDS if s in args.getlist("strata")]
    try:
        result = services.preview(
            vendor=vendor,
            period_start=args.get("period_start", ""),
            period_end=args.get("period_end", ""),
            strata=strata,
            size=size,
            margin=margin,
            confidence=args.get("confidence") or None,
        )
    except ValidationFailed as err:
        db.session.rollback()
        return jsonify(error=err.message, details=err.details), 400
    return jsonify(
        population=result.population,
        size=result.size,
        margin=result.margin,
        confidence=result.confidence,
        strata=len(result.strata),
        text=render_template("sampling/_preview.html", result=result),
    )


# Plans --------------------------------------------------------------------------------


def _plan_or_404(plan_id: int) -> SamplingPlan:
    return get_or_404(SamplingPlan, plan_id, current_user)


@bp.get("/plans")
@access(STAFF)
def plans():
    status = arg_choice("status", ("active", "inactive", "all"), "active")
    stmt = sa.select(SamplingPlan).options(joinedload(SamplingPlan.vendor))
    if status == "active":
        stmt = stmt.where(SamplingPlan.active)
    elif status == "inactive":
        stmt = stmt.where(sa.not_(SamplingPlan.active))
    page = paginate(stmt.order_by(sa.func.lower(SamplingPlan.name), SamplingPlan.id))
    return render_template(
        "sampling/plans.html", page=page, status=status, margin_text=margin_to_percent_text
    )


@bp.get("/plans/<int:plan_id>")
@access(STAFF)
def plan_detail(plan_id: int):
    plan = _plan_or_404(plan_id)
    samples = paginate(
        sa.select(Sample)
        .where(Sample.plan_id == plan.id)
        .order_by(Sample.created_at.desc(), Sample.id.desc())
    )
    inspectors = users_by_ids([str(i) for i in plan.inspector_ids or []])
    return render_template(
        "sampling/plan_detail.html",
        plan=plan,
        samples=samples,
        counts=_item_counts([s.id for s in samples.items]),
        inspectors=inspectors,
        margin_text=margin_to_percent_text,
    )


def _plan_values(form: PlanForm) -> tuple[dict, list[tuple[str, str]]]:
    values, problems = form.parameters()
    values["name"] = form.name.data
    values["vendor"] = _vendor_by_code(form.vendor.data)
    return values, problems


@bp.route("/plans/new", methods=["GET", "POST"])
@access(LEAD)
def plan_create():
    form = PlanForm()
    status = 200
    if request.method == "POST":
        status = 400
        valid = form.validate_on_submit()
        values, problems = _plan_values(form)
        _apply(form, problems)
        if valid and not problems:
            try:
                plan = services.create_plan(**values, actor=current_user)
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
            else:
                db.session.commit()
                flash(f"Plan {plan.name!r} created.", "success")
                return redirect(url_for("sampling.plan_detail", plan_id=plan.id))
    return render_template("sampling/plan_form.html", form=form, plan=None), status


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@access(LEAD)
def plan_edit(plan_id: int):
    plan = _plan_or_404(plan_id)
    form = PlanForm()
    status = 200
    if request.method == "GET":
        form.fill_from_plan(plan)
        form.name.data = plan.name
        form.active.data = plan.active
    else:
        status = 400
        valid = form.validate_on_submit()
        values, problems = _plan_values(form)
        _apply(form, problems)
        if valid and not problems:
            try:
                changed = services.update_plan(
                    plan, **values, active=bool(form.active.data), actor=current_user
                )
            except (ValidationFailed, Conflict) as err:
                status = _reject(form, err)
            else:
                db.session.commit()
                flash(
                    f"Plan {plan.name!r} updated." if changed else "Nothing changed.",
                    "success" if changed else "info",
                )
                return redirect(url_for("sampling.plan_detail", plan_id=plan.id))
    return render_template("sampling/plan_form.html", form=form, plan=plan), status


# Queues -------------------------------------------------------------------------------


@bp.get("/queue")
@access(STAFF)
def queue():
    """My pending items of open samples, oldest first; leads and admins may look at
    anyone's queue."""
    who = current_user
    people = []
    if current_user.role in (ROLE_QA_LEAD, ROLE_ADMIN):
        people = services.qa_people()
        chosen = parse_id(request.args.get("inspector"))
        if chosen is not None:
            user = db.session.get(User, chosen)
            if user is None or user.role not in QA_ROLES:
                abort(404)
            who = user
    page = paginate(services.queue_statement(who))
    drafts = services.items_with_drafts([item.id for item in page.items])
    return render_template("sampling/queue.html", page=page, who=who, people=people, drafts=drafts)
