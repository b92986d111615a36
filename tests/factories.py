"""factory_boy factories for the models tests need."""

from __future__ import annotations

from datetime import UTC, date, datetime

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.extensions import db
from app.models import (
    Decision,
    DecisionLabel,
    Inspection,
    Label,
    Sample,
    SampleItem,
    SamplingPlan,
    User,
    Vendor,
    VendorContract,
)
from app.security.passwords import hash_password

TEST_PASSWORD = "correct horse battery staple"  # every factory-made user's password

_HASHES: dict[str, str] = {}


def _password_hash(password: str) -> str:
    if password not in _HASHES:
        _HASHES[password] = hash_password(password)
    return _HASHES[password]


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class VendorFactory(BaseFactory):
    class Meta:
        model = Vendor

    code = factory.Sequence(lambda n: f"VEN{n:03d}")
    name = factory.LazyAttribute(lambda o: f"{o.code.title()} Services")
    sites = factory.LazyFunction(lambda: ["Manila", "Cebu"])
    markets = factory.LazyFunction(lambda: ["US", "PH"])
    time_zone = "Asia/Manila"
    holiday_country = "PH"
    active = True


class ContractFactory(BaseFactory):
    class Meta:
        model = VendorContract

    vendor = factory.SubFactory(VendorFactory)
    effective_month = date(2026, 1, 1)
    accuracy_target = 0.95
    critical_error_cap = 0.02
    dispute_window_days = 5
    penalty_tiers = factory.LazyFunction(
        lambda: [{"metric": "overall_accuracy", "from": 0.0, "to": 0.9, "pct": -5.0}]
    )
    time_zone = "Asia/Manila"
    holiday_country = "PH"


class LabelFactory(BaseFactory):
    class Meta:
        model = Label

    code = factory.Sequence(lambda n: f"LBL-{n:04d}")
    name = factory.Sequence(lambda n: f"Label {n}")
    policy_area = "listing"
    typical_severity = "major"
    active = True


class UserFactory(BaseFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"User {n}")
    role = "qa_inspector"
    vendor = None
    time_zone = "UTC"
    active = True
    password_hash = factory.LazyAttribute(
        lambda o: None if o.role == "integration" else _password_hash(TEST_PASSWORD)
    )


class DecisionFactory(BaseFactory):
    """A moderation decision; `labels=[label, ...]` attaches labels, the primary first."""

    class Meta:
        model = Decision

    external_id = factory.Sequence(lambda n: f"DEC-{n:07d}")
    vendor = factory.SubFactory(VendorFactory)
    moderator_id = "MOD-001"
    site = "Manila"
    market = "US"
    policy_area = "listing"
    item_id = factory.Sequence(lambda n: f"ITEM-{n:07d}")
    item_url = None
    context = None
    decision = "approve"
    decided_at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    @factory.post_generation
    def labels(obj, create, extracted, **kwargs):
        for position, label in enumerate(extracted or []):
            obj.decision_labels.append(DecisionLabel(position=position, label=label))
        if create and extracted:
            db.session.flush()


# Samples and inspections as stored rows. A draw is made by app.sampling.services and an
# inspection as QA makes it by tests.builders.inspections.inspect; these are for tests
# that only need such rows to exist (vendor users see closed samples, a sampled decision
# keeps what QA judged, ...).


class SamplingPlanFactory(BaseFactory):
    class Meta:
        model = SamplingPlan

    name = factory.Sequence(lambda n: f"Plan {n}")
    vendor = factory.SubFactory(VendorFactory)
    size = 10


class SampleFactory(BaseFactory):
    """A sample's row (no items: add them with SampleItemFactory)."""

    class Meta:
        model = Sample

    vendor = factory.SubFactory(VendorFactory)
    purpose = "contract"
    state = "open"
    period_start = date(2026, 3, 1)
    period_end = date(2026, 3, 31)
    strata = factory.LazyFunction(lambda: ["policy_area", "decision"])
    requested_size = None
    seed = "test"
    method_version = "hmac-sha256-v1"
    population = 1


class SampleItemFactory(BaseFactory):
    """An item of a sample; its stratum is its decision's policy area and decision."""

    class Meta:
        model = SampleItem

    sample = factory.SubFactory(SampleFactory)
    decision = factory.SubFactory(DecisionFactory, vendor=factory.SelfAttribute("..sample.vendor"))
    stratum = factory.LazyAttribute(lambda o: f"{o.decision.policy_area}|{o.decision.decision}")
    rank = 1


class InspectionFactory(BaseFactory):
    """An inspection's row (a draft unless told otherwise), in the month of its decision."""

    class Meta:
        model = Inspection

    decision = factory.SubFactory(DecisionFactory)
    vendor_id = factory.LazyAttribute(lambda o: o.decision.vendor_id)
    inspector = factory.SubFactory(UserFactory, role="qa_inspector")
    month = factory.LazyAttribute(lambda o: o.decision.decided_at.date().replace(day=1))


# Scorecards: built through the services, so a template is exactly what a QA lead's
# clicks would make (version numbers, positions, states).

SCORECARD_SECTIONS = [
    {
        "title": "Decision",
        "questions": [
            {"key": "policy_applied", "text": "Policy applied as written", "weight": 3},
            {
                "key": "primary_label_specific",
                "text": "Primary label is the most specific that fits",
                "guidance": "N/A for approvals.",
                "weight": 2,
            },
        ],
    },
    {
        "title": "Evidence",
        "questions": [
            {
                "key": "escalation_followed",
                "text": "Escalation path followed for high-risk items",
                "weight": 2,
                "critical": True,
                "allow_na": False,
            },
        ],
    },
]


def make_scorecard(
    policy_area: str = "listing",
    *,
    name: str | None = None,
    sections: list[dict] | None = None,
    published: bool = True,
    draft: bool = False,
    actor=None,
):
    """A scorecard template; with `published`, version 1 published with `sections`
    (default SCORECARD_SECTIONS); with `draft`, a further draft copied from it.
    Returns (template, published version or None, draft version or None)."""
    from app.scorecards import services

    template = services.create_template(
        name=name or f"{policy_area.title()} QA rubric",
        policy_area=policy_area,
        description=f"How {policy_area} decisions are scored.",
        actor=actor,
    )
    first = template.versions[0]
    services.save_draft(first, sections or SCORECARD_SECTIONS, actor=actor)
    if not published:
        return template, None, first
    services.publish(first, actor=actor)
    second = services.new_draft(template, actor=actor) if draft else None
    return template, first, second
