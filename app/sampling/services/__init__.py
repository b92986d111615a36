"""Sampling operations (DESIGN §4), one module per responsibility:

- `checks`: the checks on a draw's or a plan's parameters, and their limits;
- `draws`: the size preview, drawing a sample (ad hoc or from a plan);
- `items`: work on an open sample: assigning, reassigning and skipping items (with a
  reproducible replacement), closing and cancelling;
- `plans`: creating and changing sampling plans;
- `verification`: re-deriving a draw independently (`flask samples verify`).

Each operation validates its input, flushes and writes its audit event; the caller
commits once. The algorithm itself is `app/sampling/algorithm.py`; `population.py`
runs it in the database; reads are in `app/sampling/queries.py`.

The operations are importable from here too (`services.draw_sample(...)`), for callers
that use several of them (the demo data, the tests).
"""

from app.sampling.services.checks import (
    DEFAULT_STRATA,
    MAX_CONFIDENCE,
    MAX_INSPECTORS,
    MAX_MARGIN,
    MAX_REASON_LENGTH,
    MAX_SEED_LENGTH,
    MAX_SIZE,
    MAX_WEIGHT,
    MIN_CONFIDENCE,
    MIN_MARGIN,
    STRATUM_FIELD_NAMES,
    STRATUM_FIELDS,
    inspectors_by_email,
)
from app.sampling.services.draws import (
    Preview,
    draw_from_plan,
    draw_sample,
    items_digest,
    preview,
    sample_state,
)
from app.sampling.services.items import (
    assign_round_robin,
    cancel_sample,
    close_sample,
    reassign_item,
    skip_item,
)
from app.sampling.services.plans import create_plan, update_plan
from app.sampling.services.verification import Verification, verify_sample

__all__ = [
    "DEFAULT_STRATA",
    "MAX_CONFIDENCE",
    "MAX_INSPECTORS",
    "MAX_MARGIN",
    "MAX_REASON_LENGTH",
    "MAX_SEED_LENGTH",
    "MAX_SIZE",
    "MAX_WEIGHT",
    "MIN_CONFIDENCE",
    "MIN_MARGIN",
    "STRATUM_FIELDS",
    "STRATUM_FIELD_NAMES",
    "Preview",
    "Verification",
    "assign_round_robin",
    "cancel_sample",
    "close_sample",
    "create_plan",
    "draw_from_plan",
    "draw_sample",
    "inspectors_by_email",
    "items_digest",
    "preview",
    "reassign_item",
    "sample_state",
    "skip_item",
    "update_plan",
    "verify_sample",
]
