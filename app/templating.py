"""Template filters and globals: times in the viewer's zone, navigation by role."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, request, url_for
from flask_login import current_user

from app.models.enums import POLICY_AREA_NAMES, ROLE_NAMES
from app.security.roles import QA_ROLES, ROLE_ADMIN, VENDOR_ROLES
from app.validation import zone_or_utc


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an aware UTC time in the signed-in user's time zone."""
    if value is None:
        return "—"
    local = value.astimezone(zone_or_utc(getattr(current_user, "time_zone", None)))
    return f"{local.strftime(fmt)} {local.tzname()}"


def month_label(value: date | None) -> str:
    return value.strftime("%Y-%m") if value else "—"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def nav_items() -> list[tuple[str, str, str]]:
    """(endpoint, label, icon) of the sections the signed-in user may open."""
    if not current_user.is_authenticated:
        return []
    role = current_user.role
    items = [("main.home", "Home", "house")]
    if role in VENDOR_ROLES:
        items.append(("vendors.index", "My vendor", "building"))
    else:
        items.append(("vendors.index", "Vendors", "building"))
    items.append(("dashboards.index", "Dashboard", "graph-up"))
    items.append(("decisions.index", "Decisions", "list-check"))
    items.append(("sampling.index", "Samples", "shuffle"))
    items.append(("inspections.index", "Inspections", "clipboard-check"))
    items.append(("scorecards.index", "Scorecards", "ui-checks"))
    if role in QA_ROLES:
        items.append(("sampling.queue", "My queue", "inbox"))
    items.append(("labels.index", "Labels", "tags"))
    if role == ROLE_ADMIN:
        items += [
            ("users.index", "Users", "people"),
            ("tokens.index", "API tokens", "key"),
            ("audit.index", "Audit log", "journal-check"),
        ]
    return items


def url_with(**changes) -> str:
    """The current URL with some query arguments replaced (for pagination and sorting)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["month"] = month_label
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.globals.update(
        nav_items=nav_items,
        url_with=url_with,
        ROLE_NAMES=ROLE_NAMES,
        POLICY_AREA_NAMES=POLICY_AREA_NAMES,
        QA_ROLES=QA_ROLES,
        VENDOR_ROLES=VENDOR_ROLES,
    )
