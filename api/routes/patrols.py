"""Patrol rounds from a station: planned inside the request (under the inline-solve limit and time
cap), stored as snapshots; GeoJSON, GPX and maps are drawn from what was stored."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from api import store as db
from api.deps import Lang, PageDep, StateDep, Who, require
from api.schemas import PatrolIn
from api.snapshots import save_patrol
from api.state import (
    ASSET_URL, ApiError, Caller, State, basemap_for, inline_slot, inline_time_limit, map_page, new_snapshot, outside_region, patrol_object, public_data, region_at, remember, solve_inline,
    version_of,
)
from geodata.chinacoords import to_wgs84
from geodata.export import gpx_xml
from geodata.region import Region
from maps.base import render_html
from maps.views import patrol_map
from planner.routing.patrol import CAMPAIGNS, PatrolPlan, Team, apply_campaign, plan_patrols, stops_from_spots, with_added_stops

router = APIRouter(tags=["patrols"])


def _patrol_inputs(region: Region, body: PatrolIn) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[Team]]:
    """Depot, stops and teams of a patrol request (422 naming what is wrong)."""
    depots = region.sites[region.sites["name"].astype(str) == body.station][["name", "geometry"]].head(1).reset_index(drop=True)
    if depots.empty:
        raise ApiError(422, f"unknown station {body.station!r}", "station")
    spots = region.layers.get("patrol_spots")
    if spots is None or len(spots) == 0:
        raise ApiError(422, f"region '{region.name}' has no patrol spots", "region")
    stops = stops_from_spots(spots, limit=body.spots, kinds=tuple(body.kinds) if body.kinds else None)
    if len(stops) == 0:
        raise ApiError(422, "no patrol spot of the requested kinds", "kinds")
    if body.extra_stops:
        lon, lat = np.array([s.lon for s in body.extra_stops]), np.array([s.lat for s in body.extra_stops])
        for system in {s.coords for s in body.extra_stops} - {"wgs84"}:
            mine = np.array([s.coords == system for s in body.extra_stops])
            lon[mine], lat[mine] = to_wgs84(lon[mine], lat[mine], system)
        try:
            stops = with_added_stops(stops, [s.name for s in body.extra_stops], lon, lat, service_min=[s.service_min for s in body.extra_stops])
        except ValueError as exc:
            raise ApiError(422, str(exc), "extra_stops") from exc
        outside = outside_region(region, stops.tail(len(body.extra_stops))).to_numpy()
        if outside.any():
            bad = [s.name for s, out in zip(body.extra_stops, outside) if out]
            raise ApiError(422, f"added stop(s) outside region '{region.name}': {', '.join(bad[:5])} (check the coordinate system)", "extra_stops")
    if body.campaign:
        stops = apply_campaign(stops, spots, CAMPAIGNS[body.campaign])
    teams = [Team(t.name, body.station, count=t.count, mode=t.mode, shift=(t.shift_start.replace("：", ":"), t.shift_end.replace("：", ":")),
                  max_duration_min=t.max_duration_min, capacity=t.capacity) for t in body.teams]
    return depots, stops, teams


def _plan_patrols(region: Region, stops: gpd.GeoDataFrame, depots: gpd.GeoDataFrame, teams: list[Team], time_limit: float, seed: int,
                  folder: Path, day: datetime.date) -> tuple[PatrolPlan, dict, str, bytes]:
    """Runs in a worker process: plan the round, write its snapshot, its JSON, GeoJSON and GPX."""
    patrol = plan_patrols(region, stops, depots, teams, time_limit=time_limit, seed=seed)
    save_patrol(patrol, folder)
    payload = json.loads(json.dumps(patrol.to_dict(), ensure_ascii=False, default=str))
    return patrol, payload, json.dumps(patrol.to_geojson(), ensure_ascii=False, default=str), gpx_xml(patrol.gpx_tracks(), day=day).encode("utf-8")


@router.post("/regions/{region_id}/patrols", status_code=201)
def create_patrol(region_id: str, body: PatrolIn, who: Who, state: StateDep) -> dict:
    """Patrol team: plan a shift (or a heat/cold campaign) from a station over the region's
    highest-priority patrol spots. Planned inside the request: at most ``inline_solves`` at a time
    (503 with Retry-After beyond), the search within ``inline_time_cap_s`` seconds."""
    require(who, "planner", "patrol")
    region = region_at(state, region_id)
    if who.role == "patrol" and body.station != who.station:
        raise ApiError(403, "a patrol key may plan from its own station only")
    depots, stops, teams = _patrol_inputs(region, body)
    limit = inline_time_limit(state, body.time_limit)
    folder, snapshot = new_snapshot(state, "patrols")
    with inline_slot(state, who):
        try:
            patrol, payload, geojson, gpx = solve_inline(state, _plan_patrols, region, stops, depots, teams, limit, body.seed, folder,
                                                         body.date or datetime.date.today(), time_limit_s=limit)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from exc
    patrol_id = state.store.add(db.patrols, region=region_id, region_version=version_of(region), station=body.station, spec=body.model_dump(mode="json"),
                                payload=payload, geojson=geojson, gpx=gpx, snapshot=snapshot, created_by=who.id)
    remember(state, state.patrol_cache, patrol_id, patrol)
    return {"id": patrol_id, **payload, "summary": public_data(payload.get("summary", {})), "links": {"geojson": f"/patrols/{patrol_id}/geojson", "gpx": f"/patrols/{patrol_id}/gpx",
                                                  "map": f"/patrols/{patrol_id}/map"}}


def _row(state: State, patrol_id: int, who: Caller) -> dict:
    row = state.store.get(db.patrols, patrol_id)
    if row is None:
        raise ApiError(404, "no such patrol plan")
    if who.role in ("admin", "planner") or (who.role == "patrol" and row["station"] == who.station):
        return row
    raise ApiError(403, "this patrol plan belongs to another station")


@router.get("/patrols")
def list_patrols(who: Who, state: StateDep, paging: PageDep, region: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    """Patrol plans, newest first (paged): a planner sees all, a patrol key its own station's."""
    require(who, "planner", "patrol")
    where = [db.patrols.c.region == region] if region else []
    if who.role == "patrol":
        where.append(db.patrols.c.station == who.station)
    rows = state.store.rows(db.patrols, *where, limit=paging.limit, offset=paging.offset,
                            columns=["id", "region", "region_version", "station", "spec", "created_by", "created_at"])
    items = [{"id": r["id"], "region": r["region"], "region_version": r["region_version"], "station": r["station"],
              "campaign": (r["spec"] or {}).get("campaign"), "teams": len((r["spec"] or {}).get("teams", [])), "created_by": r["created_by"],
              "created_at": str(r["created_at"]), "links": {"patrol": f"/patrols/{r['id']}", "map": f"/patrols/{r['id']}/map", "gpx": f"/patrols/{r['id']}/gpx"}}
             for r in rows]
    return paging.page(items, state.store.count(db.patrols, *where))


