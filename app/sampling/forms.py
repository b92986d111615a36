"""Sampling forms. People type the margin as a percentage and risk weights one stratum
per line; the forms turn that into the shares and dicts the services take. The
services validate the values themselves."""

from __future__ import annotations

import math
import re

from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.models import SamplingPlan
from app.sampling import queries
from app.sampling.services.checks import (
    DEFAULT_STRATA,
    MAX_REASON_LENGTH,
    MAX_SEED_LENGTH,
    MAX_SIZE,
    STRATUM_FIELD_NAMES,
    STRATUM_FIELDS,
)
from app.users.forms import vendor_choices
from app.web import BaseForm

CONFIDENCE_CHOICES = [
    SelectChoice("0.9", "90%"),
    SelectChoice("0.95", "95%"),
    SelectChoice("0.99", "99%"),
]
PURPOSE_CHOICES = [
    SelectChoice("contract", "Contract — proportional; counts in the headline metrics"),
    SelectChoice("targeted", "Targeted — risk-weighted; reported separately"),
]
WEIGHTS_HELP = (
    "Targeted samples only. One stratum per line as “values = weight”, the values "
    "joined by | in the order of the strata, e.g. “listing|reject = 3”. A stratum "
    "without a line weighs 1; 0 leaves it out."
)
_WEIGHT_RE = re.compile(r"^(?P<key>.+?)\s*[=:]\s*(?P<weight>[0-9]+(?:\.[0-9]+)?)$")


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def inspector_choices() -> list[SelectChoice]:
    """The people items may be assigned to, by name."""
    return [
        SelectChoice(str(u.id), f"{u.name} ({u.email})") for u in queries.assignable_inspectors()
    ]


def parse_margin_percent(text: str | None) -> float | None:
    """ "5" or "5 %" → 0.05; empty → None; ValueError when it is not a percentage."""
    text = (text or "").strip().removesuffix("%").strip().replace(",", ".")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError("Enter the margin as a percentage, e.g. 5 for ±5%.") from None
    if not math.isfinite(number) or not 0 < number < 100:
        raise ValueError("Enter the margin as a percentage, e.g. 5 for ±5%.")
    return round(number / 100, 6)


def margin_to_percent_text(margin: float | None) -> str:
    """0.05 → "5" (the form shows the margin as a percentage)."""
    return "" if margin is None else f"{round(margin * 100, 4):g}"


def parse_weights(text: str | None) -> dict[str, float]:
    """The weights textarea → {stratum key: weight}; ValueError naming the line."""
    weights: dict[str, float] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _WEIGHT_RE.match(line)
        if not match:
            raise ValueError(
                f"Line {number}: write it as “values = weight”, e.g. listing|reject = 3."
            )
        weights[match["key"].strip()] = float(match["weight"])
    return weights


def weights_to_text(weights: dict | None) -> str:
    """{stratum key: weight} → the textarea's lines (the inverse of `parse_weights`)."""
    return "\n".join(f"{key} = {value:g}" for key, value in sorted((weights or {}).items()))


