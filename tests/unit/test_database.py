"""Column types. (Round trips through the database: tests/functional/test_database.py.)"""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from app.database import UTCDateTime


def test_other_offsets_are_converted_to_utc():
    column = UTCDateTime()
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    stored = column.process_bind_param(moment, postgresql.dialect())
    assert stored == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), sqlite.dialect())
