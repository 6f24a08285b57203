"""The main job on a region: every step a user meets in ``planner demo``, writing to one folder.

Orchestration only: data comes from :mod:`geodata`, computation from :mod:`planner`.
"""

from __future__ import annotations

import datetime

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import save_npz

from geodata.export import export_region, write_csv, write_geojson, write_gpx, write_json, write_region_report
from geodata.region import Region
from planner.travel.accessibility import reach_summary
from planner.travel.region import region_costs
from planner.routing.patrol import PatrolPlan, Team, plan_patrols, stops_from_spots
from planner.scenario import Plan, Scenario, run_scenario
from planner.travel.service_area import plan_service_areas
from planner.routing.visits import HomeVisitPlan, plan_region_visits, visitor_bases
from geodata.basemap import region_basemap
from maps.base import Basemap, save_map
from maps.views import compliance_map, coverage_map, patrol_map, suggestion_map

Step = Callable[[str], None]
WALK_15_MIN_S = 15 * 60.0
"""The 15-minute walking circle (一刻钟养老服务圈), seconds, at the elderly walking speed."""


@dataclass
class DemoResult:
    """What the job wrote and the headline figures for the terminal."""

    out: Path
    files: list[Path] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    patrol: PatrolPlan | None = None
    visits: HomeVisitPlan | None = None


def coverage_step(region: Region, out: Path, result: DemoResult) -> None:
    """Walking coverage matrix of every site (existing and candidate) within 15 minutes."""
    sites = region.sites
    costs = region_costs(region, "walk", sites)
    coverage = costs.coverage(WALK_15_MIN_S, "demand_to_site")
    folder = out / "costs"
    folder.mkdir(parents=True, exist_ok=True)
    matrix_path = folder / "coverage-walk-15min.npz"
    save_npz(matrix_path, coverage.costs)
    rows = folder / "coverage-walk-15min-demand.csv"
    cols = folder / "coverage-walk-15min-sites.csv"
    snap_d, snap_s = costs.demand_snap, costs.site_snap  # None without a road network (nothing is snapped)
    d_snap = snap_d.distance_m.round(1) if snap_d is not None else np.full(len(region.demand), np.nan)
    d_far = snap_d.too_far if snap_d is not None else np.zeros(len(region.demand), bool)
    s_snap = snap_s.distance_m.round(1) if snap_s is not None else np.full(len(sites), np.nan)
    s_far = snap_s.too_far if snap_s is not None else np.zeros(len(sites), bool)
    pd.DataFrame({"row": np.arange(len(region.demand)), "demand_id": region.demand["demand_id"], "snap_m": d_snap, "too_far": d_far}).to_csv(rows, index=False)
    pd.DataFrame({"col": np.arange(len(sites)), "site_id": sites["site_id"], "name": sites["name"], "type": sites["type"], "status": sites["status"],
                  "snap_m": s_snap, "too_far": s_far}).to_csv(cols, index=False, encoding="utf-8")
    summary = reach_summary(
        coverage,
        {g: region.demand[g].to_numpy(float) for g in ("pop_all", "pop_60")},
        {"existing": (sites["status"] == "existing").to_numpy(), "existing_and_candidates": np.ones(len(sites), bool)},
    )
    summary.update(
        mode="walk", matrix=str(matrix_path.name), rows=rows.name, columns=cols.name,
        demand_points=len(region.demand), sites=len(sites),
        demand_too_far_from_roads=int(d_far.sum()), sites_too_far_from_roads=int(s_far.sum()),
        data=region.data_label,
    )
    result.files += [matrix_path, rows, cols, write_json(folder / "coverage-walk-15min.json", summary)]
    result.figures["aged 60+ within 15 min walk of any existing facility"] = summary["existing"]["pop_60"]["share"]
    result.figures["aged 60+ within 15 min walk of any existing or candidate site"] = summary["existing_and_candidates"]["pop_60"]["share"]
    result.figures["coverage pairs (demand × site within 15 min)"] = coverage.nnz


MEAL_SCENARIO = Scenario(
    name="助餐配餐点 / meal points", facility_type="meal_point", model="mclp", group="pop_60", mode="walk",
    standard_min=10.0, n_new=5,
)
"""Meal points: 5 new, maximising residents aged 60+ within a 10-minute walk (Guangdong's meal
circle for central districts is 10–15 minutes)."""

CARE_SCENARIO = Scenario(
    name="居家社区养老服务中心 / home-care centres", facility_type="care_centre", model="mclp", group="pop_60", mode="walk",
    standard_min=15.0, n_new=3, unit_min={"town": 1}, unit_min_residents=50,
)
"""Care centres: existing ones kept, at least one per town (towns with more than 50 residents
aged 60+), 3 new, maximising residents aged 60+ within the 15-minute walk."""


