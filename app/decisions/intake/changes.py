"""What an import can only tell once every row is staged, answered in SQL: an
external_id sent more than once, which staged rows change a stored decision, and which
would change what QA already judged (a sampled or inspected decision keeps its decision,
labels, vendor and time). Then the update of the changed decisions, with their
before/after for the audit, and the digest of the created ones."""

# The SQL below is assembled from constant fragments and generated temporary table
# names only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.decisions.intake.staging import PLAIN_COLUMNS, SQLITE_CANONICAL_JSON, Staging, db_time
from app.decisions.intake.validation import show

# A problem with a staged row: (row position, field, message).
Problem = tuple[int, str, str]

# What a sampled or inspected decision may no longer change.
PROTECTED = ("decision", "labels", "vendor", "decided_at")
_SQLITE_BATCH = 5_000
_SAMPLED = (
    "(d.id IN (SELECT si.decision_id FROM sample_items si)"
    " OR d.id IN (SELECT i.decision_id FROM inspections i))"
)
# The columns compared as they are, in the order `_before_after` reads them.
_PLAIN = (*PLAIN_COLUMNS, "decision")


def repeats(
    s: Staging, candidates: set[str], cap: int, where: Callable[[int], str]
) -> tuple[int, list[Problem]]:
    """Every later occurrence of an external_id among `candidates` (the ids that may
    repeat), naming the first (`where(pos)` words a position): how many there are, and
    the first `cap` of them in row order."""
    s.temp_table(s.cands_table, "external_id text PRIMARY KEY")
    insert = sa.text(f"INSERT INTO {s.cands_table} (external_id) VALUES (:e)")
    batch = []
    for external_id in candidates:
        batch.append({"e": external_id})
        if len(batch) >= _SQLITE_BATCH:
            s.conn.execute(insert, batch)
            batch = []
    if batch:
        s.conn.execute(insert, batch)
    repeated = f"""
        WITH firsts AS (
            SELECT s.external_id, MIN(s.pos) AS first_pos
            FROM {s.stage} s JOIN {s.cands_table} c ON c.external_id = s.external_id
            GROUP BY s.external_id
        )
        SELECT {{columns}}
        FROM {s.stage} s JOIN firsts f ON f.external_id = s.external_id
        WHERE s.pos > f.first_pos
    """
    total = s.exec(repeated.format(columns="count(*)")).scalar_one()
    if not total:
        return 0, []
    found = s.exec(
        repeated.format(columns="s.pos, s.external_id, f.first_pos") + " ORDER BY s.pos LIMIT :cap",
        {"cap": cap},
    ).all()
    return total, [
        (
            pos,
            "external_id",
            f"{show(external_id)} appears more than once; first at {where(first)}.",
        )
        for pos, external_id, first in found
    ]


# Comparing staged rows with the stored decisions -------------------------------------


def _labels_now(s: Staging) -> str:
    """SQL: the decision's current labels as its staging key ("3|7", primary first)."""
    if s.pg:
        return (
            "COALESCE((SELECT string_agg(CAST(dl.label_id AS text), '|' ORDER BY dl.position)"
            " FROM decision_labels dl WHERE dl.decision_id = d.id), '')"
        )
    return (
        "COALESCE((SELECT group_concat(x.label_id, '|') FROM (SELECT dl.label_id"
        " FROM decision_labels dl WHERE dl.decision_id = d.id ORDER BY dl.position) x), '')"
    )


def _labels_changed(s: Staging) -> str:
    # Most rows have no labels: for those an index probe answers, no aggregate needed.
    return (
        "(CASE WHEN s.label_key = '' THEN EXISTS (SELECT 1 FROM decision_labels x"
        f" WHERE x.decision_id = d.id) ELSE s.label_key <> {_labels_now(s)} END)"
    )


def _protected_changes(s: Staging) -> dict[str, str]:
    """SQL per protected field: the staged row `s` changes it on the decision `d`."""
    return {
        "decision": "s.decision <> d.decision",
        "labels": _labels_changed(s),
        "vendor": "s.vendor_id <> d.vendor_id",
        "decided_at": "s.decided_at <> d.decided_at",
    }


