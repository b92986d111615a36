"""`import_decisions`: the one ingestion path for moderation decisions, all or nothing.

Pass 1 streams the rows: each is checked in Python (`RowChecker`, reference data in
dicts) and its normalised values go to the staging writer a chunk at a time, which
stores new decisions while the next chunk is read. Then SQL answers what needs every
row (`changes`), the changed decisions are updated, and one audit event records the
import. All of it runs inside a savepoint that is rolled back if any problem turns up,
so a rejected import leaves nothing behind. It flushes but never commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.decisions.intake import changes
from app.decisions.intake.outcome import (
    DEFAULT_ERROR_CAP,
    ImportRejected,
    ImportResult,
    Progress,
)
from app.decisions.intake.staging import STAGE_COLUMNS, ChunkWriter, Staging
from app.decisions.intake.validation import RowChecker
from app.errors import Conflict

# Duplicate external_ids are found without holding every id: a fixed 16 MB Bloom filter
# (two bit positions per id) flags ids that may have been seen; only those are checked
# in SQL. At a million rows it flags a few hundred ids falsely, at ten million some 2%.
_BLOOM_BITS = 27
_BLOOM_MASK = (1 << _BLOOM_BITS) - 1
_PROGRESS_EVERY = 10_000
_CHUNK_ROWS = 5_000


def import_decisions(
    rows: Iterable[Any],
    *,
    actor: Any = None,
    source: str,
    locate: str = "index",
    progress: Progress | None = None,
    error_cap: int = DEFAULT_ERROR_CAP,
    dry_run: bool = False,
    session: Session | None = None,
) -> ImportResult:
    """Validate and upsert decisions by `external_id`, all or nothing.

    rows: dicts with the API field names; JSON rows (typed values) and CSV rows
      (strings, from `iter_csv()`) are both accepted.
    actor: the user doing it (None for the command line: "system").
    source: where the rows came from ("api", "file decisions.csv", ...), kept in
      the audit event.
    locate: "index" (0-based position, for the API) or "line" (each row's `_line`,
      for files): how errors name their row.
    progress: called as progress(rows_done, phase) now and then; phases are
      "reading", "checking", "writing" and "done".
    error_cap: at most this many errors are listed (`total_errors` counts them all).
    dry_run: validate and count, but store nothing (the upload preview).
    session: the database session (the app's by default).

    Raises `ImportRejected` when any row is invalid, after scanning every row.
    Rows are streamed (never all held in memory) through a temporary staging
    table. On success it writes one audit event, "decisions.imported", whose
    `after` holds the counts, the source and `created_digest` (the created
    decisions' external ids, sorted by code point, joined with "\\n", SHA-256;
    see `changes.created_digest`; null when none was created), and whose bulk row
    changes hold the before/after of every *updated* decision; created decisions
    are counted and digested, not listed one by one. Nothing changed, no event.
    It flushes but never commits.
    """
    if locate not in ("index", "line"):
        raise ValueError("locate must be 'index' or 'line'")
    if session is None:
        from app.extensions import db

        session = db.session
    run = _Import(session, locate=locate, error_cap=max(1, error_cap), progress=progress)
    try:
        return run.execute(rows, actor=actor, source=source, dry_run=dry_run)
    finally:
        run.staging.drop_tables()


class _Import:
    """One import: its staging, the problems found so far, and the steps."""

    def __init__(self, session: Session, *, locate: str, error_cap: int, progress):
        session.flush()
        self.session = session
        self.staging = Staging(session.connection())
        self.locate = locate
        self.error_cap = error_cap
        self.progress = progress or (lambda done, phase: None)
        self.errors: list[tuple[int, dict]] = []  # (row position, error), capped
        self.total_errors = 0

    # errors ------------------------------------------------------------------------------

    def error(self, pos: int | None, field: str | None, message: str) -> None:
        self.staging.storing = False  # a bad row was seen: stop storing, keep checking
        self.total_errors += 1
        if len(self.errors) < self.error_cap:
            self.errors.append((pos if pos is not None else -1, self._detail(pos, field, message)))

    def _detail(self, pos, field, message) -> dict:
        return {self.locate: pos, "field": field, "message": message}

    def _where(self, pos: int) -> str:
        return f"line {pos}" if self.locate == "line" else f"index {pos}"

    def _details(self, problems: list[changes.Problem]) -> list[tuple[int, dict]]:
        return [(pos, self._detail(pos, field, message)) for pos, field, message in problems]

    # the steps ---------------------------------------------------------------------------

    def execute(self, rows: Iterable[Any], *, actor, source: str, dry_run: bool) -> ImportResult:
        checker = RowChecker(*self._reference_data(), sqlite=not self.staging.pg)
        self.staging.create_tables()
        savepoint = self.staging.conn.begin_nested()
        try:
            result = self._run(rows, checker, actor=actor, source=source, dry_run=dry_run)
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        savepoint.commit()
        return result

    def _run(self, rows, checker, *, actor, source: str, dry_run: bool) -> ImportResult:
        staging = self.staging
        try:
            count, ok_rows, candidates = self._stage_rows(rows, checker, create=not dry_run)
            self.progress(count, "checking")
            later_errors: list[tuple[int, dict]] = []
            if candidates:
                total, problems = changes.repeats(staging, candidates, self.error_cap, self._where)
                self.total_errors += total
                later_errors += self._details(problems)
            updated = refused = 0
            if staging.matched:
                updated, refused = changes.classify(staging)
                if refused:
                    self.total_errors += refused
                    later_errors += self._details(changes.refusals(staging, self.error_cap))
            if self.total_errors:
                errors = sorted(self.errors + later_errors, key=lambda item: item[0])
                raise ImportRejected([e for _, e in errors[: self.error_cap]], self.total_errors)
            created = ok_rows - staging.matched if dry_run else staging.created
            result = ImportResult(
                created=created,
                updated=updated,
                unchanged=count - created - updated,
                rows=count,
                dry_run=dry_run,
            )
            audit_rows: list[dict] = []
            digest = None
            if result.created and not dry_run:
                digest = changes.created_digest(staging)
            if updated and not dry_run:
                self.progress(count, "writing")
                audit_rows = changes.update(staging, self.session)
        except sa.exc.IntegrityError as err:
            # Only another transaction storing the same external_ids gets here.
            raise Conflict(
                "Another import wrote some of the same decisions at the same time; "
                "nothing was imported. Try again."
            ) from err
        if not dry_run and (result.created or result.updated):
            self._forget_stale_objects()
            self._audit(result, audit_rows, digest, actor=actor, source=source)
        self.progress(count, "done")
        return result

    def _reference_data(self) -> tuple[dict[str, int], dict[str, tuple]]:
        from app.models import Label, Vendor

        vendors = dict(self.session.execute(sa.select(Vendor.code, Vendor.id)).all())
        labels = {
            code: (label_id, area, retired_at)
            for code, label_id, area, retired_at in self.session.execute(
                sa.select(Label.code, Label.id, Label.policy_area, Label.retired_at)
            ).all()
        }
        return vendors, labels

    def _stage_rows(self, rows: Iterable[Any], checker: RowChecker, *, create: bool):
        """Pass 1: check each row; hand the normalised ones to the writer in chunks.
        Returns (rows read, valid rows, external_ids seen more than once or suspected)."""
        count = ok_rows = 0
        candidates: set[str] = set()
        bloom = bytearray(1 << (_BLOOM_BITS - 3))
        check = checker.check
        error = self.error
        typed = self.locate == "index"
        progress = self.progress
        blank = (None,) * (len(STAGE_COLUMNS) - 3)
        writer = ChunkWriter(self.staging, create=create)
        chunk: list[tuple] = []
        in_chunk: set[str] = set()
        try:
            for index, row in enumerate(rows):
                count += 1
                if typed:
                    pos = index
                else:
                    pos = row.get("_line", index) if isinstance(row, dict) else index
                external_id, values, problems = check(row, typed)
                if problems:
                    for field, message in problems:
                        error(pos, field, message)
                if external_id is not None:
                    h = hash(external_id)
                    a = h & _BLOOM_MASK
                    b = (h >> _BLOOM_BITS) & _BLOOM_MASK
                    ia, ma, ib, mb = a >> 3, 1 << (a & 7), b >> 3, 1 << (b & 7)
                    if bloom[ia] & ma and bloom[ib] & mb:
                        candidates.add(external_id)
                        if external_id in in_chunk:
                            # Certainly repeated (reported later): one INSERT cannot
                            # store both, so stop storing.
                            self.staging.storing = False
                    else:
                        bloom[ia] |= ma
                        bloom[ib] |= mb
                    in_chunk.add(external_id)
                    if values is None:
                        chunk.append((pos, False, external_id, *blank))
                    else:
                        ok_rows += 1
                        chunk.append((pos, True, *values))
                    if len(chunk) >= _CHUNK_ROWS:
                        writer.put(chunk)
                        chunk = []
                        in_chunk.clear()
                if count % _PROGRESS_EVERY == 0:
                    progress(count, "reading")
            if chunk:
                writer.put(chunk)
        except BaseException:
            writer.stop()
            raise
        writer.finish()
        return count, ok_rows, candidates

    def _audit(
        self, result: ImportResult, rows: list[dict], digest: str | None, *, actor, source: str
    ) -> None:
        from app.audit.services import record

        counts = {
            **result.counts(),
            "rows": result.rows,
            "source": source,
            "created_digest": digest,
        }
        record(
            self.session,
            "decisions.imported",
            "import",
            None,
            after=counts,
            summary=(
                f"Imported decisions ({source}): {result.created} created, "
                f"{result.updated} updated, {result.unchanged} unchanged"
            ),
            actor=actor,
            rows=rows,
        )

    def _forget_stale_objects(self) -> None:
        """Decisions loaded in this session before the import no longer match the rows."""
        from app.models import Decision, DecisionLabel

        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Decision | DecisionLabel):
                self.session.expire(obj)
