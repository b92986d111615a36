"""/sampling pages: samples and their items, drawing (from a plan or ad hoc), plans,
and each inspector's queue.

Everyone signed in reads samples; vendor users see only their own vendor's closed
samples (DESIGN §1, `app.security.scoping`). Only QA leads draw and change samples and
plans; admins and inspectors may read plans and queues. Reads are in `queries.py`.
"""

from __future__ import annotations

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
from werkzeug.routing import BuildError

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Decision, Sample, SampleItem, SamplingPlan
from app.models.enums import SAMPLE_ITEM_STATES, SAMPLE_PURPOSES, SAMPLE_STATES
from app.sampling import algorithm, queries
from app.sampling.forms import (
    AssignForm,
    CancelForm,
    DrawForm,
    PlanForm,
    ReassignForm,
    SkipForm,
    margin_to_percent_text,
    parse_margin_percent,
)
from app.sampling.services import draws, items, plans
from app.sampling.services.checks import STRATUM_FIELD_NAMES, STRATUM_FIELDS
from app.security.access import access, blueprint_policy, signed_in
from app.security.predicates import can_edit_sample, can_inspect, can_see_all_queues
from app.security.public_ids import public_id
from app.security.roles import ROLE_ADMIN, ROLE_QA_INSPECTOR, ROLE_QA_LEAD
from app.security.scoping import get_or_404, vendor_or_404, visible_vendors
from app.web import arg_choice, paginate, parse_id, run_service

bp = Blueprint("sampling", __name__, url_prefix="/sampling")
blueprint_policy(bp, signed_in())

LEAD = signed_in(ROLE_QA_LEAD)
STAFF = signed_in(ROLE_ADMIN, ROLE_QA_LEAD, ROLE_QA_INSPECTOR)
ITEMS_PER_PAGE = 50


# Helpers ------------------------------------------------------------------------------


def _sample_or_404(sample_id: int) -> Sample:
    return get_or_404(Sample, sample_id, current_user)


def _item_or_404(sample: Sample, item_id: int) -> SampleItem:
    item = get_or_404(SampleItem, item_id, current_user)
    if item.sample_id != sample.id:
        abort(404)
    return item


def _to_sample(sample: Sample):
    return redirect(url_for("sampling.detail", sample_id=sample.id))


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


@bp.context_processor
def _helpers():
    return {"decision_link": decision_link, "stratum_names": STRATUM_FIELD_NAMES}


def _apply(form, problems: list[tuple[str, str]]) -> None:
    for name, message in problems:
        form[name].errors = [*form[name].errors, message]


# Samples ------------------------------------------------------------------------------


@bp.get("/")
def index():
    """The samples the user may see, newest first, with filters."""
    vendor_code = (request.args.get("vendor") or "").strip()
    state = arg_choice("state", SAMPLE_STATES, "")
    purpose = arg_choice("purpose", SAMPLE_PURPOSES, "")
    # A vendor the user may not see is a 404, as for any other vendor-owned object.
    vendor = vendor_or_404(vendor_code[:20], current_user) if vendor_code else None
    page = paginate(
        queries.newest_samples(current_user, vendor=vendor, state=state, purpose=purpose)
    )
    return render_template(
        "sampling/index.html",
        page=page,
        counts=queries.item_counts_by_sample(s.id for s in page.items),
        vendors=visible_vendors(current_user),
        vendor_code=vendor.code if vendor else "",
        state=state,
        purpose=purpose,
        filtered=bool(vendor or state or purpose),
    )


@bp.get("/<ref:sample_id>")
def detail(sample_id: int):
    """A sample, its figures and its items (a QA lead also acts on them here)."""
    sample = _sample_or_404(sample_id)
    status = arg_choice("status", SAMPLE_ITEM_STATES, "")
    stratum = (request.args.get("stratum") or "")[:255]
    if stratum not in (sample.per_stratum or {}):
        stratum = ""
    page = paginate(queries.items(sample, status=status, stratum=stratum), ITEMS_PER_PAGE)
    drawn = sum(v.get("allocated", 0) for v in (sample.per_stratum or {}).values())
    editable = can_edit_sample(current_user, sample)
    return render_template(
        "sampling/detail.html",
        sample=sample,
        items=page,
        counts=queries.item_counts(sample),
        drawn=drawn,
        margin_bought=algorithm.margin_of_error(
            drawn, sample.population, sample.confidence or algorithm.DEFAULT_CONFIDENCE
        ),
        status=status,
        stratum=stratum,
        editable=editable,
        assign_form=AssignForm(formdata=None) if editable else None,
        inspectors=queries.assignable_inspectors() if editable else [],
        creator=queries.user_by_id(sample.created_by_id),
    )


