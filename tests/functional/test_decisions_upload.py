"""The decisions CSV upload: the page (upload → preview → confirm), large files as
background jobs, the API door (POST /api/v1/decisions/imports), and refused files."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.decisions import import_files
from app.decisions.intake import FIELDS
from app.extensions import db
from app.models import AuditEvent, Decision, Job
from tests.factories import DecisionFactory, LabelFactory, VendorFactory
from tests.refs import ref


@pytest.fixture
def reference():
    """A vendor and two labels the rows below can use."""
    vendor = VendorFactory(code="UPL")
    labels = [
        LabelFactory(code="UPL-SPAM", policy_area="listing"),
        LabelFactory(code="UPL-FAKE", policy_area="listing"),
    ]
    db.session.commit()
    return vendor, labels


def _row(n: int, **changes) -> dict:
    row = {
        "external_id": f"UP-{n:05d}",
        "vendor": "UPL",
        "moderator_id": "MOD-7",
        "site": "Manila",
        "market": "US",
        "policy_area": "listing",
        "item_id": f"ITEM-{n}",
        "item_url": f"https://shop.example/items/{n}",
        "context": '{"queue": "priority"}',
        "decision": "reject" if n % 2 else "approve",
        "labels": "UPL-SPAM|UPL-FAKE" if n % 2 else "",
        "decided_at": "2026-03-01T09:30:00+08:00",
    }
    row.update(changes)
    return row


def _csv(rows: list[dict], header=FIELDS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v for k, v in row.items() if k in header})
    return out.getvalue().encode()


def _upload(client, body: bytes, name: str = "march.csv", url="/decisions/import"):
    return client.post(
        url,
        data={"file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


def _imports_dir(app) -> Path:
    return Path(app.config["UPLOAD_DIR"]) / "imports"


def _stored(app) -> list[Path]:
    folder = _imports_dir(app)
    return sorted(folder.iterdir()) if folder.exists() else []


def _decision_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Decision))


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page) or re.search(
        rf'type="hidden" name="{name}" value="([^"]*)"', page
    )
    assert match, page[:3000]
    return match.group(1)


@pytest.fixture(autouse=True)
def _empty_imports_folder(app):
    for path in _stored(app):
        path.unlink()
    yield
    for path in _stored(app):
        path.unlink()


# The page: upload, preview, confirm ---------------------------------------------------


def test_the_import_page_explains_every_column_and_its_sample_imports_as_it_is(
    client, login_as, reference
):
    login_as("qa_lead")
    page = client.get("/decisions/import").get_data(as_text=True)
    for name in FIELDS:
        needed = "optional" if name in ("item_url", "context", "labels") else "required"
        assert re.search(rf"<code>{name}</code></td>\s*<td>(<[^>]+>)?{needed}<", page), name
    response = client.get("/decisions/import/sample.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    sample = response.get_data()
    rows = list(csv.DictReader(io.StringIO(sample.decode("utf-8-sig"))))
    assert [r["decision"] for r in rows] == ["approve", "reject"]
    assert rows[1]["labels"] in ("UPL-FAKE", "UPL-SPAM")

    preview = _upload(client, sample, name="decisions-sample.csv").get_data(as_text=True)
    assert "All 2 rows are valid" in preview
    assert re.search(r'data-count="created">2<', preview)
    assert _decision_count() == 0


def test_vendor_users_get_no_sample_file(client, login_as, reference):
    login_as("vendor_lead", reference[0])
    assert client.get("/decisions/import/sample.csv").status_code in (403, 404)


def test_upload_previews_then_confirm_imports(app, client, login_as, reference):
    login_as("qa_lead")
    DecisionFactory(external_id="UP-00002", vendor=reference[0], decision="approve")
    db.session.commit()
    body = _csv([_row(n) for n in range(1, 6)])
    response = _upload(client, body)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Preview of march.csv" in page and "All 5 rows are valid" in page
    assert re.search(r'data-count="created">4<', page)
    assert re.search(r'data-count="updated">1<', page)
    assert re.search(r'data-count="unchanged">0<', page)
    # Nothing is stored before the confirmation; the file waits under a generated name.
    assert _decision_count() == 1
    (stored,) = _stored(app)
    assert "march" not in stored.name and stored.suffix == ".csv"
    assert "static" not in stored.parts
    assert stored.read_bytes() == body

    response = client.post(
        "/decisions/import/confirm",
        data={"upload": _hidden(page, "upload"), "filename": "march.csv"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/decisions/")
    assert _decision_count() == 5
    assert _stored(app) == []  # deleted once imported
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "decisions.imported")
    )
    assert event is not None and event.after["created"] == 4
    followed = client.get("/decisions/")
    assert "Imported march.csv: 4 created, 1 updated, 0 unchanged." in followed.get_data(
        as_text=True
    )


def test_with_csrf_on_the_forms_carry_their_token(app, client, login_as, reference, monkeypatch):
    login_as("qa_lead")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    body = _csv([_row(1)])
    assert _upload(client, body).status_code == 400  # no token: refused
    token = _hidden(client.get("/decisions/import").get_data(as_text=True), "csrf_token")
    response = client.post(
        "/decisions/import",
        data={"csrf_token": token, "file": (io.BytesIO(body), "march.csv")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert "The one row is valid" in page
    form = {"csrf_token": _hidden(page, "csrf_token"), "upload": _hidden(page, "upload")}
    assert client.post("/decisions/import/confirm", data=form).status_code == 302
    assert _decision_count() == 1


def test_confirming_twice_imports_once(client, login_as, reference):
    login_as("admin")
    page = _upload(client, _csv([_row(1)])).get_data(as_text=True)
    form = {"upload": _hidden(page, "upload"), "filename": "march.csv"}
    assert client.post("/decisions/import/confirm", data=form).status_code == 302
    again = client.post("/decisions/import/confirm", data=form, follow_redirects=True)
    assert "That upload is no longer there" in again.get_data(as_text=True)
    assert _decision_count() == 1


def test_discarding_a_preview_deletes_the_file_and_stores_nothing(app, client, login_as, reference):
    login_as("qa_lead")
    page = _upload(client, _csv([_row(1), _row(2)])).get_data(as_text=True)
    assert len(_stored(app)) == 1
    response = client.post(
        "/decisions/import/discard",
        data={"upload": _hidden(page, "upload"), "filename": "march.csv"},
        follow_redirects=True,
    )
    assert "discarded; nothing was imported" in response.get_data(as_text=True)
    assert _stored(app) == [] and _decision_count() == 0


def test_nobody_confirms_someone_elses_upload(app, client, auth, make_user, reference):
    owner, other = make_user("qa_lead"), make_user("admin")
    db.session.commit()
    auth.login(owner)
    page = _upload(client, _csv([_row(1)])).get_data(as_text=True)
    token = _hidden(page, "upload")
    auth.logout()
    auth.login(other)
    response = client.post(
        "/decisions/import/confirm", data={"upload": token}, follow_redirects=True
    )
    assert "That upload is no longer there" in response.get_data(as_text=True)
    for forged in ("../../etc/passwd", "x" * 32, ""):
        client.post("/decisions/import/confirm", data={"upload": forged})
    assert _decision_count() == 0 and len(_stored(app)) == 1


def test_of_two_confirmations_only_one_gets_the_file(app, login_as, reference):
    user = login_as("qa_lead")
    upload = import_files.store_upload(io.BytesIO(_csv([_row(1)])), "a.csv", owner=user)
    first, second = import_files.claim(upload), import_files.claim(upload)
    assert first is not None and first.path.exists() and second is None
    assert import_files.find_upload(upload.token, user) is None  # no longer waiting


def test_a_file_with_problems_lists_every_one_and_stores_nothing(app, client, login_as, reference):
    login_as("qa_lead")
    rows = [
        _row(1),
        _row(2, vendor="NOPE"),
        _row(3, labels="UPL-MISSING"),
        _row(4, decided_at="2026-03-01 09:30"),
        _row(5, decision="maybe"),
        _row(6, external_id="UP-00001"),
    ]
    response = _upload(client, _csv(rows))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page
    for line, field in (
        (3, "vendor"),
        (4, "labels"),
        (5, "decided_at"),
        (6, "decision"),
        (7, "external_id"),
    ):
        assert re.search(
            rf'<td class="text-nowrap">{line}</td>\s*<td><code>{field}</code></td>', page
        ), (line, field)
    assert "Unknown vendor" in page
    assert _decision_count() == 0
    assert _stored(app) == []  # nothing to confirm: the file is gone


def test_only_the_first_problems_are_listed_with_the_total(client, login_as, reference):
    login_as("qa_lead")
    rows = [_row(n, vendor="NOPE") for n in range(1, 151)]
    page = _upload(client, _csv(rows)).get_data(as_text=True)
    assert "Showing the first 100 of 150 problems." in page
    assert _decision_count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file (it contains binary data)"),
        (
            "external_id,vendor\ncafé,crème\n".encode("latin-1"),
            "not a CSV text file (it is not UTF-8 text)",
        ),
        (b"", "The file is empty."),
        (b"id,name,when\n1,2,3\n", "The header is not the decisions CSV header"),
        (",".join(FIELDS).encode() + b"\n", "The file has a header but no decisions below it."),
    ],
)
def test_files_that_are_not_a_decisions_csv_are_refused(app, client, login_as, body, message):
    login_as("admin")
    response = _upload(client, body, name="photo.csv")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert _stored(app) == []


def test_a_wrong_header_names_what_is_missing_and_unknown(client, login_as):
    login_as("admin")
    header = [f for f in FIELDS if f != "decided_at"] + ["colour"]
    page = _upload(client, _csv([_row(1)], header=header)).get_data(as_text=True)
    assert "missing decided_at" in page and "unknown &#39;colour&#39;" in page


def test_a_file_over_the_limit_is_refused(app, client, login_as, reference, monkeypatch):
    login_as("admin")
    body = _csv([_row(n) for n in range(1, 40)])
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 2048)
    response = _upload(client, body)
    assert response.status_code == 413
    assert "larger than the import limit of 2,048 bytes" in response.get_data(as_text=True)
    assert _stored(app) == []
    # Past the limit with its envelope, the request itself is refused before it is read.
    response = _upload(client, body * 40)
    assert response.status_code == 413
    assert "larger than the import limit" in response.get_data(as_text=True)


def test_a_byte_order_mark_and_crlf_lines_are_fine(client, login_as, reference):
    login_as("qa_lead")
    body = b"\xef\xbb\xbf" + _csv([_row(1), _row(2)]).replace(b"\n", b"\r\n")
    page = _upload(client, body).get_data(as_text=True)
    assert "All 2 rows are valid" in page


def test_uploads_left_for_over_a_day_are_swept_at_the_next_upload(app, client, login_as, reference):
    login_as("qa_lead")
    _upload(client, _csv([_row(1)]))
    (old,) = _stored(app)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    _upload(client, _csv([_row(2)]))
    remaining = _stored(app)
    assert old not in remaining and len(remaining) == 1


@pytest.mark.parametrize("role", ["qa_inspector", "vendor_lead", "vendor_viewer"])
def test_only_admins_and_qa_leads_may_import(app, client, login_as, reference, role):
    login_as(role)
    assert client.get("/decisions/import").status_code == 403
    assert _upload(client, _csv([_row(1)])).status_code == 403
    assert client.post("/decisions/import/confirm", data={"upload": "0" * 32}).status_code == 403
    assert _stored(app) == [] and _decision_count() == 0


def test_the_upload_page_explains_the_format(client, login_as):
    login_as("qa_lead")
    page = client.get("/decisions/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    assert "decided_at" in page and "ISO 8601" in page
    assert _upload(client, b"", name="").status_code == 400  # no file chosen


# Large files: background jobs ------------------------------------------------------------


@pytest.fixture
def small_limit(app, monkeypatch):
    """Anything over 5 rows counts as large (runs as jobs)."""
    monkeypatch.setitem(app.config, "IMPORT_INLINE_MAX_ROWS", 5)


def test_a_large_file_is_checked_then_imported_by_jobs(
    app, client, login_as, reference, small_limit
):
    user = login_as("qa_lead")
    response = _upload(client, _csv([_row(n) for n in range(1, 21)]), name="big.csv")
    assert response.status_code == 302
    check = db.session.scalar(sa.select(Job).where(Job.created_by_id == user.id))
    assert response.headers["Location"].endswith(f"/jobs/{ref(check)}")
    assert check.kind == "decisions.import_check" and check.state == "succeeded"
    assert check.title == "Check of big.csv"
    assert check.result == {"rows": 20, "created": 20, "updated": 0, "unchanged": 0}
    assert (check.progress, check.total) == (20, 20)
    assert _decision_count() == 0 and len(_stored(app)) == 1

    page = client.get(f"/jobs/{ref(check)}").get_data(as_text=True)
    assert "All 20 rows are valid" in page and "Import 20 rows" in page
    response = client.post(
        "/decisions/import/confirm",
        data={"upload": _hidden(page, "upload"), "filename": _hidden(page, "filename")},
    )
    assert response.status_code == 302
    job = db.session.scalar(
        sa.select(Job).where(Job.created_by_id == user.id, Job.kind == "decisions.import")
    )
    assert response.headers["Location"].endswith(f"/jobs/{ref(job)}")
    assert job.state == "succeeded" and job.title == "Import of big.csv"
    assert job.result == {"rows": 20, "created": 20, "updated": 0, "unchanged": 0}
    assert (job.progress, job.total, job.stage) == (20, 20, "done")
    assert _decision_count() == 20 and _stored(app) == []
    # A second click on the same button starts no second import.
    again = client.post("/decisions/import/confirm", data={"upload": check.params["upload"]})
    assert again.status_code == 302 and "/decisions/import" in again.headers["Location"]
    kinds = db.session.scalars(sa.select(Job.kind).where(Job.created_by_id == user.id)).all()
    assert sorted(kinds) == ["decisions.import", "decisions.import_check"]
    page = client.get(f"/jobs/{ref(job)}").get_data(as_text=True)
    assert "Imported 20 rows." in page and "20 of 20 rows (100%)" in page
    # The check job's file is gone: its page no longer offers the import.
    page = client.get(f"/jobs/{ref(check)}").get_data(as_text=True)
    assert "no longer waiting for its import" in page and "Import 20 rows" not in page


def test_a_large_file_with_problems_fails_its_check_with_every_problem(
    app, client, login_as, reference, small_limit
):
    user = login_as("admin")
    rows = [_row(n) for n in range(1, 21)]
    rows[9]["market"] = ""
    response = _upload(client, _csv(rows))
    check = db.session.scalar(sa.select(Job).where(Job.created_by_id == user.id))
    assert check.state == "failed" and check.total_errors == 1
    assert check.errors == [{"line": 11, "field": "market", "message": "Required."}]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing was imported: 1 problem found." in page
    assert "Upload a corrected file" in page and "Import 20 rows" not in page
    assert _decision_count() == 0 and _stored(app) == []


def test_another_admin_sees_the_check_but_cannot_confirm_it(
    client, auth, make_user, reference, small_limit
):
    owner, admin = make_user("qa_lead"), make_user("admin")
    db.session.commit()
    auth.login(owner)
    location = _upload(client, _csv([_row(n) for n in range(1, 9)])).headers["Location"]
    auth.logout()
    auth.login(admin)
    page = client.get(location).get_data(as_text=True)
    assert "All 8 rows are valid" not in page and "Import 8 rows" not in page
    assert "to create" in page


# The API door ----------------------------------------------------------------------------


def _api_upload(api, body: bytes, name: str = "feed.csv"):
    return api.post(
        "/api/v1/decisions/imports",
        data={"file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("role", ["admin", "qa_lead", "integration"])
def test_the_api_imports_a_csv_file_as_a_job(app, make_user, api_client, reference, role):
    user = make_user(role)
    api = api_client(user)
    response = _api_upload(api, _csv([_row(n) for n in range(1, 4)]))
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"job", "state", "url"}
    assert body["url"] == f"/api/v1/jobs/{body['job']}"
    assert response.headers["Location"].endswith(body["url"])
    job = api.get(body["url"]).get_json()
    assert job["state"] == "succeeded" and job["kind"] == "decisions.import"
    assert job["result"] == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0}
    assert job["errors"] is None and job["total_errors"] == 0
    assert _decision_count() == 3 and _stored(app) == []
    # Sending the same file again changes nothing.
    again = api.get(_api_upload(api, _csv([_row(n) for n in range(1, 4)])).get_json()["url"])
    assert again.get_json()["result"]["unchanged"] == 3


def test_the_api_job_of_a_bad_file_lists_its_row_errors(app, make_user, api_client, reference):
    api = api_client(make_user("integration"))
    body = _csv([_row(1), _row(2, vendor="NOPE"), _row(3, decision="")])
    job = api.get(_api_upload(api, body).get_json()["url"]).get_json()
    assert job["state"] == "failed" and job["total_errors"] == 2
    assert job["errors"] == [
        {"line": 3, "field": "vendor", "message": "Unknown vendor 'NOPE'."},
        {"line": 4, "field": "decision", "message": "Required."},
    ]
    assert _decision_count() == 0 and _stored(app) == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"\x00\x01\x02binary", 422, "not a CSV text file"),
        (b"a,b,c\n1,2,3\n", 422, "The header is not the decisions CSV header"),
    ],
)
def test_the_api_refuses_files_that_are_not_a_decisions_csv(
    app, make_user, api_client, body, status, message
):
    response = _api_upload(api_client(make_user("integration")), body)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert message in error["message"]
    assert error["details"][0]["field"] == "file"
    assert _stored(app) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_the_api_refuses_a_missing_or_too_large_file(
    app, make_user, api_client, reference, monkeypatch
):
    api = api_client(make_user("integration"))
    response = api.post("/api/v1/decisions/imports", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "file"
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024)
    response = _api_upload(api, _csv([_row(n) for n in range(1, 30)]))
    assert response.status_code == 413
    assert "larger than the import limit" in response.get_json()["error"]["message"]
    assert _stored(app) == []


@pytest.mark.parametrize("role", ["qa_inspector", "vendor_lead", "vendor_viewer"])
def test_the_api_import_is_refused_to_other_roles(app, make_user, api_client, reference, role):
    response = _api_upload(api_client(make_user(role)), _csv([_row(1)]))
    assert response.status_code == 403
    assert _decision_count() == 0 and _stored(app) == []


def test_the_import_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    upload = spec["paths"]["/api/v1/decisions/imports"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "202" in upload["responses"] and "413" in upload["responses"]
    assert "/api/v1/jobs/{job_id}" in spec["paths"]
