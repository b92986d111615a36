"""API bearer tokens: generated once, stored as SHA-256, accepted only in the
`Authorization` header."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import g

from app.database import SQLITE_BUSY_TIMEOUT_MS
from app.extensions import db
from app.models import ApiToken, User

TOKEN_PREFIX = "vqa_"  # noqa: S105  (a public marker, not a secret)
# Writing last-used on every call would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
logger = logging.getLogger(__name__)
QUERY_TOKEN_NAMES = ("access_token", "token", "api_key", "apikey", "auth")


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_user_from_request(req) -> User | None:
    """Flask-Login request loader for API requests: authenticate the bearer token."""
    if req.blueprint != "api":
        return None
    if any(name in req.args for name in QUERY_TOKEN_NAMES):
        g.api_auth_error = "tokens are accepted only in the Authorization header"
        return None
    header = req.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(value.strip()))
    )
    now = datetime.now(UTC)
    if token is None or token.revoked_at is not None:
        g.api_auth_error = "the token is not valid"
        return None
    if token.expires_at is not None and token.expires_at <= now:
        g.api_auth_error = "the token has expired"
        return None
    user = token.user
    if not user.active:
        g.api_auth_error = "the token's user is deactivated"
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        record_use(token.id, now)
    g.api_token = token
    return user


def record_use(token_id: int, now: datetime) -> None:
    """Note when a token was last used: bookkeeping, so it may neither block nor fail
    the request that uses the token. It runs in a savepoint; on PostgreSQL a token row
    another request is writing at that moment is skipped (SKIP LOCKED), and SQLite does
    not wait for the write lock (another writer, e.g. an import, may hold it for long).
    When the database refuses, the use is simply recorded by a later request."""
    session = db.session
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    unlocked = (
        sa.select(ApiToken.id)
        .where(ApiToken.id == token_id)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    try:
        with session.begin_nested():
            if sqlite:
                connection.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                session.execute(
                    sa.update(ApiToken).where(ApiToken.id == unlocked).values(last_used_at=now)
                )
            finally:
                if sqlite:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        session.commit()
    except sa.exc.OperationalError:
        logger.info("last use of token %s not recorded now (database busy)", token_id)
