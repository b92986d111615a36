"""API: background jobs, and CSV imports that run as jobs.

`POST /decisions/imports` takes a decisions CSV file (multipart upload), answers 202
with the job at once, and the job imports the file all-or-nothing; `GET /jobs/<id>`
follows it to its result or its row errors.
"""

from __future__ import annotations

from flask import url_for
from flask_login import current_user
from flask_smorest.fields import Upload
from marshmallow import Schema, fields

from app.api import bp
from app.api.routes import document_errors
from app.api.schemas import ErrorDetailSchema
from app.decisions import import_files
from app.jobs import enqueue
from app.jobs.queries import current_job, job_status
from app.security.access import access, api, body_limit
from app.security.public_ids import public_id
from app.security.roles import (
    ROLE_ADMIN,
    ROLE_INTEGRATION,
    ROLE_QA_LEAD,
    SCOPE_DECISIONS_WRITE,
    SCOPE_READ,
)


class JobSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    state = fields.String(
        required=True, metadata={"enum": ["queued", "running", "succeeded", "failed"]}
    )
    progress = fields.Integer(required=True, metadata={"description": "Rows (items) done"})
    total = fields.Integer(required=True, allow_none=True)
    stage = fields.String(required=True)
    result = fields.Dict(
        required=True,
        allow_none=True,
        metadata={"description": "For an import: rows, created, updated, unchanged"},
    )
    errors = fields.List(
        fields.Nested(ErrorDetailSchema),
        required=True,
        allow_none=True,
        metadata={"description": "The first row errors of a rejected file"},
    )
    total_errors = fields.Integer(required=True)
    message = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)


class ImportUploadSchema(Schema):
    file = Upload(
        required=True,
        metadata={"description": "A decisions CSV file: UTF-8, a header of API field names"},
    )


class ImportAcceptedSchema(Schema):
    job = fields.Integer(required=True, metadata={"description": "The job's id"})
    state = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "Where to follow the job"})


@bp.route("/decisions/imports", methods=["POST"])
@access(api(SCOPE_DECISIONS_WRITE, ROLE_ADMIN, ROLE_QA_LEAD, ROLE_INTEGRATION))
@body_limit(import_files.upload_body_limit, import_files.too_large_message)
@bp.arguments(ImportUploadSchema, location="files")
@bp.response(
    202,
    ImportAcceptedSchema,
    headers={"Location": {"description": "The job's URL", "schema": {"type": "string"}}},
)
@document_errors(
    (413, "The file is larger than the import limit"),
    (422, "Not a decisions CSV file (binary, not UTF-8, wrong header, no rows)"),
)
def create_decision_import(files):
    """Import a decisions CSV file as a background job (all or nothing).

    Answers at once with the job; follow it at `url` (also the Location header) until
    its state is `succeeded` (with the counts) or `failed` (with the row errors)."""
    import_files.sweep_old_uploads()
    storage = files["file"]
    user = current_user._get_current_object()
    upload = import_files.store_upload(storage.stream, storage.filename, owner=user, claimed=True)
    job = enqueue(
        import_files.KIND_IMPORT,
        upload.params(),
        actor=user,
        title=f"Import of {upload.filename}",
    )
    url = url_for("api.get_job", job_id=job.id)
    return {"job": public_id(job.id), "state": job.state, "url": url}, 202, {"Location": url}


@bp.route("/jobs/<ref:job_id>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, JobSchema)
@document_errors((404, "No such job, or not one this token's user may see"))
def get_job(job_id: int):
    """A background job: its state, progress, and at the end its result or row errors.

    Visible to the user who started it, admins and QA leads. A job whose worker stopped
    (the server restarted or crashed) answers `failed` with a message saying so."""
    job = current_job(job_id, current_user)
    status = job_status(job)
    return {
        "id": public_id(job.id),
        "kind": job.kind,
        "state": job.state,
        "progress": status["progress"],
        "total": status["total"],
        "stage": status["stage"],
        "result": job.result,
        "errors": job.errors,
        "total_errors": job.total_errors,
        "message": job.message,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }
