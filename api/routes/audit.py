"""The audit log of changes to shared data (uploads, approvals, deletions, keys): admins and planners read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import store as db
from api.deps import StateDep, Who, require

router = APIRouter(tags=["audit"])


@router.get("/audit")
def audit_log(who: Who, state: StateDep, region: Annotated[str | None, Query(max_length=100)] = None,
              action: Annotated[str | None, Query(max_length=40, description="e.g. upload.approve, key.create")] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> list[dict]:
    """Admin, planner: who changed what and when, newest first, with counts before and after
    (key id and name, never a key)."""
    require(who, "planner")
    where = []
    if region is not None:
        where.append(db.audit.c.region == region)
    if action is not None:
        where.append(db.audit.c.action == action)
    rows = state.store.rows(db.audit, *where, limit=limit, offset=offset)
    return [{**r, "created_at": str(r["created_at"])} for r in rows]
