"""Label taxonomy operations. Each validates, flushes and audits; the caller commits once.

A label's code and policy area are frozen once a decision or an inspection uses it
(DESIGN §2): reports, imports and calibration answers refer to labels by code, so a
renamed code would silently rewrite history. Name, description and typical severity
stay editable. Labels are never deleted, only retired.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.audit.services import record_change, record_creation
from app.extensions import db
from app.labels.queries import label_usage
from app.models import Label, User
from app.models.enums import POLICY_AREA_NAMES, POLICY_AREAS
from app.validation import (
    CONTROL_MESSAGE,
    TEXT_WHITESPACE,
    has_control_characters,
    normalise_code,
    raise_problems,
)

CODE_PATTERN = re.compile(r"^[A-Z0-9-]{2,64}$")
# A rejection label describes an error, so its typical severity is never `none`.
LABEL_SEVERITIES = ("minor", "major", "critical")
NAME_MAX = 200
DESCRIPTION_MAX = 2000


def _check_code(code: str) -> list[dict]:
    if not code:
        return [{"field": "code", "message": "A code is required."}]
    if not CODE_PATTERN.match(code):
        return [
            {
                "field": "code",
                "message": "Use 2-64 upper-case letters, digits and hyphens, e.g. LST-COUNTERFEIT.",
            }
        ]
    return []


def _check_policy_area(policy_area: str) -> list[dict]:
    if policy_area not in POLICY_AREAS:
        names = ", ".join(POLICY_AREA_NAMES[a] for a in POLICY_AREAS)
        return [{"field": "policy_area", "message": f"Choose a policy area: {names}."}]
    return []


def _check_details(name: str, typical_severity: str, description: str) -> list[dict]:
    problems = []
    if not name:
        problems.append({"field": "name", "message": "A name is required."})
    elif len(name) > NAME_MAX:
        problems.append({"field": "name", "message": f"At most {NAME_MAX} characters."})
    elif has_control_characters(name):
        problems.append({"field": "name", "message": CONTROL_MESSAGE})
    if typical_severity not in LABEL_SEVERITIES:
        problems.append(
            {
                "field": "typical_severity",
                "message": f"Choose a severity: {', '.join(LABEL_SEVERITIES)}.",
            }
        )
    if len(description) > DESCRIPTION_MAX:
        problems.append(
            {"field": "description", "message": f"At most {DESCRIPTION_MAX} characters."}
        )
    elif has_control_characters(description, TEXT_WHITESPACE):
        problems.append({"field": "description", "message": CONTROL_MESSAGE})
    return problems


def _code_taken(code: str, exclude_id: int | None = None) -> bool:
    stmt = sa.select(Label.id).where(Label.code == code)
    if exclude_id is not None:
        stmt = stmt.where(Label.id != exclude_id)
    return db.session.scalar(stmt) is not None


def _taken_problem(code: str) -> list[dict]:
    return [{"field": "code", "message": f"The code {code} is already used by another label."}]


def _flush_unique(code: str) -> None:
    """Flush in a savepoint so that a concurrent insert of the same code surfaces as a
    field error rather than a broken transaction."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise_problems(_taken_problem(code))


def create_label(
    *,
    code: str,
    name: str,
    policy_area: str,
    typical_severity: str = "major",
    description: str = "",
    actor: User | None = None,
) -> Label:
    """Create an active label; raises ValidationFailed naming every bad field."""
    code = normalise_code(code)
    name = (name or "").strip()
    policy_area = (policy_area or "").strip()
    typical_severity = (typical_severity or "").strip()
    description = (description or "").strip()
    problems = [
        *_check_code(code),
        *_check_policy_area(policy_area),
        *_check_details(name, typical_severity, description),
    ]
    if not problems and _code_taken(code):
        problems = _taken_problem(code)
    raise_problems(problems)
    label = Label(
        code=code,
        name=name,
        policy_area=policy_area,
        typical_severity=typical_severity,
        description=description,
        active=True,
    )
    db.session.add(label)
    _flush_unique(code)
    record_creation(
        db.session,
        "label.created",
        "label",
        label,
        summary=f"created label {code} ({policy_area})",
        actor=actor,
    )
    return label


def update_label(
    label: Label,
    *,
    name: str,
    typical_severity: str,
    description: str = "",
    code: str | None = None,
    policy_area: str | None = None,
    actor: User | None = None,
) -> bool:
    """Edit a label. `code` and `policy_area` are left alone when None, and refused
    when they would change a label that is in use. Returns False when nothing changed."""
    name = (name or "").strip()
    typical_severity = (typical_severity or "").strip()
    description = (description or "").strip()
    new_code = label.code if code is None else normalise_code(code)
    new_area = label.policy_area if policy_area is None else policy_area.strip()
    problems = _check_details(name, typical_severity, description)
    if new_code != label.code:
        problems += _check_code(new_code)
    if new_area != label.policy_area:
        problems += _check_policy_area(new_area)
    if new_code != label.code or new_area != label.policy_area:
        usage = label_usage(label)
        if usage.in_use:
            if new_code != label.code:
                problems.append({"field": "code", "message": usage.reason()})
            if new_area != label.policy_area:
                problems.append({"field": "policy_area", "message": usage.reason()})
    if not problems and new_code != label.code and _code_taken(new_code, label.id):
        problems = _taken_problem(new_code)
    raise_problems(problems)

    before = label.audit_state()
    label.code = new_code
    label.policy_area = new_area
    label.name = name
    label.typical_severity = typical_severity
    label.description = description
    _flush_unique(new_code)
    return record_change(
        db.session,
        "label.updated",
        "label",
        label,
        before,
        summary=lambda changed: f"updated label {label.code}: {', '.join(sorted(changed))}",
        actor=actor,
    )


def retire_label(label: Label, *, actor: User | None = None) -> bool:
    """Retire a label: it stays for history but is no longer offered for new work.
    False when it was retired already."""
    return _set_active(label, False, actor)


def reactivate_label(label: Label, *, actor: User | None = None) -> bool:
    """Bring a retired label back into use. False when it was active already."""
    return _set_active(label, True, actor)


def _set_active(label: Label, active: bool, actor: User | None) -> bool:
    if label.active == active:
        return False
    before = label.audit_state()
    label.active = active
    label.retired_at = None if active else datetime.now(UTC)
    db.session.flush()
    return record_change(
        db.session,
        "label.reactivated" if active else "label.retired",
        "label",
        label,
        before,
        summary=f"{'reactivated' if active else 'retired'} label {label.code}",
        actor=actor,
    )
