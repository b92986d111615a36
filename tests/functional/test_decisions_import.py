"""Two doors of decision intake: `POST /api/v1/decisions` and `flask decisions import`
(DESIGN §8, §11). All or nothing, exact per-row errors, idempotent re-sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, AuditRowChange, Decision
from tests.factories import LabelFactory, VendorFactory

pytestmark = pytest.mark.promise("integrity")

HEADER = (
    "external_id,vendor,moderator_id,site,market,policy_area,item_id,item_url,context,"
    "decision,labels,decided_at"
)


@pytest.fixture
def world():
    objects = {
        "vendor": VendorFactory(code="ACME"),
        "label": LabelFactory(code="LST-FAKE", policy_area="listing"),
        "label2": LabelFactory(code="LST-PRICE", policy_area="listing"),
    }
    db.session.commit()
    return objects


def decision_json(n: int = 1, **changes) -> dict:
    body = {
        "external_id": f"E-{n}",
        "vendor": "ACME",
        "moderator_id": "MOD-7",
        "site": "Manila",
        "market": "PH",
        "policy_area": "listing",
        "item_id": f"ITEM-{n}",
        "item_url": f"https://market.example.com/items/{n}",
        "context": {"title": "A lamp"},
        "decision": "reject",
        "labels": ["LST-FAKE"],
        "decided_at": "2026-03-01T09:30:00+08:00",
    }
    body.update(changes)
    return body


def stored() -> dict[str, Decision]:
    db.session.expire_all()
    return {d.external_id: d for d in db.session.scalars(sa.select(Decision))}


def import_events() -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "decisions.imported")
        .order_by(AuditEvent.seq)
    ).all()


@pytest.fixture
def pusher(make_user, api_client):
    """An API client for an integration user (scopes: read, decisions:write)."""
    return api_client(make_user("integration"))


# The API ---------------------------------------------------------------------------------


def test_a_batch_is_created_then_resent_without_effect(world, pusher):
    batch = [decision_json(1), decision_json(2, decision="approve", labels=[])]
    response = pusher.post("/api/v1/decisions", json=batch)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"created": 2, "updated": 0, "unchanged": 0}
    decisions = stored()
    assert decisions["E-1"].label_codes == ["LST-FAKE"]
    assert decisions["E-1"].decided_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert len(import_events()) == 1

    again = pusher.post("/api/v1/decisions", json={"decisions": batch})
    assert again.status_code == 200
    assert again.get_json() == {"created": 0, "updated": 0, "unchanged": 2}
    assert len(import_events()) == 1  # nothing changed, nothing audited


def test_an_update_is_audited_with_before_and_after(world, pusher):
    pusher.post("/api/v1/decisions", json=[decision_json(1)])
    response = pusher.post(
        "/api/v1/decisions", json=[decision_json(1, labels=["LST-PRICE", "LST-FAKE"])]
    )
    assert response.get_json() == {"created": 0, "updated": 1, "unchanged": 0}
    event = import_events()[-1]
    assert event.object_type == "import"
    assert event.actor.startswith("user")  # the token's user
    (change,) = db.session.scalars(
        sa.select(AuditRowChange).where(AuditRowChange.event_id == event.id)
    ).all()
    assert change.object_type == "decision"
    assert change.before["labels"] == ["LST-FAKE"]
    assert change.after["labels"] == ["LST-PRICE", "LST-FAKE"]


def test_a_bad_batch_lists_every_bad_row_and_stores_nothing(world, pusher):
    batch = [
        decision_json(1),
        decision_json(2, vendor="NOPE"),
        decision_json(3, decision="approve"),
        decision_json(4, decided_at="2026-03-01T09:30:00"),
        decision_json(1),
    ]
    response = pusher.post("/api/v1/decisions", json=batch)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["total_errors"] == 4
    assert "4 problems" in error["message"]
    assert [(d["index"], d["field"]) for d in error["details"]] == [
        (1, "vendor"),
        (2, "labels"),
        (3, "decided_at"),
        (4, "external_id"),
    ]
    assert all(d["message"] for d in error["details"])
    assert stored() == {}
    assert import_events() == []


def test_more_than_ten_thousand_rows_is_too_large(world, pusher):
    response = pusher.post("/api/v1/decisions", json=[{}] * 10_001)
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large"
    assert "10,000" in error["message"]
    assert stored() == {}


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("not json", "application/json", 400),
        ('[{"a": NaN}]', "application/json", 400),
        ('{"external_id": "E-1"}', "application/json", 400),
        ('{"decisions": {"external_id": "E-1"}}', "application/json", 400),
        ("5", "application/json", 400),
        ("[" * 100_000, "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        ("external_id\nE-1", "text/csv", 415),
    ],
)
def test_a_body_that_is_not_a_json_array_is_refused_clearly(
    world, pusher, body, content_type, status
):
    response = pusher.post("/api/v1/decisions", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]["message"]
    assert stored() == {}


def test_rows_that_are_not_objects_are_row_errors(world, pusher):
    response = pusher.post("/api/v1/decisions", json=[decision_json(1), [1], None])
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(1, None), (2, None)]


@pytest.mark.parametrize(
    ("role", "scopes"),
    [
        ("vendor_lead", None),
        ("vendor_viewer", None),
        ("qa_inspector", None),
        ("admin", ["read"]),
        ("integration", ["read"]),
    ],
)
def test_only_tokens_with_decisions_write_may_push(world, make_user, api_client, role, scopes):
    client = api_client(make_user(role), scopes=scopes)
    response = client.post("/api/v1/decisions", json=[decision_json(1)])
    assert response.status_code == 403
    assert stored() == {}


@pytest.mark.parametrize("role", ["admin", "qa_lead", "integration"])
def test_admins_qa_leads_and_integrations_may_push(world, make_user, api_client, role):
    response = api_client(make_user(role)).post("/api/v1/decisions", json=[decision_json(1)])
    assert response.status_code == 200
    assert set(stored()) == {"E-1"}


def test_no_token_is_401(world, client):
    assert client.post("/api/v1/decisions", json=[decision_json(1)]).status_code == 401


def test_the_request_body_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/decisions"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "array"
    assert schema["maxItems"] == 10_000
    assert schema["items"] == {"$ref": "#/components/schemas/Decision"}
    fields = spec["components"]["schemas"]["Decision"]["properties"]
    assert set(fields) == {
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
    assert {"200", "400", "413", "422"} <= set(operation["responses"])


# The command line --------------------------------------------------------------------------


def _csv(tmp_path, *lines: str, name: str = "decisions.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return str(path)


def _line(n: int, vendor: str = "ACME", decision: str = "reject", labels: str = "LST-FAKE"):
    context = json.dumps({"title": "A lamp"}).replace('"', '""')
    return (
        f'E-{n},{vendor},MOD-7,Manila,PH,listing,ITEM-{n},https://m.example.com/{n},"{context}",'
        f"{decision},{labels},2026-03-01T09:30:00+08:00"
    )


def test_cli_imports_a_file_and_reports_counts(world, runner, tmp_path):
    path = _csv(tmp_path, _line(1), _line(2, decision="approve", labels=""))
    result = runner.invoke(args=["decisions", "import", path])
    assert result.exit_code == 0, result.output
    assert "2 rows: 2 created, 0 updated, 0 unchanged" in result.output
    assert set(stored()) == {"E-1", "E-2"}
    (event,) = import_events()
    assert event.actor == "system"
    assert event.after["source"] == "command line: decisions.csv"

    again = runner.invoke(args=["decisions", "import", path])
    assert "0 created, 0 updated, 2 unchanged" in again.output
    assert len(import_events()) == 1


def test_cli_lists_every_problem_by_line_and_exits_1(world, runner, tmp_path):
    path = _csv(
        tmp_path,
        _line(1),
        _line(2, vendor="NOPE"),
        _line(3, decision="approve"),
        _line(1),
    )
    result = runner.invoke(args=["decisions", "import", path])
    assert result.exit_code == 1
    assert "line 3, vendor: Unknown vendor 'NOPE'." in result.output
    assert "line 4, labels: An approve takes no labels." in result.output
    assert "line 5, external_id: 'E-1' appears more than once; first at line 2." in result.output
    assert "3 problem(s) found; nothing was imported." in result.output
    assert stored() == {}


def test_cli_reports_a_bad_header_as_line_1(world, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("external_id,vendor,colour\nE-1,ACME,red\n", encoding="utf-8")
    result = runner.invoke(args=["decisions", "import", str(path)])
    assert result.exit_code == 1
    assert "line 1, row: Unknown column 'colour'." in result.output
    assert stored() == {}


def test_cli_dry_run_counts_without_storing(world, runner, tmp_path):
    path = _csv(tmp_path, _line(1))
    result = runner.invoke(args=["decisions", "import", "--dry-run", path])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output and "dry run" in result.output
    assert stored() == {}


def test_cli_refuses_a_file_that_is_not_utf8(world, runner, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + _line(1).replace("Manila", "Manil\xe0")).encode("latin-1"))
    result = runner.invoke(args=["decisions", "import", str(path)])
    assert result.exit_code == 1
    assert "UTF-8" in result.output
    assert stored() == {}


def test_cli_shows_progress_for_big_files(world, runner, tmp_path, monkeypatch):
    import app.cli

    real = app.cli._import_progress
    monkeypatch.setattr(app.cli, "_import_progress", lambda: real(every=2))
    path = _csv(tmp_path, *(_line(n) for n in range(1, 6)))
    result = runner.invoke(args=["decisions", "import", path])
    assert result.exit_code == 0, result.output
    assert "5 rows: 5 created" in result.output
    assert "checking 5 rows" in result.stderr
