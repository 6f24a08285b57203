"""Personal data by role.

Counts of elders living alone and aged 80+ at a building are personal information — under China's
Personal Information Protection Law the whereabouts of elders living alone are sensitive.  What a
role may read:

* **admin, planner** — everything, per demand point;
* **street office** — its own town only; people as *counts per community*, every count under
  ``min_count`` (default 5) suppressed (``null``); never a demand point;
* **patrol** — what a patrol needs: units, facilities (stations), patrol spots; no demand, no
  case records.

:data:`LAYER_ACCESS` is the table the service enforces (docs/PRIVACY.md prints it).
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.region import Region
from geodata.vocabulary import GROUP_COLUMNS

SENSITIVE_GROUPS = ("pop_80", "pop_alone")
"""Groups whose small counts identify people; below planner level their figures are suppressed."""
SITE_COUNT_FIELDS = ("adds_persons", "sole_persons", "assigned_persons")
"""Per-site counts of people in a plan."""

LAYER_ACCESS: dict[str, dict[str, str]] = {
    "units": {"planner": "all", "street_office": "own town", "patrol": "all"},
    "sites": {"planner": "all", "street_office": "own town", "patrol": "all"},
    "patrol_spots": {"planner": "all", "street_office": "own town", "patrol": "all"},
    "demand": {"planner": "points", "street_office": "communities of own town, counts < 5 suppressed", "patrol": "no"},
    "incidents": {"planner": "all", "street_office": "no", "patrol": "no"},
    "buildings": {"planner": "all", "street_office": "no", "patrol": "no"},
}
"""Layer → role → what that role sees (admins see what planners see)."""


def suppress(values: pd.Series | np.ndarray, min_count: float) -> pd.Series:
    """Counts under ``min_count`` (but above 0) replaced by None; the rest rounded to whole persons."""
    series = pd.Series(values, dtype=float)
    rounded = series.round(0)
    return rounded.astype(object).where(~((series > 0) & (series < min_count)) & series.notna(), None)


def demand_by_community(region: Region, town: str, min_count: float) -> gpd.GeoDataFrame:
    """A town's people as counts per community (polygons), small counts suppressed."""
    demand = region.demand[region.demand.get("town") == town] if "town" in region.demand else region.demand.iloc[:0]
    communities = region.units[(region.units["level"] == "community") & (region.units["parent_id"] == town)]
    groups = [g for g in GROUP_COLUMNS if g in demand]
    if len(communities) and "community" in demand:
        sums = demand.groupby("community")[groups].sum()
        frame = communities[["unit_id", "name", "geometry"]].merge(sums, left_on="unit_id", right_index=True, how="left").fillna({g: 0.0 for g in groups})
    else:  # no communities: the town as one unit
        town_row = region.units[region.units["unit_id"] == town][["unit_id", "name", "geometry"]]
        frame = town_row.assign(**{g: float(demand[g].sum()) for g in groups})
    for g in groups:
        frame[g] = suppress(frame[g].to_numpy(), min_count).to_numpy()
    frame["town"] = town
    frame["suppressed_below"] = min_count
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=region.units.crs).reset_index(drop=True)


def summary_for(role: str, summary: dict[str, Any], min_count: float) -> dict[str, Any]:
    """A region summary fit for ``role``: below planner level, small per-town counts suppressed and
    the build issues (which list row numbers of the population file) left out."""
    if role in ("admin", "planner"):
        return summary
    out = dict(summary)
    out["population_by_town"] = {
        town: {g: (None if 0 < float(v) < min_count else round(float(v))) for g, v in groups.items()}
        for town, groups in summary.get("population_by_town", {}).items()
    }
    out["issues"] = [f"{len(summary.get('issues', []))} data issue(s); planners can read them"] if summary.get("issues") else []
    return out


def plan_payload_for(role: str, payload: dict[str, Any], min_count: float) -> dict[str, Any]:
    """A stored plan's JSON fit for ``role``: below planner level, per-unit counts under ``min_count``
    suppressed, and for the sensitive groups the per-site counts too."""
    if role in ("admin", "planner"):
        return payload
    out = dict(payload)
    units = []
    for row in payload.get("units", []):
        row = dict(row)
        for key in ("residents", "covered"):
            if row.get(key) is not None and 0 < float(row[key]) < min_count:
                row[key] = None
                row["covered_share"] = None
        units.append(row)
    out["units"] = units
    if payload.get("summary", {}).get("group") in SENSITIVE_GROUPS:
        sites = []
        for row in payload.get("sites", []):
            row = dict(row)
            for key in SITE_COUNT_FIELDS:
                if row.get(key) is not None and 0 < float(row[key]) < min_count:
                    row[key] = None
            sites.append(row)
        out["sites"] = sites
    return out



def geojson_for(role: str, text: str, group: str | None, min_count: float) -> str:
    """A stored plan's GeoJSON fit for ``role``: below planner level and for the sensitive groups,
    per-site counts under ``min_count`` replaced by null."""
    if role in ("admin", "planner") or group not in SENSITIVE_GROUPS:
        return text
    collection = json.loads(text)
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        for key in SITE_COUNT_FIELDS:
            value = props.get(key)
            if isinstance(value, (int, float)) and 0 < float(value) < min_count:
                props[key] = None
    return json.dumps(collection, ensure_ascii=False)
