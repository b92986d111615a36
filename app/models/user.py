"""People (and integrations) who use the portal, and their API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import enum_check, utcnow
from app.extensions import db
from app.models.enums import ROLE_NAMES, ROLES, VENDOR_ROLES
from app.models.vendor import Vendor

_VENDOR_ROLES_SQL = ", ".join(f"'{r}'" for r in VENDOR_ROLES)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        enum_check("role", ROLES),
        # Vendor roles belong to exactly one vendor; every other role to none.
        sa.CheckConstraint(
            f"(role IN ({_VENDOR_ROLES_SQL}) AND vendor_id IS NOT NULL)"
            f" OR (role NOT IN ({_VENDOR_ROLES_SQL}) AND vendor_id IS NULL)",
            name="vendor_matches_role",
        ),
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        sa.Index("ix_users_vendor_role", "vendor_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[str] = mapped_column(sa.String(20))
    vendor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vendors.id", ondelete="RESTRICT"))
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # Flask-Login's alternative id: rotating it signs the user out everywhere.
    session_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_session_token
    )
    must_change_password: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None]

    vendor: Mapped[Vendor | None] = relationship(back_populates="users")
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user",
        order_by="ApiToken.created_at.desc()",
        foreign_keys="ApiToken.user_id",
    )

    __tenant_column__ = "vendor_id"

    # Flask-Login -----------------------------------------------------------
    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()

    # Roles (what a role may do or see is asked of app/security, never here) ----
    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def pseudonym(self) -> str:
        """How vendor users see a QA person: stable, and not the name."""
        return f"QA-{self.id}"

    def audit_state(self) -> dict:
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "vendor": self.vendor.code if self.vendor else None,
            "time_zone": self.time_zone,
            "active": self.active,
            "must_change_password": self.must_change_password,
        }

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(db.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    prefix: Mapped[str] = mapped_column(sa.String(16))  # shown so people can tell tokens apart
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens", foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def audit_state(self) -> dict:
        return {
            "user": self.user.email if self.user else None,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": sorted(self.scopes or []),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }
