"""Template filters and globals: times in the viewer's zone, navigation by role."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, request, url_for
from flask_login import current_user

from app import months
from app.models.enums import POLICY_AREA_NAMES, ROLE_NAMES
from app.security.access import can_open
from app.security.predicates import TEMPLATE_PREDICATES, can_inspect, can_see_all_vendors
from app.security.public_ids import object_ref, ref
from app.security.scoping import display_person, shown_created_at, shown_version
from app.validation import zone_or_utc


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an aware UTC time in the signed-in user's time zone."""
    if value is None:
        return "—"
    local = value.astimezone(zone_or_utc(getattr(current_user, "time_zone", None)))
    return f"{local.strftime(fmt)} {local.tzname()}"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def nav_items() -> list[tuple[str, str, str]]:
    """(endpoint, label, icon) of the sections the signed-in user may open."""
    if not current_user.is_authenticated:
        return []
    user = current_user
    vendors = "Vendors" if can_see_all_vendors(user) else "My vendor"
    items = [
        ("main.home", "Home", "house"),
        ("vendors.index", vendors, "building"),
        ("dashboards.index", "Dashboard", "graph-up"),
        ("decisions.index", "Decisions", "list-check"),
        ("sampling.index", "Samples", "shuffle"),
        ("inspections.index", "Inspections", "clipboard-check"),
        ("scorecards.index", "Scorecards", "ui-checks"),
    ]
    if can_inspect(user):
        items.append(("sampling.queue", "My queue", "inbox"))
    items += [
        ("labels.index", "Labels", "tags"),
        ("users.index", "Users", "people"),
        ("tokens.index", "API tokens", "key"),
        ("audit.index", "Audit log", "journal-check"),
    ]
    return [item for item in items if can_open(user, item[0])]


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
    app.jinja_env.filters["month"] = months.label
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["ref"] = ref
    app.jinja_env.globals.update(
        nav_items=nav_items,
        url_with=url_with,
        ROLE_NAMES=ROLE_NAMES,
        POLICY_AREA_NAMES=POLICY_AREA_NAMES,
        person=person,
        shown_version=lambda inspection, version=None: shown_version(
            current_user, inspection, version
        ),
        shown_created_at=lambda inspection: shown_created_at(current_user, inspection),
        can_open=can_open,
        object_ref=object_ref,
        **TEMPLATE_PREDICATES,
    )


def person(user, *, email: bool = False) -> str:
    """A QA person as the signed-in user may see them (a pseudonym for vendor users)."""
    return display_person(current_user, user, email=email)
