"""Benchmark: a province batch, 21 mid-sized synthetic cities × 4 standards, on a Dask LocalCluster
with 2 worker processes vs the same tasks one after another in one process, in one run.

Each city is ``mid-city-synthetic:SEED`` (18 × 16 km, ≈ 26,000 walk nodes, 20,000 demand points,
2.4 million residents, 12 towns, 2,000 candidate sites: the built-up area of a mid-sized Chinese
prefecture city).  The four scenarios are the standards a provincial department might change:
meal points within 10 and 5 minutes' walk, home-care centres within 15 minutes (one per town at
least) and within 20 minutes.  Both runs execute the same task functions of :mod:`api.batch`
(build → coverage matrices → solves, passing files) into their own data folder and SQLite store;
the serial run calls them in order in one process, the parallel one is ``run_batch`` on
``LocalCluster(n_workers=2, threads_per_worker=1)``.  Every (city, scenario) must give the same
covered population in both.

Reported: wall time of each, the ratio, the time per city (serial: build + matrices + its four
solves; cluster: wall ÷ cities × workers), and the peak resident memory of each worker process.

    python benchmarks/bench_batch.py                  # 21 cities × 4 (about 10 minutes)
    python benchmarks/bench_batch.py --cities 4       # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, run_child, save  # noqa: E402

SCENARIOS = [
    {"name": "助餐点 步行10分钟", "facility_type": "meal_point", "standard_min": 10, "n_new": 80},
    {"name": "助餐点 步行5分钟", "facility_type": "meal_point", "standard_min": 5, "n_new": 80},
    {"name": "居家中心 步行15分钟 每镇街至少1个", "facility_type": "care_centre", "standard_min": 15, "n_new": 12, "unit_min": {"town": 1}},
    {"name": "居家中心 步行20分钟", "facility_type": "care_centre", "standard_min": 20, "n_new": 12},
]


def spec(cities: int) -> dict:
    """The batch: ``cities`` synthetic mid-sized cities × the four standards."""
    return {"name": f"bench {cities} cities", "regions": [{"id": f"city-{i:02d}", "region": f"mid-city-synthetic:{i}"} for i in range(1, cities + 1)],
            "scenarios": SCENARIOS}


SERIAL = r"""
import json, time
from pathlib import Path
from api import store as db
from api.batch import BatchSpec, build_task, costs_task, folder_name, solve_task
spec = BatchSpec.from_dict(json.loads({spec!r}))
data = Path({data!r}); url = db.default_db_url(data); db.Store(url)
per_city = {{}}; covered = {{}}
started = time.perf_counter()
for region in spec.regions:
    t = time.perf_counter()
    folder = data / "batch" / folder_name(spec.name) / folder_name(region.id)
    build = build_task(region.source, str(folder / "region"), None)
    costs = costs_task(build, list(spec.scenarios), str(folder / "costs"))
    for s in spec.scenarios:
        out = solve_task(spec.name, region, build, costs, s, url, str(data / "snapshots" / "batch"))
        plan = db.Store(url, migrate=False).get(db.plans, out["plan_id"])
        covered[region.id + " / " + s["name"]] = {{"covered": plan["payload"]["summary"]["covered_persons"], **out["summary"]}}
    per_city[region.id] = time.perf_counter() - t
print(json.dumps({{"wall_s": time.perf_counter() - started, "per_city_s": per_city, "covered": covered}}))
"""

CLUSTER = r"""
import json, resource, time
from pathlib import Path
from distributed import Client
from api import store as db
from api.batch import BatchSpec, local_cluster, run_batch
spec = BatchSpec.from_dict(json.loads({spec!r}))
data = Path({data!r}); url = db.default_db_url(data)
started = time.perf_counter()
cluster = local_cluster(2); client = Client(cluster)
ready = time.perf_counter() - started
report = run_batch(spec, client, db_url=url, data_dir=data)
peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
client.close(); cluster.close()
store = db.Store(url, migrate=False)
covered = {{}}
for (region, scenario), r in report.results.items():
    if r["status"] == "done":
        covered[region + " / " + scenario] = {{"covered": store.get(db.plans, r["plan_id"])["payload"]["summary"]["covered_persons"], **r["summary"]}}
