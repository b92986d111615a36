"""User operations. Each flushes and audits; the caller commits once."""

from __future__ import annotations

import secrets
import string
from zoneinfo import available_timezones

import sqlalchemy as sa

from app.audit.services import record
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import User, Vendor
from app.security.passwords import hash_password, password_problem
from app.security.roles import ROLE_INTEGRATION, ROLES, VENDOR_ROLES


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
    if time_zone not in available_timezones():
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
    if problems:
        raise ValidationFailed(problems[0]["message"], problems)
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
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
    record(
        db.session,
        "user.created",
        "user",
        user.id,
        after=user.audit_state(),
        summary=f"created {role} {email}",
        actor=actor,
    )
    return user


def temporary_password() -> str:
    """A random password for resets, shown once to the admin."""
    alphabet = string.ascii_letters + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))
