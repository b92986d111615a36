"""Calendar months, the portal's unit of reporting: one parser for `YYYY-MM` with one
range of years, and the arithmetic every area needs (first and last day, next and
previous month, a run of months). Months are `date`s on their first day; their
bounds in time are UTC, as the metrics count them (DESIGN §3). Flask-free."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

# Months outside these years name nothing the portal holds; keeping them out also keeps
# look-backs and look-aheads inside the calendar.
FIRST_YEAR = 2000
LAST_YEAR = 2100
PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"  # for OpenAPI documents and HTML `pattern`
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
MESSAGE = "Enter the month as YYYY-MM, e.g. 2026-03."
RANGE_MESSAGE = f"Enter a real month between {FIRST_YEAR}-01 and {LAST_YEAR}-12."


def parse(text: str | None, *, latest: date | None = None) -> date:
    """The first day of the month written `YYYY-MM`; ValueError (with a message a user
    can act on) when the text is not a month in the portal's range of years, or comes
    after `latest` (e.g. `current()`, for months whose data is asked for: nothing has
    happened in a month that has not begun)."""
    match = _MONTH.fullmatch((text or "").strip())
    if match is None:
        raise ValueError(MESSAGE)
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(RANGE_MESSAGE)
    first = date(year, month, 1)
    if latest is not None and first > latest:
        raise ValueError(after_message(first, latest))
    return first


def after_message(month: date, latest: date) -> str:
    """What a user reads when they ask for a month after the current one."""
    return f"Month {label(month)} is after the current month ({label(latest)})."


def from_text(text: str | None) -> date | None:
    """Like `parse`, but None when the text is not a month (for lenient query filters)."""
    try:
        return parse(text)
    except ValueError:
        return None


def first_day(value: date | datetime) -> date:
    """The month `value` falls in, as its first day."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def last_day(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def bounds(month: date) -> tuple[datetime, datetime]:
    """The month as a half-open UTC interval [start, end)."""
    first = first_day(month)
    return as_utc(first), as_utc(next_month(first))


def as_utc(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def current(today: date | None = None) -> date:
    """The current month (UTC)."""
    return first_day(today or datetime.now(UTC).date())


def last_closed(today: date | None = None) -> date:
    """The latest month that has ended: the one a business review looks at."""
    return previous_month(current(today))


def back(month: date, count: int) -> list[date]:
    """`count` months ending with `month`, oldest first."""
    months = [first_day(month)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]


def between(first: date, last: date, limit: int | None = None) -> list[date]:
    """The months from `last` back to `first` (both included), newest first, at most
    `limit` of them."""
    months: list[date] = []
    month, stop = first_day(last), first_day(first)
    while month >= stop and (limit is None or len(months) < limit):
        months.append(month)
        month = previous_month(month)
    return months


def label(month: date | None) -> str:
    """`YYYY-MM`, or a dash for no month."""
    return month.strftime("%Y-%m") if month else "—"


def name(month: date | None) -> str:
    """The month in words, `November 2026`, or a dash for no month."""
    return month.strftime("%B %Y") if month else "—"
