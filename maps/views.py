"""One map per user need, drawn from a Plan or a PatrolPlan alone (no solving, no region, no geometry computed here).

* :func:`coverage_map` (planner): demand by unit and unserved points, existing and proposed
  facilities, service areas, popups with the numbers;
* :func:`compliance_map` (planner): each town/community coloured by whether it meets its targets;
* :func:`suggestion_map` (street office): its own town, ranked candidates numbered 1..k with the
  residents each adds, and the office's own proposals beside them;
* :func:`patrol_map` (patrol team): one colour per team, numbered stops with arrival times, road
  paths, the depot; ``print_mode`` for A4 with large labels.

Every builder takes ``lang="zh"|"en"`` and ``basemap`` (see :mod:`maps.base`) and returns a
``folium.Map``; save it with :func:`maps.base.save_map`.  What a map shows is described as data
(:class:`maps.spec.MapSpec`) and drawn in the browser by ``planner-map.js``: names from users
are carried as JSON text, never spliced into the page's HTML or JavaScript.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

import datetime as dt

from geodata.basemap import BasemapArchive
from geodata.region import Region
from geodata.vocabulary import ADMIN_LEVELS, FACILITY_TYPES, PATROL_STOP_KINDS, POPULATION_GROUPS, TEAM_MODES, label
from maps.base import Basemap, Lang, base_json, data_tiles, display_frame, draw, new_map, to_display
from maps.spec import Layer, LegendRow, MapSpec, Popup, Sheet
from planner.aggregate import demand_cells
from planner.routing.patrol import PatrolPlan
from planner.report import compliance_word, header, summary_items
from planner.scenario import Plan, sites_for

TEXT: dict[str, dict[str, str]] = {
    "coverage": {"zh": "服务覆盖", "en": "Service coverage"},
    "compliance": {"zh": "达标情况", "en": "Compliance with targets"},
    "suggestion": {"zh": "选址建议", "en": "Site suggestions"},
    "patrol": {"zh": "巡查路线", "en": "Patrol routes"},
    "existing": {"zh": "现有设施", "en": "Existing facility"},
    "new": {"zh": "新增设施（方案）", "en": "Proposed facility"},
    "candidate": {"zh": "候选点位", "en": "Candidate site"},
    "service_area": {"zh": "服务范围", "en": "Service area"},
    "unserved": {"zh": "未覆盖需求点", "en": "Demand not served"},
    "served": {"zh": "已覆盖需求点", "en": "Demand served"},
    "share": {"zh": "覆盖率", "en": "Covered share"},
    "residents": {"zh": "人数", "en": "Residents"},
    "covered": {"zh": "已覆盖人数", "en": "Covered"},
    "adds": {"zh": "新增覆盖人数", "en": "Residents added"},
    "capacity": {"zh": "容量", "en": "Capacity"},
    "minutes": {"zh": "到最近设施（分钟）", "en": "Minutes to nearest facility"},
    "worst": {"zh": "最远（分钟）", "en": "Worst (minutes)"},
    "facilities": {"zh": "设施数（现有/新增）", "en": "Facilities (existing/new)"},
    "minimum": {"zh": "最低要求", "en": "Minimum required"},
    "met": {"zh": "达标", "en": "Meets targets"},
    "not_met": {"zh": "未达标", "en": "Does not meet targets"},
    "exempt": {"zh": "无需设点（人口过少）", "en": "Exempt (too few residents)"},
    "rank": {"zh": "推荐顺序", "en": "Rank"},
    "office": {"zh": "街道自报点位", "en": "Office's own proposal"},
    "depot": {"zh": "出发点（救助站）", "en": "Depot (relief station)"},
    "arrival": {"zh": "到达", "en": "Arrival"},
    "departure": {"zh": "离开", "en": "Departure"},
    "stop": {"zh": "巡查点", "en": "Stop"},
    "priority": {"zh": "优先级", "en": "Priority"},
    "team": {"zh": "队伍", "en": "Team"},
    "walk_min": {"zh": "行程（分钟）", "en": "Travel (min)"},
    "unit": {"zh": "单元", "en": "Unit"},
    "potential": {"zh": "单独可覆盖人数", "en": "Residents within reach alone"},
    "fullscreen": {"zh": "全屏", "en": "Fullscreen"},
    "search": {"zh": "搜索镇街、社区、站点…", "en": "Search towns, communities, sites…"},
    "persons": {"zh": "人", "en": "persons"},
    "no_target": {"zh": "无设点要求", "en": "No target at this level"},
    "cells": {"zh": "需求网格", "en": "Demand grid"},
    "zoom_in": {"zh": "放大后显示", "en": "shown when zoomed in"},
    "straight": {"zh": "注意：按直线距离估算（本区域无路网）", "en": "Note: straight-line estimate (no road network in this region)"},
    "before_after": {"zh": "镇街覆盖率", "en": "Town coverage"},
    "order": {"zh": "序号", "en": "No."},
    "task": {"zh": "任务", "en": "Task"},
    "supplies": {"zh": "物资（份）", "en": "Supplies"},
    "date": {"zh": "日期", "en": "Date"},
    "shift": {"zh": "班次", "en": "Shift"},
    "round": {"zh": "全程（含停留）", "en": "Round incl. stops"},
    "moving": {"zh": "其中路上", "en": "of which moving"},
    "return": {"zh": "返回", "en": "Return"},
    "sheet": {"zh": "巡查路线单", "en": "Patrol sheet"},
    "patrol_task": {"zh": "巡查救助", "en": "Patrol and help"},
    "heat": {"zh": "夏日送清凉", "en": "Summer heat relief"},
    "plan_sheet": {"zh": "规划方案", "en": "Plan"},
    "new_list": {"zh": "新增设施（地图编号）", "en": "New facilities (numbers on the map)"},
    "summary": {"zh": "方案概况", "en": "Summary"},
    "continued": {"zh": "续", "en": "continued"},
    "printed": {"zh": "打印日期", "en": "Printed"},
    "print_key": {"zh": "图例：{unit}底色为覆盖率（红 0% → 绿 100%）；蓝点为现有设施；橙色编号为新增设施，编号同下表",
                  "en": "Key: {unit} shaded by covered share (red 0% → green 100%); blue dots: existing facilities; orange numbers: new facilities, as in the table"},
    "pick": {"zh": "点选站点：保留 / 排除", "en": "Pick sites: keep / forbid"},
    "pick_note": {"zh": "点击站点：第一次“必须保留”，第二次“不得选用”，第三次取消", "en": "Click a site: once to keep it, twice to forbid it, a third time to clear"},
    "keep": {"zh": "必须保留（方案中一定开设）", "en": "Keep (open in the plan)"},
    "forbid": {"zh": "不得选用", "en": "Forbid (never chosen)"},
    "cold": {"zh": "寒冬送温暖", "en": "Winter warmth"},
}

GLYPHS = {"meal_point": "utensils", "meal_hall": "utensils", "care_centre": "house-medical", "care_station": "house-user",
          "flagship": "star", "care_home": "bed", "rescue_station": "hand-holding-heart", "patrol_hotspot": "location-dot", "other": "circle"}
EXISTING_COLOUR, NEW_COLOUR, CANDIDATE_COLOUR = "#1f5fbf", "#e8590c", "#868e96"
TEAM_COLOURS = ["#d6336c", "#1c7ed6", "#2b8a3e", "#f08c00", "#7048e8", "#0b7285", "#c92a2a", "#5c940d"]


def t(key: str, lang: Lang) -> str:
    """A UI label in ``lang``."""
    return TEXT[key][lang]


def _check_lang(lang: str) -> Lang:
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    return lang  # type: ignore[return-value]


def _bounds(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    b = frame.total_bounds
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def _share_colour(share: float) -> str:
    """Red (0 %) → yellow → green (100 %)."""
    if not np.isfinite(share):
        return "#ced4da"
    stops = [(0.0, (201, 42, 42)), (0.5, (250, 176, 5)), (0.8, (148, 216, 45)), (1.0, (43, 138, 62))]
    for (a, ca), (b, cb) in zip(stops[:-1], stops[1:]):
        if share <= b:
            f = (share - a) / (b - a) if b > a else 0
            rgb = [int(ca[k] + f * (cb[k] - ca[k])) for k in range(3)]
            return "#%02x%02x%02x" % tuple(rgb)
    return "#2b8a3e"


def fmt(value: Any, suppress_below: float | None = None) -> Any:
    """A figure as shown: numbers ≥ 10 with one decimal and thousands separators, small ones with
    two; counts of people under ``suppress_below`` (but above 0) as "<N" (privacy)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        if np.isnan(number):
            return "–"
        if suppress_below is not None and 0 < number < suppress_below:
            return f"<{suppress_below:g}"
        return f"{number:,.1f}" if abs(number) >= 10 else f"{number:.2f}"
    return value


