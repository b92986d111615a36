"""The timings of the jobs sweep come from the environment, checked when the app starts."""

from __future__ import annotations

import pytest

from app.config import JOB_SECONDS_SETTINGS, ConfigError, load_config
from tests.builders.environment import clean_environment


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    clean_environment(monkeypatch, tmp_path / "instance")
    for name in JOB_SECONDS_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def test_the_defaults_beat_every_ten_seconds_and_give_up_after_two_minutes():
    settings = load_config({"APP_ENV": "testing"})
    assert settings["JOBS_HEARTBEAT_SECONDS"] == 10
    assert settings["JOBS_STALE_AFTER_SECONDS"] == 120
    assert settings["JOBS_QUEUED_STALE_AFTER_SECONDS"] == 6 * 3600


def test_the_timings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("JOBS_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("JOBS_STALE_AFTER_SECONDS", "30")
    monkeypatch.setenv("JOBS_QUEUED_STALE_AFTER_SECONDS", "3600")
    settings = load_config({"APP_ENV": "testing"})
    assert settings["JOBS_HEARTBEAT_SECONDS"] == 5
    assert settings["JOBS_STALE_AFTER_SECONDS"] == 30
    assert settings["JOBS_QUEUED_STALE_AFTER_SECONDS"] == 3600


@pytest.mark.parametrize("value", ["soon", "0", "-5", ""])
def test_a_timing_that_is_not_a_number_of_seconds_is_refused(monkeypatch, value):
    monkeypatch.setenv("JOBS_STALE_AFTER_SECONDS", value or " ")
    with pytest.raises(ConfigError, match="JOBS_STALE_AFTER_SECONDS must be a number of seconds"):
        load_config({"APP_ENV": "testing"})


def test_a_job_is_never_given_up_within_three_heartbeats(monkeypatch):
    monkeypatch.setenv("JOBS_HEARTBEAT_SECONDS", "20")
    monkeypatch.setenv("JOBS_STALE_AFTER_SECONDS", "30")
    with pytest.raises(ConfigError, match="at least three heartbeats"):
        load_config({"APP_ENV": "testing"})
