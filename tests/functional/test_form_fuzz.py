"""Every form and every page's query string against generated bad input (DESIGN §9 "Bad
input"): no answer is a 5xx; a refused form names what is wrong and changes nothing.

The routes come from the route table, never from a list kept here: every page route that
takes a POST is posted to, and every page route that takes a GET is asked with generated
query strings. The fields a form posts are read from the pages that show it (its own page
for a GET-and-POST route, else the page above it in the URL), with their types, options and
current values, so a new field or a new form is fuzzed as soon as it exists.

Each generated body mixes the form's own values (so that most fields pass and the bad one
reaches the code behind it) with bad ones: text with unicode, control characters and
markup, huge strings, numbers out of range, wrong types, missing fields, repeated fields,
choices that are not offered, impossible dates and months. Each route is a test of its
own: a bounded, derandomized number of examples as the role that may use it, inside the
world's savepoint, so that one route's accepted changes do not leak into the next.

"Changes nothing" is checked by the row count of every table (the audit trail included,
which every change writes to) before and after each refused request.
"""

from __future__ import annotations

import importlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app import PAGE_BLUEPRINTS, register_converters
from app.extensions import db, limiter
from app.models import Job
from app.security.access import policy_for
from app.security.roles import VENDOR_ROLES
from app.tokens.services import create_token
from tests.builders import inspections
from tests.builders.world import module_world
from tests.factories import (
    TEST_PASSWORD,
    ContractFactory,
    LabelFactory,
    SamplingPlanFactory,
    UserFactory,
    VendorFactory,
    make_scorecard,
)

POST_EXAMPLES = 25  # per form route
GET_EXAMPLES = 8  # per page route and role
SKIP_ENDPOINTS = {"static", "bootstrap.static"}
PAGE_ROLES = ("admin", "qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer")
APP_DIR = Path(__file__).resolve().parents[2] / "app"

# Signs of a page that says what is wrong: a field's message, an error summary or a
# flashed warning (a page's standing notes are alert-warning without a close button).
ERROR_MARKS = ("invalid-feedback", "alert-danger", "alert-warning alert-dismissible")
# Answers that refuse a request as such (no such object, not allowed, too large, too many
# requests); their pages are the portal's error pages, which say so.
REFUSALS = {400, 401, 403, 404, 405, 409, 413, 415, 422, 429}


# World ----------------------------------------------------------------------------------


@module_world
def world():
    """FZOWN with a contract, a listing scorecard and a seller template with a draft, four
    decisions of March 2026 (three in an open sample assigned to the inspector: a draft
    inspection, a final one and a pending item; one not sampled), a plan, a retired label,
    an inactive user, an integration user's token and a job; one user of every page role
    (vendor roles of FZOWN), and FZOTHER next door."""
    own = VendorFactory(code="FZOWN", name="Fuzz Own Ltd")
    VendorFactory(code="FZOTHER", name="Fuzz Other Ltd")
    contract = ContractFactory(vendor=own)
    inspections.scorecard("listing")
    labels = [
        LabelFactory(code=f"LST-FZ{n}", name=f"Fuzz label {n}", policy_area="listing")
        for n in range(3)
    ]
    retired = LabelFactory(
        code="LST-FZOLD", policy_area="listing", active=False, retired_at=datetime.now(UTC)
    )
    users = {
        role: UserFactory(
            role=role,
            email=f"fuzz.{role}@example.test",
            vendor=own if role in VENDOR_ROLES else None,
        )
        for role in PAGE_ROLES
    }
    target = UserFactory(role="qa_inspector", email="fuzz.target@example.test")
    inactive = UserFactory(role="qa_inspector", email="fuzz.gone@example.test", active=False)
    integration = UserFactory(role="integration", email="fuzz.system@example.test")
    token, _ = create_token(integration, name="fuzz token")
    template, _published, draft = make_scorecard("seller", draft=True, actor=users["qa_lead"])
    undrafted, _, _ = make_scorecard("content", actor=users["qa_lead"])
    gone = VendorFactory(code="FZGONE", name="Fuzz Gone Ltd", active=False)
    future = ContractFactory(vendor=own, effective_month=date(2040, 1, 1))
    decisions = [
        inspections.decision(
            own,
            labels=[labels[0]],
            decided=datetime(2026, 3, 10 + n, 9, 0, tzinfo=UTC),
        )
        if n % 2 == 0
        else inspections.decision(own, decided=datetime(2026, 3, 10 + n, 9, 0, tzinfo=UTC))
        for n in range(4)
    ]
    sample = inspections.sample_of(own, decisions[:3], assignee=users["qa_inspector"])
    drafted = inspections.inspect(decisions[0], users["qa_inspector"], finalise=False)
    final = inspections.inspect(decisions[1], users["qa_inspector"])
    items = {item.decision_id: item for item in sample.items}
    plan = SamplingPlanFactory(vendor=own, name="Fuzz plan")
    job = Job(kind="decisions.import", state="succeeded", result={}, created_by=users["admin"])
    db.session.add(job)
    db.session.flush()
    from app.models import AuditEvent

    seq = db.session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    db.session.commit()
    return {
        "users": users,
        "params": {
            "code": own.code,
            "contract_id": contract.id,
            "label_id": labels[1].id,
            "user_id": target.id,
            "token_id": token.id,
            "sample_id": sample.id,
            "item_id": items[decisions[2].id].id,
            "plan_id": plan.id,
            "template_id": template.id,
            "version_id": draft.id,
            "inspection_id": drafted.id,
            "decision_id": decisions[3].id,
            "job_id": job.id,
            "seq": seq,
        },
        # Routes whose object must be in another state than the one the others use.
        "overrides": {
            "labels.reactivate": {"label_id": retired.id},
            "users.activate": {"user_id": inactive.id},
            "inspections.correct": {"inspection_id": final.id},
            "scorecards.new_draft": {"template_id": undrafted.id},
            "vendors.activate": {"code": gone.code},
            "vendors.contract_delete": {"contract_id": future.id},
        },
        # Forms shown on a page only with a query string.
        "form_pages": {"tokens.create": f"/tokens/new?user={integration.id}"},
    }


