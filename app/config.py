"""Configuration read from the environment (DESIGN §8).

`APP_ENV` picks the class: `production` (the default), `development` or `testing`.
Production refuses to start without a strong `SECRET_KEY` and a strong `AUDIT_KEY`
(which keys the audit chain and is kept out of the database), or with debug on;
development keeps a generated secret in `instance/` so sessions survive restarts, and
development and testing derive their audit key from it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
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
    # Keys the audit chain (HMAC-SHA256); never stored in the database (app/audit/services.py).
    AUDIT_KEY: str | None = None
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
    # Request bodies: every request, anonymous ones included, may carry this much. The
    # decisions import and the API's bulk push raise it, but only for a request that has
    # passed their access policy (app/security/access.py, `body_limit`).
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    IMPORT_MAX_BYTES = 512 * 1024 * 1024  # a decisions CSV file (page and API)
    API_DECISIONS_MAX_BYTES = 64 * 1024 * 1024  # a POST /api/v1/decisions body

    # Argon2id parameters (RFC 9106 second recommended option); hashes made with
    # other parameters are upgraded at the next successful login.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 64 * 1024
    ARGON2_PARALLELISM = 4

    # Sign-in limits (app/auth/throttle.py). None is kept per account alone: a stranger
    # must not be able to lock an account by failing to sign in to it.
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"  # every attempt, per client address
    LOGIN_ACCOUNT_RATE_LIMIT = "5 per 15 minutes;20 per day"  # failures, per address+account
    LOGIN_GUARD_TRIGGER = "50 per 10 minutes;300 per day"  # failures of the whole portal
    LOGIN_GUARDED_RATE_LIMIT = "3 per hour;6 per day"  # failures per address while guarded
    # Proxies (load balancers) in front of the portal whose X-Forwarded-For is trusted.
    TRUSTED_PROXIES = 0
    RATELIMIT_STORAGE_URI = "memory://"
    # While Redis (the shared store) is down, count in this process's memory rather
    # than fail; Redis is used again once it answers.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True

    BOOTSTRAP_SERVE_LOCAL = True
    PAGE_SIZE = 25
    # PostgreSQL draws from populations at least this large read digests and
    # candidates on two connections at once (app/sampling/population.py).
    SAMPLING_SPLIT_FROM = 50_000

    # Background jobs whose worker died (app/jobs/services.py): a running job beats
    # every JOBS_HEARTBEAT_SECONDS; it is failed when its process (on this machine) has
    # ended or it was silent for JOBS_STALE_AFTER_SECONDS, and a job that no queue
    # worker took within JOBS_QUEUED_STALE_AFTER_SECONDS is failed too. Swept when a
    # process starts, on polls of a job, in RQ workers and by `flask jobs sweep`.
    JOBS_HEARTBEAT_SECONDS = 10
    JOBS_STALE_AFTER_SECONDS = 120
    JOBS_QUEUED_STALE_AFTER_SECONDS = 6 * 3600
    JOBS_SWEEP_AT_START = True


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
    # The suite builds many apps; the jobs sweep's own tests turn this on.
    JOBS_SWEEP_AT_START = False


# Seconds settings of background jobs read from the environment.
JOB_SECONDS_SETTINGS = (
    "JOBS_HEARTBEAT_SECONDS",
    "JOBS_STALE_AFTER_SECONDS",
    "JOBS_QUEUED_STALE_AFTER_SECONDS",
)


CONFIGS = {
    "production": Config,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


# Every Redis client of the portal (rate limits, job queue) gives up quickly when Redis
# does not answer: a command waits at most this long, once, instead of forever (no
# socket timeout by default) and with ten retries.
REDIS_TIMEOUT_SECONDS = 1


def redis_client_options() -> dict:
    """Options for `redis.Redis.from_url`: short timeouts and no retry. A connection
    that a Redis restart closed is still replaced: the pool checks one before use."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
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


def _derived_audit_key(secret: str) -> str:
    """Development and testing: an audit key derived from the secret key (production sets
    its own, so that changing the secret key never touches the audit chain)."""
    return hmac.new(secret.encode("utf-8"), b"audit chain", hashlib.sha256).hexdigest()


def _weak(value: str) -> bool:
    return (
        value.lower() in WEAK_SECRETS
        or len(value) < MIN_SECRET_LENGTH
        or len(set(value)) < MIN_SECRET_DISTINCT_CHARS
    )


