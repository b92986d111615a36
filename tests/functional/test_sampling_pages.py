"""The /sampling pages: drawing (with its preview), the sample page and its actions,
plans, queues, and who sees what (DESIGN §1, §4)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Sample, SampleItem, SamplingPlan
from app.sampling import services
from tests.builders.sampling import MARCH, draw, items_of, make_population
from tests.factories import InspectionFactory, UserFactory, VendorFactory
from tests.refs import ref

DRAW = {
    "vendor": "ACME",
    "period_start": "2026-03-01",
    "period_end": "2026-03-31",
    "purpose": "contract",
    "strata": ["policy_area", "decision"],
    "size_mode": "margin",
    "margin": "10",
    "confidence": "0.95",
    "action": "draw",
}


@pytest.fixture
def vendor():
    vendor = VendorFactory(code="ACME", name="Acme Moderation")
    make_population(vendor)
    return vendor


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def shows(page: str, item) -> bool:
    """Whether a page lists item #id (and not merely a longer number)."""
    return re.search(rf"#{ref(item)}(?!\d)", page) is not None


# Drawing ------------------------------------------------------------------------------


def test_a_lead_draws_a_sample_from_the_form(client, login_as, vendor):
    lead = login_as("qa_lead")
    inspector = UserFactory(role="qa_inspector", name="Ines Inspector")
    page = client.get("/sampling/draw")
    assert page.status_code == 200
    assert "Draw a sample" in _text(page)
    response = client.post("/sampling/draw", data={**DRAW, "inspectors": [str(inspector.id)]})
    assert response.status_code == 302, _text(response)[:2000]
    sample = db.session.scalar(sa.select(Sample))
    assert response.headers["Location"].endswith(f"/sampling/{ref(sample)}")
    assert sample.created_by_id == lead.id and sample.margin == 0.1
    shown = _text(client.get(response.headers["Location"]))
    assert sample.seed in shown
    assert "listing|approve" in shown
    assert "Ines Inspector" in shown
    assert {i.assignee_id for i in items_of(sample)} == {inspector.id}
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sample.drawn"))
    assert event.actor_id == lead.id and event.after["seed"] == sample.seed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"period_start": ""}, "Enter the first day."),
        ({"period_end": "2099-01-01"}, "Sample a closed period"),
        ({"margin": "abc"}, "Enter the margin as a percentage"),
        ({"size_mode": "size", "size": ""}, "Enter how many items to draw."),
        ({"vendor": ""}, "Choose a vendor."),
        ({"purpose": "contract", "risk_weights": "listing|reject = 3"}, "targeted samples only"),
        ({"purpose": "targeted", "risk_weights": "listing|reject three"}, "Line 1"),
        ({"seed": "x" * 200}, "Seed"),
    ],
)
def test_bad_draw_input_is_shown_on_the_form(client, login_as, vendor, changes, message):
    login_as("qa_lead")
    response = client.post("/sampling/draw", data={**DRAW, **changes})
    assert response.status_code == 400
    assert message in _text(response)
    assert _count(Sample) == 0


def test_the_preview_shows_n_and_the_margin_without_drawing(client, login_as, vendor):
    login_as("qa_lead")
    response = client.post("/sampling/draw", data={**DRAW, "action": "preview"})
    assert response.status_code == 200
    text = _text(response)
    assert "Population <strong>240</strong> decisions in 8 strata" in text
    n = services.preview(vendor=vendor, period_start=MARCH[0], period_end=MARCH[1], margin=0.1).size
    assert f"n = {n}" in text and "margin <strong>±" in text
    assert _count(Sample) == 0


def test_the_preview_endpoint_answers_as_you_type(client, login_as, vendor):
    login_as("qa_lead")
    query = (
        "vendor=ACME&period_start=2026-03-01&period_end=2026-03-31&strata=policy_area"
        "&size_mode=size&size=24&confidence=0.95"
    )
    body = client.get(f"/sampling/preview?{query}").get_json()
    assert body["population"] == 240 and body["size"] == 24 and body["strata"] == 4
    assert 0 < body["margin"] < 0.25
    assert "n = 24" in body["text"]
    bad = client.get("/sampling/preview?vendor=ACME&period_start=soon&period_end=2026-03-31")
    assert bad.status_code == 400
    assert "The start date must be a date" in bad.get_json()["error"]
    assert client.get("/sampling/preview").status_code == 400


