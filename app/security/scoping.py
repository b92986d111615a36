"""Tenant scoping: the one place where vendor-owned data is limited to what the
acting user may see. A vendor user asking for another vendor's object gets 404,
never 403, so existence is not leaked (DESIGN §1)."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from flask import abort

from app.extensions import db
from app.models import User, Vendor
from app.validation import has_control_characters

M = TypeVar("M")


def tenant_vendor_id(user: User) -> int | None:
    """The vendor a user is confined to, or None for users who see every vendor."""
    return user.vendor_id if user.is_vendor_user else None


def _tenant_column(model):
    name = getattr(model, "__tenant_column__", None)
    if name is None:
        raise TypeError(f"{model.__name__} is not vendor-owned (no __tenant_column__)")
    return getattr(model, name)


def scoped(stmt: sa.Select, model, user: User) -> sa.Select:
    """Limit a select over a vendor-owned `model` to what `user` may see."""
    vendor_id = tenant_vendor_id(user)
    if vendor_id is None:
        return stmt
    return stmt.where(_tenant_column(model) == vendor_id)


def can_see(user: User, obj) -> bool:
    vendor_id = tenant_vendor_id(user)
    if vendor_id is None:
        return True
    return getattr(obj, type(obj).__tenant_column__) == vendor_id


def get_or_404(model: type[M], ident, user: User) -> M:
    """Load a vendor-owned object by primary key, or 404 if absent or not visible."""
    obj = db.session.get(model, ident)
    if obj is None or not can_see(user, obj):
        abort(404)
    return obj


def vendor_or_404(code: str, user: User) -> Vendor:
    """The vendor with `code`, if `user` may see it (e.g. for `?vendor=CODE` filters)."""
    if not code or len(code) > 20 or has_control_characters(code):
        abort(404)  # no vendor code is that long or holds a control character (or a NUL)
    stmt = scoped(sa.select(Vendor).where(Vendor.code == code.upper()), Vendor, user)
    vendor = db.session.scalar(stmt)
    if vendor is None:
        abort(404)
    return vendor
