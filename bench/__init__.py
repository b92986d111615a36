"""Benchmarks, run by `make bench` (`python -m bench [name ...]`).

Each benchmark is a module `bench/<name>_bench.py` with `main(argv: list[str]) -> int`.
They run against BENCH_DATABASE_URL when it is set, otherwise against both a
temporary SQLite file and a fresh PostgreSQL database on BENCH_PG_SERVER (created and
dropped by the benchmark), print a table, and record their figures in BENCHMARKS.md
(one section per benchmark, replaced in place). They are never part of `make test`.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_FILE = ROOT / "BENCHMARKS.md"
PG_SERVER = os.environ.get(
    "BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def database_kinds() -> list[str]:
    """The databases to measure: the one of BENCH_DATABASE_URL, or SQLite and PostgreSQL."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return [sa.make_url(url).get_backend_name()]
    return ["sqlite", "postgresql"]


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A URL of an empty database of `kind`, removed afterwards (BENCH_DATABASE_URL is
    used as it is, and kept)."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield given
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    name = f"vqa_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def migrated_app(url: str):
    """The portal app on `url`, with the schema built by the real migrations."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
    return app


def write_section(title: str, body: str) -> None:
    """Replace (or add) the section `## title` of BENCHMARKS.md."""
    text = BENCHMARKS_FILE.read_text() if BENCHMARKS_FILE.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    BENCHMARKS_FILE.write_text(text)
