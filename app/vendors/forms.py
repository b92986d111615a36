"""Vendor and contract forms. People type percentages and one tier per line; the forms
turn that into the shares and tier rows the services take. The services validate the
values themselves (codes, lists, time zones, months, conflicts)."""

from __future__ import annotations

import math
import re

from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from app import months
from app.models import Vendor, VendorContract
from app.vendors.checks import DEFAULT_DISPUTE_WINDOW, TIER_METRICS
from app.web import BaseForm

TIER_FORMAT = "metric from-to: pct"
TIER_EXAMPLE = "overall_accuracy 0-90: -5"
TIERS_HELP = (
    "One tier per line as “metric from-to: pct”, e.g. “overall_accuracy 0-90: -5” "
    "(accuracy from 0% up to 90% costs a 5% penalty) or “overall_accuracy 98-100: +1.5” "
    "(a 1.5% credit). Metrics: overall_accuracy, critical_error_rate. Bounds are "
    "percentages 0-100 with from below to; pct is -100 to 100, negative for a penalty, "
    "positive for a credit. Lines starting with # are ignored."
)

_NUM = r"\d+(?:\.\d+)?"
_TIER_RE = re.compile(
    rf"^(?P<metric>[A-Za-z_]+)\s+(?P<low>{_NUM})\s*%?\s*(?:-|\u2013|to)\s*"
    rf"(?P<high>{_NUM})\s*%?\s*:\s*(?P<pct>[+-]?\s*{_NUM})\s*%?$"
)


def _fmt(number: float) -> str:
    """A number without float noise: 95.0 → "95", 1.5 → "1.5"."""
    return f"{round(number, 4):g}"


def share_to_percent_text(share: float | None) -> str:
    """A stored share as the percentage a form shows ("" for none)."""
    return "" if share is None else _fmt(share * 100)


def parse_percent(text: str | None) -> float:
    """A percentage 0-100 as typed ("95", "1.5", "95 %") → a share; ValueError if not."""
    text = (text or "").strip().removesuffix("%").strip().replace(",", ".")
    if not text:
        raise ValueError("Required: enter a percentage from 0 to 100.")
    try:
        number = float(text)
    except ValueError:
        raise ValueError("Enter a number from 0 to 100 (a percentage).") from None
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise ValueError("Enter a number from 0 to 100 (a percentage).")
    return round(number / 100, 6)


def parse_tiers(text: str | None) -> list[dict]:
    """The tiers textarea → tier rows in storage units (shares).

    Raises ValueError naming the line for the first problem found.
    """
    tiers: list[dict] = []
    lines: list[int] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"Line {number} (“{line[:60]}”)"
        match = _TIER_RE.match(line)
        if not match:
            raise ValueError(f"{where}: write it as “{TIER_FORMAT}”, e.g. “{TIER_EXAMPLE}”.")
        metric = match["metric"].lower()
        if metric not in TIER_METRICS:
            raise ValueError(f"{where}: the metric must be {' or '.join(TIER_METRICS)}.")
        low, high = float(match["low"]), float(match["high"])
        pct = float(match["pct"].replace(" ", ""))
        if low > 100 or high > 100:
            raise ValueError(f"{where}: from and to are percentages between 0 and 100.")
        if low >= high:
            raise ValueError(f"{where}: from ({_fmt(low)}) must be below to ({_fmt(high)}).")
        if not -100 <= pct <= 100:
            raise ValueError(f"{where}: pct must be between -100 and 100.")
        for other, previous in zip(lines, tiers, strict=True):
            if previous["metric"] == metric and (
                low < previous["to"] * 100 and previous["from"] * 100 < high
            ):
                raise ValueError(f"{where}: overlaps line {other} for {metric}.")
        tiers.append(
            {"metric": metric, "from": round(low / 100, 6), "to": round(high / 100, 6), "pct": pct}
        )
        lines.append(number)
    if len(tiers) > 20:
        raise ValueError("Give at most 20 tiers.")
    return tiers


def tiers_to_text(tiers: list[dict] | None) -> str:
    """Tier rows → the textarea format, so that an edit starts from what is stored."""
    return "\n".join(
        f"{t['metric']} {_fmt(t['from'] * 100)}-{_fmt(t['to'] * 100)}: {t['pct']:+g}"
        for t in tiers or []
    )


def _time_zone_field(description: str, **kwargs) -> StringField:
    """A time zone typed with the page's list of IANA names as suggestions."""
    return StringField(
        "Time zone",
        validators=[Length(max=64)],
        description=description,
        render_kw={"list": "time-zones", "autocomplete": "off"},
        **kwargs,
    )


def _holiday_country_field(description: str, **kwargs) -> StringField:
    """A holiday country typed with the page's list of country codes as suggestions."""
    return StringField(
        "Holiday country",
        validators=[Length(max=8)],
        description=description,
        render_kw={"list": "holiday-countries", "autocomplete": "off"},
        **kwargs,
    )


