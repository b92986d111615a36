"""The metrics API with 1,000,000 decisions and 100,000 inspections (issue 4 §7).

Budget: the p95 of `GET /api/v1/vendors/<code>/metrics?month=` is at most 1.5x the p95
of the raw DB-API driver (sqlite3 / psycopg, no ORM) running the same aggregate SQL
(`app.metrics.queries.vendor_month_sql`) plus 30 ms, and at most 200 ms on PostgreSQL.

The data: 4 vendors, 6 months (2026-01 to 2026-06), 1,000,000 decisions (about 27%
rejects with one or two labels) and every tenth decision inspected: 100,000 inspections,
90% from contract samples and 10% targeted, 95% final, about 6% wrong in the ways
moderators are wrong (decision, labels, severity); so one vendor-month holds about
41,700 decisions and 4,000 final contract inspections. The API runs in-process (the
Flask test client with a bearer token: routing, token check, tenant check, contract
lookup, SQL, JSON), warm; every one of the 24 vendor-months is asked for `rounds` times
in turn, on both sides.

    python -m bench metrics [-- --decisions N --rounds R --no-write]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, date, datetime

import sqlalchemy as sa

from bench import database_kinds, fresh_database, migrated_app, write_section

VENDORS = ("ALPHA", "BRAVO", "CHARLIE", "DELTA")
MONTHS = [date(2026, m, 1) for m in range(1, 7)]
AREAS = ("seller", "listing", "content", "ipr")
LABELS_PER_AREA = 20
RATIO_BUDGET = 1.5
SLACK_MS = 30.0
PG_CEILING_MS = 200.0


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def generate(decisions: int, vendor_ids: list[int], labels: dict[str, list[int]], inspector: int):
    """Rows of decisions, decision_labels, inspections and inspection_labels (ids given,
    so the tables can be loaded in bulk), deterministic."""
    rng = random.Random(4)  # noqa: S311 (test data)
    span = 181 * 24 * 3600  # 2026-01-01 .. 2026-06-30
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    d_rows, dl_rows, i_rows, il_rows = [], [], [], []
    inspection_id = 0
    for g in range(1, decisions + 1):
        vendor = vendor_ids[g % len(vendor_ids)]
        area = AREAS[rng.randrange(4)]
        reject = rng.random() < 0.27
        moment = datetime.fromtimestamp(start + (g * 7919 % decisions) * span / decisions, UTC)
        applied = []
        if reject:
            applied = [rng.choice(labels[area])]
            if rng.random() < 0.3:
                applied.append(rng.choice([x for x in labels[area] if x != applied[0]]))
        d_rows.append(
            (
                g,
                f"MB-{g:08d}",
                vendor,
                f"MOD-{vendor}-{rng.randrange(120):03d}",
                ("Manila", "Cebu", "Davao")[g % 3],
                ("US", "PH", "GB", "DE")[rng.randrange(4)],
                area,
                f"ITEM-{g}",
                "reject" if reject else "approve",
                moment,
            )
        )
        dl_rows.extend((g, p, label) for p, label in enumerate(applied))
        if g % 10:
            continue
        inspection_id += 1
        decision = "reject" if reject else "approve"
        expected, expected_labels = decision, list(applied)
        roll = rng.random()
        if roll < 0.03:  # the wrong decision
            expected = "approve" if reject else "reject"
            expected_labels = [] if reject else [rng.choice(labels[area])]
        elif roll < 0.06 and reject:  # the right decision, the wrong labels
            expected_labels = [rng.choice([x for x in labels[area] if x != applied[0]])]
        decision_match = expected == decision
        label_match = (
            (set(applied) == set(expected_labels)) if reject and expected == "reject" else None
        )
        correct = decision_match and label_match is not False
        severity = "none" if correct else rng.choice(("minor", "major", "major", "critical"))
        final = rng.random() < 0.95
        i_rows.append(
            (
                inspection_id,
                g,
                vendor,
                inspector,
                "final" if final else "draft",
                expected,
                severity,
                "",
                round(rng.uniform(55, 100), 1),
                correct,
                "contract" if rng.random() < 0.9 else "targeted",
                moment.date().replace(day=1),
                decision_match,
                label_match,
                1,
                moment,
                moment,
                moment if final else None,
            )
        )
        il_rows.extend((inspection_id, p, label) for p, label in enumerate(expected_labels))
    return d_rows, dl_rows, i_rows, il_rows


D_COLUMNS = (
    "id, external_id, vendor_id, moderator_id, site, market, policy_area, item_id, decision,"
    " decided_at"
)
I_COLUMNS = (
    "id, decision_id, vendor_id, inspector_id, status, expected_decision, severity, notes,"
    " rubric_score, correct, purpose, month, decision_match, label_match, version, created_at,"
    " updated_at, finalised_at"
)


def load(engine, decisions: int) -> dict:
    """Create vendors (with contracts), labels, a QA lead and the generated rows."""
    from app.extensions import db
    from app.models import Label, User, Vendor, VendorContract

    vendors = [Vendor(code=code, name=f"{code.title()} Moderation") for code in VENDORS]
    for vendor in vendors:
        vendor.contracts.append(
            VendorContract(
                effective_month=date(2025, 1, 1), accuracy_target=0.94, critical_error_cap=0.01
            )
        )
    lead = User(email="lead@bench.test", name="Bench Lead", role="qa_lead")
    label_rows = [
        Label(code=f"{area[:3].upper()}-B{k:02d}", name=f"{area} {k}", policy_area=area)
        for area in AREAS
        for k in range(LABELS_PER_AREA)
    ]
    db.session.add_all([*vendors, lead, *label_rows])
    db.session.commit()
    vendor_ids = [v.id for v in vendors]
    inspector = lead.id
    labels: dict[str, list[int]] = {}
    for label in label_rows:
        labels.setdefault(label.policy_area, []).append(label.id)
    db.session.remove()
    d_rows, dl_rows, i_rows, il_rows = generate(decisions, vendor_ids, labels, inspector)
    now = datetime.now(UTC)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            with raw.cursor() as cursor:
                _copy(
                    cursor,
                    "decisions",
                    D_COLUMNS + ", created_at, updated_at",
                    [(*r, now, now) for r in d_rows],
                )
                _copy(cursor, "decision_labels", "decision_id, position, label_id", dl_rows)
                _copy(cursor, "inspections", I_COLUMNS, i_rows)
                _copy(cursor, "inspection_labels", "inspection_id, position, label_id", il_rows)
                for table in ("decisions", "inspections"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                        f" (SELECT max(id) FROM {table}))"
                    )
            raw.commit()
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            stamp = now.replace(tzinfo=None).isoformat(sep=" ")
            cursor = raw.driver_connection.cursor()
            cursor.execute("BEGIN")
            cursor.executemany(
                f"INSERT INTO decisions ({D_COLUMNS}, created_at, updated_at)"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((*r[:9], _sqlite_time(r[9]), stamp, stamp) for r in d_rows),
            )
            cursor.executemany("INSERT INTO decision_labels VALUES (?, ?, ?)", dl_rows)
            cursor.executemany(
                f"INSERT INTO inspections ({I_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        *r[:11],
                        r[11].isoformat(),
                        *r[12:15],
                        _sqlite_time(r[15]),
                        _sqlite_time(r[16]),
                        _sqlite_time(r[17]) if r[17] else None,
                    )
                    for r in i_rows
                ),
            )
            cursor.executemany(
                "INSERT INTO inspection_labels (inspection_id, position, label_id)"
                " VALUES (?, ?, ?)",
                il_rows,
            )
            cursor.execute("COMMIT")
            cursor.execute("ANALYZE")
    finally:
        raw.close()
    return {"inspector": inspector, "inspections": len(i_rows), "decisions": len(d_rows)}


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _copy(cursor, table: str, columns: str, rows) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _raw_runner(url: str):
    """A function running the aggregate SQL through the bare driver, returning seconds."""
    from app.metrics.queries import vendor_month_sql

    url = sa.make_url(url)
    if url.get_backend_name() == "postgresql":
        import psycopg

        conn = psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
        )
        conn.execute("SET jit = off")  # as the portal runs the statement
        sql = (
            vendor_month_sql(postgres=True)
            .replace(":vendor_id", "%(vendor_id)s")
            .replace(":month", "%(month)s")
        )

        def run(vendor_id: int, month: date) -> float:
            began = time.perf_counter()
            conn.execute(sql, {"vendor_id": vendor_id, "month": month}).fetchall()
            return time.perf_counter() - began
    else:
        import sqlite3

        conn = sqlite3.connect(url.database)
        sql = vendor_month_sql(postgres=False)

        def run(vendor_id: int, month: date) -> float:
            began = time.perf_counter()
            conn.execute(sql, {"vendor_id": vendor_id, "month": month.isoformat()}).fetchall()
            return time.perf_counter() - began

    return run, conn


def run(kind: str, decisions: int, rounds: int) -> dict:
    from app.extensions import db
    from app.models import User, Vendor
    from app.tokens.services import create_token

    with fresh_database(kind) as url:
        app = migrated_app(url)
        with app.app_context():
            began = time.perf_counter()
            loaded = load(db.engine, decisions)
            print(
                f"  {kind}: loaded {loaded['decisions']:,} decisions and"
                f" {loaded['inspections']:,} inspections in {time.perf_counter() - began:.0f} s",
                flush=True,
            )
            lead = db.session.get(User, loaded["inspector"])
            _, token = create_token(lead, name="bench", scopes=["read"])
            db.session.commit()
            vendors = [(v.id, v.code) for v in db.session.scalars(sa.select(Vendor))]
            db.session.remove()
            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}
            raw, conn = _raw_runner(url)
            pairs = [(v, m) for v in vendors for m in MONTHS]
            sizes = []
            for (vendor_id, code), month in pairs:  # warm both sides
                raw(vendor_id, month)
                response = client.get(
                    f"/api/v1/vendors/{code}/metrics?month={month:%Y-%m}", headers=headers
                )
                assert response.status_code == 200, response.data[:300]
                sizes.append(response.get_json()["inspected"])
            raw_times, api_times = [], []
            for _ in range(rounds):
                for (vendor_id, code), month in pairs:
                    raw_times.append(raw(vendor_id, month))
                    began = time.perf_counter()
                    response = client.get(
                        f"/api/v1/vendors/{code}/metrics?month={month:%Y-%m}", headers=headers
                    )
                    api_times.append(time.perf_counter() - began)
                    assert response.status_code == 200
            conn.close()
            db.engine.dispose()
    raw_p95 = _p95(raw_times) * 1000
    api_p95 = _p95(api_times) * 1000
    return {
        "kind": kind,
        "decisions": loaded["decisions"],
        "inspections": loaded["inspections"],
        "per_month": statistics.median(sizes),
        "samples": len(api_times),
        "raw_p50": statistics.median(raw_times) * 1000,
        "raw_p95": raw_p95,
        "api_p50": statistics.median(api_times) * 1000,
        "api_p95": api_p95,
        "limit": RATIO_BUDGET * raw_p95 + SLACK_MS,
        "load": os.getloadavg()[0],
    }


def _verdict(r: dict) -> str:
    ok = r["api_p95"] <= r["limit"]
    if r["kind"] == "postgresql":
        ok = ok and r["api_p95"] <= PG_CEILING_MS
    return "within budget" if ok else "OVER BUDGET"


def report(results: list[dict]) -> str:
    lines = [
        "| database | decisions | inspections | final contract inspections per vendor-month"
        " | requests | raw SQL p50 / p95 | API p50 / p95 | budget (1.5x raw p95 + 30 ms"
        "; ≤ 200 ms on PostgreSQL) | verdict | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        limit = f"{r['limit']:.1f} ms" + (" / 200 ms" if r["kind"] == "postgresql" else "")
        lines.append(
            f"| {r['kind']} | {r['decisions']:,} | {r['inspections']:,} | {r['per_month']:,.0f}"
            f" | {r['samples']} | {r['raw_p50']:.1f} / {r['raw_p95']:.1f} ms"
            f" | {r['api_p50']:.1f} / {r['api_p95']:.1f} ms | {limit} | {_verdict(r)}"
            f" | {r['load']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench metrics")
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    results = [run(kind, args.decisions, args.rounds) for kind in database_kinds()]
    table = report(results)
    print(table)
    if not args.no_write:
        write_section(
            "Metrics",
            f"""
`GET /api/v1/vendors/<code>/metrics?month=` against the raw driver running the same
aggregate SQL, by `python -m bench metrics` (bench/metrics_bench.py) on
{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs. Every one of the 24 vendor-months
is asked for {args.rounds} times, in turn, on both sides, warm.

{table}

The data: {len(VENDORS)} vendors over 6 months, every tenth decision inspected (90%
contract, 10% targeted, 95% final, about 6% wrong). The API side includes routing, the
token and tenant checks, the contract in force, the statement and the JSON answer.

How it stays near the floor: inspections keep their decision's month, their purpose
and whether decision and labels matched, so a vendor-month is one range of the index
`ix_inspections_vendor_month`; one statement reads it once (a CTE, materialised) with
the decisions and primary labels joined by key, and groups it per figure, breakdown
and confusion cell (`app/metrics/queries.py`). No rollup tables are needed: there is
nothing to keep up to date when an inspection is finalised or corrected.
""",
        )
    return 1 if any(_verdict(r) != "within budget" for r in results) else 0
