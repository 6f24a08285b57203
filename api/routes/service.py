"""Liveness and version (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StateDep
from api.state import VERSION

router = APIRouter(tags=["service"])


@router.get("/health")
def health(state: StateDep) -> dict:
    """Liveness: regions loaded, the database reachable, jobs running."""
    return {"status": "ok", "regions": list(state.settings.regions), "database": state.settings.db_url.split(":", 1)[0],
            "jobs_running": state.runner.running()}


@router.get("/version")
def version() -> dict:
    """Service version."""
    return {"version": VERSION}