class WholeNumberField(IntegerField):
    """An integer field whose range check cannot overflow: WTForms' NumberRange compares
    the number as a float, which a number of hundreds of digits cannot be. Such a number
    is refused here; smaller ones are left to the field's validators."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > 2**53:
            self.data = None
            raise ValueError(f"Enter a whole number from 1 to {MAX_SIZE:,}.")


def _confidence(text: str | None) -> float:
    """The confidence chosen; a value not offered is named on its field by validation and
    drawn at the default meanwhile."""
    try:
        return float(text or 0.95)
    except ValueError:
        return 0.95


class _DrawParameters(BaseForm):
    """Fields a plan and an ad-hoc draw share."""

    vendor = SelectField("Vendor", choices=[], validators=[DataRequired("Choose a vendor.")])
    purpose = SelectField("Purpose", choices=PURPOSE_CHOICES, default="contract")
    strata = MultiCheckboxField(
        "Strata",
        choices=[SelectChoice(name, STRATUM_FIELD_NAMES[name]) for name in STRATUM_FIELDS],
        default=list(DEFAULT_STRATA),
        description="Decision fields the population is split by; each stratum gets its "
        "share. None: one stratum.",
    )
    size_mode = RadioField(
        "Size",
        choices=[
            SelectChoice("margin", "From a margin of error"),
            SelectChoice("size", "A fixed number of items"),
        ],
        default="margin",
    )
    size = WholeNumberField(
        "Items",
        validators=[Optional(), NumberRange(min=1, max=MAX_SIZE)],
        render_kw={"min": 1, "max": MAX_SIZE, "inputmode": "numeric"},
    )
    margin = StringField(
        "Margin of error (%)",
        default="5",
        validators=[Length(max=20)],
        description="± percentage points at the confidence level (p = 0.5, corrected for "
        "the population size).",
        render_kw={"inputmode": "decimal"},
    )
    confidence = SelectField("Confidence", choices=CONFIDENCE_CHOICES, default="0.95")
    risk_weights = TextAreaField(
        "Risk weights", validators=[Length(max=5000)], description=WEIGHTS_HELP
    )
    inspectors = MultiCheckboxField(
        "Inspectors",
        choices=[],
        description="Items are dealt to them round-robin in draw order. Optional.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vendor.choices = vendor_choices("— choose —")
        self.inspectors.choices = inspector_choices()

    def parameters(self) -> tuple[dict, list[tuple[str, str]]]:
        """The service arguments, and (field, message) problems found while parsing."""
        problems = []
        margin = None
        if self.size_mode.data == "margin":
            try:
                margin = parse_margin_percent(self.margin.data)
            except ValueError as err:
                problems.append(("margin", str(err)))
        try:
            weights = parse_weights(self.risk_weights.data)
        except ValueError as err:
            problems.append(("risk_weights", str(err)))
            weights = {}
        values = {
            "purpose": self.purpose.data,
            "strata": [s for s in STRATUM_FIELDS if s in (self.strata.data or [])],
            "size": self.size.data if self.size_mode.data == "size" else None,
            "margin": margin,
            "confidence": _confidence(self.confidence.data),
            "risk_weights": weights,
            "inspectors": queries.users_by_ids(self.inspectors.data or []),
        }
        if self.size_mode.data == "size" and self.size.data is None and not self.size.errors:
            problems.append(("size", "Enter how many items to draw."))
        if self.size_mode.data == "margin" and margin is None and not problems:
            problems.append(("margin", "Enter the margin of error, e.g. 5 for ±5%."))
        return values, problems

    def fill_from_plan(self, plan: SamplingPlan) -> None:
        self.vendor.data = plan.vendor.code
        self.purpose.data = plan.purpose
        self.strata.data = list(plan.strata or [])
        self.size_mode.data = "size" if plan.size is not None else "margin"
        self.size.data = plan.size
        self.margin.data = margin_to_percent_text(plan.margin)
        self.confidence.data = f"{plan.confidence:g}"
        self.risk_weights.data = weights_to_text(plan.risk_weights)
        self.inspectors.data = [str(i) for i in plan.inspector_ids or []]


class DrawForm(_DrawParameters):
    plan_id = HiddenField()
    period_start = DateField("From", validators=[DataRequired("Enter the first day.")])
    period_end = DateField(
        "To (inclusive)",
        validators=[DataRequired("Enter the last day.")],
        description="Dates in UTC; the period must be over.",
    )
    seed = StringField(
        "Seed",
        validators=[Length(max=MAX_SEED_LENGTH)],
        description="Leave empty: the server picks a secret one and reveals it with the "
        "draw. Give one only to repeat a published draw.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class PlanForm(_DrawParameters):
    name = StringField("Name", validators=[DataRequired("Give the plan a name."), Length(max=120)])
    active = BooleanField("Active (offered for drawing)", default=True)


class SkipForm(BaseForm):
    reason = StringField(
        "Reason",
        validators=[DataRequired("Say why the item is skipped."), Length(max=MAX_REASON_LENGTH)],
    )


class CancelForm(BaseForm):
    reason = StringField("Reason", validators=[Length(max=MAX_REASON_LENGTH)])


class AssignForm(BaseForm):
    inspectors = MultiCheckboxField("Inspectors", choices=[])
    only_unassigned = BooleanField("Only items nobody has yet", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.inspectors.choices = inspector_choices()


class ReassignForm(BaseForm):
    assignee = SelectField("Assignee", choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee.choices = [SelectChoice("", "— nobody —"), *inspector_choices()]
