"""Configuration from the environment (DESIGN §8): safe production defaults, refusals
that name what is wrong, and the switches operators rely on. What the app factory makes
of them (cookies, proxies) is in tests/functional/test_app_config.py."""

from __future__ import annotations

import stat

import pytest

import app.config as config
from app.config import ConfigError, load_config
from tests.builders.environment import STRONG_AUDIT_KEY, STRONG_SECRET, clean_environment


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Start every test from an empty environment and a throwaway instance folder."""
    clean_environment(monkeypatch, tmp_path / "instance")


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("AUDIT_KEY", STRONG_AUDIT_KEY)


def test_production_is_the_default(production):
    settings = load_config()
    assert settings["APP_ENV"] == "production"
    assert settings["DEBUG"] is False
    assert settings["TESTING"] is False


WEAK_KEYS = [
    "",
    "dev",
    "changeme",
    "short-but-random-9f8e7d",  # under 32 characters
    "a" * 64,  # long but guessable
    "abab" * 10,
]


@pytest.mark.parametrize("secret", WEAK_KEYS)
def test_production_refuses_weak_secret_keys(monkeypatch, secret):
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("AUDIT_KEY", STRONG_AUDIT_KEY)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config()


@pytest.mark.promise("audit")
@pytest.mark.parametrize("key", WEAK_KEYS)
def test_production_refuses_a_missing_or_weak_audit_key(monkeypatch, tried, key):
    """The audit chain's key lives in the environment, never in the database: production
    does not start without a strong one."""
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("AUDIT_KEY", key)
    tried()
    with pytest.raises(ConfigError, match="AUDIT_KEY must be set to a random value"):
        load_config()


def test_production_refuses_an_audit_key_equal_to_the_secret_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("AUDIT_KEY", STRONG_SECRET)
    with pytest.raises(ConfigError, match="AUDIT_KEY must differ from SECRET_KEY"):
        load_config()


def test_production_reads_the_audit_key_from_the_environment(production):
    assert load_config()["AUDIT_KEY"] == STRONG_AUDIT_KEY


def test_schema_commands_run_without_the_audit_key(monkeypatch):
    """`flask db upgrade` in a deploy step writes no audit event: it needs neither key,
    and gets no audit key (an event written there would fail, not go unkeyed)."""
    monkeypatch.setattr(config.sys, "argv", ["/srv/portal/.venv/bin/flask", "db", "upgrade"])
    settings = load_config()
    assert settings["AUDIT_KEY"] is None
    monkeypatch.setattr(config.sys, "argv", ["/srv/portal/.venv/bin/flask", "audit", "verify"])
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config()


@pytest.mark.parametrize("env", ["development", "testing"])
def test_development_and_testing_derive_an_audit_key_from_the_secret(monkeypatch, env):
    monkeypatch.setenv("APP_ENV", env)
    first = load_config()
    assert len(first["AUDIT_KEY"]) >= config.MIN_SECRET_LENGTH
    assert first["AUDIT_KEY"] != first["SECRET_KEY"]
    assert load_config()["AUDIT_KEY"] == first["AUDIT_KEY"]  # stable across restarts
    monkeypatch.setenv("AUDIT_KEY", STRONG_AUDIT_KEY)
    assert load_config()["AUDIT_KEY"] == STRONG_AUDIT_KEY


def test_secret_key_passed_by_the_caller_is_checked_too():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"SECRET_KEY": "secret"})


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_production_refuses_debug_mode(monkeypatch, production, value):
    monkeypatch.setenv("FLASK_DEBUG", value)
    with pytest.raises(ConfigError, match="debug"):
        load_config()


@pytest.mark.parametrize("value", ["0", "false", "False", "no", ""])
def test_flask_debug_off_values_are_accepted_in_production(monkeypatch, production, value):
    monkeypatch.setenv("FLASK_DEBUG", value)
    assert load_config()["DEBUG"] is False


def test_unknown_app_env_is_refused(monkeypatch, production):
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(ConfigError, match="APP_ENV must be one of production, development"):
        load_config()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://portal:pw@db.internal:5432/portal",
        "postgresql://portal:pw@db.internal:5432/portal",
        "postgresql+psycopg://portal:pw@db.internal:5432/portal",
    ],
)
def test_postgres_urls_use_psycopg3(monkeypatch, production, url):
    monkeypatch.setenv("DATABASE_URL", url)
    settings = load_config()
    assert (
        settings["SQLALCHEMY_DATABASE_URI"]
        == "postgresql+psycopg://portal:pw@db.internal:5432/portal"
    )


def test_database_url_given_by_the_caller_is_normalised_too(production):
    settings = load_config({"SQLALCHEMY_DATABASE_URI": "postgres://u@h/db"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_sqlite_default_lives_under_instance_and_the_folder_is_made(production):
    instance = config.INSTANCE_DIR
    assert not instance.exists()
    settings = load_config()
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'portal.db'}"
    assert instance.is_dir()  # SQLite cannot create the folder of its file itself
    assert settings["UPLOAD_DIR"] == str(instance / "uploads")


def test_the_default_database_is_in_the_checkouts_instance_folder(monkeypatch, production):
    monkeypatch.setattr(config, "INSTANCE_DIR", config.BASE_DIR / "instance")
    expected = config.BASE_DIR / "instance" / "portal.db"
    assert load_config()["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


def test_upload_dir_comes_from_the_environment(monkeypatch, production, tmp_path):
    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path / "shared"))
    assert load_config()["UPLOAD_DIR"] == str(tmp_path / "shared")


def test_without_redis_rate_limits_are_counted_in_memory(production):
    settings = load_config()
    assert settings["REDIS_URL"] is None
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"


def test_redis_url_switches_the_rate_limit_storage(monkeypatch, production):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    settings = load_config()
    assert settings["REDIS_URL"] == "redis://cache.internal:6379/0"
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"


def test_explicit_rate_limit_storage_wins_over_redis_url(monkeypatch, production):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    settings = load_config({"RATELIMIT_STORAGE_URI": "memory://"})
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"


def test_holiday_country_defaults_to_us_and_is_read_case_insensitively(monkeypatch, production):
    assert load_config()["QA_HOLIDAY_COUNTRY"] == "US"
    monkeypatch.setenv("QA_HOLIDAY_COUNTRY", "ph")
    assert load_config()["QA_HOLIDAY_COUNTRY"] == "PH"


def test_unsupported_holiday_country_is_refused(monkeypatch, production):
    monkeypatch.setenv("QA_HOLIDAY_COUNTRY", "XX")
    with pytest.raises(ConfigError, match="QA_HOLIDAY_COUNTRY 'XX'"):
        load_config()


def test_development_keeps_its_generated_secret_in_instance(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    first = load_config()
    path = config.INSTANCE_DIR / "secret_key"
    assert path.read_text() == first["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= config.MIN_SECRET_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A restart reads the same secret, so signed-in sessions survive it.
    assert load_config()["SECRET_KEY"] == first["SECRET_KEY"]
    assert first["DEBUG"] is True
    assert first["SESSION_COOKIE_SECURE"] is False


def test_development_replaces_an_empty_secret_file(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    config.INSTANCE_DIR.mkdir(parents=True)
    (config.INSTANCE_DIR / "secret_key").write_text("\n")
    secret = load_config()["SECRET_KEY"]
    assert len(secret) >= config.MIN_SECRET_LENGTH
    assert (config.INSTANCE_DIR / "secret_key").read_text() == secret


def test_development_uses_secret_key_from_environment_when_given(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("SECRET_KEY", "anything-goes-in-development")
    assert load_config()["SECRET_KEY"] == "anything-goes-in-development"
    assert not (config.INSTANCE_DIR / "secret_key").exists()


def test_app_env_given_by_the_caller_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    settings = load_config({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert settings["APP_ENV"] == "testing"
    assert settings["TESTING"] is True


def test_no_proxy_is_trusted_by_default(production):
    assert load_config()["TRUSTED_PROXIES"] == 0


@pytest.mark.parametrize("value", ["many", "-1", "9"])
def test_trusted_proxies_must_be_a_small_number(monkeypatch, production, value):
    monkeypatch.setenv("TRUSTED_PROXIES", value)
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_config()
