"""The realistic vendor-month of the metrics tests (ACME's March 2026: contract and
targeted inspections, drafts, other months and another vendor, all through the
services) and the independent computation of its metrics in plain Python, with
statsmodels' Wilson interval, to compare what app/metrics counts with."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from statsmodels.stats.proportion import proportion_confint

from app.metrics.queries import SHARES
from tests.builders import inspections
from tests.factories import LabelFactory, UserFactory, VendorFactory

MARCH = date(2026, 3, 1)

# Rubrics per policy area: key, weight, critical, N/A allowed.
SCORECARDS = {
    "listing": inspections.QUESTIONS,
    "seller": (
        ("identity_verified", 2.5, False, True),
        ("documents_reviewed", 1.25, False, True),
        ("risk_noted", 0.75, True, True),
    ),
    "content": (
        ("context_read", 1.5, False, True),
        ("tone_judged", 0.5, False, True),
    ),
    "ipr": (
        ("rights_owner_checked", 2.0, True, False),
        ("evidence_linked", 1.0, False, True),
    ),
}
LABELS = {
    "listing": ("LST-FAKE", "LST-PROHIB", "LST-COPY"),
    "seller": ("SEL-ID", "SEL-DOCS", "SEL-RISK"),
    "content": ("CNT-HATE", "CNT-SPAM", "CNT-ADULT"),
    "ipr": ("IPR-FAKE", "IPR-LOGO", "IPR-COPY"),
}
SHARE_NAMES = SHARES  # the shares of DESIGN §3, in the order they are reported
BREAKDOWN_FIELDS = {
    "policy_area": "area",
    "market": "market",
    "site": "site",
    "moderator": "moderator",
}


@dataclass
class Case:
    """One decision and QA's verdict on it, as the test wrote them down."""

    moderator: str
    site: str
    market: str
    area: str
    labels: tuple[str, ...]  # applied by the moderator, primary first; none: approve
    expected: str
    expected_labels: tuple[str, ...]
    severity: str
    answers: dict[str, str] = field(default_factory=dict)  # the rest are "yes"
    decided: datetime | None = None
    inspection: object = None

    @property
    def decision(self) -> str:
        return "reject" if self.labels else "approve"

    def all_answers(self) -> dict[str, str]:
        return {key: self.answers.get(key, "yes") for key, *_ in SCORECARDS[self.area]}


def case(row, decided=None) -> Case:
    moderator, site, market, area, labels, expected, expected_labels, severity, answers = row
    return Case(
        moderator,
        site,
        market,
        area,
        tuple(labels),
        expected,
        tuple(expected_labels),
        severity,
        dict(answers),
        decided,
    )