def people(value: Any, suppress_below: float | None = None) -> str:
    """A count of people as whole persons ("<N" when suppressed for privacy, "–" when unknown)."""
    number = float(value) if value is not None else np.nan
    if not np.isfinite(number):
        return "–"
    if suppress_below is not None and 0 < number < suppress_below:
        return f"<{suppress_below:g}"
    return f"{number:.0f}"


def _people_label(key: str, group: str, lang: Lang) -> str:
    """A popup label naming the group counted, e.g. "已覆盖人数（60 岁及以上）"."""
    return f"{t(key, lang)}（{label(POPULATION_GROUPS, group, lang)}）" if lang == "zh" else f"{t(key, lang)} ({label(POPULATION_GROUPS, group, lang)})"


def _costs_note(summary: dict, lang: Lang) -> str | None:
    """The map's warning when its travel costs are straight-line estimates."""
    kinds = [summary.get("costs", {}).get("kind")] if "kind" in summary.get("costs", {}) else [c.get("kind") for c in summary.get("costs", {}).values() if isinstance(c, dict)]
    return t("straight", lang) if "straight-line" in kinds else None


def _units_with_figures(plan: Plan, level: str) -> gpd.GeoDataFrame:
    units = plan.unit_shapes[plan.unit_shapes["level"] == level][["unit_id", "name", "geometry"]]
    figures = plan.units[plan.units["level"] == level].drop(columns=["name"], errors="ignore")
    return units.merge(figures, on="unit_id", how="left")


def _plan_bounds(plan: Plan) -> tuple[float, float, float, float]:
    """What a plan's map shows: its units, else its demand and sites."""
    if len(plan.unit_shapes):
        return _bounds(plan.unit_shapes)
    return _bounds(gpd.GeoDataFrame(geometry=pd.concat([plan.demand.geometry, plan.sites.geometry]), crs=4326))


def _finest_level(plan: Plan) -> str:
    levels = set(plan.units["level"])
    return "community" if "community" in levels else "town"


def _spec(m: folium.Map, base: Basemap, bounds: tuple[float, float, float, float], lang: Lang, *, labels_units: bool = False, **kwargs: Any) -> MapSpec:
    """An empty spec for a new map, its bounds in display coordinates, its basemaps and search box.
    ``labels_units``: the map writes its unit names itself (the basemap's place names are left out)."""
    lo = to_display(np.array([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]), base)
    return MapSpec(bounds=(float(lo[0, 0]), float(lo[0, 1]), float(lo[1, 0]), float(lo[1, 1])), fullscreen_label=t("fullscreen", lang),
                   base=base_json(base, bounds, lang, hide_places=labels_units), search_placeholder=t("search", lang), **kwargs)


def _note(*parts: str | None) -> str:
    return " · ".join(p for p in parts if p)


