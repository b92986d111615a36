"""API token operations: create (shown once), revoke."""

from __future__ import annotations

from datetime import UTC, datetime

from app.audit.services import record
from app.errors import ValidationFailed
from app.extensions import db
from app.models import ApiToken, User
from app.security.roles import ROLE_SCOPES, SCOPES
from app.security.tokens import generate_token, hash_token


def allowed_scopes(user: User) -> tuple[str, ...]:
    return ROLE_SCOPES.get(user.role, ())


def create_token(
    user: User,
    *,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    actor: User | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the plain token (never stored)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(
            "Give the token a name.", [{"field": "name", "message": "Required."}]
        )
    if not user.active:
        raise ValidationFailed(
            f"{user.email} is deactivated.", [{"field": "user", "message": "User is deactivated."}]
        )
    allowed = allowed_scopes(user)
    scopes = sorted(set(scopes)) if scopes else sorted(allowed)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown scope {unknown[0]!r}.", [{"field": "scopes", "message": "Unknown scope."}]
        )
    beyond = [s for s in scopes if s not in allowed]
    if beyond:
        raise ValidationFailed(
            f"A {user.role} may not hold the {beyond[0]!r} scope.",
            [{"field": "scopes", "message": f"Not allowed for role {user.role}."}],
        )
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ValidationFailed(
            "The expiry must be in the future.",
            [{"field": "expires_at", "message": "Must be in the future."}],
        )
    plain = generate_token()
    token = ApiToken(
        user=user,
        name=name[:120],
        prefix=plain[:12],
        token_hash=hash_token(plain),
        scopes=scopes,
        expires_at=expires_at,
        created_by=actor,
    )
    db.session.add(token)
    db.session.flush()
    record(
        db.session,
        "token.created",
        "api_token",
        token.id,
        after=token.audit_state(),
        summary=f"created token {token.prefix}… for {user.email}",
        actor=actor,
    )
    return token, plain


def revoke_token(token: ApiToken, actor: User | None = None) -> None:
    if token.revoked_at is not None:
        return
    before = token.audit_state()
    token.revoked_at = datetime.now(UTC)
    record(
        db.session,
        "token.revoked",
        "api_token",
        token.id,
        before=before,
        after=token.audit_state(),
        summary=f"revoked token {token.prefix}… of {token.user.email}",
        actor=actor,
    )
