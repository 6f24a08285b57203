"""Benchmark: the first `planner demo` after a fresh install, side by side with the code before.

In a new virtual environment (``pip install`` of this checkout, from the package index or pip's
cache), each run starts from nothing: an empty numba kernel cache (``NUMBA_CACHE_DIR``) and an
empty region cache (``--cache-dir``), so the sample region is built and every kernel compiled on
the way, as after an install.  Three set-ups, alternated, ``--repeat`` times each:

* as shipped: missing kernels compiled ahead in two background processes (``planner.warmup``);
* the same code with ``PLANNER_WARMUP=0``: every kernel compiled by the run itself;
* the code before (``--before``, a git revision, default ``02a6297``: slower-to-compile kernels,
  no warm-up), installed into the same environment without its dependencies.

Then one more run as shipped with both caches full (a second run).

    python benchmarks/bench_first_run.py
    python benchmarks/bench_first_run.py --repeat 3 --before 02a6297
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, markdown_table, revision_tree, save


def install(venv: Path, source: Path, *, deps: bool) -> float:
    """``pip install`` ``source`` into ``venv``; returns seconds."""
    started = time.perf_counter()
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)]
    if not deps:
        command[5:5] = ["--no-deps", "--force-reinstall"]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def first_run(venv: Path, scratch: Path, *, warmup: bool, fresh: bool = True) -> float:
    """Wall seconds of ``planner demo`` with empty caches (``fresh``) or the ones of the last run."""
    if fresh:
        for folder in ("numba", "cache", "out"):
            shutil.rmtree(scratch / folder, ignore_errors=True)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(scratch / "numba"), "PLANNER_WARMUP": "1" if warmup else "0"}
    env.pop("PLANNER_CACHE_DIR", None)
    started = time.perf_counter()
    subprocess.run([str(venv / "bin" / "planner"), "demo", "--out", str(scratch / "out"), "--cache-dir", str(scratch / "cache")],
                   check=True, capture_output=True, env=env, cwd=scratch)
    seconds = time.perf_counter() - started
    time.sleep(8.0)  # let warm-up processes that outlive a run end before the next one starts
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--before", default="02a6297", help="git revision of the code before")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="first-run-"))
    venv, scratch = work / "venv", work / "scratch"
    scratch.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install_s = install(venv, ROOT, deps=True)
    times: dict[str, list[float]] = {"as shipped (warm-up)": [], "PLANNER_WARMUP=0": [], f"before ({args.before})": []}
    with revision_tree(args.before) as old:
        for _ in range(args.repeat):
            times["as shipped (warm-up)"].append(first_run(venv, scratch, warmup=True))
            times["PLANNER_WARMUP=0"].append(first_run(venv, scratch, warmup=False))
            install(venv, old, deps=False)
            times[f"before ({args.before})"].append(first_run(venv, scratch, warmup=False))
            install(venv, ROOT, deps=False)
    first_run(venv, scratch, warmup=True)
    second = first_run(venv, scratch, warmup=True, fresh=False)
    shipped = statistics.median(times["as shipped (warm-up)"])
    rows = [{"code": name, "runs (s)": ", ".join(f"{t:.1f}" for t in ts), "median (s)": round(statistics.median(ts), 1),
             "vs as shipped": f"{statistics.median(ts) / shipped:.2f}×"} for name, ts in times.items()]
    rows.append({"code": "as shipped, second run (both caches full)", "runs (s)": f"{second:.1f}", "median (s)": round(second, 1), "vs as shipped": ""})
    print(f"machine: {machine()}; fresh venv, pip install of this checkout: {install_s:.0f} s")
    print(markdown_table(rows, ["code", "runs (s)", "median (s)", "vs as shipped"]))
    save("first_run", {"machine": machine(), "install_s": install_s, "times": times, "second_run_s": second})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
