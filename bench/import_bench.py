"""Decision import benchmark (issue budgets: DESIGN §8, §10).

For each database (a temporary SQLite file, a fresh PostgreSQL database) and each size
(100k and 1M rows by default) it generates a realistic decisions CSV (4 vendors, the
seed label taxonomy, about a quarter rejects with 1-3 labels, an item URL and a small
context object on every row) and measures, each in a fresh process:

(a) the full import (`flask decisions import`'s path: parse, validate, upsert);
(b) the floor on the same machine: PostgreSQL — a raw `COPY … FROM STDIN (FORMAT csv)`
    of the same file into a table with the decisions table's columns (the vendor by
    code), constraints and indexes, plus a raw `COPY` of the pre-parsed label rows into
    a copy of `decision_labels`;
    SQLite — raw `sqlite3.executemany` of the pre-parsed rows (vendor and label ids
    resolved, times in UTC, parsing not timed) into copies of `decisions` and
    `decision_labels` with their indexes, in one transaction;
(c) re-importing the unchanged file (0 rows may change);
(d) the peak RSS of the importing process.

Budgets: import rate ≥ 0.5x the floor's; re-import ≤ 1.5x the first import; peak RSS
< 256 MB and the 1M peak ≤ 1.2x the 100k peak.

    python -m bench import [-- --rows 100000,1000000 --no-write]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from app.decisions.intake import FIELDS
from bench import ROOT, database_kinds, fresh_database, migrated_app, write_section

SECTION = "Decision import"
HEADER = list(FIELDS)
VENDORS = {
    "ACME": (["Manila", "Cebu"], ["US", "PH"], "+08:00"),
    "BRAVO": (["Bogota"], ["CO", "MX"], "-05:00"),
    "CIVIC": (["Krakow", "Gdansk"], ["PL", "DE"], "+01:00"),
    "DELTA": (["Nairobi"], ["KE", "NG"], "+03:00"),
}
AREA_WEIGHTS = {"listing": 0.5, "content": 0.25, "seller": 0.15, "ipr": 0.1}


def seed_labels() -> list[dict]:
    rows = []
    for name in ("labels.csv", "labels_more.csv"):
        with open(ROOT / "app" / "seed" / name, encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic decisions CSV of `rows` rows (deterministic for a seed)."""
    rng = random.Random(seed)  # noqa: S311 (test data, reproducible)
    by_area: dict[str, list[str]] = {}
    for label in seed_labels():
        by_area.setdefault(label["policy_area"], []).append(label["code"])
    areas = list(AREA_WEIGHTS)
    weights = list(AREA_WEIGHTS.values())
    vendors = list(VENDORS)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(rows):
            vendor = vendors[i % 4]
            sites, markets, offset = VENDORS[vendor]
            area = rng.choices(areas, weights)[0]
            reject = rng.random() < 0.27
            labels = ""
            if reject:
                count = rng.choices((1, 2, 3), (0.7, 0.25, 0.05))[0]
                labels = "|".join(rng.sample(by_area[area], count))
            moment = start + timedelta(seconds=rng.randrange(31 * 86400))
            hours = int(offset[:3])
            local = moment + timedelta(hours=hours)
            item = f"{area[:3].upper()}{rng.getrandbits(40):012d}"
            context = {
                "title": f"Item {item[-6:]}",
                "seller_id": f"S{rng.randrange(10**7):07d}",
                "price": round(rng.uniform(1, 500), 2),
                "images": rng.randrange(1, 9),
            }
            out.writerow(
                (
                    f"D{rng.getrandbits(64):016x}",
                    vendor,
                    f"{vendor[:1]}MOD{rng.randrange(250):04d}",
                    sites[i % len(sites)],
                    markets[rng.randrange(len(markets))],
                    area,
                    item,
                    f"https://market.example.com/{area}/items/{item}",
                    json.dumps(context),
                    "reject" if reject else "approve",
                    labels,
                    local.replace(tzinfo=None).isoformat() + offset,
                )
            )


def prepare(url: str) -> None:
    """Schema by the migrations, the 4 vendors and the seed labels."""
    from app.extensions import db
    from app.models import Label, Vendor

    app = migrated_app(url)
    with app.app_context():
        for code, (sites, markets, _offset) in VENDORS.items():
            db.session.add(
                Vendor(code=code, name=code.title(), sites=sites, markets=markets, active=True)
            )
        for label in seed_labels():
            db.session.add(
                Label(
                    code=label["code"],
                    name=label["name"],
                    policy_area=label["policy_area"],
                    typical_severity=label["typical_severity"],
                    description=label["description"],
                    active=True,
                )
            )
        db.session.commit()
        db.engine.dispose()


