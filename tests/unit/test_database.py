"""Column types and the test harness itself."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.database import UTCDateTime
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


def test_other_offsets_are_converted_to_utc():
    column = UTCDateTime()
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    stored = column.process_bind_param(moment, postgresql.dialect())
    assert stored == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), sqlite.dialect())


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_starts_from_an_empty_database(app, attempt):
    # Run twice: if the first run's vendor survived, the second would see it.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vendor)) == 0
    VendorFactory(code="LEAKCHECK")
    db.session.commit()
