"""Flask commands: `flask --app wsgi <command>`."""

from __future__ import annotations

import re
import sys
from datetime import UTC

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
decisions_cli = AppGroup("decisions", help="Import moderation decisions.")
samples_cli = AppGroup("samples", help="Check samples.")


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


_ANCHOR_HELP = "SEQ:HASH (as printed by `flask audit head`) or a 64-character hexadecimal hash"


def _anchor(_ctx, _param, values):
    """Parse --anchor values into (seq or None, hash)."""
    anchors = []
    for value in values:
        match = re.fullmatch(r"(?:(\d{1,18}):)?([0-9a-fA-F]{64})", value.strip())
        if match is None:
            raise click.BadParameter(f"{value!r} is not {_ANCHOR_HELP}.")
        seq = int(match[1]) if match[1] is not None else None
        anchors.append((seq, match[2].lower()))
    return anchors


@audit_cli.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    callback=_anchor,
    help=f"A head kept elsewhere earlier: {_ANCHOR_HELP}. The chain must still hold it.",
)
def audit_verify(anchors):
    """Check the keyed hash chain (and that it still holds each --anchor); exit 1 naming
    the first bad event or the anchor it no longer holds."""
    from app.audit.services import check_anchor, verify_chain

    result = verify_chain(db.session)
    if not result.ok:
        _fail(f"audit chain broken at event #{result.bad_seq}: {result.problem}")
    for seq, anchor_hash in anchors:
        shown = anchor_hash if seq is None else f"{seq}:{anchor_hash}"
        problem = check_anchor(db.session, seq, anchor_hash)
        if problem:
            _fail(f"audit chain does not hold the anchor {shown}: {problem}")
        where = seq if seq is not None else _seq_of(anchor_hash)
        click.echo(f"anchor event #{where} matches")
    click.echo(f"audit chain intact: {result.checked} events")


def _seq_of(anchor_hash: str) -> int:
    from app.models import AuditEvent
    from app.models.audit import GENESIS_HASH

    found = db.session.scalar(sa.select(AuditEvent.seq).where(AuditEvent.hash == anchor_hash))
    return 0 if found is None and anchor_hash == GENESIS_HASH else found


@audit_cli.command("head")
def audit_head():
    """Print the chain's head as SEQ:HASH, to keep outside the database (e.g. mailed
    daily); `flask audit verify --anchor SEQ:HASH` later proves the chain still holds it."""
    from app.audit.services import chain_head

    head = chain_head(db.session)
    if head.problem:
        _fail(f"the audit chain's head cannot be trusted: {head.problem}; run `flask audit verify`")
    when = (
        head.occurred_at.astimezone(UTC).isoformat(timespec="seconds") if head.occurred_at else "-"
    )
    click.echo(
        f"# audit chain head: event #{head.seq}, occurred at {when}; check later with: "
        f"flask audit verify --anchor {head.anchor}",
        err=True,
    )
    click.echo(head.anchor)


@audit_cli.command("rekey")
def audit_rekey():
    """Once, after upgrading a database whose chain was written before AUDIT_KEY: check
    the chain as it stands, then re-hash every event with the key."""
    from app.audit.services import chain_head, rekey_chain

    result = rekey_chain(db.session)
    if not result.ok:
        db.session.rollback()
        _fail(
            f"cannot rekey: audit chain broken at event #{result.bad_seq}: {result.problem}; "
            "nothing was changed"
        )
    if not result.unkeyed:
        db.session.rollback()
        click.echo(f"audit chain already keyed: {result.events} events; nothing to do")
        return
    db.session.commit()
    head = chain_head(db.session)
    click.echo(
        f"{result.events} events re-hashed with AUDIT_KEY ({result.unkeyed} had unkeyed "
        f"hashes; head before: {result.head_before}); the rekey is event #{head.seq}."
    )
    click.echo(f"New head, to keep elsewhere: {head.anchor}")


@decisions_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and count only; store nothing.")
def decisions_import(path, dry_run):
    """Import decisions from a CSV file (header: the API field names), all or nothing.

    Prints what was created, updated and unchanged; or every problem found
    (`line N, field: message`, capped) with their total, and exits with status 1."""
    from pathlib import Path

    from app.decisions.services import ImportRejected, import_csv

    try:
        result = import_csv(
            path,
            source=f"command line: {Path(path).name}",
            progress=_import_progress(),
            dry_run=dry_run,
        )
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    except ImportRejected as err:
        db.session.rollback()
        for error in err.errors:
            field = error.get("field") or "row"
            click.echo(f"line {error.get('line')}, {field}: {error['message']}")
        listed = len(err.errors)
        more = f" ({listed} listed)" if listed < err.total_errors else ""
        _fail(f"{err.total_errors} problem(s) found{more}; nothing was imported.")
    except DomainError as err:
        db.session.rollback()
        _fail(_describe(err))
    click.echo(
        f"{result.rows} rows: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged" + (" (dry run: nothing stored)" if dry_run else "")
    )


def _import_progress(every: int = 100_000):
    """Progress on standard error for big files (every `every` rows, and each phase)."""
    shown = {"rows": 0}

    def report(done: int, phase: str) -> None:
        if phase == "reading" and done - shown["rows"] >= every:
            shown["rows"] = done
            click.echo(f"read {done:,} rows…", err=True)
        elif phase in ("checking", "writing") and done >= every:
            click.echo(f"{phase} {done:,} rows…", err=True)

    return report


@samples_cli.command("verify")
@click.argument("number")
def samples_verify(number):
    """Re-derive a sample's draw from its seed and the population as it stood when it
    was drawn; exit 0 when seed, digests and items match, 1 naming what differs.
    NUMBER is the sample's number as pages and the API show it."""
    from app.models import Sample
    from app.sampling.services.verification import verify_sample
    from app.security.public_ids import parse_public_id

    sample_id = parse_public_id(number)
    sample = db.session.get(Sample, sample_id) if sample_id else None
    if sample is None:
        _fail(f"no sample #{number}")
    result = verify_sample(sample)
    for check in result.checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.message}")
    if not result.ok:
        _fail(f"sample #{number} does not match its re-derivation")
    click.echo(f"sample #{number} matches its re-derivation (seed {sample.seed})")


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


# Background jobs -----------------------------------------------------------------------

jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("sweep")
def jobs_sweep():
    """Mark failed the jobs whose worker stopped (a server killed or restarted, a worker
    out of memory) and remove their files; lists each one. Exit 1 if the database was
    busy and some could not be marked (run it again)."""
    from app.jobs.services import sweep_abandoned

    result = sweep_abandoned(wait=True)
    for job_id, title, message in result.ended:
        click.echo(f"job {job_id} ({title}): failed. {message}")
    if result.busy:
        _fail("the database was busy; some jobs could not be checked. Run it again.")
    if not result.ended:
        click.echo("No job was left by a stopped worker.")
    else:
        click.echo(f"{len(result.ended)} job(s) left by a stopped worker marked failed.")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(decisions_cli)
    app.cli.add_command(samples_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(seed_demo)
