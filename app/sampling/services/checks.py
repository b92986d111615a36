"""The checks on a draw request or a plan: what a caller asks for (period, strata, size
or margin, purpose, risk weights, seed, inspectors) turned into clean values, or into
field problems (`app.validation.problem`) the caller raises together. The limits the
forms and the API schema repeat for their own messages are here too."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa

from app import months
from app.extensions import db
from app.models import User
from app.models.enums import SAMPLE_PURPOSES
from app.sampling import algorithm, population
from app.security.predicates import can_inspect
from app.validation import (
    TEXT_WHITESPACE,
    has_control_characters,
    number,
    plain_text,
    problem,
    raise_problems,
)

DEFAULT_STRATA = list(algorithm.DEFAULT_STRATA)
STRATUM_FIELDS = population.STRATUM_COLUMNS
STRATUM_FIELD_NAMES = {
    "policy_area": "Policy area",
    "decision": "Decision",
    "market": "Market",
    "site": "Site",
    "moderator_id": "Moderator",
}
MAX_SIZE = 50_000
MIN_MARGIN, MAX_MARGIN = 0.001, 0.5
MIN_CONFIDENCE, MAX_CONFIDENCE = 0.5, 0.9999
MAX_WEIGHT = 1000
MAX_SEED_LENGTH = 128
MAX_REASON_LENGTH = 500
MAX_INSPECTORS = 100
MAX_STRATUM_KEY = 255  # the column's width


def check_date(name: str, label: str, value, problems: list[dict]) -> date | None:
    """A day given as a date or as `YYYY-MM-DD`, in the portal's range of years."""
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            problems.append(problem(name, f"{label} is required (YYYY-MM-DD)."))
            return None
        try:
            value = date.fromisoformat(text)
        except ValueError:
            problems.append(problem(name, f"{label} must be a date as YYYY-MM-DD."))
            return None
    if not months.FIRST_YEAR <= value.year <= months.LAST_YEAR:
        problems.append(
            problem(name, f"{label} must be between {months.FIRST_YEAR} and {months.LAST_YEAR}.")
        )
        return None
    return value


def check_dates(period_start, period_end, problems: list[dict]) -> tuple[date | None, ...]:
    """The first and last day of a period (each checked on its own)."""
    start = check_date("period_start", "The start date", period_start, problems)
    end = check_date("period_end", "The end date", period_end, problems)
    return start, end


def check_period(
    start: date | None, end: date | None, problems: list[dict], *, before: date | None = None
) -> None:
    """The period runs forwards and, given `before` (today), is over by then."""
    if not start or not end:
        return
    if end < start:
        problems.append(problem("period_end", "The period ends before it starts."))
    elif before is not None and end >= before:
        problems.append(
            problem("period_end", "Sample a closed period: it must end before today (UTC).")
        )


def check_strata(strata, problems: list[dict]) -> list[str]:
    """A list of decision fields (default policy area and decision), each known, once."""
    if strata is None:
        return list(DEFAULT_STRATA)
    if isinstance(strata, str):
        strata = [s for s in (part.strip() for part in strata.split(",")) if s]
    if not isinstance(strata, list | tuple) or not all(isinstance(s, str) for s in strata):
        problems.append(problem("strata", "Give the strata as a list of decision fields."))
        return list(DEFAULT_STRATA)
    unknown = [s for s in strata if s not in STRATUM_FIELDS]
    if unknown:
        problems.append(
            problem(
                "strata",
                f"Unknown stratum field {unknown[0]!r}; choose from {', '.join(STRATUM_FIELDS)}.",
            )
        )
    elif len(set(strata)) != len(strata):
        problems.append(problem("strata", "List each stratum field once."))
    return list(strata)


def check_size(size, margin, confidence, problems: list[dict]) -> tuple:
    """Exactly one of a size (1..MAX_SIZE) or a margin (with a confidence): returns
    (size, margin, confidence)."""
    given_size = size not in (None, "")
    given_margin = margin not in (None, "")
    conf = number(confidence) if confidence not in (None, "") else algorithm.DEFAULT_CONFIDENCE
    if conf is None or not MIN_CONFIDENCE <= conf <= MAX_CONFIDENCE:
        problems.append(
            problem("confidence", f"The confidence must be between {MIN_CONFIDENCE} and 0.9999.")
        )
        conf = algorithm.DEFAULT_CONFIDENCE
    if given_size and given_margin:
        problems.append(problem("size", "Give a size or a margin of error, not both."))
        return None, None, conf
    if not given_size and not given_margin:
        problems.append(problem("size", "Give a sample size or a margin of error."))
        return None, None, conf
    if given_size:
        count = number(size)
        if count is None or count != int(count) or not 1 <= count <= MAX_SIZE:
            problems.append(
                problem("size", f"The size must be a whole number from 1 to {MAX_SIZE:,}.")
            )
            return None, None, conf
        return int(count), None, conf
    share = number(margin)
    if share is None or not MIN_MARGIN <= share <= MAX_MARGIN:
        problems.append(
            problem("margin", "The margin of error must be between 0.001 and 0.5 (0.1% to 50%).")
        )
        return None, None, conf
    return None, share, conf