@pytest.mark.parametrize("role", ["admin", "qa_inspector"])
def test_only_leads_draw(client, login_as, vendor, role):
    login_as(role)
    assert client.get("/sampling/draw").status_code == 403
    assert client.post("/sampling/draw", data=DRAW).status_code == 403
    assert client.get("/sampling/").status_code == 200
    assert _count(Sample) == 0


# The sample page ----------------------------------------------------------------------


def test_skip_reassign_assign_close_and_cancel_from_the_sample_page(client, login_as, vendor):
    lead = login_as("qa_lead")
    a = UserFactory(role="qa_inspector", name="Alice Inspector")
    b = UserFactory(role="qa_inspector", name="Bob Inspector")
    sample = draw(vendor, size=6, lead=lead)
    first = items_of(sample)[0]

    response = client.post(f"/sampling/{ref(sample)}/assign", data={"inspectors": [a.id, b.id]})
    assert response.status_code == 302
    assert [i.assignee_id for i in items_of(sample)] == [a.id, b.id] * 3

    response = client.post(
        f"/sampling/{ref(sample)}/items/{ref(first)}/reassign", data={"assignee": str(b.id)}
    )
    assert response.status_code == 302
    db.session.refresh(first)
    assert first.assignee_id == b.id

    response = client.post(
        f"/sampling/{ref(sample)}/items/{ref(first)}/skip",
        data={"reason": "The item was removed"},
        follow_redirects=True,
    )
    assert "skipped; replaced by" in _text(response)
    db.session.refresh(first)
    assert first.status == "skipped"
    assert (
        client.post(f"/sampling/{ref(sample)}/items/{ref(first)}/skip", data={}).status_code == 302
    )

    closing = client.post(f"/sampling/{ref(sample)}/close")
    assert closing.status_code == 409
    assert "6 pending items" in _text(closing)

    response = client.post(
        f"/sampling/{ref(sample)}/cancel", data={"reason": "wrong month"}, follow_redirects=True
    )
    assert "cancelled" in _text(response)
    db.session.refresh(sample)
    assert sample.state == "cancelled"
    assert client.post(f"/sampling/{ref(sample)}/close").status_code == 409


def test_an_item_of_another_sample_is_not_found(client, login_as, vendor):
    login_as("qa_lead")
    one = draw(vendor, size=3)
    two = draw(vendor, size=3, seed="two")
    item = items_of(two)[0]
    response = client.post(f"/sampling/{ref(one)}/items/{ref(item)}/skip", data={"reason": "x"})
    assert response.status_code == 404


def test_sample_page_filters_items(client, login_as, vendor):
    login_as("qa_inspector")
    sample = draw(vendor, size=24)
    items = items_of(sample)
    items[0].status = "inspected"
    db.session.commit()
    page = _text(client.get(f"/sampling/{ref(sample)}?status=inspected"))
    assert shows(page, items[0]) and not shows(page, items[1])
    stratum = items[1].stratum
    page = _text(client.get(f"/sampling/{ref(sample)}?stratum={stratum}"))
    assert all(shows(page, i) == (i.stratum == stratum) for i in items)
    assert "Cancel sample" not in page  # inspectors only read


# Tenant rules -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_see_only_their_closed_samples(client, login_as, vendor, role):
    inspector = UserFactory(role="qa_inspector", name="Secret Name")
    open_sample = draw(vendor, size=3, inspectors=[inspector])
    closed = draw(vendor, size=3, seed="closed", inspectors=[inspector])
    for item in items_of(closed):
        item.status = "inspected"
    services.close_sample(closed)
    other = VendorFactory(name="Other Vendor Inc")
    make_population(other, n=20, prefix="X")
    theirs = draw(other, size=3)
    for item in items_of(theirs):
        item.status = "inspected"
    services.close_sample(theirs)
    db.session.commit()

    login_as(role, vendor=vendor)
    assert client.get(f"/sampling/{ref(open_sample)}").status_code == 404
    assert client.get(f"/sampling/{ref(theirs)}").status_code == 404
    page = client.get(f"/sampling/{ref(closed)}")
    assert page.status_code == 200
    text = _text(page)
    assert inspector.pseudonym in text and "Secret Name" not in text
    listing = _text(client.get("/sampling/"))
    assert f"#{ref(closed)}" in listing
    assert f"#{ref(open_sample)}" not in listing and "Other Vendor" not in listing
    assert client.get(f"/sampling/?vendor={other.code}").status_code == 404
    assert client.get("/sampling/queue").status_code == 403
    assert client.get("/sampling/plans").status_code == 403


