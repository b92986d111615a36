"""Label forms. The service validates the values; the form carries them and the CSRF token."""

from wtforms import SelectField, StringField, TextAreaField

from app.labels.services import LABEL_SEVERITIES
from app.models.enums import POLICY_AREA_NAMES, POLICY_AREAS
from app.web import BaseForm


class LabelForm(BaseForm):
    # validate_choice is off so that an unexpected value gets the service's message,
    # which names the allowed values, rather than a generic "Not a valid choice".
    code = StringField(
        "Code",
        description="Upper-case letters, digits and hyphens, e.g. LST-COUNTERFEIT. "
        "Fixed once a decision or inspection uses the label.",
    )
    name = StringField("Name")
    policy_area = SelectField(
        "Policy area",
        choices={area: POLICY_AREA_NAMES[area] for area in POLICY_AREAS},
        validate_choice=False,
    )
    typical_severity = SelectField(
        "Typical severity",
        choices={s: s.title() for s in LABEL_SEVERITIES},
        default="major",
        validate_choice=False,
        description="The severity an error with this label usually has.",
    )
    description = TextAreaField("Description", render_kw={"rows": 4})
