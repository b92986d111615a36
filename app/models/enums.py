"""Enumerated values of the domain (DESIGN §1-§2). Check constraints are built from these."""

ROLE_ADMIN = "admin"
ROLE_QA_LEAD = "qa_lead"
ROLE_QA_INSPECTOR = "qa_inspector"
ROLE_VENDOR_LEAD = "vendor_lead"
ROLE_VENDOR_VIEWER = "vendor_viewer"
ROLE_INTEGRATION = "integration"

ROLES = (
    ROLE_ADMIN,
    ROLE_QA_LEAD,
    ROLE_QA_INSPECTOR,
    ROLE_VENDOR_LEAD,
    ROLE_VENDOR_VIEWER,
    ROLE_INTEGRATION,
)
VENDOR_ROLES = (ROLE_VENDOR_LEAD, ROLE_VENDOR_VIEWER)
QA_ROLES = (ROLE_QA_LEAD, ROLE_QA_INSPECTOR)
ROLE_NAMES = {
    ROLE_ADMIN: "Admin",
    ROLE_QA_LEAD: "QA lead",
    ROLE_QA_INSPECTOR: "QA inspector",
    ROLE_VENDOR_LEAD: "Vendor lead",
    ROLE_VENDOR_VIEWER: "Vendor viewer",
    ROLE_INTEGRATION: "Integration (API only)",
}

POLICY_AREAS = ("seller", "listing", "content", "ipr")
POLICY_AREA_NAMES = {
    "seller": "Seller",
    "listing": "Listing",
    "content": "Content",
    "ipr": "IPR",
}
DECISIONS = ("approve", "reject")
SEVERITIES = ("none", "minor", "major", "critical")
ANSWERS = ("yes", "no", "na")

SAMPLE_PURPOSES = ("contract", "targeted")
SAMPLE_STATES = ("open", "closed", "cancelled")
SAMPLE_ITEM_STATES = ("pending", "inspected", "skipped")
INSPECTION_STATUSES = ("draft", "final")
TEMPLATE_VERSION_STATES = ("draft", "published", "superseded")
INSPECTION_CHANGE_SOURCES = ("create", "edit", "finalise", "correction", "dispute")

# Decision fields a sampling plan may stratify on (DESIGN §4).
STRATUM_FIELDS = ("policy_area", "decision", "market", "site", "moderator_id")
TARGET_METRICS = ("overall_accuracy", "critical_error_rate")
