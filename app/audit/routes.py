"""/audit: the audit log (admin only): search events, read one, verify the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from app.audit.services import verify_chain
from app.extensions import db
from app.models import AuditEvent, AuditRowChange
from app.security.access import blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN
from app.validation import zone_or_utc
from app.web import paginate

bp = Blueprint("audit", __name__, url_prefix="/audit")
blueprint_policy(bp, signed_in(ROLE_ADMIN))

_ABSENT = object()


def _viewer_zone() -> ZoneInfo:
    return zone_or_utc(current_user.time_zone)


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
    if not 1900 <= day.year <= 2999:  # far-off years overflow once shifted between zones
        errors[name] = "Choose a date between 1900 and 2999."
        return None
    return day


@dataclass
class Filters:
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    date_from: str = ""
    date_to: str = ""

    @property
    def active(self) -> bool:
        return any(vars(self).values())


def _filtered_events(args) -> tuple[sa.Select, Filters, dict[str, str]]:
    """Build the event query from the query string; bad dates are reported, not fatal."""
    # NUL characters are already gone: PortalRequest drops them from every query argument.
    filters = Filters(
        **{key: (args.get(key) or "").strip()[:254] for key in Filters.__dataclass_fields__}
    )
    errors: dict[str, str] = {}
    stmt = sa.select(AuditEvent)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.actor:
        stmt = stmt.where(
            sa.func.lower(AuditEvent.actor).contains(filters.actor.lower(), autoescape=True)
        )
    zone = _viewer_zone()
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
    return stmt, filters, errors


def _distinct(column) -> list[str]:
    return list(db.session.scalars(sa.select(column).distinct().order_by(column)))


@bp.get("/")
def index():
    stmt, filters, errors = _filtered_events(request.args)
    page = paginate(stmt.order_by(AuditEvent.seq.desc()))
    body = render_template(
        "audit/index.html",
        page=page,
        filters=filters,
        errors=errors,
        actions=_distinct(AuditEvent.action),
        object_types=_distinct(AuditEvent.object_type),
        zone_name=_viewer_zone().key,
    )
    return body, 400 if errors else 200


# --- event detail -------------------------------------------------------------------


@dataclass
class FieldChange:
    key: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return self.before != self.after


def show_value(value: Any) -> str:
    """A stored JSON value as text a person can read."""
    if value is _ABSENT:
        return "(not set)"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)
    return json.dumps(value)


def diff(before: Any, after: Any) -> list[FieldChange]:
    """Key-by-key comparison of two audit states (dicts); other values as one row."""
    if before is None and after is None:
        return []
    if isinstance(before, dict | None) and isinstance(after, dict | None):
        before_map, after_map = before or {}, after or {}
        keys = list(before_map)
        keys += [key for key in after_map if key not in before_map]
        return [
            FieldChange(
                str(key),
                before_map.get(key, _ABSENT) if before is not None else _ABSENT,
                after_map.get(key, _ABSENT) if after is not None else _ABSENT,
            )
            for key in sorted(keys, key=str)
        ]
    return [FieldChange("value", before, after)]


@bp.get("/<int:seq>")
def detail(seq: int):
    event = db.first_or_404(sa.select(AuditEvent).where(AuditEvent.seq == seq))
    rows = None
    if event.row_count:
        rows = paginate(
            sa.select(AuditRowChange)
            .where(AuditRowChange.event_id == event.id)
            .order_by(AuditRowChange.position)
        )
    neighbours = set(
        db.session.scalars(sa.select(AuditEvent.seq).where(AuditEvent.seq.in_([seq - 1, seq + 1])))
    )
    return render_template(
        "audit/detail.html",
        event=event,
        changes=diff(event.before, event.after),
        rows=rows,
        diff=diff,
        show_value=show_value,
        prev_seq=seq - 1 if seq - 1 in neighbours else None,
        next_seq=seq + 1 if seq + 1 in neighbours else None,
    )


@bp.post("/verify")
def verify():
    # verify_chain clears its session as it walks a long chain; a session of its own on
    # the request's connection keeps the signed-in user's objects attached.
    with Session(bind=db.session.connection()) as session:
        result = verify_chain(session)
    if result.ok:
        flash(f"The audit chain is intact: {result.checked} events verified.", "success")
    else:
        current_app.logger.error("audit chain verification failed: %s", result.problem)
        flash(
            f"The audit chain is broken at event #{result.bad_seq}: {result.problem}. "
            f"{result.checked} events before it verified.",
            "danger",
        )
    return redirect(url_for("audit.index"))
