"""Regions: their summaries, versions and layers, each role seeing what it may (see api.privacy)."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api import store as db
from api.deps import Lang, StateDep, Who, require
from api.privacy import LAYER_ACCESS, demand_by_community, summary_for
from api.schemas import FacilityType
from api.state import ASSET_URL, ApiError, basemap_for, geojson_of, map_page, public_data, region_at, version_of
from maps.base import render_html
from maps.views import site_picker_map
from planner.scenario import sites_for

router = APIRouter(tags=["regions"])


@router.get("/regions")
def regions(who: Who, state: StateDep) -> list[dict]:
    """Regions served, with their data labels and latest versions."""
    return [{"id": rid, "name": r.name, "synthetic": r.is_synthetic, "data": public_data(r.data_label), "version": version_of(region_at(state, rid))}
            for rid, r in state.settings.regions.items()]


@router.get("/regions/{region_id}/versions")
def region_versions(region_id: str, who: Who, state: StateDep) -> list[dict]:
    """Planner: the region's versions, newest first; approved uploads add one, deletions another."""
    require(who, "planner")
    region_at(state, region_id)
    rows = state.store.rows(db.region_versions, db.region_versions.c.region == region_id, limit=1000)
    chain = state.versions[region_id]
    return [{"version": r["version"], "parent": r["parent"], "note": r["note"], "upload_id": r["upload_id"], "change": r["change"],
             "sites": len(chain[r["version"]].sites) if r["version"] in chain else r["sites"], "available": r["version"] in chain,
             "created_at": str(r["created_at"])} for r in rows]


@router.get("/regions/{region_id}")
def region_summary(region_id: str, who: Who, state: StateDep) -> dict:
    """Units, population groups, networks and facilities of a region (its latest version); below
    planner level per-town counts under the privacy threshold are suppressed."""
    region = region_at(state, region_id)
    summary = public_data(json.loads(json.dumps(region.summary(), default=str, ensure_ascii=False)))
    return {**summary_for(who.role, summary, state.settings.privacy_min_count), "version": version_of(region)}


@router.get("/regions/{region_id}/layers/{layer}")
def region_layer(region_id: str, layer: str, who: Who, state: StateDep) -> Response:
    """A layer as GeoJSON. Planners see every layer as stored; a street office its own town, with
    people only as suppressed counts per community; a patrol key what a patrol needs (see
    docs/PRIVACY.md)."""
    region = region_at(state, region_id)
    frames = {"units": region.units, "demand": region.demand, "sites": region.sites, **region.layers}
    if layer not in frames:
        raise ApiError(404, f"no layer {layer!r} (layers: {', '.join(frames)})", "layer")
    rule = "all" if who.role in ("admin", "planner") else LAYER_ACCESS.get(layer, {}).get(who.role, "no")  # unlisted layers: planners only
    if rule == "no":
        raise ApiError(403, f"the role '{who.role}' may not read the {layer} layer (personal or not needed)", "layer")
    frame = frames[layer]
    if who.role == "street_office":
        if layer == "demand":
            frame = demand_by_community(region, who.town or "", state.settings.privacy_min_count)
        elif layer == "units":
            frame = frame[(frame["unit_id"] == who.town) | (frame.get("parent_id") == who.town)]
        elif "town" in frame:
            frame = frame[frame["town"] == who.town]
        else:
            raise ApiError(403, "a street office may read only the layers of its own town")
    return Response(json.dumps(geojson_of(frame), ensure_ascii=False), media_type="application/geo+json")


@router.get("/regions/{region_id}/sites")
def region_sites(region_id: str, who: Who, state: StateDep, facility_type: FacilityType = "meal_point") -> list[dict]:
    """Planner: the existing and candidate sites a scenario of ``facility_type`` plans with (its
    family: meal points with canteens, care centres with stations), by id, name, status and town."""
    require(who, "planner")
    sites = sites_for(region_at(state, region_id), facility_type)
    columns = [c for c in ("site_id", "name", "type", "status", "town") if c in sites]
    return json.loads(sites[columns].to_json(orient="records", force_ascii=False))


@router.get("/regions/{region_id}/sites/map", response_class=HTMLResponse)
def region_sites_map(region_id: str, who: Who, state: StateDep, facility_type: FacilityType = "meal_point", lang: Lang = "zh") -> HTMLResponse:
    """Planner: the region's towns with its existing and candidate sites of ``facility_type``, for
    picking sites to keep or forbid (the app embeds it; a click is reported to the page around it)."""
    require(who, "planner")
    region = region_at(state, region_id)
    return map_page(render_html(site_picker_map(region, facility_type, lang=lang, basemap=basemap_for(state, region_id)), ASSET_URL))
