"""Kernels compiled ahead of a first run (planner.warmup): the right signatures, no kernel compiled twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env: str) -> dict:
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env}, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_warmup_lists_every_signature_the_demo_calls(tmp_path) -> None:
    """The whole demo on the sample region, in a process of its own: every kernel signature it
    called is one the warm-up compiles (else a first run would compile it again, after waiting)."""
    got = _run(f"""
import json, importlib, numba
from api.cli import app
app(["demo", "--out", {str(tmp_path / "out")!r}], standalone_mode=False)
from planner import warmup
listed = {{(m, n): sig for m, n, sig, _ in warmup.KERNELS}}
called, missing = 0, []
for module in {{m for m, _, _, _ in warmup.KERNELS}}:
    mod = importlib.import_module(module)
    for name in dir(mod):
        kernel = getattr(mod, name)
        if isinstance(kernel, numba.core.registry.CPUDispatcher) and kernel.__module__ == module and not name.startswith("_"):
            for sig in kernel.nopython_signatures:
                called += 1
                if listed.get((module, name)) != sig.args:
                    missing.append(f"{{module}}.{{name}}{{sig.args}}")
print(json.dumps({{"called": called, "missing": missing}}))
""", PLANNER_WARMUP="0")
    assert got["called"] >= 7, got  # coverage, nearest sites, routes, the covering searches: the demo calls them all
    assert got["missing"] == []


def test_a_first_call_waits_for_the_warmup_instead_of_compiling(tmp_path) -> None:
    """With an empty kernel cache, the warm-up process compiles the kernel; this process's first
    call of it waits and loads it from the cache (a cache hit, no compiling here)."""
    got = _run("""
import json
import numpy as np
from planner import warmup
i = [n for _, n, _, _ in warmup.KERNELS].index("covered_weight")
before = warmup.is_cached(i)
started = warmup.start_in_background([i])
ptr, rows = np.array([0, 2, 3]), np.array([0, 1, 1])
weights = np.array([3.0, 4.0]); weights.flags.writeable = False
value = float(warmup._kernel(i)(ptr, rows, weights, np.array([True, False])))
warmup.wait()
stats = warmup._kernel(i).stats
print(json.dumps({"before": before, "started": len(started), "value": value, "after": warmup.is_cached(i),
                  "misses": sum(stats.cache_misses.values()), "hits": sum(stats.cache_hits.values())}))
""", NUMBA_CACHE_DIR=str(tmp_path / "numba"), PLANNER_WARMUP="1")
    assert got["before"] is False and got["started"] == 1 and got["after"] is True
    assert got["value"] == 7.0  # sites 0 covers demand 0 and 1
    assert got["misses"] == 0 and got["hits"] == 1, got


def test_no_warmup_when_switched_off_or_everything_is_cached(tmp_path) -> None:
    got = _run("""
import json
from planner import warmup
print(json.dumps({"started": len(warmup.start_in_background())}))
""", PLANNER_WARMUP="0")
    assert got["started"] == 0
    cache = str(tmp_path / "numba")
    subprocess.run([sys.executable, "-m", "planner.warmup", "3"], cwd=ROOT, env={**os.environ, "NUMBA_CACHE_DIR": cache}, check=True, timeout=300,
                   capture_output=True)
    got = _run("""
import json
from planner import warmup
print(json.dumps({"started": len(warmup.start_in_background([3]))}))
""", NUMBA_CACHE_DIR=cache, PLANNER_WARMUP="1")
    assert got["started"] == 0
