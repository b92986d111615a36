"""The decisions CSV importer under arbitrary input (DESIGN §8, §9 "Bad input" and
"Integrity").

Whatever a file holds — arbitrary bytes, arbitrary CSV text, arbitrary values in the
cells of otherwise good rows — the import either succeeds or is refused with problems
that each name a line (and, for a value, the field), and a refused import changes
nothing. No input raises anything else, and the upload page never answers 5xx.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.decisions.intake import FIELDS, ImportRejected, ImportResult, import_decisions
from app.decisions.services import import_csv
from app.extensions import db
from app.models import AuditEvent, Decision, DecisionLabel, Job
from tests.builders.imports import clear_imports_folder, rolled_back
from tests.builders.sampling import sample_holding
from tests.factories import (
    DecisionFactory,
    LabelFactory,
    VendorFactory,
)

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
MARCH = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)


def base_row(n: int) -> dict[str, str]:
    """A good CSV row: E-1 is stored as it is, E-2 too (and sampled), E-3 is new."""
    return {
        "external_id": f"E-{n}",
        "vendor": "FZ",
        "moderator_id": "MOD-7",
        "site": "Manila",
        "market": "PH",
        "policy_area": "listing",
        "item_id": f"ITEM-{n}",
        "item_url": f"https://shop.example/items/{n}",
        "context": '{"title": "A lamp"}',
        "decision": "reject",
        "labels": "FZ-A|FZ-B",
        "decided_at": "2026-03-01T09:30:00+08:00",
    }


@pytest.fixture
def reference():
    """Vendors, labels (one retired), and two stored decisions, one of them sampled."""
    vendor = VendorFactory(code="FZ")
    VendorFactory(code="FZ2")
    labels = [
        LabelFactory(code="FZ-A", policy_area="listing"),
        LabelFactory(code="FZ-B", policy_area="listing"),
        LabelFactory(code="FZ-S", policy_area="seller"),
        LabelFactory(
            code="FZ-OLD",
            policy_area="listing",
            active=False,
            retired_at=datetime(2026, 2, 1, tzinfo=UTC),
        ),
    ]
    for n in (1, 2):
        row = base_row(n)
        decision = DecisionFactory(
            external_id=row["external_id"],
            vendor=vendor,
            moderator_id=row["moderator_id"],
            site=row["site"],
            market=row["market"],
            policy_area=row["policy_area"],
            item_id=row["item_id"],
            item_url=row["item_url"],
            context={"title": "A lamp"},
            decision="reject",
            decided_at=MARCH,
        )
        decision.decision_labels = [
            DecisionLabel(position=i, label=label) for i, label in enumerate(labels[:2])
        ]
    db.session.flush()
    sample_holding(decision)
    db.session.commit()


@pytest.fixture(autouse=True)
def _empty_imports_folder(app):
    yield
    clear_imports_folder(app)


def snapshot() -> tuple:
    """Everything an import may change: the decisions with every column, their labels,
    the audit events and the jobs."""
    db.session.expire_all()
    decisions = db.session.execute(sa.select(Decision.__table__).order_by(Decision.id)).all()
    labels = db.session.execute(
        sa.select(DecisionLabel.__table__).order_by(
            DecisionLabel.decision_id, DecisionLabel.position
        )
    ).all()
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    jobs = db.session.scalar(sa.select(sa.func.count()).select_from(Job))
    return [tuple(map(repr, row)) for row in decisions], labels, events, jobs


def attempt(body: bytes) -> ImportResult | ImportRejected:
    """Import `body` as a CSV file: the result, or the refusal (after checking that it
    names lines, fields and problems, and that nothing changed)."""
    before = snapshot()
    try:
        result = import_csv(io.BytesIO(body), source="fuzz")
    except ImportRejected as err:
        assert snapshot() == before
        assert err.errors and err.total_errors >= len(err.errors)
        for error in err.errors:
            assert set(error) == {"line", "field", "message"}
            assert isinstance(error["line"], int) and error["line"] >= 1
            assert error["field"] is None or error["field"] in FIELDS
            assert isinstance(error["message"], str) and error["message"].strip()
        return err
    check_accepted(result, before)
    return result


def check_accepted(result: ImportResult, before: tuple) -> None:
    """An accepted import counts every row, and what it stored can be given back: the
    contexts are strict JSON (no NaN or Infinity), every text encodes as UTF-8."""
    assert result.rows == result.created + result.updated + result.unchanged
    if not (result.created or result.updated):
        assert snapshot() == before
    for decision in db.session.scalars(sa.select(Decision)):
        json.dumps(decision.context, allow_nan=False)
        for column in ("external_id", "moderator_id", "site", "market", "item_id"):
            getattr(decision, column).encode("utf-8")


def write_csv(header, rows, **options) -> str:
    out = io.StringIO()
    writer = csv.writer(out, **options)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def record_lines(text: str) -> list[int]:
    """The file line on which each record below the header starts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    starts, last = [], 0
    for _ in reader:
        starts.append(last + 1)
        last = reader.line_num
    return starts[1:]


