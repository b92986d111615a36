"""What each role's home page shows: counts and lists read with SQL aggregates, as far
as the user may see them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import months
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
from app.sampling.queries import queue_statement
from app.security.scoping import visible


def ping() -> None:
    """Ask the database the simplest question (raises when it cannot answer)."""
    db.session.execute(sa.text("SELECT 1"))


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
        "users_by_role": [(name, users_by_role.get(name, 0)) for name in ROLES],
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


def vendor_rows(user: User) -> list[dict]:
    """Each visible vendor with its contract in force this month and this month's counts."""
    month = months.current()
    start, end = months.bounds(month)
    vendors = db.session.scalars(
        visible(sa.select(Vendor).where(Vendor.active), user)
        .options(selectinload(Vendor.contracts))  # one query, not one per vendor
        .order_by(Vendor.code)
    ).all()
    # This month only: counting every decision ever received would read the whole table
    # on each visit; (vendor_id, decided_at) is indexed.
    counts = dict(
        db.session.execute(
            visible(
                sa.select(Decision.vendor_id, sa.func.count())
                .where(Decision.decided_at >= start, Decision.decided_at < end)
                .group_by(Decision.vendor_id),
                user,
                Decision,
            )
        ).all()
    )
    open_samples = dict(
        db.session.execute(
            visible(
                sa.select(Sample.vendor_id, sa.func.count())
                .where(Sample.state == "open")
                .group_by(Sample.vendor_id),
                user,
                Sample,
            )
        ).all()
    )
    return [
        {
            "vendor": v,
            "contract": v.contract_for(month),
            "decisions": counts.get(v.id, 0),
            "open_samples": open_samples.get(v.id, 0),
        }
        for v in vendors
    ]


def inspector_queue_count(user: User) -> int:
    """How many items wait in `user`'s queue (the sampling queue, counted)."""
    queue = queue_statement(user).with_only_columns(SampleItem.id).order_by(None)
    return db.session.scalar(sa.select(sa.func.count()).select_from(queue.subquery()))


def vendor_home(user: User) -> dict:
    vendor = user.vendor
    month = months.current()
    start, end = months.bounds(month)
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
        "contract": vendor.contract_for(month),
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
