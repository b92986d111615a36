"""Error answers: HTML pages for browsers, `{"error": {code, message, details}}` for the
API and for clients asking for JSON; nothing internal leaks from a server error."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from app.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from app.security.access import PUBLIC

pytestmark = pytest.mark.promise("bad-input")

JSON = {"Accept": "application/json"}
SECRET_DETAIL = "connection to 10.1.2.3 failed for user portal_rw"


def _assert_json_error(response, status: int, code: str):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def _assert_html_error(response, status: int, title: str):
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<html" in page
    assert title in page
    assert "Back to the home page" in page
    return page


# --- 404 ------------------------------------------------------------------------------


def test_unknown_page_is_an_html_404(client):
    _assert_html_error(client.get("/no/such/page"), 404, "Not found")


def test_unknown_page_is_a_json_404_when_json_is_asked_for(client):
    _assert_json_error(client.get("/no/such/page", headers=JSON), 404, "not_found")


def test_browsers_sending_a_wide_accept_header_get_html(client):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    _assert_html_error(client.get("/no/such/page", headers=browser), 404, "Not found")
    anything = {"Accept": "*/*"}
    _assert_html_error(client.get("/no/such/page", headers=anything), 404, "Not found")


def test_unknown_api_path_is_a_json_404_whatever_the_accept_header(client):
    error = _assert_json_error(
        client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"}), 404, "not_found"
    )
    assert error["details"] is None


def test_missing_vendor_is_a_404_page(client, login_as):
    login_as("qa_lead")
    _assert_html_error(client.get("/vendors/NO-SUCH-VENDOR"), 404, "Not found")


# --- 401 / 403 ------------------------------------------------------------------------


def test_forbidden_page_is_an_html_403(client, login_as):
    login_as("qa_inspector")
    _assert_html_error(client.get("/audit/"), 403, "Not allowed")


def test_forbidden_page_is_a_json_403_when_json_is_asked_for(client, login_as):
    login_as("vendor_viewer")
    _assert_json_error(client.get("/users/", headers=JSON), 403, "forbidden")


def test_forbidden_api_call_is_a_json_403(make_user, api_client):
    user = make_user("integration")
    response = api_client(user, scopes=["decisions:write"]).get("/api/v1/me")
    error = _assert_json_error(response, 403, "forbidden")
    assert "read" in error["message"]


def test_anonymous_json_client_gets_401_not_a_redirect(client):
    response = client.get("/", headers=JSON)
    _assert_json_error(response, 401, "unauthorized")
    assert "Location" not in response.headers


def test_anonymous_browser_is_redirected_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


# --- 405 ------------------------------------------------------------------------------


def test_wrong_method_is_a_405_page_with_allow_header(client):
    response = client.post("/healthz")
    _assert_html_error(response, 405, "Method not allowed")
    assert "GET" in response.headers["Allow"]


def test_wrong_method_on_the_api_is_a_json_405(make_user, api_client):
    response = api_client(make_user("qa_lead")).delete("/api/v1/me")
    _assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_wrong_method_with_json_accept_is_a_json_405(client, login_as):
    login_as("qa_lead")
    response = client.delete("/", headers=JSON)
    _assert_json_error(response, 405, "method_not_allowed")


# --- 500 and domain errors (on a throwaway app, never the shared one) -----------------


@pytest.fixture(scope="module")
def fragile_app():
    """A separate app with routes that fail, so the shared test app keeps its routes.
    Tests only send it requests, so the module shares one."""
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "RATELIMIT_STORAGE_URI": "memory://",
            "PROPAGATE_EXCEPTIONS": False,
        }
    )

    def boom():
        raise RuntimeError(SECRET_DETAIL)

    def invalid():
        raise ValidationFailed(
            "Month must look like YYYY-MM.", [{"field": "month", "message": "Use YYYY-MM."}]
        )

    def conflict():
        raise Conflict("Someone changed this inspection first; reload it.")

    def not_allowed():
        raise NotAllowed("Only the session lead may close it.")

    def gone():
        raise NotFound("No such sample.")

    for path, view in [
        ("/boom", boom),
        ("/api/v1/boom", boom),
        ("/invalid", invalid),
        ("/api/v1/invalid", invalid),
        ("/conflict", conflict),
        ("/not-allowed", not_allowed),
        ("/gone", gone),
    ]:
        view.access_policy = PUBLIC
        app.add_url_rule(path, f"fragile_{path.replace('/', '_')}", view)
    return app


def test_server_error_is_a_500_page_that_leaks_nothing(fragile_app, caplog):
    with caplog.at_level(logging.ERROR):
        response = fragile_app.test_client().get("/boom")
    page = _assert_html_error(response, 500, "Something went wrong")
    assert SECRET_DETAIL not in page
    assert "RuntimeError" not in page
    assert "Traceback" not in page
    # The details go to the log, for the people who run the portal.
    assert SECRET_DETAIL in caplog.text


@pytest.mark.parametrize(
    ("path", "headers"), [("/api/v1/boom", {}), ("/boom", JSON)], ids=["api", "accept"]
)
def test_server_error_is_a_json_500_that_leaks_nothing(fragile_app, path, headers, caplog):
    with caplog.at_level(logging.ERROR):
        response = fragile_app.test_client().get(path, headers=headers)
    error = _assert_json_error(response, 500, "server_error")
    assert error["details"] is None
    assert SECRET_DETAIL not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)


def test_domain_errors_keep_their_status_code_and_details(fragile_app):
    client = fragile_app.test_client()
    error = _assert_json_error(client.get("/api/v1/invalid"), 422, "invalid")
    assert error["message"] == "Month must look like YYYY-MM."
    assert error["details"] == [{"field": "month", "message": "Use YYYY-MM."}]
    page = _assert_html_error(client.get("/invalid"), 422, "Invalid input")
    assert "Month must look like YYYY-MM." in page
    _assert_json_error(client.get("/conflict", headers=JSON), 409, "conflict")
    _assert_json_error(client.get("/not-allowed", headers=JSON), 403, "forbidden")
    _assert_html_error(client.get("/gone"), 404, "Not found")
    assert "No such sample." in client.get("/gone").get_data(as_text=True)


def test_error_pages_carry_the_security_headers(client):
    response = client.get("/no/such/page")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_missing_trailing_slash_redirects_instead_of_erroring(client, login_as):
    login_as("qa_lead")
    response = client.get("/vendors")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/vendors/")


def test_control_characters_are_refused_on_their_field_not_a_server_error(client, login_as):
    login_as("admin")
    response = client.post(
        "/vendors/new",
        data={"code": "NULL1", "name": "Bad\x00Name", "time_zone": "UTC", "holiday_country": "US"},
    )
    assert response.status_code == 400
    assert b"Remove the control characters." in response.data
    assert client.get("/vendors/NULL1").status_code == 404
    assert client.get("/vendors/?q=%00").status_code == 200
