"""Benchmark: the README's "Your own city" commands on the example bureau files, as a user runs them.

``planner region example-files`` writes the synthetic 33-town city (6,000 demand points, GCJ-02
boundaries labelled CRS84, GBK CSV); then ``planner region build --no-network …`` and
``planner plan … --model pmedian --n-new 28 --min-per-town 1`` run verbatim, each in a fresh
process with an empty cache (wall time and peak memory are the command's own).

    python benchmarks/bench_own_city.py
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, markdown_table, run_command, save  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-own-city-"))
    planner = [sys.executable, "-m", "api.cli"]
    rows = []
    result = run_command([*planner, "region", "example-files", "--out", str(work)])
    rows.append({"step": "planner region example-files", **{k: v for k, v in result.items() if k != "stdout"}})
    block = re.search(r"```bash\n# your own city\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert block, "README has no 'Your own city' block"
    for command in block.group(1).replace("\\\n", " ").strip().splitlines():
        args = shlex.split(command)
        assert args[0] == "planner"
        result = run_command([*planner, *args[1:], "--cache-dir", str(work / "cache")] if args[1] == "region" else [*planner, *args[1:]], cwd=work)
        rows.append({"step": " ".join(args[:3]), **{k: v for k, v in result.items() if k != "stdout"}})
    plan = json.loads((work / "city-plan" / "plan.json").read_text(encoding="utf-8"))
    solver = plan["summary"]["solver"]
    print(f"machine: {machine()}")
    print(markdown_table(rows, ["step", "seconds", "peak_rss_mb"]))
    print(f"plan: {solver['name']}, proven optimal: {solver['proven_optimal']}, gap {solver['gap']:.2%}, solver {solver['seconds']:.1f} s; "
          f"stats: {json.dumps({k: solver['stats'].get(k) for k in ('n_demand', 'n_candidates', 'lagrangian_bound', 'candidates_left', 'mip_sites')})}")
    save("own_city", {"machine": machine(), "rows": rows, "solver": solver})


if __name__ == "__main__":
    main()
