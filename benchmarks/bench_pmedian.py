"""Benchmark: exact p-median on the 40 OR-Library instances (Beasley 1990), proven optimal.

For each instance: all-pairs shortest paths (Dijkstra), then planner.location.pmedian.solve_dense
(heuristic → Lagrangian root → reduction → Lagrangian branch-and-bound).  The compiled kernels
are warmed up on a tiny instance first (numba caches them on disk; the one-time compile is
reported separately).  Needs ../shared/data/orlib-pmed.

    python benchmarks/bench_pmedian.py                 # all 40
    python benchmarks/bench_pmedian.py pmed6 pmed36    # some
    python benchmarks/bench_pmedian.py --compare 02a6297   # and, in the same run, the code at that revision
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, machine, markdown_table, revision_tree, save  # noqa: E402

from geodata.reference import read_orlib_optima, read_orlib_pmed  # noqa: E402
from planner.location.pmedian import solve_dense  # noqa: E402


def distance_matrix(path: Path) -> tuple[np.ndarray, int]:
    """All-pairs shortest-path costs of an OR-Library instance and its p."""
    inst = read_orlib_pmed(path)
    e = inst.edges
    graph = coo_matrix((e[:, 2].astype(float), (e[:, 0] - 1, e[:, 1] - 1)), shape=(inst.n, inst.n))
    return shortest_path(graph, method="D", directed=False), inst.p


def run_revision(revision: str, names: list[str]) -> float:
    """Total seconds of this benchmark as the code at git ``revision`` runs it (its own script and
    packages, from a temporary worktree; its kernels compile first, outside its timing)."""
    with revision_tree(revision) as tree:
        run = subprocess.run([sys.executable, "benchmarks/bench_pmedian.py", *names], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                             capture_output=True, text=True, check=True)
    last = [line for line in run.stdout.splitlines() if "proven optimal and equal" in line][-1]
    print(f"code at {revision}: {last}", flush=True)
    return float(re.search(r"total ([0-9.]+) s", last).group(1))


def main() -> None:
    folder = SHARED_DATA / "orlib-pmed"
    if not folder.is_dir():
        sys.exit(f"OR-Library data not found at {folder} (it lives beside the project, never inside it)")
    args = sys.argv[1:]
    before_revision = args[args.index("--compare") + 1] if "--compare" in args else None
    names = [a for a in args if a.startswith("pmed")] or [f"pmed{k}" for k in range(1, 41)]
    optima = read_orlib_optima(folder / "pmedopt.txt")
    started = time.perf_counter()
    solve_dense(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]]), 1)  # compile / load the kernels
    warmup = time.perf_counter() - started
    rows = []
    total = 0.0
    for name in names:
        t0 = time.perf_counter()
        D, p = distance_matrix(folder / f"{name}.txt")
        sol = solve_dense(D, p, time_limit=60)
        seconds = time.perf_counter() - t0
        total += seconds
        rows.append({
            "instance": name, "n": D.shape[0], "p": p, "objective": int(round(sol.objective)), "optimum": optima[name],
            "bound": round(sol.bound, 1), "gap": f"{sol.gap:.2%}", "proven": sol.proven, "equal": int(round(sol.objective)) == optima[name],
            "seconds": round(seconds, 2), "stage": sol.method, "nodes": sol.stats.get("nodes", 0),
            "root_bound": round(sol.stats.get("root_bound", float("nan")), 1), "candidates_after_fixing": sol.stats.get("candidates_left", ""),
        })
        print(f"{name}: {rows[-1]}", flush=True)
    print(f"machine: {machine()}; kernel warm-up (numba cache load/compile) {warmup:.2f} s")
    print(markdown_table(rows, ["instance", "n", "p", "objective", "optimum", "bound", "gap", "proven", "seconds", "stage", "root_bound", "candidates_after_fixing", "nodes"]))
    proven = sum(r["proven"] and r["equal"] for r in rows)
    print(f"\nproven optimal and equal to the published optimum: {proven}/{len(rows)}; total {total:.1f} s (+ warm-up {warmup:.1f} s)")
    before_s = None
    if before_revision:
        before_s = run_revision(before_revision, names)
        print(f"same instances, same run: the code at {before_revision} {before_s:.1f} s, now {total:.1f} s: {before_s / total:.2f}× faster")
    save("pmedian", {"machine": machine(), "warmup_s": warmup, "total_s": total, "rows": rows, "before_revision": before_revision, "before_total_s": before_s})


if __name__ == "__main__":
    main()
