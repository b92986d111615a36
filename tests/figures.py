"""The figures of SECURITY.md, counted by the test run that proves them.

A test that proves a promise of DESIGN §9 says which one with
`@pytest.mark.promise("isolation")` (names in PROMISES), and counts the inputs it
tried with the `tried` fixture: `tried(1)` per request, generated example or file.
A test that tries nothing countable counts as one input.

At the end of the run the table (promise, tests, inputs tried, failures) is printed,
and written as Markdown to the file named by `--figures PATH` (or the environment
variable SECURITY_FIGURES). `make figures` runs the suite and puts the table into
SECURITY.md between its two markers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

# Promise key -> the words of SECURITY.md's table.
PROMISES = {
    "isolation": "Isolation: no vendor user reads another vendor's data, by any path",
    "pseudonyms": "Pseudonyms: vendor users never learn who in QA is behind `QA-<id>`",
    "authorization": "Authorization: every role x route x object owner answers as declared",
    "bad-input": "Bad input: a clear message, nothing changed, never a 5xx",
    "integrity": "Integrity: imports all-or-nothing, no lost writes, exports re-import exactly",
    "accounts": "Accounts: passwords, sessions, sign-in limits without stranger lockout",
    "requests": "Requests: body-size limits before sign-in, identifiers without control bytes",
    "audit": "Audit: the keyed chain verifies, and any rewrite is detected",
    "jobs": "Jobs: a crashed worker's job ends failed, its files removed, re-runs complete",
    "faults": "Faults: database or Redis down, requests fail cleanly and the app recovers",
    "exports": "Exports: formula-like cells are neutralised",
}

START = "<!-- figures:start -->"
END = "<!-- figures:end -->"


@dataclass
class Row:
    tests: int = 0
    inputs: int = 0
    failures: int = 0


_rows: dict[str, Row] = defaultdict(Row)
_inputs: dict[str, int] = defaultdict(int)


def pytest_addoption(parser):
    parser.addoption(
        "--figures",
        default=os.environ.get("SECURITY_FIGURES"),
        help="write the SECURITY.md figures table (Markdown) to this file",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "promise(name): the DESIGN §9 promise this test proves (tests/figures.py)"
    )


def pytest_collection_modifyitems(items):
    for item in items:
        for mark in item.iter_markers("promise"):
            if not mark.args or mark.args[0] not in PROMISES:
                raise pytest.UsageError(
                    f"{item.nodeid}: promise must name one of {sorted(PROMISES)}, not {mark.args}"
                )


@pytest.fixture
def tried(request):
    """Count inputs tried by this test: `tried()` adds one, `tried(n)` adds n."""

    def add(n: int = 1) -> None:
        _inputs[request.node.nodeid] += n

    return add


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    promises = list(dict.fromkeys(mark.args[0] for mark in item.iter_markers("promise")))
    if not promises or report.skipped:
        return
    # A test counts once: at its call, or at a setup that failed (so it never ran).
    # A teardown that fails after a counted call adds a failure, not a test.
    counts_test = report.when == "call" or (report.when == "setup" and report.failed)
    if not counts_test and not report.failed:
        return
    for promise in promises:
        row = _rows[promise]
        if counts_test:
            row.tests += 1
            row.inputs += max(_inputs.get(item.nodeid, 0), 1)
        row.failures += int(report.failed)


def table() -> str:
    lines = [
        "| promise | tests | inputs tried | failures |",
        "|---|---:|---:|---:|",
    ]
    for key, words in PROMISES.items():
        row = _rows.get(key)
        if row is None:
            continue
        lines.append(f"| {words} | {row.tests:,} | {row.inputs:,} | {row.failures} |")
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter, config):
    if not _rows:
        return
    terminalreporter.write_sep("-", "security figures (tests/figures.py)")
    terminalreporter.write(table())
    path = config.getoption("--figures")
    if path:
        Path(path).write_text(table(), encoding="utf-8")
        terminalreporter.write_line(f"figures written to {path}")


def splice(document: str, figures: str) -> str:
    """`document` with the text between the figures markers replaced by `figures`."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the document has no {START} ... {END} block")
    return f"{head}{START}\n{figures}{END}{tail}"


def main(argv: list[str]) -> int:
    """`python -m tests.figures DOCUMENT NAME=TABLE …`: put the tables written by
    --figures (one per database run, under a heading NAME) into DOCUMENT between its
    markers."""
    document, runs = Path(argv[0]), [arg.partition("=") for arg in argv[1:]]
    block = "\n".join(f"**{name}**\n\n{Path(path).read_text('utf-8')}" for name, _, path in runs)
    document.write_text(splice(document.read_text("utf-8"), block), "utf-8")
    print(f"figures of {', '.join(name for name, _, _ in runs)} put into {document}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
