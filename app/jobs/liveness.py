"""Whether the worker of a job still runs: the process that runs it, and its heartbeat.

A job records its *runner*, `host:pid:start:machine`: the host name (for people), the
process id, the process's start time (so a reused process id is not mistaken for the
worker) and a digest of what makes a machine (host name, boot id, process-id namespace),
so that only a process that can see the runner's process judges it by its process id.
Anything else (another host or container) judges a job by its heartbeat: the time its
worker last said it was alive.

Flask-free: the rule (`abandonment`) is unit-tested without an app.
"""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

# Why a queued or running job will never finish.
STOPPED = "stopped"  # its worker process ended, or stopped beating
NEVER_STARTED = "never_started"  # no worker took it from the queue in time


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@cache
def machine_key() -> str:
    """What identifies this machine and process-id namespace: processes with the same
    key see each other's process ids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    parts = (socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), namespace)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); [] when
    the process does not exist or /proc is not there."""
    stat = _read(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[-1].split() if stat else []


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of proc(5): starttime


def runner_id(pid: int | None = None) -> str:
    """The runner identity of process `pid` (this process by default)."""
    pid = os.getpid() if pid is None else pid
    host = socket.gethostname().replace(":", "-")[:150]
    return f"{host}:{pid}:{_start_time(pid)}:{machine_key()}"


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    fields = _stat(pid)
    return not (fields and fields[0] in ("Z", "X"))  # a zombie has ended


def runner_gone(runner: str | None) -> bool | None:
    """True when `runner` ran on this machine and has ended; False when it still runs
    here; None when this process cannot tell (another machine, or none recorded)."""
    if not runner:
        return None
    try:
        _host, pid_text, start, key = runner.rsplit(":", 3)
        pid = int(pid_text)
    except ValueError:
        return None
    if key != machine_key() or pid <= 0:
        return None
    if pid == os.getpid():
        return False
    if not _exists(pid):
        return True
    return bool(start) and _start_time(pid) not in ("", start)  # the id now names another


def abandonment(
    *,
    state: str,
    runner: str | None,
    heartbeat_at: datetime | None,
    started_at: datetime | None,
    created_at: datetime,
    now: datetime,
    stale_after: float,
    queued_stale_after: float,
) -> str | None:
    """Why a job in `state` will never finish (STOPPED, NEVER_STARTED), or None.

    - Its runner is a process of this machine: it is stopped exactly when that process
      has ended (its heartbeat is not needed; on SQLite a running job holds the write
      lock and cannot beat).
    - A job queued for a job queue (no runner yet) is given up after
      `queued_stale_after` seconds without a worker taking it.
    - Otherwise (a runner elsewhere): stopped when its last heartbeat (or its start) is
      older than `stale_after` seconds.
    """
    if state not in ("queued", "running"):
        return None
    gone = runner_gone(runner)
    if gone is not None:
        return STOPPED if gone else None
    if state == "queued" and not runner:
        waited = now - created_at
        return NEVER_STARTED if waited > timedelta(seconds=queued_stale_after) else None
    last = heartbeat_at or started_at or created_at
    return STOPPED if now - last > timedelta(seconds=stale_after) else None
