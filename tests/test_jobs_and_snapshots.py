"""Stored plans are immutable snapshots; jobs run in worker processes that stop when told.

Each test once failed: a stored plan's map was solved again (3 of 5 sites differed from its JSON
after a restart or an upload); a cancelled job kept its worker busy (the next 1-second job
finished 100 s later); progress stayed at 0.1 for the whole solve.
"""

from __future__ import annotations

import io
import re
import time

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api import store as db
from api.service import Settings, create_app, wait_for_job
from maps.spec import read_map_data
from tests.limits import UNLIMITED

ADMIN = "pk_admin_for_job_tests_0123456789"
SLOW = {"name": "slow", "facility_type": "meal_point", "model": "pmedian", "n_new": 15, "capacitated": True, "allow_unserved": True,
        "standard_min": 15}
"""A capacitated p-median on the small synthetic city: HiGHS uses its whole time limit on it."""


def _app(region, folder, **settings):
    app = create_app(Settings(regions={"city": region}, db_url=db.default_db_url(folder), data_dir=folder, admin_key=ADMIN, **{**UNLIMITED, **settings}))
    client = TestClient(app)
    a = {"X-API-Key": ADMIN}
    planner = {"X-API-Key": client.post("/keys", json={"name": "p", "role": "planner"}, headers=a).json()["key"]}
    return app, client, planner


def _job(client, headers, spec) -> int:
    scenario = client.post("/regions/city/scenarios", json=spec, headers=headers)
    assert scenario.status_code == 201, scenario.text
    return client.post(f"/scenarios/{scenario.json()['id']}/run", headers=headers).json()["job"]


def test_cancel_ends_the_solve_and_frees_the_worker(small_city, tmp_path) -> None:
    app, client, planner = _app(small_city, tmp_path, workers=1)
    slow = _job(client, planner, {**SLOW, "time_limit": 120})
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = client.get(f"/jobs/{slow}", headers=planner).json()
        seen.append((row["progress"], row["message"]))
        if row["status"] == "running" and row["message"].startswith("searching"):
            break
        time.sleep(0.1)
    assert any(m.startswith("building the model") for _, m in seen) or any(m.startswith("searching") for _, m in seen)
    assert seen[-1][1].startswith("searching") and seen[-1][0] >= 0.4  # real stages, not 0.1 throughout
    assert app.state.planner.runner.running() == 1
    cancelled = client.post(f"/jobs/{slow}/cancel", headers=planner)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    started = time.monotonic()
    quick = _job(client, planner, {"facility_type": "meal_point", "n_new": 2, "standard_min": 10, "time_limit": 5})
    done = wait_for_job(app, quick, timeout_s=60)
    assert done["status"] == "done" and time.monotonic() - started < 30  # the only worker was freed at once
    assert app.state.planner.runner.running() == 0
    assert client.get(f"/jobs/{slow}", headers=planner).json()["status"] == "cancelled"


def test_a_job_is_stopped_at_its_hard_time_limit(small_city, tmp_path) -> None:
    app, client, planner = _app(small_city, tmp_path, job_grace_s=0.0)
    started = time.monotonic()
    job = wait_for_job(app, _job(client, planner, {**SLOW, "time_limit": 2}), timeout_s=60)
    assert job["status"] == "failed" and "hard time limit of 2 s" in job["message"]
    assert time.monotonic() - started < 10 and app.state.planner.runner.running() == 0


def _same(a: list[tuple[float, float]], b: list[tuple[float, float]], tol: float = 2e-6) -> bool:
    """The same places (lon, lat), in any order, to ``tol`` degrees (0.2 m)."""
    return len(a) == len(b) and all(abs(x[0] - y[0]) <= tol and abs(x[1] - y[1]) <= tol for x, y in zip(sorted(a), sorted(b)))


def _marker_sites(page: str) -> list[tuple[float, float]]:
    """(lon, lat) of every marker a map page draws (on a coverage map: the facilities)."""
    spec = read_map_data(page)
    return [(f["at"][1], f["at"][0]) for layer in spec["layers"] for f in layer["features"] if f["k"] == "m"]


def _excel_sites(content: bytes) -> list[tuple[float, float]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content))["设施"]
    rows = list(sheet.iter_rows(values_only=True))
    lon, lat = rows[0].index("经度(WGS-84)"), rows[0].index("纬度(WGS-84)")
    return [(float(r[lon]), float(r[lat])) for r in rows[1:]]