# Who uses a route: the first of its roles in the order of PAGE_ROLES, unless named here.
ROLE_FOR = {
    "inspections.edit": "qa_inspector",  # the draft's author
    "inspections.inspect_item": "qa_inspector",  # the item's assignee
    "auth.change_password": "vendor_viewer",
}


def _role(app, endpoint: str) -> str | None:
    policy = policy_for(app, endpoint)
    if policy.kind == "public":
        return None
    if endpoint in ROLE_FOR:
        return ROLE_FOR[endpoint]
    return next(role for role in PAGE_ROLES if role in policy.roles)


def _url(app, rule, world) -> str:
    values = {**world["params"], **world["overrides"].get(rule.endpoint, {})}
    missing = [name for name in rule.arguments if name not in values]
    assert not missing, f"{rule.rule}: teach the world how to fill {missing}"
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        return adapter.build(rule.endpoint, {name: values[name] for name in rule.arguments})


# Reading forms from pages ---------------------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # text, textarea, password, hidden, email, number, date, month, select, ...
    options: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # what the page filled in


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, Field] = field(default_factory=dict)

    def add(self, name: str, kind: str, value: str | None, *, selected: bool) -> Field:
        """A field (or one more option of it: checkboxes, radios and buttons of a name)."""
        found = self.fields.get(name)
        if found is None:
            found = self.fields[name] = Field(name, kind)
        if value is not None and kind in ("checkbox", "radio", "submit"):
            found.options.append(value)
        if value is not None and selected:
            found.values.append(value)
        return found


