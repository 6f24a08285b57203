"""Dependencies shared by the routers: the service state, the caller (authenticated and rate-limited),
role checks and town/station scoping."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import APIKeyHeader

from api.state import ApiError, Caller, State

key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (see POST /keys)")


def get_state(request: Request) -> State:
    """The service state of this app."""
    return request.app.state.planner


def caller(request: Request, key: Annotated[str | None, Depends(key_header)]) -> Caller:
    """The key's holder; 401 without a valid key (the per-key rate limit is applied before, in
    :class:`api.service.Guard`)."""
    if not key:
        raise HTTPException(401, "missing API key (header X-API-Key)")
    state = get_state(request)
    row = state.store.key_by_secret(key)
    if row is None:
        raise HTTPException(401, "unknown or revoked API key")
    request.state.key_id = row["id"]  # for the access log (never the key itself)
    state.remember_key(row["key_hash"], row["id"])
    return Caller(row["id"], row["name"], row["role"], row["town"], row["station"])


Who = Annotated[Caller, Depends(caller)]
StateDep = Annotated[State, Depends(get_state)]
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="language of labels and texts: zh (default) or en")]


def require(who: Caller, *roles: str) -> None:
    """403 unless the caller has one of ``roles`` (admins may do everything)."""
    if who.role not in roles and who.role != "admin":
        raise ApiError(403, f"the role '{who.role}' may not do this (needs: {', '.join(roles)})")


def check_plan_access(who: Caller, row: dict | None, what: str = "plan") -> dict:
    """A stored plan the caller may see: planners all; a street office its own town's suggestions."""
    if row is None:
        raise ApiError(404, f"no such {what}")
    if who.role in ("admin", "planner"):
        return row
    if who.role == "street_office" and row.get("kind") == "suggestion" and row.get("town") == who.town:
        return row
    raise ApiError(403, f"this {what} belongs to another user group or town")


class Paging:
    """``limit`` (1–200, default 50) and ``offset`` query parameters of a list endpoint."""

    def __init__(self, limit: Annotated[int, Query(ge=1, le=200, description="items per page")] = 50,
                 offset: Annotated[int, Query(ge=0, le=10_000_000, description="items skipped (newest first)")] = 0) -> None:
        self.limit, self.offset = limit, offset

    def page(self, items: list[dict], total: int) -> dict:
        """A page of a list: the items, the total, and where the next page starts (None at the end)."""
        following = self.offset + len(items)
        return {"items": items, "total": total, "limit": self.limit, "offset": self.offset, "next_offset": following if following < total else None}


PageDep = Annotated[Paging, Depends(Paging)]
