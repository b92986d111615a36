"""How a decision is shown to people: its item link and its context, made safe to put
on a page. Flask-free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit


def http_url(value) -> str | None:
    """`value` when it is an absolute http(s) URL that is safe to put in a link, else
    None (a `javascript:` or `data:` URL, or text, is never made a link)."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    text = value.strip()
    if text != value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


@dataclass(frozen=True)
class ContextEntry:
    """One value of a decision's context: its dotted key, its text, and its link."""

    key: str
    text: str
    url: str | None


MAX_CONTEXT_ENTRIES = 200


def context_entries(context) -> list[ContextEntry]:
    """A decision's context as flat key/value pairs for reading: nested objects become
    dotted keys, list items `[i]`; values are text (http(s) URLs also as links)."""
    entries: list[ContextEntry] = []

    def walk(prefix: str, value) -> None:
        if len(entries) >= MAX_CONTEXT_ENTRIES:
            return
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and value:
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            if isinstance(value, str):
                text = value
            elif value is None or isinstance(value, bool | dict | list):
                text = json.dumps(value)
            else:
                text = str(value)
            entries.append(ContextEntry(prefix or "(value)", text, http_url(value)))

    if context is not None:
        walk("", context)
    return entries
