"""Every role against every route, with objects of its own vendor, of another vendor,
and anonymously (DESIGN §1, §9 "Isolation").

The expected answer is derived from the route's declared policy and from whether its
URL names a vendor-owned object: a vendor user asking for another vendor's object gets
404, never 403 and never the object. A route whose URL parameters this test cannot
fill makes it fail, so a new route cannot slip past it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.audit.services import record
from app.extensions import db
from app.security.access import policy_for
from app.security.roles import ROLE_SCOPES, ROLES, VENDOR_ROLES
from app.tokens.services import create_token
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

SKIP_ENDPOINTS = {"static", "bootstrap.static"}
ANONYMOUS = "anonymous"


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


# URL parameter -> (how to fill it from one side's objects, names a vendor-owned object?)
PARAMS = {
    "code": (lambda o: o["vendor"].code, True),
    "contract_id": (lambda o: o["contract"].id, True),
    "user_id": (lambda o: o["user"].id, True),
    "token_id": (lambda o: o["token"].id, True),
    "label_id": (lambda o: o["label"].id, False),
    "seq": (lambda o: o["seq"], False),
    "external_id": (lambda o: o["decision"].external_id, True),
    "decision_id": (lambda o: o["decision"].id, True),
    "job_id": (lambda o: o["job"].id, False),
    "sample_id": (lambda o: o["sample"].id, True),
    "plan_id": (lambda o: o["plan"].id, True),
    "item_id": (lambda o: o["item"].id, True),
    "inspection_id": (lambda o: o["inspection"].id, True),
    "template_id": (lambda o: o["template"].id, False),
    "version_id": (lambda o: o["version"].id, False),
}
# URL parameters naming an object only its creator and these roles may see; anyone
# else the policy lets in gets 404 (the matrix's users never created these objects).
CREATOR_ONLY = {"job_id": {"admin", "qa_lead"}}


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


def _creator_only(rule, role: str, expected: set[int]) -> set[int]:
    private = [CREATOR_ONLY[name] for name in rule.arguments if name in CREATOR_ONLY]
    if role in ROLES and expected & {200} and any(role not in roles for roles in private):
        return {404}
    return expected


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(rule, side: dict) -> tuple[str, bool]:
    unknown = [name for name in rule.arguments if name not in PARAMS]
    assert not unknown, f"{rule.rule}: teach the access matrix how to fill {unknown}"
    values = {name: PARAMS[name][0](side) for name in rule.arguments}
    tenant = any(PARAMS[name][1] for name in rule.arguments)
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value))
        for conv in ("id", "key", "int", "string", "path"):
            path = path.replace(f"<{conv}:{name}>", str(value))
    return path, tenant


def _call(client, method, path, headers=None):
    return client.open(path, method=method, headers=headers or {}, data={})


def _expected(policy, role, tenant_other: bool) -> set[int]:
    """Acceptable status codes for `role` (or anonymous) on a route."""
    if policy.kind == "public":
        return {200, 302, 400, 401, 429}
    if role == ANONYMOUS:
        return {401} if policy.kind == "api" else {302}
    if policy.kind == "page" and role == "integration":
        return {302}  # integrations cannot sign in to pages
    if policy.kind == "api" and policy.scope not in ROLE_SCOPES[role]:
        return {403}
    if role not in policy.roles:
        return {403}
    if tenant_other and role in VENDOR_ROLES:
        return {404}
    return {200, 201, 302, 400, 409, 422}


@pytest.mark.parametrize("role", [ANONYMOUS, *ROLES])
def test_every_route_answers_each_role_as_its_policy_says(app, client, auth, world, role):
    if role not in (ANONYMOUS, "integration"):
        assert auth.login(world.users[role]).status_code == 302
    failures = []
    for rule, method in _routes(app):
        policy = policy_for(app, rule.endpoint)
        headers = {}
        if policy.kind == "api" and role != ANONYMOUS:
            headers = {"Authorization": f"Bearer {world.tokens[role]}"}
        for side_name, side in (("own", world.own), ("other", world.other)):
            path, tenant = _url(rule, side)
            if not rule.arguments and side_name == "other":
                continue
            # Writes are only probed where they must be refused: the areas' own tests
            # cover what an allowed write does.
            expected = _expected(policy, role, tenant and side_name == "other")
            expected = _creator_only(rule, role, expected)
            if method != "GET" and expected & {200, 201}:
                continue
            response = _call(client, method, path, headers)
            if response.status_code not in expected:
                failures.append(
                    f"{method} {path} [{side_name}] -> {response.status_code}, "
                    f"expected {sorted(expected)}"
                )
            if side_name == "other" and role in VENDOR_ROLES and tenant:
                other_vendor = world.other["vendor"]
                if other_vendor.name.encode() in response.data:
                    failures.append(f"{method} {path}: shows the other vendor's name")
    assert failures == []


@pytest.mark.parametrize("role", VENDOR_ROLES)
def test_vendor_users_never_see_another_vendor_in_lists(client, auth, world, role):
    auth.login(world.users[role])
    other = world.other["vendor"]
    for path in ("/", "/vendors/", "/vendors/?status=all", f"/vendors/?q={other.code}"):
        response = client.get(path)
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
    for rule, method in _routes(app):
        if method != "GET" or policy_for(app, rule.endpoint).kind == "api":
            continue
        path, _ = _url(rule, world.own)
        probes = [f"{path}?{query}" for query in HOSTILE_QUERIES]
        if "id:" in rule.rule:
            huge = rule.rule
            for name in rule.arguments:
                fill = "99999999999" if f"<id:{name}>" in huge else PARAMS[name][0](world.own)
                huge = huge.replace(f"<id:{name}>", fill).replace(f"<{name}>", str(fill))
            probes.append(huge)
        for probe in probes:
            status = client.get(probe).status_code
            if status >= 500:
                failures.append(f"GET {probe[:120]} -> {status}")
    assert failures == []
