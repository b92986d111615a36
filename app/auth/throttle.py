"""Sign-in limits: brute-force protection that no stranger can turn into a lockout.

Four counts, kept in the rate-limit storage (Redis when `REDIS_URL` is set, so every
worker shares them):

- every sign-in attempt from one client address (`LOGIN_RATE_LIMIT`);
- failed sign-ins from one address for one account (`LOGIN_ACCOUNT_RATE_LIMIT`);
- failed sign-ins of the whole portal (`LOGIN_GUARD_TRIGGER`). Past it the guard is on
  (and a warning is logged): until the count falls back under it, each address may fail
  only `LOGIN_GUARDED_RATE_LIMIT` more times;
- nothing per account alone. Wrong passwords sent for someone's email, from any number of
  addresses, never stop its owner's right password from another address; a successful
  sign-in is never counted as a failure, and the guard never refuses an address that has
  not failed.

The client address is the one `TRUSTED_PROXIES` makes trustworthy (ProxyFix sets
`request.remote_addr`). An IPv6 client counts per /64 network, the block one host or
household gets, so hopping between its addresses gains nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache

from flask import current_app, request
from flask.wrappers import Response
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import HTTPException

from app.extensions import limiter

ADDRESS_MESSAGE = (
    "Too many sign-in attempts from your network address. Wait a few minutes, then try again."
)
ACCOUNT_MESSAGE = (
    "Too many sign-in attempts for this account from your network address. Wait a while, "
    "then try again, or ask an administrator to reset your password."
)
GUARDED_MESSAGE = (
    "Too many sign-in attempts: the portal is seeing many failed sign-ins and allows each "
    "address only a few. Wait a while, then try again."
)
_GUARD_KEY = "login-failures"
IPV6_PREFIX = 64


def client_key() -> str:
    """The client address: an IPv4 address, or an IPv6 address's /64 network."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def account_key() -> str:
    """The client address and the account asked for (the email as typed, normalised;
    whether it exists is not looked up, so the limit tells nothing about it)."""
    try:
        email = (request.form.get("email") or "").strip().lower()
    except HTTPException:  # a body over the limit: the view answers 413 when it reads it
        return ""  # no key: this limit is skipped for the request
    digest = hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:32]
    return f"{client_key()}|{digest}"


def failed(response: Response) -> bool:
    """Whether a sign-in attempt failed (wrong email or password): what the failure
    limits count."""
    return response.status_code == 401


def address_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def guarded_limit() -> str:
    return current_app.config["LOGIN_GUARDED_RATE_LIMIT"]


@lru_cache(maxsize=8)
def _items(value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(value))


def _guard_items() -> tuple[RateLimitItem, ...]:
    return _items(current_app.config["LOGIN_GUARD_TRIGGER"])


def _guard_identifiers() -> tuple[str, ...]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    return (prefix, _GUARD_KEY) if prefix else (_GUARD_KEY,)


def _guard_on() -> bool:
    strategy = limiter.limiter
    identifiers = _guard_identifiers()
    return not all(strategy.test(item, *identifiers) for item in _guard_items())


def guard_off() -> bool:
    """Whether the global guard is off (the guarded per-address limit is then exempt).
    If the rate-limit storage cannot be read, the guard counts as on: the stricter
    per-address limit then applies, and nobody who has not failed is refused."""
    if not limiter.enabled or request.method != "POST":
        return True  # only sign-in attempts are limited: showing the page asks nothing
    try:
        return not _guard_on()
    except Exception:  # a storage error must not fail the sign-in page
        current_app.logger.exception("sign-in guard: the rate-limit storage cannot be read")
        return False


def record_failure() -> None:
    """Count a failed sign-in towards the global guard; log when it turns the guard on."""
    if not limiter.enabled:
        return
    strategy = limiter.limiter
    identifiers = _guard_identifiers()
    try:
        was_on = _guard_on()
        for item in _guard_items():
            strategy.hit(item, *identifiers)
        if not was_on and _guard_on():
            current_app.logger.warning(
                "sign-in guard on: failed sign-ins passed %s across all addresses; each "
                "address may now fail only %s",
                current_app.config["LOGIN_GUARD_TRIGGER"],
                current_app.config["LOGIN_GUARDED_RATE_LIMIT"],
            )
    except Exception:  # a storage error must not fail the sign-in page
        current_app.logger.exception("sign-in guard: the rate-limit storage cannot be written")
