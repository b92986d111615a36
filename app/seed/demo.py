"""`flask seed-demo`: a believable data set for trying the portal. Idempotent: rows
that exist (by natural key) are left alone."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from app import months
from app.extensions import db
from app.labels.services import create_label
from app.models import Label, User, Vendor
from app.seed.inspections import seed_inspections
from app.seed.scorecards import seed_scorecards
from app.users.services import create_user

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (demo data, printed by seed-demo)
SEED_DIR = Path(__file__).parent

VENDORS = [
    # code, name, sites, markets, time zone, holiday country
    ("ACME", "Acme Review Services", ["Manila", "Cebu"], ["US", "CA", "PH"], "Asia/Manila", "PH"),
    (
        "NORTHSTAR",
        "Northstar Trust & Safety",
        ["Kraków", "Lisbon"],
        ["DE", "FR", "PL", "PT"],
        "Europe/Warsaw",
        "PL",
    ),
    (
        "BRIGHTLINE",
        "Brightline Moderation",
        ["Hyderabad", "Pune"],
        ["IN", "GB", "AE"],
        "Asia/Kolkata",
        "IN",
    ),
    (
        "ORBIT",
        "Orbit Content Ops",
        ["Bogotá", "Mexico City"],
        ["MX", "CO", "BR", "US"],
        "America/Bogota",
        "CO",
    ),
    ("KESTREL", "Kestrel Data Services", ["Nairobi"], ["KE", "NG", "ZA"], "Africa/Nairobi", "KE"),
]


def _month(months_ago: int, today: date | None = None) -> date:
    return months.back(months.first_day(today or date.today()), months_ago + 1)[0]


def _tiers() -> list[dict]:
    return [
        {"metric": "overall_accuracy", "from": 0.0, "to": 0.90, "pct": -5.0},
        {"metric": "overall_accuracy", "from": 0.90, "to": 0.95, "pct": -2.0},
        {"metric": "overall_accuracy", "from": 0.98, "to": 1.0, "pct": 1.5},
    ]


def seed_vendors() -> int:
    """Create the demo vendors and their contract versions through the vendor services,
    so that they are validated and audited like any other change."""
    from app.vendors.services import create_contract, create_vendor

    created = 0
    for code, name, sites, markets, tz, country in VENDORS:
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
        if vendor is None:
            vendor = create_vendor(
                code=code,
                name=name,
                sites=sites,
                markets=markets,
                time_zone=tz,
                holiday_country=country,
            )
            created += 1
        if not vendor.contracts:
            # An older contract, and a tighter one that took effect three months ago.
            for months_ago, target, cap, notes in (
                (12, 0.93, 0.02, "Initial master services agreement"),
                (3, 0.95, 0.015, "Amendment 1: tighter accuracy target"),
            ):
                create_contract(
                    vendor,
                    effective_month=_month(months_ago),
                    accuracy_target=target,
                    critical_error_cap=cap,
                    dispute_window_days=5,
                    penalty_tiers=_tiers(),
                    time_zone=tz,
                    holiday_country=country,
                    notes=notes,
                )
    db.session.flush()
    return created


def seed_labels() -> int:
    """Create the labels of every labels*.csv that are missing, through the label
    service so each one is validated and audited."""
    existing = set(db.session.scalars(sa.select(Label.code)))
    created = 0
    for path in sorted(SEED_DIR.glob("labels*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["code"] in existing:
                    continue
                create_label(
                    code=row["code"],
                    name=row["name"],
                    policy_area=row["policy_area"],
                    typical_severity=row["typical_severity"],
                    description=row.get("description", ""),
                )
                existing.add(row["code"])
                created += 1
    return created


def _people() -> list[tuple[str, str, str, str | None]]:
    people = [
        ("admin@demo.example", "Avery Admin", "admin", None),
        ("qa.lead@demo.example", "Quinn Lead", "qa_lead", None),
        ("qa.inspector@demo.example", "Ines Inspector", "qa_inspector", None),
        ("qa.inspector2@demo.example", "Omar Okafor", "qa_inspector", None),
        ("qa.inspector3@demo.example", "Mei Tanaka", "qa_inspector", None),
    ]
    for code, *_ in VENDORS:
        slug = code.lower()
        people.append(
            (f"{slug}.lead@demo.example", f"{code.title()} Team Lead", "vendor_lead", code)
        )
        people.append(
            (f"{slug}.viewer@demo.example", f"{code.title()} Manager", "vendor_viewer", code)
        )
    people.append(("integration@demo.example", "Decision feed", "integration", None))
    return people


def seed_users() -> int:
    created = 0
    for email, name, role, vendor_code in _people():
        if db.session.scalar(sa.select(User.id).where(User.email == email)):
            continue
        vendor = (
            db.session.scalar(sa.select(Vendor).where(Vendor.code == vendor_code))
            if vendor_code
            else None
        )
        create_user(
            email=email,
            name=name,
            role=role,
            vendor=vendor,
            password=None if role == "integration" else DEMO_PASSWORD,
            time_zone=vendor.time_zone if vendor else "Europe/London",
        )
        created += 1
    return created


DECISION_MONTHS = 6
DECISIONS_PER_VENDOR_MONTH = 1500
SAMPLED_MONTHS = 5
SAMPLE_SIZE = 150


def seed_decisions() -> int:
    """Six months of decisions per demo vendor (the current month so far included),
    through the same import path as the API and CSV files."""
    from app.decisions.intake import import_decisions
    from app.models import Decision
    from app.seed.decisions import demo_decisions

    labels_by_area: dict[str, list[str]] = {}
    for code, area in db.session.execute(
        sa.select(Label.code, Label.policy_area).where(Label.active).order_by(Label.code)
    ):
        labels_by_area.setdefault(area, []).append(code)
    months = [_month(n) for n in range(DECISION_MONTHS - 1, -1, -1)]
    created = 0
    for code, _name, sites, markets, _tz, _country in VENDORS:
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
        has_any = db.session.scalar(
            sa.select(Decision.id).where(Decision.vendor_id == vendor.id).limit(1)
        )
        if vendor is None or has_any:
            continue
        per_month = current_app.config.get("DEMO_DECISIONS_PER_MONTH", DECISIONS_PER_VENDOR_MONTH)
        rows = demo_decisions(code, sites, markets, labels_by_area, months, per_month, seed=2026)
        created += import_decisions(rows, source="seed-demo").created
    return created


def seed_samples() -> int:
    """A monthly contract plan per vendor and its draws for the last closed months,
    dealt round-robin to the demo inspectors; one item skipped to show replacement."""
    from app.models import Sample, SampleItem
    from app.months import last_day
    from app.sampling import services as sampling

    inspectors = db.session.scalars(
        sa.select(User)
        .where(User.role == "qa_inspector", User.email.like("%@demo.example"))
        .order_by(User.email)
    ).all()
    drawn = 0
    size = current_app.config.get("DEMO_SAMPLE_SIZE", SAMPLE_SIZE)
    for code, *_ in VENDORS:
        vendor = db.session.scalar(sa.select(Vendor).where(Vendor.code == code))
        if vendor is None or db.session.scalar(
            sa.select(Sample.id).where(Sample.vendor_id == vendor.id).limit(1)
        ):
            continue
        plan = sampling.create_plan(
            name=f"{code} monthly contract sample",
            vendor=vendor,
            purpose="contract",
            size=size,
            inspectors=inspectors,
        )
        for months_ago in range(SAMPLED_MONTHS, 0, -1):
            start = _month(months_ago)
            end = last_day(start)
            sample = sampling.draw_sample(
                vendor=vendor,
                period_start=start,
                period_end=end,
                size=size,
                purpose="contract",
                seed=f"demo-{code}-{start:%Y-%m}",
                inspectors=inspectors,
                plan=plan,
            )
            drawn += 1
            if months_ago == SAMPLED_MONTHS:
                first = db.session.scalars(
                    sa.select(SampleItem)
                    .where(SampleItem.sample_id == sample.id)
                    .order_by(SampleItem.id)
                    .limit(1)
                ).first()
                sampling.skip_item(first, "Item was deleted by the seller before review")
    return drawn


def seed() -> list[str]:
    """Create whatever of the demo data set is missing; return a summary."""
    return [
        f"vendors created: {seed_vendors()}",
        f"labels created: {seed_labels()}",
        f"users created: {seed_users()}",
        f"scorecard templates created: {seed_scorecards()}",
        f"decisions created: {seed_decisions()}",
        f"samples drawn: {seed_samples()}",
        f"inspections made: {seed_inspections(sampled_months())}",
    ]


def sampled_months() -> list[date]:
    """The closed months the demo samples cover, oldest first."""
    return [_month(months_ago) for months_ago in range(SAMPLED_MONTHS, 0, -1)]
