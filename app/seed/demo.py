"""`flask seed-demo`: a believable data set for trying the portal. Idempotent: rows
that exist (by natural key) are left alone."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from app.extensions import db
from app.labels.services import create_label
from app.models import Label, User, Vendor
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
    today = today or date.today()
    index = today.year * 12 + today.month - 1 - months_ago
    return date(index // 12, index % 12 + 1, 1)


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


def seed() -> list[str]:
    """Create whatever of the demo data set is missing; return a summary."""
    return [
        f"vendors created: {seed_vendors()}",
        f"labels created: {seed_labels()}",
        f"users created: {seed_users()}",
    ]
