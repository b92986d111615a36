"""Scorecard templates through the API: `GET /api/v1/scorecards` and
`GET /api/v1/scorecards/versions/<id>`; drafts answer 404 to everyone but QA and admins."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.scorecards import queries, services
from tests.factories import make_scorecard


def test_list_answers_templates_with_their_published_rubric(make_user, api_client):
    template, published, draft = make_scorecard("listing", name="Listing QA", draft=True)
    services.save_draft(
        draft, [{"title": "Changed", "questions": [{"key": "new", "text": "New"}]}], actor=None
    )
    lone, _, _ = make_scorecard("ipr", name="IPR QA", published=False)
    api = api_client(make_user("vendor_viewer"))
    response = api.get("/api/v1/scorecards")
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    by_area = {item["policy_area"]: item for item in body["items"]}
    assert set(by_area) == {"listing", "ipr"}
    assert by_area["ipr"]["published_version"] is None
    listing = by_area["listing"]
    assert (listing["id"], listing["name"]) == (template.id, "Listing QA")
    version = listing["published_version"]
    assert (version["id"], version["number"], version["state"]) == (published.id, 1, "published")
    assert version["published_at"].endswith("+00:00")
    assert [s["title"] for s in version["sections"]] == ["Decision", "Evidence"]
    assert version["sections"][0]["questions"][1] == {
        "key": "primary_label_specific",
        "text": "Primary label is the most specific that fits",
        "guidance": "N/A for approvals.",
        "weight": 2.0,
        "critical": False,
        "allow_na": True,
    }
    assert version["sections"][1]["questions"][0]["critical"] is True
    assert version["sections"][1]["questions"][0]["allow_na"] is False
    assert lone.id == by_area["ipr"]["id"]


def test_list_filters_and_pages(make_user, api_client):
    for area in ("seller", "listing", "content"):
        make_scorecard(area)
    api = api_client(make_user("qa_inspector"))
    only = api.get("/api/v1/scorecards?policy_area=content").get_json()
    assert [item["policy_area"] for item in only["items"]] == ["content"]
    seen = []
    cursor = None
    while True:
        url = "/api/v1/scorecards?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url).get_json()
        seen += [item["policy_area"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["seller", "listing", "content"]
    bad = api.get("/api/v1/scorecards?policy_area=weather&limit=0")
    assert bad.status_code == 422
    assert {d["field"] for d in bad.get_json()["error"]["details"]} == {"policy_area", "limit"}
    assert api.get("/api/v1/scorecards?cursor=forged").status_code == 422


@pytest.mark.parametrize(
    ("role", "sees_draft"),
    [
        ("admin", True),
        ("qa_lead", True),
        ("qa_inspector", True),
        ("vendor_lead", False),
        ("vendor_viewer", False),
        ("integration", False),
    ],
)
def test_one_version_and_drafts_only_for_qa(make_user, api_client, role, sees_draft):
    template, published, draft = make_scorecard("seller", draft=True)
    api = api_client(make_user(role))
    response = api.get(f"/api/v1/scorecards/versions/{published.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["template"] == {"id": template.id, "name": template.name, "policy_area": "seller"}
    assert (body["id"], body["state"]) == (published.id, "published")
    assert [q["key"] for s in body["sections"] for q in s["questions"]] == [
        q.key for q in queries.version_questions(published)
    ]
    draft_answer = api.get(f"/api/v1/scorecards/versions/{draft.id}")
    if sees_draft:
        assert draft_answer.status_code == 200
        assert draft_answer.get_json()["state"] == "draft"
        assert draft_answer.get_json()["published_at"] is None
    else:
        assert draft_answer.status_code == 404
        assert draft_answer.get_json()["error"]["code"] == "not_found"


def test_superseded_versions_stay_readable_and_unknown_ones_are_404(make_user, api_client):
    _, first, draft = make_scorecard("content", draft=True)
    services.publish(draft, actor=None)
    db.session.commit()
    api = api_client(make_user("vendor_lead"))
    old = api.get(f"/api/v1/scorecards/versions/{first.id}")
    assert old.status_code == 200 and old.get_json()["state"] == "superseded"
    listed = api.get("/api/v1/scorecards").get_json()["items"][0]["published_version"]
    assert listed["id"] == draft.id and listed["number"] == 2
    missing = api.get("/api/v1/scorecards/versions/999999")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["message"] == "No scorecard version #999999."
    assert api.get("/api/v1/scorecards/versions/99999999999").status_code == 404


def test_a_token_is_required(client):
    response = client.get("/api/v1/scorecards")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_document_describes_the_scorecard_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "get" in document["paths"]["/api/v1/scorecards"]
    assert (
        "404" in document["paths"]["/api/v1/scorecards/versions/{version_id}"]["get"]["responses"]
    )
    question = document["components"]["schemas"]["ScorecardQuestion"]["properties"]
    assert set(question) == {"key", "text", "guidance", "weight", "critical", "allow_na"}
