"""What an import tells its caller: the counts of what it did (`ImportResult`), or the
problems that stopped it (`ImportRejected`), and how it reports its progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.errors import ValidationFailed

# An import lists at most this many problems (and counts them all).
DEFAULT_ERROR_CAP = 100

# progress(rows_done, phase): phases "reading", "checking", "writing" and "done".
Progress = Callable[[int, str], None]


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        """The API answer: {"created", "updated", "unchanged"}."""
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


class ImportRejected(ValidationFailed):
    """Some rows are not valid; nothing was stored.

    `errors` are the first problems in row order, each
    `{"index" or "line": n, "field": name or None, "message": text}`;
    `total_errors` counts them all (the list is capped).
    """

    def __init__(self, errors: list[dict], total_errors: int, message: str | None = None):
        self.errors = errors
        self.total_errors = total_errors
        super().__init__(message or _rejection_message(errors, total_errors), errors)


def _rejection_message(errors: list[dict], total: int) -> str:
    shown = f" (the first {len(errors)} are listed)" if total > len(errors) else ""
    noun = "problem" if total == 1 else "problems"
    return f"Nothing was imported: {total} {noun} found{shown}."
