"""Unit tests run without the app and without a database: the app, its database and the
per-test transaction are fixtures of tests/functional only. A test that needs them
belongs in tests/functional; one that makes a Flask app here fails."""

from __future__ import annotations

import flask
import pytest


@pytest.fixture(autouse=True)
def _no_app(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(
            "a unit test made a Flask app: move the test to tests/functional, where the "
            "app and its database are fixtures"
        )

    monkeypatch.setattr(flask.Flask, "__init__", refuse)
