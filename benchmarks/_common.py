"""Helpers shared by the benchmark scripts: timing, peak memory of a child process, markdown tables."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def run_child(code: str, timeout_s: float = 3600) -> dict[str, Any]:
    """Run ``code`` in a fresh Python; it must print one JSON object last. Adds ``peak_rss_mb``.

    Peak memory is the child's own maximum resident set size, so each measurement starts from a
    clean interpreter.
    """
    tail = "\nimport resource as _r, json as _j\nprint(_j.dumps({'_peak_kb': _r.getrusage(_r.RUSAGE_SELF).ru_maxrss}))\n"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + tail], capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    lines = [line[line.index("{"):] for line in proc.stdout.strip().splitlines() if "{" in line]
    result = json.loads(lines[-2])
    result["peak_rss_mb"] = round(json.loads(lines[-1])["_peak_kb"] / 1024, 1)
    result["process_wall_s"] = round(wall, 2)
    return result


_WRAPPER = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
            "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")


def run_command(command: list[str], cwd: Path = ROOT, timeout_s: float = 3600) -> dict[str, Any]:
    """Run a command (e.g. ``planner …``) in a fresh wrapper process: its wall time and its own peak RSS."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, cwd=cwd, timeout=timeout_s)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"command failed: {' '.join(command)}\n{proc.stderr[-3000:]}")
    peak_kb = int(proc.stderr.strip().splitlines()[-1].split()[1])
    return {"seconds": round(wall, 1), "peak_rss_mb": round(peak_kb / 1024), "stdout": proc.stdout}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a service started by a benchmark)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    """One line describing this machine."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as a GitHub markdown table with the given columns."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def save(name: str, payload: Any) -> Path:
    """Write results JSON to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def wait_for_service(base: str, timeout_s: float = 120.0) -> None:
    """Poll ``base``/health until the service answers 200 (raises after ``timeout_s`` seconds)."""
    import httpx

    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service at {base} did not start within {timeout_s:g} s")


@contextmanager
def revision_tree(revision: str) -> Iterator[Path]:
    """A temporary git worktree of this repository at ``revision`` (the code before a change, to
    run side by side with it), with the shared reference data beside it as beside this checkout;
    removed afterwards."""
    tree = Path(tempfile.mkdtemp(prefix="before-")) / "tree"
    (tree.parent / "shared").symlink_to(SHARED_DATA.parent.resolve())
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision], check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False, capture_output=True)
        shutil.rmtree(tree.parent, ignore_errors=True)
