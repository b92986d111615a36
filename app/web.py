"""Helpers shared by the page routes: the one shape of a route that changes something
(`run_service`), paging, ids and choices from user input, and showing a service's
validation errors on a form."""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import Request, current_app, flash, request
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import BaseConverter, IntegerConverter
from werkzeug.utils import cached_property

from app.errors import Conflict, DomainError
from app.extensions import db
from app.validation import CONTROL_MESSAGE, TEXT_WHITESPACE, has_control_characters

# Ids are 32-bit integers on every database; a larger number names nothing (and
# PostgreSQL would refuse to compare it with an integer column).
MAX_ID = 2**31 - 1
MAX_PAGE = 1_000_000


class BoundedIntConverter(IntegerConverter):
    """`<id:...>` in URLs: a positive integer no larger than an id column can hold;
    anything larger is simply not found (404) instead of a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class KeyConverter(BaseConverter):
    """`<key:...>` in URLs: a text identifier (a vendor code, an external id) without
    control characters or slashes. A NUL or other control character names nothing the
    portal stores (PostgreSQL would even refuse to compare one), so such a URL is simply
    not found, before any database is asked."""

    regex = r"[^/\x00-\x1f\x7f]+"


def parse_id(raw) -> int | None:
    """A positive database id from user input, or None when it cannot be one."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


def arg_choice(name: str, allowed: Container[str], default: str) -> str:
    """The query argument `name` when it is one of `allowed`, else `default`: a stale or
    hand-edited link shows the default list instead of failing."""
    value = request.args.get(name, default)
    return value if value in allowed else default


def page_number() -> int:
    """The `page` query argument, kept within what a database OFFSET can take."""
    return min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)


def paginate(stmt, per_page: int | None = None):
    """One page of `stmt` for the current request's `page` argument."""
    return db.paginate(
        stmt,
        page=page_number(),
        per_page=per_page or current_app.config["PAGE_SIZE"],
        error_out=False,
    )


def apply_errors(form: FlaskForm, err: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Show a service error on the form fields it names; flash what names no field."""
    details = err.details
    if isinstance(details, dict):
        details = [details]
    problems = [d for d in details or [] if isinstance(d, dict)] or [{"message": err.message}]
    for problem in problems:
        name = problem.get("field") or ""
        name = (aliases or {}).get(name, name)
        field = form[name] if name and name in form else None
        message = problem.get("message") or err.message
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            flash(message, "danger")


class PortalRequest(Request):
    """Query arguments without NUL characters: no database stores one in text
    (PostgreSQL refuses it outright), and in a filter or search box it is noise."""

    @cached_property
    def args(self) -> ImmutableMultiDict:
        return ImmutableMultiDict(
            (key.replace("\x00", ""), value.replace("\x00", ""))
            for key, value in super().args.items(multi=True)
        )


class BaseForm(FlaskForm):
    """Every page form: text with control characters (other than tabs and line breaks)
    is refused on its field; PostgreSQL would not even store a NUL."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and has_control_characters(field.data, TEXT_WHITESPACE):
                field.errors = [*field.errors, CONTROL_MESSAGE]
                valid = False
        return valid


T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """What `run_service` did: the service's result, or the domain error it raised."""

    value: T | None = None
    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> int:
        """The status a page answers with when it shows the form again."""
        if self.error is None:
            return 200
        return 409 if isinstance(self.error, Conflict) else 400


def run_service(
    call: Callable[[], T],
    *,
    form: FlaskForm | None = None,
    aliases: dict[str, str] | None = None,
    commit: bool = True,
) -> Outcome[T]:
    """Run a service call as one unit of work: commit when it succeeds; when it raises a
    domain error, roll back (so nothing it did is kept) and show the error on `form`'s
    fields (or flash it when there is no form). Every route that changes something goes
    through here."""
    try:
        value = call()
    except DomainError as err:
        db.session.rollback()
        if form is not None:
            apply_errors(form, err, aliases)
        else:
            flash(err.message, "danger")
        return Outcome(error=err)
    if commit:
        db.session.commit()
    return Outcome(value=value)
