"""Reading samples, their items, plans and queues: the one read path of the sampling
pages and the samples API. Who may see what is `app.security.scoping.visible` (vendor
users: their own vendor's closed samples, never plans); every function that lists
what a user may see takes that user explicitly. Flask-free."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload

from app import months
from app.extensions import db
from app.models import Decision, Inspection, Sample, SampleItem, SamplingPlan, User, Vendor
from app.models.enums import SAMPLE_ITEM_STATES
from app.security.scoping import inspectors, visible
from app.validation import normalise_code, plain_text
from app.web import parse_id

PLAN_STATUSES = ("active", "inactive", "all")

# Samples ------------------------------------------------------------------------------


def samples(
    user: User,
    *,
    vendor: Vendor | None = None,
    state: str | None = None,
    purpose: str | None = None,
) -> sa.Select:
    """The samples `user` may see, of `vendor`, in `state` and for `purpose` when given
    (unordered: the API pages by id, the pages newest first)."""
    stmt = visible(sa.select(Sample), user)
    if vendor is not None:
        stmt = stmt.where(Sample.vendor_id == vendor.id)
    if state:
        stmt = stmt.where(Sample.state == state)
    if purpose:
        stmt = stmt.where(Sample.purpose == purpose)
    return stmt


def newest_samples(user: User, **filters) -> sa.Select:
    """`samples` newest first, with their vendors (for the samples page)."""
    return (
        samples(user, **filters)
        .options(joinedload(Sample.vendor))
        .order_by(Sample.created_at.desc(), Sample.id.desc())
    )


def visible_sample(sample_id: int, user: User) -> Sample | None:
    """The sample, if it exists and `user` may see it."""
    return db.session.scalar(visible(sa.select(Sample).where(Sample.id == sample_id), user))


def drawn_external_ids(sample: Sample) -> list[str]:
    """The external ids of the sample's decisions in draw order, then replacements."""
    return list(
        db.session.scalars(
            sa.select(Decision.external_id)
            .join(SampleItem, SampleItem.decision_id == Decision.id)
            .where(SampleItem.sample_id == sample.id)
            .order_by(SampleItem.id)
        )
    )


def assignees(sample_ids: list[int]) -> dict[int, list[User]]:
    """Each sample's assignees in the order they first appear among its items."""
    first = sa.func.min(SampleItem.id).label("first_item")
    rows = db.session.execute(
        sa.select(SampleItem.sample_id, SampleItem.assignee_id, first)
        .where(SampleItem.sample_id.in_(sample_ids), SampleItem.assignee_id.is_not(None))
        .group_by(SampleItem.sample_id, SampleItem.assignee_id)
        .order_by(SampleItem.sample_id, first)
    ).all()
    people = {u.id: u for u in users_by_ids({row.assignee_id for row in rows})}
    found: dict[int, list[User]] = {i: [] for i in sample_ids}
    for sample_id, assignee_id, _ in rows:
        found[sample_id].append(people[assignee_id])
    return found


# Items --------------------------------------------------------------------------------


def item_counts_by_sample(sample_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Each sample's items by status (every status present, 0 when none)."""
    ids = list(sample_ids)
    counts = {i: dict.fromkeys(SAMPLE_ITEM_STATES, 0) for i in ids}
    if ids:
        rows = db.session.execute(
            sa.select(SampleItem.sample_id, SampleItem.status, sa.func.count())
            .where(SampleItem.sample_id.in_(ids))
            .group_by(SampleItem.sample_id, SampleItem.status)
        )
        for sample_id, status, n in rows:
            counts[sample_id][status] = n
    return counts


def item_counts(sample: Sample) -> dict[str, int]:
    """The sample's items by status."""
    return item_counts_by_sample([sample.id])[sample.id]


def items(sample: Sample, *, status: str | None = None, stratum: str | None = None) -> sa.Select:
    """The sample's items in draw order (replacements last), with their decisions and
    assignees, of `status` and `stratum` when given."""
    stmt = (
        sa.select(SampleItem)
        .where(SampleItem.sample_id == sample.id)
        .options(
            joinedload(SampleItem.decision),
            joinedload(SampleItem.assignee),
            joinedload(SampleItem.replacement_for).joinedload(SampleItem.decision),
        )
        .order_by(SampleItem.id)
    )
    if status:
        stmt = stmt.where(SampleItem.status == status)
    if stratum:
        stmt = stmt.where(SampleItem.stratum == stratum)
    return stmt


def pending_items(sample: Sample) -> list[SampleItem]:
    """The sample's pending items in draw order."""
    return list(
        db.session.scalars(
            sa.select(SampleItem)
            .where(SampleItem.sample_id == sample.id, SampleItem.status == "pending")
            .order_by(SampleItem.id)
        )
    )


def items_with_drafts(item_ids: list[int]) -> set[int]:
    """Which of these items have a draft inspection already."""
    if not item_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(Inspection.sample_item_id).where(
                Inspection.sample_item_id.in_(item_ids), Inspection.status == "draft"
            )
        )
    )


