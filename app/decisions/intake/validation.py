"""Checking one decision row: pure validation and normalisation of the values an API
request or a CSV file sends, against reference data (vendors, labels) held in dicts.
No database and no Flask: it runs once per row, a million times for a big file, so it
is kept lean."""

from __future__ import annotations

import json
import json.scanner
import math
from datetime import UTC, datetime
from typing import Any

from app.decisions.intake.fields import FIELDS, MAX_CONTEXT_BYTES, MAX_LENGTHS
from app.models.enums import DECISIONS, POLICY_AREAS

_TEXT_LIMITS = tuple((f, MAX_LENGTHS[f]) for f in ("moderator_id", "site", "market", "item_id"))
_FIELD_SET = frozenset(FIELDS)
_FIELD_ORDER = {name: i for i, name in enumerate(FIELDS)}
_AREAS = frozenset(POLICY_AREAS)
_DECISIONS = frozenset(DECISIONS)
_AREA_LIST = ", ".join(POLICY_AREAS)
_TIME_FORMAT = "Must be an ISO 8601 time with an offset, e.g. 2026-03-01T09:30:00+08:00."
_CONTROL = "Must not contain control or invisible characters."


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


# One decoder and encoder for every row: building them per call costs more than the work.
_strict_decoder = json.JSONDecoder(parse_constant=_no_constants)
# Strict JSON (also for the API's request body): NaN and Infinity are not JSON, and the
# database would refuse them. ValueError (or RecursionError) when the text is not JSON.
decode_json = _strict_decoder.decode
_encode_json = json.JSONEncoder(allow_nan=False).encode


class _NotPlainJSON(ValueError):
    """JSON text whose value cannot be given back as JSON."""


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotPlainJSON(f"the number {text[:30]} is too large")
    return value


# A context is given back as JSON (API, export): a number too large for a float (1e400)
# would come back as Infinity, which is not JSON, so the context's decoder refuses it.
_context_decoder = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float)
_scan_json = json.scanner.make_scanner(_context_decoder)  # the C scanner, no wrapper


def _context(raw: Any) -> tuple[str | None, str | None]:
    """(JSON text to store, problem) for a context given as an object or as JSON text.
    Text is kept as sent once it is known to be a small JSON object."""
    if raw.__class__ is str:
        text = raw.strip()
        if not text:
            return None, None
        if len(text) > MAX_CONTEXT_BYTES // 4 and len(text.encode("utf-8", "replace")) > (
            MAX_CONTEXT_BYTES
        ):
            return None, f"Must be at most {MAX_CONTEXT_BYTES // 1024} KB as JSON."
        try:
            if text[0] == "{":
                value, end = _scan_json(text, 0)
                if end != len(text):
                    raise ValueError("extra data")
            else:
                value = _context_decoder.decode(text)
        except _NotPlainJSON as err:
            return None, f"Must be a JSON object of plain JSON values; {err}."
        except (ValueError, StopIteration, RecursionError):
            return None, "Must be a JSON object; this is not valid JSON."
        if value.__class__ is not dict:
            return None, "Must be a JSON object."
        if not text.isascii():
            try:  # a JSON body may carry unpaired surrogates (escaped) in a string
                text.encode("utf-8")
            except UnicodeEncodeError:
                return None, "Must not contain unpaired surrogate characters."
    elif raw is None:
        return None, None
    elif isinstance(raw, dict):
        value = raw
        try:
            text = _encode_json(raw)
        except (ValueError, TypeError, RecursionError):
            return None, "Must be a JSON object of plain JSON values."
        if len(text) > MAX_CONTEXT_BYTES:
            return None, f"Must be at most {MAX_CONTEXT_BYTES // 1024} KB as JSON."
    else:
        return None, "Must be a JSON object."
    if "\\u" in text or "\\U" in text:
        # Escapes PostgreSQL refuses to keep: NUL, and unpaired surrogates.
        plain = json.dumps(value, ensure_ascii=False)
        if "\\u0000" in plain:
            return None, "Must not contain NUL characters."
        try:
            plain.encode("utf-8")
        except UnicodeEncodeError:
            return None, "Must not contain unpaired surrogate characters."
    return text, None


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_LENGTHS["item_url"]:
        return f"Must be at most {MAX_LENGTHS['item_url']} characters."
    if url.startswith("https://"):
        start = 8
    elif url.startswith("http://"):
        start = 7
    else:
        head = url[:8].lower()
        start = 8 if head.startswith("https://") else 7 if head.startswith("http://") else 0
        if not start:
            return "Must be an http:// or https:// URL."
    end = url.find("/", start)
    host = url[start:end] if end >= 0 else url[start:]
    if not host or host[0] in ":?#@":
        return "Must be an http:// or https:// URL with a host name."
    if " " in url or not url.isprintable():
        return "Must not contain spaces or control characters."
    return None