# What the upload page says when it refuses a file (the file itself, or its rows).
UPLOAD_REFUSALS = (
    "This is not a CSV text file",
    "The file is empty.",
    "The file has a header but no decisions below it.",
    "The first line must be the header",
    "The header is not the decisions CSV header",
    "Nothing was imported",
)


def upload(client, body: bytes):
    return client.post(
        "/decisions/import",
        data={"file": (io.BytesIO(body), "fuzz.csv")},
        content_type="multipart/form-data",
    )


# Strategies ----------------------------------------------------------------------------------

# Any character a UTF-8 file can hold, control characters included.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
HEADER_LINE = (",".join(FIELDS) + "\n").encode()
# Values that probe each field's rules (all UTF-8: a file cannot hold anything else).
SPECIALS = {
    "external_id": ["E-1", "E-2", " E-3 ", "=1", "'=1", "x" * 129, "\x00" * 200, "é" * 129],
    "vendor": ["fz", "FZ2", " FZ ", "NOPE", "FZ\x00", "'FZ"],
    "moderator_id": ["x" * 65, "a\u2028b", "'-M1", "\u200b"],
    "site": ["x" * 65, "\ufeff", "a\tb"],
    "market": ["x" * 33, "\x85"],
    "item_id": ["x" * 129, "\x7f"],
    "policy_area": ["seller", "LISTING", " listing ", "spam"],
    "item_url": [
        "https://",
        "http://@host",
        "javascript:alert(1)",
        "HTTPS://shop.example/a b",
        "https://e.com/" + "x" * 2040,
        "https://e.com/\x00",
        "https://é.example/ü",
    ],
    "context": [
        "null",
        "{}",
        "[]",
        "0",
        '"text"',
        ' {"a": 1} ',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e400}',
        '{"a": [-1e999]}',
        '{"a": 1' + "0" * 5000 + "}",
        '{"a": "\\u0000"}',
        '{"a": "\\ud800"}',
        '{"a": "\x00"}',
        '{"a": 1} trailing',
        '{"a":' * 400,
        "[" * 5000,
        '{"k": "' + "x" * 9000 + '"}',
        '{"a": 1, "a": 2}',
    ],
    "decision": ["approve", "reject", "REJECT", " reject "],
    "labels": ["fz-b|fz-a", "FZ-A|FZ-A", "FZ-A||FZ-B", "FZ-S", "FZ-OLD", "|", "FZ-A|", "\x00"],
    "decided_at": [
        "2026-03-01T09:30:00",
        "2026-03-01",
        "2026-01-15T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-23:59",
        "2026-02-30T00:00:00Z",
        "2026-03-01T09:30:00+24:00",
        "2026-03-01T09:30:00.123456789Z",
        " 2026-03-01T09:30:00Z ",
        "\uff12\uff10\uff12\uff16-03-01T00:00:00Z",
    ],
}
ANY_SPECIAL = st.sampled_from(
    [
        *sorted({value for values in SPECIALS.values() for value in values}),
        *["", " ", "\x00", "\r\n", '"', "'", "'=1+1", "''-2", "|", ","],
    ]
)
CELL = st.one_of(ANY_SPECIAL, ANY_TEXT, st.builds(lambda a, b: a + b, ANY_SPECIAL, ANY_TEXT))


def cell_for(field: str) -> st.SearchStrategy[str]:
    """Arbitrary text for `field`, often one of the values that probe its rules."""
    return st.one_of(st.sampled_from(SPECIALS[field]), CELL)


