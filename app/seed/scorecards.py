"""Demo scorecard templates: one published rubric per policy area, created through the
scorecard services so each step is validated and audited like a QA lead's own."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import ScorecardTemplate, User
from app.scorecards import services

DEMO_LEAD_EMAIL = "qa.lead@demo.example"


def _q(key, text, guidance="", weight=1, critical=False, allow_na=True) -> dict:
    return {
        "key": key,
        "text": text,
        "guidance": guidance,
        "weight": weight,
        "critical": critical,
        "allow_na": allow_na,
    }


# Shared by every area: the decision itself and how it was explained.
_DECISION = [
    _q(
        "policy_applied",
        "Policy applied as written",
        "The decision follows the current policy text for this item type, not a "
        "remembered or local variant. Check the policy version in force on the decision date.",
        weight=3,
        allow_na=False,
    ),
    _q(
        "primary_label_specific",
        "Primary label is the most specific that fits",
        "For a reject, the first label is the narrowest one that applies (e.g. "
        "counterfeit rather than a generic prohibited item). N/A for approvals.",
        weight=2,
    ),
]
_COMMUNICATION = [
    _q(
        "notes_explain",
        "Notes explain the decision to the seller",
        "The message names the rule, what in the item broke it, and what the seller can "
        "do next. No internal jargon, no copy-pasted text that does not fit.",
        weight=1,
    ),
]

TEMPLATES = {
    "seller": {
        "name": "Seller verification QA",
        "description": "How QA scores vendors' decisions on seller onboarding and account reviews.",
        "sections": [
            {"title": "Decision", "questions": _DECISION},
            {
                "title": "Evidence",
                "questions": [
                    _q(
                        "kyc_documents_checked",
                        "Identity and business documents checked against the account",
                        "Names, registration numbers and addresses match across the documents "
                        "and the account; expired or edited documents were caught.",
                        weight=3,
                        allow_na=False,
                    ),
                    _q(
                        "linked_accounts_reviewed",
                        "Evidence checked: listing history, seller account, prior reports",
                        "Linked or previously suspended accounts, past enforcement and open "
                        "reports were looked at before deciding.",
                        weight=2,
                    ),
                    _q(
                        "escalation_followed",
                        "Escalation path followed for high-risk items",
                        "Sanctions hits, suspected fraud rings and law-enforcement requests "
                        "go to the specialist queue; never decided at first level.",
                        weight=2,
                        critical=True,
                    ),
                ],
            },
            {"title": "Communication", "questions": _COMMUNICATION},
        ],
    },
    "listing": {
        "name": "Listing review QA",
        "description": "Scores decisions on product listings: prohibited and restricted items, "
        "misleading claims, counterfeits.",
        "sections": [
            {
                "title": "Decision",
                "questions": [
                    *_DECISION,
                    _q(
                        "restricted_item_rules",
                        "Restricted-item conditions checked (licences, regions, age gates)",
                        "Items allowed only with a licence or in some markets are judged "
                        "against the market of the listing.",
                        weight=2,
                    ),
                ],
            },
            {
                "title": "Evidence",
                "questions": [
                    _q(
                        "evidence_checked",
                        "Evidence checked: listing history, seller account, prior reports",
                        "Images, title, description and earlier edits of the listing, plus "
                        "the seller's enforcement history.",
                        weight=2,
                        allow_na=False,
                    ),
                    _q(
                        "escalation_followed",
                        "Escalation path followed for high-risk items",
                        "Weapons, drugs, recalled products and child-safety signals go to the "
                        "specialist queue.",
                        weight=2,
                        critical=True,
                    ),
                ],
            },
            {
                "title": "Communication",
                "questions": [
                    *_COMMUNICATION,
                    _q(
                        "fix_offered",
                        "Seller told how to fix the listing where a fix is possible",
                        "Removable violations (a claim, a photo) get a fix-and-resubmit path.",
                        weight=1,
                    ),
                ],
            },
        ],
    },
    "content": {
        "name": "User content moderation QA",
        "description": "Scores decisions on reviews, questions, images and messages "
        "posted by users.",
        "sections": [
            {
                "title": "Decision",
                "questions": [
                    *_DECISION,
                    _q(
                        "context_considered",
                        "Context considered (satire, quotation, reclaimed terms, language)",
                        "The decision reads the whole thread and the language and market it "
                        "was posted in, not keywords alone.",
                        weight=2,
                        allow_na=False,
                    ),
                ],
            },
            {
                "title": "Safety",
                "questions": [
                    _q(
                        "imminent_harm_escalated",
                        "Imminent-harm and child-safety signals escalated at once",
                        "Threats, self-harm and any child-safety signal follow the urgent "
                        "escalation path, whatever the decision.",
                        weight=3,
                        critical=True,
                    ),
                    _q(
                        "personal_data_removed",
                        "Personal data in the content handled as the privacy policy says",
                        "Phone numbers, addresses and IDs are redacted or the content removed.",
                        weight=1,
                    ),
                ],
            },
            {"title": "Communication", "questions": _COMMUNICATION},
        ],
    },
    "ipr": {
        "name": "IP rights report QA",
        "description": "Scores decisions on intellectual-property reports: trademarks, "
        "copyright and design rights.",
        "sections": [
            {
                "title": "Report",
                "questions": [
                    _q(
                        "report_complete",
                        "Report complete and from an authorised rights owner or agent",
                        "The right, the owner, the reporter's authority and the infringing "
                        "item are all identified; incomplete reports are returned, not decided.",
                        weight=2,
                        allow_na=False,
                    ),
                    _q(
                        "rights_verified",
                        "Right verified in the registry for the listing's market",
                        "The trademark or design is registered (or the copyright plausible) "
                        "where the item is offered.",
                        weight=3,
                    ),
                ],
            },
            {
                "title": "Decision",
                "questions": [
                    *_DECISION,
                    _q(
                        "counter_notice_handled",
                        "Counter-notice and repeat-infringer rules applied",
                        "A valid counter-notice restores the item within the policy's time; "
                        "repeat infringers follow the strike policy.",
                        weight=2,
                    ),
                    _q(
                        "escalation_followed",
                        "Escalation path followed for high-risk items",
                        "Court orders, brand-protection partners and disputed ownership go to "
                        "the legal queue.",
                        weight=2,
                        critical=True,
                    ),
                ],
            },
        ],
    },
}


def _demo_lead() -> User | None:
    """The demo QA lead, or any active QA lead, as the author of the demo templates."""
    lead = db.session.scalar(sa.select(User).where(User.email == DEMO_LEAD_EMAIL))
    if lead is None:
        lead = db.session.scalar(
            sa.select(User).where(User.role == "qa_lead", User.active).order_by(User.id).limit(1)
        )
    return lead


def seed_scorecards() -> int:
    """Create and publish the demo template of every policy area that has none; return
    how many were created. Areas that already have a template are left alone."""
    actor = _demo_lead()
    taken = set(db.session.scalars(sa.select(ScorecardTemplate.policy_area)))
    created = 0
    for area, spec in TEMPLATES.items():
        if area in taken:
            continue
        template = services.create_template(
            name=spec["name"], policy_area=area, description=spec["description"], actor=actor
        )
        draft = template.versions[0]
        services.save_draft(draft, spec["sections"], actor=actor)
        services.publish(draft, actor=actor)
        created += 1
    return created
