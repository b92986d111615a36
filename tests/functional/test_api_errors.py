"""Every API error is JSON in the {"error": {"code", "message", "details"}} shape: unknown
paths, wrong methods, bodies too large or not JSON where JSON is required (DESIGN §8)."""

from __future__ import annotations

import re

import pytest
from marshmallow import Schema, fields

from app import create_app
from app.api.blueprint import PortalBlueprint
from app.security.access import PUBLIC, access

pytestmark = pytest.mark.promise("bad-input")


def _assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/vendors/X/nope", "/api/v1/", "/api/v1", "/api/v2/vendors", "/api/"],
)
def test_unknown_api_paths_are_a_json_404(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    _assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/vendors"), ("DELETE", "/api/v1/labels"), ("PUT", "/api/v1/decisions/x")],
)
def test_a_wrong_method_is_a_json_405_with_allow(make_user, api_client, method, path):
    api = api_client(make_user("admin"))
    response = getattr(api, method.lower())(path)
    _assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


class _Probe(Schema):
    name = fields.String(required=True)


@pytest.fixture(scope="module")
def probe_app(tmp_path_factory):
    """A throwaway app with an endpoint taking a JSON body on the API blueprint class, and
    a small body limit, so the shared app keeps its own routes and limit. Tests only send
    it requests, so the module shares one."""
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "RATELIMIT_STORAGE_URI": "memory://",
            "UPLOAD_DIR": str(tmp_path_factory.mktemp("probe")),
            "MAX_CONTENT_LENGTH": 1000,
        }
    )
    probe = PortalBlueprint("probe", __name__, url_prefix="/api/v1/probe")

    @probe.route("", methods=["POST"])
    @access(PUBLIC)
    @probe.arguments(_Probe)
    def echo(args):
        return {"name": args["name"]}

    app.register_blueprint(probe)
    return app


def test_a_json_body_is_accepted(probe_app):
    response = probe_app.test_client().post("/api/v1/probe", json={"name": "ok"})
    assert response.status_code == 200
    assert response.get_json() == {"name": "ok"}


@pytest.mark.parametrize(
    "send",
    [
        {"data": {"name": "form"}},
        {"data": '{"name": "no content type"}'},
        {"data": "name,x\n1,2\n", "content_type": "text/csv"},
        {},
    ],
    ids=["form", "no-content-type", "csv", "empty"],
)
def test_a_body_that_is_not_json_is_a_415(probe_app, send):
    response = probe_app.test_client().post("/api/v1/probe", **send)
    error = _assert_json_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]


def test_malformed_json_is_a_400_and_missing_fields_a_422(probe_app):
    client = probe_app.test_client()
    response = client.post("/api/v1/probe", data="{nope", content_type="application/json")
    _assert_json_error(response, 400, "bad_request")
    error = _assert_json_error(client.post("/api/v1/probe", json={}), 422, "invalid")
    assert error["details"] == [{"field": "name", "message": "Missing data for required field."}]


def test_a_body_over_the_size_limit_is_a_json_413(probe_app):
    response = probe_app.test_client().post("/api/v1/probe", json={"name": "x" * 2000})
    _assert_json_error(response, 413, "too_large")


def _json_body_operations(document):
    for path, item in document["paths"].items():
        for method in ("post", "put", "patch"):
            content = item.get(method, {}).get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method, path


def test_every_api_operation_taking_json_refuses_another_content_type(
    client, make_user, api_client
):
    document = client.get("/api/v1/openapi.json").get_json()
    api = api_client(make_user("qa_lead"))  # holds every write scope a body needs
    for method, path in _json_body_operations(document):
        url = re.sub(r"\{[^}]+\}", "1", path)  # any id: the body is refused first
        response = getattr(api, method)(url, data="a,b\n1,2\n", content_type="text/csv")
        _assert_json_error(response, 415, "unsupported_media_type")
