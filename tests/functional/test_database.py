"""The database as tests see it: times come back aware, and each test starts from an
empty database (the per-test transaction is rolled back)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Vendor
from tests.factories import VendorFactory


def test_times_come_back_aware_in_utc(app):
    vendor = VendorFactory()
    db.session.commit()
    db.session.expire_all()
    created = db.session.get(Vendor, vendor.id).created_at
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_starts_from_an_empty_database(app, attempt):
    # Run twice: if the first run's vendor survived, the second would see it.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vendor)) == 0
    VendorFactory(code="LEAKCHECK")
    db.session.commit()