def mutated(changes: dict[str, str]) -> tuple[str, list[set[str]]]:
    """A file of one good row with `changes` (an explicit example of `mutated_files`)."""
    row = {**base_row(1), **changes}
    return write_csv(FIELDS, [[row[field] for field in FIELDS]]), [set(changes)]


@st.composite
def mutated_files(draw):
    """Good rows (E-1 .. E-3) with arbitrary values in some of their cells: the text of
    the file, and for each row the fields that were changed."""
    count = draw(st.integers(1, 3))
    rows, changed = [], []
    for n in range(1, count + 1):
        row = base_row(n)
        fields = draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True))
        for field in fields:
            row[field] = draw(cell_for(field))
        rows.append([row[field] for field in FIELDS])
        changed.append(set(fields))
    text = write_csv(FIELDS, rows, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    return text, changed


@st.composite
def csv_texts(draw):
    """Arbitrary CSV text: a header of field names in any order (some left out, others
    unknown or doubled), rows of arbitrary cells of any width, any quoting, or lines of
    raw text that may break the quoting."""
    names = draw(st.lists(st.sampled_from([*FIELDS, "colour", "", " vendor "]), max_size=14))
    if draw(st.booleans()):
        names = list(FIELDS)
    width = len(names)
    rows = draw(
        st.lists(
            st.lists(CELL, min_size=max(width - 1, 0), max_size=width + 1),
            max_size=4,
        )
    )
    if draw(st.booleans()):
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
        text = write_csv(names, rows, quoting=quoting)
    else:
        lines = [",".join(names), *(",".join(cells) for cells in rows)]
        text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    return ("\ufeff" if draw(st.booleans()) else "") + text


# The properties ------------------------------------------------------------------------------


@pytest.mark.promise("bad-input")
def test_arbitrary_bytes_are_imported_or_refused_clearly_never_an_error(
    client, login_as, reference, tried
):
    login_as("qa_lead")

    @given(body=st.binary(max_size=300) | st.binary(max_size=300).map(HEADER_LINE.__add__))
    @SETTINGS
    def fuzz(body):
        tried()
        with rolled_back():
            attempt(body)
        with rolled_back():
            before = snapshot()
            response = upload(client, body)
            assert response.status_code in (200, 400), response.status_code
            page = response.get_data(as_text=True)
            if response.status_code == 400:
                assert any(refusal in page for refusal in UPLOAD_REFUSALS), page[:3000]
                assert snapshot() == before

    fuzz()


@pytest.mark.promise("bad-input")
def test_arbitrary_csv_text_is_imported_or_refused_clearly_never_an_error(reference, tried):
    @given(text=csv_texts())
    @SETTINGS
    def fuzz(text):
        tried()
        with rolled_back():
            attempt(text.encode("utf-8"))

    fuzz()


@pytest.mark.promise("bad-input")
@pytest.mark.promise("integrity")
def test_arbitrary_values_are_refused_on_their_own_line_and_field(reference, tried):
    @given(file=mutated_files())
    @example(file=mutated({"context": '{"a": 1e400}'}))  # would come back as Infinity
    @example(file=mutated({"external_id": "\x00" * 200}))  # PostgreSQL cannot stage NUL
    @SETTINGS
    def fuzz(file):
        tried()
        text, changed = file
        with rolled_back():
            outcome = attempt(text.encode("utf-8"))
        if isinstance(outcome, ImportResult):
            assert outcome.rows == len(changed)
            return
        lines = record_lines(text)
        for error in outcome.errors:
            row = lines.index(error["line"])  # the line a row starts on
            may_name = set(changed[row])
            if may_name & {"decision", "policy_area", "decided_at"}:
                may_name.add("labels")  # what the labels must agree with changed
            # A repeated external id is reported on the later row, which may be a good one.
            assert error["field"] in may_name or error["field"] == "external_id", (
                error,
                changed,
            )

    fuzz()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20),  # surrogates included: a JSON body may escape them
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
# What a JSON body can carry that a file cannot: escaped surrogates in text, and
# numbers too large for a float.
TYPED_SPECIALS = st.sampled_from(
    ['{"a": "\ud800"}', "E-\udfff", {"a": "\ud800"}, {"a": float("inf")}, ["FZ-A", 1], 1e400]
)


