"""The decisions exchange format (DESIGN §8, §11): the field names that the API takes
and gives, that a CSV file to import has as its header and that an export writes, and
the limits on their values. Flask-free."""

from __future__ import annotations

# The API field names, in the order a CSV file (import or export) lists them.
FIELDS = (
    "external_id",
    "vendor",
    "moderator_id",
    "site",
    "market",
    "policy_area",
    "item_id",
    "item_url",
    "context",
    "decision",
    "labels",
    "decided_at",
)
OPTIONAL_FIELDS = ("item_url", "context", "labels")
REQUIRED_FIELDS = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)
# Column lengths of the decisions table.
MAX_LENGTHS = {
    "external_id": 128,
    "moderator_id": 64,
    "site": 64,
    "market": 32,
    "item_id": 128,
    "item_url": 2048,
}
MAX_CONTEXT_BYTES = 8 * 1024
MAX_API_ROWS = 10_000
