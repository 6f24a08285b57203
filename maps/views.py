"""One map per user need, drawn from a Plan or a PatrolPlan alone (no solving, no region, no geometry computed here).

* :func:`coverage_map` (planner): demand by unit and unserved points, existing and proposed
  facilities, service areas, popups with the numbers;
* :func:`compliance_map` (planner): each town/community coloured by whether it meets its targets;
* :func:`suggestion_map` (street office): its own town, ranked candidates numbered 1..k with the
  residents each adds, and the office's own proposals beside them;
* :func:`patrol_map` (patrol team): one colour per team, numbered stops with arrival times, road
  paths, the depot; ``print_mode`` for A4 with large labels.

Every builder takes ``lang="zh"|"en"`` and ``basemap`` (see :mod:`maps.base`) and returns a
``folium.Map``; save it with :func:`maps.base.save_map`.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.vocabulary import ADMIN_LEVELS, FACILITY_TYPES, PATROL_STOP_KINDS, POPULATION_GROUPS, TEAM_MODES, label
from maps.base import Basemap, Fullscreen, Lang, Legend, Title, display_frame, icon, new_map, popup_table, swatch, to_display
from planner.routing.patrol import PatrolPlan
from planner.scenario import Plan

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


def _add_sites(fg: folium.FeatureGroup, sites: gpd.GeoDataFrame, base: Basemap, lang: Lang, group: str) -> None:
    shown = display_frame(sites, base)
    for (_, row), geom in zip(sites.iterrows(), shown.geometry):
        status = row.get("plan_status", "existing")
        colour = NEW_COLOUR if status == "new" else EXISTING_COLOUR
        rows = [
            (label(FACILITY_TYPES, row["type"], lang), t("new" if status == "new" else "existing", lang)),
            (t("adds", lang), row.get("adds_persons", np.nan)),
            (t("covered", lang) + " (" + label(POPULATION_GROUPS, group, lang) + ")", row.get("assigned_persons", np.nan)),
            (t("capacity", lang), row.get("capacity") if pd.notna(row.get("capacity")) else "–"),
        ]
        folium.Marker([geom.y, geom.x], icon=icon(GLYPHS.get(row["type"], "circle"), colour), tooltip=str(row["name"]),
                      popup=popup_table(rows, str(row["name"]))).add_to(fg)


def coverage_map(plan: Plan, *, service_areas: gpd.GeoDataFrame | None = None, lang: Lang = "zh",
                 basemap: str | Basemap | None = None, show_candidates: bool = True) -> folium.Map:
    """Planner's coverage map of one plan (see module docstring), drawn from the plan alone."""
    lang = _check_lang(lang)
    m, base = new_map(_plan_bounds(plan), basemap=basemap)
    s = plan.summary
    group = plan.scenario.group
    level = _finest_level(plan)
    units = display_frame(_units_with_figures(plan, level), base)
    choropleth = folium.FeatureGroup(name=f"{t('share', lang)} ({label(ADMIN_LEVELS, level, lang)})")
    for _, row in units.iterrows():
        share = float(row.get("covered_share", np.nan))
        gj = folium.GeoJson(row.geometry.__geo_interface__, style_function=lambda _f, c=_share_colour(share): {"fillColor": c, "color": "#495057", "weight": 1, "fillOpacity": 0.45})
        popup_table([(t("residents", lang), row.get("residents", np.nan)), (t("covered", lang), row.get("covered", np.nan)),
                     (t("share", lang), f"{share:.0%}" if np.isfinite(share) else "–"), (t("minutes", lang), row.get("mean_min", np.nan)),
                     (t("worst", lang), row.get("worst_min", np.nan))], str(row["name"])).add_to(gj)
        gj.add_to(choropleth)
    choropleth.add_to(m)
    if service_areas is not None and len(service_areas):
        areas = folium.FeatureGroup(name=f"{t('service_area', lang)} ({plan.scenario.standard_min:g} min)")
        for _, row in display_frame(service_areas, base).iterrows():
            colour = NEW_COLOUR if row["plan_status"] == "new" else EXISTING_COLOUR
            folium.GeoJson(row.geometry.__geo_interface__, style_function=lambda _f, c=colour: {"fillColor": c, "color": c, "weight": 1, "fillOpacity": 0.12},
                           tooltip=f"{row['name']}: {t('service_area', lang)}").add_to(areas)
        areas.add_to(m)
    demand = display_frame(plan.demand, base)
    weights = plan.demand[group].to_numpy(float) if group in plan.demand else np.ones(len(plan.demand))
    unserved = folium.FeatureGroup(name=t("unserved", lang))
    served = folium.FeatureGroup(name=t("served", lang), show=False)
    for (_, row), geom, w in zip(plan.demand.iterrows(), demand.geometry, weights):
        if w <= 0:
            continue
        ok = bool(row["within_standard"])
        radius = float(np.clip(2 + np.sqrt(w), 3, 12))
        folium.CircleMarker([geom.y, geom.x], radius=radius, color="#2b8a3e" if ok else "#c92a2a", weight=1, fill=True,
                            fill_opacity=0.5 if ok else 0.85,
                            tooltip=f"{label(POPULATION_GROUPS, group, lang)}: {w:.1f}; {row['nearest_cost']:.1f} min").add_to(served if ok else unserved)
    served.add_to(m)
    unserved.add_to(m)
    if show_candidates and len(plan.candidates):
        cands = folium.FeatureGroup(name=t("candidate", lang), show=False)
        shown = display_frame(plan.candidates, base)
        for (_, row), geom in zip(plan.candidates.iterrows(), shown.geometry):
            if row.get("selected"):
                continue
            folium.CircleMarker([geom.y, geom.x], radius=4, color=CANDIDATE_COLOUR, fill=True, fill_opacity=0.7,
                                popup=popup_table([(t("potential", lang), row.get("potential_persons", np.nan))], str(row["name"]))).add_to(cands)
        cands.add_to(m)
    sites = folium.FeatureGroup(name=f"{t('existing', lang)} / {t('new', lang)}")
    _add_sites(sites, plan.sites, base, lang, group)
    sites.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    note = f"{label(POPULATION_GROUPS, group, lang)} {t('share', lang)}: {s['covered_by_existing_share']:.0%} → {s['covered_share']:.0%} · {s['data'][lang]}"
    Title(f"{t('coverage', lang)} · {plan.scenario.name}", note).add_to(m)
    Legend(t("coverage", lang), [
        (swatch(EXISTING_COLOUR), t("existing", lang)), (swatch(NEW_COLOUR), t("new", lang)),
        (swatch(CANDIDATE_COLOUR), t("candidate", lang)), (swatch("#c92a2a"), t("unserved", lang)), (swatch("#2b8a3e"), t("served", lang)),
        (swatch(_share_colour(0.0), "square") + swatch(_share_colour(0.5), "square") + swatch(_share_colour(1.0), "square"), f"{t('share', lang)} 0 → 100%"),
    ]).add_to(m)
    Fullscreen(t("fullscreen", lang)).add_to(m)
    return m


