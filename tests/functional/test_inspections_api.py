"""Inspections through the API (DESIGN §2, §3, §8, §11): create, update with the
version read, finalise, correct; the rules of a verdict; who may inspect; what vendor
users see."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import AuditEvent, Inspection, SampleItem
from tests.builders import inspections
from tests.builders.world import module_world
from tests.factories import UserFactory, VendorFactory
from tests.refs import ref, row_id

URL = "/api/v1/inspections"


@module_world
def world():
    """ACME with a published listing scorecard and three decisions in an open sample
    assigned to an inspector; another inspector and a lead. Built once for the module."""
    vendor = VendorFactory(code="ACME")
    inspector = UserFactory(role="qa_inspector")
    other_inspector = UserFactory(role="qa_inspector")
    lead = UserFactory(role="qa_lead")
    version = inspections.scorecard("listing")
    labels = inspections.labels("listing")
    seller_label = inspections.labels("seller", 1)[0]
    decisions = [
        inspections.decision(vendor, labels=[labels[0], labels[1]]),
        inspections.decision(vendor),
        inspections.decision(vendor, labels=[labels[2]]),
    ]
    sample = inspections.sample_of(vendor, decisions, assignee=inspector)
    return {
        "vendor": vendor,
        "inspector": inspector,
        "other_inspector": other_inspector,
        "lead": lead,
        "version": version,
        "labels": labels,
        "seller_label": seller_label,
        "decisions": decisions,
        "sample": sample,
    }


def verdict(decision, **changes) -> dict:
    body = {
        "decision": decision.external_id,
        "expected_decision": decision.decision,
        "expected_labels": decision.label_codes,
        "severity": "none",
        "answers": inspections.all_yes(),
        "notes": "Checked the listing history.",
    }
    body.update(changes)
    return body


def test_an_inspector_inspects_an_assigned_item_as_a_draft_then_finalises(api_client, world):
    api = api_client(world["inspector"])
    decision = world["decisions"][0]
    response = api.post(URL, json=verdict(decision, answers={"policy_applied": "yes"}))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft"
    assert body["version"] == 1
    assert body["correct"] is True
    assert body["rubric_score"] == 100.0
    assert body["purpose"] == "contract"
    assert body["month"] == "2026-03"
    assert body["inspector"] == world["inspector"].email
    assert body["template"] == world["version"].id
    item = db.session.get(SampleItem, world["sample"].items[0].id)
    assert item.status == "pending"  # a draft leaves the item in the queue

    # Finalising needs every question answered.
    response = api.patch(f"{URL}/{body['id']}", json={"version": 1, "status": "final"})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "answers"

    answers = {**inspections.all_yes(), "evidence_checked": "na", "policy_applied": "no"}
    response = api.patch(
        f"{URL}/{body['id']}", json={"version": 1, "status": "final", "answers": answers}
    )
    assert response.status_code == 200, response.get_json()
    final = response.get_json()
    assert final["status"] == "final"
    assert final["version"] == 2
    assert final["finalised_at"] is not None
    # 100 * (2 + 1) / (3 + 2 + 1): na drops out, the rest weighted.
    assert final["rubric_score"] == pytest.approx(50.0)
    assert [h["source"] for h in final["history"]] == ["create", "finalise"]
    db.session.expire_all()
    assert db.session.get(SampleItem, world["sample"].items[0].id).status == "inspected"
    assert api.get(f"{URL}/{body['id']}").get_json() == final


def test_a_critical_no_scores_zero_but_does_not_change_correctness(api_client, world):
    api = api_client(world["inspector"])
    answers = {**inspections.all_yes(), "escalation_followed": "no"}
    body = api.post(URL, json=verdict(world["decisions"][1], answers=answers, status="final"))
    assert body.status_code == 201
    assert body.get_json()["rubric_score"] == 0.0
    assert body.get_json()["correct"] is True


def test_a_second_inspection_of_a_decision_is_a_conflict(api_client, world):
    api = api_client(world["inspector"])
    decision = world["decisions"][1]
    assert api.post(URL, json=verdict(decision)).status_code == 201
    response = api.post(URL, json=verdict(decision))
    assert response.status_code == 409
    assert "already has an inspection" in response.get_json()["error"]["message"]


def test_two_people_saving_the_same_version_the_second_is_refused(api_client, world):
    inspector = api_client(world["inspector"])
    lead = api_client(world["lead"])
    created = inspector.post(URL, json=verdict(world["decisions"][1])).get_json()
    first = lead.patch(f"{URL}/{created['id']}", json={"version": 1, "notes": "Lead's note"})
    assert first.status_code == 200
    second = inspector.patch(f"{URL}/{created['id']}", json={"version": 1, "notes": "Mine"})
    assert second.status_code == 409
    assert second.get_json()["error"]["details"] == {"current_version": 2}
    assert inspector.get(f"{URL}/{created['id']}").get_json()["notes"] == "Lead's note"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"expected_decision": "maybe"}, "expected_decision", "Choose the expected decision"),
        ({"expected_decision": "approve", "severity": "major"}, "expected_labels", "no labels"),
        ({"severity": "major"}, "severity", "the severity is none"),
        ({"expected_labels": ["NOPE-1"]}, "expected_labels", "No label has the code NOPE-1"),
        ({"severity": "grave"}, "severity", "Choose a severity"),
        ({"answers": {"nope": "yes"}}, "answers.nope", "no question nope"),
        ({"answers": {"policy_applied": "na"}}, "answers.policy_applied", "cannot be answered N/A"),
        ({"answers": {"policy_applied": "maybe"}}, "answers.policy_applied", "yes, no or na"),
        ({"notes": "x" * 10_001}, "notes", "10,000 characters"),
        ({"notes": "bad\x00text"}, "notes", "control characters"),
        ({"template": 999999}, "template", "published scorecard version"),
    ],
)
def test_a_bad_verdict_names_its_field_and_stores_nothing(
    api_client, world, changes, field, message
):
    api = api_client(world["inspector"])
    response = api.post(URL, json=verdict(world["decisions"][0], **changes))
    assert response.status_code == 422, response.get_json()
    details = response.get_json()["error"]["details"]
    assert any(d["field"] == field and message in d["message"] for d in details), details
    assert db.session.query(Inspection).count() == 0


def test_labels_must_be_of_the_decisions_policy_area(api_client, world):
    api = api_client(world["inspector"])
    code = world["seller_label"].code
    response = api.post(URL, json=verdict(world["decisions"][0], expected_labels=[code]))
    assert response.status_code == 422
    assert "is a seller label" in response.get_json()["error"]["details"][0]["message"]


def test_a_wrong_verdict_needs_a_severity_other_than_none_and_a_reject_needs_a_label(
    api_client, world
):
    api = api_client(world["inspector"])
    decision = world["decisions"][1]  # an approve
    response = api.post(
        URL, json=verdict(decision, expected_decision="reject", expected_labels=[], status="final")
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "expected_labels"
    wrong = verdict(
        decision,
        expected_decision="reject",
        expected_labels=[world["labels"][0].code],
        severity="none",
    )
    response = api.post(URL, json=wrong)
    assert response.status_code == 422
    assert "choose minor, major or critical" in response.get_json()["error"]["message"]
    response = api.post(URL, json={**wrong, "severity": "critical", "status": "final"})
    assert response.status_code == 201
    assert response.get_json()["correct"] is False


def test_label_order_does_not_matter_for_correctness(api_client, world):
    api = api_client(world["inspector"])
    decision = world["decisions"][0]
    body = verdict(decision, expected_labels=list(reversed(decision.label_codes)))
    response = api.post(URL, json=body)
    assert response.get_json()["correct"] is True
    assert response.get_json()["expected_labels"] == list(reversed(decision.label_codes))


def test_only_the_assignee_or_a_lead_inspects_an_item(api_client, world):
    decision = world["decisions"][1]
    response = api_client(world["other_inspector"]).post(URL, json=verdict(decision))
    assert response.status_code == 403
    assert "assigned to someone else" in response.get_json()["error"]["message"]
    assert api_client(world["lead"]).post(URL, json=verdict(decision)).status_code == 201


def test_a_decision_outside_any_open_sample_is_inspected_by_a_lead_only_as_targeted(
    api_client, world
):
    loose = inspections.decision(world["vendor"])
    response = api_client(world["inspector"]).post(URL, json=verdict(loose))
    assert response.status_code == 403
    response = api_client(world["lead"]).post(URL, json=verdict(loose))
    assert response.status_code == 201
    assert response.get_json()["purpose"] == "targeted"
    assert response.get_json()["sample"] is None


def test_unknown_decision_is_named(api_client, world):
    response = api_client(world["inspector"]).post(
        URL, json=verdict(world["decisions"][0]) | {"decision": "NOPE"}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "decision"


def test_a_final_inspection_changes_only_by_a_leads_correction_with_a_reason(api_client, world):
    inspector = api_client(world["inspector"])
    lead = api_client(world["lead"])
    decision = world["decisions"][2]
    created = inspector.post(URL, json=verdict(decision, status="final")).get_json()
    url = f"{URL}/{created['id']}"
    assert inspector.patch(url, json={"version": 1, "notes": "late"}).status_code == 409
    assert inspector.patch(url, json={"version": 1, "reason": "x"}).status_code == 403
    assert lead.patch(url, json={"version": 1, "notes": "no reason"}).status_code == 409
    response = lead.patch(url, json={"version": 1, "reason": "  ", "severity": "major"})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "reason"
    response = lead.patch(
        url,
        json={
            "version": 1,
            "reason": "Policy 4.2 says this is allowed",
            "expected_decision": "approve",
            "expected_labels": [],
            "severity": "major",
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["correct"] is False
    assert body["version"] == 2
    history = body["history"]
    assert [h["source"] for h in history] == ["finalise", "correction"]
    assert history[0]["snapshot"]["expected_decision"] == "reject"
    assert history[1]["reason"] == "Policy 4.2 says this is allowed"
    assert history[1]["changed_by"] == world["lead"].email
    events = db.session.query(AuditEvent).filter_by(action="inspection.correct").all()
    assert len(events) == 1
    assert events[0].before["expected_decision"] == "reject"
    assert events[0].after["expected_decision"] == "approve"


def test_vendor_users_see_only_final_inspections_of_their_vendor_with_pseudonyms(api_client, world):
    inspector = api_client(world["inspector"])
    draft = inspector.post(URL, json=verdict(world["decisions"][0])).get_json()
    final = inspector.post(URL, json=verdict(world["decisions"][1], status="final")).get_json()
    other_vendor = VendorFactory(code="OTHER")
    viewer = api_client(UserFactory(role="vendor_viewer", vendor=world["vendor"]))
    stranger = api_client(UserFactory(role="vendor_lead", vendor=other_vendor))

    assert viewer.get(f"{URL}/{draft['id']}").status_code == 404
    body = viewer.get(f"{URL}/{final['id']}").get_json()
    assert body["inspector"] == f"QA-{world['inspector'].id}"
    assert world["inspector"].email not in str(body)
    assert [h["source"] for h in body["history"]] == ["finalise"]
    listed = viewer.get(f"{URL}?vendor=ACME").get_json()["items"]
    assert [i["id"] for i in listed] == [final["id"]]
    assert stranger.get(f"{URL}/{final['id']}").status_code == 404
    assert stranger.get(f"{URL}?vendor=ACME").status_code == 404
    assert stranger.get(URL).get_json()["items"] == []
    assert viewer.post(URL, json=verdict(world["decisions"][2])).status_code == 403


def test_vendor_users_cannot_filter_by_who_inspected(api_client, world):
    """No filter may name a QA person to a vendor user: it would tell which pseudonym
    belongs to which email. The filter is ignored for them."""
    inspector = api_client(world["inspector"])
    final = inspector.post(URL, json=verdict(world["decisions"][1], status="final")).get_json()
    viewer = api_client(UserFactory(role="vendor_viewer", vendor=world["vendor"]))
    for email in (world["inspector"].email, world["lead"].email, "nobody@example.com"):
        listed = viewer.get(f"{URL}?inspector={email}").get_json()["items"]
        assert [i["id"] for i in listed] == [final["id"]], email
    assert inspector.get(f"{URL}?inspector={world['lead'].email}").get_json()["items"] == []


def test_the_list_filters_by_month_status_and_purpose(api_client, world):
    api = api_client(world["inspector"])
    api.post(URL, json=verdict(world["decisions"][0]))
    api.post(URL, json=verdict(world["decisions"][1], status="final"))
    assert len(api.get(f"{URL}?month=2026-03").get_json()["items"]) == 2
    assert api.get(f"{URL}?month=2026-04").get_json()["items"] == []
    finals = api.get(f"{URL}?status=final&purpose=contract").get_json()["items"]
    assert [i["decision"] for i in finals] == [world["decisions"][1].external_id]
    assert api.get(f"{URL}?month=2026-13").status_code == 422
    mine = api.get(f"{URL}?inspector={world['inspector'].email}").get_json()["items"]
    assert len(mine) == 2


def test_vendor_users_cannot_tell_how_much_draft_work_came_before_finalisation(
    api_client, client, auth, world
):
    """A vendor sees the inspection as it was finalised: version 1 at finalisation, made
    when it was finalised, and no id of a sample it may not see (this one is open)."""
    inspector = api_client(world["inspector"])
    draft = inspector.post(URL, json=verdict(world["decisions"][0])).get_json()
    for version in (1, 2):
        edited = inspector.patch(f"{URL}/{draft['id']}", json={"version": version, "notes": "x"})
        assert edited.status_code == 200, edited.get_json()
    final = inspector.patch(f"{URL}/{draft['id']}", json={"version": 3, "status": "final"})
    staff = final.get_json()
    assert staff["version"] == 4 and staff["sample"] == ref(world["sample"])
    row = db.session.get(Inspection, row_id(draft["id"]))
    row.created_at = row.finalised_at - timedelta(hours=3)  # drafting began long before
    db.session.commit()

    viewer = UserFactory(role="vendor_viewer", vendor=world["vendor"])
    body = api_client(viewer).get(f"{URL}/{draft['id']}").get_json()
    assert body["version"] == 1
    assert [(h["version"], h["source"]) for h in body["history"]] == [(1, "finalise")]
    assert body["created_at"] == body["finalised_at"]
    assert body["sample"] is None  # the sample is still open

    auth.login(viewer)
    page = client.get(f"/inspections/{draft['id']}").get_data(as_text=True)
    assert re.search(r"Version</dt>\s*<dd[^>]*>1</dd>", page), page
    export = client.get("/inspections/export.csv?vendor=ACME").get_data(as_text=True)
    row = next(csv.DictReader(io.StringIO(export)))
    assert row["created_at"] == row["finalised_at"]


def test_an_inspection_finalised_at_creation_is_not_finalised_before_it_was_created(
    api_client, world
):
    api = api_client(world["inspector"])
    created = api.post(URL, json=verdict(world["decisions"][1], status="final")).get_json()
    assert created["status"] == "final"
    assert created["finalised_at"] == created["created_at"]

    drafted = api.post(URL, json=verdict(world["decisions"][0])).get_json()
    final = api.patch(
        f"{URL}/{drafted['id']}",
        json={"version": 1, "status": "final", "answers": inspections.all_yes()},
    ).get_json()
    assert final["finalised_at"] >= final["created_at"]
