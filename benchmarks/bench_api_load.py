"""Benchmark: site-suggestion requests from 20 concurrent clients on loopback.

Starts ``planner serve`` in a child process (fresh SQLite database) on the sample region or on a
synthetic 10 × 10 km city (``--region city10``: 9 towns, 8,000 demand points, 1,200 candidate
sites), creates one street-office key per client (each user has their own key, as in a bureau;
the per-key limits apply to each), warms the service with one request, then the client threads
post suggestions for ``--seconds``, each waiting for its answer before sending the next:

* the same question ("3 more meal points in town-3 within 10 minutes"), or
* ``--varied``: each client asks about its own town (round robin over the region's towns) with
  its own sequence of k (1–5) and standard (5–15 minutes), so consecutive questions differ.

``--no-answer-cache`` solves every request (travel costs stay warm).  ``--compare`` runs the same
load twice in one go: answers from warm suggestion engines (as shipped) and the forked solve per
request (``PLANNER_FAST_SUGGESTIONS=0``, the path before issue 15), and prints the ratio.

    python benchmarks/bench_api_load.py                                   # same question, 60 s
    python benchmarks/bench_api_load.py --varied --no-answer-cache --compare --seconds 30
    python benchmarks/bench_api_load.py --region city10 --varied --no-answer-cache --compare --seconds 30
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
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

ADMIN = "pk_admin_for_the_load_benchmark"



def city10(folder: Path) -> Path:
    """The synthetic 10 × 10 km city, saved as a region folder (built once per run)."""
    sys.path.insert(0, str(ROOT))
    from geodata.synthetic import SyntheticSpec, synthetic_region

    spec = SyntheticSpec(seed=10, width_km=10.0, height_km=10.0, n_towns=9, communities_per_town=6, n_demand=8_000, population=600_000.0,
                         n_candidates=1_200, n_existing_meal_points=30, n_existing_care_centres=6)
    path = folder / "city10"
    synthetic_region(spec).save(path)
    return path


def run(region: str, region_id: str, towns: list[str], *, clients: int, seconds: float, varied: bool, answer_cache: bool, fast: bool) -> dict:
    """One load run against a fresh service; returns its figures."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="planner-load-"))
    env = {**os.environ, "PLANNER_ADMIN_KEY": ADMIN, "PLANNER_SUGGESTION_CACHE": "256" if answer_cache else "0",
           "PLANNER_FAST_SUGGESTIONS": "1" if fast else "0"}
    # capacity, not courtesy: each client sends back to back (a busy machine, not a person), so the
    # per-key rate limit is lifted; the inline-solve limits stay as shipped
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--region", region, "--port", str(port), "--data-dir", str(data),
                               "--rate-per-minute", "1000000"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_service(base, timeout_s=300)
        keys: list[tuple[str, str]] = []
        while len(keys) < clients:
            town = towns[len(keys) % len(towns)] if varied else "town-3"
            r = httpx.post(f"{base}/keys", headers={"X-API-Key": ADMIN}, json={"name": f"街道办 {len(keys)}", "role": "street_office", "town": town})
            if r.status_code == 429:
                time.sleep(float(r.headers["Retry-After"]))
                continue
            keys.append((r.json()["key"], town))
        url = f"{base}/regions/{region_id}/suggestions"
        t = time.perf_counter()
        first = httpx.post(url, headers={"X-API-Key": keys[0][0]}, json={"town": keys[0][1], "k": 3, "standard_min": 10}, timeout=120)
        cold_s = time.perf_counter() - t
        assert first.status_code == 200, first.text
        latencies: list[float] = []
        errors: list[str] = []
        limited: list[int] = []
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def questions(k: int, town: str):
            if not varied:
                return itertools.repeat({"town": "town-3", "k": 3, "facility_type": "meal_point", "standard_min": 10})
            grid = [{"town": town, "k": kk, "facility_type": "meal_point", "standard_min": sm} for kk in range(1, 6) for sm in range(5, 16)]
            random.Random(k).shuffle(grid)
            return itertools.cycle(grid)

        def client(k: int, key: str, town: str) -> None:
            asked = questions(k, town)
            with httpx.Client(timeout=60) as session:
                while time.perf_counter() < stop_at:
                    body = next(asked)
                    t0 = time.perf_counter()
                    try:
                        r = session.post(url, headers={"X-API-Key": key}, json=body)
                        if r.status_code == 429:  # the per-key limit (a user's second question while the first runs): not an error
                            with lock:
                                limited.append(1)
                            time.sleep(float(r.headers.get("Retry-After", 1)))
                            continue
                        ok = r.status_code == 200 or (r.status_code == 422 and "candidate" in r.text)  # k larger than the town's candidates: said
                    except httpx.HTTPError as exc:
                        ok, r = False, exc
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        if not ok:
                            errors.append(str(getattr(r, "status_code", r)))

        threads = [threading.Thread(target=client, args=(k, key, town)) for k, (key, town) in enumerate(keys)]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - started
        lat = np.array(latencies) * 1000
        return {
            "region": region_id, "questions": "varied" if varied else "same", "answers": "warm engine" if fast else "forked solve",
            "answer_cache": answer_cache, "clients": clients, "seconds": round(wall, 1), "requests": len(lat), "per_second": round(len(lat) / wall, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(lat.max()), 1), "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5], "rate_limited": len(limited), "first_request_s": round(cold_s, 2),
        }
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--region", choices=["sample", "city10"], default="sample")
    parser.add_argument("--varied", action="store_true", help="each client its own town, k and standard")
    parser.add_argument("--no-answer-cache", action="store_true", help="solve every request (travel costs stay warm)")
    parser.add_argument("--compare", action="store_true", help="also run the forked solve per request, side by side")
    args = parser.parse_args()
    if args.region == "city10":
        region = str(city10(Path(tempfile.mkdtemp(prefix="planner-city10-"))))
        region_id, towns = "city10", [f"town-{k}" for k in range(1, 10)]
    else:
        region, region_id, towns = "sample", "sample", [f"town-{k}" for k in range(1, 6)]
    rows = [run(region, region_id, towns, clients=args.clients, seconds=args.seconds, varied=args.varied, answer_cache=not args.no_answer_cache, fast=True)]
    if args.compare:
        rows.append(run(region, region_id, towns, clients=args.clients, seconds=args.seconds, varied=args.varied, answer_cache=not args.no_answer_cache,
                        fast=False))
        rows[0]["p95 ratio (forked / warm)"] = f"{rows[1]['p95_ms'] / rows[0]['p95_ms']:.1f}×"
    for row in rows:
        print(row)
    name = "api_load" + ("-varied" if args.varied else "") + ("-nocache" if args.no_answer_cache else "") + ("-city10" if args.region == "city10" else "")
    save(name, {"machine": machine(), "rows": rows})
    print(machine())
    print(markdown_table(rows, [c for c in rows[0] if c != "error_kinds"]))


if __name__ == "__main__":
    main()
