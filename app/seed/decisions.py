"""Believable moderation decisions for the demo: several months per vendor, with
item links and the context a platform would send. Deterministic (seeded), so the
demo looks the same on every machine."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from app.models.enums import POLICY_AREAS
from app.months import bounds

# How often each policy area comes up, and how often its decisions are rejections.
AREA_MIX = {"listing": 0.45, "content": 0.25, "seller": 0.2, "ipr": 0.1}
REJECT_SHARE = {"listing": 0.38, "content": 0.32, "seller": 0.27, "ipr": 0.55}
SECOND_LABEL_SHARE = 0.12

_PRODUCTS = [
    "Wireless earbuds",
    "Running shoes",
    "Leather handbag",
    "Vitamin C serum",
    "Phone case",
    "Kitchen knife set",
    "Smart watch",
    "Protein powder",
    "Vape starter kit",
    "Designer sunglasses",
    "Hunting scope",
    "Herbal slimming tea",
    "Gaming headset",
    "Baby stroller",
    "Perfume 100ml",
]
_BRANDS = ["Nike", "Apple", "Gucci", "Ray-Ban", "Sony", "Chanel", "Generic", "Unbranded"]
_BUSINESS = ["Trading Co.", "Retail Ltd", "Imports", "Store", "Supplies", "Mart"]
_REPORTERS = ["rights_owner", "user_report", "automated_classifier", "trusted_flagger"]


def _moderators(vendor_code: str, sites: list[str], per_site: int = 12) -> list[tuple[str, str]]:
    out = []
    for site in sites or ["Main"]:
        prefix = "".join(ch for ch in site.upper() if ch.isalpha())[:3] or "SITE"
        out += [(f"{vendor_code}-{prefix}-{n:03d}", site) for n in range(1, per_site + 1)]
    return out


def _context(rng: random.Random, area: str, market: str, item_id: str) -> dict:
    if area == "listing":
        return {
            "title": f"{rng.choice(_BRANDS)} {rng.choice(_PRODUCTS)}",
            "price": f"{rng.randint(3, 900)}.{rng.randint(0, 99):02d}",
            "currency": "USD",
            "seller_id": f"S{rng.randint(100000, 999999)}",
            "images": rng.randint(1, 8),
        }
    if area == "seller":
        return {
            "business_name": f"{rng.choice(['Sunrise', 'Blue Oak', 'Metro', 'Apex', 'Lotus'])} "
            f"{rng.choice(_BUSINESS)}",
            "registration_country": market,
            "documents": rng.choice(["licence", "licence+id", "id only", "tax certificate"]),
            "account_age_days": rng.randint(0, 2000),
        }
    if area == "content":
        return {
            "kind": rng.choice(["review", "question", "store banner", "product video"]),
            "excerpt": rng.choice(
                [
                    "Great product, contact me on WhatsApp for a discount",
                    "Arrived broken, seller ignored me",
                    "Best price in town!!! visit my shop",
                    "Does this come with a warranty?",
                    "Fake, do not buy",
                ]
            ),
            "language": rng.choice(["en", "es", "pt", "de", "fr"]),
        }
    return {
        "rights_owner": rng.choice(_BRANDS[:6]),
        "reported_by": rng.choice(_REPORTERS),
        "claim": rng.choice(["trademark", "copyright", "design", "patent"]),
        "listing_id": item_id,
    }


def demo_decisions(
    vendor_code: str,
    sites: list[str],
    markets: list[str],
    labels_by_area: dict[str, list[str]],
    months: list[date],
    per_month: int,
    seed: int,
) -> Iterator[dict]:
    """Decision rows (API field names) for one vendor over `months`."""
    rng = random.Random(f"{vendor_code}:{seed}")  # noqa: S311  (demo data, not secrets)
    moderators = _moderators(vendor_code, sites)
    areas = [a for a in POLICY_AREAS if labels_by_area.get(a)]
    weights = [AREA_MIX[a] for a in areas]
    serial = 0
    for month in months:
        start, end = bounds(month)
        span = int((min(end, datetime.now(UTC)) - start).total_seconds())
        if span <= 0:
            continue
        for _ in range(per_month):
            serial += 1
            area = rng.choices(areas, weights)[0]
            moderator, site = rng.choice(moderators)
            market = rng.choice(markets or ["US"])
            item_id = f"{area[:3].upper()}-{rng.randint(10_000_000, 99_999_999)}"
            reject = rng.random() < REJECT_SHARE[area]
            labels: list[str] = []
            if reject:
                labels = [rng.choice(labels_by_area[area])]
                if rng.random() < SECOND_LABEL_SHARE:
                    second = rng.choice(labels_by_area[area])
                    if second != labels[0]:
                        labels.append(second)
            decided = start + timedelta(seconds=rng.randrange(span))
            yield {
                "external_id": f"{vendor_code.lower()}-{month:%Y%m}-{serial:07d}",
                "vendor": vendor_code,
                "moderator_id": moderator,
                "site": site,
                "market": market,
                "policy_area": area,
                "item_id": item_id,
                "item_url": f"https://marketplace.example/{area}/{item_id}",
                "context": _context(rng, area, market, item_id),
                "decision": "reject" if reject else "approve",
                "labels": labels,
                "decided_at": decided.isoformat(),
            }