# The vendor-month under test: ACME, March 2026, contract sample, final.
# moderator, site, market, area, applied labels, expected, expected labels, severity, answers
CONTRACT = [
    ("MOD-A", "Manila", "US", "listing", ["LST-FAKE"], "reject", ["LST-FAKE"], "none", {}),
    (
        "MOD-A",
        "Manila",
        "US",
        "listing",
        ["LST-FAKE", "LST-PROHIB"],
        "reject",
        ["LST-PROHIB", "LST-FAKE"],  # same set, other primary: still correct
        "none",
        {"label_specific": "na"},
    ),
    (
        "MOD-A",
        "Manila",
        "US",
        "listing",
        ["LST-FAKE", "LST-PROHIB", "LST-COPY"],
        "reject",
        ["LST-FAKE", "LST-PROHIB"],  # wrong on labels only
        "minor",
        {"label_specific": "no"},
    ),
    ("MOD-A", "Manila", "PH", "listing", [], "approve", [], "none", {}),
    (
        "MOD-A",
        "Cebu",
        "PH",
        "listing",
        [],
        "reject",
        ["LST-COPY"],  # false negative
        "critical",
        {"escalation_followed": "no"},  # critical question: rubric 0
    ),
    (
        "MOD-B",
        "Cebu",
        "PH",
        "listing",
        ["LST-PROHIB"],
        "approve",  # false positive
        [],
        "major",
        {"evidence_checked": "na"},
    ),
    (
        "MOD-B",
        "Cebu",
        "US",
        "listing",
        ["LST-PROHIB"],
        "reject",
        ["LST-COPY"],
        "major",
        {"policy_applied": "no", "evidence_checked": "na"},
    ),
    ("MOD-B", "Cebu", "US", "seller", ["SEL-ID"], "reject", ["SEL-ID"], "none", {}),
    (
        "MOD-B",
        "Manila",
        "US",
        "seller",
        ["SEL-ID", "SEL-DOCS"],
        "reject",
        ["SEL-DOCS"],
        "minor",
        {"documents_reviewed": "no"},
    ),
    ("MOD-B", "Manila", "PH", "seller", [], "approve", [], "none", {"identity_verified": "na"}),
    (
        "MOD-C",
        "Manila",
        "PH",
        "seller",
        [],
        "reject",
        ["SEL-RISK"],
        "critical",
        {"risk_noted": "no"},
    ),
    # A critical false positive with a perfect rubric: the rubric never changes correctness.
    ("MOD-C", "Manila", "US", "seller", ["SEL-RISK"], "approve", [], "critical", {}),
    (
        "MOD-C",
        "Cebu",
        "US",
        "content",
        [],
        "approve",
        [],
        "none",
        {"context_read": "na", "tone_judged": "na"},  # all na: no rubric score
    ),
    (
        "MOD-C",
        "Cebu",
        "US",
        "content",
        ["CNT-HATE"],
        "reject",
        ["CNT-HATE"],
        "none",
        {"tone_judged": "na"},
    ),
    (
        "MOD-C",
        "Cebu",
        "PH",
        "content",
        ["CNT-HATE", "CNT-SPAM"],
        "reject",
        ["CNT-SPAM", "CNT-HATE"],
        "none",
        {"tone_judged": "no"},
    ),
    ("MOD-D", "Manila", "US", "content", ["CNT-ADULT"], "approve", [], "minor", {}),
    ("MOD-D", "Manila", "US", "ipr", ["IPR-FAKE"], "reject", ["IPR-FAKE"], "none", {}),
    ("MOD-D", "Manila", "US", "ipr", [], "approve", [], "none", {"evidence_linked": "na"}),
    (
        "MOD-D",
        "Cebu",
        "US",
        "ipr",
        [],
        "reject",
        ["IPR-LOGO", "IPR-FAKE"],
        "major",
        {"rights_owner_checked": "no"},
    ),
    (
        "MOD-D",
        "Cebu",
        "PH",
        "ipr",
        ["IPR-FAKE", "IPR-LOGO"],
        "reject",
        ["IPR-FAKE", "IPR-LOGO", "IPR-COPY"],
        "minor",
        {},
    ),
    # One wrong of one.
    ("MOD-E", "Cebu", "PH", "listing", ["LST-FAKE"], "approve", [], "major", {}),
    # Many errors.
    ("MOD-F", "Cebu", "US", "listing", [], "reject", ["LST-PROHIB"], "major", {}),
    (
        "MOD-F",
        "Cebu",
        "US",
        "listing",
        [],
        "reject",
        ["LST-FAKE", "LST-COPY"],
        "minor",
        {"evidence_checked": "no"},
    ),
    ("MOD-F", "Cebu", "US", "listing", ["LST-COPY"], "approve", [], "minor", {}),
    ("MOD-F", "Cebu", "US", "seller", ["SEL-DOCS"], "approve", [], "major", {}),
    (
        "MOD-F",
        "Cebu",
        "US",
        "seller",
        ["SEL-DOCS"],
        "reject",
        ["SEL-RISK"],
        "critical",
        {"risk_noted": "no"},
    ),
    ("MOD-F", "Cebu", "US", "content", ["CNT-SPAM"], "reject", ["CNT-SPAM"], "none", {}),
]
# Inspections of ACME's March decisions from a targeted sample.
TARGETED = [
    ("MOD-A", "Manila", "US", "listing", ["LST-FAKE"], "approve", [], "critical", {}),
    ("MOD-B", "Cebu", "PH", "seller", [], "approve", [], "none", {}),
    ("MOD-C", "Cebu", "US", "content", ["CNT-SPAM"], "reject", ["CNT-HATE"], "major", {}),
    (
        "MOD-E",
        "Cebu",
        "PH",
        "ipr",
        [],
        "reject",
        ["IPR-COPY"],
        "critical",
        {"rights_owner_checked": "no"},
    ),
]
# A QA lead's hand-picked inspection outside any sample: targeted as well.
HAND_PICKED = (
    "MOD-D",
    "Manila",
    "US",
    "listing",
    ["LST-PROHIB"],
    "reject",
    ["LST-PROHIB"],
    "none",
    {},
)
# Drafts (contract and targeted): they count nowhere.
DRAFTS = [
    ("MOD-A", "Manila", "US", "listing", [], "reject", ["LST-FAKE"], "critical", {}),
    ("MOD-E", "Cebu", "PH", "listing", ["LST-FAKE"], "approve", [], "major", {}),
]
TARGETED_DRAFTS = [("MOD-C", "Cebu", "US", "content", [], "reject", ["CNT-HATE"], "critical", {})]
# Other months and another vendor: all wrong, so that counting them would show.
ELSEWHERE = [
    ("MOD-A", "Manila", "US", "listing", [], "reject", ["LST-FAKE"], "critical", {}),
    ("MOD-B", "Cebu", "PH", "seller", ["SEL-ID"], "approve", [], "critical", {}),
    ("MOD-F", "Cebu", "US", "content", ["CNT-HATE"], "reject", ["CNT-SPAM"], "major", {}),
]


