"""Two people saving the same inspection at once, on real concurrent PostgreSQL
connections: exactly one wins, the other is told, and nothing is overwritten
(DESIGN §9 "Integrity")."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.errors import Conflict
from app.extensions import db
from app.inspections import services
from app.models import (
    Decision,
    Inspection,
    Sample,
    User,
    Vendor,
)
from tests.builders import inspections
from tests.builders.committing import audit_chain_restored, wait_for_lock_waiter

pytestmark = pytest.mark.promise("integrity")


@pytest.mark.postgres_only
@pytest.mark.committing
def test_two_saves_of_one_version_at_once_one_wins_and_the_other_is_told(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL row locks and real concurrent connections")
    with audit_chain_restored() as cleanup:
        _race(app, cleanup)


def _race(app, cleanup: list) -> None:
    tag = uuid.uuid4().hex[:8]
    vendor = Vendor(code=f"RACE{tag[:6].upper()}", name="Race Moderation")
    inspector = User(email=f"race-i-{tag}@example.test", name="Race Inspector", role="qa_lead")
    other = User(email=f"race-o-{tag}@example.test", name="Race Other", role="qa_lead")
    db.session.add_all([vendor, inspector, other])
    db.session.flush()
    cleanup += [
        sa.delete(Inspection.__table__).where(Inspection.vendor_id == vendor.id),
        sa.delete(Sample.__table__).where(Sample.vendor_id == vendor.id),
        sa.delete(Decision.__table__).where(Decision.vendor_id == vendor.id),
        sa.delete(Vendor.__table__).where(Vendor.id == vendor.id),
        sa.delete(User.__table__).where(User.id.in_([inspector.id, other.id])),
    ]
    decision = Decision(
        external_id=f"RACE-{tag}",
        vendor_id=vendor.id,
        moderator_id="MOD-1",
        site="Manila",
        market="US",
        policy_area="listing",
        item_id="IT-1",
        decision="approve",
        decided_at=datetime(2026, 3, 3, tzinfo=UTC),
    )
    db.session.add(decision)
    db.session.flush()
    inspections.sample_of(vendor, [decision])
    created = services.create_inspection(decision, {"notes": "first look"}, actor=inspector)
    db.session.commit()
    inspection_id, other_id = created.id, other.id
    outcome: dict[str, str] = {}

    def second_save():
        with app.app_context():
            try:
                row = db.session.get(Inspection, inspection_id)
                actor = db.session.get(User, other_id)
                services.update_inspection(row, {"notes": "second"}, actor=actor, version=1)
                db.session.commit()
                outcome["second"] = "won"
            except Conflict as err:
                db.session.rollback()
                outcome["second"] = err.message
            finally:
                db.session.remove()

    row = db.session.get(Inspection, inspection_id)
    services.update_inspection(row, {"notes": "first"}, actor=inspector, version=1)
    thread = threading.Thread(target=second_save)
    thread.start()
    assert wait_for_lock_waiter()  # the second save waits for the first one's row lock
    db.session.commit()
    thread.join(10)
    assert "changed by someone else" in outcome["second"]
    db.session.expire_all()
    saved = db.session.get(Inspection, inspection_id)
    assert saved.notes == "first"
    assert saved.version == 2
    assert [h.source for h in saved.history] == ["create", "edit"]