# Queues -------------------------------------------------------------------------------


def open_work() -> sa.Select:
    """Items still to inspect: pending items of open samples."""
    return (
        sa.select(SampleItem)
        .join(Sample, Sample.id == SampleItem.sample_id)
        .where(SampleItem.status == "pending", Sample.state == "open")
    )


def queue_statement(user: User) -> sa.Select:
    """The user's pending items of open samples, oldest sample first."""
    return (
        open_work()
        .where(SampleItem.assignee_id == user.id)
        .options(joinedload(SampleItem.decision), joinedload(SampleItem.sample))
        .order_by(Sample.created_at, Sample.id, SampleItem.id)
    )


# People -------------------------------------------------------------------------------


def assignable_inspectors() -> list[User]:
    """Who can be assigned items: active inspectors and leads, by name."""
    return list(
        db.session.scalars(
            inspectors(sa.select(User)).order_by(sa.func.lower(User.name), User.email)
        )
    )


def user_by_id(user_id: int | None) -> User | None:
    """A user by id (an assignee, a sample's creator, a queue's owner)."""
    return db.session.get(User, user_id) if user_id else None


def users_by_ids(ids: Iterable[int | str]) -> list[User]:
    """The users with these ids, in the order given (ids that name nobody are left
    out; text that is not an id, or a number no id column holds, too)."""
    wanted = [i for i in map(parse_id, ids) if i is not None]
    if not wanted:
        return []
    found = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(wanted)))}
    return [found[i] for i in wanted if i in found]


# Vendors and plans --------------------------------------------------------------------


def vendor_by_code(code: str | None, user: User) -> Vendor | None:
    """The vendor with `code` that `user` may see (to draw for, or to filter by)."""
    if not code or not plain_text(code):
        return None
    return db.session.scalar(
        visible(sa.select(Vendor).where(Vendor.code == normalise_code(code)), user)
    )


def plans(user: User, status: str = "active") -> sa.Select:
    """The plans `user` may see (`active`, `inactive` or `all`), by name."""
    stmt = visible(sa.select(SamplingPlan), user).options(joinedload(SamplingPlan.vendor))
    if status == "active":
        stmt = stmt.where(SamplingPlan.active)
    elif status == "inactive":
        stmt = stmt.where(sa.not_(SamplingPlan.active))
    return stmt.order_by(sa.func.lower(SamplingPlan.name), SamplingPlan.id)


def active_plan(plan_id: int | None, user: User) -> SamplingPlan | None:
    """The plan to draw from, if it exists, is active and `user` may see it."""
    if plan_id is None:
        return None
    return db.session.scalar(
        visible(sa.select(SamplingPlan).where(SamplingPlan.id == plan_id), user).where(
            SamplingPlan.active
        )
    )


def plan_samples(plan: SamplingPlan, user: User) -> sa.Select:
    """The samples drawn from `plan` that `user` may see, newest first."""
    return visible(sa.select(Sample).where(Sample.plan_id == plan.id), user).order_by(
        Sample.created_at.desc(), Sample.id.desc()
    )


# Progress through a queue -------------------------------------------------------------


def period_text(start: date, end: date) -> str:
    """A sample's period in words: "November 2026" for a whole calendar month, else
    "2026-11-03 to 2026-11-09"."""
    if start.day == 1 and end == months.last_day(start):
        return f"{months.name(start)}"
    return f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"


