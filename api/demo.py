"""The main job on a region: every step a user meets in ``planner demo``, writing to one folder.

Orchestration only: data comes from :mod:`geodata`, computation from :mod:`planner`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import save_npz

from geodata.export import export_region, write_region_report
from geodata.region import Region
from planner.accessibility import reach_summary
from planner.region_costs import region_costs

Step = Callable[[str], None]
WALK_15_MIN_S = 15 * 60.0
"""The 15-minute walking circle (一刻钟养老服务圈), seconds, at the elderly walking speed."""


@dataclass
class DemoResult:
    """What the job wrote and the headline figures for the terminal."""

    out: Path
    files: list[Path] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def write_json(path: Path, payload: Any) -> Path:
    """Write UTF-8 JSON (Chinese kept readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path


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
    snap_d, snap_s = costs.demand_snap, costs.site_snap
    pd.DataFrame({"row": np.arange(len(region.demand)), "demand_id": region.demand["demand_id"], "snap_m": snap_d.distance_m.round(1), "too_far": snap_d.too_far}).to_csv(rows, index=False)
    pd.DataFrame({"col": np.arange(len(sites)), "site_id": sites["site_id"], "name": sites["name"], "type": sites["type"], "status": sites["status"],
                  "snap_m": snap_s.distance_m.round(1), "too_far": snap_s.too_far}).to_csv(cols, index=False, encoding="utf-8")
    summary = reach_summary(
        coverage,
        {g: region.demand[g].to_numpy(float) for g in ("pop_all", "pop_60")},
        {"existing": (sites["status"] == "existing").to_numpy(), "existing_and_candidates": np.ones(len(sites), bool)},
    )
    summary.update(
        mode="walk", matrix=str(matrix_path.name), rows=rows.name, columns=cols.name,
        demand_points=len(region.demand), sites=len(sites),
        demand_too_far_from_roads=int(snap_d.too_far.sum()), sites_too_far_from_roads=int(snap_s.too_far.sum()),
        data=region.data_label,
    )
    result.files += [matrix_path, rows, cols, write_json(folder / "coverage-walk-15min.json", summary)]
    result.figures["aged 60+ within 15 min walk of an existing site"] = summary["existing"]["pop_60"]["share"]
    result.figures["aged 60+ within 15 min walk of any site (existing or candidate)"] = summary["existing_and_candidates"]["pop_60"]["share"]
    result.figures["coverage pairs (demand × site within 15 min)"] = coverage.nnz


def run_demo(region: Region, out: Path, step: Step) -> DemoResult:
    """Run every step of the main job on ``region`` and write the results to ``out``."""
    result = DemoResult(out)
    step("writing region layers and summary")
    result.files += export_region(region, out / "region", "geojson")
    result.files.append(write_region_report(region, out / "region" / "region-summary.md"))
    step("travel costs: walking coverage matrix of all sites (15 min)")
    coverage_step(region, out, result)
    return result