def march(i: int) -> datetime:
    return datetime(2026, 3, 1 + i % 28, 8 + i % 10, 15, tzinfo=UTC)


# Building data through the services --------------------------------------------------------


def setup_reference() -> dict[str, object]:
    """A published scorecard for each policy area and the label taxonomy."""
    for area, questions in SCORECARDS.items():
        inspections.scorecard(area, questions)
    return {
        code: LabelFactory(code=code, policy_area=area)
        for area, codes in LABELS.items()
        for code in codes
    }


def inspect_cases(vendor, cases, labels, actor, *, purpose="contract", final=True, sample=True):
    """Decisions for `cases`, a sample of `purpose` holding them (unless `sample` is false:
    then `actor`, a QA lead, hand-picks them), and an inspection of each."""
    rows = []
    for c in cases:
        rows.append(
            inspections.decision(
                vendor,
                decided=c.decided,
                labels=[labels[code] for code in c.labels],
                moderator_id=c.moderator,
                site=c.site,
                market=c.market,
                policy_area=c.area,
            )
        )
    if sample and rows:
        inspections.sample_of(vendor, rows, purpose=purpose)
    for c, row in zip(cases, rows, strict=True):
        c.inspection = inspections.inspect(
            row,
            actor,
            expected=c.expected,
            expected_labels=list(c.expected_labels),
            severity=c.severity,
            answers=c.all_answers(),
            finalise=final,
        )
    return cases


def cases_at(rows, when) -> list[Case]:
    return [case(row, when(i)) for i, row in enumerate(rows)]


@dataclass
class World:
    vendor: object
    other: object
    labels: dict
    inspector: object
    lead: object
    contract: list[Case]  # what the March headline counts
    targeted: list[Case]  # what March's targeted section counts


