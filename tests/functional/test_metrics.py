"""The metrics of a vendor-month (DESIGN §3) counted by app/metrics/queries.py, compared
with an independent computation in plain Python over the same fixture data and with
statsmodels' Wilson interval (both in tests/builders/metrics.py); target status against
the contract in force; trends, all vendors, flagged moderators and corrections."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.dashboards.queries import vendor_metrics
from app.errors import NotAllowed, ValidationFailed
from app.extensions import db
from app.inspections import services
from app.metrics import queries
from app.months import back as months_back
from tests.builders.metrics import (
    BREAKDOWN_FIELDS,
    ELSEWHERE,
    MARCH,
    SHARE_NAMES,
    Case,
    assert_close,
    assert_metrics,
    breakdowns,
    build_month,
    cap,
    cases_at,
    confusion,
    confusion_cells,
    expected_metrics,
    figures,
    floor,
    inspect_cases,
    march,
    rows_by_key,
    setup_reference,
    share,
)
from tests.builders.world import module_world
from tests.factories import ContractFactory, UserFactory, VendorFactory


def connection():
    return db.session.connection()


# The realistic vendor-month --------------------------------------------------------------


@module_world
def world():
    """ACME's March 2026 (tests/builders/metrics.py), built once for the module."""
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


@module_world
def reference():
    """A published scorecard per policy area and the label taxonomy, by code."""
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
