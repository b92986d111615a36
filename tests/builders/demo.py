"""The demo data set as `flask seed-demo` makes it, for worlds of the tests that read it."""

from __future__ import annotations

from types import SimpleNamespace

from flask import current_app


def seed_demo() -> SimpleNamespace:
    """Run `flask seed-demo`; its exit code and output (the data set is in the database)."""
    result = current_app.test_cli_runner().invoke(args=["seed-demo"])
    return SimpleNamespace(exit_code=result.exit_code, output=result.output)
