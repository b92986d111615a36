"""Scorecard templates: the versioned rubric per policy area that inspections score on."""