def _add_sites(layer: Layer, sites: gpd.GeoDataFrame, base: Basemap, lang: Lang, group: str, suppress_below: float | None = None) -> None:
    shown = display_frame(sites, base)
    for (_, row), geom in zip(sites.iterrows(), shown.geometry):
        status = row.get("plan_status", "existing")
        capacity = row.get("capacity")
        rows = [
            (label(FACILITY_TYPES, row["type"], lang), t("new" if status == "new" else "existing", lang)),
            (_people_label("adds", group, lang), people(row.get("adds_persons", np.nan), suppress_below)),
            (_people_label("covered", group, lang), people(row.get("assigned_persons", np.nan), suppress_below)),
            (t("capacity", lang), fmt(capacity) if capacity is not None and pd.notna(capacity) else "–"),
        ]
        colour = NEW_COLOUR if status == "new" else EXISTING_COLOUR
        if len(sites) > ICON_LIMIT:  # a city's hundreds of sites: dots, not icons that bury each other
            layer.circle(geom.x, geom.y, 5, {"color": "#ffffff", "weight": 1, "fill": True, "fillColor": colour, "fillOpacity": 0.95},
                         tooltip=row["name"], popup=Popup(str(row["name"]), rows), name=row["name"])
        else:
            layer.marker(geom.x, geom.y, colour=colour, glyph=GLYPHS.get(row["type"], "circle"), tooltip=row["name"], popup=Popup(str(row["name"]), rows),
                         name=row["name"])


ICON_LIMIT = 200
"""Sites a map draws as icons; beyond, as coloured dots."""


def coverage_map(plan: Plan, *, service_areas: gpd.GeoDataFrame | None = None, lang: Lang = "zh",
                 basemap: str | Basemap | BasemapArchive | None = None, show_candidates: bool = True, detail_limit: int = 5000) -> folium.Map:
    """Planner's coverage map of one plan (see module docstring), drawn from the plan alone.

    A city: beyond ``detail_limit`` demand points (or candidates) the points are cut into the
    map's own vector tiles, drawn from zoom 14 on; below it the communities' coverage (and, as a
    layer, 1 km cells of the people not served) show the city."""
    lang = _check_lang(lang)
    bounds = _plan_bounds(plan)
    m, base = new_map(bounds, basemap=basemap)
    s = plan.summary
    group = plan.scenario.group
    group_label = label(POPULATION_GROUPS, group, lang)
    level = _finest_level(plan)
    note = _note(f"{group_label} {t('share', lang)}: {s['covered_by_existing_share']:.0%} → {s['covered_share']:.0%}", s["data"][lang], _costs_note(s, lang))
    spec = _spec(m, base, bounds, lang, labels_units=True, title=f"{t('coverage', lang)} · {plan.scenario.name}", note=note)
    legend: list[LegendRow] = []
    choropleth = spec.layer(f"{t('share', lang)} ({label(ADMIN_LEVELS, level, lang)})")
    for _, row in display_frame(_units_with_figures(plan, level), base).iterrows():
        share = float(row.get("covered_share", np.nan))
        choropleth.shape(row.geometry, {"fillColor": _share_colour(share), "color": "#495057", "weight": 1, "fillOpacity": 0.4},
                         name=row["name"], label=row["name"], label_level=level,
                         popup=Popup(str(row["name"]), [(_people_label("residents", group, lang), people(row.get("residents", np.nan))),
                                                        (_people_label("covered", group, lang), people(row.get("covered", np.nan))),
                                                        (t("share", lang), f"{share:.0%}" if np.isfinite(share) else "–"), (t("minutes", lang), fmt(row.get("mean_min", np.nan))),
                                                        (t("worst", lang), fmt(row.get("worst_min", np.nan)))]))
    if choropleth.features:
        legend.append(LegendRow([(_share_colour(0.0), "square"), (_share_colour(0.5), "square"), (_share_colour(1.0), "square")], f"{t('share', lang)} 0 → 100%"))
    if service_areas is not None and len(service_areas):
        areas = spec.layer(f"{t('service_area', lang)} ({plan.scenario.standard_min:g} min)")
        for _, row in display_frame(service_areas, base).iterrows():
            colour = NEW_COLOUR if row["plan_status"] == "new" else EXISTING_COLOUR
            areas.shape(row.geometry, {"fillColor": colour, "color": colour, "weight": 1, "fillOpacity": 0.12}, tooltip=f"{row['name']}: {t('service_area', lang)}")
    weights = plan.demand[group].to_numpy(float) if group in plan.demand else np.ones(len(plan.demand))
    within = plan.demand["within_standard"].to_numpy(bool)
    people_points = int((weights > 0).sum())
    tiled_layers: dict[str, gpd.GeoDataFrame] = {}
    if people_points > detail_limit:  # city scale: cells as data, the points as vector tiles from zoom DETAIL_ZOOM
        _demand_cells(spec, plan, weights, within, base, lang)
        keep = weights > 0
        tiled_layers["demand"] = gpd.GeoDataFrame({"served": within[keep].astype(int), "persons": np.round(weights[keep], 1)},
                                                  geometry=display_frame(plan.demand, base).geometry.to_numpy()[keep], crs=4326)
        legend.append(LegendRow([("#c92a2a", "circle")], f"{t('unserved', lang)} ({t('zoom_in', lang)})"))
    else:
        demand = display_frame(plan.demand, base)
        served = spec.layer(t("served", lang), show=False)
        unserved = spec.layer(t("unserved", lang))
        for ok, cost, geom, w in zip(within, plan.demand["nearest_cost"].to_numpy(float), demand.geometry, weights):
            if w <= 0:
                continue
            (served if ok else unserved).circle(geom.x, geom.y, float(np.clip(2 + np.sqrt(w), 3, 12)),
                                                {"color": "#2b8a3e" if ok else "#c92a2a", "weight": 1, "fill": True, "fillOpacity": 0.5 if ok else 0.85},
                                                tooltip=f"{group_label}: {people(w)} {t('persons', lang)}; {cost:.0f} min")
        if unserved.features:
            legend.append(LegendRow([("#c92a2a", "circle")], t("unserved", lang)))
        if served.features:
            legend.append(LegendRow([("#2b8a3e", "circle")], t("served", lang)))
    if show_candidates and len(plan.candidates) > detail_limit:
        left = plan.candidates[~plan.candidates["selected"].astype(bool)] if "selected" in plan.candidates else plan.candidates
        tiled_layers["candidates"] = gpd.GeoDataFrame({"name": left["name"].astype(str).to_numpy()}, geometry=display_frame(left, base).geometry.to_numpy(), crs=4326)
        legend.append(LegendRow([(CANDIDATE_COLOUR, "circle")], f"{t('candidate', lang)} ({t('zoom_in', lang)})"))
    elif show_candidates and len(plan.candidates):
        cands = spec.layer(t("candidate", lang), show=False)
        shown = display_frame(plan.candidates, base)
        for (_, row), geom in zip(plan.candidates.iterrows(), shown.geometry):
            if row.get("selected"):
                continue
            cands.circle(geom.x, geom.y, 4, {"color": CANDIDATE_COLOUR, "fill": True, "fillOpacity": 0.7}, name=row["name"],
                         popup=Popup(str(row["name"]), [(_people_label("potential", group, lang), people(row.get("potential_persons", np.nan)))]))
        if cands.features:
            legend.append(LegendRow([(CANDIDATE_COLOUR, "circle")], t("candidate", lang)))
    sites = spec.layer(f"{t('existing', lang)} / {t('new', lang)}")
    _add_sites(sites, plan.sites, base, lang, group)
    statuses = set(plan.sites.get("plan_status", pd.Series(dtype=str)))
    site_rows = []
    if statuses - {"new"}:
        site_rows.append(LegendRow([(EXISTING_COLOUR, "circle")], t("existing", lang)))
    if "new" in statuses:
        site_rows.append(LegendRow([(NEW_COLOUR, "circle")], t("new", lang)))
    legend[:0] = site_rows
    spec.legend(t("coverage", lang), legend)
    if tiled_layers:
        _tile_layers(m, spec, tiled_layers, lang)
    return draw(m, spec)


