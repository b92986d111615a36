"""Every role against every route, with objects of its own vendor, of another vendor,
and anonymously (DESIGN §1, §9 "Isolation", "Authorization").

The expected answers are in one readable file, tests/authorization_matrix.md,
generated from the route table and each route's declared policy by
`python -m tests.authorization_matrix --write`. This module checks that the file is
up to date, then sends every request it describes and compares the answers: a vendor
user asking for another vendor's object gets 404, never 403 and never the object. Any
answer that lets a request through where the file says it is refused is an unexpected
allow; they are counted and must be 0. A route missing from the file, or whose URL
parameters this test cannot fill, fails it, so a new route cannot slip past.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.audit.services import record
from app.extensions import db
from app.security.access import policy_for
from app.security.roles import ROLE_SCOPES, ROLES, VENDOR_ROLES
from app.tokens.services import create_token
from tests import authorization_matrix as matrix
from tests.builders.world import module_world
from tests.factories import (
    ContractFactory,
    DecisionFactory,
    InspectionFactory,
    LabelFactory,
    SampleFactory,
    SampleItemFactory,
    SamplingPlanFactory,
    UserFactory,
    VendorFactory,
    make_scorecard,
)
from tests.refs import ref

ANONYMOUS = matrix.ANONYMOUS


@dataclass
class World:
    own: dict
    other: dict
    users: dict
    tokens: dict


@module_world
def world():
    """Two vendors, each with a contract, a user, a token; one user of every role of
    the first vendor (the 'own' vendor for vendor roles). Built once for the module."""
    objects = {}
    for side in ("own", "other"):
        vendor = VendorFactory()
        contract = ContractFactory(vendor=vendor)
        member = UserFactory(role="vendor_viewer", vendor=vendor)
        token, _ = create_token(member, name=f"{side} token")
        objects[side] = {
            "vendor": vendor,
            "contract": contract,
            "user": member,
            "token": token,
            "label": LabelFactory(),
            "decision": DecisionFactory(vendor=vendor),
            "job": _job(created_by=member, title=f"{side} job"),
        }
        objects[side].update(_sampling(objects[side]["decision"]))
    users = {
        role: UserFactory(
            role=role, vendor=objects["own"]["vendor"] if role in VENDOR_ROLES else None
        )
        for role in ROLES
    }
    # Scorecard templates are not vendor-owned: both sides name the same one, whose
    # published version is what version_id fills (a draft would be 404 to vendor users).
    template, published, _draft = make_scorecard(draft=True, actor=users["qa_lead"])
    for side in objects.values():
        side.update(template=template, version=published)
    tokens = {}
    for role, user in users.items():
        _, plain = create_token(user, name="matrix", scopes=list(ROLE_SCOPES[role]))
        tokens[role] = plain
    record(db.session, "test.event", "vendor", objects["own"]["vendor"].id, summary="own")
    db.session.commit()
    from app.models import AuditEvent

    seq = db.session.query(db.func.max(AuditEvent.seq)).scalar()
    objects["own"]["seq"] = objects["other"]["seq"] = seq
    return World(objects["own"], objects["other"], users, tokens)


# URL parameter -> how to fill it from one side's objects (what each names, a vendor's
# object or not, is in tests/authorization_matrix.py).
PARAMS = {
    "code": lambda o: o["vendor"].code,
    "contract_id": lambda o: o["contract"].id,
    "user_id": lambda o: o["user"].id,
    "token_id": lambda o: o["token"].id,
    "label_id": lambda o: o["label"].id,
    "seq": lambda o: o["seq"],
    "external_id": lambda o: o["decision"].external_id,
    "decision_id": lambda o: o["decision"].id,
    "job_id": lambda o: o["job"].id,
    "sample_id": lambda o: o["sample"].id,
    "plan_id": lambda o: o["plan"].id,
    "item_id": lambda o: o["item"].id,
    "inspection_id": lambda o: o["inspection"].id,
    "template_id": lambda o: o["template"].id,
    "version_id": lambda o: o["version"].id,
}
# Files the static routes serve.
STATIC_FILES = {"static": "favicon.svg", "bootstrap.static": "css/bootstrap.min.css"}


def _job(**kwargs):
    from app.models import Job

    job = Job(kind="decisions.import", state="succeeded", result={"rows": 0}, **kwargs)
    db.session.add(job)
    return job


def _sampling(decision) -> dict:
    """A plan and a closed sample (vendor users see closed samples) with one item."""
    from datetime import UTC, date, datetime

    plan = SamplingPlanFactory(name="Matrix plan", vendor=decision.vendor, size=10)
    sample = SampleFactory(
        vendor=decision.vendor,
        purpose="contract",
        state="closed",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        strata=["policy_area", "decision"],
        requested_size=1,
        seed="matrix",
        method_version="hmac-sha256-v1",
        population=1,
        closed_at=datetime(2026, 2, 2, tzinfo=UTC),
    )
    item = SampleItemFactory(
        sample=sample,
        decision=decision,
        stratum="listing|approve",
        rank=1,
        status="inspected",
    )
    inspection = InspectionFactory(
        decision=decision,
        vendor_id=decision.vendor_id,
        sample_item=item,
        inspector=UserFactory(role="qa_inspector"),
        status="final",
        expected_decision=decision.decision,
        severity="none",
        correct=True,
        decision_match=True,
        purpose="contract",
        month=decision.decided_at.date().replace(day=1),
        finalised_at=datetime(2026, 2, 3, tzinfo=UTC),
    )
    return {"plan": plan, "sample": sample, "item": item, "inspection": inspection}


def _url(rule, side: dict) -> str:
    unknown = [name for name in rule.arguments if name not in PARAMS and name != "filename"]
    assert not unknown, f"{rule.rule}: teach the access matrix how to fill {unknown}"
    values = {
        name: STATIC_FILES[rule.endpoint] if name == "filename" else PARAMS[name](side)
        for name in rule.arguments
    }
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value))
        if f"<ref:{name}>" in path:  # a public number
            path = path.replace(f"<ref:{name}>", str(ref(value)))
        for conv in ("id", "key", "int", "string", "path"):
            path = path.replace(f"<{conv}:{name}>", str(value))
    return path


def _call(client, method, path, headers=None):
    return client.open(path, method=method, headers=headers or {}, data={})


def _observed(response) -> str:
    """The matrix cell an answer shows."""
    status = response.status_code
    if status in (401, 403, 404):
        return str(status)
    if status == 302 and "/auth/login" in response.headers.get("Location", ""):
        return matrix.SIGN_IN
    if status < 400 or status in (400, 409, 422):
        return matrix.ALLOW
    return str(status)


def _wanted(cell: str, side: str) -> str:
    """What one request should get, from its matrix cell and the side it asks for."""
    if cell == matrix.OWN_ONLY:
        return matrix.ALLOW if side == "own" else "404"
    if cell == matrix.NOT_THEIRS:
        return "404"
    return cell


def test_the_matrix_file_is_generated_from_the_route_table(app):
    """A changed route or policy shows as a diff of tests/authorization_matrix.md."""
    generated = matrix.render(matrix.rows(app))
    assert matrix.MATRIX_FILE.read_text(encoding="utf-8") == generated, (
        "tests/authorization_matrix.md is stale: run "
        "`python -m tests.authorization_matrix --write` and review the diff"
    )


@pytest.mark.promise("authorization")
@pytest.mark.promise("isolation")
@pytest.mark.parametrize("role", matrix.COLUMNS)
def test_every_route_answers_each_role_as_the_matrix_says(app, client, auth, world, role, tried):
    expected = matrix.read()
    if role not in (ANONYMOUS, "integration"):
        assert auth.login(world.users[role]).status_code == 302
    missing, unexpected_allows, other_failures = [], [], []
    sent = 0
    for rule, method in matrix.routes(app):
        cells = expected.get((method, rule.rule))
        if cells is None:
            missing.append(f"{method} {rule.rule}")
            continue
        cell = cells[role]
        if cell.endswith(matrix.NOT_SENT):
            continue  # an allowed write: the area's own tests send it
        headers = {}
        if policy_for(app, rule.endpoint).kind == "api" and role != ANONYMOUS:
            headers = {"Authorization": f"Bearer {world.tokens[role]}"}
        sides = ("own", "other") if matrix.names(rule) == "vendor" else ("own",)
        for side in sides:
            path = _url(rule, world.own if side == "own" else world.other)
            response = _call(client, method, path, headers)
            sent += 1
            wanted, got = _wanted(cell, side), _observed(response)
            if got != wanted:
                problem = f"{method} {path} [{side}] -> {response.status_code}, matrix: {wanted}"
                (unexpected_allows if got == matrix.ALLOW else other_failures).append(problem)
            shows_other = side == "other" and role in VENDOR_ROLES
            if shows_other and world.other["vendor"].name.encode() in response.data:
                unexpected_allows.append(f"{method} {path}: shows the other vendor's name")
            response.close()  # static files answer with an open file
    tried(sent)
    assert missing == [], (
        f"routes missing from tests/authorization_matrix.md: {missing}; run "
        "`python -m tests.authorization_matrix --write` and review the new rows"
    )
    assert (len(unexpected_allows), unexpected_allows) == (0, []), (
        f"{role}: {len(unexpected_allows)} unexpected allows in {sent} requests"
    )
    assert other_failures == [], f"{role}: answers differing from the matrix"


@pytest.mark.parametrize("role", VENDOR_ROLES)
def test_vendor_users_never_see_another_vendor_in_lists(client, auth, world, role):
    auth.login(world.users[role])
    other = world.other["vendor"]
    for path in ("/", "/vendors/", "/vendors/?status=all", f"/vendors/?q={other.code}"):
        # *My vendor* (/vendors/) leads a vendor user to their own vendor's page.
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        assert f'/vendors/{other.code}"'.encode() not in response.data, path
        assert other.name.encode() not in response.data, path


HOSTILE_QUERIES = [
    "page=99999999999999999999",
    "page=-3",
    "page=abc",
    "sort=;drop table users",
    "status=%00&q=%00%ff",
    "q=" + "x" * 5000,
    "vendor=NOPE&role=nope&user=99999999999&from=2026-13-45&to=yesterday",
]


@pytest.mark.parametrize("role", ["admin", "vendor_lead"])
def test_hostile_urls_never_cause_a_server_error(app, client, auth, world, role):
    auth.login(world.users[role])
    failures = []
    for rule, method in matrix.routes(app):
        if method != "GET" or rule.endpoint in STATIC_FILES:
            continue
        if policy_for(app, rule.endpoint).kind == "api":
            continue
        path = _url(rule, world.own)
        probes = [f"{path}?{query}" for query in HOSTILE_QUERIES]
        if "id:" in rule.rule or "ref:" in rule.rule:
            huge = rule.rule
            for name in rule.arguments:
                numbered = f"<id:{name}>" in huge or f"<ref:{name}>" in huge
                fill = "99999999999" if numbered else PARAMS[name](world.own)
                huge = huge.replace(f"<id:{name}>", fill).replace(f"<ref:{name}>", fill)
                huge = huge.replace(f"<{name}>", str(fill))
            probes.append(huge)
        for probe in probes:
            status = client.get(probe).status_code
            if status >= 500:
                failures.append(f"GET {probe[:120]} -> {status}")
    assert failures == []
