"""The tiles of the home page: each role's workspace is the tiles whose predicate
(app/security) lets the user see them, in this order.

A feature adds its tile by appending a `Tile` to `TILES`: a predicate saying who gets
it, a loader returning the template's context (or None when the tile has nothing to
show that user now), and a partial under templates/main/tiles/. E.g. *disputes
awaiting me*: `Tile("disputes", can_review_disputes, load_disputes_awaiting)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app import months
from app.charts.svg import TrendPoint, sparkline
from app.main import queries
from app.models import User
from app.sampling.queries import queue_progress
from app.security.predicates import (
    can_administer,
    can_inspect,
    can_manage_samples,
    can_see_all_vendors,
)

Loader = Callable[[User], "dict | None"]


@dataclass(frozen=True)
class Tile:
    """One tile: `templates/main/tiles/<name>.html`, rendered with what `load` returns."""

    name: str
    shown_to: Callable[[User | None], bool]
    load: Loader
    wide: bool = False  # the full width of the page, not half of it

    @property
    def template(self) -> str:
        return f"main/tiles/{self.name}.html"


@dataclass(frozen=True)
class Shown:
    tile: Tile
    context: dict


# Loaders ------------------------------------------------------------------------------


def _queue(user: User) -> dict | None:
    progress = queue_progress(user)
    # Leads are assigned items now and then: their tile shows only when they are.
    if not progress.samples and can_manage_samples(user):
        return None
    return {"progress": progress}


def _own_findings(user: User) -> dict | None:
    if can_manage_samples(user):
        return None  # a lead's workspace is everyone's work (the tiles below)
    return {"findings": queries.own_findings(user)}


def _at_risk(user: User) -> dict:
    return {"risk": queries.vendors_at_risk(user)}


def _ready_to_close(user: User) -> dict:
    return {"ready": queries.samples_ready_to_close(user)}


def _work_in_progress(user: User) -> dict:
    return {"people": queries.work_in_progress()}


def _vendor_months(user: User) -> dict | None:
    vendor = user.vendor
    if vendor is None:
        return None
    found = queries.vendor_months(vendor)
    first, last = found.closed[0].month, found.closed[-1].month
    chart = sparkline(
        [TrendPoint.from_share(f"{m.month:%b %Y}", m.accuracy) for m in found.closed],
        title=f"{vendor.code}: overall accuracy, {months.name(first)} to {months.name(last)}",
        target=found.last_closed.targets.accuracy_target,
        id="home-accuracy-sparkline",
    )
    return {"vendor": vendor, "months": found, "sparkline": chart}


def _findings_against(user: User) -> dict:
    return {"findings": queries.findings_against(user)}


def _housekeeping(user: User) -> dict:
    return {"house": queries.housekeeping(), "stale_days": queries.STALE_TOKEN_DAYS}


def _audit_chain(user: User) -> dict:
    return {"chain": queries.chain_state()}


def _recent_changes(user: User) -> dict:
    return {"events": queries.recent_events()}


def _sees_one_vendor(user: User | None) -> bool:
    return user is not None and not can_see_all_vendors(user)


TILES: list[Tile] = [
    # Inspectors (and leads with items of their own)
    Tile("queue", can_inspect, _queue, wide=True),
    Tile("own_findings", can_inspect, _own_findings, wide=True),
    # QA leads
    Tile("at_risk", can_manage_samples, _at_risk, wide=True),
    Tile("ready_to_close", can_manage_samples, _ready_to_close),
    Tile("work_in_progress", can_manage_samples, _work_in_progress),
    # Vendor leads and viewers
    Tile("vendor_months", _sees_one_vendor, _vendor_months, wide=True),
    Tile("findings_against", _sees_one_vendor, _findings_against, wide=True),
    # Admins
    Tile("housekeeping", can_administer, _housekeeping, wide=True),
    Tile("audit_chain", can_administer, _audit_chain),
    Tile("recent_changes", can_administer, _recent_changes),
]


def tiles_for(user: User) -> list[Shown]:
    """The tiles `user` sees, in order, each with its context."""
    shown = []
    for tile in TILES:
        if not tile.shown_to(user):
            continue
        context = tile.load(user)
        if context is not None:
            shown.append(Shown(tile, context))
    return shown
