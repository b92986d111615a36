"""The portal served by a real gunicorn on loopback, for tests that drive it over HTTP or
in a browser: a free port, a clean environment (none of the variables the app reads but
those given), its own process group, and its log kept for failure messages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.config import BASE_DIR
from tests.builders.environment import ENV_VARS, STRONG_AUDIT_KEY, STRONG_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving the portal in production mode (jobs in threads: no REDIS_URL), in
    its own process group so that SIGKILL takes the master and its workers at once.

    `env` adds settings (e.g. rate limits); `workers` and `threads` size gunicorn."""

    def __init__(
        self,
        database_url: str,
        upload_dir: Path,
        log_dir: Path,
        *,
        workers: int = 1,
        threads: int = 4,
        env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.workers = workers
        self.threads = threads
        clean = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        clean.update(
            APP_ENV="production",
            SECRET_KEY=STRONG_SECRET,
            AUDIT_KEY=STRONG_AUDIT_KEY,
            DATABASE_URL=database_url,
            UPLOAD_DIR=str(upload_dir),
        )
        clean.update(env or {})
        self.env = clean
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 20) -> None:
        """Start gunicorn and wait until the sign-in page answers."""
        self.starts += 1
        log = (self.log_dir / f"server-{self.starts}.log").open("wb")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        command = [gunicorn, "-w", str(self.workers), "--threads", str(self.threads)]
        self.process = subprocess.Popen(
            [*command, "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.base}/auth/login", timeout=2):  # noqa: S310
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise AssertionError("the server did not start:\n" + self.log())

    def kill(self) -> None:
        """SIGKILL: no clean-up code of the server runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:] for path in sorted(self.log_dir.glob("*.log"))
        )
