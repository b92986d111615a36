"""What the home pages show, read with SQL aggregates and limited to what the reader may
see. The figures of DESIGN §3 come from app.dashboards.queries (the metrics of
app/metrics), never counted again here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import months
from app.audit.services import chain_head
from app.dashboards import queries as dashboards
from app.extensions import db
from app.metrics.definitions import INDISTINGUISHABLE, MISSED, Share, cap_status, floor_status
from app.metrics.queries import Figures, Targets
from app.models import (
    ApiToken,
    AuditEvent,
    Decision,
    Inspection,
    Sample,
    SampleItem,
    User,
    Vendor,
)
from app.sampling.queries import count_if, per_open_sample, period_text
from app.security.scoping import inspectors, visible
from app.tokens.queries import token_list

# What the home lists show at most; each links to the full list.
LIST_LIMIT = 8
# A working token nobody used for this long is worth a look (revoke it, or find its owner).
STALE_TOKEN_DAYS = 90
AT_RISK = (MISSED, INDISTINGUISHABLE)


def ping() -> None:
    """Ask the database the simplest question (raises when it cannot answer)."""
    db.session.execute(sa.text("SELECT 1"))


# Findings: final inspections that found an error --------------------------------------


@dataclass(frozen=True)
class Finding:
    """One final inspection that found the decision incorrect."""

    inspection_id: int
    finalised_at: datetime
    severity: str | None
    purpose: str
    expected_decision: str | None
    external_id: str
    decision: str
    vendor_code: str


def _findings() -> sa.Select:
    return (
        sa.select(
            Inspection.id,
            Inspection.finalised_at,
            Inspection.severity,
            Inspection.purpose,
            Inspection.expected_decision,
            Decision.external_id,
            Decision.decision,
            Vendor.code,
        )
        .join(Decision, Decision.id == Inspection.decision_id)
        .join(Vendor, Vendor.id == Inspection.vendor_id)
        .where(Inspection.status == "final", Inspection.correct.is_(False))
        .order_by(Inspection.finalised_at.desc(), Inspection.id.desc())
        .limit(LIST_LIMIT)
    )


def own_findings(user: User) -> list[Finding]:
    """`user`'s latest final inspections that found an error, newest first."""
    stmt = _findings().where(Inspection.inspector_id == user.id)
    return [Finding(*row) for row in db.session.execute(stmt)]


def findings_against(user: User) -> list[Finding]:
    """The newest incorrect final inspections `user` may see (for a vendor user: of
    their own vendor only, by `visible`)."""
    stmt = visible(_findings(), user, Inspection)
    return [Finding(*row) for row in db.session.execute(stmt)]


# QA leads: vendors at risk, samples ready to close, work in progress ----------------


@dataclass(frozen=True)
class RiskRow:
    """A vendor whose month is missed or indistinguishable from a target, with last
    month's figure for the trend (the QA overview's rows, app.dashboards)."""

    row: dashboards.OverviewRow
    previous: Figures

    @property
    def vendor(self) -> Vendor:
        return self.row.vendor

    @property
    def accuracy(self) -> dict:
        return self.row.accuracy

    @property
    def critical(self) -> dict:
        return self.row.critical

    @property
    def previous_accuracy(self) -> float | None:
        return self.previous.share("overall_accuracy").value

    @property
    def change(self) -> float | None:
        """Accuracy now minus last month's (None when either month has no data)."""
        now, before = self.accuracy["value"], self.previous_accuracy
        return None if now is None or before is None else now - before

    @property
    def missed(self) -> bool:
        return MISSED in (self.row.accuracy_status, self.row.critical_status)


@dataclass(frozen=True)
class AtRisk:
    month: date
    rows: list[RiskRow]
    vendors_with_data: int
    fell_back: bool  # the current month has no inspections yet; `month` is the last closed

    @property
    def current(self) -> date:
        """The month it is (the month shown, unless it fell back)."""
        return months.next_month(self.month) if self.fell_back else self.month

    @property
    def previous(self) -> date:
        """The month the trend compares with."""
        return months.previous_month(self.month)


