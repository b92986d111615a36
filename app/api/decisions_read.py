"""Reading moderation decisions through the API: `GET /decisions` with filters and
`GET /decisions/<external_id>` (DESIGN §8, §11).

Lists are in decision time order (`decided_at`, then id), cursor-paginated. A vendor
user sees only its own vendor's decisions: filtering on another vendor, or asking
for another vendor's decision by id, answers 404 as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_login import current_user
from marshmallow import ValidationError, fields, validate

from app.api import bp
from app.api.pagination import Keyset, PageArgsSchema, page_body, page_of, paginate
from app.api.reference import visible_vendor
from app.api.routes import document_errors
from app.api.schemas import DecisionSchema
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Decision, DecisionLabel, Label, Vendor
from app.models.enums import DECISIONS, POLICY_AREAS
from app.security.access import access, api
from app.security.roles import SCOPE_READ
from app.security.scoping import scoped
from app.validation import month_from_text

DECISION_ORDER = Keyset("decisions", (Decision.decided_at, Decision.id))
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"

# What a decision item is read from: plain columns, the vendor's code joined in.
_COLUMNS = (
    Decision.id,
    Decision.external_id,
    Vendor.code.label("vendor"),
    Decision.moderator_id,
    Decision.site,
    Decision.market,
    Decision.policy_area,
    Decision.item_id,
    Decision.item_url,
    Decision.context,
    Decision.decision,
    Decision.decided_at,
)


class Month(fields.String):
    """A calendar month as `YYYY-MM`, loaded as the date of its first day."""

    def _deserialize(self, value, attr, data, **kwargs) -> date:
        month = month_from_text(super()._deserialize(value, attr, data, **kwargs))
        if month is None:
            raise ValidationError("Give a month as YYYY-MM, e.g. 2026-03.")
        return month


def _text(max_length: int, description: str) -> fields.String:
    return fields.String(
        validate=validate.Length(min=1, max=max_length),
        metadata={"description": description},
    )


class DecisionArgsSchema(PageArgsSchema):
    vendor = _text(20, "A vendor's code")
    month = Month(
        metadata={
            "description": "Decided in this UTC calendar month (YYYY-MM)",
            "pattern": MONTH_PATTERN,
            "example": "2026-03",
        },
    )
    policy_area = fields.String(validate=validate.OneOf(POLICY_AREAS))
    market = _text(32, "Exactly this market")
    site = _text(64, "Exactly this site")
    moderator_id = _text(64, "Exactly this moderator")
    decision = fields.String(validate=validate.OneOf(DECISIONS))
    label = _text(64, "Decisions carrying this label code (in any position)")
    external_id = _text(128, "The decision with this external id")


def _month_range(first: date) -> tuple[datetime, datetime | None]:
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    if first.month == 12:
        if first.year == 9999:  # the calendar ends here; so does the month
            return start, None
        return start, datetime(first.year + 1, 1, 1, tzinfo=UTC)
    return start, datetime(first.year, first.month + 1, 1, tzinfo=UTC)


def _label_id(code: str) -> int:
    label_id = db.session.scalar(sa.select(Label.id).where(Label.code == code.strip().upper()))
    if label_id is None:
        message = f"No label has the code {code!r}."
        raise ValidationFailed(message, [{"field": "label", "message": message}])
    return label_id


def _filtered(args: dict) -> sa.Select:
    stmt = sa.select(*_COLUMNS).join(Vendor, Vendor.id == Decision.vendor_id)
    stmt = scoped(stmt, Decision, current_user)
    if args.get("vendor") is not None:
        stmt = stmt.where(Decision.vendor_id == visible_vendor(args["vendor"]).id)
    if args.get("month") is not None:
        start, end = _month_range(args["month"])
        stmt = stmt.where(Decision.decided_at >= start)
        if end is not None:
            stmt = stmt.where(Decision.decided_at < end)
    for name in ("policy_area", "market", "site", "moderator_id", "decision", "external_id"):
        if args.get(name) is not None:
            stmt = stmt.where(getattr(Decision, name) == args[name])
    if args.get("label") is not None:
        label_id = _label_id(args["label"])
        stmt = stmt.where(
            sa.exists().where(
                DecisionLabel.decision_id == Decision.id, DecisionLabel.label_id == label_id
            )
        )
    return stmt


def _labels_of(decision_ids: list[int]) -> dict[int, list[str]]:
    """Label codes of these decisions, primary first, in one query."""
    labels: dict[int, list[str]] = {decision_id: [] for decision_id in decision_ids}
    if not decision_ids:
        return labels
    rows = db.session.execute(
        sa.select(DecisionLabel.decision_id, Label.code)
        .join(Label, Label.id == DecisionLabel.label_id)
        .where(DecisionLabel.decision_id.in_(decision_ids))
        .order_by(DecisionLabel.decision_id, DecisionLabel.position)
    )
    for decision_id, code in rows:
        labels[decision_id].append(code)
    return labels


def _items(rows) -> list[dict]:
    labels = _labels_of([row.id for row in rows])
    return [
        {
            "external_id": row.external_id,
            "vendor": row.vendor,
            "moderator_id": row.moderator_id,
            "site": row.site,
            "market": row.market,
            "policy_area": row.policy_area,
            "item_id": row.item_id,
            "item_url": row.item_url,
            "context": row.context,
            "decision": row.decision,
            "labels": labels[row.id],
            "decided_at": row.decided_at,
        }
        for row in rows
    ]


@bp.route("/decisions", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(DecisionArgsSchema, location="query")
@bp.response(200, page_of(DecisionSchema))
@document_errors((404, "The vendor filter names no vendor the caller may see"))
def list_decisions(args):
    """Moderation decisions in decision time order, filtered; a vendor user sees only
    its own vendor's."""
    page = paginate(_filtered(args), DECISION_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    return page_body(_items(page.rows), page)


@bp.route("/decisions/<external_id>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, DecisionSchema)
@document_errors((404, "No such decision, or not one the caller may see"))
def get_decision(external_id: str):
    """One moderation decision by its external id."""
    stmt = sa.select(*_COLUMNS).join(Vendor, Vendor.id == Decision.vendor_id)
    stmt = scoped(stmt, Decision, current_user).where(Decision.external_id == external_id)
    row = db.session.execute(stmt).first()
    if row is None:
        raise NotFound("No decision has this external_id.")
    return _items([row])[0]