@bp.post("/<ref:sample_id>/assign")
@access(LEAD)
def assign(sample_id: int):
    """Deal the pending items to the chosen inspectors in turn."""
    sample = _sample_or_404(sample_id)
    form = AssignForm()
    items.require_open(sample)  # a sample no longer open is the 409 page
    done = run_service(
        lambda: items.assign_round_robin(
            sample,
            queries.users_by_ids(form.inspectors.data or []),
            only_unassigned=bool(form.only_unassigned.data),
            actor=current_user,
        )
    )
    if done.ok:
        count = done.value
        flash(f"Assigned {count} pending item{'s' if count != 1 else ''} round-robin.", "success")
    return _to_sample(sample)


@bp.post("/<ref:sample_id>/items/<ref:item_id>/reassign")
@access(LEAD)
def reassign(sample_id: int, item_id: int):
    """Give one pending item to another inspector, or to nobody."""
    sample = _sample_or_404(sample_id)
    item = _item_or_404(sample, item_id)
    form = ReassignForm()
    user = None
    if form.assignee.data:
        user = queries.user_by_id(parse_id(form.assignee.data))
        if user is None:
            flash("Choose an inspector from the list.", "danger")
            return _to_sample(sample)
    items.require_movable(item)  # an item no longer pending is the 409 page
    done = run_service(lambda: items.reassign_item(item, user, actor=current_user))
    if done.ok and done.value:
        flash(
            f"Item #{public_id(item.id)} "
            + (f"assigned to {user.name}." if user else "unassigned."),
            "success",
        )
    elif done.ok:
        flash("Nothing changed.", "info")
    return _to_sample(sample)


@bp.post("/<ref:sample_id>/items/<ref:item_id>/skip")
@access(LEAD)
def skip(sample_id: int, item_id: int):
    """Skip a pending item with a reason; its replacement joins the sample."""
    sample = _sample_or_404(sample_id)
    item = _item_or_404(sample, item_id)
    form = SkipForm()
    if not form.validate():
        flash("Say why the item is skipped (up to 500 characters).", "danger")
        return _to_sample(sample)
    items.require_skippable(item)  # an item no longer pending is the 409 page
    done = run_service(lambda: items.skip_item(item, form.reason.data, actor=current_user))
    if not done.ok:
        return _to_sample(sample)
    replacement = done.value
    if replacement is not None:
        flash(
            f"Item #{public_id(item.id)} skipped; replaced by {replacement.decision.external_id} "
            f"(rank {replacement.rank} of {replacement.stratum or 'the population'}).",
            "success",
        )
    else:
        flash(
            f"Item #{public_id(item.id)} skipped; its stratum has no decision left to replace it.",
            "warning",
        )
    return _to_sample(sample)


@bp.post("/<ref:sample_id>/close")
@access(LEAD)
def close(sample_id: int):
    """Close a sample whose items are all done."""
    sample = _sample_or_404(sample_id)
    items.close_sample(sample, actor=current_user)  # Conflict → 409 page
    db.session.commit()
    flash(f"Sample #{public_id(sample.id)} closed.", "success")
    return _to_sample(sample)


@bp.post("/<ref:sample_id>/cancel")
@access(LEAD)
def cancel(sample_id: int):
    """Cancel an open sample (its decisions may be drawn again)."""
    sample = _sample_or_404(sample_id)
    form = CancelForm()
    if not form.validate():
        flash("Keep the reason to 500 characters.", "danger")
        return _to_sample(sample)
    items.cancel_sample(sample, form.reason.data or "", actor=current_user)  # not open → 409
    db.session.commit()
    flash(f"Sample #{public_id(sample.id)} cancelled; its decisions may be drawn again.", "success")
    return _to_sample(sample)


# Drawing ------------------------------------------------------------------------------


@bp.route("/draw", methods=["GET", "POST"])
@access(LEAD)
def draw():
    """The draw form: preview what a draw would take, or draw."""
    form = DrawForm()
    plan = queries.active_plan(
        parse_id(request.values.get("plan_id") or request.args.get("plan")), current_user
    )
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
            vendor = queries.vendor_by_code(form.vendor.data, current_user)
            period = {"period_start": form.period_start.data, "period_end": form.period_end.data}
            if request.form.get("action") == "preview":
                done = run_service(
                    lambda: draws.preview(
                        vendor=vendor,
                        **period,
                        strata=values["strata"],
                        size=values["size"],
                        margin=values["margin"],
                        confidence=values["confidence"],
                    ),
                    form=form,
                    commit=False,
                )
                result, status = done.value, done.status
            else:
                done = run_service(
                    lambda: draws.draw_sample(
                        vendor=vendor,
                        **period,
                        seed=form.seed.data or None,
                        plan=plan,
                        actor=current_user,
                        **values,
                    ),
                    form=form,
                )
                if done.ok:
                    sample = done.value
                    flash(
                        f"Drew sample #{public_id(sample.id)}: {len(sample.items)} items of "
                        f"{sample.population} decisions. Seed {sample.seed}.",
                        "success",
                    )
                    return _to_sample(sample)
                status = done.status
    return render_template("sampling/draw.html", form=form, plan=plan, result=result), status


