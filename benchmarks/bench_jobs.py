"""Benchmark: five scenario jobs submitted at once, one worker process vs one per core, side by side.

For each setting, starts ``planner serve`` on the sample region in a child process (fresh SQLite
database, ``--workers N``), submits the same five scenarios as jobs at once (p-median, p-center,
LSCP, MCLP with a minimum per town, capacitated MCLP), and meanwhile asks ``GET /health`` every
50 ms from another thread.  Reports the time until every job has ended (all must end "done"),
the solver seconds of each job, and the latency of ``/health`` while they run (p50/p95/max).

    python benchmarks/bench_jobs.py                 # workers 1 then one per core
    python benchmarks/bench_jobs.py --workers 1 2 4
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, machine, markdown_table, save, wait_for_service  # noqa: E402

ADMIN = "pk_admin_for_the_jobs_benchmark"
SCENARIOS = [
    {"name": "p-median 8 meal points", "facility_type": "meal_point", "model": "pmedian", "n_new": 8, "standard_min": 10},
    {"name": "p-center 6 meal points", "facility_type": "meal_point", "model": "pcenter", "n_new": 6, "standard_min": 10},
    {"name": "LSCP care centres 15 min", "facility_type": "care_centre", "model": "lscp", "n_new": None, "standard_min": 15, "allow_uncovered": True},
    {"name": "MCLP meal points, 1 per town, 5 min", "facility_type": "meal_point", "model": "mclp", "n_new": 8, "standard_min": 5, "unit_min": {"town": 1}},
    {"name": "capacitated MCLP meal points", "facility_type": "meal_point", "model": "mclp", "n_new": 6, "standard_min": 10, "capacitated": True,
     "allow_unserved": True},
]
"""The five jobs, each with a 60 s solver time limit."""



def run(workers: int) -> dict:
    """Start a service with ``workers`` job processes, run the five jobs at once, return the figures."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="planner-jobs-"))
    env = {**os.environ, "PLANNER_ADMIN_KEY": ADMIN}
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--data-dir", str(data), "--workers", str(workers),
                               "--rate-per-minute", "1000000"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": ADMIN}
    try:
        wait_for_service(base)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            ids = [c.post("/regions/sample/scenarios", json={**s, "time_limit": 60}).json()["id"] for s in SCENARIOS]
            c.get("/regions/sample")  # the region is loaded and warm before the clock starts
            latencies: list[float] = []
            stop = threading.Event()

            def probe() -> None:
                with httpx.Client(base_url=base, timeout=10) as p:
                    while not stop.is_set():
                        t0 = time.perf_counter()
                        p.get("/health")
                        latencies.append(time.perf_counter() - t0)
                        time.sleep(0.05)

            prober = threading.Thread(target=probe, daemon=True)
            prober.start()
            started = time.perf_counter()
            jobs = [c.post(f"/scenarios/{i}/run").json()["job"] for i in ids]
            ended: dict[int, dict] = {}
            while len(ended) < len(jobs):
                for j in jobs:
                    if j not in ended:
                        job = c.get(f"/jobs/{j}").json()
                        if job["status"] not in ("queued", "running"):
                            ended[j] = {**job, "_wall": time.perf_counter() - started}
                time.sleep(0.2)
            wall = time.perf_counter() - started
            stop.set()
            prober.join(timeout=5)
            failed = [f"{SCENARIOS[k]['name']}: {ended[j]['status']} {ended[j].get('message')}" for k, j in enumerate(jobs) if ended[j]["status"] != "done"]
            if failed:
                raise RuntimeError("jobs did not end done: " + "; ".join(failed))
            solver_s = [c.get(f"/plans/{ended[j]['plan_id']}").json()["summary"]["solver"]["seconds"] for j in jobs]
        ms = np.array(latencies) * 1000
        return {"workers": workers, "all_done_s": round(wall, 1), "solver_s": [round(x, 1) for x in solver_s],
                "health_p50_ms": round(float(np.percentile(ms, 50)), 1), "health_p95_ms": round(float(np.percentile(ms, 95)), 1),
                "health_max_ms": round(float(ms.max()), 1), "health_probes": len(ms)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, cores}))
    args = parser.parse_args()
    rows = [run(w) for w in args.workers]
    base = rows[0]["all_done_s"]
    for row in rows:
        row["speed-up"] = f"{base / row['all_done_s']:.2f}×"
    print(machine())
    print(markdown_table(rows, ["workers", "all_done_s", "speed-up", "solver_s", "health_p50_ms", "health_p95_ms", "health_max_ms", "health_probes"]))
    save("jobs", {"machine": machine(), "scenarios": [s["name"] for s in SCENARIOS], "rows": rows})


if __name__ == "__main__":
    main()
