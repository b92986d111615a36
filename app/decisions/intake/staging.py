"""The staging writer of an import: the temporary tables that checked rows go to, a
chunk at a time, and the storing of each chunk's new decisions as it arrives.

Rows reach the staging table by COPY on PostgreSQL and `executemany` on SQLite. A writer
thread (`ChunkWriter`) stores one chunk while the caller reads the next, so the database
and Python work at the same time and memory stays flat whatever the file's size.
"""

# The SQL below is assembled from constant fragments and generated temporary table
# names only; every value is a bound parameter or travels through COPY.
# ruff: noqa: S608

from __future__ import annotations

import json
import queue
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

# The columns a staged row carries as the decisions table stores them.
PLAIN_COLUMNS = ("moderator_id", "site", "market", "policy_area", "item_id", "item_url")
# What a staged row holds: its position (index or line), whether it passed the checks,
# and its normalised values (the vendor by id, labels as "3|7": ids, primary first).
STAGE_COLUMNS = (
    "pos",
    "ok",
    "external_id",
    "vendor_id",
    *PLAIN_COLUMNS,
    "context",
    "decision",
    "label_key",
    "decided_at",
)
# SQL: the id of the stored decision with the external_id `{}` (NULL if none).
DECISION_ID = "(SELECT d.id FROM decisions d WHERE d.external_id = {})"
# SQLite has no JSON comparison that ignores key order (PostgreSQL compares jsonb).
SQLITE_CANONICAL_JSON = "decision_import_canonical_json"