@bp.get("/preview")
@access(LEAD)
def preview():
    """n and the margin it buys for the draw form's current values (JSON)."""
    args = request.args
    vendor = queries.vendor_by_code(args.get("vendor"), current_user)
    if vendor is None:
        return jsonify(error="Choose a vendor."), 400
    margin = None
    if args.get("size_mode", "margin") == "margin":
        try:
            margin = parse_margin_percent(args.get("margin"))
        except ValueError as err:
            return jsonify(error=str(err)), 400
    size = args.get("size") if args.get("size_mode") == "size" else None
    strata = [s for s in STRATUM_FIELDS if s in args.getlist("strata")]
    try:  # a preview only reads: there is nothing to roll back
        result = draws.preview(
            vendor=vendor,
            period_start=args.get("period_start", ""),
            period_end=args.get("period_end", ""),
            strata=strata,
            size=size,
            margin=margin,
            confidence=args.get("confidence") or None,
        )
    except ValidationFailed as err:
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


@bp.get("/plans", endpoint="plans")
@access(STAFF)
def plan_list():
    """Sampling plans, active ones by default."""
    status = arg_choice("status", queries.PLAN_STATUSES, "active")
    return render_template(
        "sampling/plans.html",
        page=paginate(queries.plans(current_user, status)),
        status=status,
        margin_text=margin_to_percent_text,
    )


@bp.get("/plans/<id:plan_id>")
@access(STAFF)
def plan_detail(plan_id: int):
    """A plan and the samples drawn from it."""
    plan = _plan_or_404(plan_id)
    samples = paginate(queries.plan_samples(plan, current_user))
    return render_template(
        "sampling/plan_detail.html",
        plan=plan,
        samples=samples,
        counts=queries.item_counts_by_sample(s.id for s in samples.items),
        inspectors=queries.users_by_ids(plan.inspector_ids or []),
        margin_text=margin_to_percent_text,
    )


def _plan_values(form: PlanForm) -> tuple[dict, list[tuple[str, str]]]:
    values, problems = form.parameters()
    values["name"] = form.name.data
    values["vendor"] = queries.vendor_by_code(form.vendor.data, current_user)
    _apply(form, problems)
    return values, problems


@bp.route("/plans/new", methods=["GET", "POST"])
@access(LEAD)
def plan_create():
    """A new plan."""
    form = PlanForm()
    status = 200
    if request.method == "POST":
        status = 400
        valid = form.validate_on_submit()
        values, problems = _plan_values(form)
        if valid and not problems:
            done = run_service(lambda: plans.create_plan(**values, actor=current_user), form=form)
            if done.ok:
                flash(f"Plan {done.value.name!r} created.", "success")
                return redirect(url_for("sampling.plan_detail", plan_id=done.value.id))
            status = done.status
    return render_template("sampling/plan_form.html", form=form, plan=None), status


@bp.route("/plans/<id:plan_id>/edit", methods=["GET", "POST"])
@access(LEAD)
def plan_edit(plan_id: int):
    """Change a plan (or deactivate it)."""
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
        if valid and not problems:
            done = run_service(
                lambda: plans.update_plan(
                    plan, **values, active=bool(form.active.data), actor=current_user
                ),
                form=form,
            )
            if done.ok:
                flash(
                    f"Plan {plan.name!r} updated." if done.value else "Nothing changed.",
                    "success" if done.value else "info",
                )
                return redirect(url_for("sampling.plan_detail", plan_id=plan.id))
            status = done.status
    return render_template("sampling/plan_form.html", form=form, plan=plan), status


# Queues -------------------------------------------------------------------------------


@bp.get("/queue")
@access(STAFF)
def queue():
    """My pending items of open samples, oldest first; leads and admins may look at
    anyone's queue."""
    who = current_user
    people = []
    if can_see_all_queues(current_user):
        people = queries.assignable_inspectors()
        chosen = parse_id(request.args.get("inspector"))
        if chosen is not None:
            who = queries.user_by_id(chosen)
            if who is None or not can_inspect(who):
                abort(404)
    page = paginate(queries.queue_statement(who))
    drafts = queries.items_with_drafts([item.id for item in page.items])
    return render_template(
        "sampling/queue.html",
        page=page,
        who=who,
        people=people,
        drafts=drafts,
        progress=queries.queue_progress(who),
    )
