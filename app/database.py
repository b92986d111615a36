"""Declarative base, naming convention, column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# How long an SQLite connection waits for another writer before it gives up.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Deterministic constraint names, so migrations can alter them on SQLite (batch mode)
# and on PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database.

    SQLite has no time zone type, so values are stored as naive UTC and made aware
    again on the way out; PostgreSQL stores `timestamptz`. Naive values are refused
    so that a local time can never be mistaken for UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC time is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class Session(FlaskSession):
    """Honours a session-level `bind`, so tests can run each test inside one
    connection's transaction and roll it back (Flask-SQLAlchemy otherwise always
    picks the app's engine)."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and self.bind is not None:
            bind = self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)

    def close(self) -> None:
        """Close, even when the database went away: the rollback that closing sends
        cannot reach a lost connection, so the connection is dropped instead (the pool
        opens a new one later). Otherwise the end of a request that had already
        answered would fail."""
        try:
            super().close()
        except sa.exc.DBAPIError as err:
            if not err.connection_invalidated:
                raise
            self.invalidate()


def enum_check(column: str, values: tuple[str, ...] | list[str], name: str | None = None):
    """A CHECK constraint limiting `column` to `values` (portable across databases)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name or f"{column}_valid")
