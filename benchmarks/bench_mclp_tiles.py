"""Benchmark: how good is the MCLP heuristic where the exact optimum can be proven?

Cuts two 12.5 × 12.5 km tiles out of the Dongguan-scale synthetic city (demand inside the tile,
candidates at least 600 m inside it, p in proportion to the tile's candidates: 400 for the whole
city), and solves each three ways: our heuristic (``method="heuristic"``), the LP relaxation and
the exact MIP (HiGHS, started from nothing).  Shows whether the city-scale gap comes from the
heuristic or from the bound.

    python benchmarks/bench_mclp_tiles.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import machine, markdown_table, save  # noqa: E402

from geodata.synthetic import dongguan_scale_spec, synthetic_region  # noqa: E402
from planner.location import formulations as fm  # noqa: E402
from planner.location.problem import Problem  # noqa: E402
from planner.travel.costs import PairMatrix  # noqa: E402
from planner.travel.region import points_xy, region_costs  # noqa: E402
from planner.location.solve import solve  # noqa: E402

TILE_M = 12_500.0
TILES = [(1, 1), (2, 1)]


def main() -> None:
    warnings.filterwarnings("ignore")
    region = synthetic_region(dongguan_scale_spec(0), modes=("walk",))
    sites = region.sites[region.sites["status"] == "candidate"]
    coverage = region_costs(region, "walk", sites).coverage(600.0, "demand_to_site").costs.tocsr()
    weights = region.demand["pop_60"].to_numpy(float)
    dxy, sxy = points_xy(region.demand, region.crs), points_xy(sites, region.crs)
    origin = dxy.min(axis=0)
    rows = []
    for tx, ty in TILES:
        lo = origin + np.array([tx, ty]) * TILE_M
        hi = lo + TILE_M
        in_demand = ((dxy >= lo) & (dxy < hi)).all(axis=1)
        in_sites = ((sxy >= lo + 600) & (sxy < hi - 600)).all(axis=1)
        sub = PairMatrix.of(coverage[in_demand][:, in_sites])
        p = int(round(400 * in_sites.sum() / len(sites)))
        problem = Problem("mclp", weights[in_demand], sub, standard=600.0, n_new=p)
        t = time.perf_counter()
        heuristic = solve(problem, method="heuristic", time_limit=30)
        t_h = time.perf_counter() - t
        t = time.perf_counter()
        model = problem.normalised()  # the formulations take a validated problem
        lp, _ = fm.mclp(model, 300, relax=True, presolve=False)
        t_lp = time.perf_counter() - t
        t = time.perf_counter()
        mip, _ = fm.mclp(model, 600, presolve=False)
        t_mip = time.perf_counter() - t
        row = dict(tile=f"{tx},{ty}", demand=int(in_demand.sum()), candidates=int(in_sites.sum()), p=p, pairs=int(sub.nnz),
                   heuristic=round(heuristic.objective, 1), heuristic_s=round(t_h, 1), lp_bound=round(lp.objective, 1), lp_s=round(t_lp, 1),
                   mip=round(mip.objective, 1), mip_bound=round(mip.bound, 1), mip_status=mip.status, mip_s=round(t_mip, 1),
                   heuristic_below_optimum_pct=round(100 * (mip.objective - heuristic.objective) / mip.objective, 3),
                   lp_gap_pct=round(100 * (lp.objective - mip.objective) / lp.objective, 3))
        print(row, flush=True)
        rows.append(row)
    save("mclp_tiles", {"machine": machine(), "rows": rows})
    print(markdown_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
