"""Benchmark: side by side with PySAL spopt (PuLP + CBC) on the same instances, in one run.

* p-median on OR-Library instances (same all-pairs matrix for both);
* maximal covering (MCLP) on the sample region (real OSM walk network, meal-point candidates,
  residents aged 60+, 10-minute walk) and on a 10 × 10 km synthetic city (8,000 demand points,
  800 candidates, p = 40, 10-minute walk) — both solvers get the same network cost matrix.

Each spopt run gets a time limit; a run that does not finish (or fails, or runs out of memory)
is reported as such.  Objectives are compared, and time is reported as a ratio (spopt / ours).

    python benchmarks/bench_spopt.py                  # default instances
    python benchmarks/bench_spopt.py --spopt-limit 600
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, machine, markdown_table, run_child, save  # noqa: E402

PMEDIAN = """
import json, time, warnings, sys
warnings.filterwarnings("ignore")
sys.path.insert(0, "benchmarks")
from bench_pmedian import distance_matrix
from pathlib import Path
D, p = distance_matrix(Path({path!r}))
import numpy as np
out = dict(instance={name!r}, model="p-median", size=f"{{D.shape[0]}} x {{D.shape[1]}}, p={{p}}")
if {which!r} == "ours":
    from planner.location.pmedian import solve_dense
    solve_dense(np.array([[0.0, 1.0], [1.0, 0.0]]), 1)
    t = time.perf_counter(); sol = solve_dense(D, p, time_limit=600); out["seconds"] = time.perf_counter() - t
    out["objective"] = float(sol.objective); out["proven"] = bool(sol.proven)
else:
    import pulp, spopt.locate as L
    t = time.perf_counter()
    model = L.PMedian.from_cost_matrix(D, np.ones(D.shape[0]), p_facilities=p)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit={limit}))
    out["seconds"] = time.perf_counter() - t
    status = pulp.LpStatus[model.problem.status]
    out["status"] = status
    out["objective"] = float(pulp.value(model.problem.objective)) if model.problem.objective is not None else None
    out["proven"] = status == "Optimal" and out["seconds"] < {limit}
print(json.dumps(out))
"""

MCLP = """
import json, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
which = {which!r}
if {region!r} == "sample":
    from geodata.build import build_region
    from geodata.sample import sample_sources
    region = build_region(sample_sources())
    p = 5
    sites = region.sites[(region.sites["type"] == "meal_point")]
else:
    from geodata.synthetic import synthetic_region, SyntheticSpec
    region = synthetic_region(SyntheticSpec(seed=0, width_km=10, height_km=10, street_spacing_m=91, n_towns=6, n_demand=8000, population=420000, n_candidates=800), modes=("walk",))
    p = 40
    sites = region.sites[region.sites["status"] == "candidate"]
from planner.travel.region import region_costs
costs = region_costs(region, "walk", sites)
D = costs.full("demand_to_site")
D = np.where(np.isfinite(D), D, 1e9)
w = region.demand["pop_60"].to_numpy(float)
radius = 600.0
out = dict(instance={region!r}, model="MCLP", size=f"{{D.shape[0]}} x {{D.shape[1]}}, p={{p}}")
if which == "ours":
    from planner.location.problem import Problem
    from planner.location.solve import solve
    warm = solve(Problem("mclp", np.ones(2), np.array([[1.0], [0.0]]), standard=1.0, n_new=1), method="exact")
    t = time.perf_counter()
    r, c = np.nonzero(D <= radius)
    from planner.travel.costs import pair_matrix
    cov = pair_matrix(r, c, D[r, c], D.shape)
    sol = solve(Problem("mclp", w, cov, standard=radius, n_new=p), method="exact", time_limit=600)
    out["seconds"] = time.perf_counter() - t
    out["objective"] = float(sol.objective); out["proven"] = bool(sol.proven)
else:
    import pulp, spopt.locate as L
    t = time.perf_counter()
    model = L.MCLP.from_cost_matrix(D, w, service_radius=radius, p_facilities=p)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit={limit}))
    out["seconds"] = time.perf_counter() - t
    status = pulp.LpStatus[model.problem.status]
    out["status"] = status
    out["objective"] = float(pulp.value(model.problem.objective))
    out["proven"] = status == "Optimal" and out["seconds"] < {limit}
print(json.dumps(out))
"""


def pair(code: str, limit: float, **fmt) -> dict:
    ours = run_child(code.format(which="ours", limit=limit, **fmt))
    try:
        theirs = run_child(code.format(which="spopt", limit=limit, **fmt), timeout_s=limit * 2 + 120)
        theirs_text = f"{theirs['seconds']:.2f}" + ("" if theirs.get("proven") else f" ({theirs.get('status', 'not proven')}, time limit {limit:g} s)")
    except Exception as exc:  # spopt crashed, timed out or ran out of memory
        theirs = {"seconds": None, "objective": None, "error": str(exc).splitlines()[-1][:120]}
        theirs_text = f"failed: {theirs['error']}"
    row = {
        "instance": ours["instance"], "model": ours["model"], "size": ours["size"],
        "ours_s": round(ours["seconds"], 3), "ours_objective": round(ours["objective"], 2), "ours_proven": ours["proven"],
        "spopt_s": theirs_text, "spopt_objective": None if theirs.get("objective") is None else round(theirs["objective"], 2),
        "equal": theirs.get("objective") is not None and abs(theirs["objective"] - ours["objective"]) <= 1e-6 * max(1.0, abs(ours["objective"])),
        "ratio": round(theirs["seconds"] / ours["seconds"], 1) if theirs.get("seconds") else None,
        "ours_peak_mb": ours["peak_rss_mb"], "spopt_peak_mb": theirs.get("peak_rss_mb"),
    }
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spopt-limit", type=float, default=600.0, help="CBC time limit per spopt run, seconds")
    parser.add_argument("--pmed", nargs="*", default=["pmed1", "pmed5", "pmed6", "pmed16", "pmed40"])
    parser.add_argument("--mclp", nargs="*", default=["sample", "synthetic-10km"], choices=["sample", "synthetic-10km"])
    parser.add_argument("--save-as", default="spopt", help="results file name under benchmarks/results/")
    args = parser.parse_args()
    folder = SHARED_DATA / "orlib-pmed"
    rows = []
    if folder.is_dir():
        for name in args.pmed:
            rows.append(pair(PMEDIAN, args.spopt_limit, path=str(folder / f"{name}.txt"), name=name))
    else:
        print(f"OR-Library data not found at {folder}: p-median part skipped")
    for region in args.mclp:
        rows.append(pair(MCLP, args.spopt_limit, region=region))
    print(f"machine: {machine()}")
    print(markdown_table(rows, ["instance", "model", "size", "ours_s", "spopt_s", "ratio", "ours_objective", "spopt_objective", "equal", "ours_proven", "ours_peak_mb", "spopt_peak_mb"]))
    save(args.save_as, {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
