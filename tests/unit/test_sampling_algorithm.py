"""The sampling method of DESIGN §4, checked against its definitions."""

from __future__ import annotations

import doctest
import hashlib
import hmac
import math
import random
from fractions import Fraction
from statistics import NormalDist

import pytest

from app.sampling import algorithm
from app.sampling.algorithm import (
    TAKE_ALL,
    HmacOrder,
    allocate,
    candidate_bound,
    hmac_hex,
    hmac_key_blocks,
    margin_of_error,
    population_digest,
    rederive,
    sample_size,
    split_stratum_key,
    stratum_key,
    z_score,
)


def formula(population: int, margin: float, confidence: float) -> int:
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n0 = z**2 * 0.25 / margin**2
    return math.ceil(n0 / (1 + (n0 - 1) / population))


# Size --------------------------------------------------------------------------------


def test_z_score_is_the_two_sided_normal_quantile():
    assert z_score(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_score(0.99) == pytest.approx(2.575829, abs=1e-6)
    with pytest.raises(ValueError):
        z_score(1.0)


@pytest.mark.parametrize(
    ("population", "margin", "confidence", "expected"),
    [
        (1_000_000_000, 0.05, 0.95, 385),  # the textbook n for ±5% at 95%
        (1_000_000, 0.03, 0.95, 1066),
        (1000, 0.05, 0.95, 278),
        (100, 0.05, 0.95, 80),
        (10, 0.05, 0.99, 10),
        (1, 0.05, 0.95, 1),
    ],
)
def test_sample_size_follows_the_formula(population, margin, confidence, expected):
    assert sample_size(population, margin, confidence) == expected
    assert formula(population, margin, confidence) == expected


def test_sample_size_matches_the_formula_everywhere():
    rng = random.Random(7)
    for _ in range(500):
        population = rng.randint(1, 2_000_000)
        margin = rng.uniform(0.005, 0.3)
        confidence = rng.choice([0.8, 0.9, 0.95, 0.99])
        expected = min(population, formula(population, margin, confidence))
        assert sample_size(population, margin, confidence) == expected


def test_an_empty_population_needs_no_sample_and_bad_margins_are_refused():
    assert sample_size(0, 0.05) == 0
    with pytest.raises(ValueError):
        sample_size(100, 0)


def test_the_margin_a_size_buys_is_the_inverse_of_the_size_formula():
    for population in (50, 1000, 250_000):
        for margin in (0.1, 0.05, 0.02):
            n = sample_size(population, margin)
            bought = margin_of_error(n, population)
            assert bought <= margin + 1e-12
            # one item fewer would not reach the margin
            assert margin_of_error(n - 1, population) > margin - 1e-9
    assert margin_of_error(100, 100) == 0
    assert margin_of_error(0, 100) is None


# Strata keys -------------------------------------------------------------------------


def test_stratum_keys_join_values_in_field_order_and_escape_separators():
    assert stratum_key(["listing", "reject"]) == "listing|reject"
    assert stratum_key([]) == ""
    assert stratum_key(["a|b", "c"]) != stratum_key(["a", "b|c"])
    for values in (["a|b", "c\\"], ["x"], ["", ""], ["a\\|", "|"]):
        assert split_stratum_key(stratum_key(values)) == values


# Allocation --------------------------------------------------------------------------


def test_allocation_is_proportional_by_largest_remainder():
    # quotas 6.4, 2.4, 1.2 → floors 6, 2, 1 → the one left goes to 0.4 (a tie of
    # a and b); a sorts first
    assert allocate({"a": 640, "b": 240, "c": 120}, 10) == {"a": 7, "b": 2, "c": 1}
    assert allocate({"a": 500, "b": 300, "c": 200}, 10) == {"a": 5, "b": 3, "c": 2}


def test_ties_go_to_the_stratum_whose_key_sorts_first():
    assert allocate({"b": 1, "a": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}
    assert allocate({"z|x": 5, "a|y": 5}, 1) == {"a|y": 1, "z|x": 0}
    # by code point: upper case before lower case
    assert allocate({"b": 3, "B": 3}, 1) == {"B": 1, "b": 0}


def test_a_small_stratum_is_taken_whole_and_the_rest_shared_again():
    # small's quota is 50 · 200 / 1200 = 8.3 > 2: it gives all it has, big gets the rest
    assert allocate({"big": 1000, "small": 2}, 50, {"small": 100}) == {"big": 48, "small": 2}
    # without the weight its quota is 0.1 and the largest remainder is big's
    assert allocate({"big": 1000, "small": 2}, 50) == {"big": 50, "small": 0}
    # two rounds of capping: weights make the small strata want everything
    result = allocate({"a": 3, "b": 5, "c": 1000}, 100, {"a": 1000, "b": 100})
    assert result == {"a": 3, "b": 5, "c": 92}


def test_risk_weights_multiply_stratum_sizes_first():
    assert allocate({"a": 100, "b": 100}, 10, {"a": 4}) == {"a": 8, "b": 2}
    # a zero weight leaves the stratum out; an unknown key changes nothing
    assert allocate({"a": 100, "b": 100}, 10, {"b": 0, "zzz": 9}) == {"a": 10, "b": 0}


def test_allocation_never_exceeds_the_population():
    assert allocate({"a": 3, "b": 4}, 100) == {"a": 3, "b": 4}
    assert allocate({"a": 3, "b": 4}, 0) == {"a": 0, "b": 0}
    assert allocate({}, 10) == {}


def test_allocation_properties_hold_for_random_inputs():
    rng = random.Random(11)
    for _ in range(300):
        sizes = {f"s{i}": rng.randint(0, 400) for i in range(rng.randint(1, 9))}
        weights = {k: rng.choice([0, 0.5, 1, 2, 3.25]) for k in sizes if rng.random() < 0.5}
        n = rng.randint(0, 1200)
        result = allocate(sizes, n, weights)
        drawable = sum(s for k, s in sizes.items() if weights.get(k, 1) > 0)
        assert sum(result.values()) == min(n, drawable)
        for key, k in result.items():
            assert 0 <= k <= sizes[key]
            if weights.get(key, 1) == 0:
                assert k == 0


def test_uncapped_strata_get_their_quota_floor_or_ceiling():
    sizes = {"a": 1234, "b": 777, "c": 9}
    n = 200
    result = allocate(sizes, n)
    total = sum(sizes.values())
    for key, size in sizes.items():
        quota = Fraction(n * size, total)
        assert math.floor(quota) <= result[key] <= math.ceil(quota)


# Order -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "external_id"),
    [
        ("a1b2c3", "D-1"),
        ("", "x"),
        ("ключ 🔑", "DÉC-é-😀"),
        ("k" * 64, "exactly one block of key"),
        ("long " * 40, "a key longer than the block is hashed first"),
    ],
)
def test_the_order_is_hmac_sha256_in_lowercase_hex(seed, external_id):
    expected = hmac.new(seed.encode(), external_id.encode(), hashlib.sha256).hexdigest()
    assert hmac_hex(seed, external_id) == expected
    assert HmacOrder(seed)(external_id).hex() == expected
    inner, outer = hmac_key_blocks(seed)
    composed = hashlib.sha256(outer + hashlib.sha256(inner + external_id.encode()).digest())
    assert composed.hexdigest() == expected  # what PostgreSQL computes with sha256()


def test_raw_digests_sort_like_their_hex():
    order = HmacOrder("seed")
    ids = [f"ID-{i}" for i in range(500)]
    assert sorted(ids, key=order) == sorted(ids, key=lambda e: hmac_hex("seed", e))


def test_population_digest_sorts_ids_by_code_point():
    ids = ["é", "a", "Z", "😀", "b10", "b9"]
    joined = "\n".join(["Z", "a", "b10", "b9", "é", "😀"])
    assert population_digest(ids) == hashlib.sha256(joined.encode("utf-8")).hexdigest()


def test_candidate_bounds_grow_with_k_and_take_everything_when_dense():
    assert candidate_bound(10, 1_000_000) < candidate_bound(100, 1_000_000)
    assert candidate_bound(400, 500) == TAKE_ALL
    assert all(HmacOrder("s")(str(i)) < TAKE_ALL for i in range(50))


# Re-derivation -----------------------------------------------------------------------


def test_rederive_takes_the_first_k_of_each_stratum_in_hmac_order():
    rng = random.Random(3)
    rows = [
        {
            "external_id": f"E{i}",
            "policy_area": rng.choice(["listing", "seller"]),
            "decision": rng.choice(["approve", "reject"]),
        }
        for i in range(300)
    ]
    seed = "published-seed"
    draw = rederive(rows, seed, size=30)
    assert draw.population == 300
    assert draw.size == 30
    for key, figures in draw.per_stratum.items():
        ids = [r["external_id"] for r in rows if f"{r['policy_area']}|{r['decision']}" == key]
        by_hmac = sorted(
            ids, key=lambda e: hmac.new(seed.encode(), e.encode(), "sha256").hexdigest()
        )
        assert draw.drawn(key) == by_hmac[: figures["allocated"]]
        assert draw.digests[key] == population_digest(ids)
    assert [key for key, _, _ in draw.items] == sorted(key for key, _, _ in draw.items)


def test_rederive_sizes_from_a_margin():
    rows = [{"external_id": str(i)} for i in range(2000)]
    draw = rederive(rows, "s", strata=[], margin=0.05)
    assert draw.size == formula(2000, 0.05, 0.95)
    assert list(draw.per_stratum) == [""]


def test_the_module_documentation_example_runs():
    failures, _ = doctest.testmod(algorithm)
    assert failures == 0
