"""Scorecard forms, and the rubric editor's rows.

The editor is a plain table with one row per question, so it works from the keyboard
and without JavaScript: order, section title, key, text, guidance, weight and three
checkboxes (critical, N/A allowed, remove). Rows are sorted by their order number and
consecutive rows with the same section title form one section. The services validate
the rubric; this module turns rows into sections and the services' problems back into
errors on the row and column at fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, SelectField, StringField, TextAreaField

from app.models import ScorecardVersion
from app.models.enums import POLICY_AREA_NAMES, POLICY_AREAS
from app.scorecards.rubric import MAX_QUESTIONS
from app.web import BaseForm

BLANK_ROWS = 5
MAX_BLANK_ROWS = 50
# The editor never renders more rows than this; a field of a row beyond it was not
# sent by the editor and is ignored.
MAX_FORM_ROWS = MAX_QUESTIONS + MAX_BLANK_ROWS + 50
ROW_TEXT = ("order", "section", "key", "text", "guidance", "weight")
ROW_FLAGS = ("critical", "allow_na", "remove")
COLUMN_NAMES = {
    "order": "Order",
    "section": "Section",
    "key": "Key",
    "text": "Question",
    "guidance": "Guidance",
    "weight": "Weight",
    "critical": "Critical",
    "allow_na": "N/A allowed",
}
_ROW_FIELD = re.compile(r"^q-(\d{1,4})-([a-z_]+)$")
# Service problem fields: sections[i].title, sections[i].questions[j].key, ...
_SECTION_PATH = re.compile(r"^sections\[(\d+)\]\.title$")
_QUESTION_PATH = re.compile(r"^sections\[(\d+)\]\.questions\[(\d+)\](?:\.([a-z_]+))?$")
ORDER_MESSAGE = "Enter a number, e.g. 3, or 2.5 to place a row between 2 and 3."


class TemplateForm(BaseForm):
    """A new template. validate_choice is off so an unexpected policy area gets the
    service's message, which names the allowed ones."""

    name = StringField("Name", description="e.g. Listing moderation QA rubric")
    policy_area = SelectField(
        "Policy area",
        choices={area: POLICY_AREA_NAMES[area] for area in POLICY_AREAS},
        validate_choice=False,
        description="One template per policy area; inspections of that area use its "
        "published version.",
    )
    description = TextAreaField(
        "Description",
        render_kw={"rows": 4},
        description="What the rubric is for; shown to inspectors and vendors.",
    )


class TemplateDetailsForm(BaseForm):
    """A template's name and description (its policy area is fixed)."""

    name = StringField("Name")
    description = TextAreaField("Description", render_kw={"rows": 4})


class RubricForm(BaseForm):
    """The editor's own fields (its rows are read by `rows_from_form`)."""

    revision = HiddenField()


@dataclass
class Row:
    """One row of the rubric editor, as shown and as sent back."""

    order: str = ""
    section: str = ""
    key: str = ""
    text: str = ""
    guidance: str = ""
    weight: str = ""
    critical: bool = False
    allow_na: bool = True
    remove: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def blank(self) -> bool:
        """Left empty: ignored on save (order and checkboxes alone do not count)."""
        return not any(
            getattr(self, name).strip() for name in ("section", "key", "text", "guidance", "weight")
        )

    @property
    def used(self) -> bool:
        return not self.remove and not self.blank

    def error(self, column: str, message: str) -> None:
        messages = self.errors.setdefault(column, [])
        if message not in messages:
            messages.append(message)


def _weight_text(weight: float) -> str:
    return f"{weight:g}"


def rows_from_version(version: ScorecardVersion) -> list[Row]:
    """A version's questions as editor rows, numbered 1, 2, 3, ..."""
    rows = []
    for section in version.sections:
        for question in section.questions:
            rows.append(
                Row(
                    order=str(len(rows) + 1),
                    section=section.title,
                    key=question.key,
                    text=question.text,
                    guidance=question.guidance or "",
                    weight=_weight_text(question.weight),
                    critical=question.critical,
                    allow_na=question.allow_na,
                )
            )
    return rows