def _changed(s: Staging) -> str:
    """SQL: the staged row `s` differs from the stored decision `d`. Cheap column
    comparisons come first; the labels (a subquery) last."""
    distinct = "IS DISTINCT FROM" if s.pg else "IS NOT"
    if s.pg:
        stored = "NULLIF(CAST(d.context AS text), 'null')"
        same_json = f"CAST(s.context AS jsonb) = CAST({stored} AS jsonb)"
    else:
        stored = "NULLIF(d.context, 'null')"
        same_json = f"{SQLITE_CANONICAL_JSON}(s.context) = {SQLITE_CANONICAL_JSON}({stored})"
    # JSON null and SQL NULL both mean "no context"; equal text needs no parsing.
    context_same = (
        f"(CASE WHEN s.context IS NULL THEN {stored} IS NULL"
        f" WHEN {stored} IS NULL THEN false"
        f" WHEN s.context = {stored} THEN true ELSE {same_json} END)"
    )
    protected = _protected_changes(s)
    return (
        "(s.vendor_id <> d.vendor_id OR s.decision <> d.decision"
        " OR s.decided_at <> d.decided_at OR s.policy_area <> d.policy_area"
        " OR s.moderator_id <> d.moderator_id OR s.site <> d.site OR s.market <> d.market"
        f" OR s.item_id <> d.item_id OR s.item_url {distinct} NULLIF(d.item_url, '')"
        f" OR NOT {context_same} OR {protected['labels']})"
    )


def _matched_rows(s: Staging) -> str:
    """SQL FROM clause: staged rows `s` matching a stored decision `d`."""
    return (
        f"{s.matched_table} m JOIN {s.stage} s ON s.pos = m.pos"
        " JOIN decisions d ON d.id = m.decision_id"
    )


def classify(s: Staging) -> tuple[int, int]:
    """(updated, refused): rows changing a stored decision, and rows changing what
    a sampled or inspected decision may no longer change."""
    protected = " OR ".join(_protected_changes(s).values())
    updated, refused = s.exec(
        f"""
        SELECT count(*) FILTER (WHERE {_changed(s)}),
               count(*) FILTER (WHERE {_SAMPLED} AND ({protected}))
        FROM {_matched_rows(s)}
        """
    ).one()
    return updated, refused


def refusals(s: Staging, cap: int) -> list[Problem]:
    """The first `cap` rows, in row order, that change what a sampled or inspected
    decision may no longer change."""
    changes = _protected_changes(s)
    flags = ", ".join(f"({sql})" for sql in changes.values())
    protected = " OR ".join(changes.values())
    found = s.exec(
        f"""
        SELECT s.pos, d.id IN (SELECT i.decision_id FROM inspections i), {flags}
        FROM {_matched_rows(s)}
        WHERE {_SAMPLED} AND ({protected})
        ORDER BY s.pos LIMIT :cap
        """,
        {"cap": cap},
    ).all()
    problems = []
    for pos, inspected, *changed in found:
        fields = [name for name, flag in zip(PROTECTED, changed, strict=True) if flag]
        state = "inspected" if inspected else "in a sample"
        message = f"This decision is already {state}; its {', '.join(fields)} cannot change."
        problems.append((pos, fields[0], message))
    return problems


# Writing -----------------------------------------------------------------------------


def update(s: Staging, session: Session) -> list[dict]:
    """Update the changed decisions; returns their before/after for the audit."""
    now = db_time(datetime.now(UTC), not s.pg)
    context = "CAST(x.context AS json)" if s.pg else "x.context"
    s.temp_table(s.changed_table, "pos bigint NOT NULL, decision_id integer NOT NULL")
    s.exec(
        f"""
        INSERT INTO {s.changed_table} (pos, decision_id)
        SELECT s.pos, d.id FROM {_matched_rows(s)}
        WHERE {_changed(s)}
        """
    )
    audit_rows = _before_after(s, session)
    s.exec(
        "DELETE FROM decision_labels WHERE decision_id IN"
        f" (SELECT c.decision_id FROM {s.changed_table} c)"
    )
    s.exec(
        f"""
        UPDATE decisions SET vendor_id = x.vendor_id, moderator_id = x.moderator_id,
            site = x.site, market = x.market, policy_area = x.policy_area,
            item_id = x.item_id, item_url = x.item_url, context = {context},
            decision = x.decision, decided_at = x.decided_at, updated_at = :now
        FROM (SELECT c.decision_id, s.vendor_id, s.moderator_id, s.site, s.market,
                     s.policy_area, s.item_id, s.item_url, s.context, s.decision,
                     s.decided_at
              FROM {s.changed_table} c JOIN {s.stage} s ON s.pos = c.pos) x
        WHERE decisions.id = x.decision_id
        """,
        {"now": now},
    )
    s.exec(
        f"""
        INSERT INTO decision_labels (decision_id, position, label_id)
        SELECT c.decision_id, {s.label_items("s")}
        FROM {s.changed_table} c JOIN {s.stage} s ON s.pos = c.pos
             {s.expand_labels("s")}
        WHERE s.label_key <> ''
        """
    )
    return audit_rows


