"""Template filters and globals: times in the viewer's zone, navigation by role."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    icon: str
    active: bool = False


@dataclass(frozen=True)
class Navigation:
    """The sections the signed-in user may open: the daily work in the bar, the set-up
    and housekeeping pages under *Manage* (so the bar fits one line on a laptop)."""

    main: list[NavItem]
    manage: list[NavItem]

    @property
    def manage_active(self) -> bool:
        return any(item.active for item in self.manage)


def navigation(section: str | None = None) -> Navigation:
    """The navigation with exactly one item marked active: `section` (an item's endpoint,
    set by a page that belongs elsewhere than its blueprint, e.g. the inspect page of a
    queue item), else the item of this very endpoint, else its blueprint's main item."""
    if not current_user.is_authenticated:
        return Navigation([], [])
    user = current_user
    main = [
        ("main.home", "Home", "house"),
        ("sampling.queue", "My queue", "inbox") if can_inspect(user) else None,
        ("dashboards.index", "Dashboard", "graph-up"),
        ("vendors.index", "Vendors" if can_see_all_vendors(user) else "My vendor", "building"),
        ("decisions.index", "Decisions", "list-check"),
        ("sampling.index", "Samples", "shuffle"),
        ("inspections.index", "Inspections", "clipboard-check"),
    ]
    manage = [
        ("scorecards.index", "Scorecards", "ui-checks"),
        ("labels.index", "Labels", "tags"),
        ("users.index", "Users", "people"),
        ("tokens.index", "API tokens", "key"),
        ("audit.index", "Audit log", "journal-check"),
    ]
    main = [item for item in main if item and can_open(user, item[0])]
    manage = [item for item in manage if can_open(user, item[0])]
    active = section or _section_of(request.endpoint, [item[0] for item in main + manage])

    def items(entries):
        return [NavItem(*entry, active=entry[0] == active) for entry in entries]

    return Navigation(items(main), items(manage))


def _section_of(endpoint: str | None, sections: list[str]) -> str | None:
    if not endpoint or endpoint in sections:
        return endpoint
    blueprint = endpoint.split(".")[0]
    return next((s for s in sections if s == f"{blueprint}.index"), None)


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
    app.jinja_env.filters["month_name"] = months.name
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["ref"] = ref
    app.jinja_env.globals.update(
        navigation=navigation,
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
