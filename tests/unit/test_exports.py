"""Spreadsheet-safe CSV (DESIGN §9 "Exports"): formula cells are neutralised, quoting is
the csv module's, neutralising can be undone exactly, rows stream in chunks."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from app.exports import BOM, csv_stream, neutralise, restore_cell, safe_row

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
    return list(csv.reader(io.StringIO(text[1:])))


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
