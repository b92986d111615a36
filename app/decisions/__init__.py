"""Moderation decisions: intake (API, CSV upload, CLI) and the browser."""
