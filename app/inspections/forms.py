"""Forms of the inspection pages. The verdict form is built per scorecard version: one
radio group per rubric question (yes / no / N/A where allowed)."""

from __future__ import annotations

from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    TextAreaField,
    widgets,
)
from wtforms.validators import Length, Optional

from app.errors import ValidationFailed
from app.inspections.services import MAX_NOTES, MAX_REASON
from app.models import Inspection, Label, ScorecardQuestion
from app.models.enums import SEVERITIES
from app.web import BaseForm

ANSWER_CHOICES = {"yes": "Yes", "no": "No", "na": "N/A"}
SEVERITY_CHOICES = [
    SelectChoice("", "— choose —"),
    SelectChoice("none", "None (the moderator was right)"),
    SelectChoice("minor", "Minor"),
    SelectChoice("major", "Major"),
    SelectChoice("critical", "Critical"),
]
assert [c.value for c in SEVERITY_CHOICES[1:]] == list(SEVERITIES)


class CheckboxListField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class VerdictForm(BaseForm):
    version = HiddenField()
    expected_decision = RadioField(
        "Expected decision",
        choices=[SelectChoice("approve", "Approve"), SelectChoice("reject", "Reject")],
        validators=[Optional()],
        validate_choice=False,  # the service names a bad value on the field
    )
    primary_label = SelectField("Expected primary label", validate_choice=False)
    other_labels = CheckboxListField("Other expected labels", validate_choice=False)
    severity = SelectField("Severity", choices=SEVERITY_CHOICES, validate_choice=False)
    notes = TextAreaField("Notes", validators=[Length(max=MAX_NOTES)])


class CorrectionForm(VerdictForm):
    reason = TextAreaField("Reason for the correction", validators=[Length(max=MAX_REASON)])


def answer_field_name(question: ScorecardQuestion) -> str:
    return f"answer_{question.id}"


def verdict_form(
    questions: list[ScorecardQuestion],
    labels: list[Label],
    *,
    correction: bool = False,
    formdata=None,
) -> VerdictForm:
    """The form for a verdict on a decision with these rubric questions and labels."""

    class Form(CorrectionForm if correction else VerdictForm):
        pass

    for question in questions:
        choices = [
            SelectChoice(k, v) for k, v in ANSWER_CHOICES.items() if k != "na" or question.allow_na
        ]
        setattr(
            Form,
            answer_field_name(question),
            RadioField(question.text, choices=choices, validate_choice=False),
        )
    kwargs = {} if formdata is None else {"formdata": formdata}
    form = Form(**kwargs)
    choices = [SelectChoice(label.code, f"{label.code} — {label.name}") for label in labels]
    form.primary_label.choices = [SelectChoice("", "— none —"), *choices]
    form.other_labels.choices = choices
    return form


def fill(form: VerdictForm, inspection: Inspection, questions: list[ScorecardQuestion]) -> None:
    """Put an inspection's current verdict into the form."""
    codes = [il.label.code for il in inspection.expected_labels]
    form.version.data = str(inspection.version)
    form.expected_decision.data = inspection.expected_decision
    form.primary_label.data = codes[0] if codes else ""
    form.other_labels.data = codes[1:]
    form.severity.data = inspection.severity or ""
    form.notes.data = inspection.notes
    given = {a.question_id: a.answer for a in inspection.answers}
    for question in questions:
        form[answer_field_name(question)].data = given.get(question.id)


def values_of(form: VerdictForm, questions: list[ScorecardQuestion]) -> dict:
    """The verdict as the services take it."""
    primary = form.primary_label.data or ""
    others = [code for code in form.other_labels.data or [] if code and code != primary]
    return {
        "expected_decision": form.expected_decision.data or None,
        "expected_labels": ([primary] if primary else []) + others,
        "severity": form.severity.data or None,
        "notes": form.notes.data or "",
        "answers": {q.key: form[answer_field_name(q)].data for q in questions},
    }


def field_aliases(questions: list[ScorecardQuestion]) -> dict[str, str]:
    """Service field names → form field names, so errors land on the right field."""
    aliases = {"expected_labels": "primary_label", "answers": _first_unanswered(questions)}
    aliases.update({f"answers.{q.key}": answer_field_name(q) for q in questions})
    return aliases


UNANSWERED_MESSAGE = "Answer this question before finalising."


def on_questions(
    err: ValidationFailed, form: VerdictForm, questions: list[ScorecardQuestion]
) -> ValidationFailed:
    """The services' "answer every question" as a problem on each question the form
    left unanswered, so each shows where it is; the other problems as they are."""
    details = err.details if isinstance(err.details, list) else []
    if not any(d.get("field") == "answers" for d in details):
        return err
    unanswered = [
        {"field": answer_field_name(q), "message": UNANSWERED_MESSAGE}
        for q in questions
        if not form[answer_field_name(q)].data
    ]
    if not unanswered:
        return err
    others = [d for d in details if d.get("field") != "answers"]
    return ValidationFailed(err.message, [*unanswered, *others])


def _first_unanswered(questions: list[ScorecardQuestion]) -> str:
    return answer_field_name(questions[0]) if questions else "notes"
