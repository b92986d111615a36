"""What each role's home page shows: counts and lists read with SQL aggregates."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    ApiToken,
    AuditEvent,
    Decision,
    Label,
    Sample,
    SampleItem,
    User,
    Vendor,
    VendorContract,
)
from app.models.enums import POLICY_AREAS, ROLES
from app.security.scoping import scoped


def admin_overview() -> dict:
    users_by_role = dict(
        db.session.execute(
            sa.select(User.role, sa.func.count()).where(User.active).group_by(User.role)
        ).all()
    )
    labels_by_area = dict(
        db.session.execute(
            sa.select(Label.policy_area, sa.func.count())
            .where(Label.active)
            .group_by(Label.policy_area)
        ).all()
    )
    return {
        "vendors_active": db.session.scalar(
            sa.select(sa.func.count()).select_from(Vendor).where(Vendor.active)
        ),
        "vendors_total": db.session.scalar(sa.select(sa.func.count()).select_from(Vendor)),
        "users_by_role": [(role, users_by_role.get(role, 0)) for role in ROLES],
        "labels_by_area": [(area, labels_by_area.get(area, 0)) for area in POLICY_AREAS],
        "labels_retired": db.session.scalar(
            sa.select(sa.func.count()).select_from(Label).where(sa.not_(Label.active))
        ),
        # The same "active" as the token list the card links to: a token that works now.
        "tokens_active": db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ApiToken)
            .join(ApiToken.user)
            .where(
                ApiToken.revoked_at.is_(None),
                sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > datetime.now(UTC)),
                User.active,
            )
        ),
        "recent_events": db.session.scalars(
            sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(8)
        ).all(),
    }


def _this_month() -> tuple[datetime, datetime]:
    """The current calendar month in UTC, as [start, end): the vendor-month of DESIGN §3."""
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def vendor_rows(user: User) -> list[dict]:
    """Each visible vendor with its contract in force this month and this month's counts."""
    start, end = _this_month()
    today = start.date()
    vendors = db.session.scalars(
        scoped(sa.select(Vendor).where(Vendor.active), Vendor, user)
        .options(selectinload(Vendor.contracts))  # one query, not one per vendor
        .order_by(Vendor.code)
    ).all()
    # This month only: counting every decision ever received would read the whole table
    # on each visit; (vendor_id, decided_at) is indexed.
    counts = dict(
        db.session.execute(
            scoped(
                sa.select(Decision.vendor_id, sa.func.count())
                .where(Decision.decided_at >= start, Decision.decided_at < end)
                .group_by(Decision.vendor_id),
                Decision,
                user,
            )
        ).all()
    )
    open_samples = dict(
        db.session.execute(
            scoped(
                sa.select(Sample.vendor_id, sa.func.count())
                .where(Sample.state == "open")
                .group_by(Sample.vendor_id),
                Sample,
                user,
            )
        ).all()
    )
    return [
        {
            "vendor": v,
            "contract": v.contract_for(today),
            "decisions": counts.get(v.id, 0),
            "open_samples": open_samples.get(v.id, 0),
        }
        for v in vendors
    ]


def inspector_queue_count(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SampleItem)
        .join(Sample)
        .where(
            SampleItem.assignee_id == user.id,
            SampleItem.status == "pending",
            Sample.state == "open",
        )
    )


def vendor_home(user: User) -> dict:
    vendor = user.vendor
    start, end = _this_month()
    today = start.date()
    team = db.session.scalars(
        sa.select(User).where(User.vendor_id == vendor.id, User.active).order_by(User.name)
    ).all()
    contracts = db.session.scalars(
        sa.select(VendorContract)
        .where(VendorContract.vendor_id == vendor.id)
        .order_by(VendorContract.effective_month.desc())
    ).all()
    return {
        "vendor": vendor,
        "contract": vendor.contract_for(today),
        "contracts": contracts,
        "team": team,
        "decisions": db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Decision)
            .where(
                Decision.vendor_id == vendor.id,
                Decision.decided_at >= start,
                Decision.decided_at < end,
            )
        ),
    }