def blank_rows(rows: list[Row], count: int) -> list[Row]:
    """`count` empty rows numbered after `rows`."""
    orders = []
    for row in rows:
        try:
            orders.append(float(row.order))
        except ValueError:
            continue
    start = max([len(rows), *[o for o in orders if math.isfinite(o)]], default=0)
    start = math.floor(start)
    return [Row(order=str(start + n)) for n in range(1, count + 1)]


def rows_from_form(form: MultiDict) -> list[Row]:
    """The editor's rows as sent, in the order shown."""
    values: dict[int, dict[str, str]] = {}
    for name in form:
        match = _ROW_FIELD.match(name)
        if not match:
            continue
        index, column = int(match[1]), match[2]
        if index >= MAX_FORM_ROWS or column not in (*ROW_TEXT, *ROW_FLAGS):
            continue
        values.setdefault(index, {})[column] = form.get(name, "")
    rows = []
    for index in sorted(values):
        data = values[index]
        rows.append(
            Row(
                **{name: data.get(name, "") for name in ROW_TEXT},
                **{name: name in data for name in ROW_FLAGS},
            )
        )
    return rows


@dataclass
class Rubric:
    """Rows turned into the services' sections, remembering which row each question
    (and each section) came from."""

    sections: list[dict]
    section_rows: list[list[Row]]
    has_row_errors: bool


def _order(row: Row, position: int) -> float:
    raw = row.order.strip().replace(",", ".")
    if not raw:
        return float(position)
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        row.error("order", ORDER_MESSAGE)
        return float(position)
    return number


def build_rubric(rows: list[Row]) -> Rubric:
    """Sections from the rows in use: sorted by order number (ties keep the order shown),
    consecutive rows with the same section title make one section. Problems only the
    editor can have (order numbers, a section's rows split apart) go on their rows."""
    used = [(row, _order(row, n)) for n, row in enumerate(rows, start=1) if row.used]
    used.sort(key=lambda pair: pair[1])  # stable: equal numbers keep the order shown
    sections: list[dict] = []
    section_rows: list[list[Row]] = []
    seen: set[str] = set()
    for row, _ in used:
        title = row.section.strip()
        if not title:
            row.error("section", "A section title is required.")
        same = bool(sections) and sections[-1]["title"].casefold() == title.casefold()
        if not same:
            if title and title.casefold() in seen:
                row.error(
                    "section",
                    f"Rows of the section “{title}” must be together: give them "
                    "consecutive order numbers.",
                )
            seen.add(title.casefold())
            sections.append({"title": title, "questions": []})
            section_rows.append([])
        sections[-1]["questions"].append(
            {
                "key": row.key,
                "text": row.text,
                "guidance": row.guidance,
                "weight": row.weight,
                "critical": row.critical,
                "allow_na": row.allow_na,
            }
        )
        section_rows[-1].append(row)
    return Rubric(sections, section_rows, any(row.errors for row, _ in used))


def apply_problems(rubric: Rubric, problems: list[dict]) -> list[str]:
    """Put the services' problems on the rows and columns they name; return the
    messages that name no row (e.g. too many questions)."""
    general = []
    for item in problems:
        where = item.get("field") or ""
        message = item.get("message") or "This is not valid."
        section = _SECTION_PATH.match(where)
        question = _QUESTION_PATH.match(where)
        if section and int(section[1]) < len(rubric.section_rows):
            for row in rubric.section_rows[int(section[1])]:
                row.error("section", message)
        elif question and int(question[1]) < len(rubric.section_rows):
            rows = rubric.section_rows[int(question[1])]
            j = int(question[2])
            column = question[3] if question[3] in COLUMN_NAMES else "text"
            if j < len(rows):
                rows[j].error(column, message)
            else:
                general.append(message)
        elif message not in general:
            general.append(message)
    return general
