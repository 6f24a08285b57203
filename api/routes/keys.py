"""API keys (admin only): create, list, revoke — each change in the audit log."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StateDep, Who, require
from api.schemas import KeyIn
from api.state import ApiError, audit, town_id

router = APIRouter(tags=["keys"])


@router.post("/keys", status_code=201)
def create_key(body: KeyIn, who: Who, state: StateDep) -> dict:
    """Admin: a new key; the secret is returned once and stored only as a hash."""
    require(who, "admin")
    region = next(iter(state.settings.regions.values()))
    town = station = None
    if body.role == "street_office":
        if not body.town:
            raise ApiError(422, "a street_office key needs its town", "town")
        town = town_id(region, body.town)
    if body.role == "patrol":
        if not body.station:
            raise ApiError(422, "a patrol key needs its station", "station")
        if body.station not in set(region.sites["name"].astype(str)):
            raise ApiError(422, f"unknown station {body.station!r}: use the name of a facility of the region", "station")
        station = body.station
    before = state.store.count_active_keys()
    key_id, secret = state.store.create_key(body.name, body.role, town=town, station=station)
    audit(state, who, "key.create", "key", key_id, role_created=body.role, town=town, station=station, active_keys_before=before,
          active_keys_after=before + 1)
    return {"id": key_id, "key": secret, "role": body.role, "town": town, "station": station}


@router.get("/keys")
def list_keys(who: Who, state: StateDep) -> list[dict]:
    """Admin: every key (never the secrets)."""
    require(who, "admin")
    return state.store.list_keys()


@router.delete("/keys/{key_id}")
def revoke_key(key_id: int, who: Who, state: StateDep) -> dict:
    """Admin: revoke a key."""
    require(who, "admin")
    before = state.store.count_active_keys()
    if not state.store.revoke_key(key_id):
        raise ApiError(404, "no such key")
    audit(state, who, "key.revoke", "key", key_id, active_keys_before=before, active_keys_after=state.store.count_active_keys())
    return {"revoked": key_id}