def vendors_at_risk(user: User, today: date | None = None) -> AtRisk:
    """The vendors `user` may see whose overall accuracy or critical error rate is
    missed or indistinguishable from the target this month, worst first. Until the
    current month has any final contract inspection, the last closed month."""
    month = months.current(today)
    rows = dashboards.overview(user, month)
    fell_back = not any(r.figures.n for r in rows)
    if fell_back:
        month = months.previous_month(month)
        rows = dashboards.overview(user, month)
    before = {
        r.vendor.id: r.figures for r in dashboards.overview(user, months.previous_month(month))
    }
    risky = [
        RiskRow(r, before.get(r.vendor.id, Figures()))
        for r in rows
        if r.accuracy_status in AT_RISK or r.critical_status in AT_RISK
    ]
    risky.sort(key=lambda r: (not r.missed, r.accuracy["value"] or 0.0, r.vendor.code))
    return AtRisk(month, risky, sum(1 for r in rows if r.figures.n), fell_back)


@dataclass(frozen=True)
class ReadySample:
    sample_id: int
    vendor_code: str
    purpose: str
    period_start: date
    period_end: date
    inspected: int
    skipped: int

    @property
    def period(self) -> str:
        return period_text(self.period_start, self.period_end)


@dataclass(frozen=True)
class ReadyToClose:
    samples: list[ReadySample]
    open_samples: int
    pending_items: int


def samples_ready_to_close(user: User) -> ReadyToClose:
    """Open samples with items, none of them pending (all inspected or skipped), oldest
    first; and how much is still pending in the other open samples."""
    stmt = visible(
        per_open_sample(
            count_if(SampleItem.status == "inspected"), count_if(SampleItem.status == "skipped")
        ),
        user,
        SampleItem,
    ).having(count_if(SampleItem.status == "pending") == 0)
    ready = [ReadySample(*row) for row in db.session.execute(stmt)]
    open_samples = db.session.scalar(
        visible(sa.select(sa.func.count(Sample.id)), user, Sample).where(Sample.state == "open")
    )
    pending = db.session.scalar(
        visible(sa.select(sa.func.count(SampleItem.id)), user, SampleItem)
        .join(Sample, Sample.id == SampleItem.sample_id)
        .where(Sample.state == "open", SampleItem.status == "pending")
    )
    return ReadyToClose(ready, int(open_samples or 0), int(pending or 0))


@dataclass(frozen=True)
class Workload:
    """One person's items in open samples: assigned (not skipped), inspected, pending,
    and pending items with a draft."""

    user_id: int
    name: str
    active: bool
    assigned: int
    done: int
    pending: int
    drafts: int


def work_in_progress() -> list[Workload]:
    """Every active inspector (nothing assigned included) and anyone else holding items
    of open samples, most pending work first. One GROUP BY over the open items."""
    has_draft = (
        sa.select(Inspection.id)
        .where(Inspection.sample_item_id == SampleItem.id, Inspection.status == "draft")
        .exists()
    )
    per_person = (
        sa.select(
            SampleItem.assignee_id.label("user_id"),
            sa.func.count(SampleItem.id).label("assigned"),
            count_if(SampleItem.status == "inspected").label("done"),
            count_if(SampleItem.status == "pending").label("pending"),
            count_if(sa.and_(SampleItem.status == "pending", has_draft)).label("drafts"),
        )
        .join(Sample, Sample.id == SampleItem.sample_id)
        .where(
            Sample.state == "open",
            SampleItem.assignee_id.is_not(None),
            SampleItem.status != "skipped",
        )
        .group_by(SampleItem.assignee_id)
        .subquery()
    )
    zero = sa.literal(0)
    stmt = (
        sa.select(
            User.id,
            User.name,
            User.active,
            sa.func.coalesce(per_person.c.assigned, zero),
            sa.func.coalesce(per_person.c.done, zero),
            sa.func.coalesce(per_person.c.pending, zero),
            sa.func.coalesce(per_person.c.drafts, zero),
        )
        .outerjoin(per_person, per_person.c.user_id == User.id)
        .where(
            sa.or_(
                per_person.c.user_id.is_not(None),
                User.id.in_(inspectors(sa.select(User.id))),
            )
        )
        .order_by(
            sa.func.coalesce(per_person.c.pending, zero).desc(), sa.func.lower(User.name), User.id
        )
    )
    return [Workload(*row) for row in db.session.execute(stmt)]


# Vendor users: their months against target ------------------------------------------


@dataclass(frozen=True)
class VendorMonth:
    """One month of a vendor's contract figures against the contract in force then."""

    month: date
    figures: Figures
    targets: Targets

    @property
    def accuracy(self) -> Share:
        return self.figures.share("overall_accuracy")

    @property
    def critical(self) -> Share:
        return self.figures.share("critical_error_rate")

    @property
    def accuracy_status(self) -> str | None:
        return floor_status(self.accuracy, self.targets.accuracy_target)

    @property
    def critical_status(self) -> str | None:
        return cap_status(self.critical, self.targets.critical_error_cap)


