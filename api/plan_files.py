"""The files of one plan, as ``planner plan`` writes them: JSON, GeoJSON, CSV, Excel and offline maps.

Orchestration only: the tables come from :mod:`planner.report`, the maps from :mod:`maps.views`,
the writing from :mod:`geodata.export`.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.chinacoords import from_wgs84
from geodata.export import excel_bytes, write_csv, write_geojson, write_json
from geodata.projection import WGS84
from geodata.region import Region
from geodata.vocabulary import FACILITY_TYPES, PLAN_STATUSES, label
from geodata.basemap import region_basemap
from maps.base import Basemap, save_map
from maps.views import compliance_map, coverage_map
from planner.report import PERCENT_HEADERS, plan_tables, units_table
from planner.scenario import Plan
from planner.travel.service_area import plan_service_areas

COORD_DECIMALS = 6
"""Decimals of every coordinate written (6 ≈ 0.1 m)."""


def sites_frame(plan: Plan, coords_out: list[str]) -> gpd.GeoDataFrame:
    """The open sites (existing kept and new) as a WGS-84 layer with ``status`` = existing/new and words."""
    sites = plan.sites
    lon, lat = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    frame = pd.DataFrame({
        "site_id": sites["site_id"], "name": sites["name"], "type": sites["type"],
        "type_zh": [label(FACILITY_TYPES, t, "zh") for t in sites["type"]], "type_en": [label(FACILITY_TYPES, t, "en") for t in sites["type"]],
        "status": sites["plan_status"],
        "status_zh": [label(PLAN_STATUSES, s, "zh") for s in sites["plan_status"]], "status_en": [label(PLAN_STATUSES, s, "en") for s in sites["plan_status"]],
        "rank": sites["rank"],
    })
    for column in ("town", "town_name", "community", "community_name"):
        if column in sites:
            frame[column] = sites[column].to_numpy()
    for column in ("adds_persons", "sole_persons", "assigned_persons", "capacity", "cost"):
        frame[column] = sites[column].to_numpy()
    frame["lon"], frame["lat"] = np.round(lon, COORD_DECIMALS), np.round(lat, COORD_DECIMALS)
    for system in coords_out:
        if system != "wgs84":
            x, y = from_wgs84(lon, lat, system)
            frame[f"{system}_lon"], frame[f"{system}_lat"] = np.round(x, COORD_DECIMALS), np.round(y, COORD_DECIMALS)
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=WGS84)


def write_plan_files(region: Region, plan: Plan, out: Path, *, lang: str = "zh", coords_out: list[str] | None = None,
                     basemap: Basemap | None = None) -> list[Path]:
    """Write ``plan.json``, ``sites.geojson``, ``units.csv``, ``plan.xlsx`` and ``map-zh.html``/``map-en.html``
    (plus ``compliance-zh.html``/``compliance-en.html`` when the plan has per-unit minimums) to ``out``.

    Parameters
    ----------
    lang
        Language of the CSV and the workbook (``zh`` or ``en``); the JSON carries both, the maps
        come in both.
    basemap
        What the maps draw under the data (default: the region's offline basemap, made or reused
        from the region cache).
    coords_out
        Extra coordinate systems (``gcj02``, ``bd09``) added as columns beside WGS-84, so staff can
        paste them into Amap or Baidu.
    """
    coords_out = list(coords_out or [])
    out.mkdir(parents=True, exist_ok=True)
    payload = plan.to_dict()
    written = [write_json(out / "plan.json", payload)]
    written.append(write_geojson(sites_frame(plan, coords_out), out / "sites.geojson", precision=COORD_DECIMALS))
    written.append(write_csv(units_table(payload, None, lang), out / "units.csv"))
    workbook = out / "plan.xlsx"
    workbook.write_bytes(excel_bytes(plan_tables(payload, lang, coords_out), percent_columns=PERCENT_HEADERS))
    written.append(workbook)
    areas = plan_service_areas(region, plan) if plan.scenario.standard_min is not None else None
    has_minimums = bool(plan.scenario.unit_min)
    basemap = basemap or Basemap.offline(region_basemap(region))
    for map_lang in ("zh", "en"):
        written.append(save_map(coverage_map(plan, service_areas=areas, lang=map_lang, basemap=basemap), out / f"map-{map_lang}.html"))  # type: ignore[arg-type]
        if has_minimums:
            written.append(save_map(compliance_map(plan, lang=map_lang, basemap=basemap), out / f"compliance-{map_lang}.html"))  # type: ignore[arg-type]
    return written
