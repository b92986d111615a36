"""/jobs pages: a job's progress and outcome, and the list of one's recent jobs."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user

from app.jobs import queries, services
from app.models.job import JOB_STATES
from app.security.access import blueprint_policy, signed_in
from app.security.scoping import can_see_all_jobs
from app.web import arg_choice, paginate

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
blueprint_policy(bp, signed_in())


@bp.get("/")
def index():
    """My recent jobs (everyone's, for admins and QA leads who ask), newest first."""
    may_see_all = can_see_all_jobs(current_user)
    whose = arg_choice("whose", ("mine", "all"), "mine") if may_see_all else "mine"
    state = arg_choice("state", JOB_STATES, "")
    page = paginate(queries.job_list(current_user, everyone=whose == "all", state=state))
    return render_template(
        "jobs/index.html",
        page=page,
        whose=whose,
        state=state,
        states=[(s, s.capitalize()) for s in JOB_STATES],
        may_see_all=may_see_all,
        filtered=bool(state) or whose != "mine",
        job_kind=services.job_kind,
    )


@bp.get("/<ref:job_id>")
def detail(job_id: int):
    """A job: progress while it runs (the page polls its status), then the result or
    the row errors."""
    job = queries.current_job(job_id, current_user)
    return render_template(
        "jobs/detail.html",
        job=job,
        kind=services.job_kind(job.kind),
        status=queries.job_status(job),
        errors_kept=services.ERRORS_KEPT,
    )


@bp.get("/<ref:job_id>.json")
def status(job_id: int):
    """The job's state and progress, for the job page to poll while it runs."""
    job = queries.current_job(job_id, current_user)
    return jsonify(queries.job_status(job))


@bp.app_template_filter("job_state_class")
def job_state_class(state: str) -> str:
    """The Bootstrap colour of a job state's badge."""
    return {
        "queued": "secondary",
        "running": "primary",
        "succeeded": "success",
        "failed": "danger",
    }.get(state, "secondary")