def check_purpose(purpose, problems: list[dict]) -> str:
    """Contract (the default) or targeted."""
    purpose = purpose or "contract"
    if purpose not in SAMPLE_PURPOSES:
        problems.append(problem("purpose", "The purpose must be contract or targeted."))
        return "contract"
    return purpose


def check_weights(weights, purpose: str, strata: list[str], problems: list[dict]) -> dict:
    """Risk weights {stratum key: weight ≥ 0}, for targeted samples only."""
    if not weights:
        return {}
    if purpose != "targeted":
        problems.append(problem("risk_weights", "Risk weights apply to targeted samples only."))
        return {}
    if not isinstance(weights, dict):
        problems.append(problem("risk_weights", "Give risk weights as {stratum: weight}."))
        return {}
    clean = {}
    for key, value in weights.items():
        weight = number(value)
        if not plain_text(key) or len(algorithm.split_stratum_key(key)) != max(len(strata), 1):
            problems.append(
                problem(
                    "risk_weights",
                    f"{key!r} is not a stratum of {' x '.join(strata) or 'the population'}"
                    f" (write values joined by |, e.g. listing|reject).",
                )
            )
        elif weight is None or not 0 <= weight <= MAX_WEIGHT:
            problems.append(
                problem("risk_weights", f"The weight of {key} must be from 0 to {MAX_WEIGHT}.")
            )
        else:
            clean[key] = weight
    return clean


def check_parameters(
    strata, size, margin, confidence, purpose, risk_weights, problems: list[dict]
) -> dict:
    """What a draw and a plan share: strata, size or margin (and confidence), purpose
    and risk weights, as the keyword arguments of a Sample or a SamplingPlan."""
    strata = check_strata(strata, problems)
    size, margin, confidence = check_size(size, margin, confidence, problems)
    purpose = check_purpose(purpose, problems)
    weights = check_weights(risk_weights, purpose, strata, problems)
    return {
        "strata": strata,
        "size": size,
        "margin": margin,
        "confidence": confidence,
        "purpose": purpose,
        "risk_weights": weights,
    }


def check_seed(seed, problems: list[dict]) -> str | None:
    """A seed given to repeat a published draw, or None for a new server seed."""
    if seed in (None, ""):
        return None
    if not isinstance(seed, str) or len(seed) > MAX_SEED_LENGTH or not seed.strip():
        problems.append(problem("seed", f"A seed is text of 1 to {MAX_SEED_LENGTH} characters."))
        return None
    if not plain_text(seed):
        problems.append(problem("seed", "Remove the control characters from the seed."))
        return None
    return seed


def check_inspectors(inspectors, problems: list[dict]) -> list[User]:
    """Active QA people (inspectors or leads), each once, in the order given."""
    users = list(inspectors or [])
    if len(users) > MAX_INSPECTORS:
        problems.append(problem("inspectors", f"Assign at most {MAX_INSPECTORS} inspectors."))
        return []
    bad = [u for u in users if not can_inspect(u) or not u.active]
    if bad:
        problems.append(
            problem("inspectors", f"{bad[0].email} is not an active QA inspector or lead.")
        )
        return []
    seen, unique = set(), []
    for user in users:
        if user.id not in seen:
            seen.add(user.id)
            unique.append(user)
    return unique


def check_reason(reason, problems: list[dict]) -> str:
    """Why an item is skipped: required, short, plain text (line breaks allowed)."""
    reason = (reason or "").strip()
    if not reason:
        problems.append(problem("reason", "Say why the item is skipped."))
    elif len(reason) > MAX_REASON_LENGTH:
        problems.append(problem("reason", f"Keep the reason to {MAX_REASON_LENGTH} characters."))
    elif has_control_characters(reason, TEXT_WHITESPACE):
        problems.append(problem("reason", "Remove the control characters."))
    return reason


def inspectors_by_email(emails: Iterable[str]) -> list[User]:
    """Resolve e-mail addresses to active QA users; the first unknown one is an error
    on the `inspectors` field."""
    emails = [e.strip().lower() for e in emails or [] if isinstance(e, str)]
    if not emails:
        return []
    # Text no database could hold names nobody: it is reported as unknown below.
    safe = sorted({e for e in emails if plain_text(e)})
    found = {u.email: u for u in db.session.scalars(sa.select(User).where(User.email.in_(safe)))}
    problems = []
    for email in emails:
        user = found.get(email)
        if user is None or not can_inspect(user) or not user.active:
            problems.append(problem("inspectors", f"No active QA inspector or lead {email}."))
            break
    raise_problems(problems)
    return [found[e] for e in emails]
