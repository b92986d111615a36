"""Whether a job's worker still runs (app.jobs.liveness): its process, when it ran on
this machine, and otherwise its heartbeat."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.jobs import liveness
from app.jobs.liveness import NEVER_STARTED, STOPPED, abandonment, runner_gone, runner_id

ELSEWHERE = "other-host:4242:987654:0123456789abcdef"
linux_only = pytest.mark.skipif(
    not os.path.exists("/proc/self/stat"), reason="process start times come from /proc"
)


def _ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_runner_names_host_process_start_and_machine():
    host, pid, _start, key = runner_id().rsplit(":", 3)
    assert host and int(pid) == os.getpid() and key == liveness.machine_key()
    assert len(runner_id()) <= 255


@pytest.mark.parametrize("runner", [None, "", "nonsense", "a:b:c:d", ELSEWHERE, "h:-1:1:x"])
def test_a_runner_this_process_cannot_judge_is_unknown(runner):
    assert runner_gone(runner) is None


def test_this_process_and_its_parent_are_alive():
    assert runner_gone(runner_id()) is False
    assert runner_gone(runner_id(os.getppid())) is False


def test_an_ended_process_is_gone():
    assert runner_gone(runner_id(_ended_pid())) is True


@linux_only
def test_a_reused_process_id_is_not_the_worker():
    host, pid, start, key = runner_id(os.getppid()).rsplit(":", 3)
    assert runner_gone(f"{host}:{pid}:{int(start) + 1}:{key}") is True


@linux_only
def test_a_process_that_ended_but_was_not_reaped_is_gone():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        runner = runner_id(process.pid)
        deadline = time.monotonic() + 10
        while runner_gone(runner) is not True and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner_gone(runner) is True  # a zombie until it is waited for
    finally:
        process.wait()


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _judge(state="running", runner=ELSEWHERE, beat=None, started=None, created=None):
    return abandonment(
        state=state,
        runner=runner,
        heartbeat_at=beat,
        started_at=started,
        created_at=created or NOW - MINUTE,
        now=NOW,
        stale_after=120,
        queued_stale_after=3600,
    )


def test_a_job_elsewhere_is_judged_by_its_heartbeat():
    assert _judge(beat=NOW - MINUTE) is None
    assert _judge(beat=NOW - 3 * MINUTE) == STOPPED
    # Without a heartbeat (a job from before heartbeats): its start, else its creation.
    assert _judge(started=NOW - MINUTE, created=NOW - 60 * MINUTE) is None
    assert _judge(started=NOW - 3 * MINUTE) == STOPPED
    assert _judge(created=NOW - 3 * MINUTE) == STOPPED


def test_a_job_of_this_machine_is_judged_by_its_process():
    # However old its heartbeat, a live process keeps it; an ended one fails it at once.
    assert _judge(runner=runner_id(), beat=NOW - 60 * MINUTE) is None
    assert _judge(runner=runner_id(_ended_pid()), beat=NOW) == STOPPED
    assert _judge(state="queued", runner=runner_id(_ended_pid()), beat=NOW) == STOPPED


def test_a_job_waiting_for_a_queue_worker_is_given_up_after_the_queue_limit():
    assert _judge(state="queued", runner=None, created=NOW - 59 * MINUTE) is None
    assert _judge(state="queued", runner=None, created=NOW - 61 * MINUTE) == NEVER_STARTED


@pytest.mark.parametrize("state", ["succeeded", "failed"])
def test_a_finished_job_is_never_abandoned(state):
    assert _judge(state=state, runner=runner_id(_ended_pid())) is None
    assert _judge(state=state, beat=NOW - 60 * MINUTE) is None