def write_plan(plan: Plan, folder: Path, stem: str) -> list[Path]:
    """A plan's JSON, its open and candidate sites as GeoJSON, and its unit table as CSV."""
    return [
        write_json(folder / f"{stem}.json", plan.to_dict()),
        write_geojson(plan.sites, folder / f"{stem}-sites.geojson"),
        write_geojson(plan.candidates, folder / f"{stem}-candidates.geojson"),
        write_csv(plan.units, folder / f"{stem}-units.csv"),
    ]


def plan_step(region: Region, scenario: Scenario, out: Path, stem: str, result: DemoResult) -> Plan:
    """Solve one scenario and write it."""
    plan = run_scenario(region, scenario)
    result.files += write_plan(plan, out / "plans", stem)
    s = plan.summary
    label = scenario.name.split(" / ")[-1]
    result.figures[f"{label}: new sites"] = s["new_sites"]
    result.figures[f"{label}: aged 60+ within {scenario.standard_min:g} min walk, today"] = s["covered_by_existing_share"]
    result.figures[f"{label}: aged 60+ within {scenario.standard_min:g} min walk, with the plan"] = s["covered_share"]
    result.figures[f"{label}: solver"] = f"{s['solver']['name']}, gap {s['solver']['gap']:.2%}, {s['solver']['seconds']:.2f} s"
    for c in plan.compliance:
        result.figures[f"{label}: {c['target']}"] = "met" if c["met"] else f"NOT met: {', '.join(c['units_failing'])}"
    result.plans[stem] = plan
    return plan


NIGHT_PATROL_STOPS = 30
NIGHT_PATROL_TEAMS = [dict(name="夜巡队 / night patrol", count=3, mode="walk", shift=("20:00", "02:00"), max_duration_min=120)]
"""The demo's night round: 3 walking teams, 20:00–02:00, at most 2 hours each, over the 30
highest-priority patrol spots (stations, bus stations, shelters, bridges, parks …)."""


def demo_depots(region: Region) -> tuple[pd.DataFrame, str]:
    """Depots for the demo: the region's relief stations, else its existing social facilities
    (an assumption for the demo, said in the output)."""
    sites = region.sites
    rescue = sites[sites["type"] == "rescue_station"]
    if len(rescue):
        return rescue[["name", "geometry"]].reset_index(drop=True), "relief stations of the region"
    social = sites[(sites["status"] == "existing") & (sites["type"] == "care_centre")]
    if len(social) == 0:
        raise ValueError(f"region '{region.name}' has no relief station or existing social facility to start patrols from")
    return social[["name", "geometry"]].head(1).reset_index(drop=True), "assumed: an existing social facility from OSM serves as the patrol base (the sample has no relief station)"


def patrol_step(region: Region, out: Path, result: DemoResult) -> PatrolPlan:
    """Night patrol: 3 teams over the 30 highest-priority patrol spots; JSON, GeoJSON, GPX."""
    if "patrol_spots" not in region.layers or len(region.layers["patrol_spots"]) == 0:
        raise ValueError(f"region '{region.name}' has no patrol spots layer")
    depots, depot_note = demo_depots(region)
    stops = stops_from_spots(region.layers["patrol_spots"], limit=NIGHT_PATROL_STOPS)
    teams = [Team(depot=depots["name"].iloc[0], **spec) for spec in NIGHT_PATROL_TEAMS]
    plan = plan_patrols(region, stops, depots, teams, time_limit=10, seed=0)
    plan.summary["depot_note"] = depot_note
    folder = out / "patrols"
    payload = plan.to_dict()
    result.files += [
        write_json(folder / "night-patrol.json", payload),
        write_geojson(plan.legs_frame(), folder / "night-patrol-legs.geojson"),
        write_geojson(plan.stops_frame(), folder / "night-patrol-stops.geojson"),
        write_gpx(plan.gpx_tracks(), folder / "night-patrol.gpx", day=datetime.date.today()),
    ]
    s = plan.summary
    result.figures["night patrol: stops visited"] = f"{s['visited']} of {s['stops']} by {s['routes']} teams"
    result.figures["night patrol: walking"] = f"{s['travel_min']:.0f} min, {s['distance_m'] / 1000:.1f} km in all"
    result.figures["night patrol: planned in"] = f"{s['solver']['seconds']:.1f} s"
    result.patrol = plan
    return plan


def visits_step(region: Region, out: Path, result: DemoResult, *, year: int = 2026, month: int = 12) -> HomeVisitPlan:
    """Home-visit rounds for elders living alone: buildings with at least one estimated elder
    living alone, visited twice a month by social workers based at the region's *existing* care
    facilities (never at candidate sites)."""
    bases = visitor_bases(region)
    if bases.empty:
        raise ValueError(f"region '{region.name}' has no existing care facility to base home visitors at")
    plan = plan_region_visits(region, year=year, month=month, visits_per_month=2, visitor_capacity=25, max_travel_min=20)
    plan.summary["note"] = (f"elders living alone are estimated per building; visitors are assumed social workers at the region's "
                            f"{len(bases)} existing care facilities ({', '.join(bases['name'].astype(str).head(5))})")
    folder = out / "visits"
    result.files += [
        write_json(folder / "home-visits.json", {"summary": plan.summary, "unserved": plan.unserved.to_dict("records")}),
        write_csv(plan.assignment, folder / "home-visits-assignment.csv"),
        write_csv(plan.calendar, folder / "home-visits-calendar.csv"),
        write_csv(plan.visitors, folder / "home-visits-visitors.csv"),
    ]
    s = plan.summary
    result.figures["home visits: elders with both monthly visits"] = f"{s['elders_with_all_visits']} of {s['elders']} ({s['month']})"
    result.figures["home visits: longest walk for a visitor"] = f"{s['max_travel_min']} min"
    result.visits = plan
    return plan


