"""Safe for a bureau, tested against a live server as a hostile or careless user would try it:
user text never runs (maps in headless Chromium, Excel, GPX), uploads are governed and audited,
personal data is shown by role, limits answer 429/503/413 with when to retry, files are private
and the access log never holds a key."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from api import store as db
from api.privacy import LAYER_ACCESS
from api.service import Settings, StartupError, create_app
from geodata.export import safe_cell, write_csv
from tests.limits import UNLIMITED

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "pk_admin_for_safety_tests_0123456789"

PAYLOADS = [
    "<script>document.body.setAttribute('data-pwned','script');alert(1)</script>",
    "</script><script>document.body.setAttribute('data-pwned','close');alert(2)</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img');alert(3)\">",
    "${document.body.setAttribute('data-pwned','template'),document.title=7*191}",
    "x${'\"`}",  # a template hole with a quote: once blanked every later map
    "`+document.body.setAttribute('data-pwned','backtick')+`",
    "\"'><svg onload=\"document.body.setAttribute('data-pwned','svg')\">",
    "javascript:document.body.setAttribute('data-pwned','url')",
    "{{7*7}} {% raw %} <!-- ]]>",
    "\u202e饭堂 RTL\u202c \u200f名称",
    "=HYPERLINK(\"http://example.invalid\",\"点我\")",
    "line one\nline two \u2028 \u2029 end",
    "控制\x01字符\x07",
    "长者饭堂" * 850,  # a 10 kB name (10,200 bytes of UTF-8)
]
"""Names a hostile or careless user might give a site: each must show as text, never run."""
TEAM_PAYLOADS = [p[:100] for p in PAYLOADS[:8]]
"""Team names are at most 100 characters."""
SCENARIO_NAME = "<script>document.body.setAttribute('data-pwned','title')</script> 方案 ${7*7}"


def _points_in(polygon: shapely.Geometry, n: int, seed: int = 0) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = polygon.bounds
    inner = polygon.buffer(-0.0003)
    found: list[tuple[float, float]] = []
    while len(found) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if inner.contains(shapely.Point(x, y)):
            found.append((float(x), float(y)))
    return found


def _csv(names: list[str], points: list[tuple[float, float]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "lon", "lat"])
    for name, (x, y) in zip(names, points):
        writer.writerow([name, f"{x:.7f}", f"{y:.7f}"])
    return out.getvalue().encode("utf-8")


class LiveServer:
    """A uvicorn server on loopback in a thread, and an httpx client per key."""

    def __init__(self, settings: Settings) -> None:
        import socket

        import uvicorn

        self.app = create_app(settings)
        self.folder = settings.data_dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                break
            time.sleep(0.05)
        self.keys = {"admin": ADMIN}

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": self.keys[role]}, timeout=120)

    def add_key(self, name: str, role: str, **extra: str) -> str:
        with self.client("admin") as admin:
            r = admin.post("/keys", json={"name": name, "role": role, **extra})
            assert r.status_code == 201, r.text
        self.keys[name] = r.json()["key"]
        return self.keys[name]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def live(sample_region, tmp_path_factory):
    folder = tmp_path_factory.mktemp("safety")
    server = LiveServer(Settings(regions={"sample": sample_region}, db_url=db.default_db_url(folder), data_dir=folder, admin_key=ADMIN,
                                 solve_time_cap=5, **UNLIMITED))
    station = sample_region.sites[sample_region.sites["status"] == "existing"]["name"].iloc[0]
    server.add_key("planner", "planner")
    server.add_key("office", "street_office", town="town-3")
    server.add_key("office2", "street_office", town="town-2")
    server.add_key("patrol", "patrol", station=station)
    yield server
    server.stop()


def _town(region, unit_id: str) -> shapely.Geometry:
    return region.units[region.units["unit_id"] == unit_id].geometry.iloc[0]


# ---------------------------------------------------------------------------- 1. user text never runs
def _page_file(live: LiveServer, client: httpx.Client, path: str, folder: Path, name: str) -> Path:
    """A map page as the service serves it, saved with its asset links pointing back at the server."""
    r = client.get(path)
    assert r.status_code == 200, r.text[:300]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    page = r.text.replace('"/static/maps/', f'"{live.base}/static/maps/')
    target = folder / f"{name}.html"
    target.write_text(page, encoding="utf-8")
    return target


def _as_text(payload: str) -> str:
    """How Chromium serialises a text node holding ``payload``."""
    return payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\u00a0", "&nbsp;")


def _check_page(path: Path, png: Path, *, title: str, texts: list[str], min_markers: int) -> None:
    from tests.browser import render

    out = render(path.resolve().as_uri() + "#open-all", png, budget_ms=6000)
    assert out.errors() == [], out.errors()
    ran = re.search(r'data-pwned="[^"]*"', out.dom)  # the attribute a payload would set (as text the name is harmless)
    assert ran is None, ran.group(0)
    found = re.search(r"<title>(.*?)</title>", out.dom, re.S)
    assert found and html.unescape(found.group(1)) == title  # document.title unchanged
    assert out.count("leaflet-marker-icon") >= min_markers  # the map still draws
    for text in texts:  # and every name shows as text
        assert _as_text(text) in out.dom, f"not shown as text: {text[:60]!r}"


def test_payload_corpus_never_runs(live, sample_region, tmp_path) -> None:
    planner, office = live.client("planner"), live.client("office")
    town3 = _town(sample_region, "town-3")
    # a planner's candidates and a facility (later a patrol's depot), an office's proposal: all named by the corpus
    r = planner.post("/regions/sample/uploads", files={"file": ("候选.csv", _csv(PAYLOADS, _points_in(town3, len(PAYLOADS), 1)), "text/csv")})
    assert r.status_code == 201, r.text
    candidates = r.json()["site_ids"]
    depot_name = PAYLOADS[2]
    r = planner.post("/regions/sample/uploads", files={"file": ("站.csv", _csv([depot_name], _points_in(town3, 1, 2)), "text/csv")},
                     data={"kind": "facilities", "facility_type": "meal_point"})
    assert r.status_code == 201, r.text
    r = office.post("/regions/sample/uploads", files={"file": ("自报.csv", _csv(PAYLOADS, _points_in(town3, len(PAYLOADS), 3)), "text/csv")})
    assert r.status_code == 201 and r.json()["status"] == "proposed", r.text
    proposal = r.json()["id"]
    # the stored names are the names given (only the control characters an .xlsx cannot hold differ later)
    stored = office.get(f"/uploads/{proposal}").json()["sites"]["features"]
    assert [f["properties"]["name"] for f in stored] == PAYLOADS

    # planner's scenario with every corpus site opened
    r = planner.post("/regions/sample/scenarios", json={"name": SCENARIO_NAME, "n_new": len(candidates), "required_sites": candidates,
                                                        "standard_min": 10})
    assert r.status_code == 201, r.text
    job = planner.post(f"/scenarios/{r.json()['id']}/run").json()["job"]
    from api.service import wait_for_job

    plan = wait_for_job(live.app, job)["plan_id"]
    coverage = _page_file(live, planner, f"/plans/{plan}/map?lang=zh", tmp_path, "coverage")
    compliance = _page_file(live, planner, f"/plans/{plan}/map?kind=compliance&lang=en", tmp_path, "compliance")
    # the office's suggestion among its own proposed (corpus-named) candidates
    r = office.post("/regions/sample/suggestions", json={"town": "town-3", "k": len(PAYLOADS), "upload_id": proposal})
    assert r.status_code == 200, r.text
    ranked = r.json()["sites"]
    assert ranked and {s["name"] for s in ranked} <= set(PAYLOADS)
    suggestion = _page_file(live, office, r.json()["map"], tmp_path, "suggestion")
    # a patrol from the corpus-named facility, teams named by the corpus
    r = planner.post("/regions/sample/patrols", json={"station": depot_name, "teams": [{"name": n, "count": 1} for n in TEAM_PAYLOADS[:4]],
                                                      "spots": 8, "time_limit": 1})
    assert r.status_code == 201, r.text
    teams_out = [t["team"] for t in r.json()["teams"] if t["stops"]]
    assert teams_out and set(teams_out) <= set(TEAM_PAYLOADS)
    patrol = _page_file(live, planner, f"/patrols/{r.json()['id']}/map", tmp_path, "patrol")

    printable = [p for p in PAYLOADS if not re.search(r"[\x00-\x1f\u2028\u2029]", p)]
    _check_page(coverage, tmp_path / "coverage.png", title=f"服务覆盖 · {SCENARIO_NAME}", texts=printable + [SCENARIO_NAME], min_markers=len(PAYLOADS))
    _check_page(compliance, tmp_path / "compliance.png", title=f"Compliance with targets · {SCENARIO_NAME}", texts=printable, min_markers=len(PAYLOADS))
    town_name = sample_region.units.set_index("unit_id").loc["town-3", "name"]
    _check_page(suggestion, tmp_path / "suggestion.png", title=f"选址建议 · {town_name}", texts=printable, min_markers=len(ranked))
    _check_page(patrol, tmp_path / "patrol.png", title=f"巡查路线 · {sample_region.name}", texts=[depot_name, *teams_out], min_markers=2)

    # Excel: every name as text, formulas neutralised, control characters replaced
    book = openpyxl.load_workbook(io.BytesIO(planner.get(f"/plans/{plan}/excel").content))
    rows = list(book["设施"].iter_rows(values_only=True))
    names = {r[rows[0].index("名称")] for r in rows[1:]}
    assert {safe_cell(p) for p in PAYLOADS} <= names
    assert all(not str(n).startswith("=") for n in names)
    # GPX: well-formed XML holding the names
    import xml.dom.minidom

    gpx = planner.get(f"/patrols/{r.json()['id']}/gpx").content
    document = xml.dom.minidom.parseString(gpx)
    names = [n.firstChild.data for n in document.getElementsByTagName("name") if n.firstChild]
    assert f"{teams_out[0]} ({depot_name})" in names


def test_csv_output_is_not_a_formula(tmp_path) -> None:
    path = write_csv(pd.DataFrame({"name": ["=1+1", "-2", "饭堂", "a\x01b"], "n": [1, 2, 3, 4]}), tmp_path / "t.csv")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["name"].tolist() == ["'=1+1", "'-2", "饭堂", "a\ufffdb"] and back["n"].tolist() == [1, 2, 3, 4]


# ---------------------------------------------------------------------------- 2. governed uploads
def _facility_row(planner: httpx.Client, scenario: dict) -> dict:
    sid = planner.post("/regions/sample/scenarios", json=scenario).json()["id"]
    return planner.post(f"/scenarios/{sid}/run").json()


def test_office_uploads_are_proposals_until_a_planner_approves(live, sample_region) -> None:
    from api.service import wait_for_job

    planner, office, office2, patrol = live.client("planner"), live.client("office"), live.client("office2"), live.client("patrol")
    town3, town2 = _town(sample_region, "town-3"), _town(sample_region, "town-2")
    spec = {"name": "town-3 coverage", "town": "town-3", "n_new": 0, "standard_min": 10, "group": "pop_60", "facility_type": "meal_point"}

    def covered_by_existing() -> float:
        sid = planner.post("/regions/sample/scenarios", json=spec).json()["id"]
        plan = wait_for_job(live.app, planner.post(f"/scenarios/{sid}/run").json()["job"])["plan_id"]
        return planner.get(f"/plans/{plan}").json()["summary"]["covered_by_existing_share"]

    before = covered_by_existing()
    version_before = planner.get("/regions").json()[0]["version"]
    # an office's "existing facilities" across its town: a proposal, no scenario sees them
    points = _points_in(town3, 12, 5)
    r = office.post("/regions/sample/uploads", files={"file": ("现有.csv", _csv([f"自报饭堂{k}" for k in range(12)], points), "text/csv")},
                    data={"kind": "facilities"})
    assert r.status_code == 201 and r.json()["status"] == "proposed" and r.json()["region_version"] is None
    upload = r.json()["id"]
    assert planner.get("/regions").json()[0]["version"] == version_before
    assert covered_by_existing() == before
    # outside its town: refused, naming the sites
    r = office.post("/regions/sample/uploads", files={"file": ("外.csv", _csv(["邻镇点"], _points_in(town2, 1, 6)), "text/csv")})
    assert r.status_code == 403 and "邻镇点" in r.json()["detail"]
    # listing and reading by role
    assert upload in [u["id"] for u in office.get("/regions/sample/uploads").json()]
    assert upload not in [u["id"] for u in office2.get("/regions/sample/uploads").json()]
    assert office2.get(f"/uploads/{upload}").status_code == 403 and patrol.get(f"/uploads/{upload}").status_code == 403
    assert [u["id"] for u in planner.get("/regions/sample/uploads?status=proposed").json()].count(upload) == 1
    # only a planner decides
    assert office.post(f"/uploads/{upload}/approve").status_code == 403
    r = planner.post(f"/uploads/{upload}/approve", json={"note": "核实无误"})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["region_version"] == version_before + 1
    after = covered_by_existing()
    assert after > before  # now they serve residents in every planner's scenario
    # the office can no longer withdraw it; a planner deletes it: a new version without its sites
    assert office.delete(f"/uploads/{upload}").status_code == 409
    r = planner.delete(f"/uploads/{upload}")
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    assert planner.get("/regions").json()[0]["version"] == version_before + 2
    assert covered_by_existing() == before
    versions = planner.get("/regions/sample/versions").json()
    assert versions[0]["change"] == "remove" and versions[1]["change"] == "add" and versions[0]["upload_id"] == versions[1]["upload_id"] == upload
    # an office withdraws its own pending proposal; a rejected one never enters
    pending = office.post("/regions/sample/uploads", files={"file": ("p.csv", _csv(["待撤回"], _points_in(town3, 1, 7)), "text/csv")}).json()["id"]
    assert office.delete(f"/uploads/{pending}").json()["status"] == "withdrawn"
    rejected = office.post("/regions/sample/uploads", files={"file": ("r.csv", _csv(["待驳回"], _points_in(town3, 1, 8)), "text/csv")}).json()["id"]
    r = planner.post(f"/uploads/{rejected}/reject", json={"note": "位置在河道内"})
    assert r.json()["status"] == "rejected" and office.get(f"/uploads/{rejected}").json()["decision_note"] == "位置在河道内"
    assert office.post("/regions/sample/suggestions", json={"town": "town-3", "k": 1, "upload_id": rejected}).status_code == 409
    assert planner.get("/regions").json()[0]["version"] == version_before + 2  # neither changed the region

    # the audit log: who, what, counts before/after; planners and admins read it, nobody else
    log = planner.get("/audit?region=sample").json()
    by_action = {(e["action"], e["target_id"]): e for e in log}
    approve = by_action[("upload.approve", str(upload))]
    assert approve["key_name"] == "planner" and approve["role"] == "planner" and approve["created_at"]
    assert approve["detail"]["region_sites_after"] == approve["detail"]["region_sites_before"] + 12
    delete = by_action[("upload.delete", str(upload))]
    assert delete["detail"]["region_sites_after"] == delete["detail"]["region_sites_before"] - 12
    assert ("upload.propose", str(upload)) in by_action and ("upload.withdraw", str(pending)) in by_action
    assert ("upload.reject", str(rejected)) in by_action
    assert office.get("/audit").status_code == 403 and patrol.get("/audit").status_code == 403
    keys_log = live.client("admin").get("/audit?action=key.create").json()
    assert {e["detail"]["role_created"] for e in keys_log} >= {"planner", "street_office", "patrol"}
    assert all(live.keys["planner"] not in json.dumps(e) for e in keys_log)


# ---------------------------------------------------------------------------- 3. personal data by role
def test_personal_data_by_role(live, sample_region) -> None:
    planner, office, patrol = live.client("planner"), live.client("office"), live.client("patrol")
    # a planner reads demand points with their counts of elders living alone
    points = planner.get("/regions/sample/layers/demand").json()["features"]
    assert len(points) == len(sample_region.demand) and "pop_alone" in points[0]["properties"]
    # a patrol team reads no demand and no case records, only what a patrol needs
    assert patrol.get("/regions/sample/layers/demand").status_code == 403
    assert patrol.get("/regions/sample/layers/patrol_spots").status_code == 200
    assert patrol.get("/regions/sample/layers/sites").status_code == 200
    # every layer of the region, by role, as docs/PRIVACY.md lists it (layers not listed: planners only)
    layers = ["units", "demand", "sites", *sample_region.layers]
    assert {"patrol_spots", "buildings"} <= set(layers)  # the sample has no case records (incidents): the table is checked below
    for layer in layers:
        assert planner.get(f"/regions/sample/layers/{layer}").status_code == 200, layer
        for client, role in ((office, "street_office"), (patrol, "patrol")):
            allowed = LAYER_ACCESS.get(layer, {}).get(role, "no") != "no"
            assert client.get(f"/regions/sample/layers/{layer}").status_code == (200 if allowed else 403), (layer, role)
    assert LAYER_ACCESS["incidents"]["street_office"] == LAYER_ACCESS["incidents"]["patrol"] == "no"
    # a street office: its town's communities, small counts suppressed, never a point
    town3 = sample_region.demand[sample_region.demand["town"] == "town-3"]
    communities = office.get("/regions/sample/layers/demand").json()["features"]
    assert communities and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in communities)
    assert {f["properties"]["town"] for f in communities} == {"town-3"}
    assert all("demand_id" not in f["properties"] for f in communities)
    truth = town3.groupby("community")["pop_alone"].sum()
    shown = {f["properties"]["unit_id"]: f["properties"]["pop_alone"] for f in communities}
    assert set(shown) == set(sample_region.units[(sample_region.units["level"] == "community") & (sample_region.units["parent_id"] == "town-3")]["unit_id"])
    for community, value in shown.items():
        real = float(truth.get(community, 0.0))
        if 0 < real < 5:
            assert value is None, (community, real)
        else:
            assert value == round(real)
    assert any(v is None for v in shown.values()) or (truth[truth > 0] >= 5).all()  # the sample has small counts to hide
    # the region summary: small per-town counts suppressed below planner level
    summary = office.get("/regions/sample").json()
    for groups in summary["population_by_town"].values():
        assert all(v is None or v >= 5 or v == 0 for v in groups.values())
    # a suggestion for elders living alone: per-site counts under 5 hidden from the office
    r = office.post("/regions/sample/suggestions", json={"town": "town-3", "k": 5, "group": "pop_alone"})
    assert r.status_code == 200
    adds = [s["adds_persons"] for s in r.json()["sites"]]
    def hidden_or_safe(value) -> bool:  # suppressed, nobody, or at least 5 persons
        return value is None or value == 0 or value >= 5

    assert all(hidden_or_safe(a) for a in adds)
    plan = office.get(f"/plans/{r.json()['plan']}").json()
    assert all(hidden_or_safe(s.get("adds_persons")) for s in plan["sites"])
    full = planner.get(f"/plans/{r.json()['plan']}").json()  # the planner sees every figure
    new_adds = [s["adds_persons"] for s in full["sites"] if s["plan_status"] == "new"]
    assert all(isinstance(a, (int, float)) for a in new_adds)
    assert len(adds) == len(new_adds) and all((a is None and 0 < f < 5) or (a is not None and abs(a - f) <= 0.5) for a, f in zip(adds, new_adds))
    geo = office.get(f"/plans/{r.json()['plan']}/geojson").json()
    assert all(hidden_or_safe(f["properties"].get("adds_persons")) for f in geo["features"])
    # no server path in any answer
    for client, path in ((planner, "/regions/sample"), (office, "/regions/sample"), (planner, "/regions")):
        text = client.get(path).text
        assert not re.search(r"/(work|root|home|tmp|usr|site-packages)/", text), path


# ---------------------------------------------------------------------------- 4. limits
@pytest.fixture(scope="module")
def limited(sample_region, small_city, tmp_path_factory):
    folder = tmp_path_factory.mktemp("limited")
    server = LiveServer(Settings(regions={"sample": sample_region, "city": small_city}, db_url=db.default_db_url(folder), data_dir=folder,
                                 admin_key=ADMIN, workers=1, rate_per_minute=60, rate_burst=10, max_pending_jobs=2, max_pending_jobs_per_key=1,
                                 inline_solves=1, inline_wait_s=0.2, inline_time_cap_s=3))
    for name in ("rate", "rate2", "queue_a", "queue_b", "queue_c", "inline_a", "inline_b", "misc"):  # one key per test: buckets apart
        server.add_key(name, "planner")
        time.sleep(1.0)  # the admin's bucket refills (60 a minute)
    yield server
    server.stop()


def test_rate_limit_per_key(limited) -> None:
    a, b = limited.client("rate"), limited.client("rate2")
    answers = [a.get("/regions") for _ in range(14)]
    codes = [r.status_code for r in answers]
    assert codes[:10] == [200] * 10 and 429 in codes[10:]
    refused = next(r for r in answers if r.status_code == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 3 and "try again" in refused.json()["detail"]
    assert b.get("/regions").status_code == 200  # another key is not held up
    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert a.get("/regions").status_code == 200  # and the key may go on when told


SLOW = {"name": "slow", "facility_type": "meal_point", "model": "pmedian", "n_new": 15, "capacitated": True, "allow_unserved": True,
        "standard_min": 15, "time_limit": 60}
"""A capacitated p-median on the small synthetic city: HiGHS uses its whole time limit on it."""


def test_bounded_job_queue(limited) -> None:
    clients = {k: limited.client(f"queue_{k}") for k in ("a", "b", "c")}
    scenario = {k: c.post("/regions/city/scenarios", json=SLOW).json()["id"] for k, c in clients.items()}
    first = clients["a"].post(f"/scenarios/{scenario['a']}/run")
    assert first.status_code == 202
    again = clients["a"].post(f"/scenarios/{scenario['a']}/run")
    assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 1 and "jobs queued or running" in again.json()["detail"]
    second = clients["b"].post(f"/scenarios/{scenario['b']}/run")
    assert second.status_code == 202
    full = clients["c"].post(f"/scenarios/{scenario['c']}/run")
    assert full.status_code == 503 and int(full.headers["Retry-After"]) >= 1 and "queue is full" in full.json()["detail"]
    for key, answer in (("a", first), ("b", second)):
        assert clients[key].post(f"/jobs/{answer.json()['job']}/cancel").json()["status"] == "cancelled"
    third = clients["c"].post(f"/scenarios/{scenario['c']}/run")
    assert third.status_code == 202  # room again
    assert clients["c"].post(f"/jobs/{third.json()['job']}/cancel").status_code == 200


def test_inline_solves_are_bounded_and_capped(limited, sample_region) -> None:
    station = sample_region.sites[sample_region.sites["status"] == "existing"]["name"].iloc[0]
    a, b = limited.client("inline_a"), limited.client("inline_b")
    answers: dict[str, httpx.Response] = {}
    started = time.monotonic()

    def patrol() -> None:  # asks for 30 s of search; the service caps it at 3 s
        answers["patrol"] = a.post("/regions/sample/patrols", json={"station": station, "teams": [{"count": 2}], "spots": 30, "time_limit": 30})
        answers["patrol_s"] = time.monotonic() - started  # type: ignore[assignment]

    thread = threading.Thread(target=patrol)
    thread.start()
    time.sleep(1.0)
    busy = b.post("/regions/sample/suggestions", json={"town": "town-3", "k": 2})
    thread.join(timeout=120)
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1 and "try again" in busy.json()["detail"]
    assert answers["patrol"].status_code == 201, answers["patrol"].text
    assert answers["patrol_s"] < 25  # the 30 s asked for were capped  # type: ignore[operator]
    assert b.post("/regions/sample/suggestions", json={"town": "town-3", "k": 2}).status_code == 200  # the slot is free again


def test_request_bodies_are_bounded(limited) -> None:
    c = limited.client("misc")
    big = json.dumps({"name": "x" * (2 * 1024 * 1024)})
    r = c.post("/regions/sample/scenarios", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(40):
            yield b"x" * 65536

    r = c.post("/regions/sample/scenarios", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def _workbook(point: tuple[float, float], rows: int = 3) -> bytes:
    frame = pd.DataFrame({"name": [f"点{k}" for k in range(rows)], "lon": [point[0]] * rows, "lat": [point[1]] * rows})
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    return buffer.getvalue()


def test_zip_bomb_workbook_is_refused(limited, sample_region) -> None:
    c = limited.client("misc")
    point = _points_in(_town(sample_region, "town-3"), 1, 9)[0]
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_workbook(point))) as good, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for item in good.infolist():
            data = good.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":  # the sheet padded with 200 MB of blanks: compresses to ~200 KB
                data = data.replace(b"</sheetData>", b"</sheetData>" + b" " * (200 * 1024 * 1024))
            out.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    payload = bomb.getvalue()
    assert len(payload) < 1024 * 1024
    started = time.monotonic()
    r = c.post("/regions/sample/uploads", files={"file": ("bomb.xlsx", payload, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 422 and "unzips to" in r.json()["detail"] and time.monotonic() - started < 5
    ok = c.post("/regions/sample/uploads", files={"file": ("ok.xlsx", _workbook(point), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert ok.status_code == 201, ok.text  # a real workbook still goes in


# ---------------------------------------------------------------------------- 5. files and logs
def _last_logged(folder: Path, path: str) -> dict:
    """The access log's last entry for ``path`` (the line is written just after the answer is sent)."""
    for _ in range(100):
        entries = [json.loads(line) for line in (folder / "access.log").read_text(encoding="utf-8").splitlines()]
        mine = [e for e in entries if e["path"] == path]
        if mine:
            return mine[-1]
        time.sleep(0.05)
    raise AssertionError(f"{path} not in the access log")