# Plans --------------------------------------------------------------------------------


def test_plans_are_created_edited_and_drawn_from_on_pages(client, login_as, vendor):
    login_as("qa_lead")
    form = {k: v for k, v in DRAW.items() if not k.startswith("period") and k != "action"}
    response = client.post("/sampling/plans/new", data={**form, "name": "ACME monthly"})
    assert response.status_code == 302
    plan = db.session.scalar(sa.select(SamplingPlan))
    assert (plan.margin, plan.strata, plan.vendor_id) == (
        0.1,
        ["policy_area", "decision"],
        vendor.id,
    )

    bad = client.post("/sampling/plans/new", data={**form, "name": ""})
    assert bad.status_code == 400 and "Give the plan a name." in _text(bad)

    edit = client.get(f"/sampling/plans/{plan.id}/edit")
    assert edit.status_code == 200 and 'value="ACME monthly"' in edit.get_data(as_text=True)
    response = client.post(
        f"/sampling/plans/{plan.id}/edit",
        data={**form, "name": "ACME weekly", "size_mode": "size", "size": "30", "active": "y"},
    )
    assert response.status_code == 302
    db.session.refresh(plan)
    assert (plan.name, plan.size, plan.margin) == ("ACME weekly", 30, None)

    prefilled = client.get(f"/sampling/draw?plan={plan.id}").get_data(as_text=True)
    assert f'name="plan_id" type="hidden" value="{plan.id}"' in prefilled
    response = client.post(
        "/sampling/draw",
        data={
            **form,
            "size_mode": "size",
            "size": "30",
            "plan_id": str(plan.id),
            "period_start": "2026-03-01",
            "period_end": "2026-03-31",
            "action": "draw",
        },
    )
    assert response.status_code == 302
    sample = db.session.scalar(sa.select(Sample))
    assert sample.plan_id == plan.id
    detail = _text(client.get(f"/sampling/plans/{plan.id}"))
    assert f"#{ref(sample)}" in detail
    actions = db.session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.object_type == "sampling_plan")
        .order_by(AuditEvent.seq)
    ).all()
    assert actions == ["plan.created", "plan.updated"]


def test_inspectors_read_plans_but_do_not_change_them(client, login_as, vendor):
    plan = services.create_plan(name="Read me", vendor=vendor, size=5)
    db.session.commit()
    login_as("qa_inspector")
    assert client.get("/sampling/plans").status_code == 200
    assert client.get(f"/sampling/plans/{plan.id}").status_code == 200
    assert client.get(f"/sampling/plans/{plan.id}/edit").status_code == 403
    assert client.post("/sampling/plans/new", data={"name": "x"}).status_code == 403


# Queues -------------------------------------------------------------------------------


def test_my_queue_and_a_leads_view_of_anyones_queue(client, login_as, auth, vendor):
    me = UserFactory(role="qa_inspector", name="Queue Owner")
    other = UserFactory(role="qa_inspector")
    sample = draw(vendor, size=4, inspectors=[me, other])
    mine = [i for i in items_of(sample) if i.assignee_id == me.id]
    auth.login(me)
    page = _text(client.get("/sampling/queue"))
    assert "My queue" in page
    assert all(shows(page, i) == (i.assignee_id == me.id) for i in items_of(sample))
    auth.logout()
    login_as("qa_lead")
    page = _text(client.get(f"/sampling/queue?inspector={me.id}"))
    assert "Queue of Queue Owner" in page and all(shows(page, i) for i in mine)
    assert client.get("/sampling/queue?inspector=99999").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleItem)) == 4


