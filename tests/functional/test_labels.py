"""The label taxonomy pages: everyone reads, admins create, edit, retire and reactivate."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Decision, DecisionLabel, Label
from tests.factories import LabelFactory, VendorFactory

PAGE_ROLES = ["admin", "qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"]


def _events(action: str | None = None, label: Label | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.object_type == "label")
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if label is not None:
        stmt = stmt.where(AuditEvent.object_id == str(label.id))
    return list(db.session.scalars(stmt.order_by(AuditEvent.seq)))


def _label_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Label))


def _use_in_decision(label: Label) -> Decision:
    decision = Decision(
        external_id=f"dec-{label.code}",
        vendor=VendorFactory(),
        moderator_id="mod-1",
        site="Manila",
        market="US",
        policy_area=label.policy_area,
        item_id="item-1",
        decision="reject",
        decided_at=datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
    )
    decision.decision_labels.append(DecisionLabel(position=0, label_id=label.id))
    db.session.add(decision)
    db.session.flush()
    return decision


def _form(**overrides) -> dict:
    data = {
        "code": "LST-NEW-THING",
        "name": "A new thing",
        "policy_area": "listing",
        "typical_severity": "major",
        "description": "Something the taxonomy lacked",
    }
    data.update(overrides)
    return data


# --- reading ------------------------------------------------------------------------


@pytest.mark.parametrize("role", PAGE_ROLES)
def test_every_page_role_reads_the_list(client, login_as, role):
    LabelFactory(code="LST-READ-ME", name="Readable label")
    login_as(role)
    response = client.get("/labels/")
    assert response.status_code == 200
    assert b"LST-READ-ME" in response.data
    assert b"Readable label" in response.data
    assert (b"New label" in response.data) == (role == "admin")


@pytest.mark.parametrize("role", PAGE_ROLES)
def test_every_page_role_reads_a_label(client, login_as, role):
    label = LabelFactory(code="CNT-DETAIL", description="Shown on the detail page")
    login_as(role)
    response = client.get(f"/labels/{label.id}")
    assert response.status_code == 200
    assert b"Shown on the detail page" in response.data
    assert (b"Retire" in response.data) == (role == "admin")


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/labels/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_unknown_label_is_404(client, login_as):
    login_as("admin")
    assert client.get("/labels/999999").status_code == 404
    assert client.get("/labels/999999/edit").status_code == 404
    assert client.post("/labels/999999/retire").status_code == 404


def test_search_matches_code_name_and_description(client, login_as):
    LabelFactory(code="SEL-ALPHA", name="Alpha", description="")
    LabelFactory(code="SEL-BETA", name="Bravo kind", description="")
    LabelFactory(code="SEL-GAMMA", name="Gamma", description="mentions a bravo too")
    LabelFactory(code="SEL-DELTA", name="Delta", description="")
    login_as("qa_lead")
    by_code = client.get("/labels/?q=alpha").data
    assert b"SEL-ALPHA" in by_code
    assert b"SEL-BETA" not in by_code
    by_name_or_description = client.get("/labels/?q=BRAVO").data
    assert b"SEL-BETA" in by_name_or_description
    assert b"SEL-GAMMA" in by_name_or_description
    assert b"SEL-ALPHA" not in by_name_or_description
    # LIKE wildcards are literal characters in a search
    assert b"SEL-" not in client.get("/labels/?q=%25").data


def test_filters_by_policy_area_and_status(client, login_as):
    LabelFactory(code="IPR-KEEP", policy_area="ipr")
    LabelFactory(code="SEL-KEEP", policy_area="seller")
    LabelFactory(code="IPR-OLD", policy_area="ipr", active=False, retired_at=datetime.now(UTC))
    login_as("vendor_viewer")
    default = client.get("/labels/").data
    assert b"IPR-KEEP" in default and b"SEL-KEEP" in default
    assert b"IPR-OLD" not in default  # active labels by default
    ipr = client.get("/labels/?area=ipr").data
    assert b"IPR-KEEP" in ipr and b"SEL-KEEP" not in ipr
    retired = client.get("/labels/?status=retired").data
    assert b"IPR-OLD" in retired and b"IPR-KEEP" not in retired
    everything = client.get("/labels/?status=all&area=ipr").data
    assert b"IPR-OLD" in everything and b"IPR-KEEP" in everything
    # unknown values fall back to the defaults rather than failing
    assert client.get("/labels/?status=bogus&area=weather&sort=nope").status_code == 200


def test_sorting(client, login_as):
    LabelFactory(code="AA-SORT", name="Zulu", typical_severity="critical")
    LabelFactory(code="ZZ-SORT", name="Alpha", typical_severity="minor")
    login_as("qa_inspector")

    def order(query: str) -> bool:
        body = client.get(f"/labels/?q=-SORT&{query}").data
        return body.index(b"AA-SORT") < body.index(b"ZZ-SORT")

    assert order("sort=code")
    assert not order("sort=-code")
    assert not order("sort=name")
    assert order("sort=-name")
    assert not order("sort=severity")
    assert order("sort=-severity")


def test_pagination(app, client, login_as):
    per_page = app.config["PAGE_SIZE"]
    for n in range(per_page + 3):
        LabelFactory(code=f"PAGE-{n:03d}")
    login_as("qa_lead")
    first = client.get("/labels/?q=PAGE-").data
    assert b"PAGE-000" in first
    assert f"PAGE-{per_page:03d}".encode() not in first
    assert f"of {per_page + 3} labels".encode() in first
    second = client.get("/labels/?q=PAGE-&page=2").data
    assert f"PAGE-{per_page:03d}".encode() in second
    assert b"PAGE-000" not in second
    assert client.get("/labels/?q=PAGE-&page=99").status_code == 200


def test_odd_search_input_never_fails(client, login_as):
    login_as("vendor_lead")
    for query in ("q=%00", "q=" + "x" * 5000, "page=-1", "page=abc", "sort=%00"):
        assert client.get(f"/labels/?{query}").status_code == 200


def test_empty_state(client, login_as):
    login_as("qa_lead")
    response = client.get("/labels/?q=nothing-matches-this")
    assert response.status_code == 200
    assert b"No labels match these filters." in response.data


# --- admin writes -------------------------------------------------------------------


def test_admin_creates_a_label(client, login_as):
    admin = login_as("admin")
    assert client.get("/labels/new").status_code == 200
    response = client.post("/labels/new", data=_form(code="  lst-new-thing "))
    assert response.status_code == 302
    label = db.session.scalar(sa.select(Label).where(Label.code == "LST-NEW-THING"))
    assert label is not None
    assert (label.name, label.policy_area, label.typical_severity) == (
        "A new thing",
        "listing",
        "major",
    )
    assert label.active and label.retired_at is None
    assert response.headers["Location"].endswith(f"/labels/{label.id}")
    [event] = _events("label.created", label)
    assert event.actor_id == admin.id
    assert event.before is None
    assert event.after["code"] == "LST-NEW-THING"
    assert event.after["active"] is True
    page = client.get(response.headers["Location"])
    assert b"Label LST-NEW-THING was created." in page.data


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"code": ""}, "Code", "A code is required."),
        ({"code": "X"}, "Code", "2-64 upper-case letters"),
        ({"code": "BAD CODE!"}, "Code", "2-64 upper-case letters"),
        ({"code": "A" * 65}, "Code", "2-64 upper-case letters"),
        ({"code": "LST-TAKEN"}, "Code", "already used by another label"),
        ({"name": "  "}, "Name", "A name is required."),
        ({"name": "n" * 201}, "Name", "At most 200 characters."),
        ({"policy_area": "weather"}, "Policy area", "Choose a policy area"),
        ({"typical_severity": "none"}, "Typical severity", "Choose a severity"),
        ({"description": "d" * 2001}, "Description", "At most 2000 characters."),
        ({"name": "bad\x00name"}, "Name", "control characters"),
        ({"description": "nul \x00 inside"}, "Description", "control characters"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(client, login_as, overrides, field, message):
    LabelFactory(code="LST-TAKEN")
    login_as("admin")
    labels_before = _label_count()
    events_before = len(_events())
    response = client.post("/labels/new", data=_form(**overrides))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert f"<strong>{field}</strong>" in body
    assert message in body
    assert _label_count() == labels_before
    assert len(_events()) == events_before


def test_create_reports_every_bad_field_at_once(client, login_as):
    login_as("admin")
    response = client.post(
        "/labels/new", data=_form(code="?", name="", policy_area="", typical_severity="x")
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    for field in ("Code", "Name", "Policy area", "Typical severity"):
        assert f"<strong>{field}</strong>" in body


def test_admin_edits_an_unused_label_including_code_and_area(client, login_as):
    label = LabelFactory(code="LST-OLD-CODE", name="Old", policy_area="listing")
    admin = login_as("admin")
    page = client.get(f"/labels/{label.id}/edit")
    assert page.status_code == 200
    assert b'name="code"' in page.data and b'name="policy_area"' in page.data
    response = client.post(
        f"/labels/{label.id}/edit",
        data=_form(
            code="CNT-NEW-CODE", name="New", policy_area="content", typical_severity="minor"
        ),
    )
    assert response.status_code == 302
    db.session.refresh(label)
    assert (label.code, label.name, label.policy_area, label.typical_severity) == (
        "CNT-NEW-CODE",
        "New",
        "content",
        "minor",
    )
    [event] = _events("label.updated", label)
    assert event.actor_id == admin.id
    assert event.before["code"] == "LST-OLD-CODE" and event.after["code"] == "CNT-NEW-CODE"
    assert event.before["policy_area"] == "listing" and event.after["policy_area"] == "content"
    assert event.before["name"] == "Old" and event.after["name"] == "New"


def test_saving_without_changes_writes_no_event(client, login_as):
    label = LabelFactory(code="LST-SAME", name="Same", description="")
    login_as("admin")
    response = client.post(
        f"/labels/{label.id}/edit",
        data=_form(code="LST-SAME", name="Same", description=""),
    )
    assert response.status_code == 302
    assert _events("label.updated", label) == []


def test_code_and_area_are_locked_once_a_decision_uses_the_label(client, login_as):
    label = LabelFactory(code="LST-USED", name="Used", policy_area="listing")
    _use_in_decision(label)
    login_as("admin")
    page = client.get(f"/labels/{label.id}/edit").get_data(as_text=True)
    assert "Used by 1 decision" in page
    assert 'name="code"' not in page and 'name="policy_area"' not in page
    assert "LST-USED" in page  # shown read-only

    for change in ({"code": "LST-RENAMED"}, {"policy_area": "content"}):
        data = _form(code="LST-USED", policy_area="listing", name="Renamed")
        data.update(change)
        response = client.post(f"/labels/{label.id}/edit", data=data)
        assert response.status_code == 400
        assert "Used by 1 decision" in response.get_data(as_text=True)
        db.session.refresh(label)
        assert (label.code, label.policy_area, label.name) == ("LST-USED", "listing", "Used")
    assert _events("label.updated", label) == []

    # Name, severity and description still change (the form omits the locked fields).
    response = client.post(
        f"/labels/{label.id}/edit",
        data={"name": "Used, renamed", "typical_severity": "critical", "description": "Now"},
    )
    assert response.status_code == 302
    db.session.refresh(label)
    assert (label.code, label.policy_area) == ("LST-USED", "listing")
    assert (label.name, label.typical_severity, label.description) == (
        "Used, renamed",
        "critical",
        "Now",
    )
    [event] = _events("label.updated", label)
    assert event.before["name"] == "Used" and event.after["name"] == "Used, renamed"


def test_edit_refuses_a_code_taken_by_another_label(client, login_as):
    LabelFactory(code="LST-FIRST")
    second = LabelFactory(code="LST-SECOND")
    login_as("admin")
    response = client.post(f"/labels/{second.id}/edit", data=_form(code="LST-FIRST"))
    assert response.status_code == 400
    assert b"already used by another label" in response.data
    db.session.refresh(second)
    assert second.code == "LST-SECOND"


def test_edit_refuses_bad_values(client, login_as):
    label = LabelFactory(code="LST-EDIT-BAD", name="Keep")
    login_as("admin")
    response = client.post(
        f"/labels/{label.id}/edit", data=_form(code="LST-EDIT-BAD", name="", typical_severity="?")
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "<strong>Name</strong>" in body and "<strong>Typical severity</strong>" in body
    db.session.refresh(label)
    assert label.name == "Keep"


def test_retire_and_reactivate(client, login_as):
    label = LabelFactory(code="CNT-RETIRE-ME", policy_area="content")
    admin = login_as("admin")

    response = client.post(f"/labels/{label.id}/retire", follow_redirects=True)
    assert response.status_code == 200
    assert b"was retired" in response.data
    db.session.refresh(label)
    assert label.active is False and label.retired_at is not None
    [retired] = _events("label.retired", label)
    assert retired.actor_id == admin.id
    assert retired.before["active"] is True and retired.before["retired_at"] is None
    assert retired.after["active"] is False and retired.after["retired_at"] is not None

    # Retired labels stay listed under "retired" for history.
    assert b"CNT-RETIRE-ME" not in client.get("/labels/").data
    assert b"CNT-RETIRE-ME" in client.get("/labels/?status=retired").data

    # Retiring twice changes nothing.
    again = client.post(f"/labels/{label.id}/retire", follow_redirects=True)
    assert b"already retired" in again.data
    assert len(_events("label.retired", label)) == 1

    response = client.post(f"/labels/{label.id}/reactivate", follow_redirects=True)
    assert b"is active again" in response.data
    db.session.refresh(label)
    assert label.active is True and label.retired_at is None
    [reactivated] = _events("label.reactivated", label)
    assert reactivated.before["active"] is False and reactivated.after["active"] is True
    assert b"CNT-RETIRE-ME" in client.get("/labels/").data


def test_retire_needs_post_with_confirmation(client, login_as):
    label = LabelFactory(code="LST-CONFIRM")
    login_as("admin")
    assert client.get(f"/labels/{label.id}/retire").status_code == 405
    page = client.get(f"/labels/{label.id}").get_data(as_text=True)
    assert f'action="/labels/{label.id}/retire"' in page
    assert "data-confirm=" in page


def test_detail_shows_history_to_admins(client, login_as):
    login_as("admin")
    client.post("/labels/new", data=_form(code="LST-HISTORY"))
    label = db.session.scalar(sa.select(Label).where(Label.code == "LST-HISTORY"))
    page = client.get(f"/labels/{label.id}").get_data(as_text=True)
    assert "created label LST-HISTORY" in page


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"])
def test_non_admins_cannot_write(client, login_as, role):
    label = LabelFactory(code="LST-PROTECTED", name="Protected")
    retired = LabelFactory(
        code="LST-GONE", active=False, retired_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    login_as(role)
    labels_before = _label_count()
    events_before = len(_events())
    attempts = [
        client.get("/labels/new"),
        client.post("/labels/new", data=_form()),
        client.get(f"/labels/{label.id}/edit"),
        client.post(f"/labels/{label.id}/edit", data=_form(code="LST-PROTECTED", name="Hacked")),
        client.post(f"/labels/{label.id}/retire"),
        client.post(f"/labels/{retired.id}/reactivate"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    db.session.refresh(label)
    db.session.refresh(retired)
    assert label.name == "Protected" and label.active
    assert not retired.active
    assert _label_count() == labels_before
    assert len(_events()) == events_before


def test_seed_labels_is_idempotent_and_audited(app):
    from app.seed.demo import seed_labels

    created = seed_labels()
    db.session.commit()  # audit events are written at commit
    assert created >= 100
    assert len(_events("label.created")) >= created
    codes = set(db.session.scalars(sa.select(Label.policy_area).distinct()))
    assert codes == {"seller", "listing", "content", "ipr"}
    assert seed_labels() == 0


def test_usage_counts_are_shown_to_qa_but_not_to_vendor_users(client, auth, make_user):
    label = LabelFactory(code="LST-COUNTED")
    _use_in_decision(label)  # a decision of some vendor
    qa = make_user("qa_lead")
    vendor_user = make_user("vendor_lead")
    auth.login(qa)
    assert b"Decisions</th>" in client.get("/labels/?q=LST-COUNTED").data
    assert b"1 decision " in client.get(f"/labels/{label.id}").data
    auth.logout()
    auth.login(vendor_user)
    # Counts span every vendor, so a vendor user sees none of them.
    assert b"Decisions</th>" not in client.get("/labels/?q=LST-COUNTED").data
    assert b"Used by" not in client.get(f"/labels/{label.id}").data
