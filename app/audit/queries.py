"""Reading the audit log: the searched list of events, one event with its row changes
and neighbours, the recent history of one object, and a check of the whole chain. The
log is for admins (the routes declare it); nothing here is scoped to a vendor.
Flask-free but for the 404 of an event that is not there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.services import VerifyResult, verify_chain
from app.extensions import db
from app.models import AuditEvent, AuditRowChange
from app.security.public_ids import object_id_of

# Far-off years overflow once a day is shifted between time zones.
FIRST_YEAR, LAST_YEAR = 1900, 2999


@dataclass
class Filters:
    """The search of the event list, as typed (trimmed)."""

    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    date_from: str = ""
    date_to: str = ""

    @classmethod
    def from_args(cls, args) -> Filters:
        """The filters in a query string (each cut to what a column can hold)."""
        return cls(**{key: (args.get(key) or "").strip()[:254] for key in cls.__dataclass_fields__})

    @property
    def active(self) -> bool:
        return any(vars(self).values())


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _parse_date(raw: str, name: str, errors: dict[str, str]) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"“{raw}” is not a date; use YYYY-MM-DD."
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors[name] = f"Choose a date between {FIRST_YEAR} and {LAST_YEAR}."
        return None
    return day


def event_list(filters: Filters, zone: ZoneInfo) -> tuple[sa.Select, dict[str, str]]:
    """The events matching `filters`, newest first, with days read in `zone`; and the
    problems with the dates (a bad date is reported and left out, not fatal)."""
    errors: dict[str, str] = {}
    stmt = sa.select(AuditEvent)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        stored = object_id_of(filters.object_type, filters.object_id)
        stmt = stmt.where(AuditEvent.object_id == stored)
    if filters.actor:
        stmt = stmt.where(
            sa.func.lower(AuditEvent.actor).contains(filters.actor.lower(), autoescape=True)
        )
    start = _parse_date(filters.date_from, "date_from", errors)
    end = _parse_date(filters.date_to, "date_to", errors)
    if start and end and end < start:
        errors["date_to"] = "The end date is before the start date."
    elif "date_from" not in errors and "date_to" not in errors:
        if start:
            stmt = stmt.where(AuditEvent.occurred_at >= _local_midnight_utc(start, zone))
        if end:
            # Inclusive: everything before the next local midnight.
            stmt = stmt.where(
                AuditEvent.occurred_at < _local_midnight_utc(end + timedelta(days=1), zone)
            )
    return stmt.order_by(AuditEvent.seq.desc()), errors


def actions() -> list[str]:
    """Every action the log holds, for the filter menu."""
    return _distinct(AuditEvent.action)


def object_types() -> list[str]:
    """Every object type the log holds, for the filter menu."""
    return _distinct(AuditEvent.object_type)


def _distinct(column) -> list[str]:
    return list(db.session.scalars(sa.select(column).distinct().order_by(column)))


def event_or_404(seq: int) -> AuditEvent:
    """The event at this place in the chain, or 404."""
    return db.first_or_404(sa.select(AuditEvent).where(AuditEvent.seq == seq))


def row_changes(event: AuditEvent) -> sa.Select:
    """The bulk row changes of `event`, in their order (to be paged)."""
    return (
        sa.select(AuditRowChange)
        .where(AuditRowChange.event_id == event.id)
        .order_by(AuditRowChange.position)
    )


def neighbours(seq: int) -> tuple[int | None, int | None]:
    """The places before and after `seq` in the chain, each None when there is none."""
    found = set(
        db.session.scalars(sa.select(AuditEvent.seq).where(AuditEvent.seq.in_([seq - 1, seq + 1])))
    )
    return (seq - 1 if seq - 1 in found else None, seq + 1 if seq + 1 in found else None)


def object_history(object_type: str, object_id, limit: int = 20) -> list[AuditEvent]:
    """The latest events about one object, newest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    )


def verify_alongside() -> VerifyResult:
    """Verify the whole chain (app/audit/services.py) without disturbing the current
    session: `verify_chain` clears its session as it walks a long chain, so it gets one
    of its own on the same connection, and the signed-in user's objects stay attached."""
    with Session(bind=db.session.connection()) as session:
        return verify_chain(session)
