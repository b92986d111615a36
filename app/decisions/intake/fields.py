"""The decisions exchange format (DESIGN §8, §11): the field names that the API takes
and gives, that a CSV file to import has as its header and that an export writes, and
the limits on their values. Flask-free."""

from __future__ import annotations

from app.models.enums import DECISIONS, POLICY_AREAS

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
# What each field holds, in words (the import page and the API reference show them).
FIELD_HELP = {
    "external_id": "Your id of the decision; sending a row with the same id again updates it.",
    "vendor": "The vendor's code, e.g. ACME.",
    "moderator_id": "The vendor's id of the moderator who decided.",
    "site": "The site the moderator works at, e.g. Manila.",
    "market": "The market of the item, e.g. US.",
    "policy_area": f"One of {', '.join(POLICY_AREAS)}.",
    "item_id": "The id of the moderated item.",
    "item_url": "A link to the item (http or https).",
    "context": "A JSON object of extra facts shown to inspectors.",
    "decision": f"One of {', '.join(DECISIONS)}.",
    "labels": "Label codes separated by |, the primary label first; a reject needs one,"
    " an approve has none.",
    "decided_at": "When it was decided: ISO 8601 with a UTC offset, e.g."
    " 2026-03-01T14:05:00+08:00.",
}
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
