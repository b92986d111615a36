"""The API token form."""

from __future__ import annotations

from wtforms import DateField, HiddenField, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.security.roles import SCOPES
from app.web import BaseForm


class TokenForm(BaseForm):
    # The user is chosen first (the scopes offered depend on their role) and carried here.
    user = HiddenField(validators=[DataRequired(message="Choose a user.")])
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=120)],
        description="What uses the token, e.g. “Nightly decisions export”.",
    )
    # Choices are every scope so that a scope beyond the role reaches the service, which
    # explains why it is refused; the page offers only the role's scopes.
    scopes = SelectMultipleField(
        "Scopes",
        choices=[SelectChoice(scope, text) for scope, text in SCOPES.items()],
        validators=[DataRequired(message="Choose at least one scope.")],
    )
    expires_on = DateField(
        "Valid through",
        validators=[Optional()],
        description="The token stops working at the end of this day (your time zone). "
        "Leave empty for no expiry.",
    )