def typed_value(field: str) -> st.SearchStrategy:
    return st.one_of(TYPED_SPECIALS, JSON_VALUES, cell_for(field))


def typed_row(n: int) -> dict:
    return {**base_row(n), "labels": ["FZ-A", "FZ-B"], "context": {"title": "A lamp"}}


@st.composite
def typed_rows(draw):
    """Rows as the API sends them (typed JSON values), some fields arbitrary, and for
    each row the fields that were changed."""
    rows, changed = [], []
    for n in range(1, draw(st.integers(1, 3)) + 1):
        row = typed_row(n)
        fields = draw(st.lists(st.sampled_from([*FIELDS, "surprise"]), max_size=3, unique=True))
        for field in fields:
            row[field] = draw(typed_value(field if field in SPECIALS else "context"))
        rows.append(row)
        changed.append(set(fields))
    return rows, changed


@pytest.mark.promise("bad-input")
def test_arbitrary_json_values_are_refused_by_index_and_field(reference, tried):
    """The same path for the API's rows: arbitrary JSON values (escaped surrogates, huge
    numbers, nested lists...) are imported or refused naming the row and field."""

    @given(batch=typed_rows())
    @example(batch=([{**typed_row(1), "context": '{"a": "\ud800"}'}], [{"context"}]))
    @SETTINGS
    def fuzz(batch):
        tried()
        rows, changed = batch
        with rolled_back():
            before = snapshot()
            try:
                result = import_decisions(rows, source="fuzz")
            except ImportRejected as err:
                assert snapshot() == before
                for error in err.errors:
                    assert set(error) == {"index", "field", "message"} and error["message"]
                    may_name = set(changed[error["index"]])
                    if may_name & {"decision", "policy_area", "decided_at"}:
                        may_name.add("labels")
                    assert error["field"] in may_name or error["field"] == "external_id", (
                        error,
                        changed,
                    )
            else:
                check_accepted(result, before)

    fuzz()


def test_problems_name_the_line_and_field_on_the_upload_page(client, login_as, reference):
    """What a user sees of a refused file: its line, field and problem, nothing stored."""
    login_as("qa_lead")
    row = base_row(3)
    text = write_csv(FIELDS, [[{**row, "site": "Ma\x07nila"}[f] for f in FIELDS]])
    before = snapshot()
    page = upload(client, text.encode()).get_data(as_text=True)
    assert re.search(r'<td class="text-nowrap">2</td>\s*<td><code>site</code></td>', page)
    assert "Must not contain control or invisible characters." in page
    assert snapshot() == before


@pytest.mark.promise("bad-input")
def test_a_context_the_api_could_not_give_back_is_refused_on_upload(client, login_as, reference):
    """A number too large for a float would come back from the API as `Infinity`,
    which is not JSON: the upload names its line and field, and stores nothing."""
    login_as("qa_lead")
    row = {**base_row(3), "context": '{"price": 1e400}'}
    before = snapshot()
    response = upload(client, write_csv(FIELDS, [[row[f] for f in FIELDS]]).encode())
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'<td class="text-nowrap">2</td>\s*<td><code>context</code></td>', page)
    assert "the number 1e400 is too large" in page
    assert snapshot() == before


@pytest.mark.promise("bad-input")
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"context": '{"a": "\\ud800"}'}, "context", "unpaired surrogate"),
        ({"context": '{"a": [1, -2e999]}'}, "context", "too large"),
        ({"external_id": "\\u0000" * 200}, "external_id", "at most 128"),
        ({"external_id": "\\udfff" * 200}, "external_id", "at most 128"),
    ],
)
def test_api_rows_the_database_could_not_store_are_refused_by_index_and_field(
    make_user, api_client, reference, changes, field, message
):
    """Escapes in a JSON body give text no file can hold (unpaired surrogates, NUL):
    the API answers 422 naming the row and field, never 500, and stores nothing."""
    api = api_client(make_user("integration"))
    row = json.dumps({**typed_row(3), **changes}).replace("\\\\u", "\\u")
    before = snapshot()
    response = api.post("/api/v1/decisions", data=f"[{row}]", content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)
    (detail,) = response.get_json()["error"]["details"]
    assert (detail["index"], detail["field"]) == (0, field)
    assert message in detail["message"]
    assert snapshot() == before
