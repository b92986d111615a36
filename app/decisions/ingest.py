"""The one ingestion path for moderation decisions (DESIGN §2, §8, §11).

Every door (the API, the CSV upload page and its background job, the
`flask decisions import` command) hands rows to `import_decisions()`:

- rows from JSON carry typed values (`labels` a list, `context` an object);
  rows from a CSV file (`iter_csv()`) carry strings (`labels` as "A|B",
  `context` as JSON text); both are normalised the same way;
- all-or-nothing: any invalid row raises `ImportRejected` after every row was
  scanned, listing the first `error_cap` problems (index or line, field,
  message) with the total, and nothing is stored;
- re-sending an identical row changes nothing (`unchanged`); an allowed change
  is an update, audited with its before/after in one event per import.

The function flushes but never commits: the caller commits once (or rolls back
after `ImportRejected`). Its own writes sit inside a savepoint that it rolls back
before raising, so a rejected import leaves nothing behind in any case.

Big files stay fast and small (DESIGN §10): rows are streamed, checked in Python
against reference data held in dicts, and staged in chunks in a temporary table
(COPY on PostgreSQL, `executemany` on SQLite) by a writer thread that also stores the
new decisions of each chunk while the next one is read; what needs every row (an
external_id repeated in the batch, a change to a sampled or inspected decision, what
changed) is then answered in SQL. Memory stays flat whatever the file's size.
"""

# The SQL below is assembled from constant fragments and generated temporary table
# names only; every value is a bound parameter or travels through COPY.
# ruff: noqa: S608

from __future__ import annotations

import csv
import json
import json.scanner
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.errors import Conflict, ValidationFailed
from app.models.enums import DECISIONS, POLICY_AREAS

# The API field names (DESIGN §11), also the CSV header.
FIELDS = (
    "external_id",
    "vendor",
    "moderator_id",
    "site",
    "market",
    "policy_area",
    "item_id",
    "item_url",
    "context",
    "decision",
    "labels",
    "decided_at",
)
OPTIONAL_FIELDS = ("item_url", "context", "labels")
REQUIRED_FIELDS = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)
# Column lengths of the decisions table.
MAX_LENGTHS = {
    "external_id": 128,
    "moderator_id": 64,
    "site": 64,
    "market": 32,
    "item_id": 128,
    "item_url": 2048,
}
MAX_CONTEXT_BYTES = 8 * 1024
MAX_API_ROWS = 10_000
DEFAULT_ERROR_CAP = 100

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


# Reading CSV files ----------------------------------------------------------------------


def _header_error(message: str) -> dict:
    return {"line": 1, "field": None, "message": message}


def iter_csv(fileobj_text: IO[str]) -> Iterator[dict[str, Any]]:
    """Rows of a decisions CSV file (DESIGN §8) as dicts of strings plus `_line`.

    The header must name the API fields (`item_url`, `context` and `labels` may
    be left out); a missing, unknown or repeated column raises `ImportRejected`
    with line-1 errors at once, before any row is read. A row that cannot be
    read (wrong number of cells, broken quoting) is yielded as
    `{"_line": n, "_error": message}` so the import reports it with the others;
    text that is not UTF-8 ends the rows after such an error. `_line` is the
    file line on which the row starts. Blank lines are skipped.
    """
    reader = csv.reader(fileobj_text)
    try:
        header = next(reader)
    except StopIteration:
        message = "The file is empty; expected a header row."
        raise ImportRejected([_header_error(message)], 1) from None
    except UnicodeDecodeError:
        raise ImportRejected([_header_error("The file is not UTF-8 text.")], 1) from None
    except csv.Error as err:
        raise ImportRejected([_header_error(f"The header is not valid CSV: {err}.")], 1) from None
    names = [name.strip().lstrip("\ufeff").strip() for name in header]
    problems = []
    seen: set[str] = set()
    for name in names:
        if name not in FIELDS:
            shown = name if name.isprintable() else repr(name)
            problems.append(_header_error(f"Unknown column {shown!r}."))
        elif name in seen:
            problems.append(_header_error(f"The column {name!r} appears twice."))
        seen.add(name)
    missing = [name for name in REQUIRED_FIELDS if name not in seen]
    if missing:
        problems.append(_header_error(f"Missing column(s): {', '.join(missing)}."))
    if problems:
        raise ImportRejected(problems, len(problems))
    return _csv_rows(reader, names)


def _csv_rows(reader, names: list[str]) -> Iterator[dict[str, Any]]:
    width = len(names)
    last = reader.line_num
    while True:
        start = last + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            yield {"_line": start, "_error": "The file is not UTF-8 text from about here on."}
            return
        except csv.Error as err:
            last = reader.line_num
            yield {"_line": start, "_error": f"Not valid CSV: {err}."}
            continue
        last = reader.line_num
        if len(cells) != width:
            if not cells:
                continue
            yield {
                "_line": start,
                "_error": f"Expected {width} values (as in the header), found {len(cells)}.",
            }
            continue
        row = dict(zip(names, cells, strict=True))
        row["_line"] = start
        yield row


# Checking one row -----------------------------------------------------------------------

