"""Identifiers in URL paths: a vendor code or an external id holding a control character
(a NUL above all, which PostgreSQL refuses to compare with text) names nothing, so every
route with a text parameter answers 404 before the database is asked, never 500."""

from __future__ import annotations

import re

import pytest

from app.security.roles import ROLE_SCOPES
from tests.factories import VendorFactory

pytestmark = pytest.mark.promise("requests")

BAD = ["%00", "A%00B", "ACME%01", "%1F", "%7F", "x%0Ay"]
SKIP_METHODS = {"HEAD", "OPTIONS"}


PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _text_rules(app):
    """(rule, method) of every route with a parameter that is not a numeric id."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        if any(conv != "id" for conv, _ in PARAMETER.findall(rule.rule)):
            found += [(rule, method) for method in sorted(rule.methods - SKIP_METHODS)]
    return found


def _path(rule, bad: str) -> str:
    return PARAMETER.sub(lambda m: "1" if m[1] == "id" else bad, rule.rule)


def test_there_are_text_parameters_to_check(app):
    endpoints = {rule.endpoint for rule, _ in _text_rules(app)}
    assert {"api.get_decision", "vendors.detail", "dashboards.vendor"} <= endpoints, endpoints


@pytest.mark.parametrize("bad", BAD)
def test_a_control_character_in_a_path_identifier_is_not_found(
    app, client, login_as, api_client, make_user, bad
):
    VendorFactory(code="ACME")
    login_as("admin")
    api = api_client(make_user("qa_lead"), scopes=list(ROLE_SCOPES["qa_lead"]))
    failures = []
    for rule, method in _text_rules(app):
        path = _path(rule, bad)
        caller = api if rule.endpoint.startswith("api.") else client
        response = getattr(caller, method.lower())(path)
        if response.status_code >= 500 or (method == "GET" and response.status_code != 404):
            failures.append(f"{method} {path} -> {response.status_code}")
    assert failures == []