@dataclass(frozen=True)
class QueueSample:
    """One open sample's share of an inspector's queue: the items assigned to them (not
    skipped), how many are inspected, pending and drafted, and where to go on."""

    sample_id: int
    vendor_code: str
    purpose: str
    period_start: date
    period_end: date
    assigned: int
    done: int
    pending: int
    drafts: int
    first_draft_item: int | None
    first_pending_item: int | None

    @property
    def period(self) -> str:
        return period_text(self.period_start, self.period_end)

    @property
    def started(self) -> bool:
        """Partly worked: something inspected or drafted already (*Continue*, not *Start*)."""
        return bool(self.done or self.drafts)

    @property
    def next_item(self) -> int | None:
        """The item to open: a draft first (work left half done), else the first pending."""
        return self.first_draft_item or self.first_pending_item


@dataclass(frozen=True)
class QueueProgress:
    """An inspector's queue over every open sample, sample by sample (oldest first)."""

    samples: list[QueueSample]

    @property
    def assigned(self) -> int:
        return sum(s.assigned for s in self.samples)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.samples)

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.samples)

    @property
    def drafts(self) -> int:
        return sum(s.drafts for s in self.samples)

    @property
    def waiting(self) -> list[QueueSample]:
        """The samples with items still to inspect."""
        return [s for s in self.samples if s.pending]

    @property
    def next_sample(self) -> QueueSample | None:
        """Where *Start* / *Continue* on the whole queue leads: the oldest sample with work
        left (queue order)."""
        return next(iter(self.waiting), None)


def count_if(condition) -> sa.ColumnElement[int]:
    """How many rows of the group meet `condition` (0 for none)."""
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def per_open_sample(*counts) -> sa.Select:
    """Sample items of open samples counted per sample, oldest sample first: each row is
    the sample id, vendor code, purpose, period start and end, then `counts`."""
    heading = (
        SampleItem.sample_id,
        Vendor.code,
        Sample.purpose,
        Sample.period_start,
        Sample.period_end,
    )
    return (
        sa.select(*heading, *counts)
        .join(Sample, Sample.id == SampleItem.sample_id)
        .join(Vendor, Vendor.id == Sample.vendor_id)
        .where(Sample.state == "open")
        .group_by(*heading, Sample.created_at)
        .order_by(Sample.created_at, SampleItem.sample_id)
    )


def queue_progress(user: User) -> QueueProgress:
    """`user`'s share of every open sample, counted by SQL: one row per sample."""
    draft = aliased(Inspection)
    has_draft = draft.id.is_not(None)
    stmt = (
        per_open_sample(
            sa.func.count(SampleItem.id),
            count_if(SampleItem.status == "inspected"),
            count_if(SampleItem.status == "pending"),
            sa.func.count(draft.id),
            sa.func.min(sa.case((has_draft, SampleItem.id))),
            sa.func.min(sa.case((SampleItem.status == "pending", SampleItem.id))),
        )
        .outerjoin(
            draft,
            sa.and_(
                draft.sample_item_id == SampleItem.id,
                draft.status == "draft",
                SampleItem.status == "pending",
            ),
        )
        .where(SampleItem.assignee_id == user.id, SampleItem.status != "skipped")
    )
    return QueueProgress([QueueSample(*row) for row in db.session.execute(stmt)])


@dataclass(frozen=True)
class ItemProgress:
    """Where an item stands in its assignee's share of its sample: item `position` of
    `total`, `done` of them inspected; `left` items pending in that person's queue."""

    position: int
    total: int
    done: int
    left: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def item_progress(item: SampleItem) -> ItemProgress:
    """Progress through the items of `item`'s sample that share its assignee (every item
    of the sample when it has none), in queue order; skipped items do not count."""
    conditions = [SampleItem.sample_id == item.sample_id, SampleItem.status != "skipped"]
    if item.assignee_id is not None:
        conditions.append(SampleItem.assignee_id == item.assignee_id)
    total, position, done = db.session.execute(
        sa.select(
            sa.func.count(SampleItem.id),
            count_if(SampleItem.id <= item.id),
            count_if(SampleItem.status == "inspected"),
        ).where(*conditions)
    ).one()
    left = 0
    if item.assignee_id is not None:
        left = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SampleItem)
            .join(Sample, Sample.id == SampleItem.sample_id)
            .where(
                SampleItem.assignee_id == item.assignee_id,
                SampleItem.status == "pending",
                Sample.state == "open",
            )
        )
    return ItemProgress(int(position), int(total), int(done), int(left or 0))
