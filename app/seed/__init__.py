"""Demo and reference data."""
