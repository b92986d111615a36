"""Spreadsheet-safe CSV (DESIGN §9 "Exports"): formula cells are neutralised, quoting is
the csv module's, neutralising can be undone exactly, rows stream in chunks."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.exports import BOM, FORMULA_TRIGGERS, csv_stream, neutralise, restore_cell, safe_row

DANGEROUS = [
    "=1+1",
    "+1",
    "-1+2",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "\t",
    "\r",
    "   =1+1",
    "\n=1",
    '=HYPERLINK("https://evil.example","click")',
    "=cmd|' /C calc'!A0",
    "-5",
    "-",
    "\uff1d1+1",  # full-width equals sign
    "'=1",  # a quote before a formula: quoted again so that restoring is exact
    "''+1",
]
HARMLESS = ["", "plain", "5", "5-3", "a=b", "https://x.example/?a=-1", "'quoted", " spaced", "'"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_text_gets_a_leading_quote(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_text_is_unchanged(value):
    assert neutralise(value) == value


@pytest.mark.parametrize("value", DANGEROUS + HARMLESS)
def test_restoring_gives_back_the_original_text(value):
    assert restore_cell(neutralise(value)) == value


def test_numbers_stay_numbers_and_negative_text_does_not():
    # A real number is never a formula: -5 stays a number a spreadsheet can sum.
    assert safe_row([-5, -2.5, Decimal("-1.10"), 0]) == [-5, -2.5, Decimal("-1.10"), 0]
    # Text that merely looks negative is neutralised, as OWASP recommends for any
    # leading minus ("-2+3" would run).
    assert safe_row(["-5"]) == ["'-5"]


def test_other_values():
    assert safe_row([None, True, False, "x"]) == ["", "true", "false", "x"]


def _read(chunks) -> list[list[str]]:
    text = b"".join(chunks).decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def _utf8(text: str) -> bool:
    """Whether `text` can be written to a UTF-8 file (no unpaired surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_stream_quotes_with_the_csv_module_and_neutralises_every_cell():
    rows = [
        ["=1+1", 'say "hi", then\nleave', -3, None],
        ["@x", "+y", 4.5, "ok"],
    ]
    chunks = list(csv_stream(["a", "=b", "c", "d"], rows))
    text = b"".join(chunks).decode("utf-8")
    assert '"say ""hi"", then\nleave"' in text  # quotes doubled, line break kept inside
    assert ",-3," in text  # a number is written bare
    assert _read(chunks) == [
        ["a", "'=b", "c", "d"],
        ["'=1+1", 'say "hi", then\nleave', "-3", ""],
        ["'@x", "'+y", "4.5", "ok"],
    ]


def test_stream_is_lazy_and_chunked():
    produced = []

    def rows():
        for i in range(10):
            produced.append(i)
            yield [i, f"row {i}"]

    stream = csv_stream(["n", "text"], rows(), rows_per_chunk=4, bom=False)
    assert produced == []
    first = next(stream)
    assert produced == [0, 1, 2, 3]
    assert first.decode().splitlines()[0] == '"n","text"'
    rest = list(stream)
    assert len(rest) == 2  # 4 + 2 rows, then the remainder
    assert len(list(csv.reader(io.StringIO((first + b"".join(rest)).decode())))) == 11


def test_bom_is_optional():
    assert b"".join(csv_stream(["a"], [], bom=False)) == b'"a"\r\n'
    assert b"".join(csv_stream(["a"], [])).startswith(BOM.encode())


# The neutralisation is a bijection (DESIGN §9 "Integrity": an export imports again) ----------

# Text of any characters, often starting with formula characters, quotes and blanks.
_LEADS = st.lists(st.sampled_from([*FORMULA_TRIGGERS, "'", "''", " ", "\n", "\xa0", "a"]))
_ANY_TEXT = st.builds(lambda lead, rest: "".join(lead) + rest, _LEADS, st.text())
# `tried` only counts inputs: it may be shared by the examples.
_EXAMPLES = settings(
    max_examples=200,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.promise("exports")
@given(value=_ANY_TEXT)
@_EXAMPLES
def test_a_neutralised_cell_never_starts_like_a_formula(value, tried):
    tried()
    cell = neutralise(value)
    assert cell[:1] not in FORMULA_TRIGGERS
    assert cell.lstrip()[:1] not in FORMULA_TRIGGERS


@pytest.mark.promise("integrity")
@given(value=_ANY_TEXT, other=_ANY_TEXT)
@_EXAMPLES
def test_restoring_undoes_neutralising_exactly_for_any_text(value, other, tried):
    """The importer strips exactly the quote the export added: every text comes back,
    including text that itself starts with quotes, and no two texts export alike."""
    tried()
    assert restore_cell(neutralise(value)) == value
    assert (neutralise(value) == neutralise(other)) == (value == other)


@pytest.mark.promise("integrity")
@given(rows=st.lists(st.lists(_ANY_TEXT.filter(_utf8), min_size=1, max_size=4), max_size=4))
@_EXAMPLES
def test_any_text_comes_back_from_an_exported_csv_file(rows, tried):
    """Through the file: quotes, commas, line breaks and formula characters survive
    `csv_stream`, the csv module's reader and `restore_cell`."""
    tried()
    width = max((len(row) for row in rows), default=1)
    rows = [row + [""] * (width - len(row)) for row in rows]
    read = _read(csv_stream([f"c{i}" for i in range(width)], rows))
    assert [[restore_cell(cell) for cell in row] for row in read[1:]] == rows
