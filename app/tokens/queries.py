"""Reading API tokens for their administration: the filtered list, one token, and the
users a token may be made for. Flask-free but for the 404 of a token that is not there."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from app.extensions import db
from app.models import ApiToken, User
from app.users.queries import find_user, user_search

TOKEN_STATUSES = ("active", "expired", "revoked", "all")


def token_list(*, q: str = "", status: str = "active", user_id: int | None = None):
    """Tokens matching the list filters, newest first, with their users loaded."""
    now = datetime.now(UTC)
    stmt = sa.select(ApiToken).join(ApiToken.user).options(contains_eager(ApiToken.user))
    q = q.strip().lower()
    if q:
        stmt = stmt.where(
            sa.or_(*user_search(q), sa.func.lower(ApiToken.name).contains(q, autoescape=True))
        )
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    not_expired = sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)
    if status == "active":
        stmt = stmt.where(ApiToken.revoked_at.is_(None), not_expired, User.active)
    elif status == "revoked":
        stmt = stmt.where(ApiToken.revoked_at.is_not(None))
    elif status == "expired":
        stmt = stmt.where(ApiToken.revoked_at.is_(None), sa.not_(not_expired))
    return stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())


def token_or_404(token_id: int) -> ApiToken:
    """The token with this id, or 404."""
    return db.get_or_404(ApiToken, token_id)


def active_user(user_id: int | None) -> User | None:
    """The active user with this id, or None (no such user, or deactivated): whom a new
    token may be for."""
    user = find_user(user_id)
    return user if user is not None and user.active else None
