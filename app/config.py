"""Configuration read from the environment (DESIGN §8).

`APP_ENV` picks the class: `production` (the default), `development` or `testing`.
Production refuses to start without a strong `SECRET_KEY` or with debug on;
development keeps a generated secret in `instance/` so sessions survive restarts.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import holidays

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = BASE_DIR / "instance"

WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me", "development", "test"}
MIN_SECRET_LENGTH = 32
# A long secret made of a handful of characters ("aaaa…", "abab…") is still guessable.
MIN_SECRET_DISTINCT_CHARS = 10
# The values Flask itself reads as "debug off" (flask.helpers.get_debug_flag).
_FALSE_FLAGS = {"", "0", "false", "no"}


class ConfigError(RuntimeError):
    """The environment does not describe a configuration the portal can run with."""


class Config:
    APP_ENV = "production"
    DEBUG = False
    TESTING = False

    # None: a SQLite file under instance/ (see load_config), so a fresh checkout runs as is.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SECRET_KEY: str | None = None
    REDIS_URL: str | None = None
    UPLOAD_DIR: str | None = None  # None: instance/uploads
    QA_HOLIDAY_COUNTRY = "US"

    # Sessions: signed cookies, validated against each user's session token.
    SESSION_COOKIE_NAME = "vqa_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True

    WTF_CSRF_TIME_LIMIT = 8 * 3600
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024

    # Argon2id parameters (RFC 9106 second recommended option); hashes made with
    # other parameters are upgraded at the next successful login.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 64 * 1024
    ARGON2_PARALLELISM = 4

    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    # Proxies (load balancers) in front of the portal whose X-Forwarded-For is trusted.
    TRUSTED_PROXIES = 0
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True

    BOOTSTRAP_SERVE_LOCAL = True
    PAGE_SIZE = 25
    # PostgreSQL draws from populations at least this large read digests and
    # candidates on two connections at once (app/sampling/population.py).
    SAMPLING_SPLIT_FROM = 50_000


class DevelopmentConfig(Config):
    APP_ENV = "development"
    DEBUG = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False


class TestingConfig(Config):
    APP_ENV = "testing"
    TESTING = True
    # Functional tests post forms directly; one test turns CSRF back on to prove it works.
    WTF_CSRF_ENABLED = False
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    SECRET_KEY = "testing-secret-key-that-is-long-enough-for-checks"  # noqa: S105
    # Cheap hashes keep the suite fast; production parameters are checked separately.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    ARGON2_PARALLELISM = 1
    # A smaller demo data set keeps the seed-demo tests quick.
    DEMO_DECISIONS_PER_MONTH = 60
    DEMO_SAMPLE_SIZE = 12


CONFIGS = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def _normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _default_database_url() -> str:
    """A SQLite file under `instance/`; the folder is not in version control, so make it
    (SQLite cannot create the folder of its database file)."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{INSTANCE_DIR / 'portal.db'}"


def _development_secret() -> str:
    """A secret generated once per checkout and kept in `instance/`."""
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Created owner-only from the start, never readable by others even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    path.chmod(0o600)
    return value


def _hop_count(value: str) -> int:
    try:
        hops = int(value)
    except ValueError:
        hops = -1
    if not 0 <= hops <= 5:
        raise ConfigError(f"TRUSTED_PROXIES must be a number of proxies from 0 to 5, not {value!r}")
    return hops


def load_config(overrides: dict | None = None) -> dict:
    """Build the settings dict for `create_app` from `APP_ENV`, the environment and overrides."""
    overrides = dict(overrides or {})
    env_name = overrides.get("APP_ENV") or os.environ.get("APP_ENV") or "production"
    if env_name not in CONFIGS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {env_name!r}")
    cls = CONFIGS[env_name]
    settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}

    env = os.environ
    if env.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(env["DATABASE_URL"])
    if env.get("SECRET_KEY"):
        settings["SECRET_KEY"] = env["SECRET_KEY"]
    if env.get("REDIS_URL"):
        settings["REDIS_URL"] = env["REDIS_URL"]
    if env.get("UPLOAD_DIR"):
        settings["UPLOAD_DIR"] = env["UPLOAD_DIR"]
    if env.get("QA_HOLIDAY_COUNTRY"):
        settings["QA_HOLIDAY_COUNTRY"] = env["QA_HOLIDAY_COUNTRY"].upper()
    if env.get("TRUSTED_PROXIES"):
        settings["TRUSTED_PROXIES"] = _hop_count(env["TRUSTED_PROXIES"])
    if env.get("FLASK_DEBUG", "").strip().lower() not in _FALSE_FLAGS:
        settings["DEBUG"] = True

    settings.update(overrides)
    settings["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(
        settings.get("SQLALCHEMY_DATABASE_URI") or _default_database_url()
    )
    if not settings.get("UPLOAD_DIR"):
        settings["UPLOAD_DIR"] = str(INSTANCE_DIR / "uploads")
    # Several workers must share one count of login attempts; an explicit storage
    # given by the caller (tests) wins.
    if settings.get("REDIS_URL") and "RATELIMIT_STORAGE_URI" not in overrides:
        settings["RATELIMIT_STORAGE_URI"] = settings["REDIS_URL"]

    if env_name == "development" and not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _development_secret()
    _validate(settings, env_name)
    return settings


def _schema_command() -> bool:
    """`flask db …` only reads and migrates the schema: it signs nothing, so it may run
    where the web secret is not configured (e.g. a migration step in a deploy)."""
    args = sys.argv
    return bool(args) and Path(args[0]).name == "flask" and "db" in args[1:]


def _validate(settings: dict, env_name: str) -> None:
    if env_name == "production" and _schema_command() and not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = secrets.token_urlsafe(48)  # unused by schema commands
    if env_name == "production":
        secret = settings.get("SECRET_KEY") or ""
        if (
            secret.lower() in WEAK_SECRETS
            or len(secret) < MIN_SECRET_LENGTH
            or len(set(secret)) < MIN_SECRET_DISTINCT_CHARS
        ):
            raise ConfigError(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                "characters in production (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        if settings.get("DEBUG"):
            raise ConfigError("debug mode must not be enabled in production")
    if not settings.get("SECRET_KEY"):
        raise ConfigError("SECRET_KEY is not set")
    country = settings.get("QA_HOLIDAY_COUNTRY")
    if country not in holidays.list_supported_countries():
        raise ConfigError(f"QA_HOLIDAY_COUNTRY {country!r} is not a supported country code")