class Staging:
    """The temporary tables of one import on `conn`, and the writing of chunks of
    checked rows into them.

    Each chunk is staged, its rows that match a stored decision are noted (`matched`),
    and, while no bad row has been seen (`storing`), its new decisions are stored with
    their labels (`created` counts them). Nothing here commits: the import runs inside a
    savepoint that it rolls back when any problem turns up.
    """

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        database = conn.engine.url.database
        # An in-memory SQLite database lives in one thread; anything else may be handed on.
        self.threaded = self.pg or database not in (None, "", ":memory:")
        suffix = uuid.uuid4().hex[:10]
        self.stage = f"decision_import_{suffix}"
        self.chunk_table = f"decision_import_chunk_{suffix}"
        self.matched_table = f"decision_import_matched_{suffix}"
        self.changed_table = f"decision_import_changed_{suffix}"
        self.cands_table = f"decision_import_dups_{suffix}"
        self.temp_tables: list[str] = []
        self.storing = True  # cleared once a bad row is seen: stop storing, keep staging
        self.created = 0  # new decisions stored by the chunks
        self.matched = 0  # rows matching a decision stored before

    def exec(self, sql: str, params: dict | None = None):
        """Run one SQL statement on the import's connection."""
        return self.conn.execute(sa.text(sql), params or {})

    def temp_table(self, name: str, columns: str) -> None:
        """Create a temporary table, dropped with the others at the end."""
        if self.pg:
            self.exec(f"CREATE TEMPORARY TABLE {name} ({columns}) ON COMMIT DROP")
        else:
            self.exec(f"CREATE TEMPORARY TABLE {name} ({columns})")
        self.temp_tables.append(name)

    def create_tables(self) -> None:
        """The staging table (and, on PostgreSQL, the table a chunk is copied into) and
        the table of rows matching a stored decision."""
        if self.pg:
            # The checks that follow are big one-off queries: compiling them (JIT) costs
            # more than running them, and their hash joins should stay in memory.
            self.exec("SET LOCAL jit = off")
            self.exec("SET LOCAL work_mem = '64MB'")
            columns = (
                "pos bigint NOT NULL, ok boolean NOT NULL, external_id text, vendor_id integer,"
                " moderator_id text, site text, market text, policy_area text, item_id text,"
                " item_url text, context text, decision text, label_key text,"
                " decided_at timestamptz"
            )
            self.temp_table(self.stage, columns)
            self.temp_table(self.chunk_table, columns)
            self.temp_table(self.matched_table, "pos bigint NOT NULL, decision_id integer NOT NULL")
        else:
            self.conn.connection.driver_connection.create_function(
                SQLITE_CANONICAL_JSON, 1, _canonical_json, deterministic=True
            )
            columns = (
                "pos INTEGER PRIMARY KEY, ok INTEGER NOT NULL, external_id TEXT,"
                " vendor_id INTEGER, moderator_id TEXT, site TEXT, market TEXT,"
                " policy_area TEXT, item_id TEXT, item_url TEXT, context TEXT, decision TEXT,"
                " label_key TEXT, decided_at TEXT"
            )
            self.temp_table(self.stage, columns)
            self.temp_table(
                self.matched_table, "pos INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL"
            )

    def write_chunk(self, chunk: list[tuple], *, create: bool) -> None:
        """Stage a chunk, note its rows that match stored decisions, and (while no row
        was bad) store its new decisions. Runs in the writer thread."""
        driver = self.conn.connection.driver_connection
        columns = ", ".join(STAGE_COLUMNS)
        if self.pg:
            sql = f"COPY {self.chunk_table} ({columns}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                for row in chunk:
                    copy.write_row(row)
            self.exec(f"INSERT INTO {self.stage} SELECT * FROM {self.chunk_table}")
            source, where, params = f"{self.chunk_table} c", "c.ok", {}
        else:
            marks = ", ".join("?" * len(STAGE_COLUMNS))
            driver.executemany(f"INSERT INTO {self.stage} ({columns}) VALUES ({marks})", chunk)
            source = f"{self.stage} c"
            where = "c.pos BETWEEN :first AND :last AND c.ok"
            params = {"first": chunk[0][0], "last": chunk[-1][0]}
        # Each lookup is a scalar subquery: one index probe per row whatever the planner
        # believes of the decisions table, whose statistics cannot know the rows this
        # transaction adds (as a join it may hash the whole growing table per chunk).
        matched = self.exec(
            f"""
            INSERT INTO {self.matched_table} (pos, decision_id)
            SELECT x.pos, x.decision_id
            FROM (SELECT c.pos, {DECISION_ID.format("c.external_id")} AS decision_id
                  FROM {source} WHERE {where}) x
            WHERE x.decision_id IS NOT NULL
            """,
            params,
        ).rowcount
        self.matched += matched
        valid = sum(1 for row in chunk if row[1])
        if create and self.storing and matched < valid:
            self.create_decisions(source, where, params, all_new=not matched)
        if self.pg:
            self.exec(f"TRUNCATE {self.chunk_table}")

    def create_decisions(self, source: str, where: str, params: dict, *, all_new: bool) -> None:
        """Store the chunk's new decisions and their labels. `all_new`: no row of the
        chunk matched a stored decision, so nothing needs to be probed for."""
        now = db_time(datetime.now(UTC), not self.pg)
        context = "CAST(c.context AS json)" if self.pg else "c.context"
        new_only = "" if all_new else f"AND {DECISION_ID.format('c.external_id')} IS NULL"
        # No ON CONFLICT clause: its speculative insertion slows every row. Rows of this
        # chunk are distinct (a repeat stops the storing), and rows stored before are
        # skipped by the lookup; only a concurrent import could still collide.
        insert = f"""
            INSERT INTO decisions (external_id, vendor_id, moderator_id, site, market,
                policy_area, item_id, item_url, context, decision, decided_at,
                created_at, updated_at)
            SELECT c.external_id, c.vendor_id, c.moderator_id, c.site, c.market,
                c.policy_area, c.item_id, c.item_url, {context}, c.decision, c.decided_at,
                :now, :now
            FROM {source}
            WHERE {where} {new_only}
        """
        if self.pg:
            # The new ids come back from the insert itself, so the labels need no lookup.
            created = self.exec(
                f"""
                WITH created AS ({insert} RETURNING id, external_id),
                labelled AS (
                    INSERT INTO decision_labels (decision_id, position, label_id)
                    SELECT n.id, {self.label_items("c")}
                    FROM created n JOIN {source} ON c.external_id = n.external_id
                         {self.expand_labels("c")}
                    WHERE {where} AND c.label_key <> ''
                )
                SELECT count(*) FROM created
                """,
                {**params, "now": now},
            ).scalar_one()
            self.created += created
            return
        self.created += self.exec(insert, {**params, "now": now}).rowcount
        # Labels go to the decisions this statement just created (none has any yet).
        created_here = (
            "(SELECT d.id FROM decisions d WHERE d.external_id = c.external_id"
            " AND d.created_at = :now)"
        )
        self.exec(
            f"""
            INSERT INTO decision_labels (decision_id, position, label_id)
            SELECT x.decision_id, {self.label_items("x")}
            FROM (SELECT c.label_key, {created_here} AS decision_id
                  FROM {source} WHERE {where} AND c.label_key <> '') x
                 {self.expand_labels("x")}
            WHERE x.decision_id IS NOT NULL
            """,
            {**params, "now": now},
        )

    def expand_labels(self, alias: str) -> str:
        """SQL: one row `l` per staged label of `alias` (label_key "3|7")."""
        if self.pg:
            return (
                f"CROSS JOIN LATERAL unnest(string_to_array({alias}.label_key, '|'))"
                " WITH ORDINALITY AS l(label_id, ord)"
            )
        return f", json_each('[' || replace({alias}.label_key, '|', ',') || ']') AS l"

    def label_items(self, alias: str) -> str:
        """SQL: position, label_id of an expanded label `l`."""
        return "l.ord - 1, CAST(l.label_id AS integer)" if self.pg else "l.key, l.value"

    def drop_tables(self) -> None:
        """Drop the temporary tables (PostgreSQL would at commit; SQLite keeps them for
        the connection's life). A failed transaction is left to the caller's rollback."""
        for table in reversed(self.temp_tables):
            try:
                with self.conn.begin_nested():
                    self.exec(f"DROP TABLE IF EXISTS {table}")
            except sa.exc.DBAPIError:
                break
        self.temp_tables.clear()


