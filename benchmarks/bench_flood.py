"""Benchmark: one key flooding the service, and what the other users see.

Starts ``planner serve`` on the sample region in a child process (fresh SQLite database), with the
per-key limits as shipped and then with them off.  Ten users (ten street-office and planner keys,
one request every 100 ms between them: region summary, sites layer, a cached suggestion, a stored
plan) are timed for ``--seconds``: alone ("quiet"), then while one planner key floods the service
from ``--flooders`` connections of another process as fast as it can with suggestions for varying towns and sizes (each
a solve unless refused).  Reports the users' p50/p95 latency in both phases, their ratio, errors,
and what the flooder got (answers, 429s, 503s).

    python benchmarks/bench_flood.py                 # 8 flooding connections, 30 s per phase
    python benchmarks/bench_flood.py --flooders 16 --seconds 60
"""

from __future__ import annotations

import argparse
import collections
import itertools
import multiprocessing
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

ADMIN = "pk_admin_for_the_flood_benchmark"
USERS = 10
"""Keys of the well-behaved users."""
USER_INTERVAL_S = 0.1
"""Time between two of their requests (all users together): 10 a second, 1 a second per key."""



class Service:
    """``planner serve`` in a child process."""

    def __init__(self, limits: bool) -> None:
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(prefix="planner-flood-"))
        args = [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data)]
        if not limits:
            args += ["--rate-per-minute", "1000000000", "--inline-solves", "64", "--inline-per-key", "64", "--max-jobs", "100000"]
        self.process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PLANNER_ADMIN_KEY": ADMIN}, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for_service(self.base)

    def key(self, name: str, role: str, **extra: str) -> str:
        for _ in range(100):
            r = httpx.post(f"{self.base}/keys", headers={"X-API-Key": ADMIN}, json={"name": name, "role": role, **extra})
            if r.status_code == 429:  # the admin's own bucket: wait as told
                time.sleep(float(r.headers["Retry-After"]))
                continue
            assert r.status_code == 201, r.text
            return r.json()["key"]
        raise RuntimeError("could not create a key")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def user_requests(service: Service) -> list[tuple[str, str, dict | None, str]]:
    """The users' requests: (method, path, json body, key) in the order they are sent."""
    offices = [service.key(f"街道办 {k}", "street_office", town="town-3") for k in range(USERS // 2)]
    planners = [service.key(f"规划 {k}", "planner") for k in range(USERS - USERS // 2)]
    body = {"town": "town-3", "k": 3, "facility_type": "meal_point", "standard_min": 10}
    answer = httpx.post(f"{service.base}/regions/sample/suggestions", headers={"X-API-Key": offices[0]}, json=body, timeout=60).json()
    plan = answer["plan"]
    mix = [("get", "/regions/sample", None), ("get", "/regions/sample/layers/sites", None), ("post", "/regions/sample/suggestions", body),
           ("get", f"/plans/{plan}", None)]
    keys = itertools.cycle(offices + planners)
    return [(m, p, b, next(keys)) for m, p, b in mix] * 1000


def run_users(service: Service, requests: list, seconds: float) -> dict:
    """Send the users' requests at their pace for ``seconds``; latencies and statuses."""
    latencies, statuses = [], collections.Counter()
    with httpx.Client(base_url=service.base, timeout=60) as client:
        start = time.perf_counter()
        for k, (method, path, body, key) in enumerate(requests):
            due = start + k * USER_INTERVAL_S
            if due - start > seconds:
                break
            time.sleep(max(0.0, due - time.perf_counter()))
            t = time.perf_counter()
            r = client.request(method, path, json=body, headers={"X-API-Key": key})
            latencies.append((time.perf_counter() - t) * 1000)
            statuses[r.status_code] += 1
    lat = np.array(latencies)
    return {"requests": len(lat), "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "errors": sum(n for s, n in statuses.items() if s != 200)}


def _flood_process(base: str, key: str, connections: int, seconds: float, out: "multiprocessing.Queue") -> None:
    """In its own process (as another machine would be): ``connections`` threads sending suggestion
    requests for varying towns and sizes as fast as they are answered; puts the status counts."""
    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def one(offset: int) -> None:
        with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": key}) as client:
            for n in itertools.count(offset * 1000):
                if time.perf_counter() > stop_at:
                    return
                body = {"town": f"town-{1 + n % 5}", "k": 1 + n % 7, "standard_min": 5 + n % 11}
                try:
                    status = client.post("/regions/sample/suggestions", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    counts[status] += 1

    threads = [threading.Thread(target=one, args=(k,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(dict(counts))


def phase_pair(limits: bool, connections: int, seconds: float) -> list[dict]:
    service = Service(limits)
    try:
        requests = user_requests(service)
        flooder = service.key("flooder", "planner")
        run_users(service, requests[:40], 4.0)  # warm up
        quiet = run_users(service, requests, seconds)
        results: multiprocessing.Queue = multiprocessing.Queue()
        process = multiprocessing.Process(target=_flood_process, args=(service.base, flooder, connections, seconds + 4.0, results))
        process.start()
        time.sleep(2.0)
        flooded = run_users(service, requests, seconds)
        counts = results.get(timeout=120)
        process.join(timeout=60)
        label = "limits as shipped" if limits else "limits off"
        got = ", ".join(f"{s}×{n:,}" for s, n in sorted(counts.items()))
        return [{"service": label, "phase": "quiet", **quiet, "flooder": ""},
                {"service": label, "phase": f"1 key flooding ({connections} connections)", **flooded, "flooder": got,
                 "p95_ratio": round(flooded["p95_ms"] / quiet["p95_ms"], 2)}]
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    rows = phase_pair(True, args.flooders, args.seconds) + phase_pair(False, args.flooders, args.seconds)
    print(f"machine: {machine()}")
    print(markdown_table(rows, ["service", "phase", "requests", "p50_ms", "p95_ms", "p95_ratio", "errors", "flooder"]))
    save("flood", {"machine": machine(), "rows": rows, "flooders": args.flooders, "seconds": args.seconds})


if __name__ == "__main__":
    main()
