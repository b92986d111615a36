"""SECURITY.md's figures table: a row for every promise, each with tests and no failure
(the table is written by `make figures` from a test run; tests/figures.py)."""

import re
from pathlib import Path

from tests.figures import END, PROMISES, START, splice

DOCUMENT = Path(__file__).resolve().parents[2] / "SECURITY.md"


def _tables() -> dict[str, dict[str, tuple[int, int, int]]]:
    """Each run's table in the figures block: heading -> promise -> (tests, inputs,
    failures)."""
    text = DOCUMENT.read_text("utf-8")
    block = text[text.index(START) : text.index(END)]
    tables: dict[str, dict[str, tuple[int, int, int]]] = {}
    heading = ""
    for line in block.splitlines():
        named = re.fullmatch(r"\*\*(.+)\*\*", line.strip())
        if named:
            heading = named.group(1)
            tables[heading] = {}
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[\d,]+", cells[1]):
            tests, inputs, failures = (int(c.replace(",", "")) for c in cells[1:])
            tables[heading][cells[0]] = (tests, inputs, failures)
    return tables


def test_every_promise_has_a_row_with_tests_and_no_failure_on_both_databases():
    tables = _tables()
    assert set(tables) == {"SQLite", "PostgreSQL"}
    for database, rows in tables.items():
        assert set(rows) == set(PROMISES.values()), database
        for promise, (tests, inputs, failures) in rows.items():
            assert tests > 0 and inputs >= tests, (database, promise)
            assert failures == 0, (database, promise)


def test_splice_replaces_only_the_figures_block():
    document = f"head\n{START}\nold\n{END}\ntail\n"
    assert splice(document, "new\n") == f"head\n{START}\nnew\n{END}\ntail\n"