class ChunkWriter:
    """Runs `Staging.write_chunk` for each chunk, in a thread of its own where the
    connection allows, so that the database stores one chunk while Python reads the
    next (the drivers let go of the GIL while the database works). At most one chunk
    waits, which keeps memory flat."""

    def __init__(self, staging: Staging, *, create: bool):
        self.staging = staging
        self.create = create
        self.error: BaseException | None = None
        self.thread = None
        if staging.threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=1)
            self.thread = threading.Thread(target=self._work, name="decision-import", daemon=True)
            self.thread.start()

    def put(self, chunk: list[tuple]) -> None:
        """Hand on a chunk (or write it now, without a thread); re-raises the writer's
        failure, if it had one."""
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self.staging.write_chunk(chunk, create=self.create)
        else:
            self.queue.put(chunk)

    def _work(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.error is None:  # after a failure, only drain the queue
                try:
                    self.staging.write_chunk(chunk, create=self.create)
                except BaseException as err:
                    self.error = err

    def stop(self) -> None:
        """Let the thread finish the chunks handed on, and end."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()

    def finish(self) -> None:
        """Stop, then re-raise the writer's failure, if it had one."""
        self.stop()
        if self.error is not None:
            raise self.error


def db_time(moment: datetime | None, sqlite: bool) -> Any:
    """A UTC time as the decisions table stores it: SQLite keeps the ORM's naive UTC
    text (so that rows written here and by the ORM compare and sort alike)."""
    if moment is None:
        return None
    if sqlite:
        return moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    return moment


def _canonical_json(text: str | None) -> str | None:
    if text is None:
        return None
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
