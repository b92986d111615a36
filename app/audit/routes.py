"""/audit: the audit log (admin only): search events, read one, verify the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.audit import queries
from app.security.access import blueprint_policy, signed_in
from app.security.roles import ROLE_ADMIN
from app.validation import zone_or_utc
from app.web import paginate

bp = Blueprint("audit", __name__, url_prefix="/audit")
blueprint_policy(bp, signed_in(ROLE_ADMIN))

_ABSENT = object()


def _viewer_zone() -> ZoneInfo:
    return zone_or_utc(current_user.time_zone)


@bp.get("/")
def index():
    """The event list, searched by action, object, actor and days (in the viewer's zone)."""
    # NUL characters are already gone: PortalRequest drops them from every query argument.
    filters = queries.Filters.from_args(request.args)
    zone = _viewer_zone()
    stmt, errors = queries.event_list(filters, zone)
    body = render_template(
        "audit/index.html",
        page=paginate(stmt),
        filters=filters,
        errors=errors,
        actions=queries.actions(),
        object_types=queries.object_types(),
        zone_name=zone.key,
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


@bp.get("/<id:seq>")
def detail(seq: int):
    """One event: what changed, its bulk row changes (paged) and its neighbours."""
    event = queries.event_or_404(seq)
    rows = paginate(queries.row_changes(event)) if event.row_count else None
    prev_seq, next_seq = queries.neighbours(seq)
    return render_template(
        "audit/detail.html",
        event=event,
        changes=diff(event.before, event.after),
        rows=rows,
        diff=diff,
        show_value=show_value,
        prev_seq=prev_seq,
        next_seq=next_seq,
    )


@bp.post("/verify")
def verify():
    """Check the whole chain and say whether it is intact."""
    result = queries.verify_alongside()
    if result.ok:
        flash(
            f"The audit chain is intact: {result.checked} events verified. Its head is "
            f"{result.head}; kept outside the portal, it lets the command "
            f"flask audit verify --anchor {result.head} prove later that the chain still "
            "holds it.",
            "success",
        )
    else:
        current_app.logger.error("audit chain verification failed: %s", result.problem)
        flash(
            f"The audit chain is broken at event #{result.bad_seq}: {result.problem}. "
            f"{result.checked} events before it verified.",
            "danger",
        )
    return redirect(url_for("audit.index"))
