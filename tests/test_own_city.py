"""A bureau's own city: Amap (GCJ-02) boundaries labelled CRS84, a GBK population CSV with short headers,
existing centres without a status column, candidate sites, no road network.

The city is a seeded synthetic one placed at Dongguan's latitude (33 towns); its true WGS-84
geometry is known, so every result is checked against the truth, not against our own reading.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from typer.testing import CliRunner

from api.cli import app
from geodata.bureau_files import china_city_spec, write_bureau_files
from geodata.chinacoords import gcj02_to_wgs84, wgs84_to_gcj02
from geodata.region import Region
from geodata.synthetic import synthetic_region
from tests.limits import UNLIMITED

ROOT = Path(__file__).resolve().parents[1]
SPEC = dataclasses.replace(china_city_spec(3), n_demand=3000)
"""The test city: 33 towns on 24 × 24 km, 3,000 demand points (a smaller sample of the example city)."""
runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    """The bureau's files, and the region and plan built from them by the README's commands, verbatim."""
    folder = tmp_path_factory.mktemp("own-city")
    files = write_bureau_files(folder, SPEC)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n# your own city\n(.*?)```", readme, re.S)
    assert block, "README has no 'Your own city' block"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PLANNER_CACHE_DIR=str(folder / "cache"))
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block.group(1)], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return {**files, "folder": folder, "region": folder / "city-region", "plan": folder / "city-plan", "stdout": run.stdout}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def truth() -> Region:
    """The same synthetic city in true WGS-84 (as generated, before any file was written)."""
    return synthetic_region(SPEC, network=False)


def test_every_town_has_a_centre_inside_its_true_polygon(city, truth) -> None:
    sites = gpd.read_file(city["plan"] / "sites.geojson")
    towns = truth.units_at("town")
    assert len(towns) == 33
    inside = {name for name, poly in zip(towns["name"], towns.geometry) if shapely.contains(poly, shapely.points(sites[["lon", "lat"]].to_numpy())).any()}
    assert inside == set(towns["name"])
    # the sites are where the files put them, converted from GCJ-02 (not 300–600 m off)
    existing = pd.read_csv(city["existing"], encoding="gbk")
    true_lon, true_lat = gcj02_to_wgs84(existing["经度"].to_numpy(), existing["纬度"].to_numpy())
    kept = sites[sites["status"] == "existing"].set_index("name").loc[existing["名称"]]
    np.testing.assert_allclose(kept["lon"], true_lon, atol=2e-6)
    np.testing.assert_allclose(kept["lat"], true_lat, atol=2e-6)
    assert set(sites["status"]) == {"existing", "new"} and (sites["status"] == "new").sum() == 28
    assert set(sites.loc[sites["status"] == "existing", "name"]) == set(existing["名称"])  # every existing centre kept
    plan = json.loads((city["plan"] / "plan.json").read_text(encoding="utf-8"))
    assert plan["summary"]["compliant"] and plan["compliance"][0]["met"] and plan["summary"]["solver"]["proven_optimal"]
    assert plan["compliance"][0]["target_zh"] == "每个镇街/园区至少 1 个居家社区养老服务中心"


def test_headline_coverage_equals_an_independent_straight_line_count(city) -> None:
    """Geodesic distances (pyproj.Geod) from every resident point to every open centre, × 1.3 at 0.9 m/s."""
    plan = json.loads((city["plan"] / "plan.json").read_text(encoding="utf-8"))
    demand = pd.read_csv(city["demand"], encoding="gbk")
    lon, lat = gcj02_to_wgs84(demand["lon"].to_numpy(), demand["lat"].to_numpy())
    sites = gpd.read_file(city["plan"] / "sites.geojson")
    geod = Geod(ellps="WGS84")
    reach_m = 15 * 60 * 0.9 / 1.3
    covered = np.zeros(len(demand), bool)
    for slon, slat in zip(sites["lon"], sites["lat"]):
        _, _, dist = geod.inv(np.full(len(lon), slon), np.full(len(lat), slat), lon, lat)
        covered |= dist <= reach_m
    region = Region.load(city["region"])
    kept = len(region.demand)  # points inside the boundaries (all but those on the outer edge)
    assert kept >= len(demand) - 3
    share = float(demand.loc[covered, "pop60"].sum() / demand["pop60"].sum())
    assert plan["summary"]["covered_share"] == pytest.approx(share, abs=2e-3)
    assert plan["summary"]["residents_in_group"] == pytest.approx(demand["pop60"].sum(), rel=2e-3)
    assert plan["summary"]["costs"]["kind"] == "straight-line" and plan["summary"]["costs"]["detour_factor"] == 1.3


def test_outputs_name_towns_and_say_times_are_straight_line(city) -> None:
    book = openpyxl.load_workbook(city["plan"] / "plan.xlsx")
    assert book.sheetnames == ["概况", "设施", "镇街"]
    towns = list(book["镇街"].iter_rows(values_only=True))
    assert towns[0][0] == "镇街/园区" and "服务对象人数(人)" in towns[0] and "平均用时(分钟)" in towns[0]
    assert sorted(r[0] for r in towns[1:]) == [f"合成镇{k:02d}" for k in range(1, 34)]
    assert {r[-1] for r in towns[1:]} == {"达标"}
    summary = {r[0]: r[1] for r in book["概况"].iter_rows(values_only=True)}
    assert "直线距离 × 1.3 的估算" in summary["出行时间计算方式"] and summary["求解结果"] == "已证明为最优方案"
    sites = list(book["设施"].iter_rows(values_only=True))
    assert {r[3] for r in sites[1:]} == {"居家社区养老服务中心"} and {r[4] for r in sites[1:]} == {"现有", "新增"}
    units = pd.read_csv(city["plan"] / "units.csv", encoding="utf-8-sig")
    assert units["达标情况"].eq("达标").all() and units["名称"].str.startswith("合成镇").all()
    plan = json.loads((city["plan"] / "plan.json").read_text(encoding="utf-8"))
    assert {s["type_zh"] for s in plan["sites"]} == {"居家社区养老服务中心"} and {s["plan_status_en"] for s in plan["sites"]} == {"Existing", "New"}
    assert all(s["town_name"].startswith("合成镇") for s in plan["sites"]) and {u["compliance_zh"] for u in plan["units"]} == {"达标"}
    assert "STRAIGHT-LINE ESTIMATES" in plan["summary"]["data"]["en"] and "直线距离" in plan["summary"]["data"]["zh"]
    assert "OpenStreetMap" not in plan["summary"]["data"]["en"]  # no roads were read, and the note says so
    for name, needle in (("map-zh.html", "直线距离"), ("map-en.html", "STRAIGHT-LINE"), ("compliance-zh.html", "直线距离"), ("compliance-en.html", "STRAIGHT-LINE")):
        assert needle in (city["plan"] / name).read_text(encoding="utf-8"), name
    assert "STRAIGHT-LINE" in city["stdout"] and "proven optimal" in city["stdout"]


def test_a_city_without_roads_gets_a_basemap_of_its_towns(city, tmp_path) -> None:
    """The bureau's city has no road network: its maps still draw over a basemap of its boundaries
    and Chinese town names, made from its own files, with the towns labelled in the page."""
    import re

    from maps.base import BASEMAP_STYLE
    from maps.spec import read_map_data
    from tests.browser import render

    page = (city["plan"] / "compliance-zh.html").read_text(encoding="utf-8")
    script = re.search(r'src="assets/basemaps/(basemap-[0-9a-f]{16})\.js"', page)
    assert script and (city["plan"] / "assets" / "basemaps" / f"{script.group(1)}.js").is_file()
    data = read_map_data(page)
    assert data["base"]["offline"]["outline"]["type"] in ("Polygon", "MultiPolygon")
    out = render(city["plan"] / "compliance-zh.html", tmp_path / "c.png", width=1400, height=1000, budget_ms=8000)
    assert out.errors() == []
    labels = set(re.findall(r'planner-label-town[^>]*><span>([^<]+)</span>', out.dom))
    assert labels == {f"合成镇{k:02d}" for k in range(1, 34)}  # Chinese names drawn, untouched
    bare = render((city["plan"] / "compliance-zh.html").resolve().as_uri() + "#base-only", tmp_path / "b.png", width=1400, height=1000, budget_ms=8000)
    assert bare.pixels_near(BASEMAP_STYLE["boundary"], 30) > 2000  # the town boundaries of the basemap
    assert bare.pixels_near(BASEMAP_STYLE["road"], 4) < 100  # and no invented streets


def test_coords_out_adds_amap_coordinates_with_six_decimals(city, tmp_path) -> None:
    result = runner.invoke(app, ["plan", str(city["region"]), "--facility", "居家社区养老服务中心", "--model", "mclp", "--n-new", "3",
                                 "--standard-min", "10", "--coords-out", "gcj02", "--lang", "en", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    raw = json.loads((tmp_path / "p" / "sites.geojson").read_text(encoding="utf-8"))
    for feature in raw["features"]:
        props = feature["properties"]
        glon, glat = wgs84_to_gcj02(props["lon"], props["lat"])
        assert props["gcj02_lon"] == pytest.approx(float(glon), abs=1e-6) and props["gcj02_lat"] == pytest.approx(float(glat), abs=1e-6)
        for value in (props["lon"], props["lat"], props["gcj02_lon"], *feature["geometry"]["coordinates"]):
            assert len(repr(float(value)).split(".")[1]) <= 6
    book = openpyxl.load_workbook(tmp_path / "p" / "plan.xlsx")
    assert book.sheetnames == ["Summary", "Sites", "Towns"]
    header = [c.value for c in next(book["Sites"].iter_rows(max_row=1))]
    assert "Longitude (GCJ-02)" in header and "Residents added (persons)" in header


def test_boundaries_left_in_gcj02_are_detected_and_the_fix_named(city, tmp_path) -> None:
    args = ["region", "build", "--name", "东莞市", "--no-network", "--admin", str(city["towns"]), "--name-field", "name", "--level-field", "level",
            "--population-file", str(city["demand"]), "--column", "pop_all=pop", "--column", "pop_60=pop60",
            "--candidates", str(city["candidates"]), "--existing", str(city["existing"]), "--site-type", "care_centre",
            "--coords", "gcj02", "--admin-coords", "wgs84", "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = result.output
    found = re.search(r"(\d+) of (\d+) sites fall outside the town named in their `镇街` column; the boundaries may be GCJ-02: "
                      r"try --admin-coords gcj02 \(then (\d+) of (\d+) would agree\)", text)
    assert found, text
    bad, n, fixed = int(found.group(1)), int(found.group(2)), int(found.group(3))
    assert bad > 0.02 * n and fixed >= n - 1
    assert "demand points fall outside the town named in their `town` column" in text
    # declared right, the files agree and nothing is said
    args[args.index("--admin-coords") + 1] = "gcj02"
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "fall outside the town" not in again.output


def test_a_sites_file_without_status_needs_existing_or_candidates(city, tmp_path) -> None:
    result = runner.invoke(app, ["region", "build", "--no-network", "--admin", str(city["towns"]), "--level-field", "level",
                                 "--population-file", str(city["demand"]), "--sites", str(city["candidates"]), "--site-type", "care_centre",
                                 "--coords", "gcj02", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2
    assert "--existing FILE or --candidates FILE" in result.stderr and "field 'status'" in result.stderr and "candidates.csv" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def _build(city: dict, tmp_path: Path, **replace: Path) -> object:
    files = {k: str(replace.get(k, city[k])) for k in ("towns", "demand", "existing", "candidates")}
    return runner.invoke(app, ["region", "build", "--name", "测试市", "--no-network", "--admin", files["towns"], "--level-field", "level",
                               "--population-file", files["demand"], "--column", "pop_all=pop", "--column", "pop_60=pop60",
                               "--candidates", files["candidates"], "--existing", files["existing"], "--site-type", "care_centre",
                               "--coords", "gcj02", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "r")])


def _one_line_error(result: object) -> str:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output  # type: ignore[attr-defined]
    return lines[0]


def test_bad_inputs_exit_2_with_one_line_naming_file_field_and_feature(city, tmp_path) -> None:
    candidates = pd.read_csv(city["candidates"], encoding="gbk")
    # swapped longitude/latitude
    swapped = candidates.rename(columns={"经度": "纬度", "纬度": "经度"})
    swapped.to_csv(tmp_path / "swapped.csv", index=False, encoding="gbk")
    line = _one_line_error(_build(city, tmp_path, candidates=tmp_path / "swapped.csv"))
    assert "longitude and latitude look swapped" in line and "swapped.csv" in line and "field '经度/纬度'" in line and "feature row 2" in line
    assert len(line) > 80  # not wrapped
    # every site outside the region
    far = candidates.assign(经度=candidates["经度"] + 1.0)
    far.to_csv(tmp_path / "far.csv", index=False, encoding="gbk")
    line = _one_line_error(_build(city, tmp_path, candidates=tmp_path / "far.csv"))
    assert "every point lies outside the region" in line and "far.csv" in line and "field 'geometry'" in line and "feature far-1" in line
    # swapped longitude/latitude in the boundaries
    towns = json.loads(Path(city["towns"]).read_text(encoding="utf-8"))
    for f in towns["features"]:
        f["geometry"]["coordinates"] = [[[y, x] for x, y in ring] for ring in f["geometry"]["coordinates"]]
    (tmp_path / "towns-swapped.geojson").write_text(json.dumps(towns, ensure_ascii=False), encoding="utf-8")
    line = _one_line_error(_build(city, tmp_path, towns=tmp_path / "towns-swapped.geojson"))
    assert "longitude and latitude look swapped" in line and "towns-swapped.geojson" in line and "feature 0" in line
    # no site of the planned type
    line = _one_line_error(runner.invoke(app, ["plan", str(city["region"]), "--facility", "meal_point", "--n-new", "3", "--out", str(tmp_path / "x")]))
    assert "no existing or candidate site of type meal_point" in line and "care_centre/candidate" in line and "field 'type'" in line
    # a town with no candidate (and no existing centre)
    truth_town = candidates["镇街"].value_counts().index[-1]
    existing = pd.read_csv(city["existing"], encoding="gbk")
    existing = existing[existing["镇街"] != truth_town]
    candidates[candidates["镇街"] != truth_town].to_csv(tmp_path / "fewer.csv", index=False, encoding="gbk")
    existing.to_csv(tmp_path / "existing.csv", index=False, encoding="gbk")
    assert _build(city, tmp_path, candidates=tmp_path / "fewer.csv", existing=tmp_path / "existing.csv").exit_code == 0
    line = _one_line_error(runner.invoke(app, ["plan", str(tmp_path / "r"), "--facility", "care_centre", "--model", "pmedian", "--n-new", "30",
                                               "--min-per-town", "1", "--out", str(tmp_path / "y")]))
    assert f"town '{truth_town}' needs at least 1 site(s) but has 0 existing or candidate site(s)" in line
    assert "fewer.csv" in line and "field town" in line
    # an unknown --column target, and a mapped column no file has
    line = _one_line_error(runner.invoke(app, ["region", "build", "--no-network", "--admin", str(city["towns"]), "--column", "pop_90=x"]))
    assert "unknown column target 'pop_90'" in line


def test_region_summary_says_what_was_derived_and_from_which_files(city) -> None:
    region = Region.load(city["region"])
    s = region.summary()
    assert s["travel"]["kind"] == "straight-line" and s["travel"]["speed_mps"] == {"drive": pytest.approx(24 / 3.6, abs=1e-3), "walk": 0.9}
    assert s["population_derived"]["en"] == ["Aged 80+ not given: derived from Aged 60+ × 0.1358",
                                             "Elders living alone not given: derived from Aged 60+ × 0.12"]
    assert region.provenance["population"]["columns"] == {"pop_all": "pop", "pop_60": "pop60"}
    demand = pd.read_csv(city["demand"], encoding="gbk")
    assert region.demand["pop_80"].sum() == pytest.approx(demand["pop60"].sum() * 0.0254 / 0.187, rel=2e-3)
    assert "towns.geojson" in s["data"]["en"] and "demand.csv" in s["data"]["en"] and "candidates.csv" in s["data"]["en"]
    assert "roads" not in s["data"]["en"].split("no road network")[0]


@pytest.fixture(scope="module")
def full_city(city, tmp_path_factory) -> Region:
    """The city with its relief stations (TYPE=FILE) and its own patrol spots, built by the CLI."""
    out = tmp_path_factory.mktemp("full-city") / "region"
    result = runner.invoke(app, ["region", "build", "--name", "东莞市", "--no-network", "--admin", str(city["towns"]), "--level-field", "level",
                                 "--population-file", str(city["demand"]), "--column", "pop_all=pop", "--column", "pop_60=pop60",
                                 "--candidates", str(city["candidates"]), "--existing", str(city["existing"]), "--site-type", "care_centre",
                                 "--existing", f"rescue_station={city['stations']}", "--patrol-spots", str(city["patrol_spots"]),
                                 "--coords", "gcj02", "--cache-dir", str(out.parent / "cache"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return Region.load(out)


def test_patrols_visits_and_hierarchy_without_roads(full_city) -> None:
    from planner.routing.patrol import Team, plan_patrols, stops_from_spots
    from planner.scenario import LevelSpec, run_hierarchy
    from planner.routing.visits import plan_home_visits_on_region

    region = full_city
    assert region.sites.groupby("type").size().to_dict() == {"care_centre": 271, "rescue_station": 2}
    spots = region.layers["patrol_spots"]
    assert len(spots) == 30 and set(spots["kind"]) == {"underpass", "station", "park", "marketplace", "bus_station"}
    stops = stops_from_spots(spots, limit=12)
    assert stops["priority"].tolist() == sorted(stops["priority"], reverse=True) and stops["priority"].iloc[0] == 5  # the bureau's own priorities
    depots = region.sites[region.sites["type"] == "rescue_station"][["name", "geometry"]].head(1).reset_index(drop=True)
    patrol = plan_patrols(region, stops, depots, [Team("夜巡队", depots["name"].iloc[0], count=2, mode="walk", shift=("20:00", "02:00"))], time_limit=2)
    assert patrol.summary["costs"]["walk"]["kind"] == "straight-line" and "直线距离" in patrol.summary["data"]["zh"]
    geod = Geod(ellps="WGS84")
    legs = patrol.legs_frame()
    assert len(legs) and (legs.geometry.apply(lambda g: len(g.coords)) == 2).all()  # straight legs, no invented streets
    for _, leg in legs.head(5).iterrows():
        (x0, y0), (x1, y1) = leg.geometry.coords
        metres = geod.inv(x0, y0, x1, y1)[2]
        assert leg["metres"] == pytest.approx(metres * 1.3, rel=2e-3, abs=0.2)  # straight line × the detour factor
        assert leg["minutes"] == pytest.approx(metres * 1.3 / 1.2 / 60, rel=2e-3, abs=0.051)  # staff walk 1.2 m/s (minutes shown to 0.1)
    elders = region.demand.nlargest(40, "pop_alone")[["geometry"]].assign(name=lambda f: [f"长者{k}" for k in range(len(f))], visits_per_month=2)
    visitors = region.sites[region.sites["status"] == "existing"].query("type == 'care_centre'")[["name", "geometry"]].assign(capacity=20, weekdays="1,2,3,4,5")
    visits = plan_home_visits_on_region(region, elders, visitors, year=2026, month=12, max_travel_min=60)
    assert visits.summary["costs"]["kind"] == "straight-line" and visits.summary["elders"] == 40
    hierarchy = run_hierarchy(region, [LevelSpec("town_centre", ("care_centre",), "town", minimum=1, standard_min=15)], time_limit=30)
    assert hierarchy["costs"]["kind"] == "straight-line" and hierarchy["levels"][0]["compliant"]


def test_the_service_on_a_region_without_roads(full_city, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from api import store as db
    from api.service import Settings, create_app, wait_for_job

    admin = "pk_admin_for_own_city_0123456789"
    app = create_app(Settings(regions={"city": full_city}, db_url=db.default_db_url(tmp_path), data_dir=tmp_path, admin_key=admin, solve_time_cap=10, **UNLIMITED))
    client = TestClient(app)
    a = {"X-API-Key": admin}
    station = full_city.sites.loc[full_city.sites["type"] == "rescue_station", "name"].iloc[0]
    keys = {}
    for role, extra in (("planner", {}), ("street_office", {"town": "合成镇05"}), ("patrol", {"station": station})):
        r = client.post("/keys", json={"name": role, "role": role, **extra}, headers=a)
        assert r.status_code == 201, r.text
        keys[role] = {"X-API-Key": r.json()["key"]}
    r = client.post("/regions/city/scenarios", json={"facility_type": "care_centre", "standard_min": 15, "n_new": 3, "unit_min": {"town": 1}}, headers=keys["planner"])
    assert r.status_code == 201, r.text
    done = wait_for_job(app, client.post(f"/scenarios/{r.json()['id']}/run", headers=keys["planner"]).json()["job"])
    assert done["status"] == "failed"  # 33 towns, 5 centres, 3 new: impossible, and said plainly with the count
    assert "the town minimums need at least 28 new site(s) (28 town(s) short: 合成镇" in done["message"] and "only 3 may open" in done["message"]
    r = client.post("/regions/city/scenarios", json={"facility_type": "care_centre", "standard_min": 15, "n_new": 28, "unit_min": {"town": 1}}, headers=keys["planner"])
    done = wait_for_job(app, client.post(f"/scenarios/{r.json()['id']}/run", headers=keys["planner"]).json()["job"], timeout_s=300)
    assert done["status"] == "done", done
    plan = client.get(f"/plans/{done['plan_id']}", headers=keys["planner"]).json()
    assert plan["summary"]["costs"]["kind"] == "straight-line" and plan["summary"]["compliant"]
    page = client.get(f"/plans/{done['plan_id']}/map?kind=compliance&lang=en", headers=keys["planner"])
    assert page.status_code == 200 and "STRAIGHT-LINE" in page.text
    book = openpyxl.load_workbook(__import__("io").BytesIO(client.get(f"/plans/{done['plan_id']}/excel", headers=keys["planner"]).content))
    assert "直线距离" in str([r for r in book["概况"].iter_rows(values_only=True)])
    sug = client.post("/regions/city/suggestions", json={"town": "合成镇05", "k": 2, "facility_type": "care_centre"}, headers=keys["street_office"])
    assert sug.status_code == 200, sug.text
    assert len(sug.json()["sites"]) == 2 and "STRAIGHT-LINE" in sug.json()["data"]["en"] and sug.json()["town_name"] == "合成镇05"
    patrol = client.post("/regions/city/patrols", json={"station": station, "teams": [{"name": "夜巡队", "count": 2, "mode": "van"}], "spots": 10},
                         headers=keys["patrol"])
    assert patrol.status_code == 201, patrol.text
    body = patrol.json()
    assert sum(len(t["stops"]) for t in body["teams"]) + len(body["unserved"]) == 10
    assert "直线距离" in client.get(f"/patrols/{body['id']}/map?lang=zh", headers=keys["patrol"]).text
    assert "<trk>" in client.get(f"/patrols/{body['id']}/gpx", headers=keys["patrol"]).text


def test_a_patrol_visits_a_stop_reported_in_amap_coordinates(full_city, tmp_path) -> None:
    """A stop added for one shift, its location read off Amap (GCJ-02), lands on its true WGS-84
    place (≈ 500 m from where the raw numbers would put it) and is visited; one outside the city
    is refused naming it."""
    from fastapi.testclient import TestClient

    from api import store as db
    from api.service import Settings, create_app
    from geodata.chinacoords import wgs84_to_gcj02

    admin = "pk_admin_for_own_city_0123456789"
    client = TestClient(create_app(Settings(regions={"city": full_city}, db_url=db.default_db_url(tmp_path), data_dir=tmp_path, admin_key=admin,
                                            solve_time_cap=10, **UNLIMITED)))
    station = full_city.sites.loc[full_city.sites["type"] == "rescue_station", "name"].iloc[0]
    true_place = full_city.units[full_city.units["level"] == "town"].geometry.iloc[4].representative_point()
    gx, gy = (float(v) for v in wgs84_to_gcj02(true_place.x, true_place.y))
    assert Geod(ellps="WGS84").inv(true_place.x, true_place.y, gx, gy)[2] > 300  # Amap's numbers are not WGS-84 here
    body = {"station": station, "teams": [{"name": "夜巡队", "count": 2, "mode": "van"}], "spots": 6,
            "extra_stops": [{"name": "热线报告：桥底有人露宿", "lon": gx, "lat": gy, "coords": "gcj02", "service_min": 20}]}
    made = client.post("/regions/city/patrols", json=body, headers={"X-API-Key": admin})
    assert made.status_code == 201, made.text
    visited = [s for t in made.json()["teams"] for s in t["stops"] if s["name"] == "热线报告：桥底有人露宿"]
    assert len(visited) == 1 and visited[0]["required"] is True
    geo = client.get(f"/patrols/{made.json()['id']}/geojson", headers={"X-API-Key": admin}).json()
    point = next(f["geometry"]["coordinates"] for f in geo["features"] if f["properties"].get("name") == "热线报告：桥底有人露宿" and f["geometry"]["type"] == "Point")
    assert Geod(ellps="WGS84").inv(true_place.x, true_place.y, point[0], point[1])[2] < 2  # converted to WGS-84
    far = {**body, "extra_stops": [{"name": "广州某处", "lon": 113.26, "lat": 23.13}]}
    refused = client.post("/regions/city/patrols", json=far, headers={"X-API-Key": admin})
    assert refused.status_code == 422 and "广州某处" in refused.json()["detail"] and refused.json().get("field") == "extra_stops"