# Child processes (each measurement in a fresh interpreter) -------------------------------


def _peak_rss_mb() -> float:
    """This process's peak resident set. On Linux from VmHWM: getrusage's ru_maxrss
    carries over the peak of the process that forked this one (a parent that measured
    something big first would show here)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_import(url: str, path: str) -> dict:
    from app import create_app
    from app.decisions.services import import_csv
    from app.extensions import db

    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.session.execute(sa.select(1))
        baseline = _peak_rss_mb()
        began = time.perf_counter()
        result = import_csv(path, source="benchmark")
        db.session.commit()
        seconds = time.perf_counter() - began
        db.engine.dispose()
    return {
        "seconds": seconds,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rows": result.rows,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_floor(url: str, path: str) -> dict:
    if url.startswith("postgresql"):
        return _floor_postgres(url, path)
    return _floor_sqlite(url, path)


def _floor_postgres(url: str, path: str) -> dict:
    import psycopg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        labels = dict(conn.execute("SELECT code, id FROM labels").fetchall())
        conn.execute(
            """
            CREATE TABLE floor_decisions (
                id serial PRIMARY KEY,
                external_id varchar(128) NOT NULL UNIQUE,
                vendor varchar(20) NOT NULL REFERENCES vendors (code),
                moderator_id varchar(64) NOT NULL,
                site varchar(64) NOT NULL,
                market varchar(32) NOT NULL,
                policy_area varchar(16) NOT NULL
                    CHECK (policy_area IN ('seller', 'listing', 'content', 'ipr')),
                item_id varchar(128) NOT NULL,
                item_url varchar(2048),
                context json,
                decision varchar(8) NOT NULL CHECK (decision IN ('approve', 'reject')),
                labels text,
                decided_at timestamptz NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX ON floor_decisions (vendor, decided_at);
            CREATE INDEX ON floor_decisions (vendor, policy_area, decided_at);
            CREATE INDEX ON floor_decisions (vendor, moderator_id);
            CREATE TABLE floor_decision_labels (
                decision_id integer NOT NULL REFERENCES floor_decisions (id) ON DELETE CASCADE,
                position integer NOT NULL CHECK (position >= 0),
                label_id integer NOT NULL REFERENCES labels (id) ON DELETE RESTRICT,
                PRIMARY KEY (decision_id, position),
                UNIQUE (decision_id, label_id)
            );
            CREATE INDEX ON floor_decision_labels (label_id);
            """
        )
        conn.commit()
        # The label rows, pre-parsed (not timed): the file's rows get ids 1, 2, … in order.
        label_rows = []
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for number, row in enumerate(reader, start=1):
                for position, code in enumerate(filter(None, row[10].split("|"))):
                    label_rows.append((number, position, labels[code]))
        began = time.perf_counter()
        with conn.cursor() as cursor:
            sql = f"COPY floor_decisions ({', '.join(HEADER)}) FROM STDIN (FORMAT csv, HEADER)"
            with cursor.copy(sql) as copy, open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            sql = "COPY floor_decision_labels (decision_id, position, label_id) FROM STDIN"
            with cursor.copy(sql) as copy:
                for row in label_rows:
                    copy.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - began
        conn.execute("DROP TABLE floor_decision_labels")
        conn.execute("DROP TABLE floor_decisions")
        conn.commit()
    return {"seconds": seconds}


def _floor_sqlite(url: str, path: str) -> dict:
    import sqlite3

    conn = sqlite3.connect(sa.make_url(url).database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    ddl = conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name IN ('decisions', 'decision_labels')"
        " AND sql IS NOT NULL ORDER BY type DESC"  # tables before indexes
    ).fetchall()
    for (statement,) in ddl:
        statement = (
            statement.replace("decision_labels", "floor_decision_labels")
            .replace('"decision_labels"', '"floor_decision_labels"')
            .replace("decisions", "floor_decisions")
            .replace("ix_", "floor_ix_")
            .replace("uq_", "floor_uq_")
            .replace("pk_", "floor_pk_")
            .replace("fk_", "floor_fk_")
            .replace("ck_", "floor_ck_")
        )
        conn.execute(statement)
    vendors = dict(conn.execute("SELECT code, id FROM vendors"))
    labels = dict(conn.execute("SELECT code, id FROM labels"))
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    decisions, decision_labels = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for number, row in enumerate(reader, start=1):
            ext, vendor, moderator, site, market, area, item, url_, context, decision = row[:10]
            moment = datetime.fromisoformat(row[11]).astimezone(UTC).replace(tzinfo=None)
            decisions.append(
                (
                    number,
                    ext,
                    vendors[vendor],
                    moderator,
                    site,
                    market,
                    area,
                    item,
                    url_,
                    context,
                    decision,
                    moment.isoformat(" ", "microseconds"),
                    now,
                    now,
                )
            )
            for position, code in enumerate(filter(None, row[10].split("|"))):
                decision_labels.append((number, position, labels[code]))
    began = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO floor_decisions (id, external_id, vendor_id, moderator_id, site, market,"
        " policy_area, item_id, item_url, context, decision, decided_at, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        decisions,
    )
    conn.executemany(
        "INSERT INTO floor_decision_labels (decision_id, position, label_id) VALUES (?, ?, ?)",
        decision_labels,
    )
    conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.execute("DROP TABLE floor_decision_labels")
    conn.execute("DROP TABLE floor_decisions")
    conn.close()
    return {"seconds": seconds}


def _in_child(kind: str, url: str, path: Path) -> dict:
    done = subprocess.run(  # noqa: S603 (this interpreter, our own module)
        [sys.executable, "-m", "bench.import_bench", "--child", kind, url, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# The benchmark ---------------------------------------------------------------------------


def measure(kind: str, sizes: list[int], files: dict[int, Path], repeat: int) -> list[dict]:
    """Per size: `repeat` rounds (fresh database, import, re-import, floor), interleaved so
    that both sides see the same machine; the best time of each is kept (a busy machine
    only ever adds time)."""
    results = []
    for rows in sizes:
        rounds = repeat or (3 if rows <= 200_000 else 1)
        firsts, agains, floors = [], [], []
        for _ in range(rounds):
            with fresh_database(kind) as url:
                prepare(url)
                firsts.append(_in_child("import", url, files[rows]))
                agains.append(_in_child("import", url, files[rows]))
                floors.append(_in_child("floor", url, files[rows]))
        first = min(firsts, key=lambda m: m["seconds"])
        again = min(agains, key=lambda m: m["seconds"])
        floor = min(floors, key=lambda m: m["seconds"])
        result = {
            "database": "PostgreSQL" if kind == "postgresql" else "SQLite",
            "rows": rows,
            "rounds": rounds,
            "import_s": first["seconds"],
            "import_rate": rows / first["seconds"],
            "floor_s": floor["seconds"],
            "floor_rate": rows / floor["seconds"],
            "ratio": floor["seconds"] / first["seconds"],
            "reimport_s": again["seconds"],
            "reimport_factor": again["seconds"] / first["seconds"],
            "reimport_changed": max(m["created"] + m["updated"] for m in agains),
            "created": first["created"],
            "peak_rss_mb": max(m["peak_rss_mb"] for m in firsts),
            "reimport_peak_rss_mb": max(m["peak_rss_mb"] for m in agains),
            "baseline_rss_mb": first["baseline_rss_mb"],
            "all_import_s": [m["seconds"] for m in firsts],
            "all_floor_s": [m["seconds"] for m in floors],
        }
        results.append(result)
        print(
            f"{result['database']:<10} {rows:>9,} rows: import {result['import_s']:6.1f}s "
            f"({result['import_rate']:>8,.0f}/s), floor {result['floor_s']:6.1f}s "
            f"({result['floor_rate']:>8,.0f}/s), ratio {result['ratio']:.2f}; re-import "
            f"{result['reimport_s']:6.1f}s ({result['reimport_factor']:.2f}x, "
            f"{result['reimport_changed']} changed); peak RSS {result['peak_rss_mb']:.0f} MB "
            f"(re-import {result['reimport_peak_rss_mb']:.0f} MB); rounds: import "
            f"{_seconds(result['all_import_s'])}, floor {_seconds(result['all_floor_s'])}",
            flush=True,
        )
    return results


def _seconds(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values) + " s"


def verdicts(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        ok = r["ratio"] >= 0.5
        lines.append(
            f"- {r['database']}, {r['rows']:,} rows: import at {r['ratio']:.2f}x the floor's "
            f"rate (budget ≥ 0.5x): {'met' if ok else 'MISSED'}."
        )
        ok = r["reimport_factor"] <= 1.5 and r["reimport_changed"] == 0
        lines.append(
            f"- {r['database']}, {r['rows']:,} rows: re-import {r['reimport_factor']:.2f}x the "
            f"first, {r['reimport_changed']} rows changed (budget ≤ 1.5x, 0): "
            f"{'met' if ok else 'MISSED'}."
        )
    for database in sorted({r["database"] for r in results}):
        mine = sorted((r for r in results if r["database"] == database), key=lambda r: r["rows"])
        peaks = [max(r["peak_rss_mb"], r["reimport_peak_rss_mb"]) for r in mine]
        under = all(p < 256 for p in peaks)
        flat = len(mine) < 2 or peaks[-1] <= 1.2 * peaks[0]
        sizes = " / ".join(f"{r['rows']:,}: {p:.0f} MB" for r, p in zip(mine, peaks, strict=True))
        lines.append(
            f"- {database}, peak RSS ({sizes}; budget < 256 MB and the largest ≤ 1.2x the "
            f"smallest): {'met' if under and flat else 'MISSED'}."
        )
    return lines


def report(results: list[dict]) -> str:
    machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    table = [
        "| database | rows | rounds | import | rate | floor | floor rate | ratio | re-import | "
        "re-import / import | changed on re-import | peak RSS (import / re-import) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        table.append(
            f"| {r['database']} | {r['rows']:,} | {r['rounds']} | {r['import_s']:.1f} s | "
            f"{r['import_rate']:,.0f}/s | {r['floor_s']:.1f} s | {r['floor_rate']:,.0f}/s | "
            f"{r['ratio']:.2f} | {r['reimport_s']:.1f} s | {r['reimport_factor']:.2f} | "
            f"{r['reimport_changed']} | {r['peak_rss_mb']:.0f} / "
            f"{r['reimport_peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(
        [
            "`python -m bench import` (`make bench`); measured "
            f"{datetime.now(UTC):%Y-%m-%d} on {machine}.",
            "",
            "A generated CSV (4 vendors, the seed label taxonomy, ~27% rejects with 1-3 "
            "labels, an item URL and a small JSON context on every row) is imported by "
            "`flask decisions import`'s code path into a fresh database, then imported "
            "again unchanged. Each measurement runs in a fresh process; peak RSS is that "
            "process's maximum resident set (interpreter and app included). Each size runs "
            "`rounds` times (fresh database, import, re-import, floor, interleaved); the "
            "best time of each is kept, since other load on the machine only adds time.",
            "",
            "Floor: PostgreSQL — raw `COPY … (FORMAT csv)` of the same file into a table "
            "shaped like the decisions table for the file's columns (vendor by code), with its "
            "constraints (foreign key, checks) and indexes, plus a raw `COPY` of the "
            "pre-parsed label rows into a copy of `decision_labels`; SQLite — raw "
            "`sqlite3.executemany` of the pre-parsed rows (parsing not timed) into copies of "
            "`decisions` and `decision_labels` with their indexes, in one transaction. "
            "ratio = import rate / floor rate.",
            "",
            *table,
            "",
            *verdicts(results),
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench import")
    parser.add_argument("--rows", default="100000,1000000", help="sizes, comma-separated")
    parser.add_argument("--databases", default="", help="sqlite and/or postgresql (default both)")
    parser.add_argument(
        "--repeat", type=int, default=0, help="rounds per size (default: 3 up to 200k rows, else 1)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    kinds = [k for k in args.databases.split(",") if k] or database_kinds()
    sizes = [int(size) for size in args.rows.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        files = {}
        for rows in sizes:
            files[rows] = Path(folder) / f"decisions-{rows}.csv"
            began = time.perf_counter()
            generate(files[rows], rows)
            print(f"generated {rows:,} rows in {time.perf_counter() - began:.1f}s", flush=True)
        for kind in kinds:
            results += measure(kind, sizes, files, args.repeat)
    text = report(results)
    print()
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    missed = any("MISSED" in line for line in verdicts(results))
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        task, url, path = sys.argv[2:]
        measured = child_import(url, path) if task == "import" else child_floor(url, path)
        print(json.dumps(measured))
    else:
        sys.exit(main(sys.argv[1:]))
