"""Reading a decisions CSV file (DESIGN §8) into rows for the import: the header is
checked at once, then rows are streamed as dicts of strings, each with the file line it
starts on; a row that cannot be read is handed on as an error for the import to report
with the others. Flask-free."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from app.decisions.intake.fields import FIELDS, REQUIRED_FIELDS
from app.decisions.intake.outcome import ImportRejected
from app.exports import QUOTE, restore_cell


def open_csv(path: str | Path) -> IO[str]:
    """Open a CSV file for `iter_csv`: UTF-8 (a byte-order mark is ignored),
    newlines left to the csv module."""
    return open(path, encoding="utf-8-sig", newline="")


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

    A cell that an export neutralised (a `'` before text a spreadsheet would run as a
    formula, `app.exports`) is read back without that quote, so an export imports
    again exactly: `'-M1` is read as `-M1`, `''=x` as `'=x`, and `'plain` as it is.
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
        if QUOTE in "".join(cells):  # rare: the common row costs one join
            cells = [restore_cell(cell) for cell in cells]
        row = dict(zip(names, cells, strict=True))
        row["_line"] = start
        yield row
