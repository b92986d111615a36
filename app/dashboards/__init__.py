"""Dashboards: a vendor's month against its contract, and every vendor side by side."""
