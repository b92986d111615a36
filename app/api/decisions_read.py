"""Reading moderation decisions through the API: `GET /decisions` with filters and
`GET /decisions/<key:external_id>` (DESIGN §8, §11), through the decisions' one read path
(app.decisions.queries).

Lists are in decision time order (`decided_at`, then id), cursor-paginated. A vendor
user sees only its own vendor's decisions: filtering on another vendor, or asking
for another vendor's decision by id, answers 404 as if it did not exist.
"""

from __future__ import annotations

from flask_login import current_user
from marshmallow import fields, validate

from app import months
from app.api import bp
from app.api.pagination import Keyset, PageArgsSchema, page_body, page_of, paginate
from app.api.reference import visible_vendor
from app.api.routes import document_errors
from app.api.schemas import DecisionSchema, Month
from app.decisions import queries
from app.decisions.filters import DecisionFilters
from app.errors import NotFound, ValidationFailed
from app.models import Decision
from app.models.enums import DECISIONS, POLICY_AREAS
from app.security.access import access, api
from app.security.roles import SCOPE_READ
from app.validation import normalise_code

DECISION_ORDER = Keyset("decisions", (Decision.decided_at, Decision.id))


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
            "pattern": months.PATTERN,
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


def _filters(args: dict) -> DecisionFilters:
    """The API's arguments as the decisions' filters. A vendor the caller may not see
    is a 404; an unknown label code is refused."""
    vendor = visible_vendor(args["vendor"]) if args.get("vendor") is not None else None
    label = None
    if args.get("label") is not None:
        label = queries.label_by_code(normalise_code(args["label"]))
        if label is None:
            message = f"No label has the code {args['label']!r}."
            raise ValidationFailed(message, [{"field": "label", "message": message}])
    return DecisionFilters(
        vendor=vendor,
        month=args.get("month"),
        policy_area=args.get("policy_area", ""),
        market=args.get("market", ""),
        site=args.get("site", ""),
        moderator=args.get("moderator_id", ""),
        decision=args.get("decision", ""),
        label=label,
        q=args.get("external_id", ""),
        q_is_external_id=True,
    )


@bp.route("/decisions", methods=["GET"])
@access(api(SCOPE_READ))
@bp.arguments(DecisionArgsSchema, location="query")
@bp.response(200, page_of(DecisionSchema))
@document_errors((404, "The vendor filter names no vendor the caller may see"))
def list_decisions(args):
    """Moderation decisions in decision time order, filtered; a vendor user sees only
    its own vendor's."""
    stmt = queries.decision_rows(_filters(args), current_user)
    page = paginate(stmt, DECISION_ORDER, limit=args["limit"], cursor=args.get("cursor"))
    return page_body(queries.exchange_items(page.rows), page)


@bp.route("/decisions/<key:external_id>", methods=["GET"])
@access(api(SCOPE_READ))
@bp.response(200, DecisionSchema)
@document_errors((404, "No such decision, or not one the caller may see"))
def get_decision(external_id: str):
    """One moderation decision by its external id."""
    row = queries.decision_row(external_id, current_user)
    if row is None:
        raise NotFound("No decision has this external_id.")
    return queries.exchange_items([row])[0]
