"""The population of a draw, read from the database fast (DESIGN §4).

A million-decision population is never brought into Python row by row as query
results.

PostgreSQL computes each decision's HMAC with `sha256()` over the padded key blocks
(`algorithm.hmac_key_blocks`), returns only the candidates below a per-stratum bound
(`algorithm.candidate_bound`), and computes the per-stratum counts and population
digests (ids sorted in the C collation, i.e. by code point). A draw reads:

1. counts per stratum, to allocate the sample;
2. in one statement (one snapshot, so digests, candidates and exclusions agree):
   counts again, digests, candidates and the excluded decisions.

If the counts of step 2 differ from step 1 (decisions arrived or were inspected in
between), the draw reads again.

SQLite runs one statement that calls a collecting Python function once per row
(HMAC, candidates, ids for the digests), then reads the exclusions; it holds its
write lock meanwhile, so both see the same data. Replacements use a registered
deterministic `hmac_sha256()` function in the same SQL as PostgreSQL.

Population of a draw: the vendor's decisions with `decided_at` in the period
(`period_start` 00:00 UTC inclusive to the day after `period_end` 00:00 UTC
exclusive), minus decisions that are inspected and decisions in an open sample.
For a past draw, `as_of` re-reads the population as it stood when it was made:
decisions created by then, minus those with an inspection created by then and those
with an item (created by then) in another sample that was open then.

The SQL text is assembled from fixed fragments and column names taken from
`STRATUM_COLUMNS` only; every value is a bound parameter.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.database import UTCDateTime
from app.sampling.algorithm import (
    TAKE_ALL,
    HmacOrder,
    candidate_bound,
    hmac_key_blocks,
    population_digest,
    stratum_key,
)

# The decision columns a draw may stratify on (DESIGN §4); only these names ever
# reach SQL text.
STRATUM_COLUMNS = ("policy_area", "decision", "market", "site", "moderator_id")


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, day after end 00:00 UTC): both dates inclusive."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


@dataclass(frozen=True)
class Scope:
    """Which decisions a draw looks at."""

    vendor_id: int
    start: date
    end: date
    strata: tuple[str, ...]
    as_of: datetime | None = None  # re-read exclusions as they stood then
    sample_id: int | None = None  # the draw being re-read (its own items never exclude)

    def __post_init__(self):
        unknown = [name for name in self.strata if name not in STRATUM_COLUMNS]
        if unknown:
            raise ValueError(f"not a stratum field: {unknown}")


@dataclass
class StratumFigures:
    population: int
    id_sum: int
    values: tuple[str, ...] = ()  # the strata field values the key is made of
    digest: str | None = None
    lowest: str | None = None  # smallest and largest external id (byte order)
    highest: str | None = None


@dataclass
class Snapshot:
    """What step 2 read: figures per stratum, candidates (stratum key →
    [(hmac, decision id, external_id)] sorted by hmac), excluded decisions."""

    figures: dict[str, StratumFigures] = field(default_factory=dict)
    candidates: dict[str, list[tuple[bytes, int, str]]] = field(default_factory=dict)
    excluded: list[tuple[str, bool, bool]] = field(default_factory=list)
    unknown: int = 0  # rows of strata the caller did not know of


# SQL building -------------------------------------------------------------------------


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _params(scope: Scope) -> dict:
    start, end = period_bounds(scope.start, scope.end)
    params = {"vendor_id": scope.vendor_id, "start": start, "end": end}
    if scope.as_of is not None:
        params["as_of"] = scope.as_of
        params["sample_id"] = scope.sample_id or 0
    return params


def _typed(stmt: sa.TextClause, params: dict) -> sa.TextClause:
    """Bind the parameters the statement uses; times through the column type, so that
    SQLite compares the stored text form."""
    used = set(re.findall(r"(?<![:\w]):(\w+)", stmt.text))
    binds = []
    for name, value in params.items():
        if name not in used:
            continue
        if isinstance(value, datetime):
            binds.append(sa.bindparam(name, value, type_=UTCDateTime()))
        elif isinstance(value, bytes):
            binds.append(sa.bindparam(name, value, type_=sa.LargeBinary()))
        else:
            binds.append(sa.bindparam(name, value))
    return stmt.bindparams(*binds)


_C = ' COLLATE "C"'  # byte order: code point order for UTF-8
_PERIOD = "d.vendor_id = :vendor_id AND d.decided_at >= :start AND d.decided_at < :end"
_INSPECTED = "SELECT i.decision_id FROM inspections i WHERE i.vendor_id = :vendor_id"
_IN_OPEN = (
    "SELECT si.decision_id FROM sample_items si JOIN samples s ON s.id = si.sample_id"
    " WHERE s.vendor_id = :vendor_id AND s.state = 'open'"
)
_INSPECTED_AS_OF = _INSPECTED + " AND i.created_at <= :as_of"
_IN_OPEN_AS_OF = (
    "SELECT si.decision_id FROM sample_items si JOIN samples s ON s.id = si.sample_id"
    " WHERE s.vendor_id = :vendor_id AND s.id <> :sample_id"
    " AND s.created_at <= :as_of AND si.created_at <= :as_of"
    " AND (s.closed_at IS NULL OR s.closed_at > :as_of)"
    " AND (s.cancelled_at IS NULL OR s.cancelled_at > :as_of)"
)


def _exclusion_queries(scope: Scope) -> tuple[str, str]:
    if scope.as_of is not None:
        return _INSPECTED_AS_OF, _IN_OPEN_AS_OF
    return _INSPECTED, _IN_OPEN


def _period(scope: Scope) -> str:
    if scope.as_of is not None:
        # Decisions that arrived after the draw were not part of it.
        return f"{_PERIOD} AND d.created_at <= :as_of"
    return _PERIOD


def _population_where(scope: Scope) -> str:
    inspected, in_open = _exclusion_queries(scope)
    return f"{_period(scope)} AND d.id NOT IN ({inspected}) AND d.id NOT IN ({in_open})"


def _strata_select(scope: Scope, collate: str = "") -> str:
    return "".join(f"d.{name}{collate} AS s{i}, " for i, name in enumerate(scope.strata))


def _group_by(scope: Scope, collate: str = "") -> str:
    if not scope.strata:
        return ""
    return " GROUP BY " + ", ".join(f"d.{name}{collate}" for name in scope.strata)


def _hmac_sql(conn: Connection) -> str:
    if _is_postgres(conn):
        return "sha256(:hmac_opad || sha256(:hmac_ipad || convert_to(d.external_id, 'UTF8')))"
    return "hmac_sha256(:hmac_seed, d.external_id)"


def _hmac_params(conn: Connection, seed: str) -> dict:
    if _is_postgres(conn):
        inner, outer = hmac_key_blocks(seed)
        return {"hmac_ipad": inner, "hmac_opad": outer}
    _register_sqlite_functions(conn)
    return {"hmac_seed": seed}


def _register_sqlite_functions(conn: Connection) -> None:
    """HMAC-SHA256 as a deterministic SQLite function, the keyed state made once per
    seed and copied per row (a Python call per row is the cost)."""
    cache: dict[str, HmacOrder] = {}

    def hmac_sha256(seed, message):
        if seed is None or message is None:
            return None
        order = cache.get(seed)
        if order is None:
            cache.clear()  # one seed at a time is what draws use
            order = cache[seed] = HmacOrder(seed)
        return order.digest(message)

    raw = conn.connection.driver_connection
    raw.create_function("hmac_sha256", 2, hmac_sha256, deterministic=True)


def _key(row, width: int) -> str:
    return stratum_key(row[:width])


# PostgreSQL: counts, then one statement ------------------------------------------------


def stratum_counts(conn: Connection, scope: Scope) -> dict[str, StratumFigures]:
    """Population and sum of decision ids per stratum key (the sum lets the second
    statement check that it saw the same population)."""
    collate = _C if _is_postgres(conn) else ""  # SQLite's binary collation is byte order
    sql = (
        f"SELECT {_strata_select(scope)}count(*) AS n, sum(d.id) AS id_sum,"  # noqa: S608
        f" min(d.external_id{collate}), max(d.external_id{collate})"
        f" FROM decisions d WHERE {_population_where(scope)}{_group_by(scope)}"
    )
    width = len(scope.strata)
    figures = {}
    for row in conn.execute(_typed(sa.text(sql), _params(scope))):
        if row[width]:
            figures[_key(row, width)] = StratumFigures(
                int(row[width]),
                int(row[width + 1]),
                tuple(row[:width]),
                lowest=row[width + 2],
                highest=row[width + 3],
            )
    return figures


def common_prefix(figures: dict[str, StratumFigures]) -> int:
    """How many leading characters all the population's ids share: those of the
    smallest and the largest id (in byte order every id between shares them too)."""
    ends = [f.lowest for f in figures.values()] + [f.highest for f in figures.values()]
    ends = [e for e in ends if e is not None]
    if not ends:
        return 0
    return len(os.path.commonprefix([min(ends), max(ends)]))  # noqa: RUF071 (characters, not paths)


def read_snapshot(
    conn: Connection,
    scope: Scope,
    seed: str,
    bounds: dict[str, bytes],
    strata_values: dict[str, Sequence[str]],
    *,
    with_digests: bool = True,
    with_excluded: bool = True,
    complete: bool = False,
    prefix: int = 0,
) -> Snapshot:
    """Counts and digests (PostgreSQL only) of the strata of `strata_values` ({stratum
    key: its field values}), candidates below `bounds` ({stratum key: bound}) and
    excluded decisions, in one statement (one snapshot).

    `complete`: `bounds` names every stratum the caller knows of, and rows of any
    other stratum are counted in `Snapshot.unknown` (the population changed).
    `prefix`: how many leading characters every id shares (see `_digest_branch`)."""
    postgres = _is_postgres(conn)
    if with_digests and not postgres:
        raise ValueError("SQLite computes digests while collecting (collect_sqlite)")
    width = len(scope.strata)
    params = {**_params(scope), **_hmac_params(conn, seed)}
    blob = "BYTEA" if postgres else "BLOB"
    # The first branch fixes the column types (PostgreSQL needs typed NULLs).
    typed_strata = "".join(f"CAST(NULL AS VARCHAR) AS s{i}, " for i in range(width))
    branches = [
        f"SELECT 'h' AS kind, {typed_strata}CAST(NULL AS BIGINT) AS n,"
        f" CAST(NULL AS BIGINT) AS id_sum, CAST(NULL AS VARCHAR) AS digest,"
        f" CAST(NULL AS INTEGER) AS id, CAST(NULL AS VARCHAR) AS external_id,"
        f" CAST(NULL AS {blob}) AS h, CAST(NULL AS INTEGER) AS flags WHERE 1 = 0"
    ]
    if with_digests:
        branches.append(_digest_branch(scope, params, prefix))

    bound_rows = []
    for number, (key, bound) in enumerate(sorted(bounds.items())):
        cells = []
        for i, value in enumerate(strata_values[key]):
            params[f"b{number}_{i}"] = value
            cells.append(f"CAST(:b{number}_{i} AS VARCHAR)")
        params[f"b{number}"] = bound
        cells.append(f"CAST(:b{number} AS {blob})")
        bound_rows.append("(" + ", ".join(cells) + ")")
    cte = ""
    if bound_rows:
        names = ", ".join([*(f"s{i}" for i in range(width)), "bound"])
        cte = f"WITH bounds({names}) AS (VALUES {', '.join(bound_rows)}) "
        on = " AND ".join(f"b.s{i} = c.s{i}" for i in range(width)) or "1 = 1"
        # The subquery computes each decision's HMAC once; SQLite must not flatten it
        # into the join (it would then compute it once per pair).
        fence = "" if postgres else " LIMIT -1"
        candidates = (
            f"SELECT {_strata_select(scope)}d.id, d.external_id, {_hmac_sql(conn)} AS h"  # noqa: S608
            f" FROM decisions d WHERE {_population_where(scope)}{fence}"
        )
        strata_cols = "".join(f"c.s{i}, " for i in range(width))
        if complete:
            # A stratum that appeared since the counts has no bound: its rows say so.
            branches.append(
                f"SELECT CASE WHEN b.bound IS NULL THEN 'u' ELSE 'c' END, {strata_cols}"  # noqa: S608
                f" NULL, NULL, NULL, c.id, c.external_id, c.h, NULL FROM ({candidates}) c"
                f" LEFT JOIN bounds b ON {on} WHERE b.bound IS NULL OR c.h < b.bound"
            )
        else:
            branches.append(
                f"SELECT 'c', {strata_cols}NULL, NULL, NULL,"  # noqa: S608
                f" c.id, c.external_id, c.h, NULL FROM ({candidates}) c"
                f" CROSS JOIN bounds b WHERE {on} AND c.h < b.bound"
            )

    if with_excluded:
        inspected, in_open = _exclusion_queries(scope)
        branches.append(
            f"SELECT 'x', {'NULL, ' * width}NULL, NULL, NULL, d.id, d.external_id, NULL,"  # noqa: S608
            f" (CASE WHEN d.id IN ({inspected}) THEN 1 ELSE 0 END)"
            f" + (CASE WHEN d.id IN ({in_open}) THEN 2 ELSE 0 END)"
            f" FROM decisions d WHERE {_period(scope)}"
            # Driven by the (small) excluded sets, not by a scan of the period.
            f" AND d.id IN ({inspected} UNION {in_open})"
        )

    snapshot = Snapshot()
    if len(branches) == 1:
        return snapshot
    sql = cte + " UNION ALL ".join(branches)
    for row in conn.execute(_typed(sa.text(sql), params)):
        kind = row[0]
        values = row[1 : 1 + width]
        n, id_sum, digest, decision_id, external_id, h, flags = row[1 + width :]
        if kind == "a":
            if n:
                key = stratum_key(values)
                snapshot.figures[key] = StratumFigures(
                    int(n), int(id_sum), tuple(values), digest=digest
                )
        elif kind == "c":
            snapshot.candidates.setdefault(stratum_key(values), []).append(
                (bytes(h), decision_id, external_id)
            )
        elif kind == "u":
            snapshot.unknown += 1
        else:
            snapshot.excluded.append((external_id, bool(flags & 1), bool(flags & 2)))
    for rows in snapshot.candidates.values():
        rows.sort()
    return snapshot


def _digest_branch(scope: Scope, params: dict, prefix: int) -> str:
    """Counts, id sums and digests per stratum. The ids are gathered by hashing (no
    sort of the whole population) and each stratum's ids sorted on their own, in the C
    collation (byte order, which is code point order for UTF-8). Ids sharing their
    first `prefix` characters sort by the rest alone: the same order, but the sort's
    abbreviated keys then see the characters that differ."""
    width = len(scope.strata)
    params["prefix_skip"] = prefix + 1
    inner_strata = _strata_select(scope)
    outer_strata = "".join(f"g.s{i}, " for i in range(width))
    return (
        f"SELECT 'a', {outer_strata}g.n, g.id_sum,"  # noqa: S608
        " (SELECT encode(sha256(convert_to(string_agg(x, chr(10)"
        " ORDER BY substr(x, :prefix_skip) COLLATE \"C\"), 'UTF8')), 'hex')"
        " FROM unnest(g.ids) AS x),"
        " NULL, NULL, NULL, NULL FROM ("
        f"SELECT {inner_strata}count(*) AS n, sum(d.id) AS id_sum,"
        " array_agg(d.external_id) AS ids"
        f" FROM decisions d WHERE {_population_where(scope)}{_group_by(scope)}) g"
    )


# SQLite: one pass through a collecting function ---------------------------------------


class _Collector:
    """Called by SQLite once per population row: keeps the ids for the digest and the
    `capacity` smallest HMACs per stratum (enough for any allocation, which never
    exceeds the sample size). Every row costs a Python call, so it does little."""

    def __init__(self, seed: str, capacity: int, width: int):
        self.capacity = max(capacity, 1)
        self.width = width
        self.strata: dict[tuple, list] = {}
        self.hmac = HmacOrder(seed)

    def function(self):
        strata = self.strata
        copy = self.hmac.base.copy
        capacity = self.capacity

        def collect(decision_id, external_id, *values):
            st = strata.get(values)
            if st is None:
                st = strata[values] = [[], [], TAKE_ALL]  # ids, candidates, threshold
            st[0].append(external_id)
            # HMAC-SHA256 inline (see HmacOrder): a call less per row.
            mac = copy()
            mac.update(external_id.encode("utf-8"))
            h = mac.digest()
            if h < st[2]:
                kept = st[1]
                kept.append((h, decision_id, external_id))
                if len(kept) >= 2 * capacity:
                    # Anything at or above the capacity-th smallest is never drawn.
                    kept.sort()
                    del kept[capacity:]
                    st[2] = kept[-1][0]
            return 1

        return collect

    def snapshot(self) -> Snapshot:
        snapshot = Snapshot()
        for values, (ids, kept, _) in self.strata.items():
            key = stratum_key(values)
            ids.sort()  # by code point; linear when the rows came sorted
            digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
            snapshot.figures[key] = StratumFigures(len(ids), 0, tuple(values), digest)
            kept.sort()
            snapshot.candidates[key] = kept[: self.capacity]
        return snapshot


def collect_sqlite(conn: Connection, scope: Scope, seed: str, capacity: int) -> Snapshot:
    """Figures, digests and the `capacity` first candidates of every stratum in one
    pass (SQLite holds the write lock, so the exclusions read next agree)."""
    width = len(scope.strata)
    collector = _Collector(seed, capacity, width)
    raw = conn.connection.driver_connection
    raw.create_function("vqa_collect", 2 + width, collector.function())
    args = ", ".join(["d.id", "d.external_id", *(f"d.{name}" for name in scope.strata)])
    sql = f"SELECT count(vqa_collect({args})) FROM decisions d WHERE {_population_where(scope)}"  # noqa: S608
    try:
        conn.execute(_typed(sa.text(sql), _params(scope))).scalar()
    finally:
        # The connection goes back to the pool: do not keep the ids alive with it.
        raw.create_function("vqa_collect", 2 + width, None)
    snapshot = collector.snapshot()
    snapshot.excluded = excluded_rows(conn, scope)
    return snapshot


class PopulationChanged(Exception):
    """Decisions changed between the statements of a draw, every time it was tried."""


def read_population(
    conn: Connection,
    scope: Scope,
    seed: str,
    allocate_fn: Callable[[dict[str, int]], dict[str, int]],
    capacity: int,
    *,
    split_from: int | None = None,
) -> tuple[Snapshot, dict[str, int]]:
    """The population's figures, digests and exclusions, and for every stratum at
    least its allocated number of first candidates (all of them when it is smaller).
    `allocate_fn` turns {stratum key: population} into {stratum key: k}; `capacity`
    is an upper bound of any k (the sample size).

    `split_from` (PostgreSQL): from this population size on, the digests and the
    candidates are read at once on two more connections sharing one snapshot (see
    `read_snapshot_split`); None never splits."""
    if not _is_postgres(conn):
        snapshot = collect_sqlite(conn, scope, seed, capacity)
        allocation = allocate_fn({k: f.population for k, f in snapshot.figures.items()})
        return snapshot, allocation
    _setup(conn)
    forced: set[str] = set()
    # A savepoint cannot export its snapshot.
    split = split_from is not None and not conn.in_nested_transaction()
    for _attempt in range(4):
        counts = stratum_counts(conn, scope)
        allocation = allocate_fn({k: f.population for k, f in counts.items()})
        bounds = {
            key: (TAKE_ALL if key in forced else candidate_bound(k, counts[key].population))
            if k
            else b""  # nothing is below an empty bound
            for key, k in allocation.items()
        }
        values = {key: figures.values for key, figures in counts.items()}
        prefix = common_prefix(counts)
        expected = {k: (f.population, f.id_sum) for k, f in counts.items()}
        size = sum(f.population for f in counts.values())
        if split and size >= split_from:
            snapshot = read_snapshot_split(conn, scope, seed, bounds, values, prefix=prefix)
        else:
            snapshot = read_snapshot(
                conn, scope, seed, bounds, values, complete=True, prefix=prefix
            )
        if snapshot.unknown:
            continue
        seen = {k: (f.population, f.id_sum) for k, f in snapshot.figures.items()}
        if seen != expected:
            # Decisions arrived or left between the statements; or this transaction
            # wrote some itself, which the other connections cannot see: read again,
            # on this connection only.
            split = False
            continue
        short = {k for k, n in allocation.items() if len(snapshot.candidates.get(k, [])) < n}
        if not short:
            return snapshot, allocation
        forced |= short  # a bound that kept too few (vanishingly rare): take all
    raise PopulationChanged


def _setup(conn: Connection) -> None:
    # A draw reads big tables in one go; give its sorts memory, and skip JIT
    # compilation, which costs more than it saves here.
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    conn.exec_driver_sql("SET LOCAL jit = off")


def read_snapshot_split(
    conn: Connection,
    scope: Scope,
    seed: str,
    bounds: dict[str, bytes],
    strata_values: dict[str, Sequence[str]],
    *,
    prefix: int = 0,
) -> Snapshot:
    """What `read_snapshot` reads, as two statements run at the same time on two more
    connections that import this transaction's snapshot (`pg_export_snapshot`), so
    both see exactly the same data. The digests sort a stratum's ids in one process
    while the HMACs of the candidates run in parallel workers; one after the other,
    a core idles during the sort.

    The other connections see only committed data: what this transaction wrote itself
    is missing there, and the caller's comparison of the figures with its own counts
    notices it."""
    snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    engine = conn.engine

    def read(workers: int | None = None, **kwargs) -> Snapshot:
        with engine.connect() as other:
            other = other.execution_options(isolation_level="REPEATABLE READ")
            with other.begin():
                # Must come first in the transaction; the id is the server's own
                # text, bound as a literal because SET takes no parameters.
                other.exec_driver_sql(
                    f"SET TRANSACTION SNAPSHOT '{snapshot_id.replace(chr(39), '')}'"
                )
                other.exec_driver_sql("SET TRANSACTION READ ONLY")
                _setup(other)
                if workers is not None:
                    other.exec_driver_sql(
                        f"SET LOCAL max_parallel_workers_per_gather = {workers:d}"
                    )
                return read_snapshot(other, scope, seed, **kwargs)

    with ThreadPoolExecutor(max_workers=1) as pool:
        candidates = pool.submit(
            read,
            workers=1,
            bounds=bounds,
            strata_values=strata_values,
            with_digests=False,
            with_excluded=False,
        )
        snapshot = read(bounds={}, strata_values={}, prefix=prefix)
        snapshot.candidates = candidates.result().candidates
    return snapshot


def population_rows(conn: Connection, scope: Scope) -> list[dict]:
    """The population as plain rows (external_id and strata fields), for re-derivation."""
    names = ", ".join(f"d.{name}" for name in ("external_id", *scope.strata))
    sql = f"SELECT {names} FROM decisions d WHERE {_population_where(scope)}"  # noqa: S608
    fields = ("external_id", *scope.strata)
    return [
        dict(zip(fields, row, strict=True))
        for row in conn.execute(_typed(sa.text(sql), _params(scope)))
    ]


def excluded_rows(conn: Connection, scope: Scope) -> list[tuple[str, bool, bool]]:
    """The period's decisions left out of the population: (external_id, inspected,
    in an open sample)."""
    return read_snapshot(conn, scope, "", {}, {}, with_digests=False).excluded


def exclusions_record(excluded: list[tuple[str, bool, bool]]) -> dict:
    """What a sample stores about the decisions it could not draw."""
    return {
        "inspected": sum(1 for _, inspected, _ in excluded if inspected),
        "in_open_samples": sum(1 for _, _, in_open in excluded if in_open),
        "total": len(excluded),
        "digest": population_digest(eid for eid, _, _ in excluded),
    }


# Candidates of one stratum, for replacements --------------------------------------------


def stratum_candidates(
    conn: Connection,
    scope: Scope,
    seed: str,
    key: str,
    values: Sequence[str],
    bound: bytes,
) -> list[tuple[bytes, int, str]]:
    """The stratum's decisions (of the population `scope` describes) whose HMAC is
    below `bound`, sorted by HMAC: their positions are their ranks."""
    snapshot = read_snapshot(
        conn,
        scope,
        seed,
        {key: bound},
        {key: values},
        with_digests=False,
        with_excluded=False,
    )
    return snapshot.candidates.get(key, [])


def unavailable_ids(conn: Connection, vendor_id: int, decision_ids: list[int]) -> set[int]:
    """Which of these decisions are inspected or in an open sample right now."""
    if not decision_ids:
        return set()
    sql = sa.text(
        "SELECT i.decision_id FROM inspections i WHERE i.vendor_id = :vendor_id"
        " AND i.decision_id IN :ids"
        " UNION SELECT si.decision_id FROM sample_items si"
        " JOIN samples s ON s.id = si.sample_id"
        " WHERE s.vendor_id = :vendor_id AND s.state = 'open' AND si.decision_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    return set(conn.execute(sql, {"vendor_id": vendor_id, "ids": decision_ids}).scalars())
