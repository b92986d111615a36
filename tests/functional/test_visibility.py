"""The visibility rule book (app/security/scoping.py): for every vendor-visible object
type and every role, the query filter `visible(select(Model), user)` and the predicate
`can_see(user, obj)` agree, and both say what DESIGN §1 grants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Decision,
    Inspection,
    InspectionVersion,
    Job,
    Sample,
    SampleItem,
    SamplingPlan,
    User,
    Vendor,
    VendorContract,
)
from app.security.scoping import can_see, display_person, visible, visible_history
from tests.factories import (
    ContractFactory,
    DecisionFactory,
    InspectionFactory,
    SampleFactory,
    SampleItemFactory,
    SamplingPlanFactory,
    UserFactory,
    VendorFactory,
)

pytestmark = pytest.mark.promise("isolation")

MODELS = [
    Vendor,
    VendorContract,
    User,
    Decision,
    SamplingPlan,
    Sample,
    SampleItem,
    Inspection,
    InspectionVersion,
    Job,
]
ROLES = ["admin", "qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer", "integration"]
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def _side(code: str, inspector: User) -> dict:
    """One vendor's objects in every state a rule tells apart."""
    vendor = VendorFactory(code=code)
    ContractFactory(vendor=vendor)
    plan = SamplingPlanFactory(vendor=vendor)
    samples = {state: SampleFactory(vendor=vendor, state=state) for state in ("open", "closed")}
    items = {state: SampleItemFactory(sample=s) for state, s in samples.items()}
    inspections = {}
    for status, item in zip(("draft", "final"), items.values(), strict=True):
        inspection = InspectionFactory(
            decision=item.decision,
            sample_item=item,
            inspector=inspector,
            status=status,
            finalised_at=NOW if status == "final" else None,
        )
        sources = ("create", "edit", "finalise", "correction")[: 2 if status == "draft" else 4]
        for number, source in enumerate(sources, start=1):
            db.session.add(
                InspectionVersion(inspection=inspection, version=number, source=source, snapshot={})
            )
        inspections[status] = inspection
    DecisionFactory(vendor=vendor)  # never sampled
    lead = UserFactory(role="vendor_lead", vendor=vendor)
    db.session.add(Job(kind="decisions_import", created_by=lead, title=f"{code}.csv"))
    db.session.flush()
    return {
        "vendor": vendor,
        "plan": plan,
        "samples": samples,
        "items": items,
        "inspections": inspections,
        "lead": lead,
    }


@pytest.fixture
def rule_world():
    inspector = UserFactory(role="qa_inspector", name="Iris Inspector")
    own = _side("OWN", inspector)
    other = _side("OTHER", inspector)
    users = {role: UserFactory(role=role) for role in ROLES if not role.startswith("vendor")}
    users["vendor_lead"] = own["lead"]
    users["vendor_viewer"] = UserFactory(role="vendor_viewer", vendor=own["vendor"])
    db.session.add(Job(kind="decisions_import", created_by=users["qa_lead"], title="qa.csv"))
    db.session.add(Job(kind="decisions_import", created_by=inspector, title="mine.csv"))
    db.session.flush()
    return {"own": own, "other": other, "users": users, "inspector": inspector}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_query_filter_and_the_predicate_agree(rule_world, role, model):
    user = rule_world["users"][role]
    every = db.session.scalars(sa.select(model)).all()
    assert every, f"the world has no {model.__name__}"
    by_filter = set(db.session.scalars(visible(sa.select(model.id), user, model)))
    by_predicate = {obj.id for obj in every if can_see(user, obj)}
    assert by_filter == by_predicate


def _ids(user, model) -> set[int]:
    return set(db.session.scalars(visible(sa.select(model.id), user, model)))


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_vendor_users_see_only_what_design_grants(rule_world, role):
    user, own, other = rule_world["users"][role], rule_world["own"], rule_world["other"]
    assert _ids(user, Vendor) == {own["vendor"].id}
    assert _ids(user, Sample) == {own["samples"]["closed"].id}
    assert _ids(user, SampleItem) == {own["items"]["closed"].id}
    assert _ids(user, SamplingPlan) == set()
    assert _ids(user, Inspection) == {own["inspections"]["final"].id}
    final = own["inspections"]["final"]
    assert [h.source for h in visible_history(user, final)] == ["finalise", "correction"]
    assert _ids(user, InspectionVersion) == {h.id for h in visible_history(user, final)}
    assert not can_see(user, other["samples"]["closed"])
    assert not can_see(user, other["inspections"]["final"])
    assert display_person(user, rule_world["inspector"]) == f"QA-{rule_world['inspector'].id}"


@pytest.mark.parametrize("role", ["admin", "qa_lead", "qa_inspector"])
def test_staff_see_every_vendor_and_work_in_progress(rule_world, role):
    user = rule_world["users"][role]
    assert len(_ids(user, Vendor)) == 2
    assert len(_ids(user, Sample)) == 4
    assert len(_ids(user, Inspection)) == 4
    draft = rule_world["own"]["inspections"]["draft"]
    assert [h.source for h in visible_history(user, draft)] == ["create", "edit"]
    assert display_person(user, rule_world["inspector"]) == "Iris Inspector"


def test_jobs_are_seen_by_their_creator_and_by_admins_and_qa_leads(rule_world):
    users = rule_world["users"]
    titles = {
        role: {j.title for j in db.session.scalars(visible(sa.select(Job), users[role]))}
        for role in ("admin", "qa_lead", "qa_inspector", "vendor_lead", "vendor_viewer")
    }
    assert titles["admin"] == titles["qa_lead"] == {"OWN.csv", "OTHER.csv", "qa.csv", "mine.csv"}
    assert titles["qa_inspector"] == set()  # the inspector fixture user is not this one
    assert titles["vendor_lead"] == {"OWN.csv"}
    assert titles["vendor_viewer"] == set()