def test_files_are_private_and_the_access_log_holds_no_key(live) -> None:
    folder = live.folder
    live.client("office").get("/regions/sample")
    assert live.client("patrol").get("/regions/nowhere").status_code == 404
    for name in ("planner.db", "access.log"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(folder / "snapshots").st_mode) == 0o700
    entry = _last_logged(folder, "/regions/nowhere")
    assert {"time", "key_id", "method", "path", "status", "duration_ms"} <= set(entry)
    assert entry["status"] == 404 and entry["method"] == "GET" and entry["duration_ms"] >= 0
    with live.client("admin") as admin:
        patrol_id = next(k["id"] for k in admin.get("/keys").json() if k["name"] == "patrol")
    assert entry["key_id"] == patrol_id
    assert httpx.get(f"{live.base}/audit").status_code == 401
    anonymous = _last_logged(folder, "/audit")
    assert anonymous["status"] == 401 and anonymous["key_id"] is None
    text = (folder / "access.log").read_text(encoding="utf-8")
    assert all(secret not in text for secret in live.keys.values())  # a key id, never a key


def test_a_revoked_admin_key_stops_start_up_with_a_clear_error(sample_region, tmp_path) -> None:
    store = db.Store(db.default_db_url(tmp_path))
    key_id, secret = store.create_key("old admin", "admin")
    store.revoke_key(key_id)
    planner_id, planner_secret = store.create_key("a planner", "planner")
    store.engine.dispose()
    settings = dict(regions={"sample": sample_region}, db_url=db.default_db_url(tmp_path), data_dir=tmp_path)
    with pytest.raises(StartupError, match="revoked"):
        create_app(Settings(admin_key=secret, **settings))
    with pytest.raises(StartupError, match="not an admin key"):
        create_app(Settings(admin_key=planner_secret, **settings))
    run = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--data-dir", str(tmp_path), "--port", "9"], cwd=ROOT,
                         env={**os.environ, "PLANNER_ADMIN_KEY": secret}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "revoked" in lines[0] and "PLANNER_ADMIN_KEY" in lines[0]
