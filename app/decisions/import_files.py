"""Uploaded decision CSV files: checked by content, kept under `UPLOAD_DIR/imports/` with
generated names until they are imported or abandoned, and the background jobs that
check (dry run) or import a large one.

A stored file is named `<owner id>-<random token>.csv`, so only the person who
uploaded it can refer to it, by its token. Confirming its import first renames it to
`….importing` (one rename wins: a double-clicked confirmation imports once). It is
deleted when its import finishes, when a check finds problems, when its owner discards
it, when the job checking or importing it is found dead (its worker stopped: see
app.jobs.services), and otherwise after `IMPORT_UPLOAD_TTL` seconds (swept at the next
upload).
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from flask import current_app

from app.database import utcnow
from app.decisions.intake import FIELDS, REQUIRED_FIELDS, ImportRejected
from app.decisions.services import import_csv
from app.errors import ValidationFailed
from app.extensions import db
from app.jobs import JobFailed, register
from app.models import Job, Label, User, Vendor
from app.security.access import size_text

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# Files this small are checked and imported within the request; larger ones as jobs.
DEFAULT_INLINE_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_INLINE_MAX_ROWS = 20_000
DEFAULT_TTL = 24 * 3600
CHUNK = 1024 * 1024
# Room for the multipart envelope and the form's other fields around the file.
ENVELOPE_BYTES = 64 * 1024
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
NOT_CSV = (
    "This is not a CSV text file ({reason}). Export the decisions as CSV with UTF-8 "
    "encoding and upload that file."
)

KIND_CHECK = "decisions.import_check"
KIND_IMPORT = "decisions.import"


class UploadRefused(ValidationFailed):
    """The uploaded file cannot be imported at all (not CSV text, wrong header, …)."""

    def __init__(self, message: str):
        super().__init__(message, [{"field": "file", "message": message}])


class UploadTooLarge(UploadRefused):
    status = 413
    code = "too_large"


def max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def too_large_message() -> str:
    return f"The file is larger than the import limit of {size_text(max_bytes())}."


def upload_body_limit() -> int:
    """The body an import upload may carry: the file and its multipart envelope. Granted
    only to requests that passed the import's access policy (`body_limit`)."""
    return max_bytes() + ENVELOPE_BYTES


@dataclass(frozen=True)
class StoredUpload:
    """A checked CSV file waiting for its import."""

    token: str
    owner_id: int
    filename: str  # as the uploader named it; for display only
    size: int
    rows: int  # lines below the header (a quoted field may span lines: an estimate)
    claimed: bool = False  # taken by its import

    @property
    def path(self) -> Path:
        return upload_path(self.owner_id, self.token, claimed=self.claimed)

    @property
    def small(self) -> bool:
        """Small enough to check and import within a request."""
        config = current_app.config
        return self.size <= int(
            config.get("IMPORT_INLINE_MAX_BYTES") or DEFAULT_INLINE_MAX_BYTES
        ) and self.rows <= int(config.get("IMPORT_INLINE_MAX_ROWS") or DEFAULT_INLINE_MAX_ROWS)

    def params(self) -> dict:
        """What a job needs to find the file again."""
        return {
            "upload": self.token,
            "owner": self.owner_id,
            "filename": self.filename,
            "size": self.size,
            "rows": self.rows,
            "claimed": self.claimed,
        }


def imports_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "imports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def upload_path(owner_id: int, token: str, *, claimed: bool = False) -> Path:
    return imports_dir() / f"{int(owner_id)}-{token}.{'importing' if claimed else 'csv'}"


