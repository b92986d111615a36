"""What the app factory makes of the configuration (DESIGN §8): it refuses to start
without a secret key, production cookies carry their flags, and only trusted proxies
decide the client address. (Reading the configuration: tests/unit/test_config.py.)"""

from __future__ import annotations

import pytest
from flask import request

from app import create_app
from app.config import ConfigError, load_config
from app.security.access import PUBLIC
from tests.builders.environment import STRONG_AUDIT_KEY, STRONG_SECRET, clean_environment


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Start every test from an empty environment and a throwaway instance folder."""
    clean_environment(monkeypatch, tmp_path / "instance")


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("AUDIT_KEY", STRONG_AUDIT_KEY)


def test_production_refuses_to_start_without_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config()
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_audit_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    with pytest.raises(ConfigError, match="AUDIT_KEY"):
        create_app()


def test_production_cookies_are_secure_httponly_and_samesite_lax(production, tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    assert app.config["APP_ENV"] == "production"
    assert not app.debug
    for prefix in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        assert app.config[f"{prefix}_SECURE"] is True
        assert app.config[f"{prefix}_HTTPONLY"] is True
        assert app.config[f"{prefix}_SAMESITE"] == "Lax"


def test_production_session_cookie_carries_the_flags(production, tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    # The sign-in page stores the CSRF token in the session, so it sets the cookie.
    response = app.test_client().get("/auth/login", base_url="https://portal.example")
    cookie = next(
        value for value in response.headers.getlist("Set-Cookie") if "vqa_session=" in value
    )
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize(("hops", "seen"), [("0", "10.0.0.2"), ("1", "203.0.113.7")])
def test_trusted_proxies_decide_the_client_address(monkeypatch, hops, seen):
    """The client address keys the login rate limit: behind a load balancer it must be the
    browser's, and without a trusted proxy a forged header must change nothing."""
    monkeypatch.setenv("TRUSTED_PROXIES", hops)
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )

    def whoami():
        return {"address": request.remote_addr}

    whoami.access_policy = PUBLIC
    app.add_url_rule("/whoami", "whoami", whoami)
    response = app.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert response.get_json() == {"address": seen}
