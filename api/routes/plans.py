"""Stored plans: JSON, GeoJSON, compliance, map and Excel, all drawn from what was stored (never
solved again); below planner level with small counts suppressed (see api.privacy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from api import store as db
from api.deps import Lang, PageDep, StateDep, Who, check_plan_access, require
from api.privacy import geojson_for, plan_payload_for
from api.state import ASSET_URL, ApiError, Caller, State, basemap_for, map_page, plan_object, public_data, written_plan
from geodata.export import excel_bytes
from maps.base import ASSET_DIR, install_map_tiles, render_html
from maps.views import compliance_map, coverage_map, plan_print, suggestion_map
from planner.report import PERCENT_HEADERS, plan_tables

router = APIRouter(tags=["plans"])


def _row(state: State, plan_id: int, who: Caller) -> dict:
    return written_plan(state, check_plan_access(who, state.store.get(db.plans, plan_id)))


def _facility_plan(row: dict, what: str) -> dict:
    """409 for a hierarchy result where a one-level plan is needed (its sites and compliance per level are in the JSON and GeoJSON)."""
    if row["kind"] == "hierarchy":
        raise ApiError(409, f"plan {row['id']} is a hierarchy result: it has no {what}; read its levels in /plans/{row['id']} and its sites in "
                            f"/plans/{row['id']}/geojson")
    return row


def _payload(state: State, row: dict, who: Caller) -> dict:
    payload = plan_payload_for(who.role, row["payload"], state.settings.privacy_min_count)
    return {**payload, "summary": public_data(payload.get("summary", {}))}  # no server paths in the notes; names untouched


PLAN_LIST_COLUMNS = ["id", "kind", "region", "region_version", "town", "scenario_id", "spec", "created_by", "created_at"]


@router.get("/plans")
def list_plans(who: Who, state: StateDep, paging: PageDep, region: Annotated[str | None, Query(max_length=100)] = None,
               kind: Annotated[str | None, Query(pattern="^(scenario|suggestion|hierarchy)$")] = None) -> dict:
    """Stored plans, newest first (paged): a planner sees all, a street office its own town's suggestions."""
    require(who, "planner", "street_office")
    where = []
    if region:
        where.append(db.plans.c.region == region)
    if kind:
        where.append(db.plans.c.kind == kind)
    if who.role == "street_office":
        where += [db.plans.c.kind == "suggestion", db.plans.c.town == who.town]
    rows = state.store.rows(db.plans, *where, limit=paging.limit, offset=paging.offset, columns=PLAN_LIST_COLUMNS)
    items = [{"id": r["id"], "kind": r["kind"], "region": r["region"], "region_version": r["region_version"], "town": r["town"],
              "scenario_id": r["scenario_id"], "name": (r["spec"] or {}).get("name"), "facility_type": (r["spec"] or {}).get("facility_type"),
              "created_by": r["created_by"], "created_at": str(r["created_at"]), "links": {"plan": f"/plans/{r['id']}", "map": f"/plans/{r['id']}/map"}}
             for r in rows]
    return paging.page(items, state.store.count(db.plans, *where))


@router.get("/plans/{plan_id}")
def plan(plan_id: int, who: Who, state: StateDep) -> dict:
    """A plan as JSON: summary (solver, bound, gap), compliance, sites, units (a hierarchy: per level
    its sites, coverage and compliance, and the solver)."""
    row = _row(state, plan_id, who)
    if row["kind"] == "hierarchy":
        return {"id": row["id"], "kind": row["kind"], "region": row["region"], **public_data(row["payload"]), "links": {"geojson": f"/plans/{plan_id}/geojson"}}
    return {"id": row["id"], "kind": row["kind"], "region": row["region"], **_payload(state, row, who),
            "links": {"geojson": f"/plans/{plan_id}/geojson", "map": f"/plans/{plan_id}/map", "excel": f"/plans/{plan_id}/excel",
                      **({"print": f"/plans/{plan_id}/map?print_mode=true"} if row["kind"] == "scenario" else {})}}


@router.get("/plans/{plan_id}/geojson")
def plan_geojson(plan_id: int, who: Who, state: StateDep) -> Response:
    """The plan's open sites as GeoJSON (WGS-84)."""
    row = _row(state, plan_id, who)
    group = row["payload"].get("summary", {}).get("group")
    text = geojson_for(who.role, row["geojson"], group, state.settings.privacy_min_count)
    return Response(text, media_type="application/geo+json")


@router.get("/plans/{plan_id}/compliance")
def plan_compliance(plan_id: int, who: Who, state: StateDep) -> dict:
    """Compliance of the plan with each work-plan target, and the units failing."""
    row = _row(state, plan_id, who)
    if row["kind"] == "hierarchy":
        levels = row["payload"]["levels"]
        return {"compliant": all(lv["compliant"] for lv in levels),
                "targets": [{"level": lv["name"], "unit_level": lv["unit_level"], "minimum_per_unit": lv["minimum_per_unit"], "met": lv["compliant"],
                             "units_failing": lv["units_failing"]} for lv in levels]}
    return {"compliant": row["payload"]["summary"].get("compliant"), "targets": public_data(row["payload"]["compliance"])}


@router.get("/plans/{plan_id}/map", response_class=HTMLResponse)
def plan_map(plan_id: int, who: Who, state: StateDep, kind: Annotated[str, Query(pattern="^(coverage|compliance|suggestion)$")] = "coverage",
             lang: Lang = "zh", print_mode: Annotated[bool, Query(description="A4 pages to print: the map with the new facilities numbered and "
                                                                             "listed, the summary, the per-town table")] = False) -> HTMLResponse:
    """The plan's map as HTML (assets served by this service; works without internet). A town's
    suggestions are always drawn as a suggestion map; ``print_mode``: a scenario plan as A4 pages."""
    row = _facility_plan(_row(state, plan_id, who), "map yet")
    stored = plan_object(state, row)
    planner_level = who.role in ("admin", "planner")
    basemap = basemap_for(state, row["region"])
    if print_mode:
        if row["kind"] != "scenario":
            raise ApiError(422, "print pages are made for scenario plans; print a suggestion's map from the browser", "print_mode")
        m = plan_print(stored, _payload(state, row, who), lang=lang, basemap=basemap)  # type: ignore[arg-type]
    elif kind == "suggestion" or row["kind"] == "suggestion":
        m = suggestion_map(stored, lang=lang, basemap=basemap, suppress_below=None if planner_level else state.settings.privacy_min_count)  # type: ignore[arg-type]
    elif kind == "compliance":
        m = compliance_map(stored, lang=lang, basemap=basemap)  # type: ignore[arg-type]
    else:
        m = coverage_map(stored, lang=lang, basemap=basemap)  # type: ignore[arg-type]
    install_map_tiles(m, state.settings.data_dir / ASSET_DIR)  # a city-scale map's own tiles
    return map_page(render_html(m, ASSET_URL))


@router.get("/plans/{plan_id}/excel")
def plan_excel(plan_id: int, who: Who, state: StateDep, lang: Lang = "zh",
               coords_out: Annotated[str | None, Query(pattern="^(gcj02|bd09)$", description="add Amap (gcj02) or Baidu (bd09) coordinates")] = None) -> Response:
    """The stored plan's workbook: summary, sites, towns and communities, headers in ``lang``
    with units (人, 分钟), types, statuses and compliance in words; drawn from the stored plan."""
    row = _facility_plan(_row(state, plan_id, who), "workbook yet")
    content = excel_bytes(plan_tables(_payload(state, row, who), lang, [coords_out] if coords_out else []), percent_columns=PERCENT_HEADERS)
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.xlsx"'})
