"""Reading inspections, for the pages and the API alike: the list's filters (those the
dashboards drill down with), their one query, sorting and the CSV export; one
inspection; the choices of the verdict form; the next item of an inspector's queue.

Every query goes through `visible()` (app/security/scoping.py): a vendor user sees
final inspections of its own vendor only, whatever the filters say, and QA people as
pseudonyms; naming another vendor is a 404. Functions take the user explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload
from werkzeug.datastructures import MultiDict

from app import months
from app.extensions import db
from app.models import (
    Decision,
    DecisionLabel,
    Inspection,
    InspectionLabel,
    Label,
    SampleItem,
    ScorecardQuestion,
    ScorecardVersion,
    User,
    Vendor,
)
from app.models.enums import (
    INSPECTION_STATUSES,
    POLICY_AREA_NAMES,
    POLICY_AREAS,
    SAMPLE_PURPOSES,
    SEVERITIES,
)
from app.sampling.queries import open_work, queue_statement
from app.scorecards.queries import version_questions
from app.security.public_ids import public_id
from app.security.scoping import (
    can_see,
    can_see_identities,
    can_see_work_in_progress,
    display_person,
    inspectors,
    list_vendor_or_404,
    shown_created_at,
    visible,
)
from app.validation import normalise_code
from app.web import parse_id

# What a drill-down asks for: which inspections of the group a number counts.
OUTCOMES = {
    "correct": "Correct",
    "incorrect": "Incorrect",
    "decision_wrong": "Wrong decision",
    "labels_wrong": "Right reject, wrong labels",
    "labels_judged": "Rejects judged rejects",
    "false_negative": "False negatives (approved, should be rejected)",
    "false_positive": "False positives (rejected, should be approved)",
    "critical": "Critical severity",
}
TEXT_FILTERS = ("market", "site", "moderator")
SORTS = {
    "newest": (Inspection.id.desc(),),
    "oldest": (Inspection.id.asc(),),
    "decided": (Decision.decided_at.desc(), Inspection.id.desc()),
    "score": (Inspection.rubric_score.asc(), Inspection.id.desc()),
}
MAX_TEXT = 128
MONTH_MESSAGE = "Give the month as YYYY-MM."


@dataclass
class Filters:
    """What the list shows. `inspector` (a user, from the pages) and `inspector_email`
    (from the API) name the same filter; neither applies for users who may not see who
    QA people are."""

    vendor: Vendor | None = None
    vendor_fixed: bool = False
    month: date | None = None
    status: str = ""
    purpose: str = ""
    policy_area: str = ""
    market: str = ""
    site: str = ""
    moderator: str = ""
    outcome: str = ""
    severity: str = ""
    inspector: User | None = None
    inspector_email: str = ""
    applied: str = ""  # the applied primary label code, or "approve"
    expected: str = ""  # the expected primary label code, or "approve"
    q: str = ""
    sort: str = "newest"
    errors: dict[str, str] = field(default_factory=dict)

    def query_args(self) -> dict[str, str]:
        """The filters as query arguments (for the export link and drill-downs)."""
        args = {
            "vendor": self.vendor.code if self.vendor and not self.vendor_fixed else "",
            "month": self.month.strftime("%Y-%m") if self.month else "",
            "inspector": str(self.inspector.id) if self.inspector else "",
        }
        for name in (
            "status",
            "purpose",
            "policy_area",
            *TEXT_FILTERS,
            "outcome",
            "severity",
            "applied",
            "expected",
            "q",
        ):
            args[name] = getattr(self, name)
        return {k: v for k, v in args.items() if v}


def _text(args: MultiDict, name: str) -> str:
    return (args.get(name) or "").strip()[:MAX_TEXT]


def _choice(f: Filters, args: MultiDict, name: str, allowed, message: str) -> str:
    value = _text(args, name)
    if value and value not in allowed:
        f.errors[name] = message
        return ""
    return value


def _label_code(args: MultiDict, name: str) -> str:
    code = normalise_code(_text(args, name))
    return "approve" if code == "APPROVE" else code


def parse_filters(args: MultiDict, user: User) -> Filters:
    """Read the list's filters from a query string, as `user` may use them. Another
    vendor's (or an unknown) vendor code is a 404; other bad values are reported in
    `errors`."""
    f = Filters()
    f.vendor, f.vendor_fixed = list_vendor_or_404(normalise_code(args.get("vendor")), user)
    month = _text(args, "month")
    if month:
        f.month = months.from_text(month)
        if f.month is None:
            f.errors["month"] = MONTH_MESSAGE
        elif f.month > months.current():
            f.errors["month"] = months.after_message(f.month, months.current())
    f.status = _choice(f, args, "status", INSPECTION_STATUSES, "Choose draft or final.")
    if not can_see_work_in_progress(user):
        f.status = "final"  # all they may see; the list says so
    f.purpose = _choice(f, args, "purpose", SAMPLE_PURPOSES, "Choose contract or targeted.")
    f.policy_area = _choice(f, args, "policy_area", POLICY_AREAS, "Unknown policy area.")
    f.outcome = _choice(f, args, "outcome", OUTCOMES, "Unknown outcome.")
    f.severity = _choice(f, args, "severity", SEVERITIES, "Unknown severity.")
    for name in TEXT_FILTERS:
        setattr(f, name, _text(args, name))
    f.applied = _label_code(args, "applied")
    f.expected = _label_code(args, "expected")
    f.q = _text(args, "q")
    inspector = _text(args, "inspector")
    if inspector and can_see_identities(user):
        inspector_id = parse_id(inspector)
        f.inspector = db.session.get(User, inspector_id) if inspector_id else None
        if f.inspector is None:
            f.errors["inspector"] = "No such inspector."
    sort = _text(args, "sort") or "newest"
    f.sort = sort if sort in SORTS else "newest"
    return f


# What a drill-down's outcome counts, in words: the figure, the phrase for "the N … of M",
# and the outcome M counts (none: every inspection in scope).
OUTCOME_FIGURES = {
    "correct": ("overall accuracy", "the {n} correct of {of}", ""),
    "incorrect": ("overall accuracy", "the {n} incorrect of {of}", ""),
    "decision_wrong": ("decision accuracy", "the {n} wrong decisions of {of}", ""),
    "labels_wrong": (
        "label accuracy",
        "the {n} with wrong labels of {of} rejects QA also rejected",
        "labels_judged",
    ),
    "labels_judged": ("label accuracy", "the {n} rejects QA also rejected, of {of}", ""),
    "false_negative": ("false negatives", "the {n} approved that QA would reject, of {of}", ""),
    "false_positive": ("false positives", "the {n} rejected that QA would approve, of {of}", ""),
    "critical": ("critical errors", "the {n} critical of {of}", ""),
}


@dataclass(frozen=True)
class Explanation:
    """What a filtered list shows, read from its filters alone (so it is true of any URL):
    the scope ("NORTHSTAR · November 2026 · Listing"), what it counts ("overall accuracy:
    the 16 incorrect of 135"), which inspections ("Final inspections of contract
    samples"), and the dashboard section it explains, if any."""

    scope: list[str]
    counts: str
    kinds: str
    dashboard_vendor: Vendor | None
    dashboard_month: date | None
    dashboard_section: str | None


def _label_words(code: str) -> str:
    return "Approve" if code == "approve" else code


def count(f: Filters, user: User) -> int:
    """How many inspections `user` may see match the filters."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(filtered(f, user).subquery()))


def explain(f: Filters, user: User, total: int) -> Explanation | None:
    """The list's explanation when it is filtered (None when it lists everything), with
    `total` (the list's own count) as the number it shows."""
    args = f.query_args()
    if not can_see_work_in_progress(user):
        args.pop("status", None)  # always "final" for them: not something they chose
    if not args:
        return None
    scope = []
    if f.vendor is not None:
        scope.append(f.vendor.code)
    if f.month is not None:
        scope.append(f"{months.name(f.month)}")
    if f.policy_area:
        scope.append(POLICY_AREA_NAMES.get(f.policy_area, f.policy_area))
    for name in TEXT_FILTERS:
        if getattr(f, name):
            scope.append(f"{name} {getattr(f, name)}")
    if f.severity:
        scope.append(f"severity {f.severity}")
    if f.inspector is not None:
        scope.append(f"inspector {display_person(user, f.inspector)}")
    if f.q:
        scope.append(f"decision id containing “{f.q}”")

    pair = f.applied or f.expected
    if f.outcome:
        figure, phrase, base_outcome = OUTCOME_FIGURES[f.outcome]
        of = count(replace(f, outcome=base_outcome), user)
        counts = f"{figure}: " + phrase.format(n=total, of=of)
    elif pair:
        of = count(replace(f, applied="", expected=""), user)
        counts = f"the {total} of {of}"
    else:
        counts = f"{total} inspection{'' if total == 1 else 's'}"
    if pair:
        applied = _label_words(f.applied) if f.applied else "any"
        expected = _label_words(f.expected) if f.expected else "any"
        counts = f"label confusion, applied {applied} and QA expected {expected}: {counts}"

    status = {"final": "Final inspections", "draft": "Drafts"}.get(f.status, "Inspections")
    purpose = {"contract": " of contract samples", "targeted": " of targeted samples"}
    kinds = status + purpose.get(f.purpose, "")
    if f.month is not None:
        kinds += f", decisions made in {months.name(f.month)} (UTC)"
    return Explanation(
        scope=scope,
        counts=counts,
        kinds=kinds + ".",
        dashboard_vendor=f.vendor,
        dashboard_month=f.month,
        dashboard_section=_dashboard_section(f),
    )


def _dashboard_section(f: Filters) -> str | None:
    """The anchor of the dashboard section a drill-down comes from."""
    if f.applied or f.expected:
        return "label-confusion"
    if f.moderator:
        return "moderators"
    if f.purpose == "targeted":
        return "targeted"
    return next((f"by-{n}" for n in ("policy_area", "market", "site") if getattr(f, n)), None)


def _primary(table, owner_column, owner_id):
    """The code of the first label (position 0) of an inspection or decision."""
    return (
        sa.select(Label.code)
        .join(table, table.label_id == Label.id)
        .where(owner_column == owner_id, table.position == 0)
        .scalar_subquery()
    )


def _primary_label_is(code: str, verdict, table, owner: str, owner_id):
    """`verdict` (a decision column) is `approve` for "approve", else a reject whose
    primary label (in `table`, owned by `owner_id` through its column `owner`) is `code`."""
    if code == "approve":
        return verdict == "approve"
    labels = aliased(table)
    return sa.and_(verdict == "reject", _primary(labels, getattr(labels, owner), owner_id) == code)


def filtered(f: Filters, user: User) -> sa.Select:
    """The inspections `user` may see that match the filters, joined to their
    decisions, in no particular order."""
    stmt = visible(
        sa.select(Inspection).join(Decision, Decision.id == Inspection.decision_id), user
    )
    if f.vendor is not None:
        stmt = stmt.where(Inspection.vendor_id == f.vendor.id)
    if f.month is not None:
        stmt = stmt.where(Inspection.month == f.month)
    for name, column in (
        ("status", Inspection.status),
        ("purpose", Inspection.purpose),
        ("severity", Inspection.severity),
        ("policy_area", Decision.policy_area),
        ("market", Decision.market),
        ("site", Decision.site),
        ("moderator", Decision.moderator_id),
    ):
        value = getattr(f, name)
        if value:
            stmt = stmt.where(column == value)
    if can_see_identities(user):
        if f.inspector is not None:
            stmt = stmt.where(Inspection.inspector_id == f.inspector.id)
        if f.inspector_email:
            stmt = stmt.join(User, User.id == Inspection.inspector_id).where(
                User.email == f.inspector_email.lower()
            )
    if f.q:
        stmt = stmt.where(Decision.external_id.contains(f.q, autoescape=True))
    stmt = _outcome(stmt, f.outcome)
    if f.applied:
        stmt = stmt.where(
            _primary_label_is(
                f.applied, Decision.decision, DecisionLabel, "decision_id", Decision.id
            )
        )
    if f.expected:
        stmt = stmt.where(
            _primary_label_is(
                f.expected,
                Inspection.expected_decision,
                InspectionLabel,
                "inspection_id",
                Inspection.id,
            )
        )
    return stmt


def statement(f: Filters, user: User) -> sa.Select:
    """`filtered` in the chosen order, with what a row of the list shows loaded."""
    return with_details(filtered(f, user).order_by(*SORTS[f.sort]))


def _outcome(stmt: sa.Select, outcome: str) -> sa.Select:
    conditions = {
        "correct": Inspection.correct.is_(True),
        "incorrect": Inspection.correct.is_(False),
        "decision_wrong": Inspection.decision_match.is_(False),
        "labels_wrong": Inspection.label_match.is_(False),
        "labels_judged": Inspection.label_match.is_not(None),
        "false_negative": sa.and_(
            Decision.decision == "approve", Inspection.expected_decision == "reject"
        ),
        "false_positive": sa.and_(
            Decision.decision == "reject", Inspection.expected_decision == "approve"
        ),
        "critical": Inspection.severity == "critical",
    }
    return stmt.where(conditions[outcome]) if outcome else stmt


def with_details(stmt: sa.Select) -> sa.Select:
    return stmt.options(
        joinedload(Inspection.decision).joinedload(Decision.vendor),
        joinedload(Inspection.inspector),
    )


MAX_MONTH_CHOICES = 36


def month_choices(user: User, chosen: date | None) -> list[date]:
    """The months that have inspections `user` may see, newest first (and the chosen one,
    so that a filter on an empty month still shows what it is)."""
    stmt = visible(sa.select(Inspection.month).distinct(), user)
    found = set(db.session.scalars(stmt.order_by(Inspection.month.desc()).limit(MAX_MONTH_CHOICES)))
    if chosen is not None and chosen <= months.current():
        found.add(chosen)
    return sorted(found, reverse=True)


def inspector_choices(user: User) -> list[User]:
    """The QA people the list may be filtered on (none for who may not see them)."""
    if not can_see_identities(user):
        return []
    return list(
        db.session.scalars(inspectors(sa.select(User), active_only=False).order_by(User.name))
    )


# One inspection -----------------------------------------------------------------------


def get(inspection_id: int, user: User) -> Inspection | None:
    """The inspection, if it exists and `user` may see it."""
    inspection = db.session.get(Inspection, inspection_id)
    return inspection if inspection is not None and can_see(user, inspection) else None


def inspection_of(decision: Decision) -> Inspection | None:
    """The decision's inspection (there is at most one), whatever its status."""
    return db.session.scalar(sa.select(Inspection).where(Inspection.decision_id == decision.id))


def open_item_for(decision: Decision) -> SampleItem | None:
    """The pending item of an open sample that holds `decision`, if any."""
    return db.session.scalar(
        open_work().where(SampleItem.decision_id == decision.id).order_by(SampleItem.id).limit(1)
    )


def questions_of(version: ScorecardVersion | None) -> list[ScorecardQuestion]:
    """The version's questions in rubric order (section, then question)."""
    return version_questions(version) if version is not None else []


def decision_named(external_id: str) -> Decision | None:
    """The decision with this external id (what an API client names it by)."""
    return db.session.scalar(sa.select(Decision).where(Decision.external_id == external_id))


def label_choices(decision: Decision, inspection: Inspection | None) -> list[Label]:
    """The labels a verdict on `decision` may expect: the active labels of its policy
    area, and any the verdict already has (a label retired since stays choosable)."""
    keep = [il.label_id for il in inspection.expected_labels] if inspection else []
    return list(
        db.session.scalars(
            sa.select(Label)
            .where(
                Label.policy_area == decision.policy_area,
                sa.or_(Label.active.is_(True), Label.id.in_(keep)),
            )
            .order_by(Label.code)
        )
    )


def next_item(user: User, after: SampleItem | None) -> SampleItem | None:
    """The item to inspect next in `user`'s queue: the one after `after` in queue
    order, else the first (never `after` itself)."""
    ids = db.session.scalars(queue_statement(user).with_only_columns(SampleItem.id).options()).all()
    if after is not None and after.id in ids:
        position = ids.index(after.id)
        ids = ids[position + 1 :] + ids[:position]
    return db.session.get(SampleItem, ids[0]) if ids else None


# Export -------------------------------------------------------------------------------

CSV_COLUMNS = [
    "inspection_id",
    "decision",
    "vendor",
    "month",
    "purpose",
    "status",
    "policy_area",
    "market",
    "site",
    "moderator_id",
    "decision_made",
    "labels",
    "expected_decision",
    "expected_labels",
    "severity",
    "correct",
    "rubric_score",
    "inspector",
    "notes",
    "created_at",
    "finalised_at",
]
EXPORT_BATCH = 500


def export_filename(f: Filters) -> str:
    parts = ["inspections"]
    if f.vendor is not None:
        parts.append(f.vendor.code.lower())
    if f.month is not None:
        parts.append(f.month.strftime("%Y-%m"))
    return "-".join(parts) + ".csv"


def export_rows(f: Filters, user: User) -> Iterator[list]:
    """Rows of the export as `user` may see them, read a batch at a time."""
    stmt = statement(f, user).options(
        joinedload(Inspection.expected_labels).joinedload(InspectionLabel.label)
    )
    offset = 0
    while True:
        rows = db.session.scalars(stmt.limit(EXPORT_BATCH).offset(offset)).unique().all()
        for inspection in rows:
            d = inspection.decision
            yield [
                public_id(inspection.id),
                d.external_id,
                d.vendor.code,
                inspection.month.strftime("%Y-%m"),
                inspection.purpose,
                inspection.status,
                d.policy_area,
                d.market,
                d.site,
                d.moderator_id,
                d.decision,
                "|".join(d.label_codes),
                inspection.expected_decision or "",
                "|".join(il.label.code for il in inspection.expected_labels),
                inspection.severity or "",
                "" if inspection.correct is None else ("yes" if inspection.correct else "no"),
                "" if inspection.rubric_score is None else round(inspection.rubric_score, 2),
                display_person(user, inspection.inspector, email=True),
                inspection.notes,
                shown_created_at(user, inspection).isoformat(),
                inspection.finalised_at.isoformat() if inspection.finalised_at else "",
            ]
        if len(rows) < EXPORT_BATCH:
            return
        offset += EXPORT_BATCH
        for inspection in rows:  # keep memory flat on big exports
            db.session.expunge(inspection.decision)
            db.session.expunge(inspection)
