"""Background jobs: RQ workers when REDIS_URL is set, an in-process thread otherwise."""
