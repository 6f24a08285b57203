"""HTTP service: walk-through from the README on a live server, roles × endpoints, storage, bad input, fuzzing."""

from __future__ import annotations

import io
import os
import json
import re
import subprocess
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api import store as db
from api.service import Settings, create_app, wait_for_job
from geodata.chinacoords import wgs84_to_gcj02
from geodata.export import excel_bytes
from tests.conftest import DATABASES, fresh_database
from tests.limits import UNLIMITED
from tests.live import free_port, serving

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "pk_admin_for_tests_0123456789"


@pytest.fixture(scope="module", params=DATABASES)
def app_and_keys(request, sample_region, tmp_path_factory):
    """The service on the sample region with a key per role: once on SQLite, once on PostgreSQL."""
    folder = tmp_path_factory.mktemp("api")
    url = fresh_database(request, request.param, folder)
    app = create_app(Settings(regions={"sample": sample_region}, db_url=url, data_dir=folder, admin_key=ADMIN, solve_time_cap=5,
                              **UNLIMITED))
    client = TestClient(app)
    a = {"X-API-Key": ADMIN}
    station = sample_region.sites[sample_region.sites["status"] == "existing"]["name"].iloc[0]
    other = sample_region.sites[sample_region.sites["status"] == "existing"]["name"].iloc[1]
    keys = {"admin": ADMIN}
    for role, extra in (("planner", {}), ("street_office", {"town": "town-3"}), ("patrol", {"station": station})):
        r = client.post("/keys", json={"name": role, "role": role, **extra}, headers=a)
        assert r.status_code == 201, r.text
        keys[role] = r.json()["key"]
    return app, client, keys, station, other, folder


def h(key: str | None) -> dict:
    return {"X-API-Key": key} if key else {}


def test_planner_job_plan_map_excel(app_and_keys) -> None:
    app, client, keys, *_ = app_and_keys
    p = h(keys["planner"])
    r = client.post("/regions/sample/scenarios", json={"name": "居家养老中心", "facility_type": "care_centre", "standard_min": 15, "n_new": 3,
                                                       "unit_min": {"town": 1}, "unit_min_residents": 50}, headers=p)
    assert r.status_code == 201, r.text
    job = client.post(f"/scenarios/{r.json()['id']}/run", headers=p).json()
    done = wait_for_job(app, job["job"])
    assert done["status"] == "done", done
    status = client.get(f"/jobs/{job['job']}", headers=p).json()
    assert status["progress"] == 1.0 and status["plan"] == f"/plans/{done['plan_id']}"
    plan = client.get(f"/plans/{done['plan_id']}", headers=p).json()
    assert plan["summary"]["compliant"] is True and plan["summary"]["solver"]["proven_optimal"]
    assert client.get(f"/plans/{done['plan_id']}/compliance", headers=p).json()["targets"][0]["met"] is True
    geo = client.get(f"/plans/{done['plan_id']}/geojson", headers=p).json()
    assert len(geo["features"]) == plan["summary"]["new_sites"] + plan["summary"]["existing_sites"]
    page = client.get(f"/plans/{done['plan_id']}/map?kind=compliance&lang=zh", headers=p)
    assert page.status_code == 200 and "达标情况" in page.text and "/static/maps/leaflet/leaflet.js" in page.text
    assert client.get("/static/maps/leaflet/leaflet.js").status_code == 200
    xlsx = client.get(f"/plans/{done['plan_id']}/excel", headers=p)
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["概况", "设施", "镇街", "村(社区)"]
    headers = [c.value for c in next(book["设施"].iter_rows(max_row=1))]
    assert "名称" in headers and "新增覆盖人数(人)" in headers and "状态" in headers
    towns = list(book["镇街"].iter_rows(values_only=True))
    assert towns[0][0] == "镇街/园区" and {r[-1] for r in towns[1:]} <= {"达标", "无需设点"}
    english = openpyxl.load_workbook(io.BytesIO(client.get(f"/plans/{done['plan_id']}/excel?lang=en", headers=p).content))
    assert english.sheetnames == ["Summary", "Sites", "Towns", "Communities"]
    communities = list(book["村(社区)"].iter_rows(values_only=True))
    assert {r[-1] for r in communities[1:]} == {"无要求"}  # no community target: neither met nor failed


