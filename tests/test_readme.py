"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def _check_costs_block(ns: dict) -> None:
    region, sites, coverage = ns["region"], ns["sites"], ns["coverage"]
    assert coverage.kind == "network" and coverage.shape == (len(region.demand), len(sites)) and coverage.nnz > 0
    assert coverage.costs.data.max() <= 15 * 60
    nearest = ns["nearest_s"]
    assert nearest.shape == (len(region.demand), 5) and (np.diff(nearest, axis=1) >= 0).all()
    path = ns["path"]
    assert path.cost > 0 and len(path.coords) >= 2 and path.kind == "network"
    assert ns["area"].area_m2 > 0 and ns["area"].contains(ns["costs"].engine.points_xy[[int(ns["costs"].site_index[0])]]).all()


def _check_plans_block(ns: dict, folder: Path) -> None:
    plan, town_plan = ns["plan"], ns["town_plan"]
    assert plan.summary["solver"]["proven_optimal"] and 0 <= plan.summary["covered_by_existing_share"] < plan.summary["covered_share"] <= 1
    assert (plan.sites["plan_status"] == "new").sum() == 5
    assert set(town_plan.sites.loc[town_plan.sites["plan_status"] == "new", "town"]) == {"town-3"}
    patrol, cold = ns["patrol"], ns["cold"]
    assert 1 <= len(patrol.routes) <= 3 and sum(len(r.stops) for r in patrol.routes) + len(patrol.unserved) == 30
    assert all(r.load <= 40 for r in cold.routes) and cold.summary["campaign"] == "cold"
    for name in ("out/coverage.html", "out/patrol-a4.html"):
        assert "leaflet" in (folder / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block runs as written, and what it computes is right (not merely that it does not crash)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), namespace)  # noqa: S102
    if "coverage" in namespace and "area" in namespace:
        _check_costs_block(namespace)
    elif "plan" in namespace and "patrol" in namespace:
        _check_plans_block(namespace, tmp_path)
    else:
        pytest.fail(f"README python block {index + 1} has no checks in this test: add them")


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2
