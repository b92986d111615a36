"""Forms of user administration and the choices they offer (roles, vendors, time zones)."""

from __future__ import annotations

from functools import cache

from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.models.enums import ROLE_NAMES, ROLES
from app.validation import is_time_zone, time_zones
from app.vendors.queries import vendor_options
from app.web import BaseForm

_REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def time_zone_choices() -> tuple[SelectChoice, ...]:
    """UTC, then the canonical Region/City zones grouped by region (the legacy aliases
    such as "GB" or "EST5EDT" are left out of the list, though still accepted)."""
    zones = [z for z in time_zones() if z.split("/")[0] in _REGIONS]
    return (
        SelectChoice("UTC"),
        *(SelectChoice(z, z.replace("_", " "), optgroup=z.split("/")[0]) for z in zones),
    )


def vendor_choices(blank: str = "— none —") -> list[SelectChoice]:
    """Every vendor by code (inactive ones marked), after an empty choice saying `blank`."""
    return [SelectChoice("", blank)] + [
        SelectChoice(code, f"{code} · {name}" + ("" if active else " (inactive)"))
        for code, name, active in vendor_options()
    ]


ROLE_CHOICES = [SelectChoice(role, ROLE_NAMES[role]) for role in ROLES]
VENDOR_HELP = "Required for vendor roles (vendor lead, vendor viewer); leave empty for the others."


class _UserFields(BaseForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    vendor = SelectField("Vendor", choices=[], default="", description=VENDOR_HELP)
    time_zone = SelectField(
        "Time zone",
        default="UTC",
        description="Dates and times are shown to the user in this zone.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vendor.choices = vendor_choices()
        choices = list(time_zone_choices())
        current = self.time_zone.data
        if is_time_zone(current) and all(c.value != current for c in choices):
            choices.insert(1, SelectChoice(current))  # a legacy zone, kept as it is
        self.time_zone.choices = choices


class UserCreateForm(_UserFields):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField(
        "Name",
        validators=[Optional(), Length(max=120)],
        description="Defaults to the part of the email before the @.",
    )
    password = PasswordField(
        "Initial password",
        validators=[Optional(), Length(max=256)],
        description="At least 12 characters. Leave empty for integration users: "
        "they have no password and use API tokens.",
    )
    must_change_password = BooleanField("Ask for a new password at first sign-in", default=True)


class UserEditForm(_UserFields):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