def created_digest(s: Staging) -> str:
    """The digest of the decisions an import created, for its audit event: SHA-256
    (lowercase hex) of their external ids sorted by code point, joined with "\\n", as
    UTF-8 (the population digest of DESIGN §4, over the created ids). PostgreSQL computes
    it where the rows are; SQLite's are streamed in batches. Memory stays flat however
    many rows were created."""
    created = (
        f"FROM {s.stage} s WHERE s.ok AND NOT EXISTS"
        f" (SELECT 1 FROM {s.matched_table} m WHERE m.pos = s.pos)"
    )
    if s.pg:
        # COLLATE "C" orders by the bytes of UTF-8: code point order.
        return s.conn.execute(
            sa.text(
                "SELECT encode(sha256(convert_to(coalesce(string_agg(s.external_id, E'\\n'"
                f" ORDER BY s.external_id COLLATE \"C\"), ''), 'UTF8')), 'hex') {created}"
            )
        ).scalar_one()
    rows = s.conn.execute(sa.text(f"SELECT s.external_id {created} ORDER BY s.external_id"))
    digest = hashlib.sha256()
    separator = b""
    for part in rows.scalars().partitions(_SQLITE_BATCH):
        digest.update(separator + "\n".join(part).encode("utf-8"))
        separator = b"\n"
    return digest.hexdigest()


def _before_after(s: Staging, session: Session) -> list[dict]:
    """Before/after of each updated decision, in row order, for the audit event."""
    from app.models import Label, Vendor

    vendor_codes = dict(session.execute(sa.select(Vendor.id, Vendor.code)).all())
    label_codes = dict(session.execute(sa.select(Label.id, Label.code)).all())

    def state(external_id, vendor_id, values, context, decided_at, label_key) -> dict:
        moderator_id, site, market, area, item_id, url, decision = values
        return {
            "external_id": external_id,
            "vendor": vendor_codes.get(vendor_id),
            "moderator_id": moderator_id,
            "site": site,
            "market": market,
            "policy_area": area,
            "item_id": item_id,
            "item_url": url or None,
            "context": _as_json(context),
            "decision": decision,
            "labels": [label_codes.get(int(i)) for i in label_key.split("|") if i],
            "decided_at": _as_utc(decided_at).isoformat(),
        }

    stored = ", ".join(f"d.{c}" for c in _PLAIN)
    staged = ", ".join(f"s.{c}" for c in _PLAIN)
    rows = []
    for row in s.exec(
        f"""
        SELECT d.id, d.external_id, d.vendor_id, {stored}, d.context, d.decided_at,
               {_labels_now(s)}, s.vendor_id, {staged}, s.context, s.decided_at,
               s.label_key
        FROM {s.changed_table} c JOIN {s.stage} s ON s.pos = c.pos
             JOIN decisions d ON d.id = c.decision_id
        ORDER BY s.pos
        """
    ):
        decision_id, external_id, vendor_id = row[0], row[1], row[2]
        before = state(external_id, vendor_id, row[3:10], row[10], row[11], row[12])
        after = state(external_id, row[13], row[14:21], row[21], row[22], row[23])
        rows.append(
            {
                "object_type": "decision",
                "object_id": decision_id,
                "before": before,
                "after": after,
            }
        )
    return rows


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        value = json.loads(value)
    return value