class FormReader(HTMLParser):
    """The forms of a page: method, action and fields with their options and values."""

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            action = a.get("action") or self.page_url
            self._form = Form((a.get("method") or "get").lower(), urlsplit(action).path)
            self.forms.append(self._form)
            return
        if tag == "option" and self._select is not None:
            if a.get("value") is not None:  # the portal always sets one
                self._select.options.append(a["value"])
                if "selected" in a:
                    self._select.values.append(a["value"])
            return
        form, name = self._form, a.get("name")
        if form is None or not name:
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                form.add(name, kind, a.get("value", "on"), selected="checked" in a)
            else:
                form.add(name, kind, a.get("value", ""), selected=True)
        elif tag == "button":
            form.add(name, "submit", a.get("value", ""), selected=False)
        elif tag == "select":
            self._select = form.add(name, "select", None, selected=False)
        elif tag == "textarea":
            self._textarea = form.add(name, "textarea", None, selected=False)
            self._textarea.values.append("")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.values[-1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(page: str, url: str) -> list[Form]:
    reader = FormReader(url)
    reader.feed(page)
    return reader.forms


def _parents(url: str) -> Iterator[str]:
    parts = url.rstrip("/").split("/")
    for cut in range(len(parts) - 1, 0, -1):
        base = "/".join(parts[:cut])
        yield base + "/"
        yield base


def form_for(client, url: str, *, get_too: bool, page: str | None = None) -> Form | None:
    """The POST form whose action is `url`, read from `page`, its own page or a page
    above it; the fields of every such form on the first page that has one, merged."""
    candidates = ([page] if page else []) + ([url] if get_too else []) + list(_parents(url))
    for page_url in candidates:
        response = client.get(page_url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        found = [
            f
            for f in forms_on(response.get_data(as_text=True), urlsplit(page_url).path)
            if f.method == "post" and f.action.rstrip("/") == url.rstrip("/")
        ]
        if found:
            merged = Form("post", url)
            for form in found:
                for name, fld in form.fields.items():
                    merged.fields.setdefault(name, fld)
            return merged
    return None


# Generated values -----------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[2J\x07",
    "\r\n\r\n",
    "\t",
    "\u202eevil",
    "\ufeff",
    "\U0001f4a5\u0301\u200d",
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "' OR '1'='1' --",
    "{{7*7}}${7*7}",
    "../../etc/passwd",
    '=HYPERLINK("http://x")',
    "-1",
    "0",
    "-0",
    "1e309",
    "NaN",
    "-inf",
    "2147483648",
    "-9223372036854775809",
    "9" * 400,
    "1.5",
    "0x10",
    "\u0663",  # an Arabic-Indic digit three
    "true",
    "null",
    "[]",
    "{}",
    "a" * 5_000,
]


class Huge(str):
    """A long text that shows as its length in a failure report."""

    def __repr__(self) -> str:
        return f"<{len(self):,} characters>"


HUGE = st.sampled_from([Huge("x" * 65_536), Huge("\u00e9\u0000" * 20_000)])
DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(
        ["2026-02-30", "2026-13-01", "0000-00-00", "9999-12-31", "2026-1-1", "10000-01-01"]
    ),
)
MONTHS = st.one_of(
    st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(0, 10_000), st.integers(0, 13)),
    st.sampled_from(["2026-3", "2026-03-01", "-2026-03", "2026/03", "Mar 2026"]),
)
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)
SHORT_TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    NUMBERS,
)
TEXT = st.one_of(SHORT_TEXT, HUGE)


def value_strategy(fld: Field, text: st.SearchStrategy[str] = TEXT) -> st.SearchStrategy[str]:
    """What one value of a field may be: its own (the page's or an offered one) or a bad
    one of any type, biased towards the field's own kind."""
    own = [v for v in [*fld.values, *fld.options] if v is not None]
    kind_bad = {
        "number": NUMBERS,
        "date": DATES,
        "month": MONTHS,
        "email": st.one_of(st.emails(), text),
    }.get(fld.kind, text)
    invalid_choice = st.sampled_from(["not-a-choice", "0", "-1", "999999999", " "]) | text
    bad = st.one_of(kind_bad, text, DATES, MONTHS) if not fld.options else invalid_choice
    return st.one_of(st.sampled_from(own), bad) if own else bad


@st.composite
def form_bodies(draw, form: Form) -> MultiDict:
    """A body for `form`: each field missing, as the page has it, or given one or two
    generated values; sometimes an unknown field too."""
    body: list[tuple[str, object]] = []
    for name, fld in sorted(form.fields.items()):
        if fld.kind == "file":
            mode = draw(st.sampled_from(["missing", "text", "file"]))
            if mode == "text":
                body.append((name, draw(TEXT)))
            elif mode == "file":
                content = draw(st.binary(max_size=64))
                filename = draw(st.sampled_from(["x.csv", "", "../x.csv", "a\x00.csv", "é.txt"]))
                body.append((name, (io.BytesIO(content), filename)))
            continue
        mode = draw(st.sampled_from(["page", "page", "one", "one", "missing", "twice"]))
        if mode == "page":
            body.extend((name, value) for value in fld.values)
        elif mode == "one":
            body.append((name, draw(value_strategy(fld))))
        elif mode == "twice":
            body.extend((name, draw(value_strategy(fld))) for _ in range(2))
    if draw(st.booleans()):
        body.append((draw(st.sampled_from(["extra", "id", "csrf_token", "q-9999-key"])), "x"))
    return MultiDict(body)


# The state a refused request must leave as it was ---------------------------------------


def fingerprint() -> tuple:
    """Row counts of every table and the audit chain's last event, in one query."""
    counts = [
        sa.select(sa.func.count()).select_from(table).scalar_subquery()
        for table in db.metadata.sorted_tables
    ]
    db.session.expire_all()
    return tuple(db.session.execute(sa.select(*counts)).one())