def test_roles_and_endpoints(app_and_keys, sample_region) -> None:
    app, client, keys, station, other, _ = app_and_keys
    p = h(keys["planner"])
    scenario = client.post("/regions/sample/scenarios", json={"n_new": 2, "standard_min": 10}, headers=p).json()["id"]
    job = client.post(f"/scenarios/{scenario}/run", headers=p).json()["job"]
    plan = wait_for_job(app, job)["plan_id"]
    sug = client.post("/regions/sample/suggestions", json={"town": "town-3", "k": 2}, headers=h(keys["street_office"])).json()["plan"]
    patrol = client.post("/regions/sample/patrols", json={"station": station, "teams": [{"count": 1}], "spots": 8}, headers=h(keys["patrol"])).json()["id"]
    planner_patrol = client.post("/regions/sample/patrols", json={"station": other, "teams": [{"count": 1}], "spots": 5}, headers=p).json()["id"]
    spare = client.post("/keys", json={"name": "spare", "role": "planner"}, headers=h(ADMIN)).json()["id"]
    town3 = sample_region.units[sample_region.units["unit_id"] == "town-3"].geometry.iloc[0].representative_point()
    upload = {"file": ("sites.csv", f"name,lon,lat\n新点,{town3.x},{town3.y}\n".encode(), "text/csv")}
    office, planner = h(keys["street_office"]), p
    to_approve, to_reject, to_read = (client.post("/regions/sample/uploads", files=upload, headers=office).json()["id"] for _ in range(3))
    to_delete = client.post("/regions/sample/uploads", files=upload, headers=planner).json()["id"]
    visits = client.post("/regions/sample/visits", json={"year": 2026, "month": 12}, headers=office)
    assert visits.status_code == 201, visits.text
    visits_id = visits.json()["id"]
    everyone = {"admin": 200, "planner": 200, "street_office": 200, "patrol": 200}
    public = {**everyone, None: 200}
    calls = [
        # (method, path, json body or files, {role: expected status}); a role absent from the dict
        # expects 403, no key expects 401 (unless the endpoint is public)
        ("get", "/health", None, public),
        ("get", "/version", None, public),
        ("get", "/me", None, everyone),
        ("get", "/regions", None, everyone),
        ("get", "/regions/{region_id}", None, everyone),
        ("get", "/regions/{region_id}/layers/{layer}", None, everyone),
        ("get", "/regions/{region_id}/versions", None, {"admin": 200, "planner": 200}),
        ("get", "/regions/{region_id}/sites", None, {"admin": 200, "planner": 200}),
        ("get", "/regions/{region_id}/sites/map", None, {"admin": 200, "planner": 200}),
        ("post", "/regions/{region_id}/uploads", upload, {"admin": 201, "planner": 201, "street_office": 201}),
        ("get", "/regions/{region_id}/uploads", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("get", "/uploads/{read_upload}", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("post", "/uploads/{approve_upload}/approve", None, {"admin": 409, "planner": 200}),  # planner first; then no longer pending
        ("post", "/uploads/{reject_upload}/reject", None, {"admin": 409, "planner": 200}),
        ("delete", "/uploads/{upload_id}", None, {"admin": 409, "planner": 200}),  # a planner's upload: not the office's to delete
        ("get", "/audit", None, {"admin": 200, "planner": 200}),
        ("get", "/keys", None, {"admin": 200}),
        ("post", "/keys", {"name": "x", "role": "planner"}, {"admin": 201}),
        ("delete", "/keys/{key_id}", None, {"admin": 200}),
        ("post", "/regions/{region_id}/scenarios", {"n_new": 1}, {"admin": 201, "planner": 201}),
        ("get", "/scenarios", None, {"admin": 200, "planner": 200}),
        ("get", "/jobs", None, {"admin": 200, "planner": 200}),
        ("get", "/plans", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("get", "/patrols", None, {"admin": 200, "planner": 200, "patrol": 200}),
        ("post", "/regions/{region_id}/hierarchies", {"time_limit": 5}, {"admin": 201, "planner": 201}),
        ("post", "/regions/{region_id}/visits", {"year": 2026, "month": 11}, {"admin": 201, "planner": 201, "street_office": 201}),
        ("get", "/visits", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("get", "/visits/{visits_id}", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("get", "/visits/{visits_id}/calendar", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("get", "/scenarios/{scenario_id}", None, {"admin": 200, "planner": 200}),
        ("post", "/scenarios/{scenario_id}/run", None, {"admin": 202, "planner": 202}),
        ("get", "/jobs/{job_id}", None, {"admin": 200, "planner": 200}),
        ("post", "/jobs/{job_id}/cancel", None, {"admin": 409, "planner": 409}),  # already done: 409, not 500
        ("get", "/plans/{plan_id}", None, {"admin": 200, "planner": 200}),
        ("get", "/plans/{plan_id}/geojson", None, {"admin": 200, "planner": 200}),
        ("get", "/plans/{plan_id}/compliance", None, {"admin": 200, "planner": 200}),
        ("get", "/plans/{plan_id}/map", None, {"admin": 200, "planner": 200}),
        ("get", "/plans/{plan_id}/excel", None, {"admin": 200, "planner": 200}),
        ("get", "/plans/{suggestion_plan}", None, {"admin": 200, "planner": 200, "street_office": 200}),
        ("post", "/regions/{region_id}/suggestions", {"town": "town-3", "k": 2}, {"admin": 200, "planner": 200, "street_office": 200}),
        ("post", "/regions/{region_id}/suggestions", {"town": "town-2", "k": 2}, {"admin": 200, "planner": 200}),
        ("post", "/regions/{region_id}/patrols", {"station": other, "teams": [{"count": 1}], "spots": 4}, {"admin": 201, "planner": 201}),
        ("get", "/patrols/{patrol_id}", None, {"admin": 200, "planner": 200, "patrol": 200}),
        ("get", "/patrols/{patrol_id}/geojson", None, {"admin": 200, "planner": 200, "patrol": 200}),
        ("get", "/patrols/{patrol_id}/gpx", None, {"admin": 200, "planner": 200, "patrol": 200}),
        ("get", "/patrols/{patrol_id}/map", None, {"admin": 200, "planner": 200, "patrol": 200}),
        ("get", "/patrols/{other_patrol}", None, {"admin": 200, "planner": 200}),  # another station's
    ]
    ids = {"region_id": "sample", "layer": "units", "key_id": spare, "scenario_id": scenario, "job_id": job, "plan_id": plan,
           "suggestion_plan": sug, "patrol_id": patrol, "other_patrol": planner_patrol,
           "read_upload": to_read, "approve_upload": to_approve, "reject_upload": to_reject, "upload_id": to_delete, "visits_id": visits_id}
    for method, template, body, allowed in calls:
        path = template.format(**ids)
        for role in ("patrol", "street_office", "planner", "admin", None):  # admin late: DELETE succeeds once
            kwargs = {"files": body} if body is upload else ({"json": body} if body is not None else {})
            r = getattr(client, method)(path, headers=h(keys.get(role) if role else None), **kwargs)
            expected = allowed.get(role, 401 if role is None else 403)
            assert r.status_code == expected, f"{role} {method.upper()} {path}: {r.status_code} {r.text[:200]}"
    # every operation of the service is in the table above
    aliases = {"{suggestion_plan}": "{plan_id}", "{other_patrol}": "{patrol_id}", "{read_upload}": "{upload_id}", "{approve_upload}": "{upload_id}",
               "{reject_upload}": "{upload_id}"}
    covered = set()
    for m, tpl, _, _ in calls:
        for alias, name in aliases.items():
            tpl = tpl.replace(alias, name)
        covered.add((m.upper(), tpl))
    declared = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    assert declared <= covered, f"endpoints missing from the role table: {sorted(declared - covered)}"
    # a street office reads its own town's demand only
    demand = client.get("/regions/sample/layers/demand", headers=h(keys["street_office"])).json()
    assert demand["features"] and {f["properties"]["town"] for f in demand["features"]} == {"town-3"}


def test_lists_are_paged_and_scoped_by_role(app_and_keys, sample_region) -> None:
    app, client, keys, station, other, _ = app_and_keys
    p, office, patrol = h(keys["planner"]), h(keys["street_office"]), h(keys["patrol"])
    for town in ("town-3", "town-2"):  # one suggestion for the office's town, one for another (asked by the planner)
        assert client.post("/regions/sample/suggestions", json={"town": town, "k": 1}, headers=p if town == "town-2" else office).status_code == 200
    for s in (station, other):
        assert client.post("/regions/sample/patrols", json={"station": s, "teams": [{}], "spots": 4}, headers=p).status_code == 201
    everything = client.get("/plans?limit=200", headers=p).json()
    assert everything["total"] == len(everything["items"]) >= 2 and everything["next_offset"] is None
    mine = client.get("/plans?limit=200", headers=office).json()["items"]
    assert mine and {(i["kind"], i["town"]) for i in mine} == {("suggestion", "town-3")}  # never another town's
    assert {i["town"] for i in everything["items"] if i["kind"] == "suggestion"} >= {"town-2", "town-3"}
    # pages: newest first, no item twice, next_offset leads to the end
    seen, offset = [], 0
    while offset is not None:
        page = client.get(f"/plans?limit=1&offset={offset}", headers=p).json()
        seen += [i["id"] for i in page["items"]]
        offset = page["next_offset"]
    assert seen == sorted(seen, reverse=True) == [i["id"] for i in everything["items"]]
    patrols = client.get("/patrols", headers=patrol).json()["items"]
    assert patrols and {i["station"] for i in patrols} == {station}  # its own station only
    assert {i["station"] for i in client.get("/patrols?limit=200", headers=p).json()["items"]} >= {station, other}
    assert client.get("/plans", headers=patrol).status_code == 403 and client.get("/patrols", headers=office).status_code == 403
    assert client.get("/plans?limit=0", headers=p).status_code == 422 and client.get("/plans?kind=x", headers=p).status_code == 422
    assert client.get("/scenarios", headers=p).json()["total"] >= 0 and client.get("/jobs?status=done", headers=p).status_code == 200


def test_hierarchy_scenario_runs_as_a_job(app_and_keys, sample_region) -> None:
    from planner.scenario import LevelSpec, run_hierarchy

    app, client, keys, *_ = app_and_keys
    p = h(keys["planner"])
    default = client.post("/regions/sample/hierarchies", json={"time_limit": 20}, headers=p)
    assert default.status_code == 201, default.text
    assert [lv["name"] for lv in default.json()["scenario"]["levels"]] == ["flagship", "town_centre", "community_venue"]  # the work plan's levels
    failed = wait_for_job(app, client.post(f"/scenarios/{default.json()['id']}/run", headers=p).json()["job"])
    assert failed["status"] == "failed" and "needs at least 1 site" in failed["message"]  # the sample lacks care-centre sites in a town: said
    levels = [{"name": "flagship", "site_types": ["care_centre"], "unit_level": "city", "existing_types": ["flagship"], "minimum": 1, "maximum": 1,
               "standard_min": 30, "weight": 0.5},
              {"name": "town_centre", "site_types": ["care_centre", "meal_point"], "unit_level": "town", "minimum": 1, "standard_min": 15},
              {"name": "community_venue", "site_types": ["meal_point"], "unit_level": "community", "minimum": 0, "standard_min": 8, "n_new": 5}]
    made = client.post("/regions/sample/hierarchies", json={"time_limit": 20, "levels": levels}, headers=p)
    assert made.status_code == 201, made.text
    levels = made.json()["scenario"]["levels"]
    job = client.post(f"/scenarios/{made.json()['id']}/run", headers=p).json()["job"]
    done = wait_for_job(app, job)
    assert done["status"] == "done", done
    plan = client.get(f"/plans/{done['plan_id']}", headers=p).json()
    assert plan["kind"] == "hierarchy" and [lv["name"] for lv in plan["levels"]] == ["flagship", "town_centre", "community_venue"]
    flagship = plan["levels"][0]
    assert len(flagship["sites"]) == 1  # one city flagship, no more
    # the same as the planner's own run (the job adds nothing and drops nothing)
    direct = run_hierarchy(sample_region, [LevelSpec(lv["name"], tuple(lv["site_types"]), lv["unit_level"],
                                                     existing_types=tuple(lv["existing_types"]) if lv["existing_types"] else None, minimum=lv["minimum"],
                                                     maximum=float("inf") if lv["maximum"] is None else lv["maximum"], standard_min=lv["standard_min"],
                                                     weight=lv["weight"], n_new=lv["n_new"]) for lv in levels], time_limit=20)
    assert plan["solver"]["proven_optimal"] and direct["solver"]["proven_optimal"]
    assert plan["solver"]["objective"] == pytest.approx(direct["solver"]["objective"], rel=1e-6)  # the same optimum (the sites may differ: ties)
    assert len(plan["levels"][2]["sites"]) <= 5  # the venue level's n_new held
    compliance = client.get(f"/plans/{done['plan_id']}/compliance", headers=p).json()
    assert compliance["compliant"] == all(lv["compliant"] for lv in plan["levels"]) and len(compliance["targets"]) == 3
    geo = client.get(f"/plans/{done['plan_id']}/geojson", headers=p).json()
    assert len(geo["features"]) == sum(len(lv["sites"]) for lv in plan["levels"])
    for path in ("map", "excel"):  # no one-level map or workbook for a hierarchy: said, not a 500
        r = client.get(f"/plans/{done['plan_id']}/{path}", headers=p)
        assert r.status_code == 409 and "hierarchy" in r.json()["detail"]
    assert client.get("/plans?kind=hierarchy", headers=p).json()["total"] >= 1
    bad = client.post("/regions/sample/hierarchies", json={"levels": [{"name": "x", "site_types": ["care_centre"], "unit_level": "town"},
                                                                       {"name": "x", "site_types": ["care_centre"], "unit_level": "town"}]}, headers=p)
    assert bad.status_code == 422 and bad.json()["field"] == "levels"
    assert client.post("/regions/sample/hierarchies", json={}, headers=h(keys["street_office"])).status_code == 403
    limited = client.post("/regions/sample/hierarchies", json={"n_new_by_level": {"community_venue": 7}}, headers=p).json()["scenario"]["levels"]
    assert [lv["n_new"] for lv in limited] == [None, None, 7]
    unknown = client.post("/regions/sample/hierarchies", json={"n_new_by_level": {"castle": 1}}, headers=p)
    assert unknown.status_code == 422 and unknown.json()["field"] == "n_new_by_level" and "castle" in unknown.json()["detail"]


def test_home_visit_rounds_by_role(app_and_keys, sample_region) -> None:
    from planner.routing.visits import elders_living_alone

    app, client, keys, *_ = app_and_keys
    p, office, patrol = h(keys["planner"]), h(keys["street_office"]), h(keys["patrol"])
    whole = client.post("/regions/sample/visits", json={"year": 2026, "month": 12, "visits_per_month": 2}, headers=p)
    assert whole.status_code == 201, whole.text
    s = whole.json()["summary"]
    assert s["elders"] == len(elders_living_alone(sample_region)) and s["month"] == "2026-12"
    calendar = client.get(f"/visits/{whole.json()['id']}/calendar", headers=p).json()
    per_elder = pd.Series([row["elder"] for row in calendar]).value_counts()
    assert len(calendar) > 0 and per_elder.max() <= 2  # never more visits than asked
    assert s["elders_with_all_visits"] == int((per_elder == 2).sum())
    for short in whole.json()["unserved"]:
        assert short["reason"]  # every elder short of visits is told why
    # a street office: its own town by default, never another's
    mine = client.post("/regions/sample/visits", json={"year": 2026, "month": 12}, headers=office)
    assert mine.status_code == 201 and mine.json()["summary"]["town"] == "town-3"
    assert mine.json()["summary"]["elders"] == len(elders_living_alone(sample_region, town="town-3"))
    assert "bases_note" in mine.json()["summary"]  # town-3 has no care facility: said, not hidden
    assert client.post("/regions/sample/visits", json={"year": 2026, "month": 12, "town": "town-2"}, headers=office).status_code == 403
    assert client.get(f"/visits/{whole.json()['id']}", headers=office).status_code == 403  # the whole region's: not the office's
    assert {i["town"] for i in client.get("/visits", headers=office).json()["items"]} == {"town-3"}
    assert client.post("/regions/sample/visits", json={"year": 2026, "month": 12}, headers=patrol).status_code == 403
    csv_bytes = client.get(f"/visits/{mine.json()['id']}/calendar?format=csv", headers=office).content
    assert csv_bytes.startswith("\ufeff".encode("utf-8")) and b"elder" in csv_bytes.splitlines()[0]
    assert client.post("/regions/sample/visits", json={"year": 2026, "month": 13}, headers=p).status_code == 422


def test_uploads_gcj02_and_bad_files(app_and_keys, sample_region) -> None:
    app, client, keys, *_ = app_and_keys
    office = h(keys["street_office"])
    town3 = sample_region.units[sample_region.units["unit_id"] == "town-3"].geometry.iloc[0].representative_point()
    lon, lat = wgs84_to_gcj02(town3.x, town3.y)  # outside China the offset is zero: still a valid declaration
    csv = f"name,lon,lat\n社区饭堂,{float(lon)},{float(lat)}\n".encode("utf-8")
    r = client.post("/regions/sample/uploads", headers=office, files={"file": ("../../etc/饭堂.csv", csv, "text/csv")},
                    data={"coords": "gcj02", "kind": "candidates"})
    assert r.status_code == 201, r.text
    upload = r.json()["id"]
    assert r.json()["status"] == "proposed" and r.json()["region_version"] is None  # an office proposes; the region is unchanged
    # the office may already ask for suggestions among its own proposed candidates
    sug = client.post("/regions/sample/suggestions", json={"town": "town-3", "k": 1, "upload_id": upload}, headers=office)
    assert sug.status_code == 200 and sug.json()["sites"][0]["name"] == "社区饭堂" and sug.json()["proposal"]
    assert sug.json()["town_name"] == sample_region.units.set_index("unit_id").loc["town-3", "name"]
    # approved, it makes a new region version; the version plans ran on is never changed in place
    approved = client.post(f"/uploads/{upload}/approve", json={"note": "好"}, headers=h(keys["planner"]))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    versions = app.state.planner.versions["sample"]
    new = approved.json()["region_version"]
    assert versions[new].sites["name"].eq("社区饭堂").any() and not versions[new - 1].sites["name"].eq("社区饭堂").any()
    assert not sample_region.sites["name"].eq("社区饭堂").any()
    listed = client.get("/regions/sample/versions", headers=h(keys["planner"])).json()
    assert listed[0]["version"] == new and listed[0]["upload_id"] == upload and listed[0]["parent"] == new - 1
    far = b"name,lon,lat\nfar away,113.75,23.02\n"
    r = client.post("/regions/sample/uploads", headers=h(keys["planner"]), files={"file": ("far.csv", far, "text/csv")})
    assert r.status_code == 422 and "outside region" in r.json()["detail"] and "far away" in r.json()["detail"]
    other_town = sample_region.units[sample_region.units["unit_id"] == "town-2"].geometry.iloc[0].representative_point()
    r = client.post("/regions/sample/uploads", headers=office, files={"file": ("x.csv", f"name,lon,lat\nx,{other_town.x},{other_town.y}\n".encode(), "text/csv")})
    assert r.status_code == 403
    r = client.post("/regions/sample/uploads", headers=office, files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 415
    r = client.post("/regions/sample/uploads", headers=office, files={"file": ("big.csv", b"a" * (5 * 1024 * 1024 + 1), "text/csv")})
    assert r.status_code == 413
    r = client.post("/regions/sample/uploads", headers=office, files={"file": ("broken.xlsx", b"not a workbook", "application/vnd.ms-excel")})
    assert r.status_code == 422
    r = client.post("/regions/sample/uploads", headers=office, files={"file": ("nolon.csv", b"name,x\n1,2\n", "text/csv")})
    assert r.status_code == 422


def test_bad_requests_name_the_cause(app_and_keys) -> None:
    _, client, keys, station, *_ = app_and_keys
    p = h(keys["planner"])
    r = client.post("/regions/sample/suggestions", json={"town": "Atlantis", "k": 2}, headers=p)
    assert r.status_code == 422 and "Atlantis" in r.json()["detail"]
    r = client.post("/regions/sample/scenarios", json={"n_new": 5, "standard_min": -1}, headers=p)
    assert r.status_code == 422 and "standard_min" in r.json()["detail"]
    r = client.post("/regions/sample/scenarios", json={"n_new": 5, "nonsense": 1}, headers=p)
    assert r.status_code == 422 and "nonsense" in r.json()["detail"]
    r = client.post("/regions/nowhere/scenarios", json={}, headers=p)
    assert r.status_code == 404
    # more sites than candidates: the job fails with the reason, the service answers
    sid = client.post("/regions/sample/scenarios", json={"facility_type": "care_centre", "n_new": 5000}, headers=p).json()["id"]
    job = client.post(f"/scenarios/{sid}/run", headers=p).json()["job"]
    done = wait_for_job(client.app, job)
    assert done["status"] == "failed" and done["message"]
    r = client.post("/regions/sample/patrols", json={"station": station, "teams": [{"shift_start": "25:00"}]}, headers=p)
    assert r.status_code == 422 and "shift_start" in r.json()["detail"]
    r = client.post("/regions/sample/patrols", json={"station": "nowhere", "teams": [{}]}, headers=p)
    assert r.status_code == 422 and "station" in r.json()["detail"]


def test_storage_survives_restart_and_interrupted_jobs_are_retried_once(app_and_keys, sample_region) -> None:
    """A job left running by a server that is gone is queued again and run (attempt 2 of 2); one
    that had been claimed twice already is failed instead; each says which, and the audit log too."""
    app, client, keys, _, _, folder = app_and_keys
    p = h(keys["planner"])
    sid = client.post("/regions/sample/scenarios", json={"n_new": 1}, headers=p).json()["id"]
    plan = wait_for_job(app, client.post(f"/scenarios/{sid}/run", headers=p).json()["job"])["plan_id"]
    store: db.Store = app.state.planner.store
    stuck = store.add(db.jobs, scenario_id=sid, status="running", progress=0.5, message="solving", attempts=1)
    twice = store.add(db.jobs, scenario_id=sid, status="running", progress=0.5, message="solving", attempts=2)
    restarted = create_app(Settings(regions={"sample": sample_region}, db_url=app.state.planner.settings.db_url, data_dir=folder))
    again = TestClient(restarted)
    assert again.get(f"/plans/{plan}", headers=p).status_code == 200  # keys and plans persisted
    failed = again.get(f"/jobs/{twice}", headers=p).json()
    assert failed["status"] == "failed" and "attempt 2 of 2" in failed["message"] and "not retried" in failed["message"]
    retried = wait_for_job(restarted, stuck)
    assert retried["status"] == "done" and retried["attempts"] == 2 and retried["plan_id"]
    actions = {(r["target_id"], r["action"]) for r in store.rows(db.audit, db.audit.c.target == "job")}
    assert {(str(stuck), "job.retry"), (str(twice), "job.fail")} <= actions
    assert again.get(f"/plans/{plan}/map", headers=p).status_code == 200  # plan object rebuilt after restart


def test_excel_output_is_not_a_formula() -> None:
    import pandas as pd

    content = excel_bytes({"s": pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "饭堂"]})}, {"name": "名称"})
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    values = [c.value for c in sheet["A"]]
    assert values == ["名称", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "饭堂"]


# ---------------------------------------------------------------------------- live server
@pytest.fixture(scope="module", params=DATABASES)
def live_server(request, sample_region, tmp_path_factory):
    """The service on a real port: once on SQLite, once on PostgreSQL."""
    folder = tmp_path_factory.mktemp("live")
    url = fresh_database(request, request.param, folder)
    app = create_app(Settings(regions={"sample": sample_region}, db_url=url, data_dir=folder, admin_key=ADMIN))
    with serving(app) as base:
        yield base, folder, url


def test_readme_walkthrough_runs(live_server, tmp_path, sample_region) -> None:
    base, folder, url = live_server
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n# walk-through\n(.*?)```", readme, re.S)
    assert block, "README has no walk-through block"
    script = tmp_path / "walk.sh"
    script.write_text("set -euo pipefail\n" + block.group(1) + '\necho "PLAN=$PLAN"\n', encoding="utf-8")
    run = subprocess.run(["bash", str(script)], cwd=tmp_path, env={"BASE": base, "ADMIN": ADMIN, "PATH": "/usr/bin:/bin:/usr/local/bin"},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "leaflet.js" in (tmp_path / "meal-points-map.html").read_text(encoding="utf-8")
    assert openpyxl.load_workbook(tmp_path / "meal-points.xlsx").sheetnames[:2] == ["概况", "设施"]
    assert json.loads((tmp_path / "suggestions.json").read_text(encoding="utf-8"))["sites"]
    assert "<trk>" in (tmp_path / "patrol.gpx").read_text(encoding="utf-8")
    assert "巡查路线" in (tmp_path / "patrol-map.html").read_text(encoding="utf-8")
    # the served maps draw over the region's basemap, its script and the assets served by the service
    # (drawing does not depend on the database: done once, on SQLite)
    from maps.base import BASEMAP_STYLE
    from tests.browser import render

    for name in ("meal-points-map", "patrol-map", "suggestions-map") if url.startswith("sqlite") else ():
        page = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
        assert re.search(r'src="/static/maps/basemaps/basemap-[0-9a-f]{16}\.js"', page), name
        served = tmp_path / f"{name}-served.html"  # as the browser would see it at its URL: assets from the service
        served.write_text(page.replace("<head>", f'<head><base href="{base}/">', 1), encoding="utf-8")
        out = render(served, tmp_path / f"{name}.png", width=1400, height=1000, budget_ms=6000)
        assert out.errors() == [], (name, out.errors())
        shown = out if name != "meal-points-map" else render(served.resolve().as_uri() + "#base-only", tmp_path / f"{name}-base.png", width=1400,
                                                                height=1000, budget_ms=6000)  # its choropleth covers the streets: data layers off
        assert shown.pixels_near(BASEMAP_STYLE["road"], 4) > 10_000, f"{name}: no streets drawn from the served basemap"
    # the meal-point map shows the plan's sites, also after a restart (drawn from the stored snapshot)
    from tests.test_jobs_and_snapshots import _excel_sites, _marker_sites, _same

    plan_id = int(re.search(r"PLAN=(\d+)", run.stdout).group(1))
    drawn = _marker_sites((tmp_path / "meal-points-map.html").read_text(encoding="utf-8"))
    assert len(drawn) >= 5 and _same(drawn, _excel_sites((tmp_path / "meal-points.xlsx").read_bytes()))
    restarted = TestClient(create_app(Settings(regions={"sample": sample_region}, db_url=url, data_dir=folder, admin_key=ADMIN)))
    again = restarted.get(f"/plans/{plan_id}/map?lang=zh", headers={"X-API-Key": ADMIN})
    assert again.status_code == 200 and _marker_sites(again.text) == drawn


def test_docs_and_maps_render_offline_from_the_service(live_server, tmp_path) -> None:
    from tests.browser import render

    base, _, url = live_server
    if not url.startswith("sqlite"):
        pytest.skip("the docs page does not depend on the database: drawn once, on SQLite")
    docs = render(f"{base}/docs", tmp_path / "docs.png", budget_ms=6000)
    assert docs.errors() == []
    assert docs.count("opblock") > 10, "Swagger UI did not draw the operations"
    assert docs.pixels_near("#49cc90", 10) > 500  # the green POST buttons are on screen


def test_sites_to_pick_are_the_scenarios_own(app_and_keys) -> None:
    """The picking list and map offer exactly the sites a scenario of the type plans with (its
    family, existing and candidate), each clickable site carrying its id."""
    from maps.spec import read_map_data
    from planner.scenario import FAMILIES

    app, client, keys, *_ = app_and_keys
    p = h(keys["planner"])
    for facility in ("meal_point", "care_centre"):
        listed = client.get(f"/regions/sample/sites?facility_type={facility}", headers=p).json()
        sites = [f["properties"] for f in client.get("/regions/sample/layers/sites", headers=p).json()["features"]]  # the latest version's
        family = [s["site_id"] for s in sites if s["type"] in FAMILIES.get(facility, (facility,)) and s["status"] in ("existing", "candidate")]
        assert [s["site_id"] for s in listed] == family and len(listed) > 0
        page = client.get(f"/regions/sample/sites/map?facility_type={facility}&lang=en", headers=p)
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers
        data = read_map_data(page.text)
        picks = [f["pick"] for layer in data["layers"] for f in layer["features"] if "pick" in f]
        assert sorted(picks) == sorted(s["site_id"] for s in listed) and set(data["pick"]["styles"]) == {"keep", "forbid"}
    bad = client.get("/regions/sample/sites?facility_type=rocket", headers=p)
    assert bad.status_code == 422 and "facility_type" in bad.text


def test_plan_print_pages_for_scenarios_only(app_and_keys) -> None:
    """A scenario plan prints as A4 pages whose figures are the stored plan's; a suggestion is refused, saying why."""
    from maps.spec import read_map_data

    app, client, keys, *_ = app_and_keys
    p = h(keys["planner"])
    sid = client.post("/regions/sample/scenarios", json={"n_new": 3, "standard_min": 10}, headers=p).json()["id"]
    plan_id = wait_for_job(app, client.post(f"/scenarios/{sid}/run", headers=p).json()["job"])["plan_id"]
    stored = client.get(f"/plans/{plan_id}", headers=p).json()
    page = client.get(stored["links"]["print"] + "&lang=en", headers=p)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    sheets = read_map_data(page.text)["sheets"]
    new = sorted((s for s in stored["sites"] if s["plan_status"] == "new"), key=lambda s: s["rank"])
    assert [row[1] for row in sheets[0]["table"]["rows"]] == [s["name"] for s in new]
    assert f"{stored['summary']['covered_share']:.1%}" in sheets[0]["lines"][1]
    sug = client.post("/regions/sample/suggestions", json={"town": "town-3", "k": 1}, headers=h(keys["street_office"])).json()["plan"]
    refused = client.get(f"/plans/{sug}/map?print_mode=true", headers=p)
    assert refused.status_code == 422 and "scenario plans" in refused.json()["detail"]


def test_patrol_print_sheets_and_gpx_times_from_the_service(app_and_keys) -> None:
    import gpxpy

    from maps.spec import read_map_data

    app, client, keys, station, *_ = app_and_keys
    patrol = h(keys["patrol"])
    made = client.post("/regions/sample/patrols", json={"station": station, "teams": [{"count": 2}], "spots": 8, "date": "2026-12-24"}, headers=patrol)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    page = client.get(f"/patrols/{pid}/map?print_mode=true&lang=zh", headers=patrol)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    sheets = read_map_data(page.text)["sheets"]
    teams = client.get(f"/patrols/{pid}", headers=patrol).json()["teams"]
    assert [s["team"] for s in sheets] == [t["team"] for t in teams]
    for sheet, team in zip(sheets, teams):
        assert [row[2] for row in sheet["table"]["rows"]] == [s["arrival"] for s in team["stops"]]  # the timetable is the stored round
        assert "2026-12-24" in sheet["lines"][0]  # the shift's date, as asked
    gpx = gpxpy.parse(client.get(f"/patrols/{pid}/gpx", headers=patrol).text)
    assert gpx.waypoints and all(w.time is not None for w in gpx.waypoints)
    first = teams[0]["stops"][0]
    local = gpx.waypoints[0].time.astimezone()  # written in UTC from this machine's clock of the shift
    expected = __import__("datetime").datetime(2026, 12, 24).astimezone() + __import__("datetime").timedelta(minutes=first["arrival_min"])
    assert abs((local - expected).total_seconds()) < 1  # the stored arrival on the shift's date


# ---------------------------------------------------------------------------- fuzzing
FUZZ_REQUESTS = int(os.environ.get("PLANNER_FUZZ_REQUESTS", "1000"))
"""Requests the fuzz test sends (CI: 1,000; a longer run: set PLANNER_FUZZ_REQUESTS)."""


def test_fuzz_no_server_errors(sample_region, tmp_path_factory, database_url) -> None:
    """schemathesis: FUZZ_REQUESTS generated requests against the app's own OpenAPI schema, with a
    fixed seed, as admin and as a street office; not one 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(regions={"sample": sample_region}, db_url=database_url, data_dir=folder, admin_key=ADMIN, solve_time_cap=1.0,
                              **UNLIMITED))
    client = TestClient(app, raise_server_exceptions=False)
    office = client.post("/keys", json={"name": "o", "role": "street_office", "town": "town-3"}, headers=h(ADMIN)).json()["key"]
    spare_keys = [client.post("/keys", json={"name": f"spare {k}", "role": "planner"}, headers=h(ADMIN)).json()["id"] for k in range(3)]
    # a few real objects, so that generated ids often hit something
    sid = client.post("/regions/sample/scenarios", json={"n_new": 1}, headers=h(ADMIN)).json()["id"]
    wait_for_job(app, client.post(f"/scenarios/{sid}/run", headers=h(ADMIN)).json()["job"])
    client.post("/regions/sample/suggestions", json={"town": "town-3", "k": 1}, headers=h(office))
    station = sample_region.sites[sample_region.sites["status"] == "existing"]["name"].iloc[0]
    client.post("/regions/sample/patrols", json={"station": station, "teams": [{}], "spots": 5}, headers=h(ADMIN))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 20
    strategies = {op.label: op.as_strategy() for op in operations}
    labels = sorted(strategies)
    sent: list[tuple[str, int]] = []

    @seed(20261129)
    @settings(max_examples=FUZZ_REQUESTS, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data) -> None:
        send(data, data.draw(st.sampled_from(labels)))

    def send(data, label: str) -> None:
        case = data.draw(strategies[label])
        key = data.draw(st.sampled_from([ADMIN, office]))
        if case.path_parameters and "key_id" in case.path_parameters:  # revoke spare keys only, never the fuzzer's own
            case.path_parameters["key_id"] = data.draw(st.sampled_from(spare_keys + [10**6]))
        elif case.path_parameters and not data.draw(st.booleans()):  # aim at what exists about half of the time
            for name in case.path_parameters:
                if name == "region_id":
                    case.path_parameters[name] = "sample"
                else:
                    case.path_parameters[name] = data.draw(st.integers(1, 3))
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        if data.draw(st.integers(0, 9)) != 9:  # mostly a valid key; sometimes whatever was generated
            kept = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "x-api-key"}
            kwargs["headers"] = {**kept, "X-API-Key": key}
        response = client.request(**{k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "json", "data", "files", "content") or (k == "cookies" and v)})
        sent.append((label, response.status_code))
        assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"

    fuzz()
    assert len(sent) >= FUZZ_REQUESTS
    for label in sorted(set(labels) - {label for label, _ in sent}):  # hypothesis' choices lean to the list's start: the rest too

        @seed(20261129)
        @settings(max_examples=10, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def sweep(data, label=label) -> None:
            send(data, label)

        sweep()
    assert len({label for label, _ in sent}) == len(labels)  # every operation was exercised
    succeeded = {label for label, status in sent if status < 300}
    assert len(succeeded) >= 8, f"too few operations got past validation: {sorted(succeeded)}"
    print(f"fuzz: {len(sent)} requests, {len(succeeded)} operations answered 2xx; statuses:",
          dict(sorted(__import__('collections').Counter(s for _, s in sent).items())))


def test_planner_serve_starts_with_no_setup(tmp_path, cache_dir) -> None:
    import sys

    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("planner serve did not answer /health")
        admin = (tmp_path / "data" / "admin-key.txt").read_text().strip()
        assert httpx.get(f"http://127.0.0.1:{port}/regions", headers={"X-API-Key": admin}).json()[0]["id"] == "sample"
        assert httpx.get(f"http://127.0.0.1:{port}/regions").status_code == 401
        assert (tmp_path / "data" / "planner.db").is_file()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "admin key" in out


def test_a_bad_tianditu_key_stops_start_up_clearly(sample_region, tmp_path) -> None:
    from api.service import StartupError

    settings = Settings(regions={"sample": sample_region}, db_url=db.default_db_url(tmp_path), data_dir=tmp_path, admin_key=ADMIN,
                        tianditu_token="<script>")
    with pytest.raises(StartupError, match="PLANNER_TIANDITU_TOKEN is not a Tianditu key"):
        create_app(settings)
