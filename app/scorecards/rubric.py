"""A rubric as plain data: its limits, the checks of a rubric someone wrote (the
editor's rows or an API body) and the fingerprint of its content. Pure: no database,
no request; the scorecard services store what this accepts.

A rubric is `[{"title", "questions": [{"key", "text", "guidance", "weight",
"critical", "allow_na"}]}]`; every problem names its place, e.g.
`sections[1].questions[0].weight`, so the editor and the API can point at it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from numbers import Real
from typing import Any

from app.validation import CONTROL_MESSAGE, TEXT_WHITESPACE, has_control_characters, problem

TITLE_MAX = 200
TEXT_MAX = 1000
GUIDANCE_MAX = 4000
WEIGHT_MAX = 100
DEFAULT_WEIGHT = 1.0
MAX_SECTIONS = 20
MAX_QUESTIONS = 100
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KEY_MESSAGE = (
    "Use a lower-case letter followed by up to 63 lower-case letters, digits or "
    "underscores, e.g. policy_applied."
)
WEIGHT_MESSAGE = f"Enter a number greater than 0 and at most {WEIGHT_MAX}, e.g. 1 or 2.5."


def clean(value: Any) -> str:
    """Text as stored: trimmed; anything that is not text counts as empty."""
    return value.strip() if isinstance(value, str) else ""


def fingerprint(sections: list[dict]) -> str:
    """A short, stable digest of a rubric's content (equal rubrics, equal digests)."""
    canonical = json.dumps(sections, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _bool(value: Any, default: bool, field: str, problems: list[dict]) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    problems.append(problem(field, "Give true or false."))
    return default


def parse_weight(value: Any) -> float | None:
    """A weight from a number or a numeric string (empty: the default of 1); None when
    it is not a number in (0, 100]."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_WEIGHT
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
    elif isinstance(value, Real):
        number = float(value)
    else:
        return None
    if not math.isfinite(number) or not 0 < number <= WEIGHT_MAX:
        return None
    return number


def _question(raw: Any, where: str, keys: dict[str, str], problems: list[dict]) -> dict:
    if not isinstance(raw, dict):
        problems.append(problem(where, "Each question must be an object."))
        return {}
    key = clean(raw.get("key"))
    text = clean(raw.get("text"))
    guidance = clean(raw.get("guidance"))
    if not key:
        problems.append(problem(f"{where}.key", "A key is required."))
    elif not KEY_PATTERN.match(key):
        problems.append(problem(f"{where}.key", KEY_MESSAGE))
    elif key in keys:
        problems.append(
            problem(f"{where}.key", f"The key {key} is already used by another question.")
        )
    else:
        keys[key] = where
    if not text:
        problems.append(problem(f"{where}.text", "The question text is required."))
    elif len(text) > TEXT_MAX:
        problems.append(problem(f"{where}.text", f"At most {TEXT_MAX} characters."))
    elif has_control_characters(text, TEXT_WHITESPACE):
        problems.append(problem(f"{where}.text", CONTROL_MESSAGE))
    if len(guidance) > GUIDANCE_MAX:
        problems.append(problem(f"{where}.guidance", f"At most {GUIDANCE_MAX} characters."))
    elif has_control_characters(guidance, TEXT_WHITESPACE):
        problems.append(problem(f"{where}.guidance", CONTROL_MESSAGE))
    weight = parse_weight(raw.get("weight"))
    if weight is None:
        problems.append(problem(f"{where}.weight", WEIGHT_MESSAGE))
    return {
        "key": key,
        "text": text,
        "guidance": guidance,
        "weight": weight,
        "critical": _bool(raw.get("critical"), False, f"{where}.critical", problems),
        "allow_na": _bool(raw.get("allow_na"), True, f"{where}.allow_na", problems),
    }


def _title(raw: dict, where: str, titles: set[str], problems: list[dict]) -> str:
    title = clean(raw.get("title"))
    if not title:
        problems.append(problem(f"{where}.title", "A section title is required."))
    elif len(title) > TITLE_MAX:
        problems.append(problem(f"{where}.title", f"At most {TITLE_MAX} characters."))
    elif has_control_characters(title):
        problems.append(problem(f"{where}.title", CONTROL_MESSAGE))
    elif title.casefold() in titles:
        problems.append(problem(f"{where}.title", f"Another section is already titled “{title}”."))
    else:
        titles.add(title.casefold())
    return title


def normalise_sections(sections: Any) -> tuple[list[dict], list[dict]]:
    """Check a rubric; return it cleaned, and every problem found, each naming its
    place, e.g. `sections[1].questions[0].weight`."""
    problems: list[dict] = []
    if not isinstance(sections, list):
        return [], [problem("sections", "Give a list of sections.")]
    if len(sections) > MAX_SECTIONS:
        problems.append(problem("sections", f"At most {MAX_SECTIONS} sections."))
    total = sum(
        len(s.get("questions") or [])
        for s in sections
        if isinstance(s, dict) and isinstance(s.get("questions"), list)
    )
    if total > MAX_QUESTIONS:
        problems.append(
            problem("sections", f"At most {MAX_QUESTIONS} questions in all (there are {total}).")
        )
    keys: dict[str, str] = {}
    titles: set[str] = set()
    cleaned = []
    for i, raw in enumerate(sections):
        where = f"sections[{i}]"
        if not isinstance(raw, dict):
            problems.append(problem(where, "Each section must be an object."))
            continue
        title = _title(raw, where, titles, problems)
        questions = raw.get("questions")
        if not isinstance(questions, list) or not questions:
            problems.append(problem(f"{where}.questions", "A section needs at least one question."))
            questions = questions if isinstance(questions, list) else []
        cleaned.append(
            {
                "title": title,
                "questions": [
                    _question(q, f"{where}.questions[{j}]", keys, problems)
                    for j, q in enumerate(questions)
                ],
            }
        )
    return cleaned, problems
