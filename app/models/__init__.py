"""All models, one aggregate per module, re-exported here."""

from app.models.audit import AuditChainHead, AuditEvent, AuditRowChange
from app.models.decision import Decision, DecisionLabel
from app.models.inspection import Inspection, InspectionAnswer, InspectionLabel, InspectionVersion
from app.models.job import Job
from app.models.label import Label
from app.models.sample import Sample, SampleItem, SamplingPlan
from app.models.scorecard import (
    ScorecardQuestion,
    ScorecardSection,
    ScorecardTemplate,
    ScorecardVersion,
)
from app.models.user import ApiToken, User
from app.models.vendor import Vendor, VendorContract

__all__ = [
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "AuditRowChange",
    "Decision",
    "DecisionLabel",
    "Inspection",
    "InspectionAnswer",
    "InspectionLabel",
    "InspectionVersion",
    "Job",
    "Label",
    "Sample",
    "SampleItem",
    "SamplingPlan",
    "ScorecardQuestion",
    "ScorecardSection",
    "ScorecardTemplate",
    "ScorecardVersion",
    "User",
    "Vendor",
    "VendorContract",
]