def clean_filename(name: str | None) -> str:
    """The uploader's file name, reduced to something safe to show and store."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:200] or "upload.csv"


def store_upload(
    stream: IO[bytes], filename: str | None, *, owner: User, claimed: bool = False
) -> StoredUpload:
    """Check an uploaded file by its content while copying it to the imports folder.

    Refuses (UploadRefused; UploadTooLarge past the limit) binary files, text that is
    not UTF-8, a header that is not the decisions CSV header, and a file without rows.
    Nothing is left on disk when the file is refused. `claimed`: stored as taken by
    an import that starts at once (no preview to confirm).
    """
    limit = max_bytes()
    token = secrets.token_hex(16)
    final = upload_path(owner.id, token, claimed=claimed)
    partial = final.with_suffix(".part")
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = lines = 0
    head: bytes | None = b""  # the start of the file until its header is checked
    last = b""
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(too_large_message())
                if b"\x00" in chunk:
                    raise UploadRefused(NOT_CSV.format(reason="it contains binary data"))
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    raise UploadRefused(NOT_CSV.format(reason="it is not UTF-8 text")) from None
                if head is not None:
                    head += chunk
                    if b"\n" in head or len(head) >= CHUNK:
                        _check_header(head)
                        head = None
                lines += chunk.count(b"\n")
                last = chunk[-1:]
                out.write(chunk)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise UploadRefused(NOT_CSV.format(reason="it is not UTF-8 text")) from None
        if size == 0:
            raise UploadRefused("The file is empty.")
        if head is not None:  # a file of one line without a line break
            _check_header(head)
        if last != b"\n":
            lines += 1  # the last line has no line break
        rows = lines - 1
        if rows <= 0:
            raise UploadRefused("The file has a header but no decisions below it.")
        partial.rename(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return StoredUpload(token, owner.id, clean_filename(filename), size, rows, claimed)


def _check_header(head: bytes) -> None:
    """Refuse a file whose first line is not the decisions CSV header (any order;
    optional columns may be left out)."""
    first = head.split(b"\n", 1)[0][:CHUNK].decode("utf-8", errors="ignore")
    first = first.removeprefix("\ufeff").rstrip("\r")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        header = []
    names = [name.strip() for name in header]
    expected = ", ".join(FIELDS)
    if not any(names):
        raise UploadRefused(f"The first line must be the header: {expected}.")
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    unknown = [name for name in names if name not in FIELDS]
    doubled = sorted({name for name in names if names.count(name) > 1})
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        problems.append("unknown " + shown + (" …" if len(unknown) > 5 else ""))
    if doubled:
        problems.append("named twice " + ", ".join(doubled))
    if problems:
        raise UploadRefused(
            f"The header is not the decisions CSV header ({'; '.join(problems)}). "
            f"The first line must name the columns {expected}."
        )


def find_upload(token: str | None, owner: User, filename: str | None = None) -> StoredUpload | None:
    """The stored upload `token` of `owner`, or None (unknown, someone else's, gone)."""
    if not token or not _TOKEN.match(token) or owner.id is None:
        return None
    path = upload_path(owner.id, token)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    with path.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(CHUNK), b""))
        fh.seek(max(size - 1, 0))
        if fh.read(1) != b"\n":
            lines += 1
    return StoredUpload(token, owner.id, clean_filename(filename), size, lines - 1)


def claim(upload: StoredUpload) -> StoredUpload | None:
    """Take a waiting upload for its import; None when it was taken (or discarded)
    meanwhile. The rename is atomic, so of two confirmations only one gets the file."""
    claimed = replace(upload, claimed=True)
    try:
        upload.path.rename(claimed.path)
    except FileNotFoundError:
        return None
    return claimed


def discard(upload: StoredUpload | None) -> None:
    """Delete an upload's file (imported or abandoned)."""
    if upload is not None:
        upload.path.unlink(missing_ok=True)


def sweep_old_uploads(now: float | None = None) -> int:
    """Delete uploads (and broken partial copies) older than `IMPORT_UPLOAD_TTL`."""
    ttl = int(current_app.config.get("IMPORT_UPLOAD_TTL") or DEFAULT_TTL)
    cutoff = (now if now is not None else time.time()) - ttl
    removed = 0
    for path in imports_dir().iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process swept it first
            continue
    return removed


# Jobs ----------------------------------------------------------------------------------


