"""The audit log pages: admins only; filters, event detail with before/after, verify."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.audit.services import record
from app.extensions import db
from app.labels.services import create_label, update_label
from app.models import AuditEvent

EVENTS = AuditEvent.__table__


def _last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0


def _event(seq: int) -> AuditEvent:
    return db.session.scalar(sa.select(AuditEvent).where(AuditEvent.seq == seq))


def _seqs_on_page(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'href="/audit/(\d+)"', html)]


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"])
def test_only_admins_reach_the_audit_log(client, login_as, role):
    record(db.session, "test.event", "test", 1, summary="secret change")
    db.session.commit()
    seq = _last_seq()
    login_as(role)
    assert client.get("/audit/").status_code == 403
    assert client.get(f"/audit/{seq}").status_code == 403
    assert client.post("/audit/verify").status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_list_shows_events_newest_first(client, login_as):
    admin = login_as("admin")
    for n in range(3):
        record(db.session, "test.listed", "test", n, summary=f"listed event {n}", actor=admin)
        db.session.commit()
    response = client.get("/audit/?action=test.listed")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    seqs = _seqs_on_page(html)
    assert len(seqs) == 3
    assert seqs == sorted(seqs, reverse=True)
    assert html.index("listed event 2") < html.index("listed event 0")
    assert admin.email in html


def test_filters(client, login_as, make_user):
    admin = login_as("admin")
    other = make_user("admin", email="someone.other@example.test")
    label = create_label(code="AUD-FILTER", name="Filter me", policy_area="ipr", actor=admin)
    db.session.commit()
    update_label(label, name="Filtered", typical_severity="minor", actor=other)
    record(db.session, "vendor.updated", "vendor", 77, summary="vendor change", actor=admin)
    db.session.commit()

    def listed(query: str) -> str:
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    by_action = listed("action=label.updated")
    assert "updated label AUD-FILTER" in by_action
    assert "created label AUD-FILTER" not in by_action
    by_type = listed("object_type=vendor")
    assert "vendor change" in by_type and "AUD-FILTER" not in by_type
    by_actor = listed("actor=SOMEONE.OTHER")
    assert "updated label AUD-FILTER" in by_actor
    assert "created label AUD-FILTER" not in by_actor and "vendor change" not in by_actor
    by_object = listed(f"object_type=label&object_id={label.id}")
    assert "created label AUD-FILTER" in by_object and "updated label AUD-FILTER" in by_object
    assert "vendor change" not in by_object
    nothing = listed("actor=nobody-at-all")
    assert "No events match these filters." in nothing
    # the selects offer the actions and object types that exist
    assert '<option value="label.updated"' in by_action
    assert '<option value="vendor"' in by_action


def test_date_filter_uses_the_viewers_time_zone(client, login_as):
    admin = login_as("admin", time_zone="Asia/Manila")  # UTC+8, no daylight saving
    record(db.session, "test.dated", "test", 1, summary="late evening in UTC", actor=admin)
    db.session.commit()
    seq = _last_seq()
    # 23:30 UTC on 1 March is 07:30 on 2 March in Manila.
    db.session.execute(
        sa.update(EVENTS)
        .where(EVENTS.c.seq == seq)
        .values(occurred_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    )

    def found(query: str) -> bool:
        response = client.get(f"/audit/?action=test.dated&{query}")
        assert response.status_code == 200
        return "late evening in UTC" in response.get_data(as_text=True)

    assert found("date_from=2026-03-02&date_to=2026-03-02")
    assert found("date_from=2026-03-02")
    assert not found("date_to=2026-03-01")
    assert not found("date_from=2026-03-03")
    page = client.get("/audit/?action=test.dated").get_data(as_text=True)
    assert "2026-03-02 07:30:00 PST" in page or "2026-03-02 07:30:00 +08" in page


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=yesterday", "From"),
        ("date_to=2026-13-40", "To"),
        ("date_from=2026-03-05&date_to=2026-03-01", "To"),
        ("date_from=0001-01-01", "From"),
        ("date_to=9999-12-31", "To"),
    ],
)
def test_bad_dates_are_reported_not_fatal(client, login_as, query, field):
    login_as("admin")
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f"<strong>{field}</strong>" in html
    assert "is-invalid" in html


def test_odd_filter_input_never_fails(client, login_as):
    login_as("admin", time_zone="Asia/Tokyo")
    for query in ("actor=%00", "action=%00x", "object_id=" + "9" * 500, "page=-3", "page=x"):
        assert client.get(f"/audit/?{query}").status_code == 200


def test_pagination(app, client, login_as):
    admin = login_as("admin")
    per_page = app.config["PAGE_SIZE"]
    for n in range(per_page + 2):
        record(db.session, "test.paged", "test", n, summary=f"paged {n}", actor=admin)
    db.session.commit()
    first = client.get("/audit/?action=test.paged").get_data(as_text=True)
    second = client.get("/audit/?action=test.paged&page=2").get_data(as_text=True)
    assert len(_seqs_on_page(first)) == per_page
    assert len(_seqs_on_page(second)) == 2
    assert f"of {per_page + 2} events" in first
    assert min(_seqs_on_page(first)) > max(_seqs_on_page(second))


def test_event_detail_shows_before_and_after_with_changes_highlighted(client, login_as):
    login_as("admin", time_zone="Europe/Berlin")
    label = create_label(
        code="AUD-DETAIL", name="Before name", policy_area="content", description="Same text"
    )
    db.session.commit()
    update_label(label, name="After name", typical_severity="critical", description="Same text")
    db.session.commit()
    event = _event(_last_seq())
    response = client.get(f"/audit/{event.seq}", headers={"X-Request-ID": "req-abcdef123"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "label.updated" in html
    assert f"label #{label.id}" in html
    assert event.hash in html and event.prev_hash in html
    assert "CET" in html or "CEST" in html  # shown in the viewer's zone
    rows = {
        m.group(2): m.group(1)
        for m in re.finditer(
            r'<tr class="([^"]*)">\s*<th scope="row"[^>]*>(\w+)', html, flags=re.MULTILINE
        )
    }
    assert rows["name"] == "table-warning"
    assert rows["typical_severity"] == "table-warning"
    assert rows["description"] == ""
    assert rows["code"] == ""
    assert "Before name" in html and "After name" in html
    assert 'style="' not in html
    assert "system" in html  # changed outside a request: no signed-in actor


def test_event_detail_shows_actor_and_request_id(client, login_as):
    admin = login_as("admin")
    response = client.post(
        "/labels/new",
        data={
            "code": "AUD-REQ",
            "name": "Req",
            "policy_area": "seller",
            "typical_severity": "minor",
        },
        headers={"X-Request-ID": "req-0123456789"},
    )
    assert response.status_code == 302
    seq = _last_seq()
    html = client.get(f"/audit/{seq}").get_data(as_text=True)
    assert admin.email in html
    assert f"user #{admin.id}" in html
    assert "req-0123456789" in html
    assert "label.created" in html


def test_event_detail_pages_through_bulk_row_changes(app, client, login_as):
    login_as("admin")
    per_page = app.config["PAGE_SIZE"]
    total = per_page + 5
    record(
        db.session,
        "decision.imported",
        "import",
        "batch-1",
        summary="imported decisions",
        rows=[
            {
                "object_type": "decision",
                "object_id": f"ext-{n:03d}",
                "before": None if n % 2 else {"decision": "approve"},
                "after": {"decision": "reject"},
            }
            for n in range(total)
        ],
    )
    db.session.commit()
    seq = _last_seq()
    first = client.get(f"/audit/{seq}").get_data(as_text=True)
    assert f'Row changes <span class="text-muted fs-6">({total})</span>' in first
    assert "decision #ext-000" in first
    assert f"decision #ext-{per_page:03d}" not in first
    second = client.get(f"/audit/{seq}?page=2").get_data(as_text=True)
    assert f"decision #ext-{per_page:03d}" in second
    assert "decision #ext-000" not in second


def test_unknown_event_is_404(client, login_as):
    login_as("admin")
    assert client.get("/audit/99999999").status_code == 404


def test_verify_button_reports_an_intact_chain(client, login_as):
    login_as("admin")
    create_label(code="AUD-VERIFY", name="Verify", policy_area="listing")
    db.session.commit()
    page = client.get("/audit/").get_data(as_text=True)
    assert 'action="/audit/verify"' in page
    response = client.post("/audit/verify", follow_redirects=True)
    assert response.status_code == 200
    assert b"The audit chain is intact" in response.data


def test_verify_button_reports_where_the_chain_breaks(client, login_as):
    login_as("admin")
    for n in range(3):
        create_label(code=f"AUD-BREAK-{n}", name="Break", policy_area="listing")
        db.session.commit()
    target = _last_seq() - 1
    db.session.execute(
        sa.text("UPDATE audit_events SET summary = 'edited' WHERE seq = :s"), {"s": target}
    )
    response = client.post("/audit/verify", follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"The audit chain is broken at event #{target}" in html
    assert "alert-danger" in html


def test_verify_needs_post(client, login_as):
    login_as("admin")
    assert client.get("/audit/verify").status_code == 405