print(json.dumps({{"wall_s": time.perf_counter() - started, "cluster_start_s": ready, "failed": report.count("failed"),
                  "worker_peak_rss_mb": sorted(peaks.values()), "covered": covered,
                  "solve_s": [r["seconds"] for r in report.results.values() if r["status"] == "done"]}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=21)
    args = parser.parse_args()
    batch = json.dumps(spec(args.cities), ensure_ascii=False)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        serial = run_child(SERIAL.format(spec=batch, data=str(Path(tmp) / "serial")), timeout_s=7200)
        cluster = run_child(CLUSTER.format(spec=batch, data=str(Path(tmp) / "cluster")), timeout_s=7200)
    assert cluster["failed"] == 0, cluster
    pairs = args.cities * len(SCENARIOS)
    assert len(serial["covered"]) == len(cluster["covered"]) == pairs
    # pairs proven optimal in both runs must agree exactly; a solve stopped at its time limit
    # depends on how much it got done, so there each run's plan must lie within the other's bound
    both_proven = [k for k in serial["covered"] if serial["covered"][k]["proven_optimal"] and cluster["covered"][k]["proven_optimal"]]
    mismatched = [k for k in both_proven if abs(serial["covered"][k]["covered"] - cluster["covered"][k]["covered"]) > 1e-6 * max(1.0, serial["covered"][k]["covered"])]
    limited = sorted(set(serial["covered"]) - set(both_proven))
    inconsistent = [k for k in limited if serial["covered"][k]["objective"] > cluster["covered"][k]["bound"] * (1 + 1e-9) + 1e-6
                    or cluster["covered"][k]["objective"] > serial["covered"][k]["bound"] * (1 + 1e-9) + 1e-6]
    mismatched += inconsistent
    ratio = serial["wall_s"] / cluster["wall_s"]
    per_city = sorted(serial["per_city_s"].values())
    rows = [
        {"run": "serial (one process)", "wall_s": round(serial["wall_s"], 1), "per_city_s": f"{sum(per_city) / len(per_city):.1f} "
         f"(min {per_city[0]:.1f}, max {per_city[-1]:.1f})", "peak_rss_mb": serial["peak_rss_mb"]},
        {"run": "LocalCluster, 2 workers", "wall_s": round(cluster["wall_s"], 1), "per_city_s": f"{cluster['wall_s'] * 2 / args.cities:.1f} (wall × 2 ÷ cities)",
         "peak_rss_mb": " / ".join(f"{p:.0f}" for p in cluster["worker_peak_rss_mb"]) + " (each worker)"},
    ]
    print(machine())
    print(f"{args.cities} cities × {len(SCENARIOS)} scenarios = {pairs} solves; {len(both_proven)} proven optimal in both runs, "
          f"all with the same covered population: {not mismatched}; {len(limited)} stopped at the time limit in one run or both "
          f"(their gaps: serial ≤ {max([serial['covered'][k]['gap'] or 0 for k in limited], default=0):.2%}, "
          f"cluster ≤ {max([cluster['covered'][k]['gap'] or 0 for k in limited], default=0):.2%}), each within the other's bound")
    print(markdown_table(rows, ["run", "wall_s", "per_city_s", "peak_rss_mb"]))
    print(f"ratio serial / cluster: {ratio:.2f}× (cluster start {cluster['cluster_start_s']:.1f} s included)")
    save("batch", {"cities": args.cities, "serial": serial, "cluster": cluster, "ratio": ratio, "mismatched": mismatched, "limited": limited})
    if mismatched:
        raise SystemExit(f"results differ between the runs: {mismatched[:5]}")


if __name__ == "__main__":
    main()