@dataclass(frozen=True)
class VendorMonths:
    current: VendorMonth
    last_closed: VendorMonth
    closed: list[VendorMonth]  # the six closed months ending with `last_closed`, oldest first


TREND_MONTHS = 6


def vendor_months(vendor: Vendor, today: date | None = None) -> VendorMonths:
    """This month so far, the last closed month and the six closed months up to it: the
    dashboards' trend (one statement), each month against its own contract version."""
    current = months.current(today)
    counted = dashboards.trend(vendor, current, TREND_MONTHS + 1)
    rows = [
        VendorMonth(month, figures, dashboards.targets_for(vendor, month))
        for month, figures in counted.items()
    ]
    return VendorMonths(current=rows[-1], last_closed=rows[-2], closed=rows[:-1])


# Admins: housekeeping and the audit chain -------------------------------------------


@dataclass(frozen=True)
class StaleToken:
    token_id: int
    name: str
    prefix: str
    user_id: int
    user_name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class Housekeeping:
    stale_tokens: list[StaleToken]
    stale_token_count: int
    working_tokens: int
    inactive_users: list[tuple[int, str, str, str, datetime]]  # id, name, email, role, changed
    inactive_user_count: int
    active_users: int
    active_vendors: int


def housekeeping(now: datetime | None = None) -> Housekeeping:
    """Working tokens nobody used for `STALE_TOKEN_DAYS` (or never, since made that long
    ago), and deactivated users; the tokens list's own definition of a working token."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=STALE_TOKEN_DAYS)
    working = token_list(status="active").order_by(None)
    stale = working.where(
        sa.or_(
            ApiToken.last_used_at < cutoff,
            sa.and_(ApiToken.last_used_at.is_(None), ApiToken.created_at < cutoff),
        )
    )
    stale_rows = db.session.execute(
        stale.with_only_columns(
            ApiToken.id,
            ApiToken.name,
            ApiToken.prefix,
            User.id,
            User.name,
            ApiToken.created_at,
            ApiToken.last_used_at,
        )
        .order_by(sa.func.coalesce(ApiToken.last_used_at, ApiToken.created_at), ApiToken.id)
        .limit(LIST_LIMIT)
    ).all()
    inactive = sa.select(User.id, User.name, User.email, User.role, User.updated_at).where(
        sa.not_(User.active)
    )

    def count(stmt: sa.Select) -> int:
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())))

    return Housekeeping(
        stale_tokens=[StaleToken(*row) for row in stale_rows],
        stale_token_count=count(stale.with_only_columns(ApiToken.id)),
        working_tokens=count(working.with_only_columns(ApiToken.id)),
        inactive_users=[
            tuple(row)
            for row in db.session.execute(
                inactive.order_by(User.updated_at.desc(), User.id.desc()).limit(LIST_LIMIT)
            )
        ],
        inactive_user_count=count(inactive),
        active_users=db.session.scalar(
            sa.select(sa.func.count()).select_from(User).where(User.active)
        ),
        active_vendors=db.session.scalar(
            sa.select(sa.func.count()).select_from(Vendor).where(Vendor.active)
        ),
    )


@dataclass(frozen=True)
class ChainState:
    """A quick look at the audit chain: its head event verifies with the key and is the
    last of an unbroken count of events. The full walk is `flask audit verify` (or the
    audit log's *Verify chain*), too slow to run on every visit of a long chain."""

    events: int
    head_seq: int
    last_event_at: datetime | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def chain_state() -> ChainState:
    """Check the head (app.audit.services.chain_head) and that the events number 1..head
    with none missing: two indexed reads, whatever the chain's length."""
    with Session(bind=db.session.connection()) as session:  # chain_head reloads objects
        head = chain_head(session)
    events, last_seq = db.session.execute(
        sa.select(sa.func.count(AuditEvent.id), sa.func.max(AuditEvent.seq))
    ).one()
    problem = head.problem
    if problem is None and (events != head.seq or (last_seq or 0) != head.seq):
        problem = (
            f"the chain's head records event #{head.seq}, but {events} events are stored"
            f" (the last is #{last_seq or 0})"
        )
    return ChainState(int(events), head.seq, head.occurred_at, problem)


def recent_events(limit: int = LIST_LIMIT) -> list[AuditEvent]:
    return list(
        db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit))
    )
