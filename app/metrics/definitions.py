"""The metric definitions of DESIGN §3, in plain Python (no Flask, no database).

Pages, API and PDF all take their numbers from here: correctness of an inspection,
the rubric score, shares with their Wilson 95% interval, and target status.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)

# Target status values (DESIGN §3).
MET, MISSED, INDISTINGUISHABLE, NO_DATA = "met", "missed", "indistinguishable", "no_data"
TARGET_STATUSES = (MET, MISSED, INDISTINGUISHABLE, NO_DATA)


# Correctness and rubric ---------------------------------------------------------------


def decision_matches(decision: str, expected_decision: str | None) -> bool | None:
    """Whether the moderator's decision is QA's expected decision (None: not judged yet)."""
    if expected_decision is None:
        return None
    return decision == expected_decision


def labels_match(
    decision: str,
    labels: Iterable[str],
    expected_decision: str | None,
    expected_labels: Iterable[str],
) -> bool | None:
    """For a reject that QA also judged a reject: whether the label sets are equal
    (order aside). None when the comparison does not apply."""
    if decision != "reject" or expected_decision != "reject":
        return None
    return set(labels) == set(expected_labels)


def is_correct(
    decision: str,
    labels: Iterable[str],
    expected_decision: str | None,
    expected_labels: Iterable[str],
) -> bool | None:
    """Correct: decision = expected decision and, for a reject, label set = expected
    label set. Depends on decision and labels only (never on the rubric)."""
    matched = decision_matches(decision, expected_decision)
    if not matched:
        return matched
    return labels_match(decision, labels, expected_decision, expected_labels) is not False


@dataclass(frozen=True)
class Answer:
    """One rubric answer with its question's weight and critical flag."""

    weight: float
    critical: bool
    answer: str | None  # "yes", "no", "na", or None when not answered yet


def rubric_score(answers: Iterable[Answer]) -> float | None:
    """100 · Σ weight(yes) / Σ weight(yes or no). `na` and unanswered questions drop
    out; nothing but `na` gives None; a critical question answered `no` gives 0."""
    yes = counted = 0.0
    for a in answers:
        if a.answer == "no" and a.critical:
            return 0.0
        if a.answer == "yes":
            yes += a.weight
            counted += a.weight
        elif a.answer == "no":
            counted += a.weight
    if counted == 0:
        return None
    return 100.0 * yes / counted


# Shares and intervals -----------------------------------------------------------------


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval of count/n (None, None when n = 0)."""
    if n <= 0:
        return None, None
    p = count / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 and at n the bound is exactly 0 or 1 (rounding would leave a trace).
    low = 0.0 if count == 0 else max(0.0, centre - half)
    high = 1.0 if count == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Share:
    """A share with its count, n and Wilson 95% interval (DESIGN §11)."""

    count: int
    n: int

    @property
    def value(self) -> float | None:
        return self.count / self.n if self.n else None

    @property
    def interval(self) -> tuple[float | None, float | None]:
        return wilson_interval(self.count, self.n)

    def as_dict(self) -> dict:
        low, high = self.interval
        return {
            "value": self.value,
            "count": self.count,
            "n": self.n,
            "ci_low": low,
            "ci_high": high,
        }


def floor_status(share: Share, target: float | None) -> str | None:
    """Status against a floor (the share must be at least `target`)."""
    if target is None:
        return None
    if share.n == 0:
        return NO_DATA
    low, high = share.interval
    if low >= target:
        return MET
    if high < target:
        return MISSED
    return INDISTINGUISHABLE


def cap_status(share: Share, cap: float | None) -> str | None:
    """Status against a cap (the share must be at most `cap`)."""
    if cap is None:
        return None
    if share.n == 0:
        return NO_DATA
    low, high = share.interval
    if high <= cap:
        return MET
    if low > cap:
        return MISSED
    return INDISTINGUISHABLE


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