def compliance_map(plan: Plan, *, lang: Lang = "zh", basemap: str | Basemap | None = None) -> folium.Map:
    """Planner's compliance map: towns and communities coloured by whether they meet the targets."""
    lang = _check_lang(lang)
    m, base = new_map(_plan_bounds(plan), basemap=basemap)
    exempt = {u for c in plan.compliance for u in c.get("units_exempt", [])}
    for level in ("town", "community"):
        if level not in set(plan.units["level"]):
            continue
        units = display_frame(_units_with_figures(plan, level), base)
        fg = folium.FeatureGroup(name=label(ADMIN_LEVELS, level, lang), show=(level == "town"))
        for _, row in units.iterrows():
            if row["name"] in exempt and level == "town":
                colour, state = "#adb5bd", t("exempt", lang)
            elif bool(row.get("compliant", False)):
                colour, state = "#2b8a3e", t("met", lang)
            else:
                colour, state = "#c92a2a", t("not_met", lang)
            gj = folium.GeoJson(row.geometry.__geo_interface__, style_function=lambda _f, c=colour: {"fillColor": c, "color": "#212529", "weight": 2 if level == "town" else 1, "fillOpacity": 0.5},
                                tooltip=f"{row['name']}: {state}")
            share = float(row.get("covered_share", np.nan))
            popup_table([(label(ADMIN_LEVELS, level, lang), state), (t("residents", lang), row.get("residents", np.nan)),
                         (t("share", lang), f"{share:.0%}" if np.isfinite(share) else "–"),
                         (t("facilities", lang), f"{int(row.get('existing_sites', 0) or 0)} / {int(row.get('new_sites', 0) or 0)}"),
                         (t("minimum", lang), row.get("minimum_sites", 0))], str(row["name"])).add_to(gj)
            gj.add_to(fg)
        fg.add_to(m)
    sites = folium.FeatureGroup(name=f"{t('existing', lang)} / {t('new', lang)}")
    _add_sites(sites, plan.sites, base, lang, plan.scenario.group)
    sites.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    targets = "; ".join(f"{c['target_zh'] if lang == 'zh' and 'target_zh' in c else c['target']}: {t('met', lang) if c['met'] else t('not_met', lang)}" for c in plan.compliance)
    Title(f"{t('compliance', lang)} · {plan.scenario.name}", " · ".join(x for x in (targets, plan.summary["data"][lang]) if x)).add_to(m)
    Legend(t("compliance", lang), [(swatch("#2b8a3e", "square"), t("met", lang)), (swatch("#c92a2a", "square"), t("not_met", lang)),
                                   (swatch("#adb5bd", "square"), t("exempt", lang))]).add_to(m)
    Fullscreen(t("fullscreen", lang)).add_to(m)
    return m


