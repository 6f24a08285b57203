"""A hierarchy scenario (市级龙头 / 镇街示范 / 村居场所) between its stored form and the planner:
the job's task from a stored spec, and the result's sites as GeoJSON (used by the API and the CLI)."""

from __future__ import annotations

import json

from api.jobs import HierarchyTask
from planner.scenario import Scenario


def hierarchy_task(spec: dict) -> HierarchyTask:
    """The job's task from a stored hierarchy scenario."""
    from planner.scenario import LevelSpec

    levels = tuple(LevelSpec(lv["name"], tuple(lv["site_types"]), lv["unit_level"], existing_types=tuple(lv["existing_types"]) if lv["existing_types"] else None,
                             minimum=float(lv["minimum"]), maximum=float("inf") if lv["maximum"] is None else float(lv["maximum"]),
                             standard_min=float(lv["standard_min"]), weight=float(lv["weight"]), n_new=lv["n_new"]) for lv in spec["levels"])
    return HierarchyTask(levels, spec["group"], spec["mode"], float(spec["time_limit"]))


def hierarchy_geojson(result: dict) -> str:
    """A hierarchy result's open sites, every level, as GeoJSON (WGS-84)."""
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                 "properties": {**{k: v for k, v in s.items() if k not in ("lon", "lat")}, "level": level["name"]}}
                for level in result.get("levels", []) for s in level["sites"]]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def job_task(spec: dict) -> "Scenario | HierarchyTask":
    """What a stored scenario spec runs as a job: a hierarchy of levels or one scenario
    (ValueError naming the field when the spec is not valid)."""
    from api.state import scenario_of

    return hierarchy_task(spec) if spec.get("kind") == "hierarchy" else scenario_of(spec)
