"""Scorecard template pages: everyone reads published rubrics, QA and admins see drafts
too, QA leads create templates, edit drafts row by row, publish and start new drafts."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import sqlalchemy as sa

from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardTemplate,
    ScorecardVersion,
)
from app.scorecards import queries, services
from tests.builders.committing import audit_chain_restored, wait_for_lock_waiter
from tests.factories import SCORECARD_SECTIONS, make_scorecard

PAGE_ROLES = ["admin", "qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer"]
STAFF = {"admin", "qa_lead", "qa_inspector"}


def _events(action: str | None = None, template=None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.object_type == "scorecard_template")
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if template is not None:
        stmt = stmt.where(AuditEvent.object_id == str(template.id))
    return list(db.session.scalars(stmt.order_by(AuditEvent.seq)))


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _version_url(version: ScorecardVersion) -> str:
    return f"/scorecards/{version.template_id}/versions/{version.id}"


def _row(n: int, **values) -> dict:
    """Form fields of editor row `n` (checkboxes ticked when given True)."""
    data = {}
    for name, value in values.items():
        if isinstance(value, bool):
            if value:
                data[f"q-{n}-{name}"] = "y"
        else:
            data[f"q-{n}-{name}"] = str(value)
    return data


def _rows(*rows: dict, action: str = "save") -> dict:
    data = {"action": action}
    for n, values in enumerate(rows):
        data.update(_row(n, **values))
    return data


def _rubric_part(html: str) -> str:
    """The rubric shown on a page (from the first section to the end of main)."""
    return html[html.index("<section") : html.index("</main>")]


# --- reading ------------------------------------------------------------------------


@pytest.mark.parametrize("role", PAGE_ROLES)
def test_every_page_role_reads_the_list_and_the_published_rubric(client, login_as, role):
    template, published, draft = make_scorecard("listing", name="Listing QA", draft=True)
    login_as(role)
    index = client.get("/scorecards/").get_data(as_text=True)
    assert "Listing QA" in index
    assert "Version 1" in index
    assert ("Draft in progress" in index) == (role in STAFF)
    assert ("New template" in index) == (role == "qa_lead")

    page = client.get(f"/scorecards/{template.id}").get_data(as_text=True)
    assert "Policy applied as written" in page
    assert "escalation_followed" in page and "Critical" in page
    assert "N/A allowed" in page and "N/A for approvals." in page
    assert ("Edit draft" in page) == (role == "qa_lead")
    assert ("Version 2" in page) == (role in STAFF)

    assert client.get(_version_url(published)).status_code == 200
    assert client.get(_version_url(draft)).status_code == (200 if role in STAFF else 404)


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_never_see_drafts(client, login_as, role):
    template, published, draft = make_scorecard("seller", draft=True)
    lone, _, lone_draft = make_scorecard("ipr", name="Unpublished IPR", published=False)
    login_as(role)
    assert client.get(_version_url(draft)).status_code == 404
    assert client.get(_version_url(lone_draft)).status_code == 404
    lone_page = client.get(f"/scorecards/{lone.id}").get_data(as_text=True)
    assert "Nothing is published yet" in lone_page
    assert f"/versions/{lone_draft.id}" not in lone_page
    page = client.get(f"/scorecards/{template.id}").get_data(as_text=True)
    assert f"/versions/{draft.id}" not in page
    # Who published is a pseudonym for vendor users.
    assert client.get(_version_url(published)).status_code == 200


def test_vendor_users_see_who_published_as_a_pseudonym(client, login_as, make_user):
    lead = make_user("qa_lead", name="Quinn Secretname")
    _, published, _ = make_scorecard("content", actor=lead)
    login_as("vendor_viewer")
    page = client.get(_version_url(published)).get_data(as_text=True)
    assert "Quinn Secretname" not in page
    assert f"QA-{lead.id}" in page


def test_index_filters_by_policy_area_and_pages(app, client, login_as):
    make_scorecard("listing", name="Listing QA")
    make_scorecard("ipr", name="IPR QA")
    login_as("qa_inspector")
    ipr = client.get("/scorecards/?area=ipr").get_data(as_text=True)
    assert "IPR QA" in ipr and "Listing QA" not in ipr
    assert client.get("/scorecards/?area=weather&page=-1").status_code == 200
    assert client.get("/scorecards/?page=99").status_code == 200
    assert "1\u20132 of 2 templates" in client.get("/scorecards/").get_data(as_text=True)


def test_empty_states(client, login_as):
    login_as("qa_lead")
    page = client.get("/scorecards/").get_data(as_text=True)
    assert "There are no scorecard templates yet." in page
    assert "Create the first template" in page
    make_scorecard("listing")
    filtered = client.get("/scorecards/?area=seller").get_data(as_text=True)
    assert "No scorecard template for this policy area yet." in filtered


def test_unknown_or_mismatched_ids_are_404(client, login_as):
    one, _, _ = make_scorecard("listing")
    _, other_version, _ = make_scorecard("seller")
    login_as("qa_lead")
    assert client.get("/scorecards/999999").status_code == 404
    assert client.get(f"/scorecards/{one.id}/versions/999999").status_code == 404
    # A version must belong to the template in the URL.
    assert client.get(f"/scorecards/{one.id}/versions/{other_version.id}").status_code == 404
    assert (
        client.post(f"/scorecards/{one.id}/versions/{other_version.id}/publish").status_code == 404
    )


# --- creating a template ---------------------------------------------------------------


def test_lead_creates_a_template_with_an_empty_draft(client, login_as):
    lead = login_as("qa_lead")
    assert client.get("/scorecards/new").status_code == 200
    response = client.post(
        "/scorecards/new",
        data={"name": " Listing QA ", "policy_area": "listing", "description": "Listings."},
    )
    assert response.status_code == 302
    template = db.session.scalar(sa.select(ScorecardTemplate))
    assert (template.name, template.policy_area, template.description) == (
        "Listing QA",
        "listing",
        "Listings.",
    )
    [version] = template.versions
    assert (version.number, version.state, version.sections) == (1, "draft", [])
    assert response.headers["Location"].endswith(f"{_version_url(version)}/edit")
    [event] = _events("scorecard.create", template)
    assert event.actor_id == lead.id
    assert event.after["policy_area"] == "listing"
    assert event.after["draft"]["number"] == 1
    page = client.get(f"/scorecards/{template.id}").get_data(as_text=True)
    assert "Nothing is published yet" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"policy_area": "listing"}, "Policy area", "already has a scorecard template"),
        ({"name": "taken name"}, "Name", "already has this name"),
        ({"name": "  "}, "Name", "A name is required."),
        ({"name": "n" * 121}, "Name", "At most 120 characters."),
        ({"name": "bad\x00name"}, "Name", "control characters"),
        ({"policy_area": "weather"}, "Policy area", "Choose a policy area"),
        ({"description": "d" * 2001}, "Description", "At most 2000 characters."),
    ],
)
def test_create_refuses_bad_input_naming_the_field(client, login_as, data, field, message):
    make_scorecard("listing", name="Taken Name")
    login_as("qa_lead")
    templates, events = _count(ScorecardTemplate), len(_events())
    form = {"name": "Seller QA", "policy_area": "seller", "description": ""}
    response = client.post("/scorecards/new", data={**form, **data})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert f"<strong>{field}</strong>" in body
    assert message in body
    assert _count(ScorecardTemplate) == templates
    assert len(_events()) == events


def test_the_new_template_form_offers_only_free_policy_areas(client, login_as):
    make_scorecard("listing")
    login_as("qa_lead")
    page = client.get("/scorecards/new").get_data(as_text=True)
    assert 'value="seller"' in page and 'value="listing"' not in page


def test_lead_edits_name_and_description(client, login_as):
    template, _, _ = make_scorecard("listing", name="Old name")
    lead = login_as("qa_lead")
    response = client.post(
        f"/scorecards/{template.id}/edit", data={"name": "New name", "description": "Now"}
    )
    assert response.status_code == 302
    db.session.refresh(template)
    assert (template.name, template.description, template.policy_area) == (
        "New name",
        "Now",
        "listing",
    )
    [event] = _events("scorecard.update", template)
    assert event.actor_id == lead.id
    assert event.before["name"] == "Old name" and event.after["name"] == "New name"
    # Saving the same values again records nothing.
    client.post(f"/scorecards/{template.id}/edit", data={"name": "New name", "description": "Now"})
    assert len(_events("scorecard.update", template)) == 1
    bad = client.post(f"/scorecards/{template.id}/edit", data={"name": "", "description": ""})
    assert bad.status_code == 400 and b"A name is required." in bad.data


# --- the rubric editor -------------------------------------------------------------------


def _draft(policy_area: str = "listing") -> tuple[ScorecardTemplate, ScorecardVersion]:
    template = services.create_template(
        name=f"{policy_area} rubric", policy_area=policy_area, description="", actor=None
    )
    return template, template.versions[0]


def test_editor_shows_existing_questions_and_five_blank_rows(client, login_as):
    _, published, draft = make_scorecard("listing", draft=True)
    login_as("qa_lead")
    page = client.get(f"{_version_url(draft)}/edit").get_data(as_text=True)
    keys = re.findall(r'name="q-(\d+)-key" value="([^"]*)"', page)
    assert [k for _, k in keys] == [
        "policy_applied",
        "primary_label_specific",
        "escalation_followed",
        "",
        "",
        "",
        "",
        "",
    ]
    assert 'name="q-0-section" value="Decision"' in page
    assert 'name="q-2-critical" value="y" checked' in page
    assert 'name="q-7-order" value="8"' in page
    # Every input is labelled for screen readers and keyboard users.
    assert '<label class="visually-hidden" for="q-0-key">Row 1: Key</label>' in page
    # A published version is not edited: the editor sends the lead to the version page.
    response = client.get(f"{_version_url(published)}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(_version_url(published))


def test_lead_saves_rows_into_sections_in_order(client, login_as):
    template, draft = _draft()
    lead = login_as("qa_lead")
    data = _rows(
        {
            "order": 1,
            "section": "Decision",
            "key": "policy_applied",
            "text": "Policy applied",
            "weight": "3",
            "allow_na": False,
        },
        {
            "order": 3,
            "section": "Evidence",
            "key": "evidence_checked",
            "text": "Evidence checked",
            "guidance": "Listing history, seller account, prior reports",
            "weight": "2,5",
            "allow_na": True,
        },
        {
            "order": 2,
            "section": "Decision",
            "key": "label_specific",
            "text": "Label specific",
            "weight": "",
            "allow_na": True,
        },
        {
            "order": 2.5,
            "section": "Evidence",
            "key": "escalation",
            "text": "Escalation followed",
            "weight": "2",
            "critical": True,
            "allow_na": False,
        },
        {"order": 9, "allow_na": True},  # blank: ignored
        {"order": 10, "section": "Gone", "key": "dropped", "text": "Removed", "remove": True},
    )
    response = client.post(f"{_version_url(draft)}/edit", data=data)
    assert response.status_code == 302, response.data
    assert response.headers["Location"].endswith(_version_url(draft))
    assert services.rubric(draft) == [
        {
            "title": "Decision",
            "questions": [
                {
                    "key": "policy_applied",
                    "text": "Policy applied",
                    "guidance": "",
                    "weight": 3.0,
                    "critical": False,
                    "allow_na": False,
                },
                {
                    "key": "label_specific",
                    "text": "Label specific",
                    "guidance": "",
                    "weight": 1.0,
                    "critical": False,
                    "allow_na": True,
                },
            ],
        },
        {
            "title": "Evidence",
            "questions": [
                {
                    "key": "escalation",
                    "text": "Escalation followed",
                    "guidance": "",
                    "weight": 2.0,
                    "critical": True,
                    "allow_na": False,
                },
                {
                    "key": "evidence_checked",
                    "text": "Evidence checked",
                    "guidance": "Listing history, seller account, prior reports",
                    "weight": 2.5,
                    "critical": False,
                    "allow_na": True,
                },
            ],
        },
    ]
    assert [q.key for q in queries.version_questions(draft)] == [
        "policy_applied",
        "label_specific",
        "escalation",
        "evidence_checked",
    ]
    [event] = _events("scorecard.draft_save", template)
    assert event.actor_id == lead.id
    assert event.before["sections"] == []
    assert [s["title"] for s in event.after["sections"]] == ["Decision", "Evidence"]
    page = client.get(_version_url(draft)).get_data(as_text=True)
    assert "Draft version 1 was saved." in page
    assert "Escalation followed" in page


def test_a_row_error_saves_nothing_and_is_shown_on_its_row(client, login_as):
    _, _, draft = make_scorecard("listing", draft=True)
    login_as("qa_lead")
    before = services.rubric(draft)
    events = len(_events())
    data = _rows(
        {"order": 1, "section": "Decision", "key": "fine_key", "text": "Fine", "weight": "1"},
        {"order": 2, "section": "Decision", "key": "Bad Key", "text": "", "weight": "abc"},
        {"order": "x", "section": "Decision", "key": "fine_key", "text": "Dup", "weight": "0"},
        {"order": 4, "section": "", "key": "no_section", "text": "T", "guidance": "g" * 4001},
    )
    response = client.post(f"{_version_url(draft)}/edit", data=data)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Nothing was saved." in body
    # Each problem is on its row and column, and listed with a link to the field.
    assert 'id="q-1-key-error">Use a lower-case letter' in body
    assert 'id="q-1-text-error">The question text is required.' in body
    assert 'id="q-1-weight-error">Enter a number greater than 0' in body
    assert 'id="q-2-order-error">Enter a number' in body
    assert 'id="q-2-key-error">The key fine_key is already used' in body
    assert 'id="q-2-weight-error">Enter a number greater than 0' in body
    assert 'id="q-3-section-error">A section title is required.' in body
    assert 'id="q-3-guidance-error">At most 4000 characters.' in body
    assert 'href="#q-1-key">Row 2 (Bad Key), Key</a>' in body
    assert "q-0-key-error" not in body
    # What the lead typed is kept.
    assert 'name="q-1-key" value="Bad Key"' in body
    assert services.rubric(draft) == before
    assert len(_events()) == events


def test_rows_of_one_section_must_be_together(client, login_as):
    _, draft = _draft()
    login_as("qa_lead")
    data = _rows(
        {"order": 1, "section": "Decision", "key": "a", "text": "A"},
        {"order": 2, "section": "Evidence", "key": "b", "text": "B"},
        {"order": 3, "section": "Decision", "key": "c", "text": "C"},
    )
    response = client.post(f"{_version_url(draft)}/edit", data=data)
    assert response.status_code == 400
    assert 'id="q-2-section-error">Rows of the section “Decision” must be together' in (
        response.get_data(as_text=True)
    )
    assert services.rubric(draft) == []


def test_save_and_add_more_rows(client, login_as):
    _, draft = _draft()
    login_as("qa_lead")
    data = _rows({"section": "Decision", "key": "a", "text": "A"}, action="more")
    response = client.post(f"{_version_url(draft)}/edit", data=data)
    assert response.status_code == 302
    assert "blank=10" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert len(re.findall(r'name="q-\d+-key"', page)) == 11
    assert len(queries.version_questions(draft)) == 1


def test_a_stale_editor_does_not_overwrite_a_newer_save(client, login_as):
    _, draft = _draft()
    login_as("qa_lead")
    page = client.get(f"{_version_url(draft)}/edit").get_data(as_text=True)
    stale = re.search(r'name="revision" type="hidden" value="([0-9a-f]+)"', page)[1]
    services.save_draft(
        draft, [{"title": "Theirs", "questions": [{"key": "theirs", "text": "T"}]}], actor=None
    )
    db.session.commit()
    data = {"revision": stale, **_rows({"section": "Mine", "key": "mine", "text": "M"})}
    response = client.post(f"{_version_url(draft)}/edit", data=data)
    assert response.status_code == 409
    assert "Someone else saved this draft" in response.get_data(as_text=True)
    assert [s["title"] for s in services.rubric(draft)] == ["Theirs"]


def test_hostile_editor_input_never_fails(client, login_as):
    _, draft = _draft()
    login_as("qa_lead")
    for data in (
        {"q-0-key": "a\x00b", "q-0-text": "nul \x00", "q-0-section": "S\x00"},
        {"q-0-key": "a", "q-0-text": "t", "q-0-section": "S", "q-0-weight": "nan"},
        {"q-0-key": "a", "q-0-text": "t", "q-0-section": "S", "q-0-weight": "1e999"},
        {"q-0-key": "a", "q-0-text": "t", "q-0-section": "S", "q-0-order": "inf"},
        {"q-99999-key": "a", "q-0-unknown": "x", "revision": "\x00"},
        {"q-0-key": "k" * 5000, "q-0-text": "t" * 100_000, "q-0-section": "s" * 5000},
    ):
        response = client.post(f"{_version_url(draft)}/edit", data=data)
        assert response.status_code < 500, data
    assert client.get(f"{_version_url(draft)}/edit?blank=999999").status_code == 200
    assert client.get(f"{_version_url(draft)}/edit?blank=abc").status_code == 200
    assert services.rubric(draft) == []


def test_too_many_questions_are_refused(client, login_as):
    _, draft = _draft()
    login_as("qa_lead")
    rows = [{"section": "S", "key": f"q{n}", "text": "T"} for n in range(101)]
    response = client.post(f"{_version_url(draft)}/edit", data=_rows(*rows))
    assert response.status_code == 400
    assert "At most 100 questions" in response.get_data(as_text=True)
    assert services.rubric(draft) == []


# --- publishing, new drafts, discarding ---------------------------------------------


def test_lead_publishes_edits_a_new_draft_and_the_published_version_never_changes(client, login_as):
    lead = login_as("qa_lead")
    client.post("/scorecards/new", data={"name": "Listing QA", "policy_area": "listing"})
    template = db.session.scalar(sa.select(ScorecardTemplate))
    first = template.versions[0]
    client.post(
        f"{_version_url(first)}/edit",
        data=_rows(
            {"section": "Decision", "key": "policy_applied", "text": "Policy applied", "weight": 3},
            {"section": "Evidence", "key": "escalation", "text": "Escalated", "critical": True},
        ),
    )
    # Publishing asks for confirmation and is a POST.
    detail = client.get(f"/scorecards/{template.id}").get_data(as_text=True)
    assert f'action="{_version_url(first)}/publish"' in detail
    assert "data-confirm=" in detail
    assert client.get(f"{_version_url(first)}/publish").status_code == 405
    response = client.post(f"{_version_url(first)}/publish")
    assert response.status_code == 302
    db.session.refresh(first)
    assert first.state == "published" and first.published_by_id == lead.id
    assert first.published_at is not None
    assert queries.published_version("listing").id == first.id
    [published_event] = _events("scorecard.publish", template)
    assert published_event.before["state"] == "draft"
    assert published_event.after["state"] == "published"

    published_page = _rubric_part(client.get(_version_url(first)).get_data(as_text=True))
    published_rubric = services.rubric(first)

    # A new draft is a copy of the published rubric.
    response = client.post(f"/scorecards/{template.id}/new-draft")
    assert response.status_code == 302
    second = db.session.scalar(
        sa.select(ScorecardVersion).where(
            ScorecardVersion.template_id == template.id, ScorecardVersion.number == 2
        )
    )
    assert response.headers["Location"].endswith(f"{_version_url(second)}/edit")
    assert second.state == "draft"
    assert services.rubric(second) == published_rubric
    [new_event] = _events("scorecard.new_draft", template)
    assert new_event.after["copied_from"] == 1
    # Only one draft at a time.
    again = client.post(f"/scorecards/{template.id}/new-draft", follow_redirects=True)
    assert b"is already a draft" in again.data
    assert _count(ScorecardVersion) == 2

    client.post(
        f"{_version_url(second)}/edit",
        data=_rows(
            {"section": "Decision", "key": "policy_applied", "text": "Policy applied as written"},
            {"section": "Communication", "key": "notes_explain", "text": "Notes explain"},
        ),
    )
    assert [q.key for q in queries.version_questions(second)] == [
        "policy_applied",
        "notes_explain",
    ]
    # The published version is byte-for-byte what it was.
    assert services.rubric(first) == published_rubric
    assert _rubric_part(client.get(_version_url(first)).get_data(as_text=True)) == published_page
    # Editing it is refused.
    edit = client.post(
        f"{_version_url(first)}/edit", data=_rows({"section": "X", "key": "x", "text": "X"})
    )
    assert edit.status_code == 302
    assert services.rubric(first) == published_rubric

    # Publishing version 2 supersedes version 1, which stays readable.
    client.post(f"{_version_url(second)}/publish")
    db.session.refresh(first)
    db.session.refresh(second)
    assert (first.state, second.state) == ("superseded", "published")
    assert queries.published_version("listing").id == second.id
    last = _events("scorecard.publish", template)[-1]
    assert (last.before["number"], last.before["published_version"]) == (2, 1)
    assert (last.after["state"], last.after["published_version"]) == ("published", 2)
    assert "version 1 superseded" in last.summary
    old = client.get(_version_url(first)).get_data(as_text=True)
    assert "Superseded" in old and _rubric_part(old) == published_page


def test_publishing_needs_a_question(client, login_as):
    template, draft = _draft()
    login_as("qa_lead")
    response = client.post(f"{_version_url(draft)}/publish", follow_redirects=True)
    assert b"Add at least one question before publishing." in response.data
    db.session.refresh(draft)
    assert draft.state == "draft"
    assert _events("scorecard.publish", template) == []


def test_discarding_a_draft(client, login_as):
    template, published, draft = make_scorecard("listing", draft=True)
    _, lone_draft = _draft("seller")
    login_as("qa_lead")
    # A template's only content cannot be discarded.
    response = client.post(f"{_version_url(lone_draft)}/discard", follow_redirects=True)
    assert b"only content" in response.data
    assert db.session.get(ScorecardVersion, lone_draft.id) is not None
    # A published version is not a draft.
    response = client.post(f"{_version_url(published)}/discard", follow_redirects=True)
    assert b"can no longer change" in response.data

    page = client.get(f"/scorecards/{template.id}").get_data(as_text=True)
    assert f'action="{_version_url(draft)}/discard"' in page
    draft_id = draft.id
    response = client.post(f"{_version_url(draft)}/discard")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ScorecardVersion, draft_id) is None
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ScorecardQuestion)
            .where(ScorecardQuestion.version_id == draft_id)
        )
        == 0
    )
    [event] = _events("scorecard.discard", template)
    assert event.before["number"] == 2 and event.after is None
    assert queries.published_version("listing").id == published.id
    # The next draft takes the next number again.
    assert services.new_draft(template, actor=None).number == 2


@pytest.mark.parametrize("role", ["admin", "qa_inspector", "vendor_lead", "vendor_viewer"])
def test_only_qa_leads_change_templates(client, login_as, role):
    template, published, draft = make_scorecard("listing", draft=True)
    login_as(role)
    before = (services.rubric(published), services.rubric(draft))
    events = len(_events())
    attempts = [
        client.get("/scorecards/new"),
        client.post("/scorecards/new", data={"name": "X", "policy_area": "seller"}),
        client.get(f"/scorecards/{template.id}/edit"),
        client.post(f"/scorecards/{template.id}/edit", data={"name": "Hacked"}),
        client.post(f"/scorecards/{template.id}/new-draft"),
        client.get(f"{_version_url(draft)}/edit"),
        client.post(
            f"{_version_url(draft)}/edit", data=_rows({"section": "S", "key": "k", "text": "T"})
        ),
        client.post(f"{_version_url(draft)}/publish"),
        client.post(f"{_version_url(draft)}/discard"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    db.session.refresh(template)
    db.session.refresh(draft)
    assert template.name != "Hacked" and draft.state == "draft"
    assert (services.rubric(published), services.rubric(draft)) == before
    assert _count(ScorecardTemplate) == 1
    assert len(_events()) == events


def test_history_is_shown_to_leads(client, login_as):
    template, _, _ = make_scorecard("listing", name="History QA")
    db.session.commit()  # audit events are written at commit
    login_as("qa_lead")
    page = client.get(f"/scorecards/{template.id}").get_data(as_text=True)
    assert "created scorecard template History QA" in page
    assert "published version 1 of History QA" in page


# --- services --------------------------------------------------------------------------


def test_services_refuse_what_the_rules_forbid(make_user):
    lead = make_user("qa_lead")
    template, published, _ = make_scorecard("listing", actor=lead)
    with pytest.raises(Conflict):
        services.save_draft(published, SCORECARD_SECTIONS, actor=lead)
    with pytest.raises(Conflict):
        services.publish(published, actor=lead)
    draft = services.new_draft(template, actor=lead)
    with pytest.raises(Conflict):
        services.new_draft(template, actor=lead)
    with pytest.raises(ValidationFailed) as caught:
        services.save_draft(
            draft,
            [
                {"title": "", "questions": [{"key": "9x", "text": "t", "weight": True}]},
                {"title": "B", "questions": []},
                "not a section",
            ],
            actor=lead,
        )
    fields = {d["field"] for d in caught.value.details}
    assert fields == {
        "sections[0].title",
        "sections[0].questions[0].key",
        "sections[0].questions[0].weight",
        "sections[1].questions",
        "sections[2]",
    }
    with pytest.raises(ValidationFailed):
        services.save_draft(draft, "nope", actor=lead)
    with pytest.raises(ValidationFailed) as too_many:
        services.save_draft(
            draft,
            [{"title": f"S{n}", "questions": [{"key": f"k{n}", "text": "t"}]} for n in range(21)],
            actor=lead,
        )
    assert too_many.value.details[0] == {"field": "sections", "message": "At most 20 sections."}
    # Nothing of the refused saves reached the draft.
    assert services.rubric(draft) == services.rubric(published)


def test_published_version_and_question_order(make_user):
    assert queries.published_version("ipr") is None
    _, _, draft_only = make_scorecard("ipr", published=False)
    assert queries.published_version("ipr") is None
    services.publish(draft_only, actor=None)
    version = queries.published_version("ipr")
    assert version.id == draft_only.id
    questions = queries.version_questions(version)
    assert [q.key for q in questions] == [
        "policy_applied",
        "primary_label_specific",
        "escalation_followed",
    ]
    sections = db.session.scalars(
        sa.select(ScorecardSection).where(ScorecardSection.version_id == version.id)
    ).all()
    assert len(sections) == 2


def test_seed_scorecards_is_idempotent_and_audited(make_user):
    from app.seed.scorecards import seed_scorecards

    lead = make_user("qa_lead")
    assert seed_scorecards() == 4
    db.session.commit()  # audit events are written at commit
    for area in ("seller", "listing", "content", "ipr"):
        version = queries.published_version(area)
        assert version is not None and version.published_by_id == lead.id
        questions = queries.version_questions(version)
        assert 5 <= len(questions) <= 8
        assert 2 <= len(version.sections) <= 3
        assert 1 <= sum(q.critical for q in questions) <= 2
        assert len({q.weight for q in questions}) > 1
    assert len(_events("scorecard.create")) == 4
    assert len(_events("scorecard.publish")) == 4
    assert seed_scorecards() == 0
    assert _count(ScorecardTemplate) == 4


# --- two leads at once (PostgreSQL, real connections) ---------------------------------


@pytest.mark.postgres_only
@pytest.mark.committing
def test_two_leads_making_a_new_draft_at_once_make_one(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL row locks and real concurrent connections")
    with audit_chain_restored() as cleanup:
        template, _, _ = make_scorecard("content", name=f"Race {uuid.uuid4().hex[:8]}")
        db.session.commit()
        template_id = template.id
        table = ScorecardTemplate.__table__
        cleanup.append(sa.delete(table).where(table.c.id == template_id))
        outcome: dict[str, str] = {}

        def second_lead():
            with app.app_context():
                try:
                    services.new_draft(db.session.get(ScorecardTemplate, template_id), actor=None)
                    db.session.commit()
                    outcome["second"] = "made a draft"
                except Conflict:
                    db.session.rollback()
                    outcome["second"] = "refused"
                finally:
                    db.session.remove()

        services.new_draft(template, actor=None)  # holds the template's lock
        thread = threading.Thread(target=second_lead)
        thread.start()
        assert wait_for_lock_waiter()
        db.session.commit()
        thread.join(10)
        assert outcome == {"second": "refused"}
        states = db.session.scalars(
            sa.select(ScorecardVersion.state).where(ScorecardVersion.template_id == template_id)
        ).all()
        assert sorted(states) == ["draft", "published"]