DETAIL_LIMIT = 5000
"""Demand points (or candidates) a coverage map draws one by one; beyond, they come from vector tiles."""
DETAIL_ZOOM = 14
"""Zoom from which tiled points are drawn (a few streets on screen)."""
CELL_M = 1000.0
"""Side of the grid cells that sum the demand of a city-scale map, metres."""


def _demand_cells(spec: MapSpec, plan: Plan, weights: np.ndarray, within: np.ndarray, base: Basemap, lang: Lang) -> None:
    """A layer of 1 km cells: residents and the share not served (darker red = more unserved)."""
    group_label = label(POPULATION_GROUPS, plan.scenario.group, lang)
    cells = display_frame(demand_cells(plan.demand, weights, within, cell_m=CELL_M), base)
    layer = spec.layer(f"{t('cells', lang)} ({CELL_M / 1000:g} km)", show=False)
    for _, row in cells.iterrows():
        share = float(row["unserved_share"])
        layer.shape(row.geometry, {"fillColor": _share_colour(1.0 - share), "color": "#868e96", "weight": 0.5, "fillOpacity": 0.5},
                    popup=Popup(None, [(_people_label("residents", plan.scenario.group, lang), people(row["residents"])),
                                       (f"{t('unserved', lang)}（{group_label}）" if lang == "zh" else f"{t('unserved', lang)} ({group_label})", people(row["unserved"])),
                                       (t("share", lang), f"{1.0 - share:.0%}")]))


def _tile_layers(m: folium.Map, spec: MapSpec, layers: dict[str, gpd.GeoDataFrame], lang: Lang) -> None:
    """Cut the city-scale layers into the map's own vector tiles and describe how to draw them."""
    tiles = data_tiles(layers, min_zoom=DETAIL_ZOOM, max_zoom=DETAIL_ZOOM)  # one zoom, over-zoomed above it
    m._planner_tiles = [*getattr(m, "_planner_tiles", []), tiles]  # noqa: SLF001 - the page links its script (maps.base)
    drawn = []
    if "demand" in layers:
        drawn += [{"name": t("unserved", lang), "data_layer": "demand", "served": 0, "colour": "#c92a2a", "show": True},
                  {"name": t("served", lang), "data_layer": "demand", "served": 1, "colour": "#2b8a3e", "show": False}]
    if "candidates" in layers:
        drawn.append({"name": t("candidate", lang), "data_layer": "candidates", "colour": CANDIDATE_COLOUR, "show": False})
    spec.tiled = {"id": tiles.script_id, "min_zoom": DETAIL_ZOOM, "max_zoom": tiles.max_zoom, "layers": drawn}


def _targets(plan: Plan) -> set[str]:
    """Levels with a facility target in the plan's scenario (a minimum count of sites)."""
    return {level for level, minimum in (plan.scenario.unit_min or {}).items() if minimum and float(minimum) > 0}


