"""Reading vendors and their contract versions, limited to what the reader may see
(app/security/scoping.py). Flask-free but for the 404 of a contract that is not there."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa

from app.extensions import db
from app.models import User, Vendor, VendorContract
from app.security.scoping import visible

VENDOR_STATUSES = ("active", "inactive", "all")
VENDOR_SORTS = {
    "code": (Vendor.code,),
    "-code": (Vendor.code.desc(),),
    "name": (sa.func.lower(Vendor.name), Vendor.code),
    "-name": (sa.func.lower(Vendor.name).desc(), Vendor.code),
}


def vendor_list(user: User, *, q: str = "", status: str = "active", sort: str = "code"):
    """The vendors `user` may see that match the list filters (a search in code and
    name; active, inactive or all), in the order `sort` names."""
    stmt = visible(sa.select(Vendor), user)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(sa.func.lower(Vendor.code).like(like), sa.func.lower(Vendor.name).like(like))
        )
    if status == "active":
        stmt = stmt.where(Vendor.active)
    elif status == "inactive":
        stmt = stmt.where(sa.not_(Vendor.active))
    return stmt.order_by(*VENDOR_SORTS.get(sort, VENDOR_SORTS["code"]))


def vendor_by_code(code: str) -> Vendor | None:
    """The vendor with exactly this code, or None (for admin forms, which see every
    vendor; pages that show a vendor use `scoping.vendor_or_404`)."""
    return db.session.scalar(sa.select(Vendor).where(Vendor.code == code))


def vendor_options() -> list[tuple[str, str, bool]]:
    """Every vendor as (code, name, active), by code: what a vendor choice offers staff."""
    rows = db.session.execute(
        sa.select(Vendor.code, Vendor.name, Vendor.active).order_by(Vendor.code)
    )
    return [(code, name, active) for code, name, active in rows]


def contract_of_or_404(vendor: Vendor, contract_id: int) -> VendorContract:
    """A contract version of `vendor` (one the reader may see); any other id is 404."""
    return db.first_or_404(
        sa.select(VendorContract).where(
            VendorContract.id == contract_id, VendorContract.vendor_id == vendor.id
        )
    )


def contracts_in_force(vendor_ids: Iterable[int], month: date) -> dict[int, VendorContract]:
    """For each vendor, the contract version in force in `month`: the latest one taking
    effect on or before it. One query for the whole list."""
    ids = list(vendor_ids)
    if not ids:
        return {}
    first = month.replace(day=1)
    latest = (
        sa.select(
            VendorContract.vendor_id,
            sa.func.max(VendorContract.effective_month).label("month"),
        )
        .where(VendorContract.vendor_id.in_(ids), VendorContract.effective_month <= first)
        .group_by(VendorContract.vendor_id)
        .subquery()
    )
    stmt = sa.select(VendorContract).join(
        latest,
        sa.and_(
            VendorContract.vendor_id == latest.c.vendor_id,
            VendorContract.effective_month == latest.c.month,
        ),
    )
    return {c.vendor_id: c for c in db.session.scalars(stmt)}


def vendor_team(vendor: Vendor, user: User) -> list[tuple[str, str, str]]:
    """The active people of `vendor` (name, email, role), as far as `user` may see them."""
    stmt = visible(
        sa.select(User.name, User.email, User.role).where(User.vendor_id == vendor.id, User.active),
        user,
        User,
    ).order_by(sa.func.lower(User.name), User.email)
    return [tuple(row) for row in db.session.execute(stmt)]