_TEXT_LIMITS = tuple((f, MAX_LENGTHS[f]) for f in ("moderator_id", "site", "market", "item_id"))
_FIELD_SET = frozenset(FIELDS)
_FIELD_ORDER = {name: i for i, name in enumerate(FIELDS)}
_AREAS = frozenset(POLICY_AREAS)
_DECISIONS = frozenset(DECISIONS)
_AREA_LIST = ", ".join(POLICY_AREAS)
_TIME_FORMAT = "Must be an ISO 8601 time with an offset, e.g. 2026-03-01T09:30:00+08:00."
_CONTROL = "Must not contain control or invisible characters."


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


# One decoder and encoder for every row: building them per call costs more than the work.
_strict_decoder = json.JSONDecoder(parse_constant=_no_constants)
_decode_json = _strict_decoder.decode
_scan_json = json.scanner.make_scanner(_strict_decoder)  # the C scanner, no wrapper
_encode_json = json.JSONEncoder(allow_nan=False).encode


def _context(raw: Any) -> tuple[str | None, str | None]:
    """(JSON text to store, problem) for a context given as an object or as JSON text.
    Text is kept as sent once it is known to be a small JSON object."""
    if raw.__class__ is str:
        text = raw.strip()
        if not text:
            return None, None
        if len(text) > MAX_CONTEXT_BYTES // 4 and len(text.encode("utf-8", "replace")) > (
            MAX_CONTEXT_BYTES
        ):
            return None, f"Must be at most {MAX_CONTEXT_BYTES // 1024} KB as JSON."
        try:
            if text[0] == "{":
                value, end = _scan_json(text, 0)
                if end != len(text):
                    raise ValueError("extra data")
            else:
                value = _decode_json(text)
        except (ValueError, StopIteration, RecursionError):
            return None, "Must be a JSON object; this is not valid JSON."
        if value.__class__ is not dict:
            return None, "Must be a JSON object."
    elif raw is None:
        return None, None
    elif isinstance(raw, dict):
        value = raw
        try:
            text = _encode_json(raw)
        except (ValueError, TypeError, RecursionError):
            return None, "Must be a JSON object of plain JSON values."
        if len(text) > MAX_CONTEXT_BYTES:
            return None, f"Must be at most {MAX_CONTEXT_BYTES // 1024} KB as JSON."
    else:
        return None, "Must be a JSON object."
    if "\\u" in text or "\\U" in text:
        # Escapes PostgreSQL refuses to keep: NUL, and unpaired surrogates.
        plain = json.dumps(value, ensure_ascii=False)
        if "\\u0000" in plain:
            return None, "Must not contain NUL characters."
        try:
            plain.encode("utf-8")
        except UnicodeEncodeError:
            return None, "Must not contain unpaired surrogate characters."
    return text, None


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_LENGTHS["item_url"]:
        return f"Must be at most {MAX_LENGTHS['item_url']} characters."
    if url.startswith("https://"):
        start = 8
    elif url.startswith("http://"):
        start = 7
    else:
        head = url[:8].lower()
        start = 8 if head.startswith("https://") else 7 if head.startswith("http://") else 0
        if not start:
            return "Must be an http:// or https:// URL."
    end = url.find("/", start)
    host = url[start:end] if end >= 0 else url[start:]
    if not host or host[0] in ":?#@":
        return "Must be an http:// or https:// URL with a host name."
    if " " in url or not url.isprintable():
        return "Must not contain spaces or control characters."
    return None


def _text_problem(value: Any, limit: int) -> str:
    if value is None or value == "":
        return "Required."
    if not isinstance(value, str):
        return "Must be text."
    value = value.strip()
    if not value:
        return "Required."
    if len(value) > limit:
        return f"Must be at most {limit} characters."
    return _CONTROL


