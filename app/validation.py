"""Checks shared by services and forms: control characters, codes, numbers, time zones
and holiday countries, and the field problems a service raises.

These answer a question (is this a known time zone?); each caller words its own
message, so that the pages keep saying what they always said.
"""

from __future__ import annotations

import math
import re
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import holidays

from app.errors import ValidationFailed

# Problems ----------------------------------------------------------------------------


def problem(field: str, message: str) -> dict:
    """One field problem, as ValidationFailed details carry it."""
    return {"field": field, "message": message}


def raise_problems(problems: list[dict]) -> None:
    """Raise ValidationFailed naming the first problem, when there are any."""
    if problems:
        raise ValidationFailed(problems[0]["message"], problems)


# Text ---------------------------------------------------------------------------------

CONTROL_MESSAGE = "Remove the control characters."
# Tabs and line breaks are fine in free text (descriptions, notes), not in a name.
TEXT_WHITESPACE = "\t\n\r"


def has_control_characters(text: str, allowed: str = "") -> bool:
    """Whether `text` holds a C0 control character or DEL other than those in `allowed`.
    PostgreSQL would not even store a NUL."""
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text)


def normalise_code(code: str | None) -> str:
    """A code (vendor, label) as stored: trimmed and upper-case."""
    return (code or "").strip().upper()


def plain_text(value) -> bool:
    """Text a database can store and compare: encodable, without control characters."""
    if not isinstance(value, str) or has_control_characters(value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Numbers ------------------------------------------------------------------------------


def number(value) -> float | None:
    """A finite number from user input (text or a number), or None when it is not one
    (empty, a bool, infinite or NaN)."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


# Time zones ---------------------------------------------------------------------------


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name the server knows, sorted."""
    return tuple(sorted(available_timezones()))


@cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str | None) -> bool:
    """Whether `name` is an IANA time zone name the server knows."""
    return name in _time_zone_names()


def zone_or_utc(name: str | None) -> ZoneInfo:
    """The time zone called `name`, or UTC when there is none by that name."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


# Holiday countries --------------------------------------------------------------------


@cache
def holiday_countries() -> dict[str, str]:
    """Country codes the holiday calendar supports (alpha-2 and alpha-3) → a display name."""
    names: dict[str, str] = {}
    try:  # the registry is where the library keeps its country names
        from holidays.registry import COUNTRIES

        for class_name, alpha2, *_ in COUNTRIES.values():
            names[alpha2] = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)
    except (ImportError, ValueError):  # pragma: no cover - older library layouts
        pass
    aliases = _alpha3_to_alpha2()  # accepted as input, but offer each country once
    return {
        code: names.get(code, code)
        for code in sorted(holidays.list_supported_countries())
        if code not in aliases
    }


@cache
def _alpha3_to_alpha2() -> dict[str, str]:
    try:
        from holidays.registry import COUNTRIES

        return {entry[2]: entry[1] for entry in COUNTRIES.values() if len(entry) > 2}
    except (ImportError, ValueError, IndexError):  # pragma: no cover
        return {}


def holiday_country_code(code: str) -> str | None:
    """The alpha-2 code of a country the holiday calendar supports (given as alpha-2 or
    alpha-3, upper-case), or None when it has no calendar for it."""
    if code not in holidays.list_supported_countries():
        return None
    return _alpha3_to_alpha2().get(code, code)
