"""Province batches on Dask distributed (``planner batch``): the spec's validation, a real local
cluster (and a scheduler given by its address), results equal to a serial solve, a failed region
reported without stopping the others, and a rerun keeping what finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import store as db
from api.batch import BatchSpec, load_coverage, save_coverage
from api.state import scenario_of
from geodata.errors import DataError
from geodata.synthetic import SyntheticSpec, synthetic_region
from planner.scenario import run_scenario, shared_coverage, use_coverage

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [
    {"name": "助餐 10 分钟", "facility_type": "meal_point", "standard_min": 10, "n_new": 4},
    {"name": "助餐 15 分钟", "facility_type": "meal_point", "standard_min": 15, "n_new": 4},
    {"name": "居家 15 分钟 每镇一个", "facility_type": "care_centre", "standard_min": 15, "n_new": 3, "unit_min": {"town": 1}},
]


def _spec(tmp_path: Path, regions: list[dict], scenarios: list[dict] = SCENARIOS, name: str = "广东省 标准调整") -> Path:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps({"name": name, "regions": regions, "scenarios": scenarios}, ensure_ascii=False), encoding="utf-8")
    return path


def _planner(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.entry", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


# ---------------------------------------------------------------------------- pieces
@pytest.mark.parametrize("data, field", [
    ([], "spec"),
    ({"name": "x", "regions": [], "scenarios": SCENARIOS}, "regions"),
    ({"name": "x", "regions": [{"id": "a", "region": "synthetic"}], "scenarios": []}, "scenarios"),
    ({"name": "", "regions": [{"id": "a", "region": "synthetic"}], "scenarios": SCENARIOS}, "name"),
    ({"name": "x", "regions": [{"id": "a", "region": "synthetic"}, {"id": "a", "region": "synthetic:2"}], "scenarios": SCENARIOS}, "regions"),
    ({"name": "x", "regions": [{"id": "a"}], "scenarios": SCENARIOS}, "regions[0]"),
    ({"name": "x", "regions": [{"id": "a", "region": "synthetic"}], "scenarios": [{"standard_min": -3}]}, "scenarios[0].standard_min"),
    ({"name": "x", "regions": [{"id": "a", "region": "synthetic"}], "scenarios": [SCENARIOS[0], SCENARIOS[0]]}, "scenarios"),
    ({"name": "x", "regions": [{"id": "a", "region": "synthetic"}], "scenarios": [{"town": "town-1"}]}, "scenarios[0]"),
    ({"name": "x", "regions": [{"id": "a", "region": "synthetic"}], "scenarios": SCENARIOS, "extra": 1}, "extra"),
])
def test_a_bad_spec_names_its_field(data, field) -> None:
    with pytest.raises(DataError) as caught:
        BatchSpec.from_dict(data)
    assert caught.value.field == field


def test_coverage_from_a_file_gives_the_same_plan(tmp_path) -> None:
    """Matrices computed once per group of scenarios (at the widest standard), written and read
    back, give each scenario the very plan a solve computing its own costs gives."""
    region = synthetic_region(SyntheticSpec(seed=11))
    scenarios = [scenario_of(s) for s in SCENARIOS]
    groups = shared_coverage(region, scenarios)
    assert sorted(sorted(members) for members, _ in groups) == [[0, 1], [2]]  # meal points share their points; care centres not
    fresh = synthetic_region(SyntheticSpec(seed=11))  # another process's view: nothing cached for it
    for members, coverage in groups:
        assert coverage.cutoff == max(scenarios[i].standard for i in members)
        path = tmp_path / f"{members[0]}.npz"
        save_coverage(coverage, path)
        loaded = load_coverage(path)
        assert (loaded.costs != coverage.costs).nnz == 0 and loaded.cutoff == coverage.cutoff
        for i in members:
            use_coverage(fresh, scenarios[i], loaded)
            expected = run_scenario(region, scenarios[i]).summary
            got = run_scenario(fresh, scenarios[i]).summary
            assert got["covered_persons"] == expected["covered_persons"] and got["solver"]["objective"] == expected["solver"]["objective"]
    narrow = scenario_of({**SCENARIOS[0], "standard_min": 30})
    with pytest.raises(ValueError, match="does not hold"):
        use_coverage(fresh, narrow, load_coverage(tmp_path / "0.npz"))  # a 15-minute matrix cannot answer a 30-minute standard
    with pytest.raises(ValueError, match="demand points"):
        use_coverage(fresh, scenarios[2], load_coverage(tmp_path / "0.npz"))  # other sites


# ---------------------------------------------------------------------------- on a cluster
@pytest.fixture(scope="module")
def scheduler():
    """A Dask cluster started outside the command (two single-threaded worker processes), reached by
    ``planner batch --scheduler ADDRESS`` as a cluster on other machines would be."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50) as cluster:
        yield cluster.scheduler_address


