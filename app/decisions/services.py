"""Entry points of decision intake for the doors: the API, the command line, the
CSV upload and its background job. Each calls the one ingestion path
(`app.decisions.intake.import_decisions`); like every service they flush but
never commit, and the caller rolls back on `ImportRejected`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any

from app.decisions.intake import (
    DEFAULT_ERROR_CAP,
    MAX_API_ROWS,
    ImportRejected,
    ImportResult,
    Progress,
    import_decisions,
    iter_csv,
    open_csv,
)
from app.errors import DomainError

__all__ = [
    "ImportRejected",
    "ImportResult",
    "NotDecisions",
    "TooManyRows",
    "import_api_rows",
    "import_csv",
    "open_csv",
]


class NotDecisions(DomainError):
    """The API body is neither a JSON array of decisions nor `{"decisions": [...]}`."""


class TooManyRows(DomainError):
    """More rows than one API request may carry (use the CSV import instead)."""

    status = 413
    code = "too_large"


def import_api_rows(payload: Any, *, actor: Any) -> ImportResult:
    """Import the body of `POST /api/v1/decisions`: a JSON array of decision
    objects, or `{"decisions": [...]}`. Errors name rows by their 0-based index."""
    if isinstance(payload, dict) and set(payload) == {"decisions"}:
        payload = payload["decisions"]
    if not isinstance(payload, list):
        raise NotDecisions('Send a JSON array of decisions (or {"decisions": [...]}).')
    if len(payload) > MAX_API_ROWS:
        raise TooManyRows(
            f"At most {MAX_API_ROWS:,} decisions a request (got {len(payload):,}); "
            "import larger loads as a CSV file."
        )
    return import_decisions(payload, actor=actor, source="api", locate="index")


def import_csv(
    file: str | Path | IO[str] | IO[bytes],
    *,
    actor: Any = None,
    source: str | None = None,
    progress: Progress | None = None,
    error_cap: int = DEFAULT_ERROR_CAP,
    dry_run: bool = False,
) -> ImportResult:
    """Import a decisions CSV file (a path, a text file or a binary file object).
    Errors name rows by their file line; a bad header is a line-1 error."""
    if isinstance(file, str | Path):
        with open_csv(file) as handle:
            return import_csv(
                handle,
                actor=actor,
                source=source or f"file {Path(file).name}",
                progress=progress,
                error_cap=error_cap,
                dry_run=dry_run,
            )
    if isinstance(file, io.RawIOBase | io.BufferedIOBase) or "b" in getattr(file, "mode", ""):
        file = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
    return import_decisions(
        iter_csv(file),  # type: ignore[arg-type]
        actor=actor,
        source=source or "file",
        locate="line",
        progress=progress,
        error_cap=error_cap,
        dry_run=dry_run,
    )