def suggestion_map(plan: Plan, *, office_sites: gpd.GeoDataFrame | None = None, office_plan: Plan | None = None,
                   lang: Lang = "zh", basemap: str | Basemap | None = None, suppress_below: float | None = None) -> folium.Map:
    """Street office's map: its town only, the plan's new sites numbered by rank with residents added.

    ``plan`` must be a town scenario (``Scenario(town=...)``).  ``office_sites`` (WGS-84 points
    with ``name``) are the office's own proposals; ``office_plan``, if given, is the same scenario
    restricted to them, so its ``adds_persons`` can be compared with the ranked suggestions.
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
    m, base = new_map(_bounds(mine), basemap=basemap)
    outline = display_frame(mine, base)
    folium.GeoJson(outline.geometry.iloc[0].__geo_interface__, name=town_name,
                   style_function=lambda _f: {"fillColor": "#fff3bf", "color": "#e67700", "weight": 3, "fillOpacity": 0.15}).add_to(m)
    communities = units[(units["level"] == "community") & (units["parent_id"] == town_id)]
    if len(communities):
        fg = folium.FeatureGroup(name=label(ADMIN_LEVELS, "community", lang))
        for _, row in display_frame(communities, base).iterrows():
            folium.GeoJson(row.geometry.__geo_interface__, style_function=lambda _f: {"fill": False, "color": "#868e96", "weight": 1, "dashArray": "4"},
                           tooltip=str(row["name"])).add_to(fg)
        fg.add_to(m)
    new = plan.sites[plan.sites["plan_status"] == "new"].sort_values("rank")
    existing = plan.sites[plan.sites["plan_status"] != "new"]
    fg_exist = folium.FeatureGroup(name=t("existing", lang))
    _add_sites(fg_exist, existing, base, lang, plan.scenario.group)
    fg_exist.add_to(m)
    ranked = folium.FeatureGroup(name=t("suggestion", lang))
    shown = display_frame(new, base)
    legend_rows = []
    for k, ((_, row), geom) in enumerate(zip(new.iterrows(), shown.geometry), start=1):
        folium.Marker([geom.y, geom.x], icon=icon("", NEW_COLOUR, number=k, size=28, label_px=14), tooltip=f"{k}. {row['name']}",
                      popup=popup_table([(t("rank", lang), k), (t("adds", lang), row.get("adds_persons", np.nan)),
                                         (label(FACILITY_TYPES, row["type"], lang), str(row["name"]))], f"{k}. {row['name']}")).add_to(ranked)
        legend_rows.append((swatch(NEW_COLOUR), f"{k}. {row['name']}: +{row.get('adds_persons', 0):.0f}"))
    ranked.add_to(m)
    if office_sites is not None and len(office_sites):
        fg_office = folium.FeatureGroup(name=t("office", lang))
        adds = {}
        if office_plan is not None:
            adds = dict(zip(office_plan.sites["name"], office_plan.sites.get("adds_persons", pd.Series(dtype=float))))
        for (_, row), geom in zip(office_sites.iterrows(), display_frame(office_sites, base).geometry):
            value = adds.get(row["name"], np.nan)
            folium.Marker([geom.y, geom.x], icon=icon("flag", "#5f3dc4", size=26), tooltip=f"{t('office', lang)}: {row['name']}",
                          popup=popup_table([(t("adds", lang), value)], f"{t('office', lang)}: {row['name']}")).add_to(fg_office)
            legend_rows.append((swatch("#5f3dc4"), f"{t('office', lang)}: {row['name']}" + (f": +{value:.0f}" if np.isfinite(value) else "")))
        fg_office.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    Title(f"{t('suggestion', lang)} · {town_name}", f"{plan.scenario.name} · {plan.summary['data'][lang]}").add_to(m)
    Legend(f"{t('suggestion', lang)} ({t('adds', lang)})", legend_rows[:15]).add_to(m)
    Fullscreen(t("fullscreen", lang)).add_to(m)
    return m


def patrol_map(plan: PatrolPlan, *, lang: Lang = "zh", basemap: str | Basemap | None = None, print_mode: bool = False) -> folium.Map:
    """Patrol team's map: one colour per team, numbered stops with arrival times, road paths, depot."""
    lang = _check_lang(lang)
    legs = plan.legs_frame()
    stops = plan.stops_frame()
    extent = pd.concat([legs.geometry, stops.geometry, plan.depots.geometry]) if len(legs) else plan.depots.geometry
    b = gpd.GeoSeries(extent, crs=4326).total_bounds
    m, base = new_map((b[0], b[1], b[2], b[3]), basemap=basemap, print_mode=print_mode)
    label_px, size = (15, 32) if print_mode else (12, 26)
    legend_rows = []
    for k, route in enumerate(plan.routes):
        colour = TEAM_COLOURS[k % len(TEAM_COLOURS)]
        fg = folium.FeatureGroup(name=route.team)
        for _, leg in display_frame(legs[legs["team"] == route.team], base).iterrows():
            if leg.geometry.geom_type == "LineString":
                coords = [[y, x] for x, y in leg.geometry.coords]
                folium.PolyLine(coords, color=colour, weight=6 if print_mode else 4, opacity=0.85,
                                tooltip=f"{route.team}: {leg['from']} → {leg['to']} ({leg['minutes']:.0f} min)").add_to(fg)
        mine = stops[stops["team"] == route.team]
        for (_, row), geom in zip(mine.iterrows(), display_frame(mine, base).geometry):
            kind = label(PATROL_STOP_KINDS, row["kind"], lang)
            folium.Marker([geom.y, geom.x], icon=icon("", colour, number=int(row["order"]), size=size, label_px=label_px),
                          tooltip=f"{int(row['order'])}. {row['name']} · {row['arrival']}",
                          popup=popup_table([(t("team", lang), route.team), (t("stop", lang), kind), (t("arrival", lang), row["arrival"]),
                                             (t("departure", lang), row["departure"]), (t("priority", lang), row["priority"])],
                                            f"{int(row['order'])}. {row['name']}")).add_to(fg)
        fg.add_to(m)
        legend_rows.append((swatch(colour), f"{route.team} · {label(TEAM_MODES, route.mode, lang)} · {len(route.stops)} {t('stop', lang)} · "
                                            f"{route.travel_min:.0f} min · {route.distance_m / 1000:.1f} km"))
    for (_, row), xy in zip(plan.depots.iterrows(), to_display(np.column_stack([plan.depots.geometry.x, plan.depots.geometry.y]), base)):
        folium.Marker([xy[1], xy[0]], icon=icon("house-flag", "#212529", size=size + 4), tooltip=f"{t('depot', lang)}: {row['name']}",
                      popup=popup_table([(t("depot", lang), row["name"])])).add_to(m)
    legend_rows.append((swatch("#212529"), t("depot", lang)))
    folium.LayerControl(collapsed=True).add_to(m)
    s = plan.summary
    data = s["data"][lang] if isinstance(s["data"], dict) else str(s["data"])
    note = f"{s['visited']}/{s['stops']} {t('stop', lang)} · {s['travel_min']:.0f} min · {data}"
    Title(f"{t('patrol', lang)} · {s['region']}", note, font_px=16 if print_mode else 13).add_to(m)
    Legend(t("team", lang), legend_rows, font_px=15 if print_mode else 13).add_to(m)
    Fullscreen(t("fullscreen", lang)).add_to(m)
    return m
