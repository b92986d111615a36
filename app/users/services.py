"""User operations: create, update, deactivate and reactivate, reset password.

Each flushes and audits; the caller commits once."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

import sqlalchemy as sa

from app.audit.services import record, record_change, record_creation
from app.errors import Conflict, NotAllowed
from app.extensions import db
from app.models import User, Vendor
from app.security.passwords import hash_password, password_problem
from app.security.roles import ROLE_ADMIN, ROLE_INTEGRATION, ROLE_SCOPES, ROLES, VENDOR_ROLES
from app.tokens.services import revoke_token
from app.users.queries import email_taken
from app.validation import is_time_zone, raise_problems


def _check_common(email: str, role: str, vendor: Vendor | None, time_zone: str) -> list[dict]:
    problems = []
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        problems.append({"field": "email", "message": "Enter a valid email address."})
    if role not in ROLES:
        problems.append({"field": "role", "message": f"Role must be one of {', '.join(ROLES)}."})
    elif role in VENDOR_ROLES and vendor is None:
        problems.append({"field": "vendor", "message": "Vendor users need a vendor."})
    elif role not in VENDOR_ROLES and vendor is not None:
        problems.append({"field": "vendor", "message": "Only vendor roles belong to a vendor."})
    if not is_time_zone(time_zone):
        problems.append({"field": "time_zone", "message": f"Unknown time zone {time_zone!r}."})
    return problems


def create_user(
    *,
    email: str,
    name: str,
    role: str,
    vendor: Vendor | None = None,
    password: str | None = None,
    time_zone: str = "UTC",
    must_change_password: bool = False,
    actor: User | None = None,
) -> User:
    """Create a user. People need a password; integrations have none (API tokens only)."""
    email = (email or "").strip().lower()
    name = (name or "").strip() or email.split("@")[0]
    problems = _check_common(email, role, vendor, time_zone)
    if role == ROLE_INTEGRATION:
        if password:
            problems.append({"field": "password", "message": "Integration users have no password."})
    elif not password:
        problems.append({"field": "password", "message": "A password is required."})
    else:
        problem = password_problem(password, email)
        if problem:
            problems.append({"field": "password", "message": problem})
    raise_problems(problems)
    if email_taken(email):
        raise Conflict(
            f"A user with email {email} already exists.",
            [{"field": "email", "message": "This email is already in use."}],
        )
    user = User(
        email=email,
        name=name[:120],
        role=role,
        vendor=vendor,
        time_zone=time_zone,
        password_hash=hash_password(password) if password else None,
        must_change_password=must_change_password,
    )
    db.session.add(user)
    db.session.flush()
    record_creation(
        db.session, "user.created", "user", user, summary=f"created {role} {email}", actor=actor
    )
    return user


def temporary_password() -> str:
    """A random password for resets, shown once to the admin."""
    alphabet = string.ascii_letters + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


# Changes ------------------------------------------------------------------


@dataclass
class UserChange:
    """What an update did besides changing fields, so the page can say so."""

    changed: bool = False
    signed_out: bool = False
    revoked_tokens: int = 0


def _lock_active_admins() -> list[int]:
    """Ids of the active admins, locked (on PostgreSQL) in a fixed order, so two admins
    removing each other at the same moment cannot both succeed."""
    return list(
        db.session.scalars(
            sa.select(User.id)
            .where(User.role == ROLE_ADMIN, User.active)
            .order_by(User.id)
            .with_for_update()
        )
    )


def _is_last_admin(user: User) -> bool:
    if user.role != ROLE_ADMIN or not user.active:
        return False
    return not [uid for uid in _lock_active_admins() if uid != user.id]


def update_user(
    user: User,
    *,
    name: str,
    role: str,
    vendor: Vendor | None,
    time_zone: str,
    actor: User | None = None,
) -> UserChange:
    """Change a user's name, role, vendor and time zone.

    A new role or vendor signs the user out (their session token rotates) and revokes
    API tokens holding scopes the new role does not allow. Admins cannot change their
    own role, and the last active admin keeps the role.
    """
    name = (name or "").strip()
    problems = _check_common(user.email, role, vendor, time_zone)
    if not name:
        problems.append({"field": "name", "message": "Enter a name."})
    elif len(name) > 120:
        problems.append({"field": "name", "message": "Use at most 120 characters."})
    if role != user.role and role in ROLES:
        if actor is not None and user.id == actor.id:
            problems.append({"field": "role", "message": "You cannot change your own role."})
        elif _is_last_admin(user):
            problems.append(
                {
                    "field": "role",
                    "message": f"{user.email} is the last active admin; make someone else "
                    "an admin first.",
                }
            )
    raise_problems(problems)

    before = user.audit_state()
    access_changed = role != user.role or (vendor.id if vendor else None) != user.vendor_id
    result = UserChange()
    user.name = name
    user.time_zone = time_zone
    if access_changed:
        user.role = role
        user.vendor = vendor
        if role == ROLE_INTEGRATION:
            # Integrations never sign in to the pages: drop any password they had.
            user.password_hash = None
            user.must_change_password = False
        user.rotate_session_token()
        result.signed_out = True
        allowed = set(ROLE_SCOPES.get(role, ()))
        for token in user.tokens:
            if token.revoked_at is None and not set(token.scopes or []) <= allowed:
                revoke_token(token, actor=actor)
                result.revoked_tokens += 1
    db.session.flush()
    result.changed = record_change(
        db.session,
        "user.updated",
        "user",
        user,
        before,
        summary=lambda changed: (
            f"updated {user.email}: "
            + ", ".join(f"{k} {old} → {new}" for k, (old, new) in changed.items())
        ),
        actor=actor,
    )
    return result


def deactivate_user(user: User, *, actor: User | None = None) -> bool:
    """Deactivate `user` and sign them out everywhere. False if already inactive."""
    if actor is not None and user.id == actor.id:
        raise NotAllowed("You cannot deactivate your own account; ask another admin.")
    if not user.active:
        return False
    if _is_last_admin(user):
        raise Conflict(
            f"{user.email} is the last active admin and cannot be deactivated; "
            "make someone else an admin first."
        )
    before = user.audit_state()
    user.active = False
    user.rotate_session_token()
    db.session.flush()
    return record_change(
        db.session,
        "user.deactivated",
        "user",
        user,
        before,
        summary=f"deactivated {user.email}",
        actor=actor,
    )


def activate_user(user: User, *, actor: User | None = None) -> bool:
    """Reactivate `user`. False if already active."""
    before = user.audit_state()
    user.active = True
    db.session.flush()
    return record_change(
        db.session,
        "user.activated",
        "user",
        user,
        before,
        summary=f"reactivated {user.email}",
        actor=actor,
    )


def reset_password(user: User, *, actor: User | None = None) -> str:
    """Give `user` a temporary password they must change at next sign-in, and sign them
    out everywhere. Returns the temporary password; only its hash is stored."""
    if actor is not None and user.id == actor.id:
        raise NotAllowed("Use “Change password” for your own account.")
    if user.role == ROLE_INTEGRATION:
        raise NotAllowed("Integration users have no password; they use API tokens.")
    plain = temporary_password()
    before = user.audit_state()
    user.password_hash = hash_password(plain)
    user.must_change_password = True
    user.rotate_session_token()
    db.session.flush()
    record(
        db.session,
        "user.password_reset",
        "user",
        user.id,
        before=before,
        after=user.audit_state(),
        summary=f"reset the password of {user.email}",
        actor=actor,
    )
    return plain
