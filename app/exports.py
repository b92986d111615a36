"""Spreadsheet-safe CSV, shared by every export (DESIGN §9 "Exports").

A spreadsheet runs a cell as a formula when its text starts with `=`, `+`, `-` or `@`
(and some also after a leading tab, carriage return or other whitespace), which lets
data sent by a third party run `=HYPERLINK(...)` or DDE payloads on a reviewer's
machine. Following OWASP's advice, such text cells are prefixed with a single quote
(spreadsheets then show the text and run nothing) and every text cell is wrapped in
double quotes, embedded quotes doubled; quoting and escaping are left to the `csv`
module.

Choices:
- Text is neutralised by its first non-whitespace character, so `"-5"` as *text*
  becomes `'-5` (as OWASP recommends for any leading `-`: `-2+3` would run). Real numbers
  (int, float, Decimal) are written as they are: a number is never a formula, and a
  metric of -5 stays a number a spreadsheet can sum.
- The full-width forms of the trigger characters are treated the same way: some
  spreadsheets fold them to ASCII before parsing.
- Neutralising is reversible (`restore_cell`), so an export imports again exactly (the
  decisions importer reads every cell through it): a text that already starts with
  quotes followed by something that would be neutralised gets one more quote too
  (`'=x` is written `''=x`), so stripping exactly one quote from a cell that starts with
  a quote followed by such text gives the original back, and every other cell is read
  as it is (`'plain` stays `'plain`). No two texts are written alike.
- Output is UTF-8 with a byte-order mark by default: without it Excel reads UTF-8 as
  the local code page and garbles names; readers that want none can pass `bom=False`.
- Rows are produced by a generator and encoded a batch at a time, so an export of a
  million rows streams with flat memory when its rows come from a streaming query.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

BOM = "\ufeff"
# ASCII triggers, their full-width forms, and the control characters OWASP lists.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
QUOTE = "'"
# How many rows are encoded into one chunk of the response body.
ROWS_PER_CHUNK = 500


def _starts_like_formula(text: str) -> bool:
    if text[:1] in FORMULA_TRIGGERS:  # a leading tab or CR counts before stripping
        return True
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in FORMULA_TRIGGERS


def _needs_quote(text: str) -> bool:
    """Whether `text` gets a leading quote: it looks like a formula, or it is a quote
    followed by something that does (which keeps `restore_cell` exact)."""
    while True:
        if _starts_like_formula(text):
            return True
        if not text.startswith(QUOTE):
            return False
        text = text[1:]


def neutralise(value):
    """One cell made safe for a spreadsheet: text that could run as a formula gets a
    leading single quote; numbers, None and other text are returned unchanged."""
    if isinstance(value, str) and _needs_quote(value):
        return QUOTE + value
    return value


def restore_cell(text: str) -> str:
    """Undo `neutralise` on a text cell read back from an export (for importers)."""
    if text.startswith(QUOTE) and _needs_quote(text[1:]):
        return text[1:]
    return text


# A text starting with none of these can be written as it is (the common case).
_CAREFUL_FIRST = FORMULA_TRIGGERS | {QUOTE} | {chr(c) for c in range(33)} | {"\x85", "\xa0"}


def _cell(value):
    if type(value) is str and value[:1] not in _CAREFUL_FIRST:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    return neutralise(str(value))


def safe_row(values: Iterable) -> list:
    """A row ready for `csv.writer`: None as an empty cell, booleans as true/false,
    numbers as numbers, everything else as neutralised text."""
    return [_cell(v) for v in values]


def csv_stream(
    header: Sequence[str],
    rows: Iterable[Iterable],
    *,
    bom: bool = True,
    rows_per_chunk: int = ROWS_PER_CHUNK,
) -> Iterator[bytes]:
    """Encode `header` and `rows` as spreadsheet-safe CSV, yielding UTF-8 chunks.

    Use it as a streaming response body: `Response(stream_with_context(csv_stream(...)))`.
    Nothing is read from `rows` before the first chunk is asked for.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    if bom:
        buffer.write(BOM)
    writer.writerow(safe_row(header))
    pending = 0
    for row in rows:
        writer.writerow(safe_row(row))
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def attachment_headers(filename: str) -> dict[str, str]:
    """Headers that make a browser save a CSV download under `filename` (ASCII, chosen
    by the server) and keep caches and content sniffing away from it."""
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
