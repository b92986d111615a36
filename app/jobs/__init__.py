"""Background jobs: RQ workers when REDIS_URL is set, an in-process thread otherwise."""

from app.jobs.services import JobFailed, enqueue, register

__all__ = ["JobFailed", "enqueue", "register"]