def office_town(region: Region, plan: Plan) -> str:
    """The town with the most residents not yet served by the plan (the demo's street office)."""
    towns = plan.units[plan.units["level"] == "town"].copy()
    towns["gap"] = towns["residents"] - towns["covered"]
    return str(towns.sort_values(["gap", "unit_id"], ascending=[False, True])["unit_id"].iloc[0])


def maps_step(region: Region, out: Path, result: DemoResult, basemap: Basemap | None = None) -> list[Path]:
    """Offline maps (zh and en) for planners, a street office and the patrol teams, over the
    region's offline ``basemap``."""
    import dataclasses

    folder = out / "maps"
    meal, care = result.plans["meal-points"], result.plans["care-centres"]
    areas = plan_service_areas(region, meal)
    town = office_town(region, meal)
    office = run_scenario(region, dataclasses.replace(MEAL_SCENARIO, town=town, n_new=5, name=f"{MEAL_SCENARIO.name} · {town}"))
    written = []
    for lang in ("zh", "en"):
        written += [
            save_map(coverage_map(meal, service_areas=areas, lang=lang, basemap=basemap), folder / f"coverage-meal-points-{lang}.html"),
            save_map(compliance_map(care, lang=lang, basemap=basemap), folder / f"compliance-care-centres-{lang}.html"),
            save_map(suggestion_map(office, lang=lang, basemap=basemap), folder / f"suggestions-{town}-{lang}.html"),
        ]
        if result.patrol is not None:
            written += [
                save_map(patrol_map(result.patrol, lang=lang, basemap=basemap), folder / f"night-patrol-{lang}.html"),
                save_map(patrol_map(result.patrol, lang=lang, print_mode=True, basemap=basemap), folder / f"night-patrol-print-{lang}.html"),
            ]
    result.files += written
    result.figures["maps (offline, open in any browser)"] = str(folder)
    return written


def run_demo(region: Region, out: Path, step: Step, *, basemap_dir: Path | None = None, tianditu_token: str | None = None) -> DemoResult:
    """Run every step of the main job on ``region`` and write the results to ``out`` (the offline
    basemap is kept in ``basemap_dir``, default the region cache)."""
    result = DemoResult(out)
    step("writing region layers and summary")
    result.files += export_region(region, out / "region", "geojson")
    result.files.append(write_region_report(region, out / "region" / "region-summary.md"))
    step("travel costs: walking coverage matrix of all sites (15 min)")
    coverage_step(region, out, result)
    # Patrols, visits and the basemap come before the plans: on a first run after an install the
    # covering searches' kernels are still compiling beside them (planner.warmup).
    step("night patrol routes (3 teams, 30 patrol spots, 20:00–02:00)")
    patrol_step(region, out, result)
    step("home-visit rounds for elders living alone (twice a month)")
    visits_step(region, out, result)
    step("offline basemap: vector tiles of the region's roads, buildings, water and names (tippecanoe)")
    archive = region_basemap(region, basemap_dir)
    result.figures["offline basemap"] = f"{archive.path.stat().st_size / 1e6:.1f} MB, zoom {archive.min_zoom}–{archive.max_zoom}, " + \
        ", ".join(f"{k} {v:,}" for k, v in archive.features.items())
    step("meal-point plan (maximal covering, 10 min walk)")
    plan_step(region, MEAL_SCENARIO, out, "meal-points", result)
    step("care-centre plan (one per town, 15 min walk)")
    plan_step(region, CARE_SCENARIO, out, "care-centres", result)
    step("maps: coverage, compliance, site suggestions, patrol routes (zh/en, offline)")
    maps_step(region, out, result, Basemap.offline(archive, tianditu_token=tianditu_token))
    result.figures = dict(sorted(result.figures.items(), key=lambda item: _figure_rank(item[0])))
    return result


FIGURE_ORDER = ("aged 60+", "coverage pairs", "meal points", "home-care centres", "night patrol", "home visits", "offline basemap", "maps")
"""The headline figures in the job's order (whatever order the steps ran in)."""


def _figure_rank(label: str) -> int:
    return next((i for i, prefix in enumerate(FIGURE_ORDER) if label.startswith(prefix)), len(FIGURE_ORDER))