def compliance_map(plan: Plan, *, lang: Lang = "zh", basemap: str | Basemap | BasemapArchive | None = None) -> folium.Map:
    """Planner's compliance map: units coloured by whether they meet the targets — only at the
    levels that have a target; other levels drawn neutral, labelled "no target"."""
    lang = _check_lang(lang)
    bounds = _plan_bounds(plan)
    m, base = new_map(bounds, basemap=basemap)
    targets = "; ".join(f"{c['target_zh'] if lang == 'zh' and 'target_zh' in c else c['target']}: {t('met', lang) if c['met'] else t('not_met', lang)}"
                        for c in plan.compliance)
    spec = _spec(m, base, bounds, lang, labels_units=True, title=f"{t('compliance', lang)} · {plan.scenario.name}",
                 note=_note(targets, plan.summary["data"][lang], _costs_note(plan.summary, lang)))
    exempt = {u for c in plan.compliance for u in c.get("units_exempt", [])}
    with_target = _targets(plan)
    group = plan.scenario.group
    colours_used: set[str] = set()
    for level in ("town", "community"):
        if level not in set(plan.units["level"]):
            continue
        layer = spec.layer(label(ADMIN_LEVELS, level, lang), show=(level == "town" or level in with_target))
        for _, row in display_frame(_units_with_figures(plan, level), base).iterrows():
            if level not in with_target:
                colour, state = "#e9ecef", t("no_target", lang)
            elif row["name"] in exempt:
                colour, state = "#adb5bd", t("exempt", lang)
            elif bool(row.get("compliant", False)):
                colour, state = "#2b8a3e", t("met", lang)
            else:
                colour, state = "#c92a2a", t("not_met", lang)
            colours_used.add(colour)
            share = float(row.get("covered_share", np.nan))
            layer.shape(row.geometry, {"fillColor": colour, "color": "#212529", "weight": 2 if level == "town" else 1, "fillOpacity": 0.5 if level in with_target else 0.15},
                        tooltip=f"{row['name']}: {state}", name=row["name"], label=row["name"], label_level=level,
                        popup=Popup(str(row["name"]), [(label(ADMIN_LEVELS, level, lang), state), (_people_label("residents", group, lang), people(row.get("residents", np.nan))),
                                                       (t("share", lang), f"{share:.0%}" if np.isfinite(share) else "–"),
                                                       (t("facilities", lang), f"{int(row.get('existing_sites', 0) or 0)} / {int(row.get('new_sites', 0) or 0)}"),
                                                       (t("minimum", lang), f"{float(row.get('minimum_sites', 0) or 0):.0f}" if level in with_target else "–")]))
    _add_sites(spec.layer(f"{t('existing', lang)} / {t('new', lang)}"), plan.sites, base, lang, group)
    rows = [LegendRow([(c, "square")], t(k, lang)) for c, k in (("#2b8a3e", "met"), ("#c92a2a", "not_met"), ("#adb5bd", "exempt"), ("#e9ecef", "no_target"))
            if c in colours_used]
    spec.legend(t("compliance", lang), rows)
    return draw(m, spec)


def suggestion_map(plan: Plan, *, office_sites: gpd.GeoDataFrame | None = None, office_plan: Plan | None = None,
                   lang: Lang = "zh", basemap: str | Basemap | BasemapArchive | None = None, suppress_below: float | None = None) -> folium.Map:
    """Street office's map: its town only, the plan's new sites numbered by rank, each with the
    residents it adds and the town's coverage before and after it.

    ``plan`` must be a town scenario (``Scenario(town=...)``).  ``office_sites`` (WGS-84 points
    with ``name``) are the office's own proposals; ``office_plan``, if given, is the same scenario
    restricted to them, so its ``adds_persons`` can be compared with the ranked suggestions.
    ``suppress_below``: counts of people under this many are shown as "<N" (for viewers below
    planner level; see api.privacy).
    """
    lang = _check_lang(lang)
    town = plan.scenario.town
    if not town:
        raise ValueError("suggestion_map needs a plan of one town (Scenario(town=...))")
    units = plan.unit_shapes
    mine = units[(units["level"] == "town") & ((units["unit_id"] == town) | (units["name"] == town))]
    if mine.empty:
        raise ValueError(f"town {town!r} is not a town of region '{plan.region_name}'")
    town_id, town_name = mine["unit_id"].iloc[0], mine["name"].iloc[0]
    group = plan.scenario.group
    bounds = _bounds(mine)
    m, base = new_map(bounds, basemap=basemap)
    steps = coverage_steps(plan)
    s = plan.summary
    spec = _spec(m, base, bounds, lang, labels_units=True, title=f"{t('suggestion', lang)} · {town_name}",
                 note=_note(plan.scenario.name, f"{t('before_after', lang)} ({label(POPULATION_GROUPS, group, lang)}): "
                                                f"{s['covered_by_existing_share']:.0%} → {s['covered_share']:.0%}", s["data"][lang], _costs_note(s, lang)))
    spec.layer(str(town_name)).shape(display_frame(mine, base).geometry.iloc[0], {"fillColor": "#fff3bf", "color": "#e67700", "weight": 3, "fillOpacity": 0.1},
                                     name=town_name)
    communities = units[(units["level"] == "community") & (units["parent_id"] == town_id)]
    if len(communities):
        layer = spec.layer(label(ADMIN_LEVELS, "community", lang))
        for _, row in display_frame(communities, base).iterrows():
            layer.shape(row.geometry, {"fill": False, "color": "#868e96", "weight": 1, "dashArray": "4"}, tooltip=row["name"], name=row["name"],
                        label=row["name"], label_level="community")
    new = plan.sites[plan.sites["plan_status"] == "new"].sort_values("rank")
    existing = plan.sites[plan.sites["plan_status"] != "new"]
    left = plan.candidates[~plan.candidates["selected"].astype(bool)] if len(plan.candidates) and "selected" in plan.candidates else plan.candidates.iloc[:0]
    legend_rows = []
    if len(left):  # the candidates considered and not suggested, e.g. the rest of the office's own list
        layer = spec.layer(t("candidate", lang))
        for (_, row), geom in zip(left.iterrows(), display_frame(left, base).geometry):
            layer.circle(geom.x, geom.y, 5, {"color": CANDIDATE_COLOUR, "fill": True, "fillOpacity": 0.7}, tooltip=row["name"], name=row["name"],
                         popup=Popup(str(row["name"]), [(_people_label("potential", group, lang), people(row.get("potential_persons", np.nan), suppress_below))]))
        legend_rows.append(LegendRow([(CANDIDATE_COLOUR, "circle")], t("candidate", lang)))
    if len(existing):
        _add_sites(spec.layer(t("existing", lang)), existing, base, lang, group, suppress_below)
        legend_rows.append(LegendRow([(EXISTING_COLOUR, "circle")], t("existing", lang)))
    ranked = spec.layer(t("suggestion", lang), declutter=True)
    for k, ((_, row), geom) in enumerate(zip(new.iterrows(), display_frame(new, base).geometry), start=1):
        before, after = steps[k - 1], steps[k]
        adds = people(row.get("adds_persons", np.nan), suppress_below)
        ranked.marker(geom.x, geom.y, colour=NEW_COLOUR, number=k, size_px=28, label_px=14, tooltip=f"{k}. {row['name']}", name=row["name"],
                      popup=Popup(f"{k}. {row['name']}", [(t("rank", lang), k), (_people_label("adds", group, lang), adds),
                                                          (t("before_after", lang), f"{before:.0%} → {after:.0%}"),
                                                          (label(FACILITY_TYPES, row["type"], lang), str(row["name"]))]))
        legend_rows.append(LegendRow([(NEW_COLOUR, "circle")], f"{k}. {row['name']}: +{adds} · {before:.0%} → {after:.0%}"))
    if office_sites is not None and len(office_sites):
        layer = spec.layer(t("office", lang))
        adds_by_name = {}
        if office_plan is not None:
            adds_by_name = dict(zip(office_plan.sites["name"], office_plan.sites.get("adds_persons", pd.Series(dtype=float))))
        for (_, row), geom in zip(office_sites.iterrows(), display_frame(office_sites, base).geometry):
            value = adds_by_name.get(row["name"], np.nan)
            layer.marker(geom.x, geom.y, colour="#5f3dc4", glyph="flag", tooltip=f"{t('office', lang)}: {row['name']}", name=row["name"],
                         popup=Popup(f"{t('office', lang)}: {row['name']}", [(_people_label("adds", group, lang), people(value, suppress_below))]))
            legend_rows.append(LegendRow([("#5f3dc4", "circle")], f"{t('office', lang)}: {row['name']}" + (f": +{people(value, suppress_below)}" if np.isfinite(value) else "")))
    spec.legend(f"{t('suggestion', lang)} ({_people_label('adds', group, lang)}, {t('before_after', lang)})", legend_rows[:16])
    return draw(m, spec)


