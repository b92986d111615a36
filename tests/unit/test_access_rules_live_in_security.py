"""Access rules live in app/security/ and nowhere else: no route, API module, service or
template decides by testing a role. Managing roles as data (the users and tokens admin,
the demo data and the CLI that create users) is the exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Where a role is data, not a permission.
ROLES_AS_DATA = (
    "app/security/",
    "app/models/",
    "app/users/",
    "app/tokens/",
    "app/seed/",
    "app/cli.py",
    "templates/users/",
    "templates/tokens/",
)

ROLE_TESTS = [
    re.compile(r"\brole\s*(==|!=)"),
    re.compile(r"\brole\s+(not\s+)?in\b"),
    re.compile(r"\bis_vendor_user\b"),
    re.compile(r"\.is_qa\b"),
    re.compile(r"\b(VENDOR|QA|STAFF)_ROLES\b"),
    re.compile(r"\bJOB_VIEWER_ROLES\b"),
]


def _sources() -> list[Path]:
    files = sorted((ROOT / "app").rglob("*.py")) + sorted((ROOT / "templates").rglob("*.html"))
    return [f for f in files if not str(f.relative_to(ROOT)).startswith(ROLES_AS_DATA)]


def role_tests_in(text: str) -> list[str]:
    """The lines of `text` that decide something by a role."""
    return [
        line.strip()
        for line in text.splitlines()
        if any(pattern.search(line) for pattern in ROLE_TESTS)
    ]


@pytest.mark.parametrize(
    "line",
    [
        "if current_user.role == ROLE_ADMIN:",
        "{% if current_user.role in ('admin', 'qa_lead') %}",
        "show = not current_user.is_vendor_user",
        "if user.role not in QA_ROLES:",
        "{% if open_item and current_user.is_qa %}",
    ],
)
def test_the_check_finds_a_role_test(line):
    assert role_tests_in(line) == [line]


@pytest.mark.parametrize(
    "line",
    [
        "@access(signed_in(ROLE_QA_LEAD))",
        "{% if can_administer(current_user) %}",
        '<div class="alert" role="alert">',
    ],
)
def test_the_check_leaves_policies_predicates_and_aria_roles(line):
    assert role_tests_in(line) == []


def test_no_route_service_api_module_or_template_tests_a_role():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in _sources()
        if (lines := role_tests_in(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "ask a predicate of app/security instead: " + repr(found)
