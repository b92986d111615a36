"""/decisions/import: upload a decisions CSV file, preview what it would do, confirm.

The preview is a dry run of the one ingestion path: the counts it would create, update
and leave unchanged, or every problem (line, field, message) with nothing stored. A
small file is checked and imported within the request; a large one answers at once and
is checked, then imported, by background jobs whose pages show their progress.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from app.decisions import import_files
from app.decisions.blueprint import bp
from app.decisions.forms import ImportConfirmForm, ImportUploadForm
from app.decisions.intake import (
    FIELD_HELP,
    FIELDS,
    OPTIONAL_FIELDS,
    ImportRejected,
    ImportResult,
)
from app.decisions.services import import_csv
from app.exports import attachment_headers, csv_stream
from app.extensions import db
from app.jobs import enqueue
from app.jobs.services import ERRORS_KEPT
from app.security.access import access, body_limit, signed_in
from app.security.roles import ROLE_ADMIN, ROLE_QA_LEAD
from app.web import run_service

IMPORTERS = signed_in(ROLE_ADMIN, ROLE_QA_LEAD)


def _actor():
    return current_user._get_current_object()


def _render_upload(form: ImportUploadForm, status: int = 200, **context):
    return (
        render_template(
            "decisions/import.html",
            form=form,
            fields=FIELDS,
            optional=OPTIONAL_FIELDS,
            field_help=FIELD_HELP,
            max_size=import_files.max_bytes(),
            **context,
        ),
        status,
    )


def _render_problems(upload: import_files.StoredUpload, err: ImportRejected, *, when: str):
    return _render_upload(
        ImportUploadForm(formdata=None),
        400,
        rejected=err,
        filename=upload.filename,
        when=when,
        errors_kept=ERRORS_KEPT,
    )


def _start_job(kind: str, upload: import_files.StoredUpload, title: str):
    """Check or import a large upload in the background; its job page follows it."""
    job = enqueue(kind, upload.params(), actor=_actor(), title=f"{title} of {upload.filename}")
    return redirect(url_for("jobs.detail", job_id=job.id))


def _import(
    upload: import_files.StoredUpload, *, dry_run: bool
) -> tuple[ImportResult | None, ImportRejected | None]:
    """Import an upload, all or nothing (with `dry_run`, only count what it would do):
    the result, or the rejection whose every problem the page lists.

    Not `run_service`: a rejection is not one message to flash or put on a field but a
    page of its own. A rejected import has already undone its own writes; a check is
    rolled back whatever it did, and a successful import committed."""
    try:
        result = import_csv(
            upload.path, actor=_actor(), source=f"upload {upload.filename}", dry_run=dry_run
        )
    except ImportRejected as err:
        db.session.rollback()
        return None, err
    if dry_run:
        db.session.rollback()  # a preview stores nothing
    else:
        db.session.commit()
    return result, None


@bp.route("/import", methods=["GET", "POST"])
@access(IMPORTERS)
@body_limit(import_files.upload_body_limit, import_files.too_large_message)
def import_upload():
    """Step 1: upload a file; a small one is checked at once and its preview shown."""
    form = ImportUploadForm()
    if request.method == "GET":
        return _render_upload(form)
    if not form.validate():
        return _render_upload(form, 400)
    import_files.sweep_old_uploads()
    storage = form.file.data
    stored = run_service(
        lambda: import_files.store_upload(storage.stream, storage.filename, owner=_actor()),
        form=form,
        commit=False,
    )
    if not stored.ok:
        return _render_upload(form, 413 if stored.error.status == 413 else 400)
    upload = stored.value
    if not upload.small:
        return _start_job(import_files.KIND_CHECK, upload, "Check")
    result, rejected = _import(upload, dry_run=True)
    if rejected is not None:
        import_files.discard(upload)
        return _render_problems(upload, rejected, when="check")
    counts = {"rows": result.rows, **result.counts()}
    return render_template("decisions/import_preview.html", upload=upload, result=counts)


@bp.get("/import/sample.csv")
@access(IMPORTERS)
def import_sample():
    """A small file in the import format that imports as it is: one approve and one
    reject, for a vendor and a label that exist here."""
    body = csv_stream(FIELDS, import_files.sample_rows())
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers=attachment_headers("decisions-sample.csv"),
    )


@bp.post("/import/confirm")
@access(IMPORTERS)
def import_confirm():
    """Step 2: import a previewed file (all or nothing); a large one as a job."""
    form = ImportConfirmForm()
    upload = None
    if form.validate():
        upload = import_files.find_upload(form.upload.data, _actor(), form.filename.data)
    if upload is not None:
        upload = import_files.claim(upload)
    if upload is None:
        flash(
            "That upload is no longer there (it was imported, discarded or expired). "
            "Upload the file again.",
            "warning",
        )
        return redirect(url_for("decisions.import_upload"))
    if not upload.small:
        return _start_job(import_files.KIND_IMPORT, upload, "Import")
    try:
        result, rejected = _import(upload, dry_run=False)
    finally:
        import_files.discard(upload)
    if rejected is not None:
        # The data changed since the preview (say, a decision was sampled meanwhile).
        return _render_problems(upload, rejected, when="import")
    flash(
        f"Imported {upload.filename}: {result.created:,} created, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged.",
        "success",
    )
    return redirect(url_for("decisions.index"))


@bp.post("/import/discard")
@access(IMPORTERS)
def import_discard():
    """Abandon a previewed file: it is deleted and nothing is imported."""
    form = ImportConfirmForm()
    if form.validate():
        import_files.discard(
            import_files.find_upload(form.upload.data, _actor(), form.filename.data)
        )
    flash("The uploaded file was discarded; nothing was imported.", "info")
    return redirect(url_for("decisions.import_upload"))


@bp.app_template_global()
def import_upload_available(job) -> bool:
    """Whether a check job's file still waits for its import (for the job page)."""
    return import_files.job_upload_available(job)