ROWS_UNDER_MAP = 18
"""Table rows that fit under the map on a portrait A4 plan sheet (8.5 pt)."""
ROWS_PER_PAGE = 46
"""Table rows on an A4 page without a map."""


def plan_print(plan: Plan, payload: dict, *, lang: Lang = "zh", basemap: str | Basemap | BasemapArchive | None = None,
               date: dt.date | None = None) -> folium.Map:
    """A stored plan as A4 pages to print: the map of coverage per unit with the new facilities
    numbered and their list; then the summary and the per-town table (compliance in words), each
    table continued over as many pages as it needs.  Figures and words come from the stored
    ``payload`` (as the workbook's), the map from the stored ``plan``."""
    lang = _check_lang(lang)
    bounds = _plan_bounds(plan)
    m, base = new_map(bounds, basemap=basemap, print_mode=True)
    spec = _spec(m, base, bounds, lang, labels_units=True, title=plan.scenario.name)
    level = _finest_level(plan)
    choropleth = spec.layer("print-units", show=False, control=False)
    for _, row in display_frame(_units_with_figures(plan, level), base).iterrows():
        share = float(row.get("covered_share", np.nan))
        choropleth.shape(row.geometry, {"fillColor": _share_colour(share), "color": "#495057", "weight": 1, "fillOpacity": 0.35},
                         label=row["name"], label_level="town" if level == "town" else level)
    sites = pd.DataFrame(payload["sites"])
    new = sites[sites["plan_status"] == "new"].sort_values("rank").reset_index(drop=True) if len(sites) else sites
    kept = sites[sites["plan_status"] != "new"] if len(sites) else sites
    numbered = spec.layer("print-sites", show=False, control=False, declutter=True)
    for xy in (to_display(kept[["lon", "lat"]].to_numpy(float), base) if len(kept) else []):
        numbered.circle(float(xy[0]), float(xy[1]), 5, {"color": "#ffffff", "weight": 1, "fill": True, "fillColor": EXISTING_COLOUR, "fillOpacity": 0.95})
    for k, xy in enumerate(to_display(new[["lon", "lat"]].to_numpy(float), base) if len(new) else [], start=1):
        numbered.marker(float(xy[0]), float(xy[1]), colour=NEW_COLOUR, number=k, size_px=24, label_px=12)
    items = summary_items(payload, lang)
    values = {key: value for key, _, value in items}
    labels = {key: text for key, text, _ in items}
    day = (date or dt.date.today()).isoformat()
    costs_note = _costs_note(plan.summary, lang)
    lines = [f"{plan.region_name} · {values['facility']} · {labels['standard']}: {values['standard']}",
             f"{labels['share_before']} {values['share_before']} → {labels['share_after']} {values['share_after']} · "
             f"{labels['existing']} {values['existing']} · {labels['new']} {values['new']} · {values['verdict']}",
             t("print_key", lang).format(unit=label(ADMIN_LEVELS, level, lang)),
             _note(f"{t('printed', lang)}: {day}", plan.summary["data"][lang], costs_note)]
    lo = to_display(np.array([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]), base)
    extent = (float(lo[0, 0]), float(lo[0, 1]), float(lo[1, 0]), float(lo[1, 1]))
    new_columns = [t("order", lang), header("name", lang), header("town_name", lang), header("adds_persons", lang)]
    new_rows = [[k, row["name"], row.get("town_name") or "–", people(row.get("adds_persons", np.nan))] for k, (_, row) in enumerate(new.iterrows(), start=1)]
    title = f"{t('plan_sheet', lang)} · {plan.scenario.name}"
    sheets = [Sheet(title=title, lines=lines, layers=["print-units", "print-sites"], bounds=extent, columns=new_columns,
                    rows=new_rows[:ROWS_UNDER_MAP], portrait=True)]
    sheets += _table_pages(f"{title} · {t('new_list', lang)} ({t('continued', lang)})", new_columns, new_rows[ROWS_UNDER_MAP:])
    sheets += _table_pages(f"{title} · {t('summary', lang)}", [header("item", lang), header("value", lang)], [[text, value] for _, text, value in items])
    towns = [u for u in payload.get("units", []) if u.get("level") == "town"]
    if towns:
        columns = [label(ADMIN_LEVELS, "town", lang), header("residents", lang), header("covered_share", lang), f"{header('existing_sites', lang)} / {header('new_sites', lang)}",
                   header("minimum_sites", lang), header("compliance", lang)]
        rows = [[u["name"], people(u.get("residents")), "–" if u.get("covered_share") is None else f"{u['covered_share']:.1%}",
                 f"{u.get('existing_sites', 0)} / {u.get('new_sites', 0)}", u.get("minimum_sites", 0), compliance_word(u, lang)]
                for u in towns]
        sheets += _table_pages(f"{title} · {t('compliance', lang)}", columns, rows)
    spec.sheets = sheets
    return draw(m, spec)


