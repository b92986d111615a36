"""The sampling algorithm of DESIGN §4, in plain Python (no Flask, no database).

This module is the normative reference: the database draw in `population.py` computes
the same thing faster, and `flask samples verify` re-derives a draw with
`rederive()` below. Method version: ``hmac-sha256-v1``.

Definitions
-----------
Stratum key
    The values of the strata fields of a decision, in the order the fields are listed,
    joined with ``|``. A backslash or a ``|`` inside a value is escaped as ``\\\\`` or
    ``\\|`` so that different value tuples never share a key. Strata
    ``["policy_area", "decision"]`` give keys such as ``listing|reject``; no strata
    fields give the single key ``""`` (the whole population is one stratum).
Size
    Given, or computed from a margin of error ``e`` at a confidence level with p = 0.5
    and the finite-population correction: ``z`` is the two-sided normal quantile of the
    confidence (``NormalDist().inv_cdf(1 - (1 - confidence) / 2)``),
    ``n0 = z² · 0.25 / e²`` and ``n = ceil(n0 / (1 + (n0 - 1) / N))``. A size larger
    than what can be drawn is cut to it.
Allocation
    Each stratum's weight is its population ``N_h`` times its risk weight (1 unless a
    targeted draw gives one; a weight of 0 leaves the stratum out). Each stratum's
    quota is ``n · weight / total weight``. A stratum whose quota reaches its
    population takes all of it, and the rest of ``n`` is shared again the same way
    among the other strata, until no quota exceeds its stratum. Then every stratum
    gets the whole part of its quota, and the units left over go one each to the
    largest fractional parts; ties go to the stratum whose key sorts first (by code
    point). Quotas are computed exactly (rational arithmetic), so every machine
    agrees.
Order within a stratum
    ``HMAC-SHA256(key = seed as UTF-8, message = external_id as UTF-8)`` as lowercase
    hex, ascending; the first ``k`` are drawn. An item's *rank* is its 1-based
    position in this order. When an item is skipped, its replacement is the
    decision of the same stratum with the lowest rank that is not in the sample yet
    and may still be drawn.
Population digest
    Per stratum: SHA-256 (lowercase hex) of the stratum's external ids sorted
    ascending by code point, joined with ``"\\n"``, encoded as UTF-8.

Re-deriving a draw by hand
--------------------------
With the seed, the population (external ids in strata) and the size:

>>> import hashlib, hmac
>>> seed = "3f1c9e2a"
>>> strata = {"listing|reject": ["D-1", "D-2", "D-3"], "seller|approve": ["D-4"]}
>>> allocation = allocate({key: len(ids) for key, ids in strata.items()}, 2)
>>> allocation  # quotas 1.5 and 0.5: the tied remainder goes to the key sorting first
{'listing|reject': 2, 'seller|approve': 0}
>>> def order(external_id):
...     return hmac.new(seed.encode(), external_id.encode(), hashlib.sha256).hexdigest()
>>> drawn = {key: sorted(ids, key=order)[: allocation[key]] for key, ids in strata.items()}

`rederive()` does the same from decision rows:

>>> rows = [{"external_id": eid, "policy_area": key.split("|")[0],
...          "decision": key.split("|")[1]} for key, ids in strata.items() for eid in ids]
>>> rederive(rows, seed, size=2).drawn("listing|reject") == drawn["listing|reject"]
True
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from statistics import NormalDist

METHOD_VERSION = "hmac-sha256-v1"
DEFAULT_STRATA = ("policy_area", "decision")
DEFAULT_CONFIDENCE = 0.95
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104's B)


# Size ---------------------------------------------------------------------------------


def z_score(confidence: float) -> float:
    """The two-sided standard normal quantile for a confidence level in (0, 1)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def sample_size(population: int, margin: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """n for a margin of error at a confidence level (p = 0.5), with the
    finite-population correction; never more than the population."""
    if not 0 < margin < 1:
        raise ValueError("margin must be between 0 and 1")
    if population <= 0:
        return 0
    n0 = _unlimited_size(margin, confidence)
    return min(population, math.ceil(n0 / (1 + (n0 - 1) / population)))


def largest_size(margin: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The most a margin can ask for, whatever the population: ceil(n0), the size before
    the finite-population correction (which only ever lowers it)."""
    return math.ceil(_unlimited_size(margin, confidence))


def _unlimited_size(margin: float, confidence: float) -> float:
    """n0 = z² · 0.25 / e²: the size for an unlimited population (p = 0.5)."""
    z = z_score(confidence)
    return z * z * 0.25 / (margin * margin)


def margin_of_error(
    size: int, population: int, confidence: float = DEFAULT_CONFIDENCE
) -> float | None:
    """The margin a sample of `size` buys (p = 0.5, finite-population corrected): the
    inverse of `sample_size`. None when nothing is drawn; 0 for a census."""
    if size <= 0 or population <= 0:
        return None
    if size >= population:
        return 0.0
    z = z_score(confidence)
    if population == 1:
        return 0.0
    return z * 0.5 * math.sqrt((population - size) / (size * (population - 1)))


# Strata -------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def stratum_key(values: Iterable) -> str:
    """The stratum key of a decision's strata values (see the module docstring)."""
    return "|".join(_escape(str(v)) for v in values)


def split_stratum_key(key: str) -> list[str]:
    """The values a stratum key is made of (the inverse of `stratum_key`)."""
    values: list[str] = []
    current: list[str] = []
    escaped = False
    for char in key:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return values


def allocate(
    sizes: Mapping[str, int], n: int, weights: Mapping[str, float] | None = None
) -> dict[str, int]:
    """Share `n` among strata of `sizes` ({key: population}): proportional to
    population times weight, by largest remainder, ties to the key that sorts first; a
    stratum never gets more than it has (what it cannot take is shared again)."""
    weights = weights or {}
    result = dict.fromkeys(sizes, 0)
    active = {}
    for key, size in sizes.items():
        weight = Fraction(weights.get(key, 1))
        if weight < 0:
            raise ValueError(f"risk weight of {key!r} is negative")
        if size > 0 and weight > 0:
            active[key] = Fraction(size) * weight
    remaining = min(max(n, 0), sum(sizes[key] for key in active))
    while active and remaining:
        total = sum(active.values())
        quotas = {key: remaining * w / total for key, w in active.items()}
        full = [key for key, q in quotas.items() if q >= sizes[key]]
        if full:
            # These strata are smaller than their share: take them whole and share
            # what is left among the others by the same rule.
            for key in full:
                result[key] = sizes[key]
                remaining -= sizes[key]
                del active[key]
            continue
        for key, quota in quotas.items():
            result[key] = math.floor(quota)
        left = remaining - sum(result[key] for key in active)
        by_remainder = sorted(active, key=lambda key: (-(quotas[key] - result[key]), key))
        for key in by_remainder[:left]:
            result[key] += 1
        break
    return result


# Order --------------------------------------------------------------------------------


def hmac_key_blocks(seed: str) -> tuple[bytes, bytes]:
    """The inner and outer padded key blocks of HMAC-SHA256 for `seed` (RFC 2104: a key
    longer than the block is hashed first), so that
    HMAC(m) = SHA256(opad_block || SHA256(ipad_block || m)): PostgreSQL has sha256()
    but no HMAC, so its draw composes one from these."""
    key = seed.encode("utf-8")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_hex(seed: str, external_id: str) -> str:
    """The ordering value of a decision: HMAC-SHA256(seed, external_id), lowercase hex."""
    return hmac.new(seed.encode("utf-8"), external_id.encode("utf-8"), hashlib.sha256).hexdigest()


class HmacOrder:
    """A fast HMAC-SHA256 for one seed: the keyed state is made once and copied per
    message. Returns the raw digest, whose byte order is the order of its lowercase
    hex."""

    def __init__(self, seed: str):
        self.base = hmac.new(seed.encode("utf-8"), digestmod=hashlib.sha256)
        copy = self.base.copy

        # A closure over a bound method: this runs a million times per draw.
        def digest(external_id: str) -> bytes:
            h = copy()
            h.update(external_id.encode("utf-8"))
            return h.digest()

        self.digest = digest

    def __call__(self, external_id: str) -> bytes:
        return self.digest(external_id)


def population_digest(external_ids: Iterable[str]) -> str:
    """SHA-256 of the ids sorted by code point, joined with newlines, as UTF-8."""
    return hashlib.sha256("\n".join(sorted(external_ids)).encode("utf-8")).hexdigest()


# Candidate bounds (a speed-up for the database draw; not part of the method) ----------

_BOUND_BYTES = 8
TAKE_ALL = b"\xff" * 33  # above every 32-byte digest


def candidate_bound(k: int, population: int) -> bytes:
    """An 8-byte prefix bound below which a stratum's first `k` digests almost surely
    lie, so a database can sort only those candidates. The caller checks that at
    least `k` candidates came back and falls back to the whole stratum otherwise,
    so the bound only ever changes speed, never the result."""
    if k <= 0:
        return b"\0" * _BOUND_BYTES
    expected = k + 6 * math.sqrt(k) + 32  # ~6 standard deviations of headroom
    if expected >= population * 0.5:
        return TAKE_ALL
    share = Fraction(expected) / population
    return min(math.ceil(share * 2 ** (8 * _BOUND_BYTES)), 2 ** (8 * _BOUND_BYTES) - 1).to_bytes(
        _BOUND_BYTES, "big"
    )


# Re-derivation ------------------------------------------------------------------------


@dataclass
class Draw:
    """A re-derived draw: per-stratum figures and the drawn ids, in draw order."""

    population: int
    size: int
    per_stratum: dict[str, dict] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)  # whole HMAC order per stratum

    def drawn(self, key: str) -> list[str]:
        return self.order.get(key, [])[: self.per_stratum.get(key, {}).get("allocated", 0)]

    @property
    def items(self) -> list[tuple[str, int, str]]:
        """(stratum key, rank, external_id) of every drawn decision, in draw order:
        strata by key, then rank."""
        return [
            (key, rank, external_id)
            for key in sorted(self.per_stratum)
            for rank, external_id in enumerate(self.drawn(key), start=1)
        ]


def rederive(
    population: Iterable[Mapping],
    seed: str,
    size: int | None = None,
    strata: Iterable[str] = DEFAULT_STRATA,
    *,
    margin: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    weights: Mapping[str, float] | None = None,
) -> Draw:
    """Re-derive a draw from its population (decisions as mappings with `external_id`
    and the strata fields), seed and parameters, with nothing but the standard
    library's hmac and sorted()."""
    strata = list(strata)
    groups: dict[str, list[str]] = {}
    for row in population:
        key = stratum_key(row[name] for name in strata)
        groups.setdefault(key, []).append(row["external_id"])
    total = sum(len(ids) for ids in groups.values())
    if size is None:
        if margin is None:
            raise ValueError("give a size or a margin")
        size = sample_size(total, margin, confidence)
    sizes = {key: len(ids) for key, ids in groups.items()}
    allocation = allocate(sizes, size, weights)
    draw = Draw(population=total, size=sum(allocation.values()))
    for key in sorted(groups):
        ids = groups[key]
        draw.digests[key] = population_digest(ids)
        draw.order[key] = sorted(ids, key=lambda eid: hmac_hex(seed, eid))
        draw.per_stratum[key] = {
            "population": len(ids),
            "allocated": allocation[key],
            "drawn": allocation[key],
        }
    return draw
