"""A clean process environment for the configuration tests: none of the variables the
app reads, and a throwaway instance folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import app.config as config

STRONG_SECRET = "q7Vf2-LmZ9xR4tYp8WcN3bHs6JdK1gUe5AoQ"
STRONG_AUDIT_KEY = "Hd8-vK2pQw7zLr4nXc9TbG1mYs5FjU3eNa6W"
ENV_VARS = (
    "APP_ENV",
    "DATABASE_URL",
    "SECRET_KEY",
    "AUDIT_KEY",
    "REDIS_URL",
    "UPLOAD_DIR",
    "QA_HOLIDAY_COUNTRY",
    "FLASK_DEBUG",
    "TRUSTED_PROXIES",
    *config.SIZE_SETTINGS,
    *config.RATE_SETTINGS,
)


def clean_environment(monkeypatch: pytest.MonkeyPatch, instance_dir: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "INSTANCE_DIR", instance_dir)
