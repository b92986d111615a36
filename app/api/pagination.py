"""Cursor pagination shared by every API list: `{"items": [...], "next_cursor": ...}`.

A list is read in a fixed order of sort columns ending with a unique one (the id), so
the order is total and stable. A page ends with an opaque cursor naming the last row's
sort values; the next page starts strictly after them (keyset pagination). Unlike an
offset, a cursor neither skips nor repeats rows when rows are added meanwhile, and
the database seeks straight to the page instead of counting past the earlier ones.

Cursors are signed with the application's secret key (and the list's name), so a
cursor that was altered, truncated or made for another list is refused with a 422
naming the `cursor` argument instead of reaching the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from marshmallow import Schema, fields, validate
from sqlalchemy.types import TypeDecorator

from app.errors import ValidationFailed
from app.extensions import db
from app.security.public_ids import internal_id, public_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A cursor holds a few short values; anything much longer was not made here.
MAX_CURSOR_LENGTH = 1000
BAD_CURSOR = "This cursor is not valid: pass back the next_cursor of the previous page unchanged."


class PageArgsSchema(Schema):
    """The query arguments of every list: `limit` and `cursor`. Filters subclass it."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"},
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH),
        metadata={"description": "The next_cursor of the previous page; omit for the first"},
    )


_PAGE_SCHEMAS: dict[type[Schema], type[Schema]] = {}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The schema of one page of `item_schema` objects (named e.g. `VendorPage` in the
    OpenAPI document), so the document shows what the items are."""
    if item_schema not in _PAGE_SCHEMAS:
        noun = item_schema.__name__.removesuffix("Schema")
        _PAGE_SCHEMAS[item_schema] = type(
            f"{noun}PageSchema",
            (Schema,),
            {
                "__doc__": f"One page of a list of {noun} objects.",
                "items": fields.List(fields.Nested(item_schema), required=True),
                "next_cursor": fields.String(
                    required=True,
                    allow_none=True,
                    metadata={"description": "Pass as `cursor` for the next page; null at the end"},
                ),
            },
        )
    return _PAGE_SCHEMAS[item_schema]


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None


@dataclass(frozen=True)
class Keyset:
    """The order of one list: `columns` ascending, the last one unique (an id)."""

    name: str
    columns: tuple[Any, ...]

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"api-cursor:{self.name}")

    def encode(self, values: Sequence[Any]) -> str:
        # A cursor is signed, not encrypted: ids in it are public numbers, like
        # everywhere else a client sees one.
        plain = [
            v.isoformat()
            if isinstance(v, datetime)
            else public_id(v)
            if isinstance(v, int) and not isinstance(v, bool)
            else v
            for v in values
        ]
        return self._serializer().dumps(plain)

    def decode(self, cursor: str) -> tuple[Any, ...]:
        """The sort values a cursor names; ValidationFailed when it was not made here."""
        try:
            plain = self._serializer().loads(cursor)
        except (BadData, UnicodeError, ValueError):
            plain = None
        if not isinstance(plain, list) or len(plain) != len(self.columns):
            raise _bad_cursor()
        return tuple(_value(column, raw) for column, raw in zip(self.columns, plain, strict=True))

    def after(self, stmt: sa.Select, cursor: str | None) -> sa.Select:
        """`stmt` in this order, starting after the row `cursor` names (if any)."""
        stmt = stmt.order_by(*self.columns)
        if cursor is None:
            return stmt
        values = self.decode(cursor)
        bound = [sa.literal(v, type_=c.type) for c, v in zip(self.columns, values, strict=True)]
        if len(self.columns) == 1:
            return stmt.where(self.columns[0] > bound[0])
        # A row-value comparison, which both databases answer from a matching index.
        return stmt.where(sa.tuple_(*self.columns) > sa.tuple_(*bound))


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(BAD_CURSOR, [{"field": "cursor", "message": BAD_CURSOR}])


def _value(column, raw):
    """A decoded cursor value, checked against the type of its column."""
    type_ = column.type
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    kind = type_.python_type
    if kind is datetime:
        if isinstance(raw, str):
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                value = None
            if value is not None and value.tzinfo is not None:
                return value
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            object_id = internal_id(raw)
            if object_id is not None:
                return object_id
    elif kind is str and isinstance(raw, str):
        return raw
    raise _bad_cursor()


def paginate(stmt: sa.Select, keyset: Keyset, *, limit: int, cursor: str | None) -> Page:
    """One page of `stmt`'s rows (which must select the keyset's columns) in the
    keyset's order: at most `limit` rows and the cursor of the next page, if any."""
    rows = db.session.execute(keyset.after(stmt, cursor).limit(limit + 1)).all()
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    last = rows[-1]._mapping
    return Page(rows, keyset.encode([last[column] for column in keyset.columns]))


def page_body(items: list, page: Page) -> dict:
    """The answer of a list endpoint."""
    return {"items": items, "next_cursor": page.next_cursor}