class _RowChecker:
    """Validates and normalises rows against the reference data (vendors, labels),
    which is small and held in dicts; needs no database per row. Kept lean: it runs
    a million times for a big file."""

    def __init__(self, vendors: dict[str, int], labels: dict[str, tuple], sqlite: bool):
        self.vendors = vendors
        self.labels = labels  # code -> (id, policy_area, retired_at)
        self.sqlite = sqlite

    def check(self, row: Any, typed: bool) -> tuple[str | None, tuple | None, list]:
        """(external_id usable for the repeat check, staging values or None, problems
        as (field, message) in field order)."""
        problems: list[tuple[str | None, str]] = []
        bad = problems.append
        if not isinstance(row, dict):
            bad((None, "Each decision must be a JSON object."))
            return None, None, problems
        if typed:
            for key in row:
                if key not in _FIELD_SET:
                    shown = key if isinstance(key, str) and key.isprintable() else repr(key)
                    bad((shown[:100], "Unknown field."))
        elif "_error" in row:
            bad((None, row["_error"]))
            return None, None, problems
        get = row.get

        external_id = get("external_id")
        if external_id.__class__ is str and (external_id := external_id.strip()):
            if len(external_id) > MAX_LENGTHS["external_id"]:
                bad(("external_id", f"Must be at most {MAX_LENGTHS['external_id']} characters."))
            elif not external_id.isprintable():
                bad(("external_id", _CONTROL))
                external_id = None  # may not even be storable
        else:
            bad(("external_id", _text_problem(external_id, MAX_LENGTHS["external_id"])))
            external_id = None

        texts = []
        for field, limit in _TEXT_LIMITS:
            value = get(field)
            if value.__class__ is str:
                value = value.strip()
                if value and len(value) <= limit and value.isprintable():
                    texts.append(value)
                    continue
            bad((field, _text_problem(value, limit)))
            texts.append(None)

        vendor = get("vendor")
        vendor_id = self.vendors.get(vendor) if vendor.__class__ is str else None
        if vendor_id is None:
            if vendor.__class__ is str and vendor.strip():
                code = vendor.strip().upper()
                vendor_id = self.vendors.get(code)
                if vendor_id is None:
                    bad(("vendor", f"Unknown vendor {_show(code)}."))
            else:
                bad(("vendor", _text_problem(vendor, 20)))

        area = get("policy_area")
        if area.__class__ is not str or area not in _AREAS:
            if area.__class__ is str and area.strip() in _AREAS:
                area = area.strip()
            else:
                bad(
                    (
                        "policy_area",
                        "Required." if area in (None, "") else f"Must be one of {_AREA_LIST}.",
                    )
                )
                area = None

        decision = get("decision")
        if decision.__class__ is not str or decision not in _DECISIONS:
            if decision.__class__ is str and decision.strip() in _DECISIONS:
                decision = decision.strip()
            else:
                required = decision in (None, "")
                bad(("decision", "Required." if required else "Must be approve or reject."))
                decision = None

        decided_at = None
        raw = get("decided_at")
        if raw.__class__ is str and raw:
            try:
                moment = _fromisoformat(raw)
            except ValueError:
                try:
                    moment = _fromisoformat(raw.strip())
                except ValueError:
                    moment = None
                    bad(("decided_at", _TIME_FORMAT))
            if moment is not None:
                if moment.tzinfo is None or moment.utcoffset() is None:
                    bad(("decided_at", "Must include a UTC offset, e.g. +08:00 or Z."))
                else:
                    try:
                        decided_at = moment.astimezone(UTC)
                    except (OverflowError, ValueError):
                        bad(("decided_at", "Out of range."))
        else:
            bad(("decided_at", "Required." if raw in (None, "") else _TIME_FORMAT))

        url = get("item_url")
        if url:
            if url.__class__ is not str:
                bad(("item_url", "Must be text (a URL)."))
                url = None
            else:
                url = url.strip() or None
                if url is not None and (problem := _url_problem(url)):
                    bad(("item_url", problem))
        else:
            url = None

        context, problem = _context(get("context"))
        if problem:
            bad(("context", problem))

        label_key = self._labels(get("labels"), decision, area, decided_at, bad)

        if problems:
            if len(problems) > 1:
                problems.sort(key=lambda p: _FIELD_ORDER.get(p[0], -1))
            return external_id, None, problems
        # SQLite keeps the ORM's naive UTC text, so rows written here and by the ORM
        # compare and sort alike.
        stored_time = decided_at.isoformat(" ", "microseconds")[:26] if self.sqlite else decided_at
        return (
            external_id,
            (
                external_id,
                vendor_id,
                texts[0],
                texts[1],
                texts[2],
                area,
                texts[3],
                url,
                context,
                decision,
                label_key,
                stored_time,
            ),
            problems,
        )

    def _labels(self, raw: Any, decision, area, decided_at, bad) -> str | None:
        """The labels as staged ("3|7", label ids, primary first), or None if bad."""
        if raw is None or raw == "" or (raw.__class__ is list and not raw):
            if decision == "reject":
                bad(("labels", "A reject needs at least one label (the primary first)."))
                return None
            return ""
        if raw.__class__ is str:
            codes: list = raw.split("|")
        elif isinstance(raw, list):
            codes = raw
        else:
            bad(("labels", "Must be a list of label codes."))
            return None
        if decision == "approve":
            bad(("labels", "An approve takes no labels."))
            return None
        ids = []
        seen = set()
        ok = True
        for raw_code in codes:
            if raw_code.__class__ is not str:
                bad(("labels", "Must be a list of label codes (text)."))
                ok = False
                continue
            label = self.labels.get(raw_code)
            code = raw_code
            if label is None:
                code = raw_code.strip().upper()
                if not code:
                    bad(("labels", "An empty label code (check the | separators)."))
                    ok = False
                    continue
                label = self.labels.get(code)
            if code in seen:
                bad(("labels", f"Label {_show(code)} appears twice."))
                ok = False
                continue
            seen.add(code)
            if label is None:
                bad(("labels", f"Unknown label {_show(code)}."))
                ok = False
                continue
            label_id, label_area, retired_at = label
            if area is not None and label_area != area:
                bad(("labels", f"Label {code} belongs to policy area {label_area}, not {area}."))
                ok = False
            if retired_at is not None and decided_at is not None and retired_at <= decided_at:
                bad(
                    (
                        "labels",
                        f"Label {code} was retired on {retired_at.isoformat()}, "
                        "before this decision was made.",
                    )
                )
                ok = False
            ids.append(str(label_id))
        return "|".join(ids) if ok else None


