"""Service settings that put the per-key limits out of the way, for tests of everything but the limits."""

UNLIMITED = {"rate_per_minute": 1e6, "rate_burst": 10**6, "max_pending_jobs_per_key": 1000, "max_pending_jobs": 1000}