def build_month() -> World:
    """ACME's March 2026 with everything that must and must not count."""
    labels = setup_reference()
    acme = VendorFactory(code="ACME", name="Acme Moderation")
    globex = VendorFactory(code="GLOBEX", name="Globex Outsourcing")
    inspector = UserFactory(role="qa_inspector")
    lead = UserFactory(role="qa_lead")

    contract = cases_at(CONTRACT, march)
    # Month edges in UTC: the first instant of March, and a time that is already
    # 1 April at +03:00 but still 31 March in UTC.
    contract[0].decided = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    contract[1].decided = datetime(2026, 4, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    drafts = cases_at(DRAFTS, lambda i: march(i + 3))
    inspect_cases(acme, contract, labels, inspector)
    inspect_cases(acme, drafts, labels, inspector, final=False)

    targeted = cases_at(TARGETED, lambda i: march(i + 5))
    inspect_cases(acme, targeted, labels, inspector, purpose="targeted")
    hand_picked = [case(HAND_PICKED, march(11))]
    inspect_cases(acme, hand_picked, labels, lead, sample=False)
    targeted_drafts = cases_at(TARGETED_DRAFTS, lambda i: march(i + 7))
    inspect_cases(acme, targeted_drafts, labels, inspector, purpose="targeted", final=False)

    # February (its last second in UTC) and April (31 March at -05:00 is 1 April in UTC).
    february = cases_at(ELSEWHERE[:2], lambda i: datetime(2026, 2, 28 - i, 23, 59, 59, tzinfo=UTC))
    april = [
        case(ELSEWHERE[2], datetime(2026, 3, 31, 22, 30, tzinfo=timezone(timedelta(hours=-5))))
    ]
    inspect_cases(acme, february + april, labels, inspector)
    # Another vendor's March, with the same moderator ids, sites and markets.
    inspect_cases(globex, cases_at(ELSEWHERE, march), labels, inspector)
    return World(acme, globex, labels, inspector, lead, contract, targeted + hand_picked)


# The independent computation ---------------------------------------------------------------


def correct(c: Case) -> bool:
    if c.decision != c.expected:
        return False
    return c.decision == "approve" or sorted(c.labels) == sorted(c.expected_labels)


def rubric(c: Case) -> float | None:
    earned = possible = 0.0
    for key, weight, critical, _ in SCORECARDS[c.area]:
        answer = c.all_answers()[key]
        if answer == "no" and critical:
            return 0.0
        if answer in ("yes", "no"):
            possible += weight
        if answer == "yes":
            earned += weight
    return 100.0 * earned / possible if possible else None


def share(count: int, n: int) -> dict:
    if n == 0:
        return {"value": None, "count": 0, "n": 0, "ci_low": None, "ci_high": None}
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    return {
        "value": count / n,
        "count": count,
        "n": n,
        "ci_low": float(low),
        "ci_high": float(high),
    }


def figures(cases: list[Case]) -> dict:
    n = len(cases)
    judged_rejects = [c for c in cases if c.decision == "reject" and c.expected == "reject"]
    scores = [s for s in map(rubric, cases) if s is not None]
    return {
        "inspected": n,
        "overall_accuracy": share(sum(map(correct, cases)), n),
        "decision_accuracy": share(sum(c.decision == c.expected for c in cases), n),
        "label_accuracy": share(
            sum(set(c.labels) == set(c.expected_labels) for c in judged_rejects),
            len(judged_rejects),
        ),
        "false_negative_rate": share(
            sum(c.decision == "approve" and c.expected == "reject" for c in cases), n
        ),
        "false_positive_rate": share(
            sum(c.decision == "reject" and c.expected == "approve" for c in cases), n
        ),
        "critical_error_rate": share(sum(c.severity == "critical" for c in cases), n),
        "rubric_score": {"value": sum(scores) / len(scores) if scores else None, "n": len(scores)},
    }


def breakdowns(cases: list[Case], accuracy_target: float | None) -> dict[str, dict[str, dict]]:
    result = {}
    for name, attribute in BREAKDOWN_FIELDS.items():
        groups = defaultdict(list)
        for c in cases:
            groups[getattr(c, attribute)].append(c)
        result[name] = {key: figures(group) for key, group in groups.items()}
        if name == "moderator":
            for row in result[name].values():
                accuracy = row["overall_accuracy"]
                row["flagged"] = (
                    accuracy_target is not None and accuracy["ci_high"] < accuracy_target
                )
    return result


def confusion(cases: list[Case]) -> dict[tuple[str, str], int]:
    return dict(
        Counter(
            (
                c.labels[0] if c.decision == "reject" else "approve",
                c.expected_labels[0] if c.expected == "reject" else "approve",
            )
            for c in cases
        )
    )


def floor(accuracy: dict, target: float) -> str:
    if accuracy["n"] == 0:
        return "no_data"
    if accuracy["ci_low"] >= target:
        return "met"
    return "missed" if accuracy["ci_high"] < target else "indistinguishable"


def cap(rate: dict, limit: float) -> str:
    if rate["n"] == 0:
        return "no_data"
    if rate["ci_high"] <= limit:
        return "met"
    return "missed" if rate["ci_low"] > limit else "indistinguishable"


def expected_metrics(world: World, month: date, accuracy_target: float | None = None) -> dict:
    headline = figures(world.contract)
    return {
        "vendor": world.vendor.code,
        "month": month.strftime("%Y-%m"),
        **headline,
        "breakdowns": breakdowns(world.contract, accuracy_target),
        "label_confusion": confusion(world.contract),
        "targeted": figures(world.targeted),
    }


# Comparing --------------------------------------------------------------------------------


def assert_close(actual, expected, where="metrics"):
    """Same keys, counts equal, floats within 1e-12, None where None."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key, value in expected.items():
            assert_close(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, float):
        assert isinstance(actual, float | int) and not isinstance(actual, bool), (
            f"{where}: {actual!r}"
        )
        assert actual == pytest.approx(expected, abs=1e-12), where
    else:
        assert type(actual) is type(expected) and actual == expected, (
            f"{where}: {actual!r} != {expected!r}"
        )


def rows_by_key(rows: list[dict]) -> dict[str, dict]:
    keyed = {row["key"]: {k: v for k, v in row.items() if k != "key"} for row in rows}
    assert len(keyed) == len(rows), "a key appears twice"
    return keyed


def confusion_cells(rows: list[dict]) -> dict[tuple[str, str], int]:
    cells = {(row["applied"], row["expected"]): row["count"] for row in rows}
    assert len(cells) == len(rows), "a cell appears twice"
    assert all(set(row) == {"applied", "expected", "count"} for row in rows)
    return cells


def assert_metrics(body: dict, expected: dict) -> None:
    """`body` (a metrics answer) against the independent computation `expected`."""
    for key in ("vendor", "month", "inspected", *SHARE_NAMES, "rubric_score", "targeted"):
        assert_close(body[key], expected[key], key)
    assert set(body["breakdowns"]) == set(BREAKDOWN_FIELDS)
    for name in BREAKDOWN_FIELDS:
        assert_close(rows_by_key(body["breakdowns"][name]), expected["breakdowns"][name], name)
    assert confusion_cells(body["label_confusion"]) == expected["label_confusion"]
