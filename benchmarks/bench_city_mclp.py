"""Benchmark: maximal covering at city scale — the Dongguan-scale synthetic city.

200,000 demand points (residents aged 60+), 20,000 candidate sites, p = 400 new sites,
10-minute walk at 0.9 m/s.  Timed from the built region (as the API has it in memory) to the
plan, *including* the travel costs (snapping, coverage matrix).  Goal: ≤ 1 % gap in ≤ 120 s.

    python benchmarks/bench_city_mclp.py
    python benchmarks/bench_city_mclp.py --small     # a 10 × 10 km city instead
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, run_child, save  # noqa: E402

CODE = """
import json, time
import numpy as np
from geodata.synthetic import synthetic_region, dongguan_scale_spec, SyntheticSpec
from planner.location.problem import Problem
from planner.location.solve import solve
from planner.travel.region import region_costs
spec = {spec}
t = time.perf_counter(); region = synthetic_region(spec, modes=("walk",)); generate = time.perf_counter() - t
# warm the compiled kernels on a toy problem (numba caches them on disk)
solve(Problem("mclp", np.ones(2), np.array([[1.0, 0.0], [0.0, 1.0]]), standard=1.0, n_new=1), method="heuristic")
sites = region.sites[region.sites["status"] == "candidate"]
t0 = time.perf_counter()
costs = region_costs(region, "walk", sites)
coverage = costs.coverage(600.0, "demand_to_site")
t_costs = time.perf_counter() - t0
weights = region.demand["pop_60"].to_numpy(float)
t1 = time.perf_counter()
sol = solve(Problem("mclp", weights, coverage.costs, standard=600.0, n_new={p}), method="auto", time_limit=110)
t_solve = time.perf_counter() - t1
print(json.dumps(dict(city={label!r}, demand=len(region.demand), candidates=len(sites), p={p}, pairs=coverage.nnz,
    costs_s=round(t_costs, 2), solve_s=round(t_solve, 2), total_s=round(t_costs + t_solve, 2),
    covered=round(sol.objective, 1), bound=round(sol.bound, 1), gap_pct=round(100 * sol.gap, 3), solver=sol.solver,
    covered_share=round(sol.objective / weights.sum(), 4), generate_s=round(generate, 1), stats=sol.stats)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    if args.small:
        row = run_child(CODE.format(spec="SyntheticSpec(seed=0, width_km=10, height_km=10, street_spacing_m=91, n_towns=6, n_demand=8000, population=420000, n_candidates=800)", p=16, label="10 x 10 km"))
    else:
        row = run_child(CODE.format(spec="dongguan_scale_spec(0)", p=400, label="Dongguan scale (50 x 50 km)"))
    print(f"machine: {machine()}")
    print(markdown_table([row], ["city", "demand", "candidates", "p", "pairs", "costs_s", "solve_s", "total_s", "covered", "bound", "gap_pct", "covered_share", "solver", "peak_rss_mb"]))
    print(row["stats"])
    save("city_mclp", {"machine": machine(), "row": row})


if __name__ == "__main__":
    main()