_fromisoformat = datetime.fromisoformat


def _show(code: str) -> str:
    return repr(code[:70])  # repr escapes anything unprintable


def _db_time(moment: datetime | None, sqlite: bool) -> Any:
    """A UTC time as the decisions table stores it: SQLite keeps the ORM's naive UTC
    text (so that rows written here and by the ORM compare and sort alike)."""
    if moment is None:
        return None
    if sqlite:
        return moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    return moment


# The import -----------------------------------------------------------------------------

# Duplicate external_ids are found without holding every id: a fixed 16 MB Bloom filter
# (two bit positions per id) flags ids that may have been seen; only those are checked
# in SQL. At a million rows it flags a few hundred ids falsely, at ten million some 2%.
_BLOOM_BITS = 27
_BLOOM_MASK = (1 << _BLOOM_BITS) - 1
_PROGRESS_EVERY = 10_000
_CHUNK_ROWS = 5_000
_SQLITE_BATCH = 5_000
_STAGE_COLUMNS = (
    "pos",
    "ok",
    "external_id",
    "vendor_id",
    "moderator_id",
    "site",
    "market",
    "policy_area",
    "item_id",
    "item_url",
    "context",
    "decision",
    "label_key",
    "decided_at",
)
_PROTECTED = ("decision", "labels", "vendor", "decided_at")
# SQL: the id of the stored decision with the external_id `{}` (NULL if none).
_DECISION_ID = "(SELECT d.id FROM decisions d WHERE d.external_id = {})"


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
    `after` holds the counts and the source and whose bulk row changes hold the
    before/after of every *updated* decision; created decisions are only counted
    in the event's `after`, not listed one by one. Nothing changed, no event.
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
        run.drop_tables()