def _job_upload(job: Job) -> StoredUpload:
    params = job.params or {}
    token, owner_id = params.get("upload"), params.get("owner")
    if not (isinstance(token, str) and _TOKEN.match(token) and isinstance(owner_id, int)):
        raise JobFailed("This job does not name an uploaded file.")
    upload = StoredUpload(
        token,
        owner_id,
        clean_filename(params.get("filename")),
        int(params.get("size") or 0),
        int(params.get("rows") or 0),
        claimed=bool(params.get("claimed")),
    )
    if not upload.path.exists():
        raise JobFailed(
            "The uploaded file is no longer there (it was imported, discarded or expired). "
            "Upload it again."
        )
    return upload


def _run_import(job: Job, report_progress, *, dry_run: bool) -> dict:
    upload = _job_upload(job)
    report_progress(0, "reading", total=upload.rows)
    try:
        result = import_csv(
            upload.path,
            actor=job.created_by,
            source=f"upload {upload.filename}",
            progress=lambda done, stage: report_progress(done, stage),
            dry_run=dry_run,
        )
    except ImportRejected as err:
        discard(upload)  # nothing to confirm: the file must be fixed first
        raise JobFailed(err.message, err.errors, err.total_errors) from None
    except BaseException:
        discard(upload)
        raise
    if dry_run:
        db.session.rollback()  # a check stores nothing, whatever the dry run flushed
    else:
        discard(upload)
    report_progress(result.rows, "done", total=result.rows)
    return {
        "rows": result.rows,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }


RETRY = "Nothing was imported; upload the file again."


def remove_job_upload(params: dict) -> None:
    """Delete the file of a check or import job whose worker died (waiting or taken)."""
    token, owner_id = params.get("upload"), params.get("owner")
    if isinstance(token, str) and _TOKEN.match(token) and isinstance(owner_id, int):
        for claimed in (False, True):
            upload_path(owner_id, token, claimed=claimed).unlink(missing_ok=True)


@register(
    KIND_CHECK,
    label="Decisions CSV check",
    template="decisions/import_job.html",
    unit="rows",
    noun="check",
    retry=RETRY,
    cleanup=remove_job_upload,
)
def check_job(job: Job, report_progress) -> dict:
    """Check a large upload without storing anything: what it would create, update
    and leave unchanged, or every problem. The file stays for the import."""
    return _run_import(job, report_progress, dry_run=True)


@register(
    KIND_IMPORT,
    label="Decisions CSV import",
    template="decisions/import_job.html",
    unit="rows",
    noun="import",
    retry=RETRY,
    cleanup=remove_job_upload,
)
def import_job(job: Job, report_progress) -> dict:
    """Import an uploaded file (all or nothing); the file is deleted afterwards."""
    return _run_import(job, report_progress, dry_run=False)


def job_upload_available(job: Job) -> bool:
    """Whether a check job's file still waits for its import."""
    try:
        _job_upload(job)
    except JobFailed:
        return False
    return True


def sample_rows() -> list[list[str]]:
    """Two rows in the import format (FIELDS order) that import as they are here: an
    approve and a reject of a listing, for the first vendor and an active listing label."""
    vendor = db.session.scalar(sa.select(Vendor.code).order_by(Vendor.code).limit(1)) or "ACME"
    label = db.session.scalar(
        sa.select(Label.code)
        .where(Label.policy_area == "listing", Label.active.is_(True))
        .order_by(Label.code)
        .limit(1)
    )
    decided = (utcnow() - timedelta(hours=2)).replace(microsecond=0).isoformat()
    common = {
        "vendor": vendor,
        "moderator_id": f"{vendor}-MOD-001",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "decided_at": decided,
    }
    rows = [
        {
            **common,
            "external_id": f"{vendor.lower()}-sample-0001",
            "item_id": "LIS-0000001",
            "item_url": "https://marketplace.example/items/LIS-0000001",
            "context": json.dumps({"title": "Wireless earbuds", "price": "19.99"}),
            "decision": "approve",
            "labels": "",
        },
        {
            **common,
            "external_id": f"{vendor.lower()}-sample-0002",
            "item_id": "LIS-0000002",
            "item_url": "",
            "context": "",
            "decision": "reject",
            "labels": label or "",
        },
    ]
    return [[row[name] for name in FIELDS] for row in rows]