def test_a_stored_plan_is_drawn_from_its_snapshot_after_a_restart_and_an_upload(small_city, tmp_path) -> None:
    app, client, planner = _app(small_city, tmp_path)
    job = wait_for_job(app, _job(client, planner, {"facility_type": "meal_point", "n_new": 5, "standard_min": 10}))
    assert job["status"] == "done", job
    plan_id = job["plan_id"]
    before_map = client.get(f"/plans/{plan_id}/map", headers=planner).text
    before_json = client.get(f"/plans/{plan_id}", headers=planner).json()
    before_excel = client.get(f"/plans/{plan_id}/excel", headers=planner).content
    drawn = _marker_sites(before_map)
    assert _same(drawn, _excel_sites(before_excel)) and _same(drawn, [(s["lon"], s["lat"]) for s in before_json["sites"]])
    # an upload of better-placed candidates makes a new region version; the stored plan stays as it was
    demand = small_city.demand.nlargest(5, "pop_60")
    csv = "name,lon,lat\n" + "".join(f"新候选{k},{p.x},{p.y}\n" for k, p in enumerate(demand.geometry))
    up = client.post("/regions/city/uploads", headers=planner, files={"file": ("new.csv", csv.encode(), "text/csv")},
                     data={"kind": "candidates", "facility_type": "meal_point"})
    assert up.status_code == 201 and up.json()["region_version"] == 2
    # a restart: a new service on the same database and folder, nothing in memory
    app2 = create_app(Settings(regions={"city": small_city}, db_url=db.default_db_url(tmp_path), data_dir=tmp_path, admin_key=ADMIN, **UNLIMITED))
    client2 = TestClient(app2)
    after_map = client2.get(f"/plans/{plan_id}/map", headers=planner).text
    assert _marker_sites(after_map) == drawn  # the very same numbers
    assert client2.get(f"/plans/{plan_id}", headers=planner).json() == before_json
    assert _same(_excel_sites(client2.get(f"/plans/{plan_id}/excel", headers=planner).content), drawn)
    assert before_json["summary"]["region_version"] == 1
    assert [v["version"] for v in client2.get("/regions/city/versions", headers=planner).json()] == [2, 1]
    # a new run of the same scenario plans on the new version (5 more candidates); the old plan is untouched
    again = wait_for_job(app2, _job(client2, planner, {"facility_type": "meal_point", "n_new": 5, "standard_min": 10}))
    newer = client2.get(f"/plans/{again['plan_id']}", headers=planner).json()
    assert newer["summary"]["region_version"] == 2
    assert newer["summary"]["candidates_considered"] == before_json["summary"]["candidates_considered"] + 5
    assert client2.get(f"/plans/{plan_id}", headers=planner).json() == before_json


def test_an_old_version_can_be_planned_on(small_city, tmp_path) -> None:
    app, client, planner = _app(small_city, tmp_path)
    p = small_city.demand.geometry.iloc[0]
    client.post("/regions/city/uploads", headers=planner, files={"file": ("a.csv", f"name,lon,lat\nA,{p.x},{p.y}\n".encode(), "text/csv")},
                data={"kind": "candidates"})
    old = client.post("/regions/city/scenarios", json={"n_new": 1, "region_version": 1}, headers=planner).json()
    assert old["region_version"] == 1
    latest = client.post("/regions/city/scenarios", json={"n_new": 1}, headers=planner).json()
    assert latest["region_version"] == 2
    bad = client.post("/regions/city/scenarios", json={"n_new": 1, "region_version": 9}, headers=planner)
    assert bad.status_code == 404 and "has no version 9" in bad.json()["detail"]


@pytest.fixture(autouse=True)
def _no_stray_workers():
    yield
    import multiprocessing

    for child in multiprocessing.active_children():
        if child.name.startswith("planner-job-"):
            child.terminate()


def test_a_worker_process_inherits_the_costs_warmed_in_the_service(small_city, tmp_path) -> None:
    """What a forked solve computes is lost when it ends: the service warms the travel costs in its
    own process first, and the worker's solve then finds them instead of building them again."""
    from api.jobs import run_in_child
    from planner import scenario as planning
    from planner.scenario import Scenario, warm_costs

    town = small_city.units[small_city.units["level"] == "town"]["unit_id"].iloc[0]
    scenario = Scenario(facility_type="meal_point", model="mclp", n_new=2, town=town, standard_min=10)
    planning._COSTS_CACHE.clear()
    builds_in_child = run_in_child(_costs_built_by_a_solve, small_city, scenario, time_limit_s=120)
    assert builds_in_child == 1 and len(planning._COSTS_CACHE) == 0  # built in the child, lost with it
    warm_costs(small_city, scenario)
    assert len(planning._COSTS_CACHE) == 1
    assert run_in_child(_costs_built_by_a_solve, small_city, scenario, time_limit_s=120) == 0


def _costs_built_by_a_solve(region, scenario) -> int:
    """In a worker: solve, and count the travel-cost engines built meanwhile."""
    from planner import scenario as planning

    built = []
    original = planning.demand_site_costs
    planning.demand_site_costs = lambda *a, **k: built.append(1) or original(*a, **k)
    planning.run_scenario(region, scenario)
    return len(built)