def test_the_queue_offers_start_and_continue_with_progress_per_sample(
    client, login_as, auth, vendor
):
    me = UserFactory(role="qa_inspector", name="Queue Owner")
    begun = draw(vendor, size=3, inspectors=[me])
    untouched = draw(vendor, size=2, seed="second", inspectors=[me])
    done, drafted, waiting = items_of(begun)
    done.status = "inspected"
    InspectionFactory(decision=drafted.decision, sample_item=drafted, inspector=me)
    db.session.commit()

    auth.login(me)
    page = client.get("/sampling/queue").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "1 of 5 inspected · 1 draft · 4 to go" in text
    assert "1 of 3 inspected · 1 draft" in text and "0 of 2 inspected" in text
    assert '<progress class="qa-progress" value="1" max="3"' in page
    assert '<progress class="qa-progress" value="0" max="2"' in page
    # A partly worked sample continues with its draft; an untouched one starts.
    continuing = (
        rf'href="/inspections/items/{ref(drafted)}" aria-label="Continue sample #{ref(begun)}"'
    )
    assert re.search(continuing, page)
    first = items_of(untouched)[0]
    starting = (
        rf'href="/inspections/items/{ref(first)}" aria-label="Start sample #{ref(untouched)}"'
    )
    assert re.search(starting, page)
    # The page's own button goes on where the queue does: the oldest sample's draft.
    assert f'href="/inspections/items/{ref(drafted)}" aria-label="Continue my queue"' in page
    # Item by item: Continue for the draft, Start for the others.
    rows = {
        ref(i): r
        for i in (drafted, waiting, first)
        for r in re.findall(rf"#{ref(i)}</td>.*?</tr>", page, re.S)
    }
    assert ">Continue</a>" in rows[ref(drafted)]
    assert ">Start</a>" in rows[ref(waiting)] and ">Start</a>" in rows[ref(first)]
    assert f"<td>#{ref(done)}</td>" not in page  # inspected: off the queue

    # A lead looking at the queue sees the progress, but starts nothing in its name.
    auth.logout()
    login_as("qa_lead")
    page = client.get(f"/sampling/queue?inspector={me.id}").get_data(as_text=True)
    assert '<progress class="qa-progress" value="1" max="3"' in page
    assert 'aria-label="Start sample' not in page and "Continue sample" not in page


def test_an_empty_queue_says_where_work_comes_from(client, login_as):
    login_as("qa_inspector")
    page = _text(client.get("/sampling/queue"))
    assert "No items are waiting for you." in page
    assert "qa-progress" not in page


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_get_no_vendor_choice_on_the_samples_list(client, login_as, vendor, role):
    login_as(role, vendor=vendor)
    page = client.get("/sampling/").get_data(as_text=True)
    assert re.search(r'<select[^>]*name="vendor"', page) is None
    assert "All vendors" not in page


def test_staff_choose_the_vendor_of_the_samples_list(client, login_as, vendor):
    login_as("qa_lead")
    page = client.get("/sampling/").get_data(as_text=True)
    assert re.search(r'<select[^>]*name="vendor"', page) is not None
    assert "All vendors" in page


def _checkboxes(page: str, name: str) -> dict[str, str]:
    """value -> label text of the checkboxes called `name`."""
    found = {}
    for box in re.finditer(r'<input[^>]*type="checkbox"[^>]*>', page):
        tag = box.group(0)
        if f'name="{name}"' not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag).group(1)
        box_id = re.search(r'id="([^"]*)"', tag).group(1)
        label = re.search(rf'<label[^>]*for="{box_id}"[^>]*>([^<]*)</label>', page).group(1)
        found[value] = label.strip()
    return found


def test_inspectors_are_picked_with_checkboxes_not_a_ctrl_click_list(client, login_as, vendor):
    login_as("qa_lead")
    one = UserFactory(role="qa_inspector", name="Ines Inspector")
    two = UserFactory(role="qa_inspector", name="Omar Okafor")
    sample = draw(vendor, size=4)
    for path in ("/sampling/draw", "/sampling/plans/new", f"/sampling/{ref(sample)}"):
        page = client.get(path).get_data(as_text=True)
        assert "<select" not in page.split('name="inspectors"')[0][-300:], path
        boxes = _checkboxes(page, "inspectors")
        assert {str(one.id), str(two.id)} <= set(boxes), path
        assert any("Omar Okafor" in text for text in boxes.values()), path


def test_cancel_sample_is_kept_apart_from_close(client, login_as, vendor):
    login_as("qa_lead")
    sample = draw(vendor, size=4)
    page = client.get(f"/sampling/{ref(sample)}").get_data(as_text=True)
    close = page.index("Close sample")
    items_table = page.index("<table", close)
    cancel = page.index("Cancel sample</button>")
    assert close < items_table < cancel