def _table_pages(title: str, columns: list[str], rows: list[list[Any]]) -> list[Sheet]:
    """A table on as many A4 pages (without map) as it needs, its header repeated on each."""
    pages = [rows[k:k + ROWS_PER_PAGE] for k in range(0, len(rows), ROWS_PER_PAGE)]
    return [Sheet(title=title + (f" ({k + 1}/{len(pages)})" if len(pages) > 1 else ""), lines=[], layers=[], bounds=None, columns=columns, rows=page, portrait=True)
            for k, page in enumerate(pages)]


KEEP_COLOUR, FORBID_COLOUR = "#2b8a3e", "#c92a2a"
PICK_STYLES = {"keep": {"color": "#ffffff", "weight": 3, "fillColor": KEEP_COLOUR, "fillOpacity": 1.0},
               "forbid": {"color": FORBID_COLOUR, "weight": 3, "fillColor": "#ffffff", "fillOpacity": 1.0, "dashArray": "3 2"}}
"""How picked sites are drawn: kept ones filled green, forbidden ones a dashed red ring (told apart without colour too)."""


def site_picker_map(region: Region, facility_type: str, *, lang: Lang = "zh", basemap: str | Basemap | BasemapArchive | None = None) -> folium.Map:
    """The region's towns and the existing and candidate sites of ``facility_type``, for picking
    sites to keep or forbid in a scenario: embedded in the app, a click on a site is reported to the
    app, which answers with the sites' states (see MapSpec.pick)."""
    lang = _check_lang(lang)
    bounds = _bounds(region.units)
    m, base = new_map(bounds, basemap=basemap)
    spec = _spec(m, base, bounds, lang, labels_units=True, title=f"{t('pick', lang)} · {label(FACILITY_TYPES, facility_type, lang)}",
                 note=_note(t("pick_note", lang), region.name))
    spec.pick = {"styles": PICK_STYLES}
    towns = region.units_at("town")
    layer = spec.layer(label(ADMIN_LEVELS, "town", lang))
    for _, row in display_frame(towns, base).iterrows():
        layer.shape(row.geometry, {"fill": False, "color": "#495057", "weight": 2, "dashArray": "6 4"}, name=row["name"], label=row["name"], label_level="town")
    sites = sites_for(region, facility_type)
    shown = display_frame(sites, base)
    legend_rows = []
    for status, colour in (("candidate", CANDIDATE_COLOUR), ("existing", EXISTING_COLOUR)):
        mine = (sites["status"] == status).to_numpy()
        if not mine.any():
            continue
        legend_rows.append(LegendRow([(colour, "circle")], t(status, lang)))
        layer = spec.layer(t(status, lang))
        for (_, row), geom in zip(sites[mine].iterrows(), shown.geometry[mine]):
            layer.circle(geom.x, geom.y, 6, {"color": "#ffffff", "weight": 1.5, "fill": True, "fillColor": colour, "fillOpacity": 0.95},
                         tooltip=f"{row['name']} · {t(status, lang)}", name=row["name"], pick=row["site_id"])
    spec.legend(t("pick", lang), [*legend_rows, LegendRow([(KEEP_COLOUR, "circle")], t("keep", lang)), LegendRow([(FORBID_COLOUR, "circle")], t("forbid", lang))])
    return draw(m, spec)


def coverage_steps(plan: Plan) -> list[float]:
    """The covered share of the plan's residents before any new site and after each new site in
    rank order (each site's ``adds_persons`` counted on top of the ones before it)."""
    total = float(plan.summary.get("residents_in_group") or 0.0)
    before = float(plan.summary.get("covered_by_existing_share") or 0.0)
    new = plan.sites[plan.sites["plan_status"] == "new"].sort_values("rank")
    if total <= 0:
        return [before] * (len(new) + 1)
    covered = before * total
    steps = [before]
    for adds in new.get("adds_persons", pd.Series(dtype=float)).fillna(0.0).to_numpy(float):
        covered += adds
        steps.append(min(covered / total, 1.0))
    return steps