def _text_problem(value: Any, limit: int) -> str:
    if value is None or value == "":
        return "Required."
    if not isinstance(value, str):
        return "Must be text."
    value = value.strip()
    if not value:
        return "Required."
    if len(value) > limit:
        return f"Must be at most {limit} characters."
    return _CONTROL


class RowChecker:
    """Validates and normalises rows against the reference data (vendors, labels),
    which is small and held in dicts; needs no database per row. Kept lean: it runs
    a million times for a big file."""

    def __init__(self, vendors: dict[str, int], labels: dict[str, tuple], sqlite: bool):
        self.vendors = vendors
        self.labels = labels  # code -> (id, policy_area, retired_at)
        self.sqlite = sqlite

    def check(self, row: Any, typed: bool) -> tuple[str | None, tuple | None, list]:
        """(external_id usable for the repeat check, staging values or None, problems
        as (field, message) in field order)."""
        problems: list[tuple[str | None, str]] = []
        bad = problems.append
        if not isinstance(row, dict):
            bad((None, "Each decision must be a JSON object."))
            return None, None, problems
        if typed:
            for key in row:
                if key not in _FIELD_SET:
                    shown = key if isinstance(key, str) and key.isprintable() else repr(key)
                    bad((shown[:100], "Unknown field."))
        elif "_error" in row:
            bad((None, row["_error"]))
            return None, None, problems
        get = row.get

        external_id = get("external_id")
        if external_id.__class__ is str and (external_id := external_id.strip()):
            if len(external_id) > MAX_LENGTHS["external_id"]:
                bad(("external_id", f"Must be at most {MAX_LENGTHS['external_id']} characters."))
                if not external_id.isprintable():
                    external_id = None  # may not even be storable for the repeat check
            elif not external_id.isprintable():
                bad(("external_id", _CONTROL))
                external_id = None  # may not even be storable
        else:
            bad(("external_id", _text_problem(external_id, MAX_LENGTHS["external_id"])))
            external_id = None

        texts = []
        for field, limit in _TEXT_LIMITS:
            value = get(field)
            if value.__class__ is str:
                value = value.strip()
                if value and len(value) <= limit and value.isprintable():
                    texts.append(value)
                    continue
            bad((field, _text_problem(value, limit)))
            texts.append(None)

        vendor = get("vendor")
        vendor_id = self.vendors.get(vendor) if vendor.__class__ is str else None
        if vendor_id is None:
            if vendor.__class__ is str and vendor.strip():
                code = vendor.strip().upper()
                vendor_id = self.vendors.get(code)
                if vendor_id is None:
                    bad(("vendor", f"Unknown vendor {show(code)}."))
            else:
                bad(("vendor", _text_problem(vendor, 20)))

        area = get("policy_area")
        if area.__class__ is not str or area not in _AREAS:
            if area.__class__ is str and area.strip() in _AREAS:
                area = area.strip()
            else:
                bad(
                    (
                        "policy_area",
                        "Required." if area in (None, "") else f"Must be one of {_AREA_LIST}.",
                    )
                )
                area = None

        decision = get("decision")
        if decision.__class__ is not str or decision not in _DECISIONS:
            if decision.__class__ is str and decision.strip() in _DECISIONS:
                decision = decision.strip()
            else:
                required = decision in (None, "")
                bad(("decision", "Required." if required else "Must be approve or reject."))
                decision = None

        decided_at = None
        raw = get("decided_at")
        if raw.__class__ is str and raw:
            try:
                moment = _fromisoformat(raw)
            except ValueError:
                try:
                    moment = _fromisoformat(raw.strip())
                except ValueError:
                    moment = None
                    bad(("decided_at", _TIME_FORMAT))
            if moment is not None:
                if moment.tzinfo is None or moment.utcoffset() is None:
                    bad(("decided_at", "Must include a UTC offset, e.g. +08:00 or Z."))
                else:
                    try:
                        decided_at = moment.astimezone(UTC)
                    except (OverflowError, ValueError):
                        bad(("decided_at", "Out of range."))
        else:
            bad(("decided_at", "Required." if raw in (None, "") else _TIME_FORMAT))

        url = get("item_url")
        if url:
            if url.__class__ is not str:
                bad(("item_url", "Must be text (a URL)."))
                url = None
            else:
                url = url.strip() or None
                if url is not None and (problem := _url_problem(url)):
                    bad(("item_url", problem))
        else:
            url = None

        context, problem = _context(get("context"))
        if problem:
            bad(("context", problem))

        label_key = self._labels(get("labels"), decision, area, decided_at, bad)

        if problems:
            if len(problems) > 1:
                problems.sort(key=lambda p: _FIELD_ORDER.get(p[0], -1))
            return external_id, None, problems
        # SQLite keeps the ORM's naive UTC text, so rows written here and by the ORM
        # compare and sort alike.
        stored_time = decided_at.isoformat(" ", "microseconds")[:26] if self.sqlite else decided_at
        return (
            external_id,
            (
                external_id,
                vendor_id,
                texts[0],
                texts[1],
                texts[2],
                area,
                texts[3],
                url,
                context,
                decision,
                label_key,
                stored_time,
            ),
            problems,
        )

    def _labels(self, raw: Any, decision, area, decided_at, bad) -> str | None:
        """The labels as staged ("3|7", label ids, primary first), or None if bad."""
        if raw is None or raw == "" or (raw.__class__ is list and not raw):
            if decision == "reject":
                bad(("labels", "A reject needs at least one label (the primary first)."))
                return None
            return ""
        if raw.__class__ is str:
            codes: list = raw.split("|")
        elif isinstance(raw, list):
            codes = raw
        else:
            bad(("labels", "Must be a list of label codes."))
            return None
        if decision == "approve":
            bad(("labels", "An approve takes no labels."))
            return None
        ids = []
        seen = set()
        ok = True
        for raw_code in codes:
            if raw_code.__class__ is not str:
                bad(("labels", "Must be a list of label codes (text)."))
                ok = False
                continue
            label = self.labels.get(raw_code)
            code = raw_code
            if label is None:
                code = raw_code.strip().upper()
                if not code:
                    bad(("labels", "An empty label code (check the | separators)."))
                    ok = False
                    continue
                label = self.labels.get(code)
            if code in seen:
                bad(("labels", f"Label {show(code)} appears twice."))
                ok = False
                continue
            seen.add(code)
            if label is None:
                bad(("labels", f"Unknown label {show(code)}."))
                ok = False
                continue
            label_id, label_area, retired_at = label
            if area is not None and label_area != area:
                bad(("labels", f"Label {code} belongs to policy area {label_area}, not {area}."))
                ok = False
            if retired_at is not None and decided_at is not None and retired_at <= decided_at:
                bad(
                    (
                        "labels",
                        f"Label {code} was retired on {retired_at.isoformat()}, "
                        "before this decision was made.",
                    )
                )
                ok = False
            ids.append(str(label_id))
        return "|".join(ids) if ok else None


_fromisoformat = datetime.fromisoformat


def show(code: str) -> str:
    """A code as a message quotes it: shortened, anything unprintable escaped."""
    return repr(code[:70])  # repr escapes anything unprintable
