"""Plans and patrol plans as immutable snapshots on disk: every later output is drawn from them.

A stored plan is never solved again: its map, Excel, GeoJSON and compliance come from what was
written when it was made (open sites, candidates, every demand point's nearest site and cost,
the unit figures and outlines, compliance, the solver's report, the scenario and the region
version).  A snapshot is a folder written atomically (a temporary folder renamed into place) and
never changed after.

* :func:`save_plan` / :func:`load_plan` — a :class:`~planner.scenario.Plan`;
* :func:`save_patrol` / :func:`load_patrol` — a :class:`~planner.routing.patrol.PatrolPlan`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.errors import DataError
from geodata.export import json_default
from planner.routing.patrol import PatrolPlan, PatrolRoute
from planner.scenario import Plan, Scenario

SNAPSHOT_FORMAT = 1
_PLAN_LAYERS = ("sites", "candidates", "demand", "unit_shapes")


def _atomic_folder(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        raise FileExistsError(f"snapshot {folder} exists already; snapshots are never overwritten")
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))


def _finish(tmp: Path, folder: Path) -> Path:
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False, default=json_default), encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"the stored snapshot cannot be read: {exc}", source=path) from exc


def save_plan(plan: Plan, folder: str | Path) -> Path:
    """Write ``plan`` into a new folder ``folder`` (refused if it exists); returns the folder."""
    folder = Path(folder)
    tmp = _atomic_folder(folder)
    try:
        for name in _PLAN_LAYERS:
            frame: gpd.GeoDataFrame = getattr(plan, name)
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        plan.units.to_parquet(tmp / "units.parquet", index=False)
        _write_json(tmp / "plan.json", {"format": SNAPSHOT_FORMAT, "scenario": asdict(plan.scenario), "summary": plan.summary,
                                        "compliance": plan.compliance})
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _finish(tmp, folder)


def load_plan(folder: str | Path) -> Plan:
    """The :class:`Plan` written by :func:`save_plan`, exactly as it was."""
    folder = Path(folder)
    meta = _read_json(folder / "plan.json")
    if meta.get("format") != SNAPSHOT_FORMAT:
        raise DataError(f"unknown snapshot format {meta.get('format')!r}", source=folder)
    known = {f.name for f in fields(Scenario)}
    scenario = Scenario(**{k: v for k, v in meta["scenario"].items() if k in known})
    try:
        layers = {name: gpd.read_parquet(folder / f"{name}.parquet") for name in _PLAN_LAYERS}
        units = pd.read_parquet(folder / "units.parquet")
    except Exception as exc:  # noqa: BLE001 - any unreadable layer is a broken snapshot
        raise DataError(f"the stored snapshot cannot be read: {exc}", source=folder) from exc
    units = units.astype(object).where(units.notna(), None).infer_objects() if len(units) else units
    return Plan(scenario, layers["sites"], layers["candidates"], units, meta["compliance"], meta["summary"], layers["demand"], layers["unit_shapes"])


def save_patrol(patrol: PatrolPlan, folder: str | Path) -> Path:
    """Write ``patrol`` (routes with their road geometry, stops, unserved, depots) into a new folder."""
    folder = Path(folder)
    tmp = _atomic_folder(folder)
    try:
        routes = [{"team": r.team, "mode": r.mode, "depot": r.depot, "legs": [np.asarray(leg).tolist() for leg in r.legs],
                   "leg_minutes": list(map(float, r.leg_minutes)), "leg_metres": list(map(float, r.leg_metres)),
                   "departure_min": float(r.departure_min), "return_min": float(r.return_min), "load": int(r.load)}
                  for r in patrol.routes]
        for k, r in enumerate(patrol.routes):
            r.stops.to_parquet(tmp / f"stops-{k}.parquet", index=False)
        patrol.depots.to_parquet(tmp / "depots.parquet", index=False)
        patrol.unserved.to_parquet(tmp / "unserved.parquet", index=False)
        _write_json(tmp / "patrol.json", {"format": SNAPSHOT_FORMAT, "region": patrol.region, "crs": patrol.crs, "routes": routes,
                                          "summary": patrol.summary})
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _finish(tmp, folder)


def load_patrol(folder: str | Path) -> PatrolPlan:
    """The :class:`PatrolPlan` written by :func:`save_patrol`, exactly as it was."""
    folder = Path(folder)
    meta = _read_json(folder / "patrol.json")
    if meta.get("format") != SNAPSHOT_FORMAT:
        raise DataError(f"unknown snapshot format {meta.get('format')!r}", source=folder)
    try:
        routes = [PatrolRoute(team=r["team"], mode=r["mode"], depot=r["depot"], stops=pd.read_parquet(folder / f"stops-{k}.parquet"),
                              legs=[np.asarray(leg, float) for leg in r["legs"]], leg_minutes=r["leg_minutes"], leg_metres=r["leg_metres"],
                              departure_min=r["departure_min"], return_min=r["return_min"], load=r["load"])
                  for k, r in enumerate(meta["routes"])]
        depots = gpd.read_parquet(folder / "depots.parquet")
        unserved = pd.read_parquet(folder / "unserved.parquet")
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"the stored snapshot cannot be read: {exc}", source=folder) from exc
    return PatrolPlan(meta["region"], meta["crs"], routes, depots, unserved, meta["summary"])
