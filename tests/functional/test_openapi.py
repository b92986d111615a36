"""The OpenAPI document at /api/v1/openapi.json (DESIGN §8): valid OpenAPI 3, generated
from the code so every API route is in it, with the bearer scheme and the error answers
declared; and a schemathesis run over every operation in it, as every role with real
tokens and seeded data, with valid and with invalid data (in the path, the query and the
body), finds no server error and no answer that contradicts the document (DESIGN §9 "Bad
input").

The run is bounded and deterministic (derandomized, no example database, no network:
requests go straight to the WSGI app), and it walks whatever operations the document
holds, so new endpoints are covered as soon as they exist.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from app.models import Job
from app.sampling.services.draws import draw_sample
from app.security.access import policy_for
from app.security.roles import ROLE_SCOPES, VENDOR_ROLES
from tests.builders import inspections
from tests.factories import DecisionFactory, LabelFactory, VendorFactory

SPEC = "/api/v1/openapi.json"
METHODS = ("get", "put", "post", "patch", "delete")
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
REFUSED_EXAMPLES = 3  # a role without the operation's scope only ever gets 403


@pytest.fixture
def document(client):
    response = client.get(SPEC)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _resolve(document, node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/")
        section, _, key = name.partition("/")
        node = document["components"][section][key]
    return node


# --- the document --------------------------------------------------------------------


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # the meta-schema schemathesis itself checks documents against
        from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

        errors = [error.message for error in OPENAPI_30_VALIDATOR.iter_errors(document)]
        assert errors == []
    else:  # pragma: no cover - only when the validator package is installed
        validate(document)
    # Every reference resolves.
    for ref in re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)):
        _resolve(document, {"$ref": ref})


def _spec_path(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)


def test_every_api_route_is_in_the_document(app, document):
    documented = {(path, method) for path, method, _ in _operations(document)}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (_spec_path(rule), method.lower()) not in documented:
                missing.append(f"{method} {rule.rule}")
    assert missing == []
    for path in ("/api/v1/vendors", "/api/v1/labels", "/api/v1/decisions"):
        assert "get" in document["paths"][path]


def test_the_document_declares_bearer_tokens_and_the_error_answers(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearerAuth": []}]
    error_schema = {"$ref": "#/components/schemas/Error"}
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        default = _resolve(document, responses["default"])
        assert default["content"]["application/json"]["schema"] == error_schema, where
        if path == SPEC:
            assert operation["security"] == [], where
            continue
        # The document-wide bearer scheme applies (an operation may only restate it).
        assert operation.get("security", document["security"]) == document["security"], where
        for status in ("401", "403"):
            answer = _resolve(document, responses[status])
            assert answer["content"]["application/json"]["schema"] == error_schema, where
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, where
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            assert "415" in responses, where


def test_lists_are_documented_as_pages_of_their_items(document):
    for path, item in (("/api/v1/vendors", "Vendor"), ("/api/v1/labels", "Label")):
        ok = document["paths"][path]["get"]["responses"]["200"]
        page = _resolve(document, ok["content"]["application/json"]["schema"])
        assert page["required"] == ["items", "next_cursor"]
        assert page["properties"]["items"]["items"] == {"$ref": f"#/components/schemas/{item}"}
        assert page["properties"]["next_cursor"]["nullable"] is True
    decision = document["components"]["schemas"]["Decision"]["properties"]
    assert set(decision) == {
        "external_id",
        "vendor",
        "moderator_id",
        "site",
        "market",
        "policy_area",
        "item_id",
        "item_url",
        "context",
        "decision",
        "labels",
        "decided_at",
    }


# --- schemathesis --------------------------------------------------------------------


@pytest.fixture
def seeded(make_user, api_client):
    """Reference data and decisions for the generated calls to find, and a token for each
    role the run uses."""
    own = VendorFactory(code="STHOWN", name="Own Vendor Ltd")
    other = VendorFactory(code="STHOTHER", name="Other Vendor Ltd")
    labels = {area: LabelFactory(policy_area=area) for area in ("seller", "listing", "ipr")}
    start = datetime(2026, 1, 5, tzinfo=UTC)
    decisions = []
    for n in range(12):
        vendor = own if n % 2 else other
        area = ("seller", "listing", "ipr")[n % 3]
        reject = n % 4 == 0
        decisions.append(
            DecisionFactory(
                vendor=vendor,
                policy_area=area,
                decision="reject" if reject else "approve",
                labels=[labels[area]] if reject else [],
                item_url=f"https://shop.example/item/{n}" if n % 3 else None,
                context={"title": f"Item {n}"} if n % 2 else None,
                decided_at=start + timedelta(days=n * 3),
            )
        )
    users = {role: make_user(role, vendor=own if role in VENDOR_ROLES else None) for role in RUNS}
    headers = {role: api_client(user).headers for role, user in users.items()}
    # Objects for the runs with ids that exist: a draft inspection (on the published
    # listing scorecard), a sample drawn as QA draws one, and a job, of the own vendor.
    version = inspections.scorecard("listing")
    drafted = inspections.inspect(
        next(d for d in decisions if d.vendor is own and d.policy_area == "listing"),
        users["qa_lead"],
        finalise=False,
    )
    sample = draw_sample(
        vendor=own,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        size=2,
        seed="schemathesis",
        actor=users["qa_lead"],
    )
    job = Job(kind="decisions.import", state="succeeded", result={}, created_by=users["admin"])
    db.session.add(job)
    db.session.flush()
    known = {
        "code": own.code,
        "external_id": next(d.external_id for d in decisions if d.vendor is own),
        "inspection_id": drafted.id,
        "sample_id": sample.id,
        "version_id": version.id,
        "job_id": job.id,
    }
    return headers, known


def _required_scope(app, path: str, method: str) -> str | None:
    """The scope the endpoint behind a documented operation asks for."""
    adapter = app.url_map.bind("localhost")
    sample = re.sub(r"\{[a-z_]+\}", "1", path)
    endpoint, _ = adapter.match(sample, method=method.upper())
    return policy_for(app, endpoint).scope


def _run(operation, client, headers, tried, *, mode, examples, negated=None, **fixed):
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def check(case):
        tried()
        if negated is not None:
            negated.update(
                location.value
                for location, component in case.meta.components.items()
                if component.mode is GenerationMode.NEGATIVE
            )
        case.call_and_validate(
            app=client.application, session=client, headers=headers, checks=CHECKS
        )

    try:
        check()
    except Unsatisfiable:
        # Negative generation has nothing to break in an operation without arguments.
        if mode is not GenerationMode.NEGATIVE:
            raise


# Role -> (positive, negative) examples per operation it may call. Every role's run sends
# negative data too (wrong types, values out of range, missing or extra fields, in the
# path, the query and the body), to every operation, and once more with the ids that
# exist so that a broken query or body reaches the code behind a found object. The admin
# run is the thorough one; the vendor users' check the tenant-scoped answers; the QA
# lead's covers only what the admin's scopes do not reach (drawing samples).
RUNS = {
    "admin": (25, 30),
    "qa_lead": (25, 25),
    "qa_inspector": (5, 10),
    "vendor_lead": (15, 15),
    "vendor_viewer": (5, 8),
    "integration": (10, 15),
}


@pytest.mark.promise("bad-input")
@pytest.mark.parametrize("role", list(RUNS))
def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    app, client, document, seeded, tried, role
):
    headers, known = seeded
    positive, negative = RUNS[role]
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    negated: dict[str, set[str]] = {}
    negatable: set[str] = set()
    for operation in operations:
        scope = _required_scope(app, operation.path, operation.method)
        if role == "qa_lead" and (scope is None or scope in ROLE_SCOPES["admin"]):
            continue
        run = {"client": client, "headers": headers[role], "tried": tried}
        if scope is not None and scope not in ROLE_SCOPES[role]:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, **run, mode=mode, examples=REFUSED_EXAMPLES)
            continue
        where = negated.setdefault(f"{operation.method.upper()} {operation.path}", set())
        for place, parameters in (
            ("path", operation.path_parameters),
            ("query", operation.query),
            ("body", operation.body),
        ):
            if list(parameters):
                negatable.add(place)
        _run(operation, **run, mode=GenerationMode.POSITIVE, examples=positive)
        _run(operation, **run, mode=GenerationMode.NEGATIVE, examples=negative, negated=where)
        names = {p.name for p in operation.path_parameters}
        if names and names <= set(known):
            # Also with ids that exist, so the success answers are checked too, and bad
            # queries and bodies reach the object's own checks.
            fixed = {name: known[name] for name in names}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(
                    operation,
                    **run,
                    mode=mode,
                    examples=REFUSED_EXAMPLES if mode.is_positive else negative,
                    negated=where,
                    path_parameters=fixed,
                )
    # Negative data reached every kind of place the role's operations take input in.
    assert negatable <= set().union(*negated.values()), negated
