"""Request body limits: small for everyone, large only once access is granted.

Every request may carry a body of a few megabytes (`MAX_CONTENT_LENGTH`). The decisions
import (page and API) and the API's bulk decisions push raise that limit, but only for a
request that has already passed the endpoint's access policy: an anonymous request, or
one from a role that may not import, gets 413 after a few megabytes at most, and the
CSRF check never reads a large body on anyone's behalf.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from app.config import Config, load_config
from app.decisions.intake import FIELDS
from app.extensions import db
from tests.factories import LabelFactory, VendorFactory

MB = 1024 * 1024
BOUNDARY = "limit-test-boundary"


@pytest.fixture
def reference():
    """A vendor and a label the rows below can use."""
    vendor = VendorFactory(code="LIM")
    label = LabelFactory(code="LIM-SPAM", policy_area="listing")
    db.session.commit()
    return vendor, label


def _row(n: int) -> dict:
    return {
        "external_id": f"LIM-{n:06d}",
        "vendor": "LIM",
        "moderator_id": "MOD-1",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "item_id": f"ITEM-{n}",
        "item_url": f"https://shop.example/items/{n}",
        "context": '{"queue": "standard"}',
        "decision": "reject",
        "labels": "LIM-SPAM",
        "decided_at": "2026-03-01T09:30:00+00:00",
    }


def _csv(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for n in range(1, count + 1):
        writer.writerow(_row(n))
    return out.getvalue().encode()


def _multipart(content: bytes, *, field: str = "file", fields: dict | None = None) -> bytes:
    """A multipart/form-data body with one file part (and optional text fields)."""
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'.encode()
    )
    parts.append(content)
    parts.append(f"\r\n--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _post(client, url, body: bytes, content_type: str, *, declared=True, headers=None):
    """POST `body` from a stream; returns the response and how many bytes were read."""
    stream = io.BytesIO(body)
    kwargs = {}
    if not declared:  # sent chunked: the server learns the size only by reading
        kwargs["environ_overrides"] = {"wsgi.input_terminated": True}
        headers = {**(headers or {}), "Transfer-Encoding": "chunked"}
    response = client.post(
        url, input_stream=stream, content_type=content_type, headers=headers or {}, **kwargs
    )
    return response, stream.tell()


def _csrf_token(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def csrf_on(app, monkeypatch):
    """CSRF checked as in production (the test config turns it off)."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


# Anonymous and small-form requests ---------------------------------------------------------


TEN_MB_FILE = _multipart(b"x" * (10 * MB))
TEN_MB_JSON = b"[" + b" " * (10 * MB) + b"]"


@pytest.mark.promise("requests")
@pytest.mark.parametrize(
    ("url", "body", "content_type"),
    [
        ("/decisions/import", TEN_MB_FILE, MULTIPART),
        ("/auth/login", TEN_MB_FILE, MULTIPART),
        (
            "/auth/login",
            b"email=a%40b.test&password=" + b"x" * (10 * MB),
            "application/x-www-form-urlencoded",
        ),
        ("/api/v1/decisions/imports", TEN_MB_FILE, MULTIPART),
        ("/api/v1/decisions", TEN_MB_JSON, "application/json"),
    ],
    ids=["import-page", "login-multipart", "login-form", "api-import", "api-decisions"],
)
def test_an_anonymous_large_body_is_refused_before_it_is_read(
    client, csrf_on, tried, url, body, content_type
):
    response, read = _post(client, url, body, content_type)
    tried()
    assert response.status_code == 413
    assert read == 0  # refused on its declared length: not a byte of it was read
    if url.startswith("/api/"):
        error = response.get_json()["error"]
        assert error["code"] == "too_large"
        assert "larger than the limit of 2 MB" in error["message"]
    else:
        assert "larger than the limit of 2 MB" in response.get_data(as_text=True)


# Cut off in the middle of a file part, Werkzeug's form parser leaves that part's
# temporary file for the garbage collector to close (at once), which warns.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.promise("requests")
@pytest.mark.parametrize(
    ("url", "status"),
    [("/auth/login", 413), ("/decisions/import", 302), ("/api/v1/decisions/imports", 401)],
)
def test_an_undeclared_body_is_cut_off_after_a_few_megabytes(client, csrf_on, tried, url, status):
    """Sent chunked, a body's size is known only by reading it: a public page reads at
    most the app-wide limit, a page that needs sign-in none of it."""
    response, read = _post(client, url, TEN_MB_FILE, MULTIPART, declared=False)
    tried()
    assert response.status_code == status
    assert read <= Config.MAX_CONTENT_LENGTH + MB
    if status != 413:
        assert read == 0


@pytest.mark.promise("requests")
def test_a_signed_in_form_is_capped_at_a_few_megabytes(client, login_as, tried):
    login_as("qa_lead")
    body = _multipart(b"x" * (3 * MB), field="current", fields={"new_password": "x"})
    response, read = _post(client, "/auth/password", body, MULTIPART)
    tried()
    assert response.status_code == 413 and read == 0
    assert "larger than the limit of 2 MB" in response.get_data(as_text=True)


@pytest.mark.promise("requests")
@pytest.mark.parametrize("role", ["qa_inspector", "vendor_lead", "vendor_viewer"])
def test_a_role_that_may_not_import_gets_no_larger_limit(
    client, login_as, make_user, api_client, tried, role
):
    login_as(role)
    body = _multipart(_csv(1) + b"x" * (3 * MB))
    response, read = _post(client, "/decisions/import", body, MULTIPART)
    tried()
    assert response.status_code == 413 and read == 0
    if role == "vendor_viewer":
        return  # no API write scope to try
    api = api_client(make_user(role))
    response, read = _post(
        client, "/api/v1/decisions/imports", body, MULTIPART, headers=api.headers
    )
    tried()
    assert response.status_code == 413 and read == 0
    assert response.get_json()["error"]["code"] == "too_large"


