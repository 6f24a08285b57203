"""Benchmark: routing (PyVRP through planner.routing.vrp) on Solomon VRPTW and a night patrol on real streets.

* Solomon C101–C109 (and R1/RC1 for reference) from ``../shared/data/solomon``: distance with
  unrounded Euclidean legs (times scaled ×1000 to PyVRP's integers), 10 s limit each, seed 1,
  compared with the best known C1 distances (about 827).
* The sample region: a night patrol of 3 walking teams over 30 OSM patrol spots (20:00–02:00,
  at most 2 h each): time to plan including travel costs, and a check that every leg follows the
  road network (every inner vertex within 0.5 m of a network link).

    python benchmarks/bench_routing.py                 # C1 + R101, RC101 + sample patrol
    python benchmarks/bench_routing.py --all           # every R1 and RC1 instance too
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, machine, markdown_table, run_child, save  # noqa: E402

SOLOMON = """
import json, time, warnings
warnings.filterwarnings("ignore")
from geodata.reference import read_solomon, SOLOMON_BEST_KNOWN_C1
from planner.routing.vrp import vrptw_problem, solve_routes, route_distance
inst = read_solomon({path!r})
D = inst.distances()
prob = vrptw_problem(D, inst.demand, inst.ready, inst.due, inst.service, inst.vehicles, inst.capacity)
t = time.perf_counter()
sol = solve_routes(prob, time_limit={limit}, seed=1, scale=1000, no_improvement=None)
seconds = time.perf_counter() - t
dist = sum(route_distance(r, D, 1) for r in sol.routes)
best = SOLOMON_BEST_KNOWN_C1.get(inst.name)
print(json.dumps(dict(instance=inst.name, vehicles=len(sol.routes), distance=round(dist, 2), best_known=best,
                      gap_pct=round(100 * (dist - best) / best, 2) if best else None, seconds=round(seconds, 2),
                      iterations=sol.iterations, unvisited=len(sol.unvisited))))
"""

PATROL = """
import json, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, shapely
from geodata.build import build_region
from geodata.sample import sample_sources
from geodata.export import network_links_frame
from geodata.projection import lonlat_to_xy
from api.demo import demo_depots, NIGHT_PATROL_TEAMS, NIGHT_PATROL_STOPS
from planner.routing.patrol import Team, plan_patrols, stops_from_spots
region = build_region(sample_sources())
depots, _ = demo_depots(region)
stops = stops_from_spots(region.layers["patrol_spots"], limit=NIGHT_PATROL_STOPS)
teams = [Team(depot=depots["name"].iloc[0], **spec) for spec in NIGHT_PATROL_TEAMS]
t = time.perf_counter()
plan = plan_patrols(region, stops, depots, teams, time_limit=10, seed=0)
seconds = time.perf_counter() - t
links = network_links_frame(region.networks["walk"])
lines = shapely.transform(shapely.union_all(links.geometry.to_numpy()), lambda c: np.column_stack(lonlat_to_xy(c[:, 0], c[:, 1], region.crs)))
worst = 0.0
legs = 0
for r in plan.routes:
    for coords in r.legs:
        legs += 1
        if len(coords) > 2:
            worst = max(worst, float(shapely.distance(lines, shapely.points(coords[1:-1])).max()))
s = plan.summary
print(json.dumps(dict(instance="sample night patrol (Helsinki, OSM)", teams=s["routes"], stops=s["stops"], visited=s["visited"],
                      walk_min=s["travel_min"], km=round(s["distance_m"] / 1000, 2), seconds=round(seconds, 2),
                      solver_s=s["solver"]["seconds"], legs=legs, max_off_network_m=round(worst, 3))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=float, default=10.0, help="seconds per Solomon instance")
    parser.add_argument("--all", action="store_true", help="also every R1 and RC1 instance")
    args = parser.parse_args()
    folder = SHARED_DATA / "solomon"
    rows = []
    if folder.is_dir():
        names = [f"C10{k}" for k in range(1, 10)]
        names += [p.stem for p in sorted(folder.glob("R1*.txt")) + sorted(folder.glob("RC1*.txt"))] if args.all else ["R101", "RC101"]
        for name in names:
            row = run_child(SOLOMON.format(path=str(folder / f"{name}.txt"), limit=args.limit))
            print(row, flush=True)
            rows.append(row)
    else:
        print(f"Solomon instances absent ({folder}); skipping them")
    patrol = run_child(PATROL)
    print(patrol)
    save("routing", {"machine": machine(), "solomon": rows, "patrol": patrol})
    print(markdown_table(rows, ["instance", "vehicles", "distance", "best_known", "gap_pct", "seconds", "iterations", "peak_rss_mb"]))
    print(markdown_table([patrol], ["instance", "teams", "stops", "visited", "walk_min", "km", "seconds", "solver_s", "legs", "max_off_network_m", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
