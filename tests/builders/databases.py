"""A database of a test's own, for tests that run the app (or a server) on a database
that is not the suite's: a SQLite file, or a fresh PostgreSQL database when
TEST_DATABASE_URL points at a server (dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


@contextmanager
def own_database(folder: Path, prefix: str) -> Iterator[str]:
    """Yield the URL of an empty database named after `prefix`."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{folder / f'{prefix}.db'}"
        return
    name = f"vqa_{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        sa.make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
