"""The metrics of a vendor-month (DESIGN §3) counted by app/metrics/queries.py, compared
with an independent computation in plain Python over the same fixture data and with
statsmodels' Wilson interval; target status against the contract in force; trends,
all vendors, flagged moderators and corrections."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from statsmodels.stats.proportion import proportion_confint

from app.dashboards.services import months_back, vendor_metrics
from app.errors import NotAllowed, ValidationFailed
from app.extensions import db
from app.inspections import services
from app.metrics import queries
from tests import inspecting
from tests.factories import ContractFactory, LabelFactory, UserFactory, VendorFactory

MARCH = date(2026, 3, 1)

# Rubrics per policy area: key, weight, critical, N/A allowed.
SCORECARDS = {
    "listing": inspecting.QUESTIONS,
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
SHARE_NAMES = (
    "overall_accuracy",
    "decision_accuracy",
    "label_accuracy",
    "false_negative_rate",
    "false_positive_rate",
    "critical_error_rate",
)
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
        inspecting.scorecard(area, questions)
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
            inspecting.decision(
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
        inspecting.sample_of(vendor, rows, purpose=purpose)
    for c, row in zip(cases, rows, strict=True):
        c.inspection = inspecting.inspect(
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


def connection():
    return db.session.connection()


# The realistic vendor-month --------------------------------------------------------------


@pytest.fixture
def world():
    return build_month()


def test_the_fixture_month_is_what_the_test_says(world):
    """Guards the independent computation: the hand-counted figures of CONTRACT."""
    headline = figures(world.contract)
    assert headline["inspected"] == 27
    assert headline["overall_accuracy"]["count"] == 11
    assert headline["decision_accuracy"]["count"] == 16
    assert (headline["label_accuracy"]["count"], headline["label_accuracy"]["n"]) == (7, 12)
    assert headline["false_negative_rate"]["count"] == 5
    assert headline["false_positive_rate"]["count"] == 6
    assert headline["critical_error_rate"]["count"] == 4
    assert headline["rubric_score"]["n"] == 26  # one all-na inspection has no score
    assert figures(world.targeted)["inspected"] == 5


def test_read_vendor_month_counts_the_headline_as_computed_independently(world):
    counted = queries.read_vendor_month(connection(), world.vendor.id, MARCH)
    expected = figures(world.contract)
    assert counted.contract.n == 27
    assert counted.contract.correct == 11
    assert_close(counted.contract.as_dict(), expected)
    for name in SHARE_NAMES:
        assert_close(counted.contract.share(name).as_dict(), expected[name], name)


def test_read_vendor_month_counts_breakdowns_confusion_and_targeted(world):
    counted = queries.read_vendor_month(connection(), world.vendor.id, MARCH)
    expected = breakdowns(world.contract, None)
    for name in BREAKDOWN_FIELDS:
        rows = {key: f.as_dict() for key, f in counted.breakdowns[name].items()}
        want = {
            key: {k: v for k, v in row.items() if k != "flagged"}
            for key, row in expected[name].items()
        }
        assert_close(rows, want, name)
    cells = {(applied, exp): count for applied, exp, count in counted.confusion}
    assert len(cells) == len(counted.confusion)
    assert cells == confusion(world.contract)
    assert_close(counted.targeted.as_dict(), figures(world.targeted), "targeted")


def test_vendor_month_answers_every_figure_as_computed_independently(world):
    targets = queries.Targets(date(2026, 1, 1), 0.75, 0.05)
    body = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    expected = expected_metrics(world, MARCH, 0.75)
    assert_metrics(body, expected)
    # Spot checks a reader can verify by hand.
    assert body["inspected"] == 27
    assert body["overall_accuracy"]["value"] == pytest.approx(11 / 27, abs=1e-12)
    assert body["label_accuracy"]["n"] == 12
    assert body["targeted"]["inspected"] == 5
    moderators = rows_by_key(body["breakdowns"]["moderator"])
    assert moderators["MOD-F"]["flagged"] is True  # 1 of 6: ci_high 0.56 < 0.75
    assert moderators["MOD-E"]["flagged"] is False  # 0 of 1: ci_high 0.79 ≥ 0.75
    assert body["targets"]["overall_accuracy"]["status"] == floor(
        expected["overall_accuracy"], 0.75
    )
    assert body["targets"]["critical_error_rate"]["status"] == cap(
        expected["critical_error_rate"], 0.05
    )


def test_the_label_confusion_crosses_primary_labels(world):
    cells = confusion_cells(
        queries.vendor_month(
            connection(), world.vendor.id, "ACME", MARCH, queries.Targets(None, None, None)
        )["label_confusion"]
    )
    # Hand-read from CONTRACT: the same set with another primary is a correct inspection
    # but shows off the diagonal; false negatives and positives cross with `approve`.
    assert cells[("LST-FAKE", "LST-FAKE")] == 2
    assert cells[("LST-FAKE", "LST-PROHIB")] == 1
    assert cells[("approve", "approve")] == 4
    assert cells[("approve", "LST-COPY")] == 1
    assert cells[("approve", "LST-PROHIB")] == 1
    assert cells[("approve", "LST-FAKE")] == 1
    assert cells[("LST-PROHIB", "approve")] == 1
    assert cells[("CNT-HATE", "CNT-SPAM")] == 1
    assert sum(cells.values()) == 27


def test_other_months_vendors_drafts_and_targeted_do_not_count_in_the_headline(world):
    counted = queries.read_vendor_month(connection(), world.other.id, MARCH)
    assert_close(counted.contract.as_dict(), figures(cases_at(ELSEWHERE, march)))
    february = queries.read_vendor_month(connection(), world.vendor.id, date(2026, 2, 1))
    assert february.contract.n == 2
    assert february.contract.correct == 0
    april = queries.read_vendor_month(connection(), world.vendor.id, date(2026, 4, 1))
    assert april.contract.n == 1
    assert april.targeted.n == 0


def test_vendor_metrics_uses_the_contract_version_in_force(world):
    # Versions out of order on purpose; March 2026 is governed by the February version.
    ContractFactory(vendor=world.vendor, effective_month=date(2026, 4, 1), accuracy_target=0.99)
    ContractFactory(
        vendor=world.vendor,
        effective_month=date(2026, 2, 1),
        accuracy_target=0.75,
        critical_error_cap=0.05,
    )
    ContractFactory(vendor=world.vendor, effective_month=date(2025, 6, 1), accuracy_target=0.2)
    body = vendor_metrics(world.vendor, MARCH)
    expected = expected_metrics(world, MARCH, 0.75)
    assert_metrics(body, expected)
    targets = body["targets"]
    assert targets["contract_month"] == "2026-02"
    assert targets["overall_accuracy"]["target"] == 0.75
    assert targets["critical_error_rate"]["target"] == 0.05
    # 11 of 27 correct: ci_high ≈ 0.59 < 0.75; 4 of 27 critical: ci_low ≈ 0.059 > 0.05.
    assert expected["overall_accuracy"]["ci_high"] < 0.75
    assert expected["critical_error_rate"]["ci_low"] > 0.05
    assert targets["overall_accuracy"]["status"] == "missed"
    assert targets["critical_error_rate"]["status"] == "missed"
    # A version is in force from its own month on.
    april = vendor_metrics(world.vendor, date(2026, 4, 1))["targets"]
    assert april["contract_month"] == "2026-04"
    assert april["overall_accuracy"]["target"] == 0.99
    assert april["overall_accuracy"]["status"] == "missed"  # 0 of 1 against 0.99


def test_without_a_contract_in_force_there_is_no_status_and_no_flag(world):
    ContractFactory(vendor=world.vendor, effective_month=date(2026, 4, 1))
    body = vendor_metrics(world.vendor, MARCH)
    assert_metrics(body, expected_metrics(world, MARCH))
    assert body["targets"]["contract_month"] is None
    assert body["targets"]["overall_accuracy"]["status"] is None
    assert body["targets"]["critical_error_rate"]["status"] is None
    assert not any(row["flagged"] for row in body["breakdowns"]["moderator"])


# Target status -----------------------------------------------------------------------------

RIGHT = ("MOD-A", "Manila", "US", "listing", ["LST-FAKE"], "reject", ["LST-FAKE"], "none", {})
WRONG = ("MOD-A", "Manila", "US", "listing", [], "reject", ["LST-FAKE"], "major", {})
CRITICAL = ("MOD-A", "Manila", "US", "listing", ["LST-FAKE"], "approve", [], "critical", {})


@pytest.fixture
def reference():
    return setup_reference()


def month_of(vendor, rows, labels, when=march):
    cases = cases_at(rows, when)
    inspect_cases(vendor, cases, labels, UserFactory(role="qa_inspector"))
    return cases


def status_of(vendor, accuracy_target, critical_cap, rows, labels):
    ContractFactory(
        vendor=vendor,
        effective_month=date(2026, 1, 1),
        accuracy_target=accuracy_target,
        critical_error_cap=critical_cap,
    )
    cases = month_of(vendor, rows, labels)
    body = vendor_metrics(vendor, MARCH)
    expected = figures(cases)
    for name in SHARE_NAMES:
        assert_close(body[name], expected[name], name)
    return body, expected


def test_targets_met(reference):
    vendor = VendorFactory()
    body, _ = status_of(vendor, 0.80, 0.10, [RIGHT] * 40, reference)
    accuracy, critical = body["overall_accuracy"], body["critical_error_rate"]
    assert (accuracy["count"], accuracy["n"]) == (40, 40)
    assert accuracy["ci_low"] == pytest.approx(0.9123784, abs=1e-7)  # ≥ 0.80
    assert accuracy["ci_low"] >= 0.80
    assert critical["count"] == 0
    assert critical["ci_high"] == pytest.approx(0.0876216, abs=1e-7)  # ≤ 0.10
    assert critical["ci_high"] <= 0.10
    assert body["targets"]["overall_accuracy"]["status"] == "met"
    assert body["targets"]["critical_error_rate"]["status"] == "met"


def test_targets_missed(reference):
    vendor = VendorFactory()
    rows = [RIGHT] * 10 + [WRONG] * 4 + [CRITICAL] * 6
    body, _ = status_of(vendor, 0.95, 0.02, rows, reference)
    accuracy, critical = body["overall_accuracy"], body["critical_error_rate"]
    assert (accuracy["count"], accuracy["n"]) == (10, 20)
    assert accuracy["ci_high"] == pytest.approx(0.7007020, abs=1e-7)  # < 0.95
    assert accuracy["ci_high"] < 0.95
    assert (critical["count"], critical["n"]) == (6, 20)
    assert critical["ci_low"] == pytest.approx(0.1454772, abs=1e-7)  # > 0.02
    assert critical["ci_low"] > 0.02
    assert body["targets"]["overall_accuracy"]["status"] == "missed"
    assert body["targets"]["critical_error_rate"]["status"] == "missed"


def test_targets_indistinguishable(reference):
    vendor = VendorFactory()
    body, _ = status_of(vendor, 0.90, 0.10, [RIGHT] * 9 + [CRITICAL], reference)
    accuracy, critical = body["overall_accuracy"], body["critical_error_rate"]
    # 9 of 10 is exactly the target as a point, but the interval holds it on both sides.
    assert (accuracy["count"], accuracy["n"]) == (9, 10)
    assert accuracy["ci_low"] == pytest.approx(0.5958500, abs=1e-7)
    assert accuracy["ci_high"] == pytest.approx(0.9821238, abs=1e-7)
    assert accuracy["ci_low"] < 0.90 <= accuracy["ci_high"]
    assert (critical["count"], critical["n"]) == (1, 10)
    assert critical["ci_low"] <= 0.10 < critical["ci_high"]
    assert body["targets"]["overall_accuracy"]["status"] == "indistinguishable"
    assert body["targets"]["critical_error_rate"]["status"] == "indistinguishable"


def test_targets_without_inspections_are_no_data(reference):
    vendor = VendorFactory()
    ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1))
    # Inspections in February only (and a draft in March): March has no data.
    month_of(vendor, [RIGHT, CRITICAL], reference, lambda i: datetime(2026, 2, 10 + i, tzinfo=UTC))
    draft = cases_at([WRONG], march)
    inspect_cases(vendor, draft, reference, UserFactory(role="qa_inspector"), final=False)
    body = vendor_metrics(vendor, MARCH)
    assert body["inspected"] == 0
    for name in SHARE_NAMES:
        assert body[name] == share(0, 0)
    assert body["rubric_score"] == {"value": None, "n": 0}
    assert all(rows == [] for rows in body["breakdowns"].values())
    assert body["label_confusion"] == []
    assert body["targets"]["overall_accuracy"]["status"] == "no_data"
    assert body["targets"]["critical_error_rate"]["status"] == "no_data"
    assert vendor_metrics(vendor, date(2026, 2, 1))["inspected"] == 2


# Flagged moderators -------------------------------------------------------------------------


def mod(row, moderator):
    return (moderator, *row[1:])


def test_a_moderator_is_flagged_only_when_the_interval_is_below_the_target(reference):
    vendor = VendorFactory()
    ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1), accuracy_target=0.75)
    rows = (
        [mod(WRONG, "ONE-WRONG")]  # 0 of 1: (0, 0.79) still reaches 0.75
        + [mod(RIGHT, "MANY-WRONG")] * 3
        + [mod(WRONG, "MANY-WRONG")] * 9  # 3 of 12: ci_high 0.53
        + [mod(RIGHT, "FEW-WRONG")] * 2
        + [mod(CRITICAL, "FEW-WRONG")]  # 2 of 3: ci_high 0.94
        + [mod(RIGHT, "ALL-RIGHT")] * 8
    )
    cases = month_of(vendor, rows, reference)
    body = vendor_metrics(vendor, MARCH)
    moderators = rows_by_key(body["breakdowns"]["moderator"])
    assert_close(moderators, breakdowns(cases, 0.75)["moderator"], "moderator")
    assert moderators["ONE-WRONG"]["overall_accuracy"]["ci_high"] == pytest.approx(
        0.7934506856227627, abs=1e-12
    )
    assert moderators["ONE-WRONG"]["flagged"] is False
    assert moderators["MANY-WRONG"]["overall_accuracy"]["ci_high"] < 0.75
    assert moderators["MANY-WRONG"]["flagged"] is True
    assert moderators["FEW-WRONG"]["flagged"] is False
    assert moderators["ALL-RIGHT"]["flagged"] is False
    # Only moderators are flagged; the other breakdowns have no such field.
    for name in ("policy_area", "market", "site"):
        assert all("flagged" not in row for row in body["breakdowns"][name])


def test_a_single_error_is_flagged_when_even_its_interval_misses_the_target(reference):
    vendor = VendorFactory()
    ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1), accuracy_target=0.95)
    month_of(vendor, [mod(WRONG, "ONE-WRONG")] + [mod(RIGHT, "OTHER")] * 3, reference)
    moderators = rows_by_key(vendor_metrics(vendor, MARCH)["breakdowns"]["moderator"])
    assert moderators["ONE-WRONG"]["flagged"] is True  # ci_high 0.79 < 0.95
    assert moderators["OTHER"]["flagged"] is False  # 3 of 3: ci_high 1


# Trend and all vendors ------------------------------------------------------------------------


def test_trend_over_six_months_with_an_empty_month(reference):
    vendor = VendorFactory()
    inspector = UserFactory(role="qa_inspector")
    per_month = {
        date(2025, 10, 1): [RIGHT, WRONG],
        date(2025, 11, 1): [RIGHT, RIGHT, mod(RIGHT, "MOD-B")],
        date(2025, 12, 1): [],
        date(2026, 1, 1): [RIGHT, CRITICAL, RIGHT, mod(WRONG, "MOD-B")],
        date(2026, 2, 1): [CRITICAL],
        date(2026, 3, 1): [RIGHT, RIGHT, RIGHT, RIGHT, WRONG],
    }
    cases = {}
    everything = []
    for first, rows in per_month.items():
        cases[first] = cases_at(
            rows, lambda i, m=first: datetime(m.year, m.month, 2 + i, 10, tzinfo=UTC)
        )
        everything += cases[first]
    # Outside the six months, targeted, and a draft: not in the contract trend.
    outside = cases_at(
        [WRONG, WRONG],
        lambda i: [datetime(2025, 9, 30, 23, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)][i],
    )
    inspect_cases(vendor, everything + outside, reference, inspector)
    targeted = cases_at([CRITICAL, RIGHT], lambda i: datetime(2026, 1, 20 + i, tzinfo=UTC))
    inspect_cases(vendor, targeted, reference, inspector, purpose="targeted")
    inspect_cases(
        vendor,
        cases_at([WRONG], lambda i: datetime(2025, 11, 20, tzinfo=UTC)),
        reference,
        inspector,
        final=False,
    )

    months = months_back(MARCH, 6)
    assert months == list(per_month)
    trend = queries.trend(connection(), vendor.id, months)
    assert sorted(trend) == months
    for first in months:
        assert_close(trend[first].as_dict(), figures(cases[first]), str(first))
    assert trend[date(2025, 12, 1)].n == 0
    # Any day names its month.
    one = queries.trend(connection(), vendor.id, [date(2026, 3, 17)])
    assert list(one) == [MARCH]
    assert_close(one[MARCH].as_dict(), figures(cases[MARCH]), "March")
    assert trend[date(2025, 12, 1)].share("overall_accuracy").as_dict() == share(0, 0)

    targeted_trend = queries.trend(connection(), vendor.id, months, purpose="targeted")
    assert_close(targeted_trend[date(2026, 1, 1)].as_dict(), figures(targeted))
    assert sum(f.n for f in targeted_trend.values()) == 2


def test_all_vendors_counts_each_vendor_of_the_month(world):
    initech = VendorFactory(code="INITECH")
    month_of(initech, [RIGHT], world.labels, lambda i: datetime(2026, 2, 3, tzinfo=UTC))
    counted = queries.all_vendors(connection(), MARCH)
    assert set(counted) == {world.vendor.id, world.other.id}
    assert_close(counted[world.vendor.id].as_dict(), figures(world.contract), "ACME")
    assert_close(counted[world.other.id].as_dict(), figures(cases_at(ELSEWHERE, march)), "GLOBEX")
    targeted = queries.all_vendors(connection(), MARCH, purpose="targeted")
    assert set(targeted) == {world.vendor.id}
    assert_close(targeted[world.vendor.id].as_dict(), figures(world.targeted), "targeted")
    assert set(queries.all_vendors(connection(), date(2026, 2, 1))) == {world.vendor.id, initech.id}


# Corrections --------------------------------------------------------------------------------


def correct_case(c: Case, lead, reason="Second look at the evidence", **changes) -> None:
    """Correct `c`'s inspection through the service and the test's own record alike."""
    values = {}
    if "expected" in changes:
        c.expected = values["expected_decision"] = changes["expected"]
    if "expected_labels" in changes:
        c.expected_labels = tuple(changes["expected_labels"])
        values["expected_labels"] = list(c.expected_labels)
    if "severity" in changes:
        c.severity = values["severity"] = changes["severity"]
    if "answers" in changes:
        c.answers = dict(changes["answers"])
        values["answers"] = c.all_answers()
    services.correct_inspection(
        c.inspection, values, actor=lead, version=c.inspection.version, reason=reason
    )


def test_a_correction_changes_the_metrics_accordingly(world):
    targets = queries.Targets(date(2026, 1, 1), 0.75, 0.05)
    before = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    assert_metrics(before, expected_metrics(world, MARCH, 0.75))

    approve_ok = world.contract[3]  # MOD-A, approve judged approve
    false_positive = world.contract[5]  # MOD-B, a reject judged approve
    reject_ok = world.contract[7]  # MOD-B, SEL-ID judged SEL-ID
    rubric_only = world.contract[0]  # MOD-A, LST-FAKE judged LST-FAKE
    correct_case(
        approve_ok,
        world.lead,
        expected="reject",
        expected_labels=["LST-PROHIB"],
        severity="critical",
        answers={"escalation_followed": "no"},
    )
    correct_case(
        false_positive,
        world.lead,
        expected="reject",
        expected_labels=["LST-PROHIB"],
        severity="none",
    )
    correct_case(reject_ok, world.lead, expected="approve", expected_labels=[], severity="major")
    correct_case(rubric_only, world.lead, answers={"evidence_checked": "no"})

    after = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    assert_metrics(after, expected_metrics(world, MARCH, 0.75))
    # What a reader sees move (hand-counted): 11 - 1 + 1 - 1 correct; one more false
    # negative and critical error; one false positive fewer and one more.
    assert before["overall_accuracy"]["count"] == 11
    assert after["overall_accuracy"]["count"] == 10
    assert after["false_negative_rate"]["count"] == before["false_negative_rate"]["count"] + 1
    assert after["false_positive_rate"]["count"] == before["false_positive_rate"]["count"]
    assert after["critical_error_rate"]["count"] == before["critical_error_rate"]["count"] + 1
    assert (after["label_accuracy"]["count"], after["label_accuracy"]["n"]) == (7, 12)
    assert after["rubric_score"]["value"] != pytest.approx(before["rubric_score"]["value"])
    moderators = rows_by_key(after["breakdowns"]["moderator"])
    assert moderators["MOD-A"]["overall_accuracy"]["count"] == 2
    assert moderators["MOD-B"]["overall_accuracy"]["count"] == 2
    assert moderators["MOD-B"]["false_positive_rate"]["count"] == 1
    cells = confusion_cells(after["label_confusion"])
    assert cells[("approve", "LST-PROHIB")] == 2
    assert cells[("LST-PROHIB", "LST-PROHIB")] == 1
    assert cells[("SEL-ID", "approve")] == 1
    assert ("LST-PROHIB", "approve") not in cells
    assert ("SEL-ID", "SEL-ID") not in cells


def test_a_correction_of_the_expected_primary_label_moves_the_confusion_only(world):
    targets = queries.Targets(None, None, None)
    before = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    # MOD-A applied LST-FAKE, LST-PROHIB; QA now says the primary is LST-FAKE after all.
    reordered = world.contract[1]
    correct_case(reordered, world.lead, expected_labels=["LST-FAKE", "LST-PROHIB"])
    after = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    assert_metrics(after, expected_metrics(world, MARCH))
    for name in SHARE_NAMES:
        assert after[name] == before[name]
    assert confusion_cells(after["label_confusion"])[("LST-FAKE", "LST-FAKE")] == 3
    assert ("LST-FAKE", "LST-PROHIB") not in confusion_cells(after["label_confusion"])


def test_a_refused_correction_changes_nothing(world):
    targets = queries.Targets(None, None, None)
    before = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    target = world.contract[3]
    values = {"expected_decision": "reject", "expected_labels": ["LST-FAKE"], "severity": "major"}
    with pytest.raises(ValidationFailed):
        services.correct_inspection(
            target.inspection,
            values,
            actor=world.lead,
            version=target.inspection.version,
            reason=" ",
        )
    with pytest.raises(NotAllowed):
        services.correct_inspection(
            target.inspection,
            values,
            actor=world.inspector,
            version=target.inspection.version,
            reason="I changed my mind",
        )
    after = queries.vendor_month(connection(), world.vendor.id, "ACME", MARCH, targets)
    assert_metrics(after, expected_metrics(world, MARCH))
    assert after["overall_accuracy"] == before["overall_accuracy"]