# Signed-in importers ------------------------------------------------------------------------


@pytest.mark.promise("requests")
@pytest.mark.parametrize("role", ["admin", "qa_lead"])
def test_an_importer_uploads_past_the_app_wide_limit_with_csrf_checked(
    app, client, login_as, reference, monkeypatch, tried, role
):
    """With the app-wide limit lowered below the file, the signed-in importer's upload
    passes the CSRF check and the import limit, and its preview lists every row."""
    login_as(role)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 16 * 1024)
    content = _csv(600)
    assert len(content) > 4 * 16 * 1024
    token = _csrf_token(client, "/decisions/import")
    response, read = _post(
        client, "/decisions/import", _multipart(content, fields={"csrf_token": token}), MULTIPART
    )
    tried()
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "All 600 rows are valid" in response.get_data(as_text=True)
    assert read > len(content)
    # The same body without the CSRF token is refused (by the CSRF check, once access
    # and the limit are settled), and the anonymous one by its size.
    response, _ = _post(client, "/decisions/import", _multipart(content), MULTIPART)
    tried()
    assert response.status_code == 400
    client.post("/auth/logout", data={"csrf_token": _csrf_token(client, "/decisions/import")})
    response, read = _post(
        client, "/decisions/import", _multipart(content, fields={"csrf_token": token}), MULTIPART
    )
    tried()
    assert response.status_code == 413 and read == 0


def test_the_default_limits_keep_anonymous_bodies_small_and_imports_large():
    settings = load_config({"APP_ENV": "testing"})
    assert settings["MAX_CONTENT_LENGTH"] == 2 * MB
    assert settings["IMPORT_MAX_BYTES"] == 512 * MB
    assert settings["API_DECISIONS_MAX_BYTES"] == 64 * MB


@pytest.mark.promise("requests")
def test_with_the_real_defaults_a_qa_lead_sends_a_70_mb_file(client, login_as, reference, tried):
    """70 MB: past the old app-wide limit of 64 MB and far past the anonymous one. The file
    ends with a NUL byte, so the answer tells that it was read to its very end."""
    login_as("qa_lead")
    content = _csv(1) + b"x" * (70 * MB) + b"\x00\n"
    response, read = _post(client, "/decisions/import", _multipart(content), MULTIPART)
    tried()
    assert response.status_code == 400
    assert "binary data" in response.get_data(as_text=True)
    assert read > 70 * MB


@pytest.mark.promise("requests")
def test_with_the_real_defaults_the_api_takes_a_70_mb_file(make_user, api_client, tried):
    api = api_client(make_user("integration"))
    content = _csv(1) + b"x" * (70 * MB) + b"\x00\n"
    response = api.post(
        "/api/v1/decisions/imports", data=_multipart(content), content_type=MULTIPART
    )
    tried()
    assert response.status_code == 422
    assert "binary data" in response.get_json()["error"]["message"]


@pytest.mark.promise("requests")
def test_the_api_push_takes_more_than_the_anonymous_limit_with_a_token(
    client, make_user, api_client, reference, tried
):
    row = {**_row(1), "labels": ["LIM-SPAM"], "context": {"queue": "standard"}}
    body = b"[" + b" " * (3 * MB) + json.dumps(row).encode() + b"]"
    response, read = _post(client, "/api/v1/decisions", body, "application/json")
    tried()
    assert response.status_code == 413 and read == 0
    api = api_client(make_user("integration"))
    response, read = _post(
        client, "/api/v1/decisions", body, "application/json", headers=api.headers
    )
    tried()
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json() == {"created": 1, "updated": 0, "unchanged": 0}
    assert read == len(body)


@pytest.mark.promise("requests")
def test_the_granted_limits_are_enforced_too(app, client, login_as, api_client, monkeypatch, tried):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 3 * MB)
    monkeypatch.setitem(app.config, "API_DECISIONS_MAX_BYTES", 3 * MB)
    user = login_as("admin")
    response, read = _post(client, "/decisions/import", _multipart(b"x" * (4 * MB)), MULTIPART)
    tried()
    assert response.status_code == 413 and read == 0
    assert "larger than the import limit of 3 MB" in response.get_data(as_text=True)
    api = api_client(user)
    body = b"[" + b" " * (4 * MB) + b"]"
    response, read = _post(
        client, "/api/v1/decisions", body, "application/json", headers=api.headers
    )
    tried()
    assert response.status_code == 413 and read == 0
    assert "larger than the limit of 3 MB" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("value", "expected"), [("4194304", 4 * MB), ("8MB", 8 * MB), ("512 KB", 512 * 1024)]
)
def test_body_limits_are_configured_by_environment(monkeypatch, value, expected):
    for name in ("MAX_CONTENT_LENGTH", "IMPORT_MAX_BYTES", "API_DECISIONS_MAX_BYTES"):
        monkeypatch.setenv(name, value)
        assert load_config({"APP_ENV": "testing"})[name] == expected
        monkeypatch.delenv(name)


@pytest.mark.parametrize("value", ["", "0", "-1", "lots", "2 TB"])
def test_a_bad_body_limit_is_refused_at_start(monkeypatch, value):
    from app.config import ConfigError

    monkeypatch.setenv("MAX_CONTENT_LENGTH", value or " ")
    with pytest.raises(ConfigError, match="MAX_CONTENT_LENGTH"):
        load_config({"APP_ENV": "testing"})
