"""Flask commands: `flask --app wsgi <command>`."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from app.errors import DomainError
from app.extensions import db
from app.models import User, Vendor
from app.security.roles import ROLES, SCOPES

users_cli = AppGroup("users", help="Manage users.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")
audit_cli = AppGroup("audit", help="Check the audit log.")


def _fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _describe(err: DomainError) -> str:
    """The error's message; when it is one of the per-field details, every detail with
    its field name (`password: Use at least 12 characters.`), so nothing is left unsaid."""
    raw = err.details if isinstance(err.details, list) else [err.details]
    details = [d for d in raw if isinstance(d, dict) and d.get("field") and d.get("message")]
    named = [f"{d['field']}: {d['message']}" for d in details]
    if named and any(d.get("message") == err.message for d in details):
        return "; ".join(named)
    return err.message


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--vendor", "vendor_code", help="Vendor code (vendor roles only).")
@click.option("--name", default="", help="Display name (defaults to the email's local part).")
@click.option("--time-zone", default="UTC", show_default=True)
def users_create(email, role, vendor_code, name, time_zone):
    """Create a user; the password is read from standard input (none for integration)."""
    from app.users.services import create_user

    vendor = None
    if vendor_code:
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == vendor_code.upper()))
        if vendor is None:
            _fail(f"no vendor with code {vendor_code!r}")
    password = None
    if role != "integration":
        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = create_user(
            email=email,
            name=name,
            role=role,
            vendor=vendor,
            password=password,
            time_zone=time_zone,
        )
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        _fail(_describe(err))
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@tokens_cli.command("create")
@click.option("--email", required=True)
@click.option("--scope", "scopes", multiple=True, type=click.Choice(sorted(SCOPES)))
@click.option("--name", default="CLI token", show_default=True)
def tokens_create(email, scopes, name):
    """Create an API token and print it once (default scopes: what the role allows)."""
    from app.tokens.services import create_token

    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        _fail(f"no user with email {email!r}")
    try:
        token, plain = create_token(user, name=name, scopes=list(scopes) or None)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        _fail(_describe(err))
    click.echo(
        f"# token {token.prefix}… for {user.email}, scopes: {' '.join(token.scopes)}", err=True
    )
    click.echo(plain)


@audit_cli.command("verify")
def audit_verify():
    """Check the hash chain; exit 1 naming the first bad event."""
    from app.audit.services import verify_chain

    result = verify_chain(db.session)
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events")
        return
    _fail(f"audit chain broken at event #{result.bad_seq}: {result.problem}")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def seed_demo(if_empty):
    """Load a realistic demo data set (idempotent) and print the demo logins."""
    from app.seed.demo import DEMO_PASSWORD, seed

    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("database already has data; not seeding (demo logins, if seeded earlier:)")
    else:
        summary = seed()
        db.session.commit()
        for line in summary:
            click.echo(line)
    click.echo("")
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for user in db.session.scalars(
        sa.select(User)
        .where(User.email.like("%@demo.example"), User.role != "integration")
        .order_by(User.role, User.email)
    ):
        vendor = f" ({user.vendor.code})" if user.vendor else ""
        click.echo(f"  {user.role:<14} {user.email}{vendor}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(seed_demo)
