"""The audit chain as its tests see it: the head row, and committed events to check."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.labels.services import create_label
from app.models import AuditChainHead

HEAD = AuditChainHead.__table__


def chain_head() -> tuple[int, str]:
    """The chain head row: (seq, last hash)."""
    return db.session.execute(sa.select(HEAD.c.seq, HEAD.c.last_hash).where(HEAD.c.id == 1)).one()


def append_events(n: int, prefix: str = "T") -> list[int]:
    """Commit `n` audited label creations; return their event seqs."""
    first = chain_head()[0] + 1
    for i in range(n):
        create_label(code=f"{prefix}-{i:03d}", name=f"Chain {i}", policy_area="listing")
        db.session.commit()
    return list(range(first, first + n))
