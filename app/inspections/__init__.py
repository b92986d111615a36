"""Inspections: QA's verdict on one decision, its pages and its history."""