def patrol_map(plan: PatrolPlan, *, lang: Lang = "zh", basemap: str | Basemap | BasemapArchive | None = None, print_mode: bool = False,
               date: dt.date | None = None) -> folium.Map:
    """Patrol team's map: one colour per team, numbered stops with arrival times, road paths with
    arrows, the depot; each team's round time includes the time at the stops.

    ``print_mode=True``: one A4 sheet per team instead — header (team, ``date``, shift, round time),
    the team's route fitted to the page whatever the window size, and its timetable (order,
    stop, arrival, task, supplies)."""
    lang = _check_lang(lang)
    legs = plan.legs_frame()
    stops = plan.stops_frame()
    extent = pd.concat([legs.geometry, stops.geometry, plan.depots.geometry]) if len(legs) else plan.depots.geometry
    bounds = _bounds(gpd.GeoDataFrame(geometry=gpd.GeoSeries(extent, crs=4326)))
    m, base = new_map(bounds, basemap=basemap, print_mode=print_mode)
    s = plan.summary
    data = s["data"][lang] if isinstance(s["data"], dict) else str(s["data"])
    round_min = sum(r.return_min - r.departure_min for r in plan.routes)
    spec = _spec(m, base, bounds, lang, title=f"{t('patrol', lang)} · {s['region']}",
                 note=_note(f"{s['visited']}/{s['stops']} {t('stop', lang)}", f"{t('round', lang)} {round_min:.0f} min ({t('moving', lang)} {s['travel_min']:.0f} min)",
                            data, _costs_note(s, lang)), control_collapsed=True)
    label_px, size = (14, 30) if print_mode else (12, 26)
    legend_rows = []
    for k, route in enumerate(plan.routes):
        colour = TEAM_COLOURS[k % len(TEAM_COLOURS)]
        layer = spec.layer(route.team, declutter=True)
        for _, leg in display_frame(legs[legs["team"] == route.team], base).iterrows():
            if leg.geometry.geom_type == "LineString":
                layer.line(leg.geometry.coords, {"color": colour, "weight": 5 if print_mode else 4, "opacity": 0.85}, arrows=True, arrow_px=14 if print_mode else 12,
                           tooltip=f"{route.team}: {leg['from']} → {leg['to']} ({leg['minutes']:.0f} min)")
        mine = stops[stops["team"] == route.team]
        for (_, row), geom in zip(mine.iterrows(), display_frame(mine, base).geometry):
            layer.marker(geom.x, geom.y, colour=colour, number=int(row["order"]), size_px=size, label_px=label_px, name=row["name"],
                         tooltip=f"{int(row['order'])}. {row['name']} · {row['arrival']}",
                         popup=Popup(f"{int(row['order'])}. {row['name']}", [(t("team", lang), route.team), (t("stop", lang), label(PATROL_STOP_KINDS, row["kind"], lang)),
                                                                             (t("arrival", lang), row["arrival"]), (t("departure", lang), row["departure"]),
                                                                             (t("priority", lang), row["priority"])]))
        legend_rows.append(LegendRow([(colour, "circle")], f"{route.team} · {label(TEAM_MODES, route.mode, lang)} · {len(route.stops)} {t('stop', lang)} · "
                                                           f"{route.return_min - route.departure_min:.0f} min ({t('moving', lang)} {route.travel_min:.0f}) · {route.distance_m / 1000:.1f} km"))
    depots = spec.layer(t("depot", lang), control=False)
    for (_, row), xy in zip(plan.depots.iterrows(), to_display(np.column_stack([plan.depots.geometry.x, plan.depots.geometry.y]), base)):
        depots.marker(xy[0], xy[1], colour="#212529", glyph="house-flag", size_px=size + 4, tooltip=f"{t('depot', lang)}: {row['name']}", name=row["name"],
                      popup=Popup(None, [(t("depot", lang), row["name"])]))
    legend_rows.append(LegendRow([("#212529", "circle")], t("depot", lang)))
    spec.legend(t("team", lang), legend_rows, font_px=13)
    if print_mode:
        spec.sheets = patrol_sheets(plan, legs, stops, base, lang, date or dt.date.today())
    return draw(m, spec)


def _task(plan: PatrolPlan, kind: str, lang: Lang) -> str:
    campaign = plan.summary.get("campaign")
    what = label(PATROL_STOP_KINDS, kind, lang)
    return f"{t(campaign, lang)} · {what}" if campaign in ("heat", "cold") else f"{t('patrol_task', lang)} · {what}"


def patrol_sheets(plan: PatrolPlan, legs: gpd.GeoDataFrame, stops: gpd.GeoDataFrame, base: Basemap, lang: Lang, date: dt.date) -> list[Sheet]:
    """One print sheet per team: header, the team's layer and the depot fitted, the timetable."""
    sheets = []
    campaign = plan.summary.get("campaign")
    shifts = {team["name"]: team["shift"] for team in plan.summary.get("teams", [])}
    for route in plan.routes:
        mine = stops[stops["team"] == route.team]
        depot = plan.depots[plan.depots["name"] == route.depot]
        extent = pd.concat([legs[legs["team"] == route.team].geometry, mine.geometry, depot.geometry])
        lo = to_display(np.asarray(gpd.GeoSeries(extent, crs=4326).total_bounds).reshape(2, 2), base)
        shift = next((v for k, v in shifts.items() if route.team == k or route.team.startswith(f"{k} ")), None)
        lines = [f"{t('date', lang)}: {date.isoformat()} · {t('shift', lang)}: {' – '.join(shift) if shift else '–'} · "
                 f"{t('depot', lang)}: {route.depot} · {label(TEAM_MODES, route.mode, lang)}",
                 f"{len(mine)} {t('stop', lang)} · {t('round', lang)} {route.return_min - route.departure_min:.0f} min "
                 f"({t('moving', lang)} {route.travel_min:.0f} min, {route.distance_m / 1000:.1f} km) · "
                 f"{t('departure', lang)} {clock_text(route.departure_min)} · {t('return', lang)} {clock_text(route.return_min)}"]
        columns = [t("order", lang), t("stop", lang), t("arrival", lang), t("task", lang)] + ([t("supplies", lang)] if campaign else [])
        rows = [[int(r["order"]), r["name"], r["arrival"], _task(plan, r["kind"], lang)] + ([int(r["load"])] if campaign else []) for _, r in mine.iterrows()]
        sheets.append(Sheet(title=f"{t('sheet', lang)} · {route.team}", lines=lines, layers=[route.team, t("depot", lang)],
                            bounds=(float(lo[0, 0]), float(lo[0, 1]), float(lo[1, 0]), float(lo[1, 1])), columns=columns, rows=rows, team=route.team))
    return sheets


def clock_text(minutes: float) -> str:
    """Minutes after the first midnight as HH:MM, "(+1)" on the next day."""
    day, rest = divmod(int(round(minutes)), 1440)
    return f"{rest // 60:02d}:{rest % 60:02d}" + (f" (+{day})" if day else "")