class _Import:
    """One import.

    Pass 1 streams the rows: each is checked in Python (reference data in dicts) and its
    normalised values go to a staging table, a chunk at a time. A writer thread takes
    the chunks and, while the main thread reads the next one, notes which rows match a
    stored decision and stores the new decisions (with their labels). All of it runs
    inside a savepoint that is rolled back if any problem turns up, so nothing is kept.
    Then SQL finds what needs every row (an external_id repeated; a change to what QA
    already judged), and updates the changed decisions.
    """

    def __init__(self, session: Session, *, locate: str, error_cap: int, progress):
        session.flush()
        self.session = session
        self.conn = session.connection()
        self.pg = self.conn.dialect.name == "postgresql"
        database = self.conn.engine.url.database
        # An in-memory SQLite database lives in one thread; anything else may be handed on.
        self.threaded = self.pg or database not in (None, "", ":memory:")
        self.locate = locate
        self.error_cap = error_cap
        self.progress = progress or (lambda done, phase: None)
        suffix = uuid.uuid4().hex[:10]
        self.stage = f"decision_import_{suffix}"
        self.chunk_table = f"decision_import_chunk_{suffix}"
        self.matched_table = f"decision_import_matched_{suffix}"
        self.changed_table = f"decision_import_changed_{suffix}"
        self.cands_table = f"decision_import_dups_{suffix}"
        self.temp_tables: list[str] = []
        self.errors: list[tuple[int, dict]] = []  # (row position, error), capped
        self.total_errors = 0
        self.failed = False  # a bad row was seen: stop storing, keep checking
        self.created = 0  # new decisions stored by the chunks
        self.matched = 0  # rows matching a decision stored before

    # errors ------------------------------------------------------------------------------

    def error(self, pos: int | None, field: str | None, message: str) -> None:
        self.failed = True
        self.total_errors += 1
        if len(self.errors) < self.error_cap:
            self.errors.append((pos if pos is not None else -1, self._detail(pos, field, message)))

    def _detail(self, pos, field, message) -> dict:
        return {self.locate: pos, "field": field, "message": message}

    def _where(self, pos: int) -> str:
        return f"line {pos}" if self.locate == "line" else f"index {pos}"

    # the steps ---------------------------------------------------------------------------

    def execute(self, rows: Iterable[Any], *, actor, source: str, dry_run: bool) -> ImportResult:
        checker = _RowChecker(*self._reference_data(), sqlite=not self.pg)
        self._create_tables()
        savepoint = self.conn.begin_nested()
        try:
            result = self._run(rows, checker, actor=actor, source=source, dry_run=dry_run)
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        savepoint.commit()
        return result

    def _run(self, rows, checker, *, actor, source: str, dry_run: bool) -> ImportResult:
        try:
            count, ok_rows, candidates = self._stage_rows(rows, checker, create=not dry_run)
            self.progress(count, "checking")
            later_errors: list[tuple[int, dict]] = []
            if candidates:
                later_errors += self._duplicates(candidates)
            updated = refused = 0
            if self.matched:
                updated, refused = self._classify()
                if refused:
                    later_errors += self._refusals(refused)
            if self.total_errors:
                errors = sorted(self.errors + later_errors, key=lambda item: item[0])
                raise ImportRejected([e for _, e in errors[: self.error_cap]], self.total_errors)
            created = ok_rows - self.matched if dry_run else self.created
            result = ImportResult(
                created=created,
                updated=updated,
                unchanged=count - created - updated,
                rows=count,
                dry_run=dry_run,
            )
            audit_rows: list[dict] = []
            if updated and not dry_run:
                self.progress(count, "writing")
                audit_rows = self._update()
        except sa.exc.IntegrityError as err:
            # Only another transaction storing the same external_ids gets here.
            raise Conflict(
                "Another import wrote some of the same decisions at the same time; "
                "nothing was imported. Try again."
            ) from err
        if not dry_run and (result.created or result.updated):
            self._forget_stale_objects()
            self._audit(result, audit_rows, actor=actor, source=source)
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

    def _exec(self, sql: str, params: dict | None = None):
        return self.conn.execute(sa.text(sql), params or {})

    def _temp_table(self, name: str, columns: str) -> None:
        if self.pg:
            self._exec(f"CREATE TEMPORARY TABLE {name} ({columns}) ON COMMIT DROP")
        else:
            self._exec(f"CREATE TEMPORARY TABLE {name} ({columns})")
        self.temp_tables.append(name)

    def _create_tables(self) -> None:
        if self.pg:
            # The checks below are big one-off queries: compiling them (JIT) costs more
            # than running them, and their hash joins should stay in memory.
            self._exec("SET LOCAL jit = off")
            self._exec("SET LOCAL work_mem = '64MB'")
            columns = (
                "pos bigint NOT NULL, ok boolean NOT NULL, external_id text, vendor_id integer,"
                " moderator_id text, site text, market text, policy_area text, item_id text,"
                " item_url text, context text, decision text, label_key text,"
                " decided_at timestamptz"
            )
            self._temp_table(self.stage, columns)
            self._temp_table(self.chunk_table, columns)
            self._temp_table(
                self.matched_table, "pos bigint NOT NULL, decision_id integer NOT NULL"
            )
        else:
            self.conn.connection.driver_connection.create_function(
                _SQLITE_CANONICAL_JSON, 1, _canonical_json, deterministic=True
            )
            columns = (
                "pos INTEGER PRIMARY KEY, ok INTEGER NOT NULL, external_id TEXT,"
                " vendor_id INTEGER, moderator_id TEXT, site TEXT, market TEXT,"
                " policy_area TEXT, item_id TEXT, item_url TEXT, context TEXT, decision TEXT,"
                " label_key TEXT, decided_at TEXT"
            )
            self._temp_table(self.stage, columns)
            self._temp_table(
                self.matched_table, "pos INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL"
            )

    def _stage_rows(self, rows: Iterable[Any], checker: _RowChecker, *, create: bool):
        """Pass 1: check each row; hand the normalised ones to the writer in chunks.
        Returns (rows read, valid rows, external_ids seen more than once or suspected)."""
        count = ok_rows = 0
        candidates: set[str] = set()
        bloom = bytearray(1 << (_BLOOM_BITS - 3))
        check = checker.check
        error = self.error
        typed = self.locate == "index"
        progress = self.progress
        blank = (None,) * (len(_STAGE_COLUMNS) - 3)
        writer = _ChunkWriter(self, create=create)
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
                            self.failed = True
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

    def write_chunk(self, chunk: list[tuple], *, create: bool) -> None:
        """Stage a chunk, note its rows that match stored decisions, and (while no row
        was bad) store its new decisions. Runs in the writer thread."""
        driver = self.conn.connection.driver_connection
        columns = ", ".join(_STAGE_COLUMNS)
        if self.pg:
            sql = f"COPY {self.chunk_table} ({columns}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                for row in chunk:
                    copy.write_row(row)
            self._exec(f"INSERT INTO {self.stage} SELECT * FROM {self.chunk_table}")
            source, where, params = f"{self.chunk_table} c", "c.ok", {}
        else:
            marks = ", ".join("?" * len(_STAGE_COLUMNS))
            driver.executemany(f"INSERT INTO {self.stage} ({columns}) VALUES ({marks})", chunk)
            source = f"{self.stage} c"
            where = "c.pos BETWEEN :first AND :last AND c.ok"
            params = {"first": chunk[0][0], "last": chunk[-1][0]}
        # Each lookup is a scalar subquery: one index probe per row whatever the planner
        # believes of the decisions table, whose statistics cannot know the rows this
        # transaction adds (as a join it may hash the whole growing table per chunk).
        matched = self._exec(
            f"""
            INSERT INTO {self.matched_table} (pos, decision_id)
            SELECT x.pos, x.decision_id
            FROM (SELECT c.pos, {_DECISION_ID.format("c.external_id")} AS decision_id
                  FROM {source} WHERE {where}) x
            WHERE x.decision_id IS NOT NULL
            """,
            params,
        ).rowcount
        self.matched += matched
        valid = sum(1 for row in chunk if row[1])
        if create and not self.failed and matched < valid:
            self._create_decisions(source, where, params, all_new=not matched)
        if self.pg:
            self._exec(f"TRUNCATE {self.chunk_table}")

    def _create_decisions(self, source: str, where: str, params: dict, *, all_new: bool) -> None:
        """Store the chunk's new decisions and their labels. `all_new`: no row of the
        chunk matched a stored decision, so nothing needs to be probed for."""
        now = _db_time(datetime.now(UTC), not self.pg)
        context = "CAST(c.context AS json)" if self.pg else "c.context"
        new_only = "" if all_new else f"AND {_DECISION_ID.format('c.external_id')} IS NULL"
        # No ON CONFLICT clause: its speculative insertion slows every row. Rows of this
        # chunk are distinct (a repeat stops the storing), and rows stored before are
        # skipped by the lookup; only a concurrent import could still collide.
        insert = f"""
            INSERT INTO decisions (external_id, vendor_id, moderator_id, site, market,
                policy_area, item_id, item_url, context, decision, decided_at,
                created_at, updated_at)
            SELECT c.external_id, c.vendor_id, c.moderator_id, c.site, c.market,
                c.policy_area, c.item_id, c.item_url, {context}, c.decision, c.decided_at,
                :now, :now
            FROM {source}
            WHERE {where} {new_only}
        """
        if self.pg:
            # The new ids come back from the insert itself, so the labels need no lookup.
            created = self._exec(
                f"""
                WITH created AS ({insert} RETURNING id, external_id),
                labelled AS (
                    INSERT INTO decision_labels (decision_id, position, label_id)
                    SELECT n.id, {self._label_items("c")}
                    FROM created n JOIN {source} ON c.external_id = n.external_id
                         {self._expand_labels("c")}
                    WHERE {where} AND c.label_key <> ''
                )
                SELECT count(*) FROM created
                """,
                {**params, "now": now},
            ).scalar_one()
            self.created += created
            return
        self.created += self._exec(insert, {**params, "now": now}).rowcount
        # Labels go to the decisions this statement just created (none has any yet).
        created_here = (
            "(SELECT d.id FROM decisions d WHERE d.external_id = c.external_id"
            " AND d.created_at = :now)"
        )
        self._exec(
            f"""
            INSERT INTO decision_labels (decision_id, position, label_id)
            SELECT x.decision_id, {self._label_items("x")}
            FROM (SELECT c.label_key, {created_here} AS decision_id
                  FROM {source} WHERE {where} AND c.label_key <> '') x
                 {self._expand_labels("x")}
            WHERE x.decision_id IS NOT NULL
            """,
            {**params, "now": now},
        )

    def _expand_labels(self, alias: str) -> str:
        """SQL: one row `l` per staged label of `alias` (label_key "3|7")."""
        if self.pg:
            return (
                f"CROSS JOIN LATERAL unnest(string_to_array({alias}.label_key, '|'))"
                " WITH ORDINALITY AS l(label_id, ord)"
            )
        return f", json_each('[' || replace({alias}.label_key, '|', ',') || ']') AS l"

    def _label_items(self, alias: str) -> str:
        """SQL: position, label_id of an expanded label `l`."""
        return "l.ord - 1, CAST(l.label_id AS integer)" if self.pg else "l.key, l.value"

    def _duplicates(self, candidates: set[str]) -> list[tuple[int, dict]]:
        """Every later occurrence of an external_id, naming the first."""
        self._temp_table(self.cands_table, "external_id text PRIMARY KEY")
        insert = sa.text(f"INSERT INTO {self.cands_table} (external_id) VALUES (:e)")
        batch = []
        for external_id in candidates:
            batch.append({"e": external_id})
            if len(batch) >= _SQLITE_BATCH:
                self.conn.execute(insert, batch)
                batch = []
        if batch:
            self.conn.execute(insert, batch)
        repeats = f"""
            WITH firsts AS (
                SELECT s.external_id, MIN(s.pos) AS first_pos
                FROM {self.stage} s JOIN {self.cands_table} c ON c.external_id = s.external_id
                GROUP BY s.external_id
            )
            SELECT {{columns}}
            FROM {self.stage} s JOIN firsts f ON f.external_id = s.external_id
            WHERE s.pos > f.first_pos
        """
        total = self._exec(repeats.format(columns="count(*)")).scalar_one()
        if not total:
            return []
        found = self._exec(
            repeats.format(columns="s.pos, s.external_id, f.first_pos")
            + " ORDER BY s.pos LIMIT :cap",
            {"cap": self.error_cap},
        ).all()
        self.total_errors += total
        return [
            (
                pos,
                self._detail(
                    pos,
                    "external_id",
                    f"{_show(external_id)} appears more than once; first at {self._where(first)}.",
                ),
            )
            for pos, external_id, first in found
        ]

    # comparing staging with the decisions --------------------------------------------------

    def _labels_now(self) -> str:
        """The decision's current labels as its staging key ("3|7", primary first)."""
        if self.pg:
            return (
                "COALESCE((SELECT string_agg(CAST(dl.label_id AS text), '|' ORDER BY dl.position)"
                " FROM decision_labels dl WHERE dl.decision_id = d.id), '')"
            )
        return (
            "COALESCE((SELECT group_concat(x.label_id, '|') FROM (SELECT dl.label_id"
            " FROM decision_labels dl WHERE dl.decision_id = d.id ORDER BY dl.position) x), '')"
        )

    def _labels_changed(self) -> str:
        # Most rows have no labels: for those an index probe answers, no aggregate needed.
        return (
            "(CASE WHEN s.label_key = '' THEN EXISTS (SELECT 1 FROM decision_labels x"
            f" WHERE x.decision_id = d.id) ELSE s.label_key <> {self._labels_now()} END)"
        )

    def _protected_changes(self) -> dict[str, str]:
        return {
            "decision": "s.decision <> d.decision",
            "labels": self._labels_changed(),
            "vendor": "s.vendor_id <> d.vendor_id",
            "decided_at": "s.decided_at <> d.decided_at",
        }

    def _changed(self) -> str:
        """SQL: the staged row `s` differs from the stored decision `d`. Cheap column
        comparisons come first; the labels (a subquery) last."""
        distinct = "IS DISTINCT FROM" if self.pg else "IS NOT"
        if self.pg:
            stored = "NULLIF(CAST(d.context AS text), 'null')"
            same_json = f"CAST(s.context AS jsonb) = CAST({stored} AS jsonb)"
        else:
            stored = "NULLIF(d.context, 'null')"
            same_json = f"{_SQLITE_CANONICAL_JSON}(s.context) = {_SQLITE_CANONICAL_JSON}({stored})"
        # JSON null and SQL NULL both mean "no context"; equal text needs no parsing.
        context_same = (
            f"(CASE WHEN s.context IS NULL THEN {stored} IS NULL"
            f" WHEN {stored} IS NULL THEN false"
            f" WHEN s.context = {stored} THEN true ELSE {same_json} END)"
        )
        protected = self._protected_changes()
        return (
            "(s.vendor_id <> d.vendor_id OR s.decision <> d.decision"
            " OR s.decided_at <> d.decided_at OR s.policy_area <> d.policy_area"
            " OR s.moderator_id <> d.moderator_id OR s.site <> d.site OR s.market <> d.market"
            f" OR s.item_id <> d.item_id OR s.item_url {distinct} NULLIF(d.item_url, '')"
            f" OR NOT {context_same} OR {protected['labels']})"
        )

    _SAMPLED = (
        "(d.id IN (SELECT si.decision_id FROM sample_items si)"
        " OR d.id IN (SELECT i.decision_id FROM inspections i))"
    )

    def _matched_rows(self) -> str:
        """SQL FROM clause: staged rows `s` matching a stored decision `d`."""
        return (
            f"{self.matched_table} m JOIN {self.stage} s ON s.pos = m.pos"
            " JOIN decisions d ON d.id = m.decision_id"
        )

    def _classify(self) -> tuple[int, int]:
        """(updated, refused): rows changing a stored decision, and rows changing what
        a sampled or inspected decision may no longer change."""
        protected = " OR ".join(self._protected_changes().values())
        updated, refused = self._exec(
            f"""
            SELECT count(*) FILTER (WHERE {self._changed()}),
                   count(*) FILTER (WHERE {self._SAMPLED} AND ({protected}))
            FROM {self._matched_rows()}
            """
        ).one()
        return updated, refused

    def _refusals(self, refused: int) -> list[tuple[int, dict]]:
        changes = self._protected_changes()
        flags = ", ".join(f"({sql})" for sql in changes.values())
        protected = " OR ".join(changes.values())
        found = self._exec(
            f"""
            SELECT s.pos, d.id IN (SELECT i.decision_id FROM inspections i), {flags}
            FROM {self._matched_rows()}
            WHERE {self._SAMPLED} AND ({protected})
            ORDER BY s.pos LIMIT :cap
            """,
            {"cap": self.error_cap},
        ).all()
        self.total_errors += refused
        errors = []
        for pos, inspected, *changed in found:
            fields = [name for name, flag in zip(_PROTECTED, changed, strict=True) if flag]
            state = "inspected" if inspected else "in a sample"
            message = f"This decision is already {state}; its {', '.join(fields)} cannot change."
            errors.append((pos, self._detail(pos, fields[0], message)))
        return errors

    # writing ---------------------------------------------------------------------------------

    def _update(self) -> list[dict]:
        """Update the changed decisions; returns their before/after for the audit."""
        now = _db_time(datetime.now(UTC), not self.pg)
        context = "CAST(x.context AS json)" if self.pg else "x.context"
        self._temp_table(self.changed_table, "pos bigint NOT NULL, decision_id integer NOT NULL")
        self._exec(
            f"""
            INSERT INTO {self.changed_table} (pos, decision_id)
            SELECT s.pos, d.id FROM {self._matched_rows()}
            WHERE {self._changed()}
            """
        )
        audit_rows = self._before_after()
        self._exec(
            "DELETE FROM decision_labels WHERE decision_id IN"
            f" (SELECT c.decision_id FROM {self.changed_table} c)"
        )
        self._exec(
            f"""
            UPDATE decisions SET vendor_id = x.vendor_id, moderator_id = x.moderator_id,
                site = x.site, market = x.market, policy_area = x.policy_area,
                item_id = x.item_id, item_url = x.item_url, context = {context},
                decision = x.decision, decided_at = x.decided_at, updated_at = :now
            FROM (SELECT c.decision_id, s.vendor_id, s.moderator_id, s.site, s.market,
                         s.policy_area, s.item_id, s.item_url, s.context, s.decision,
                         s.decided_at
                  FROM {self.changed_table} c JOIN {self.stage} s ON s.pos = c.pos) x
            WHERE decisions.id = x.decision_id
            """,
            {"now": now},
        )
        self._exec(
            f"""
            INSERT INTO decision_labels (decision_id, position, label_id)
            SELECT c.decision_id, {self._label_items("s")}
            FROM {self.changed_table} c JOIN {self.stage} s ON s.pos = c.pos
                 {self._expand_labels("s")}
            WHERE s.label_key <> ''
            """
        )
        return audit_rows

    def _audit(self, result: ImportResult, rows: list[dict], *, actor, source: str) -> None:
        from app.audit.services import record

        counts = {**result.counts(), "rows": result.rows, "source": source}
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

    def _before_after(self) -> list[dict]:
        """Before/after of each updated decision, in row order, for the audit event."""
        from app.models import Label, Vendor

        vendor_codes = dict(self.session.execute(sa.select(Vendor.id, Vendor.code)).all())
        label_codes = dict(self.session.execute(sa.select(Label.id, Label.code)).all())

        def state(external_id, vendor_id, values, context, decided_at, label_key) -> dict:
            moderator_id, site, market, area, item_id, url, decision = values
            return {
                "external_id": external_id,
                "vendor": vendor_codes.get(vendor_id),
                "moderator_id": moderator_id,
                "site": site,
                "market": market,
                "policy_area": area,
                "item_id": item_id,
                "item_url": url or None,
                "context": _as_json(context),
                "decision": decision,
                "labels": [label_codes.get(int(i)) for i in label_key.split("|") if i],
                "decided_at": _as_utc(decided_at).isoformat(),
            }

        plain = ("moderator_id", "site", "market", "policy_area", "item_id", "item_url", "decision")
        stored = ", ".join(f"d.{c}" for c in plain)
        staged = ", ".join(f"s.{c}" for c in plain)
        rows = []
        for row in self._exec(
            f"""
            SELECT d.id, d.external_id, d.vendor_id, {stored}, d.context, d.decided_at,
                   {self._labels_now()}, s.vendor_id, {staged}, s.context, s.decided_at,
                   s.label_key
            FROM {self.changed_table} c JOIN {self.stage} s ON s.pos = c.pos
                 JOIN decisions d ON d.id = c.decision_id
            ORDER BY s.pos
            """
        ):
            decision_id, external_id, vendor_id = row[0], row[1], row[2]
            before = state(external_id, vendor_id, row[3:10], row[10], row[11], row[12])
            after = state(external_id, row[13], row[14:21], row[21], row[22], row[23])
            rows.append(
                {
                    "object_type": "decision",
                    "object_id": decision_id,
                    "before": before,
                    "after": after,
                }
            )
        return rows

    def _forget_stale_objects(self) -> None:
        """Decisions loaded in this session before the import no longer match the rows."""
        from app.models import Decision, DecisionLabel

        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Decision | DecisionLabel):
                self.session.expire(obj)

    def drop_tables(self) -> None:
        """Drop the temporary tables (PostgreSQL would at commit; SQLite keeps them for
        the connection's life). A failed transaction is left to the caller's rollback."""
        for table in reversed(self.temp_tables):
            try:
                with self.conn.begin_nested():
                    self._exec(f"DROP TABLE IF EXISTS {table}")
            except sa.exc.DBAPIError:
                break
        self.temp_tables.clear()


class _ChunkWriter:
    """Runs `_Import.write_chunk` for each chunk, in a thread of its own where the
    connection allows, so that the database stores one chunk while Python reads the
    next (the drivers let go of the GIL while the database works). At most one chunk
    waits, which keeps memory flat."""

    def __init__(self, run: _Import, *, create: bool):
        self.run = run
        self.create = create
        self.error: BaseException | None = None
        self.thread = None
        if run.threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=1)
            self.thread = threading.Thread(target=self._work, name="decision-import", daemon=True)
            self.thread.start()

    def put(self, chunk: list[tuple]) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self.run.write_chunk(chunk, create=self.create)
        else:
            self.queue.put(chunk)

    def _work(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.error is None:  # after a failure, only drain the queue
                try:
                    self.run.write_chunk(chunk, create=self.create)
                except BaseException as err:
                    self.error = err

    def stop(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()

    def finish(self) -> None:
        self.stop()
        if self.error is not None:
            raise self.error


# SQLite has no JSON comparison that ignores key order (PostgreSQL compares jsonb).
_SQLITE_CANONICAL_JSON = "decision_import_canonical_json"


def _canonical_json(text: str | None) -> str | None:
    if text is None:
        return None
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        value = json.loads(value)
    return value
