"""Every route declares who may reach it; an undeclared route is refused."""

import pytest
from flask import Blueprint

from app import create_app
from app.security.access import policy_for


def test_every_route_declares_an_access_policy(app):
    missing = [
        f"{rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if policy_for(app, rule.endpoint) is None
    ]
    assert missing == [], "routes without an access policy: " + ", ".join(missing)


def test_only_expected_routes_are_public(app):
    public = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if policy_for(app, rule.endpoint).kind == "public"
    )
    assert public == [
        "/api/v1/openapi.json",
        "/auth/login",
        "/bootstrap/static/<path:filename>",
        "/healthz",
        "/static/<path:filename>",
    ]


@pytest.fixture
def bare_app(tmp_path):
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"}
    )
    bp = Blueprint("undeclared", __name__, url_prefix="/undeclared")

    @bp.get("/")
    def index():
        return "secret"

    app.register_blueprint(bp)
    return app


def test_a_route_without_policy_is_refused_at_run_time(bare_app):
    response = bare_app.test_client().get("/undeclared/")
    assert response.status_code == 403
    assert b"secret" not in response.data