def _text(response) -> str:
    return response.get_data(as_text=True)


def _main(response) -> str:
    """The page's main content (what a failure report shows)."""
    page = _text(response)
    start = page.find("<main")
    return re.sub(r"\s+", " ", page[start if start >= 0 else 0 :])[:1500]


# An error page of the portal (templates/errors/generic.html) with its message.
ERROR_PAGE = re.compile(r'<h1 class="h3">[^<]+</h1>\s*<p class="text-muted">([^<]+)</p>')


def _says_what_is_wrong(response) -> bool:
    """A page with a field's message, a flashed one or the error page's; or, from a CSV
    export or a page's JSON helper, the messages as plain text or as an error."""
    page = _text(response)
    if response.mimetype == "text/plain":
        return bool(page.strip())
    if response.mimetype == "application/json":
        error = (response.get_json(silent=True) or {}).get("error")
        return bool(error.get("message") if isinstance(error, dict) else error)
    return any(mark in page for mark in ERROR_MARKS) or ERROR_PAGE.search(page) is not None


def _problem(response, method: str, changed: bool) -> str | None:
    """What is wrong with an answer to a generated request, or None."""
    status = response.status_code
    if status >= 500:
        return f"answered {status}"
    if status in (301, 302, 303):
        return None  # accepted, or refused with a flashed message on the next page
    if method == "POST" and status == 200 and changed:
        return None  # accepted and shown at once (a new password, a verification)
    if status not in {200} | REFUSALS:
        return f"answered {status}"
    if changed:
        return f"answered {status} but changed the database"
    if method == "GET" and status == 200:
        return None
    if status in (200, 400, 401, 409, 422) and not _says_what_is_wrong(response):
        return f"answered {status} without saying what is wrong"
    return None


# Signing in -------------------------------------------------------------------------------


def _sign_in(client, role: str | None, world) -> None:
    client.post("/auth/logout")
    client.delete_cookie("vqa_session")
    if role is None:
        return
    limiter.reset()
    response = client.post(
        "/auth/login",
        data={"email": world["users"][role].email, "password": TEST_PASSWORD},
    )
    assert response.status_code == 302, _text(response)[:500]


# The routes ------------------------------------------------------------------------------


def page_rules() -> list[tuple[str, str, frozenset[str]]]:
    """(endpoint, rule, methods) of every page route, read from the page blueprints at
    collection time (a test below checks they are exactly the app's page routes)."""
    bare = Flask("routes")
    register_converters(bare)
    for module in PAGE_BLUEPRINTS:
        bare.register_blueprint(importlib.import_module(module).bp)
    return sorted(
        (rule.endpoint, rule.rule, frozenset(rule.methods))
        for rule in bare.url_map.iter_rules()
        if rule.endpoint not in SKIP_ENDPOINTS
    )


PAGE_RULES = page_rules()
POST_ENDPOINTS = [endpoint for endpoint, _, methods in PAGE_RULES if "POST" in methods]
GET_ENDPOINTS = [endpoint for endpoint, _, methods in PAGE_RULES if "GET" in methods]


def _rule(app, endpoint: str):
    return next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)


def test_the_fuzzed_routes_are_every_page_route(app):
    served = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in SKIP_ENDPOINTS and not rule.endpoint.startswith("api.")
    }
    assert served == {endpoint for endpoint, _, _ in PAGE_RULES}


# The tests -------------------------------------------------------------------------------

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

# Forms that no page shows while the world is as it is (the import's confirm and discard
# buttons appear only after an upload); they are posted with generated fields only.
WITHOUT_FORM_ON_PAGE = {"decisions.import_confirm", "decisions.import_discard"}


@pytest.mark.promise("bad-input")
@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_a_form_refuses_bad_input_clearly_and_never_fails(app, client, world, tried, endpoint):
    rule = _rule(app, endpoint)
    url = _url(app, rule, world)
    role = _role(app, endpoint)
    _sign_in(client, role, world)
    page = world["form_pages"].get(endpoint)
    form = form_for(client, url, get_too="GET" in rule.methods, page=page)
    assert (form is None) == (endpoint in WITHOUT_FORM_ON_PAGE), "no page shows this form"
    form = form or Form("post", url, {"upload": Field("upload", "hidden")})

    @given(body=form_bodies(form))
    @settings(SETTINGS, max_examples=POST_EXAMPLES)
    def post(body):
        if endpoint == "auth.login":
            limiter.reset()
        before = fingerprint()
        response = client.post(url, data=body)
        tried()
        response.get_data()  # a streamed answer ends (and its request context with it)
        problem = _problem(response, "POST", fingerprint() != before)
        if endpoint == "auth.logout":
            _sign_in(client, role, world)
        assert problem is None, f"POST {url} as {role}: {problem}\n{_main(response)}"

    post()