_SIZE = re.compile(r"^\s*(\d+)\s*(|B|KB|MB|GB)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
SIZE_SETTINGS = ("MAX_CONTENT_LENGTH", "IMPORT_MAX_BYTES", "API_DECISIONS_MAX_BYTES")
RATE_SETTINGS = (
    "LOGIN_RATE_LIMIT",
    "LOGIN_ACCOUNT_RATE_LIMIT",
    "LOGIN_GUARD_TRIGGER",
    "LOGIN_GUARDED_RATE_LIMIT",
)


def _byte_size(name: str, value: str) -> int:
    """A size in bytes, or with a KB/MB/GB suffix (powers of 1024)."""
    match = _SIZE.match(value)
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()] if match else 0
    if size <= 0:
        raise ConfigError(
            f"{name} must be a positive size in bytes, or with KB, MB or GB (e.g. 4MB), "
            f"not {value!r}"
        )
    return size


def _rate_limit(name: str, value: str) -> str:
    """A rate limit such as "10 per minute;50 per hour", checked when the app starts."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be rate limits such as '10 per minute;50 per hour', not {value!r}"
        ) from None
    return value


def _job_seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not 0 < seconds < 10**7:
        raise ConfigError(f"{name} must be a number of seconds, such as 30, not {value!r}")
    return seconds


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
    if env.get("AUDIT_KEY"):
        settings["AUDIT_KEY"] = env["AUDIT_KEY"]
    if env.get("REDIS_URL"):
        settings["REDIS_URL"] = env["REDIS_URL"]
    if env.get("UPLOAD_DIR"):
        settings["UPLOAD_DIR"] = env["UPLOAD_DIR"]
    if env.get("QA_HOLIDAY_COUNTRY"):
        settings["QA_HOLIDAY_COUNTRY"] = env["QA_HOLIDAY_COUNTRY"].upper()
    if env.get("TRUSTED_PROXIES"):
        settings["TRUSTED_PROXIES"] = _hop_count(env["TRUSTED_PROXIES"])
    for name in SIZE_SETTINGS:
        if env.get(name):
            settings[name] = _byte_size(name, env[name])
    for name in RATE_SETTINGS:
        if env.get(name):
            settings[name] = _rate_limit(name, env[name])
    for name in JOB_SECONDS_SETTINGS:
        if env.get(name):
            settings[name] = _job_seconds(name, env[name])
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
    if str(settings.get("RATELIMIT_STORAGE_URI")).startswith(("redis://", "rediss://")):
        settings.setdefault("RATELIMIT_STORAGE_OPTIONS", redis_client_options())

    if env_name == "development" and not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _development_secret()
    if env_name != "production" and not settings.get("AUDIT_KEY") and settings.get("SECRET_KEY"):
        settings["AUDIT_KEY"] = _derived_audit_key(settings["SECRET_KEY"])
    _validate(settings, env_name)
    return settings


def _schema_command() -> bool:
    """`flask db …` only reads and migrates the schema: it signs nothing, so it may run
    where the web secret is not configured (e.g. a migration step in a deploy)."""
    args = sys.argv
    return bool(args) and Path(args[0]).name == "flask" and "db" in args[1:]


def _validate(settings: dict, env_name: str) -> None:
    beat, stale = settings.get("JOBS_HEARTBEAT_SECONDS"), settings.get("JOBS_STALE_AFTER_SECONDS")
    if beat and stale and stale < 3 * beat:
        raise ConfigError(
            "JOBS_STALE_AFTER_SECONDS must be at least three heartbeats "
            f"(3 x JOBS_HEARTBEAT_SECONDS = {3 * beat:g}), not {stale:g}"
        )
    if env_name == "production" and _schema_command() and not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = secrets.token_urlsafe(48)  # unused by schema commands
    if env_name == "production":
        secret = settings.get("SECRET_KEY") or ""
        if _weak(secret):
            raise ConfigError(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                "characters in production (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        audit_key = settings.get("AUDIT_KEY") or ""
        # Schema commands write no audit event: without a key, any attempt fails loudly.
        if audit_key or not _schema_command():
            if _weak(audit_key):
                raise ConfigError(
                    f"AUDIT_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                    "characters in production, kept out of the database (it keys the audit "
                    "chain; e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if audit_key == secret:
                raise ConfigError("AUDIT_KEY must differ from SECRET_KEY")
        if settings.get("DEBUG"):
            raise ConfigError("debug mode must not be enabled in production")
    if not settings.get("SECRET_KEY"):
        raise ConfigError("SECRET_KEY is not set")
    country = settings.get("QA_HOLIDAY_COUNTRY")
    if country not in holidays.list_supported_countries():
        raise ConfigError(f"QA_HOLIDAY_COUNTRY {country!r} is not a supported country code")
