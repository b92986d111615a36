"""Reading users: the administration's filtered list, one user (by id, email or session
token), the active users, and a user's recent activity. Flask-free but for the 404 of
a user that is not there."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import ApiToken, AuditEvent, User, Vendor
from app.security.roles import ROLES

USER_STATUSES = ("active", "inactive", "all")
USER_SORTS = {
    "name": User.name,
    "email": User.email,
    "role": User.role,
    "last_login": User.last_login_at,
}


def user_search(q: str) -> list[sa.ColumnElement[bool]]:
    """Conditions, to OR together, that a user's email or name contains `q` (lower-case)."""
    return [
        User.email.contains(q, autoescape=True),
        sa.func.lower(User.name).contains(q, autoescape=True),
    ]


def user_list(
    *,
    q: str = "",
    role: str = "",
    vendor_code: str = "",
    status: str = "active",
    sort: str = "name",
) -> sa.Select:
    """The users matching the list filters, in the requested order (`-key` for descending)."""
    stmt = sa.select(User).options(joinedload(User.vendor))
    q = q.strip().lower()
    if q:
        stmt = stmt.where(sa.or_(*user_search(q)))
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if vendor_code:
        stmt = stmt.join(User.vendor).where(Vendor.code == vendor_code.strip().upper())
    if status == "active":
        stmt = stmt.where(User.active)
    elif status == "inactive":
        stmt = stmt.where(sa.not_(User.active))
    descending = sort.startswith("-")
    column = USER_SORTS.get(sort.lstrip("-"), User.name)
    order = column.desc() if descending else column.asc()
    if column is User.last_login_at:
        # Never-signed-in users go last whichever way the list is sorted.
        order = order.nulls_last()
    return stmt.order_by(order, User.id)


def user_or_404(user_id: int) -> User:
    """The user with this id, or 404."""
    return db.get_or_404(User, user_id)


def find_user(user_id: int | None) -> User | None:
    """The user with this id, or None (also for no id)."""
    return db.session.get(User, user_id) if user_id else None


def email_taken(email: str) -> bool:
    """Whether a user has this email (as stored: trimmed and lower-case)."""
    return db.session.scalar(sa.select(User.id).where(User.email == email)) is not None


def user_by_email(email: str) -> User | None:
    """The user with this email (as stored: trimmed and lower-case), or None."""
    return db.session.scalar(sa.select(User).where(User.email == email))


def user_by_session_token(session_token: str) -> User | None:
    """The user whose session cookie carries this token, or None."""
    return db.session.scalar(sa.select(User).where(User.session_token == session_token))


def active_users() -> list[User]:
    """Every active user, by email."""
    return list(db.session.scalars(sa.select(User).where(User.active).order_by(User.email)))


def user_activity(user: User, limit: int = 20) -> list[AuditEvent]:
    """Recent audit events about `user`, their tokens, or done by them, newest first."""
    token_ids = sa.select(sa.cast(ApiToken.id, sa.String)).where(ApiToken.user_id == user.id)
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(
                sa.or_(
                    sa.and_(AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id)),
                    sa.and_(
                        AuditEvent.object_type == "api_token", AuditEvent.object_id.in_(token_ids)
                    ),
                    AuditEvent.actor_id == user.id,
                )
            )
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    )