def test_batch_reports_a_failed_region_and_resumes(tmp_path, scheduler) -> None:
    """Two synthetic cities and a broken one × 3 scenarios on a cluster given by its address: 6
    plans stored (each equal to a serial solve), the broken city's 3 reported with the reason, the
    others unharmed.  Run again: nothing solved twice; a result lost (as if the run had died) and
    a scenario whose spec changed are solved again, and only they."""
    regions = [{"id": "韶关", "region": "synthetic:3"}, {"id": "坏城市", "region": str(tmp_path / "no-such-region")},
               {"id": "city-02", "region": "synthetic:4"}]
    spec = _spec(tmp_path, regions)
    data = tmp_path / "data"
    batch = ("batch", str(spec), "--scheduler", scheduler, "--data-dir", str(data))
    run = _planner(*batch, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    said = " ".join(run.stdout.split())
    assert scheduler in said and "6 solved, 0 kept from an earlier run, 3 failed" in said
    assert "region 坏城市 failed: build: unknown region" in said and "Traceback" not in run.stdout + run.stderr
    store = db.Store(db.default_db_url(data))
    cities = {"韶关": synthetic_region(SyntheticSpec(seed=3)), "city-02": synthetic_region(SyntheticSpec(seed=4))}
    results = store.rows(db.batch_results, limit=100)
    assert sorted((r["region"], r["status"]) for r in results) == sorted([("韶关", "done")] * 3 + [("city-02", "done")] * 3 + [("坏城市", "failed")] * 3)
    for row in (r for r in results if r["status"] == "done"):
        plan = store.get(db.plans, row["plan_id"])
        assert plan["kind"] == "batch" and plan["region"] == row["region"] and plan["spec"]["name"] == row["scenario"]
        assert (data / "snapshots" / plan["snapshot"]).is_dir()
        serial = run_scenario(cities[row["region"]], scenario_of(next(s for s in SCENARIOS if s["name"] == row["scenario"])))
        assert plan["payload"]["summary"]["covered_persons"] == pytest.approx(serial.summary["covered_persons"], rel=1e-12)
        assert row["seconds"] > 0 and row["peak_rss_mb"] > 50 and row["worker"]
    plans_before = store.count(db.plans)

    again = _planner(*batch, cwd=tmp_path)
    assert "0 solved, 6 kept from an earlier run, 3 failed" in " ".join(again.stdout.split()), again.stdout
    assert store.count(db.plans) == plans_before

    lost = next(r for r in store.rows(db.batch_results, db.batch_results.c.region == "city-02", limit=10) if r["scenario"] == SCENARIOS[0]["name"])
    with store.engine.begin() as con:
        con.execute(db.batch_results.delete().where(db.batch_results.c.id == lost["id"]))
    changed = [SCENARIOS[0], SCENARIOS[1], {**SCENARIOS[2], "n_new": 5}]
    fixed = [r for r in regions if r["id"] != "坏城市"]
    third = _planner("batch", str(_spec(tmp_path, fixed, changed)), "--scheduler", scheduler, "--data-dir", str(data), cwd=tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "3 solved, 3 kept from an earlier run, 0 failed" in " ".join(third.stdout.split()), third.stdout
    assert "region 韶关: read" in third.stdout  # the saved region is read, not built again


def test_batch_on_its_own_local_cluster(tmp_path) -> None:
    """Without ``--scheduler`` the command starts a local cluster of worker processes itself; an
    unreachable scheduler address is one clear line."""
    spec = _spec(tmp_path, [{"id": "清远", "region": "synthetic:5"}], SCENARIOS[:1], name="local")
    run = _planner("batch", str(spec), "--workers", "2", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "a local cluster of 2 worker processes" in " ".join(run.stdout.split()) and "1 solved" in run.stdout
    bad = _planner("batch", str(spec), "--scheduler", "tcp://127.0.0.1:9", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9") and "Traceback" not in bad.stderr