class VendorForm(BaseForm):
    code = StringField(
        "Code",
        validators=[Length(max=40)],
        description="2-20 characters: letters, digits, _ or -. Stored upper-case; "
        "it cannot change later.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    name = StringField("Name", validators=[Length(max=200)])
    sites = StringField(
        "Sites",
        validators=[Length(max=2000)],
        description="Comma-separated, e.g. Manila, Cebu.",
    )
    markets = StringField(
        "Markets",
        validators=[Length(max=500)],
        description="Comma-separated 2-letter country codes, e.g. US, CA, PH.",
    )
    time_zone = _time_zone_field(
        "IANA name, e.g. Asia/Manila. Start typing to pick one.", default="UTC"
    )
    holiday_country = _holiday_country_field(
        "Country code whose public holidays are not business days, e.g. PH.", default="US"
    )

    def fill_from(self, vendor: Vendor) -> None:
        self.code.data = vendor.code
        self.name.data = vendor.name
        self.sites.data = ", ".join(vendor.sites or [])
        self.markets.data = ", ".join(vendor.markets or [])
        self.time_zone.data = vendor.time_zone
        self.holiday_country.data = vendor.holiday_country

    def values(self) -> dict:
        """Keyword arguments for create_vendor / update_vendor."""
        return {
            "code": self.code.data or "",
            "name": self.name.data or "",
            "sites": self.sites.data or "",
            "markets": self.markets.data or "",
            "time_zone": (self.time_zone.data or "").strip(),
            "holiday_country": (self.holiday_country.data or "").strip(),
        }


class ContractForm(BaseForm):
    effective_month = StringField(
        "Takes effect in",
        validators=[Length(max=20)],
        description="Month as YYYY-MM. The version applies from that month until the next one.",
        render_kw={"type": "month", "placeholder": "YYYY-MM", "pattern": months.PATTERN},
    )
    accuracy_target = StringField(
        "Overall accuracy target (%)",
        validators=[Length(max=20)],
        description="The vendor meets it when overall accuracy is at least this, e.g. 95.",
        render_kw={"inputmode": "decimal"},
    )
    critical_error_cap = StringField(
        "Critical error cap (%)",
        validators=[Length(max=20)],
        description="The critical error rate may be at most this, e.g. 1.5.",
        render_kw={"inputmode": "decimal"},
    )
    dispute_window_days = StringField(
        "Dispute window (business days)",
        validators=[Optional(), Length(max=10)],
        default=str(DEFAULT_DISPUTE_WINDOW),
        description="1-60 business days after an inspection is final; default 5.",
        render_kw={"type": "number", "min": 1, "max": 60, "step": 1},
    )
    time_zone = _time_zone_field("Leave empty to use the vendor's.")
    holiday_country = _holiday_country_field("Leave empty to use the vendor's.")
    penalty_tiers = TextAreaField(
        "Penalty and credit tiers",
        validators=[Length(max=5000)],
        description=TIERS_HELP,
        render_kw={"rows": 5, "spellcheck": "false"},
    )
    notes = TextAreaField("Notes", validators=[Length(max=5000)], render_kw={"rows": 3})

    def validate_accuracy_target(self, field) -> None:
        self._percent(field)

    def validate_critical_error_cap(self, field) -> None:
        self._percent(field)

    def validate_penalty_tiers(self, field) -> None:
        try:
            self._tiers = parse_tiers(field.data)
        except ValueError as err:
            raise ValidationError(str(err)) from None

    def _percent(self, field) -> None:
        try:
            field.share = parse_percent(field.data)
        except ValueError as err:
            raise ValidationError(str(err)) from None

    def fill_from(self, contract: VendorContract) -> None:
        self.effective_month.data = contract.month_label
        self.accuracy_target.data = share_to_percent_text(contract.accuracy_target)
        self.critical_error_cap.data = share_to_percent_text(contract.critical_error_cap)
        self.dispute_window_days.data = str(contract.dispute_window_days)
        self.time_zone.data = contract.time_zone
        self.holiday_country.data = contract.holiday_country
        self.penalty_tiers.data = tiers_to_text(contract.penalty_tiers)
        self.notes.data = contract.notes

    def values(self) -> dict:
        """Keyword arguments for create_contract / update_contract (call after validate)."""
        window = (self.dispute_window_days.data or "").strip()
        return {
            "effective_month": self.effective_month.data or "",
            "accuracy_target": self.accuracy_target.share,
            "critical_error_cap": self.critical_error_cap.share,
            "dispute_window_days": window or None,
            "time_zone": (self.time_zone.data or "").strip() or None,
            "holiday_country": (self.holiday_country.data or "").strip() or None,
            "notes": self.notes.data or "",
            "penalty_tiers": self._tiers,
        }