def _query_names() -> list[str]:
    """Every query argument a page reads (as the page code names them)."""
    pattern = re.compile(
        r"""(?:args\.get\w*\(\s*|args\[\s*|arg_choice\(\s*|getlist\(\s*)["']([a-z_]+)["']"""
    )
    names = set()
    for path in APP_DIR.rglob("*.py"):
        if "api" in path.parts:
            continue
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return sorted(names | {"page", "sort", "q"})


@st.composite
def query_strings(draw, names: list[str], forms: list[Form]) -> MultiDict:
    """A query string: a few of the arguments pages read, with the values their filter
    forms offer or bad ones, some repeated (no huge ones: a URL has a few kB at most)."""
    offered = {name: fld for form in forms for name, fld in form.fields.items()}
    chosen = draw(st.lists(st.sampled_from(names), max_size=5))
    query: list[tuple[str, str]] = []
    for name in chosen:
        fld = offered.get(name) or Field(name, "text")
        for _ in range(draw(st.integers(1, 2))):
            query.append((name, draw(value_strategy(fld, SHORT_TEXT))))
    return MultiDict(query)


QUERY_NAMES = _query_names()


@pytest.mark.promise("bad-input")
@pytest.mark.parametrize("endpoint", GET_ENDPOINTS)
def test_a_page_takes_any_query_string_without_failing(app, client, world, tried, endpoint):
    """As the first role that may see the page and, when vendor users may see it too, as a
    vendor lead (the scoped view of the same page)."""
    assert {"vendor", "month", "page", "sort", "status"} <= set(QUERY_NAMES)
    rule = _rule(app, endpoint)
    policy = policy_for(app, endpoint)
    url = _url(app, rule, world)
    roles = [_role(app, endpoint)] + (["vendor_lead"] if "vendor_lead" in policy.roles else [])
    for role in roles:
        _sign_in(client, role, world)
        _fuzz_query(client, url, role, tried)


def _fuzz_query(client, url: str, role: str | None, tried) -> None:
    page = client.get(url)
    page.get_data()
    forms = (
        [f for f in forms_on(_text(page), url) if f.method == "get"]
        if page.mimetype == "text/html"
        else []
    )

    @given(query=query_strings(QUERY_NAMES, forms))
    @settings(SETTINGS, max_examples=GET_EXAMPLES)
    def get(query):
        response = client.get(url, query_string=query)
        tried()
        response.get_data()  # a streamed answer ends (and its request context with it)
        problem = _problem(response, "GET", changed=False)
        assert problem is None, f"GET {url} as {role}: {problem}\n{_main(response)}"

    get()


# What the runs above found, kept as plain examples ----------------------------------------


def _draw_form(**changes) -> dict:
    """The draw and plan forms as a QA lead fills them in: a fixed size, proportional."""
    data = {
        "name": "Fuzz plan two",
        "vendor": "FZOWN",
        "purpose": "contract",
        "strata": ["policy_area", "decision"],
        "size_mode": "size",
        "size": "2",
        "margin": "5",
        "confidence": "0.95",
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
    }
    data.update(changes)
    return data


@pytest.mark.promise("bad-input")
@pytest.mark.parametrize("url", ["/sampling/draw", "/sampling/plans/new"])
@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({"confidence": "0.5"}, "Confidence"),
        ({"confidence": " "}, "Confidence"),
        ({"size": "9" * 400}, "Items"),
        ({"size": "-" + "9" * 400}, "Items"),
        ({"inspectors": ["2147483648"]}, "Inspectors"),
        ({"inspectors": ["9" * 30]}, "Inspectors"),
    ],
)
def test_a_draw_or_plan_with_a_value_out_of_any_range_is_refused_on_its_field(
    client, world, tried, url, changes, label
):
    _sign_in(client, "qa_lead", world)
    before = fingerprint()
    response = client.post(url, data=_draw_form(**changes))
    tried()
    assert response.status_code == 400
    assert f"<strong>{label}</strong>: " in _text(response)
    assert fingerprint() == before
