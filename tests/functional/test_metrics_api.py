"""GET /api/v1/vendors/<code>/metrics?month=YYYY-MM (DESIGN §3, §11): the same numbers
as the dashboard's vendor_metrics() and as an independent computation, in the shape of
§11, for staff and for the vendor's own users (another vendor's code is a 404)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from app.dashboards.queries import vendor_metrics
from tests.builders.metrics import (
    BREAKDOWN_FIELDS,
    MARCH,
    SHARE_NAMES,
    assert_metrics,
    build_month,
    cap,
    expected_metrics,
    floor,
    rows_by_key,
)
from tests.builders.world import module_world
from tests.factories import ContractFactory

SHARE_KEYS = {"value", "count", "n", "ci_low", "ci_high"}
FIGURE_KEYS = {"inspected", *SHARE_NAMES, "rubric_score"}


def url(code: str = "ACME", month: str | None = "2026-03") -> str:
    return f"/api/v1/vendors/{code}/metrics" + (f"?month={month}" if month is not None else "")


@module_world
def world():
    """ACME's March 2026 (tests/builders/metrics.py) with a contract for ACME: accuracy
    ≥ 75%, critical errors ≤ 5%."""
    world = build_month()
    ContractFactory(
        vendor=world.vendor,
        effective_month=date(2026, 1, 1),
        accuracy_target=0.75,
        critical_error_cap=0.05,
    )
    return world


def get_metrics(api, code="ACME", month="2026-03") -> dict:
    response = api.get(url(code, month))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "admin", "integration"])
def test_staff_get_the_numbers_of_vendor_metrics_and_of_the_independent_computation(
    api_client, make_user, world, role
):
    body = get_metrics(api_client(make_user(role)))
    expected = expected_metrics(world, MARCH, 0.75)
    assert_metrics(body, expected)
    # The dashboard's numbers, exactly as JSON carries them.
    assert body == json.loads(json.dumps(vendor_metrics(world.vendor, MARCH)))
    assert body["vendor"] == "ACME"
    assert body["month"] == "2026-03"
    assert body["inspected"] == 27
    assert body["targets"]["contract_month"] == "2026-01"
    assert body["targets"]["overall_accuracy"]["target"] == 0.75
    assert body["targets"]["overall_accuracy"]["status"] == floor(
        expected["overall_accuracy"], 0.75
    )
    assert body["targets"]["overall_accuracy"]["status"] == "missed"
    assert body["targets"]["critical_error_rate"]["target"] == 0.05
    assert body["targets"]["critical_error_rate"]["status"] == cap(
        expected["critical_error_rate"], 0.05
    )


@pytest.mark.parametrize("role", ["vendor_viewer", "vendor_lead"])
def test_a_vendor_user_gets_its_own_vendors_metrics(api_client, make_user, world, role):
    api = api_client(make_user(role, vendor=world.vendor))
    body = get_metrics(api)
    assert_metrics(body, expected_metrics(world, MARCH, 0.75))
    staff = get_metrics(api_client(make_user("qa_lead")))
    assert body == staff


@pytest.mark.parametrize("role", ["vendor_viewer", "vendor_lead"])
def test_a_vendor_user_gets_404_for_another_vendor(api_client, make_user, world, role):
    api = api_client(make_user(role, vendor=world.vendor))
    hidden = api.get(url("GLOBEX"))
    absent = api.get(url("NOSUCH"))
    assert hidden.status_code == 404
    assert absent.status_code == 404
    assert "inspected" not in hidden.get_json()
    hidden_error, absent_error = hidden.get_json()["error"], absent.get_json()["error"]
    assert hidden_error["code"] == absent_error["code"]
    assert hidden_error["message"].replace("GLOBEX", "?") == absent_error["message"].replace(
        "NOSUCH", "?"
    )
    # Staff do see GLOBEX's March.
    assert get_metrics(api_client(make_user("qa_lead")), "GLOBEX")["inspected"] == 3


def test_another_vendors_user_cannot_read_acme(api_client, make_user, world):
    api = api_client(make_user("vendor_lead", vendor=world.other))
    assert api.get(url("ACME")).status_code == 404
    assert get_metrics(api, "GLOBEX")["inspected"] == 3


def test_a_token_without_the_read_scope_gets_no_metrics(api_client, make_user, world):
    response = api_client(make_user("integration"), scopes=["decisions:write"]).get(url())
    assert response.status_code == 403
    assert "inspected" not in response.get_json()


def test_an_unknown_vendor_is_404(api_client, make_user, world):
    response = api_client(make_user("qa_lead")).get(url("NOSUCH"))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?month=",
        "?month=2026-3",
        "?month=2026-13",
        "?month=2026-00",
        "?month=0000-01",
        "?month=March",
        "?month=03-2026",
        "?month=2026-03-01",
        "?month=2026/03",
    ],
)
def test_a_missing_or_malformed_month_is_a_422_naming_month(api_client, make_user, world, query):
    response = api_client(make_user("qa_lead")).get(f"/api/v1/vendors/ACME/metrics{query}")
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert "month" in error["message"]
    assert [detail["field"] for detail in error["details"]] == ["month"]


def test_a_month_without_inspections_answers_zeros_and_no_data(api_client, make_user, world):
    body = get_metrics(api_client(make_user("qa_lead")), month="2025-12")
    assert body["inspected"] == 0
    for name in SHARE_NAMES:
        assert body[name] == {"value": None, "count": 0, "n": 0, "ci_low": None, "ci_high": None}
    assert body["rubric_score"] == {"value": None, "n": 0}
    assert body["targets"]["contract_month"] is None  # the contract starts in 2026-01
    assert body["label_confusion"] == []


def test_the_answer_has_the_shape_of_design_section_11(api_client, make_user, world):
    body = get_metrics(api_client(make_user("qa_lead")))
    required = {
        "vendor",
        "month",
        *FIGURE_KEYS,
        "targets",
        "breakdowns",
        "label_confusion",
        "targeted",
    }
    assert required <= set(body)
    assert isinstance(body["vendor"], str)
    assert isinstance(body["month"], str)
    assert isinstance(body["inspected"], int)

    def check_figures(figures: dict, where: str) -> None:
        assert set(figures) >= FIGURE_KEYS, where
        for name in SHARE_NAMES:
            one = figures[name]
            assert set(one) == SHARE_KEYS, f"{where}.{name}"
            assert isinstance(one["count"], int) and isinstance(one["n"], int)
            if one["n"]:
                assert 0 <= one["ci_low"] <= one["value"] <= one["ci_high"] <= 1
            else:
                assert one["value"] is one["ci_low"] is one["ci_high"] is None
        assert set(figures["rubric_score"]) >= {"value", "n"}, where

    check_figures(body, "metrics")
    check_figures(body["targeted"], "targeted")
    for name in ("overall_accuracy", "critical_error_rate"):
        assert body["targets"][name]["status"] in ("met", "missed", "indistinguishable", "no_data")
    assert set(body["breakdowns"]) >= set(BREAKDOWN_FIELDS)
    for name in BREAKDOWN_FIELDS:
        rows = body["breakdowns"][name]
        assert rows, name
        for key, row in rows_by_key(rows).items():
            check_figures(row, f"{name}.{key}")
    assert {row["key"] for row in body["breakdowns"]["policy_area"]} == {
        "listing",
        "seller",
        "content",
        "ipr",
    }
    assert all(isinstance(row["flagged"], bool) for row in body["breakdowns"]["moderator"])
    assert body["label_confusion"]
    for row in body["label_confusion"]:
        assert set(row) == {"applied", "expected", "count"}
        assert isinstance(row["count"], int) and row["count"] > 0
