"""The metric definitions of DESIGN §3 (app/metrics/definitions.py), checked against
hand-computed values and, for the Wilson 95% interval, against statsmodels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from app.metrics.definitions import (
    Answer,
    Share,
    cap_status,
    decision_matches,
    floor_status,
    is_correct,
    labels_match,
    rubric_score,
    wilson_interval,
)


def wilson(count: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    return float(low), float(high)


# Rubric score ---------------------------------------------------------------------------


def yes(weight, critical=False):
    return Answer(weight, critical, "yes")


def no(weight, critical=False):
    return Answer(weight, critical, "no")


def na(weight, critical=False):
    return Answer(weight, critical, "na")


def unanswered(weight, critical=False):
    return Answer(weight, critical, None)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param([yes(3), yes(2), yes(1)], 100.0, id="all yes"),
        pytest.param([no(3), no(2)], 0.0, id="all no is 0, not null"),
        pytest.param([yes(3), no(2), yes(1)], 100 * 4 / 6, id="weights"),
        pytest.param([no(3), yes(1)], 25.0, id="a heavy no weighs more"),
        pytest.param([yes(3), na(2), no(1)], 75.0, id="na drops out"),
        pytest.param([yes(3), unanswered(2), no(1)], 75.0, id="unanswered drops out"),
        pytest.param([yes(3), na(5), unanswered(7), no(1)], 75.0, id="both drop out"),
        pytest.param([yes(0.3), no(0.1), yes(0.25)], 100 * 0.55 / 0.65, id="non-integer weights"),
        pytest.param([yes(2.5), no(1.25), na(4.0), yes(0.75)], 100 * 3.25 / 4.5, id="fractions"),
        pytest.param([yes(3), yes(2), no(1, critical=True)], 0.0, id="critical no zeroes"),
        pytest.param([no(1, critical=True), yes(3), yes(2)], 0.0, id="critical no first"),
        pytest.param([no(1, critical=True), na(2), na(3)], 0.0, id="critical no among na"),
        pytest.param([yes(1, critical=True), no(1)], 50.0, id="critical yes counts as weight"),
        pytest.param([na(4, critical=True), yes(3), no(1)], 75.0, id="critical na drops out"),
        pytest.param([unanswered(4, critical=True), yes(1)], 100.0, id="critical unanswered"),
    ],
)
def test_rubric_score(answers, expected):
    assert rubric_score(answers) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([na(3), na(2)], id="all na"),
        pytest.param([na(3, critical=True), na(1)], id="all na with a critical"),
        pytest.param([unanswered(3), unanswered(1)], id="nothing answered"),
        pytest.param([na(3), unanswered(1)], id="na and unanswered"),
        pytest.param([], id="no questions"),
    ],
)
def test_rubric_score_is_null_without_a_yes_or_no(answers):
    assert rubric_score(answers) is None


def test_rubric_score_takes_any_iterable():
    assert rubric_score(a for a in [yes(1), no(3)]) == pytest.approx(25.0, abs=1e-12)


# Correctness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "labels", "expected_decision", "expected_labels", "correct"),
    [
        pytest.param("approve", [], "approve", [], True, id="approve judged approve"),
        pytest.param("approve", [], "reject", ["A"], False, id="false negative"),
        pytest.param("reject", ["A"], "approve", [], False, id="reject judged approve"),
        pytest.param("reject", ["A"], "reject", ["A"], True, id="same label"),
        pytest.param("reject", ["A", "B"], "reject", ["B", "A"], True, id="order does not matter"),
        pytest.param("reject", ["A", "B", "C"], "reject", ["C", "A", "B"], True, id="three"),
        pytest.param("reject", ["A", "B"], "reject", ["A"], False, id="one label too many"),
        pytest.param("reject", ["A"], "reject", ["A", "B"], False, id="one label missing"),
        pytest.param("reject", ["A"], "reject", ["B"], False, id="other label"),
        pytest.param("reject", ["A", "B"], "reject", ["A", "C"], False, id="same primary only"),
    ],
)
def test_is_correct(decision, labels, expected_decision, expected_labels, correct):
    assert is_correct(decision, labels, expected_decision, expected_labels) is correct
    assert is_correct(decision, tuple(labels), expected_decision, iter(expected_labels)) is correct


def test_is_correct_is_unknown_before_qa_judged():
    assert is_correct("approve", [], None, []) is None
    assert is_correct("reject", ["A"], None, []) is None


@pytest.mark.parametrize(
    ("decision", "expected_decision", "matches"),
    [
        ("approve", "approve", True),
        ("reject", "reject", True),
        ("approve", "reject", False),
        ("reject", "approve", False),
        ("approve", None, None),
        ("reject", None, None),
    ],
)
def test_decision_matches(decision, expected_decision, matches):
    assert decision_matches(decision, expected_decision) is matches


@pytest.mark.parametrize(
    ("decision", "labels", "expected_decision", "expected_labels", "matches"),
    [
        pytest.param("reject", ["A", "B"], "reject", ["B", "A"], True, id="order aside"),
        pytest.param("reject", ["A"], "reject", ["A"], True, id="same"),
        pytest.param("reject", ["A", "B"], "reject", ["B"], False, id="subset"),
        pytest.param("reject", ["A"], "reject", ["C"], False, id="other"),
        pytest.param("reject", ["A"], "approve", [], None, id="reject judged approve"),
        pytest.param("approve", [], "reject", ["A"], None, id="approve judged reject"),
        pytest.param("approve", [], "approve", [], None, id="approve judged approve"),
        pytest.param("reject", ["A"], None, [], None, id="not judged"),
    ],
)
def test_labels_match_applies_to_rejects_judged_rejects(
    decision, labels, expected_decision, expected_labels, matches
):
    assert labels_match(decision, labels, expected_decision, expected_labels) is matches


# Wilson interval -------------------------------------------------------------------------

SIZES = (1, 2, 3, 4, 5, 7, 10, 20, 30, 50, 100, 384, 1_000, 10_007, 1_000_000, 1_000_000_000)
GRID = sorted(
    {
        (count, n)
        for n in SIZES
        for count in (0, 1, 2, n // 3, n // 2, n - 2, n - 1, n)
        if 0 <= count <= n
    }
)


@pytest.mark.parametrize(("count", "n"), GRID)
def test_wilson_interval_is_statsmodels_wilson(count, n):
    low, high = wilson_interval(count, n)
    expected_low, expected_high = wilson(count, n)
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)
    assert 0.0 <= low <= count / n <= high <= 1.0


@pytest.mark.parametrize("n", SIZES)
def test_wilson_interval_ends_exactly_at_0_and_1(n):
    assert wilson_interval(0, n)[0] == 0.0
    assert wilson_interval(n, n)[1] == 1.0
    assert wilson_interval(0, n)[1] > 0.0
    assert wilson_interval(n, n)[0] < 1.0


def test_wilson_interval_known_values():
    # Hand-checked: 0 of 1 is [0, z²/(1+z²)] with z = 1.959963984540054.
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 1) == (0.0, pytest.approx(z2 / (1 + z2), abs=1e-12))
    assert wilson_interval(1, 1) == (pytest.approx(1 / (1 + z2), abs=1e-12), 1.0)
    low, high = wilson_interval(5, 10)  # symmetric about one half
    assert low + high == pytest.approx(1.0, abs=1e-12)
    assert low == pytest.approx(0.2365930905, abs=1e-10)


def test_wilson_interval_without_data():
    assert wilson_interval(0, 0) == (None, None)


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(
    st.integers(min_value=1, max_value=10**9).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_wilson_interval_property(case):
    count, n = case
    low, high = wilson_interval(count, n)
    expected_low, expected_high = wilson(count, n)
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)
    assert 0.0 <= low <= count / n <= high <= 1.0


# Share -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "n"), [(3, 4), (0, 7), (7, 7), (1, 1_000_000), (57, 61)])
def test_share_as_dict(count, n):
    body = Share(count, n).as_dict()
    low, high = wilson(count, n)
    assert set(body) == {"value", "count", "n", "ci_low", "ci_high"}
    assert body["count"] == count
    assert body["n"] == n
    assert body["value"] == pytest.approx(count / n, abs=1e-12)
    assert body["ci_low"] == pytest.approx(low, abs=1e-12)
    assert body["ci_high"] == pytest.approx(high, abs=1e-12)


def test_share_without_data():
    assert Share(0, 0).as_dict() == {
        "value": None,
        "count": 0,
        "n": 0,
        "ci_low": None,
        "ci_high": None,
    }


# Target status ----------------------------------------------------------------------------


def test_floor_status_by_the_interval_not_the_point():
    # 9 of 10: 0.90 looks like the target, but the interval is (0.596, 0.982).
    share = Share(9, 10)
    low, high = wilson(9, 10)
    assert low < 0.9 < high
    assert floor_status(share, 0.90) == "indistinguishable"
    assert floor_status(share, 0.50) == "met"  # 0.50 ≤ ci_low
    assert floor_status(share, 0.99) == "missed"  # ci_high < 0.99
    # 95 of 100 is not surely ≥ 0.90 either, though the value is above.
    assert floor_status(Share(95, 100), 0.90) == "indistinguishable"
    assert floor_status(Share(990, 1000), 0.95) == "met"
    assert floor_status(Share(800, 1000), 0.95) == "missed"


def test_floor_status_exactly_at_the_bounds():
    share = Share(30, 40)
    low, high = share.interval
    assert floor_status(share, low) == "met"  # ci_low ≥ target: met at equality
    assert floor_status(share, high) == "indistinguishable"  # ci_high < target: not at equality
    assert floor_status(Share(0, 12), 0.0) == "met"  # ci_low is exactly 0
    assert floor_status(Share(12, 12), 1.0) == "indistinguishable"  # ci_high is 1, not < 1


def test_cap_status_by_the_interval_not_the_point():
    share = Share(1, 10)  # (0.018, 0.404)
    assert cap_status(share, 0.10) == "indistinguishable"
    assert cap_status(share, 0.50) == "met"  # ci_high ≤ cap
    assert cap_status(share, 0.01) == "missed"  # ci_low > cap
    assert cap_status(Share(0, 200), 0.02) == "met"
    assert cap_status(Share(0, 10), 0.02) == "indistinguishable"
    assert cap_status(Share(30, 100), 0.02) == "missed"


def test_cap_status_exactly_at_the_bounds():
    share = Share(4, 50)
    low, high = share.interval
    assert cap_status(share, high) == "met"  # ci_high ≤ cap: met at equality
    assert cap_status(share, low) == "indistinguishable"  # ci_low > cap: not at equality
    assert cap_status(Share(9, 9), 1.0) == "met"  # ci_high is exactly 1
    assert cap_status(Share(0, 9), 0.0) == "indistinguishable"  # ci_low is 0, not > 0


@pytest.mark.parametrize("status", [floor_status, cap_status])
def test_status_without_data_or_target(status):
    assert status(Share(0, 0), 0.95) == "no_data"
    assert status(Share(0, 0), 0.0) == "no_data"
    assert status(Share(0, 0), None) is None
    assert status(Share(5, 10), None) is None
