"""Roles and API scopes (DESIGN §1)."""

from app.models.enums import (
    QA_ROLES,
    ROLE_ADMIN,
    ROLE_INTEGRATION,
    ROLE_QA_INSPECTOR,
    ROLE_QA_LEAD,
    ROLE_VENDOR_LEAD,
    ROLE_VENDOR_VIEWER,
    ROLES,
    VENDOR_ROLES,
)

SCOPE_READ = "read"
SCOPE_DECISIONS_WRITE = "decisions:write"
SCOPE_SAMPLES_WRITE = "samples:write"
SCOPE_INSPECTIONS_WRITE = "inspections:write"
SCOPE_DISPUTES_WRITE = "disputes:write"
SCOPE_CALIBRATIONS_WRITE = "calibrations:write"

SCOPES = {
    SCOPE_READ: "Read what the user may see",
    SCOPE_DECISIONS_WRITE: "Push moderation decisions",
    SCOPE_SAMPLES_WRITE: "Draw and manage samples",
    SCOPE_INSPECTIONS_WRITE: "Create and update inspections",
    SCOPE_DISPUTES_WRITE: "File and act on disputes",
    SCOPE_CALIBRATIONS_WRITE: "Run and rate calibration sessions",
}

# What a token may carry, by its user's role; a new token gets all of these by default.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    ROLE_ADMIN: (SCOPE_READ, SCOPE_DECISIONS_WRITE),
    ROLE_QA_LEAD: (
        SCOPE_READ,
        SCOPE_DECISIONS_WRITE,
        SCOPE_SAMPLES_WRITE,
        SCOPE_INSPECTIONS_WRITE,
        SCOPE_DISPUTES_WRITE,
        SCOPE_CALIBRATIONS_WRITE,
    ),
    ROLE_QA_INSPECTOR: (
        SCOPE_READ,
        SCOPE_INSPECTIONS_WRITE,
        SCOPE_DISPUTES_WRITE,
        SCOPE_CALIBRATIONS_WRITE,
    ),
    ROLE_VENDOR_LEAD: (SCOPE_READ, SCOPE_DISPUTES_WRITE, SCOPE_CALIBRATIONS_WRITE),
    ROLE_VENDOR_VIEWER: (SCOPE_READ,),
    ROLE_INTEGRATION: (SCOPE_READ, SCOPE_DECISIONS_WRITE),
}

# Roles that may sign in to the pages; integration is API-only.
PAGE_ROLES = tuple(r for r in ROLES if r != ROLE_INTEGRATION)
STAFF_ROLES = (ROLE_ADMIN, *QA_ROLES)

__all__ = [
    "PAGE_ROLES",
    "QA_ROLES",
    "ROLES",
    "ROLE_ADMIN",
    "ROLE_INTEGRATION",
    "ROLE_QA_INSPECTOR",
    "ROLE_QA_LEAD",
    "ROLE_SCOPES",
    "ROLE_VENDOR_LEAD",
    "ROLE_VENDOR_VIEWER",
    "SCOPES",
    "STAFF_ROLES",
    "VENDOR_ROLES",
]
