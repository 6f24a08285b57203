"""Benchmark: site-suggestion requests for one town from 20 concurrent clients on loopback.

Starts ``planner serve`` on the sample region in a child process (fresh SQLite database), creates
one street-office key for town-3 per client (each user has their own key, as in a bureau; the
per-key limits apply to each), warms the service with one request, then the client threads post
"3 more meal points in town-3" for 60 s, each waiting for its answer before sending the next.
Reports throughput, latency percentiles and errors (429 answers of the per-key rate limit
counted apart).

    python benchmarks/bench_api_load.py                  # 20 clients, 60 s
    python benchmarks/bench_api_load.py --clients 50 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, markdown_table, save, wait_for_service  # noqa: E402

ADMIN = "pk_admin_for_the_load_benchmark"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-answer-cache", action="store_true", help="solve every request (travel costs stay cached)")
    args = parser.parse_args()
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="planner-load-"))
    env = {**os.environ, "PLANNER_ADMIN_KEY": ADMIN, "PLANNER_SUGGESTION_CACHE": "0" if args.no_answer_cache else "256"}
    # capacity, not courtesy: each client sends back to back (a busy machine, not a person), so the
    # per-key rate limit is lifted; the inline-solve limits stay as shipped
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--data-dir", str(data), "--rate-per-minute", "1000000"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_service(base)
        keys = []
        while len(keys) < args.clients:
            r = httpx.post(f"{base}/keys", headers={"X-API-Key": ADMIN}, json={"name": f"街道办 {len(keys)}", "role": "street_office", "town": "town-3"})
            if r.status_code == 429:
                time.sleep(float(r.headers["Retry-After"]))
                continue
            keys.append(r.json()["key"])
        headers = {"X-API-Key": keys[0]}
        body = {"town": "town-3", "k": 3, "facility_type": "meal_point", "standard_min": 10}
        t = time.perf_counter()
        first = httpx.post(f"{base}/regions/sample/suggestions", headers=headers, json=body, timeout=60)
        cold_s = time.perf_counter() - t
        assert first.status_code == 200, first.text
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.perf_counter() + args.seconds

        limited: list[int] = []

        def client(key: str) -> None:
            with httpx.Client(timeout=30) as session:
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        r = session.post(f"{base}/regions/sample/suggestions", headers={"X-API-Key": key}, json=body)
                        if r.status_code == 429:  # the per-key rate limit (a user clicking 2 times a second): not an error
                            with lock:
                                limited.append(1)
                            time.sleep(float(r.headers.get("Retry-After", 1)))
                            continue
                        ok = r.status_code == 200 and r.json()["sites"]
                    except httpx.HTTPError as exc:
                        ok, r = False, exc
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        if not ok:
                            errors.append(str(getattr(r, "status_code", r)))

        threads = [threading.Thread(target=client, args=(key,)) for key in keys]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - started
        lat = np.array(latencies) * 1000
        row = {
            "clients": args.clients, "seconds": round(wall, 1), "requests": len(lat), "per_second": round(len(lat) / wall, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(lat.max()), 1), "errors": len(errors),
            "rate_limited": len(limited),
            "first_request_s": round(cold_s, 2), "answer_cache": not args.no_answer_cache,
        }
        print(row)
        save("api_load-nocache" if args.no_answer_cache else "api_load", {"machine": machine(), "row": row})
        print(markdown_table([row], list(row)))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
