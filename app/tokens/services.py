"""API token operations: create (shown once), revoke; the scopes a user's token may
carry and whether a token works now."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from app.audit.services import record_change, record_creation
from app.errors import ValidationFailed
from app.extensions import db
from app.models import ApiToken, User
from app.security.roles import ROLE_SCOPES, SCOPES
from app.security.tokens import generate_token, hash_token
from app.validation import zone_or_utc

# A token's expiry is a date; beyond this horizon "no expiry" says the same more honestly.
MAX_EXPIRY_YEARS = 10


def allowed_scopes(user: User) -> tuple[str, ...]:
    """The scopes a token of `user` may carry (all of them by default)."""
    return ROLE_SCOPES.get(user.role, ())


def token_status(token: ApiToken, now: datetime | None = None) -> str:
    """`revoked`, `expired`, `user_inactive` or `active`: whether the token works now."""
    now = now or datetime.now(UTC)
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    if not token.user.active:
        return "user_inactive"
    return "active"


def expiry_from_date(day: date | None, time_zone: str = "UTC") -> datetime | None:
    """A token "valid through `day`" expires at the end of that day in `time_zone`."""
    if day is None:
        return None
    if day > datetime.now(UTC).date() + timedelta(days=365 * MAX_EXPIRY_YEARS):
        raise ValidationFailed(
            "The expiry is too far away.",
            [
                {
                    "field": "expires_at",
                    "message": f"Choose a date within {MAX_EXPIRY_YEARS} years, or none.",
                }
            ],
        )
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone_or_utc(time_zone))
    return end.astimezone(UTC)


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
    record_creation(
        db.session,
        "token.created",
        "api_token",
        token,
        summary=f"created token {token.prefix}… for {user.email}",
        actor=actor,
    )
    return token, plain


def revoke_token(token: ApiToken, actor: User | None = None) -> None:
    """Revoke `token` at once (audited); revoking a revoked token does nothing."""
    if token.revoked_at is not None:
        return
    before = token.audit_state()
    token.revoked_at = datetime.now(UTC)
    record_change(
        db.session,
        "token.revoked",
        "api_token",
        token,
        before,
        summary=f"revoked token {token.prefix}… of {token.user.email}",
        actor=actor,
    )