@router.get("/patrols/{patrol_id}")
def get_patrol(patrol_id: int, who: Who, state: StateDep) -> dict:
    """A patrol plan: per team the stops with arrival times; unserved stops with reasons."""
    row = _row(state, patrol_id, who)
    return {"id": row["id"], "station": row["station"], **row["payload"], "summary": public_data(row["payload"].get("summary", {}))}


@router.get("/patrols/{patrol_id}/geojson")
def patrol_geojson(patrol_id: int, who: Who, state: StateDep) -> Response:
    """Depot, stops and road legs as GeoJSON."""
    return Response(_row(state, patrol_id, who)["geojson"], media_type="application/geo+json")


@router.get("/patrols/{patrol_id}/gpx")
def patrol_gpx(patrol_id: int, who: Who, state: StateDep) -> Response:
    """Routes for phones (GPX 1.1)."""
    return Response(_row(state, patrol_id, who)["gpx"], media_type="application/gpx+xml",
                    headers={"Content-Disposition": f'attachment; filename="patrol-{patrol_id}.gpx"'})


@router.get("/patrols/{patrol_id}/map", response_class=HTMLResponse)
def patrol_route_map(patrol_id: int, who: Who, state: StateDep, lang: Lang = "zh",
                     print_mode: bool = False) -> HTMLResponse:
    """Route map (one colour per team, numbered stops with arrival times); ``print_mode`` for A4."""
    row = _row(state, patrol_id, who)
    patrol = patrol_object(state, row)
    planned = (row["spec"] or {}).get("date")
    made = datetime.date.fromisoformat(planned) if planned else (row["created_at"].date() if hasattr(row["created_at"], "date") else None)
    m = patrol_map(patrol, lang=lang, print_mode=print_mode, basemap=basemap_for(state, row["region"]), date=made)  # type: ignore[arg-type]
    return map_page(render_html(m, ASSET_URL))
