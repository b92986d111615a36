"""Public numbers of the objects vendor users see: decisions, samples, sample items,
inspections and jobs (DESIGN §1: vendors see nothing of other vendors, and that
includes how much work the portal does for them).

Database ids are one sequence per table across every vendor: a vendor that saw its
inspection #1040 and, a week later, #1310 would know that 269 inspections were made
in between, most of them of other vendors. So no page, API answer, cursor, file or
message shows such an id. They show the object's *public number* instead: the id put
through a keyed permutation of 1 … 2**30 - 1 (a balanced Feistel network whose round
function is keyed BLAKE2b). The permutation is one-to-one, so a public number names
exactly one row and needs no column of its own; without the key, consecutive rows get
numbers that say nothing about each other.

The key is PUBLIC_ID_KEY, or one derived from SECRET_KEY when it is not set (setting
it lets SECRET_KEY rotate without renumbering links that people have kept).

In URLs the `<ref:...>` converter turns public numbers into ids and back, so
`url_for` and the routes work with ids; templates show `obj|ref`; API answers use
`public_id`.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from werkzeug.routing import BaseConverter, ValidationError

HALF_BITS = 15
HALF_MASK = (1 << HALF_BITS) - 1
LIMIT = 1 << (2 * HALF_BITS)  # ids and public numbers are 1 … LIMIT - 1
ROUNDS = 4


def _keys() -> tuple[bytes, ...]:
    """The round keys of the current app, derived once per app."""
    keys = current_app.extensions.get("public_id_keys")
    if keys is None:
        base = current_app.config.get("PUBLIC_ID_KEY") or current_app.config["SECRET_KEY"]
        root = hmac.new(base.encode(), b"public ids v1", hashlib.sha256).digest()
        keys = tuple(hmac.new(root, bytes([n]), hashlib.sha256).digest() for n in range(ROUNDS))
        current_app.extensions["public_id_keys"] = keys
    return keys


def _round(key: bytes, half: int) -> int:
    digest = hashlib.blake2b(half.to_bytes(2, "big"), key=key, digest_size=4).digest()
    return int.from_bytes(digest, "big") & HALF_MASK


def _forward(value: int, keys) -> int:
    left, right = value >> HALF_BITS, value & HALF_MASK
    for key in keys:
        left, right = right, left ^ _round(key, right)
    return (left << HALF_BITS) | right


def _backward(value: int, keys) -> int:
    left, right = value >> HALF_BITS, value & HALF_MASK
    for key in reversed(keys):
        left, right = right ^ _round(key, left), left
    return (left << HALF_BITS) | right


def public_id(object_id: int) -> int:
    """The public number of the row with this id."""
    if not 0 < object_id < LIMIT:
        raise ValueError(f"id {object_id} is outside 1..{LIMIT - 1}")
    keys = _keys()
    number = _forward(object_id, keys)
    while number == 0:  # cycle-walk: 0 is neither an id nor a public number
        number = _forward(number, keys)
    return number


def internal_id(number: int) -> int | None:
    """The id of the row whose public number this is, or None when it can be none."""
    if not 0 < number < LIMIT:
        return None
    keys = _keys()
    value = _backward(number, keys)
    while value == 0:
        value = _backward(value, keys)
    return value


def parse_public_id(raw) -> int | None:
    """The id named by a public number typed by a user (query argument, CLI, form)."""
    text = str(raw).strip().lstrip("#") if raw is not None else ""
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    return internal_id(int(text))


def ref(obj) -> int | None:
    """Template filter: the public number of an object (or of an id)."""
    if obj is None:
        return None
    return public_id(obj if isinstance(obj, int) else obj.id)


class PublicIdConverter(BaseConverter):
    """`<ref:...>` in URLs: a public number in the URL, the row's id in the view."""

    regex = r"[1-9][0-9]{0,9}"

    def to_python(self, value: str) -> int:
        object_id = internal_id(int(value))
        if object_id is None:
            raise ValidationError()
        return object_id

    def to_url(self, value) -> str:
        return str(public_id(int(value)))


# Audit events keep the row's id (it outlives any key); pages show the public number.
PUBLIC_OBJECT_TYPES = frozenset({"decision", "sample", "sample_item", "inspection", "job"})


def object_ref(object_type: str, object_id) -> str:
    """How an audited object is named on a page: its public number when it has one."""
    if object_type in PUBLIC_OBJECT_TYPES and str(object_id or "").isdigit():
        object_id_int = int(object_id)
        if 0 < object_id_int < LIMIT:
            return str(public_id(object_id_int))
    return "" if object_id is None else str(object_id)


def object_id_of(object_type: str, typed: str) -> str:
    """The stored object id that a number typed into the audit filter names."""
    if object_type in PUBLIC_OBJECT_TYPES:
        object_id = parse_public_id(typed)
        return "" if object_id is None else str(object_id)
    return typed
