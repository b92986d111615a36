"""Declared access policies, enforced for every request in one place.

Every endpoint must declare who may reach it, either on the view
(`@access(...)`) or for a whole blueprint (`blueprint_policy(bp, ...)`). An
endpoint without a policy is refused at run time, and a test walks
`app.url_map` so that none ships without one.

Request bodies are small for everyone (`MAX_CONTENT_LENGTH`). A view that takes large
files or batches declares a larger limit with `@body_limit(...)`; the policy check grants
it only to a request that has passed the view's policy, and it runs before anything
reads the body (the CSRF check included, see `create_app`). A body declared larger than
the request's limit is refused with 413 before a byte of it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, url_for
from flask_login import current_user

from app.security.roles import PAGE_ROLES


@dataclass(frozen=True)
class Policy:
    """Who may reach an endpoint.

    kind: `public` (anyone), `page` (a signed-in person in `roles`), or `api`
    (a bearer token whose user is in `roles` and whose scopes include `scope`).
    """

    kind: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scope: str | None = None

    def describe(self) -> str:
        who = ", ".join(sorted(self.roles)) if self.roles else "anyone"
        if self.kind == "api":
            return f"api[{self.scope}]: {who}"
        return f"{self.kind}: {who}"


PUBLIC = Policy("public")


def signed_in(*roles: str) -> Policy:
    """A signed-in person with one of `roles` (any page role when none are given)."""
    return Policy("page", frozenset(roles or PAGE_ROLES))


def api(scope: str, *roles: str) -> Policy:
    """A bearer token with `scope`, whose user has one of `roles` (any role when none)."""
    from app.security.roles import ROLES

    return Policy("api", frozenset(roles or ROLES), scope)


_BLUEPRINT_POLICIES: dict[str, Policy] = {}
# Endpoints of third-party blueprints (static files) that are public by nature.
_PUBLIC_ENDPOINTS = {"static", "bootstrap.static"}


def access(policy: Policy) -> Callable:
    """Declare the policy of one view."""

    def decorate(view: Callable) -> Callable:
        view.access_policy = policy  # type: ignore[attr-defined]
        return view

    return decorate


def body_limit(limit: Callable[[], int], message: Callable[[], str] | None = None) -> Callable:
    """Let requests to one view carry a body of up to `limit()` bytes once they have
    passed its access policy (anyone else stays within `MAX_CONTENT_LENGTH`). `message()`
    is what a body over that limit is told."""

    def decorate(view: Callable) -> Callable:
        view.body_limit = (limit, message)  # type: ignore[attr-defined]
        return view

    return decorate


def size_text(size: int) -> str:
    """A byte count as people read it: whole megabytes, or bytes under one."""
    return f"{size / (1024 * 1024):,.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def blueprint_policy(bp: Blueprint, policy: Policy) -> None:
    """Declare the default policy of every view of `bp` (a view may narrow it)."""
    _BLUEPRINT_POLICIES[bp.name] = policy


def policy_for(app: Flask, endpoint: str) -> Policy | None:
    if endpoint in _PUBLIC_ENDPOINTS:
        return PUBLIC
    view = app.view_functions.get(endpoint)
    policy = getattr(view, "access_policy", None)
    if policy is not None:
        return policy
    blueprint = endpoint.rpartition(".")[0]
    return _BLUEPRINT_POLICIES.get(blueprint) if blueprint else None


# Pages a user who must change their password may still reach.
_PASSWORD_CHANGE_ALLOWED = {"auth.change_password", "auth.logout"}


def enforce_access():
    """`before_request` hook, run before every other one that may read the body: apply
    the endpoint's policy, then the body limit that the answer allows."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched; the 404/405 handler answers
        return None
    policy = policy_for(current_app, endpoint)
    if policy is None:
        current_app.logger.error("endpoint %s has no access policy; refusing", endpoint)
        _refuse_large_body(None)
        abort(403)
    refusal = _refusal(policy, endpoint)
    if refusal is not None:
        _refuse_large_body(None)
        return refusal()
    _refuse_large_body(_grant_body_limit(endpoint))
    return None


def _refusal(policy: Policy, endpoint: str) -> Callable | None:
    """None when the request may reach the endpoint, else what answers it."""
    if policy.kind == "public":
        return None
    if policy.kind == "api":
        return _api_refusal(policy)
    return _page_refusal(policy, endpoint)


def _page_refusal(policy: Policy, endpoint: str) -> Callable | None:
    from app.extensions import login_manager

    if not current_user.is_authenticated:
        return login_manager.unauthorized
    if current_user.role not in policy.roles:
        return lambda: abort(403)
    if current_user.must_change_password and endpoint not in _PASSWORD_CHANGE_ALLOWED:
        return lambda: redirect(url_for("auth.change_password"))
    return None


def _api_refusal(policy: Policy) -> Callable | None:
    from app.api.errors import api_error

    authenticated = current_user.is_authenticated  # runs the bearer-token loader
    token = getattr(g, "api_token", None)
    if token is None or not authenticated:
        message = getattr(g, "api_auth_error", None) or "a bearer token is required"
        return lambda: api_error(401, "unauthorized", message)
    if policy.scope not in (token.scopes or []):
        scope = policy.scope
        return lambda: api_error(403, "forbidden", f"this token lacks the {scope!r} scope")
    if current_user.role not in policy.roles:
        return lambda: api_error(403, "forbidden", "your role may not do this")
    return None


def _grant_body_limit(endpoint: str) -> Callable[[], str] | None:
    """Raise this request's body limit to the view's own (`body_limit`), if it has one;
    returns how to tell a body over it."""
    declared = getattr(current_app.view_functions.get(endpoint), "body_limit", None)
    if declared is None:
        return None
    limit, message = declared
    request.max_content_length = limit()
    return message


def _refuse_large_body(message: Callable[[], str] | None) -> None:
    """413 for a body declared larger than this request's limit, before it is read. (A
    body of undeclared length is cut off at the limit while it is read.)"""
    limit = request.max_content_length
    declared = request.content_length
    if limit is None or declared is None or declared <= limit:
        return
    abort(
        413,
        description=message()
        if message
        else f"The request is larger than the limit of {size_text(limit)}.",
    )


def can_open(user, endpoint: str) -> bool:
    """Whether `user` may reach the page `endpoint` by its declared policy (for menus
    and links: only what would open is offered)."""
    from flask import current_app

    policy = policy_for(current_app, endpoint)
    if policy is None or policy.kind == "api":
        return False
    if policy.kind == "public":
        return True
    return user is not None and user.is_authenticated and user.role in policy.roles
