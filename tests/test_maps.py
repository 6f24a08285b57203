"""Maps render offline in a real headless browser (from file://, desktop and phone), over the
region's own vector basemap, with their features drawn and labels in both languages; patrol sheets
print as one A4 page per team."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from api.demo import CARE_SCENARIO, MEAL_SCENARIO, demo_depots
from geodata.basemap import region_basemap
from geodata.chinacoords import wgs84_to_gcj02
from maps.base import BASEMAP_STYLE, PLAIN_BACKGROUND, Basemap, gcj_grid, save_map
from maps.spec import read_map_data
from maps.views import NEW_COLOUR, TEAM_COLOURS, compliance_map, coverage_map, coverage_steps, patrol_map, suggestion_map
from planner.routing.hotspots import HotspotParams, find_hotspots
from planner.routing.patrol import Team, hotspot_stops, plan_patrols, stops_from_spots
from planner.scenario import run_scenario
from planner.travel.region import points_xy
from planner.travel.service_area import plan_service_areas
from tests.browser import browser, render

DESKTOP, PHONE = (1400, 1000), (390, 844)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
"""Where ``PLANNER_SCREENSHOTS=1`` copies the screenshots the tests make (docs/MAPS.md shows them)."""


@pytest.fixture(scope="module")
def plans(sample_region):
    meal = run_scenario(sample_region, MEAL_SCENARIO)
    care = run_scenario(sample_region, CARE_SCENARIO)
    town = sample_region.units[sample_region.units["level"] == "town"].iloc[1]["unit_id"]
    office = run_scenario(sample_region, dataclasses.replace(MEAL_SCENARIO, town=town, n_new=4))
    depots, _ = demo_depots(sample_region)
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=20)
    patrol = plan_patrols(sample_region, stops, depots, [Team("夜巡队", depots["name"].iloc[0], count=3, shift=("20:00", "02:00"), max_duration_min=90)], seed=0)
    return {"meal": meal, "care": care, "office": office, "patrol": patrol}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("maps")


@pytest.fixture(scope="module")
def basemap(sample_region, tmp_path_factory) -> Basemap:
    return Basemap.offline(region_basemap(sample_region, tmp_path_factory.mktemp("basemaps")))


def _blend(fill: str, alpha: float, under: str = PLAIN_BACKGROUND) -> str:
    """Colour of a ``fill`` drawn at ``alpha`` over ``under``."""
    f = np.array([int(fill[k : k + 2], 16) for k in (1, 3, 5)])
    b = np.array([int(under[k : k + 2], 16) for k in (1, 3, 5)])
    return "#%02x%02x%02x" % tuple(np.rint(alpha * f + (1 - alpha) * b).astype(int))


def dominant_share(image: np.ndarray) -> float:
    """Share of the pixels taken by the most common colour."""
    flat = image.reshape(-1, 3).astype(np.int64)
    codes = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    return float(np.bincount(np.unique(codes, return_inverse=True)[1]).max() / len(codes))


def keep_screenshot(png: Path, name: str) -> None:
    """With ``PLANNER_SCREENSHOTS=1``: the screenshot, scaled to at most 900 px wide, as
    ``docs/screenshots/<name>.jpg`` (docs/MAPS.md shows them)."""
    if os.environ.get("PLANNER_SCREENSHOTS") == "1":
        from PIL import Image

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        image = Image.open(png).convert("RGB")
        if image.width > 900:
            image = image.resize((900, round(image.height * 900 / image.width)), Image.LANCZOS)
        image.save(SCREENSHOTS / f"{name}.jpg", quality=82, optimize=True)


# ---------------------------------------------------------------------------- the basemap
def test_basemap_holds_the_regions_streets_buildings_water_and_names(sample_region, basemap) -> None:
    archive = basemap.archive
    assert archive is not None and archive.path.stat().st_size > 50_000
    f = archive.features
    assert f["buildings"] == len(sample_region.layers["buildings"])
    assert f["roads"] > 1000 and f["water"] > 0 and f["green"] > 0 and f["rail"] > 0
    towns_and_communities = sample_region.units["level"].isin(["town", "community"]).sum()
    assert f["places"] == towns_and_communities and f["boundaries"] == towns_and_communities + 1
    # the archive is a real PMTiles v3 file (magic, version) holding tiles from zoom 10 to 16
    head = archive.path.read_bytes()[:127]
    assert head[:7] == b"PMTiles" and head[7] == 3
    assert (archive.min_zoom, archive.max_zoom) == (10, 16)
    # made once: the same region reuses the archive
    again = region_basemap(sample_region, archive.path.parent)
    assert again.path == archive.path and again.digest == archive.digest


def test_basemap_without_roads_keeps_boundaries_and_names(small_city, tmp_path) -> None:
    no_roads = dataclasses.replace(small_city, networks={})
    archive = region_basemap(no_roads, tmp_path)
    assert "roads" not in archive.features
    assert archive.features["places"] == no_roads.units["level"].isin(["town", "community"]).sum()


# ---------------------------------------------------------------------------- each map, desktop and phone
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_map_draws_over_the_basemap(sample_region, plans, folder, basemap, size) -> None:
    meal = plans["meal"]
    areas = plan_service_areas(sample_region, meal)
    pages = {
        "coverage": coverage_map(meal, service_areas=areas, lang="zh", basemap=basemap),
        "compliance": compliance_map(plans["care"], lang="en", basemap=basemap),
        "suggestion": suggestion_map(plans["office"], lang="zh", basemap=basemap),
        "patrol": patrol_map(plans["patrol"], lang="zh", basemap=basemap),
    }
    road = BASEMAP_STYLE["road"]
    for name, m in pages.items():
        path = save_map(m, folder / f"{name}-{size[0]}.html")
        page = path.read_text(encoding="utf-8")
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page), "the page links files from the internet"
        out = render(path, folder / f"{name}-{size[0]}.png", width=size[0], height=size[1], budget_ms=6000)
        keep_screenshot(folder / f"{name}-{size[0]}.png", f"{name}-{'desktop' if size == DESKTOP else 'phone'}")
        assert out.errors() == [], (name, out.errors())
        assert dominant_share(out.image) < 0.6, f"{name}: one colour covers {dominant_share(out.image):.0%} of the map"
        # the streets are drawn under the data: on the map itself, or (where the data covers the
        # whole area) on the same page with the data layers off
        if name in ("coverage", "compliance"):
            if size == DESKTOP:  # the data covers the whole area: the same page with the data layers off (once; the phone draws the same tiles)
                streets = render(path.resolve().as_uri() + "#base-only", folder / f"{name}-base.png", width=size[0], height=size[1], budget_ms=6000).pixels_near(road, 4)
                assert streets > 0.01 * size[0] * size[1], f"{name}: no streets under the data ({streets} px)"
        else:
            streets = out.pixels_near(road, 4)
            assert streets > 0.01 * size[0] * size[1], f"{name}: no streets under the data ({streets} px)"
        if name == "compliance":  # towns are labelled on the map
            labels = set(re.findall(r'planner-label-town[^>]*><span>([^<]+)</span>', out.dom))
            assert labels == set(plans["care"].units.loc[plans["care"].units["level"] == "town", "name"]), labels
        if size == PHONE:
            assert "planner-legend planner-collapsed" in out.dom  # the legend starts folded on a phone
        else:
            assert "planner-collapsed" not in out.dom
        # online basemaps are offered, off: the offline one is the checked base layer
        data = read_map_data(page)
        assert [b["name"] for b in data["base"]["online"]][:1] == ["OpenStreetMap（联网）" if name != "compliance" else "OpenStreetMap (online)"]
        checked = re.findall(r'<input type="radio" class="leaflet-control-layers-selector" name="[^"]+" checked="checked"><span> ([^<]+)</span>', out.dom)
        assert checked and checked[0].startswith(("离线底图", "Offline basemap")), checked


def test_without_the_basemap_the_street_check_fails(plans, folder) -> None:
    # the street test above can fail: a map without a basemap has no street pixels
    out = render(save_map(patrol_map(plans["patrol"], lang="zh"), folder / "plain.html"), folder / "plain.png", width=1400, height=1000)
    assert out.pixels_near(BASEMAP_STYLE["road"], 4) < 100


def test_a_missing_basemap_file_is_said_on_the_map(plans, folder, basemap) -> None:
    sub = folder / "no-tiles"
    path = save_map(patrol_map(plans["patrol"], lang="en", basemap=basemap), sub / "patrol.html")
    for f in (sub / "assets" / "basemaps").glob("*.js"):
        f.unlink()
    out = render(path, sub / "patrol.png", width=1000, height=800)
    assert "Offline basemap file missing" in out.dom
    assert out.pixels_near(BASEMAP_STYLE["road"], 4) < 100


def test_search_finds_units_and_sites_offline(plans, folder, basemap) -> None:
    meal = plans["meal"]
    town = meal.units[meal.units["level"] == "town"]["name"].iloc[0]
    site = meal.sites["name"].iloc[0]
    path = save_map(coverage_map(meal, lang="zh", basemap=basemap), folder / "search.html")
    for text in (town, site):
        out = render(path.resolve().as_uri() + "#search=" + __import__("urllib.parse").parse.quote(text), folder / "search.png", width=1200, height=900)
        items = re.findall(r'<ul class="planner-search-results">(.*?)</ul>', out.dom, re.S)
        assert items and text in items[0], (text, items)


# ---------------------------------------------------------------------------- what the maps say
def test_planner_content_whole_persons_targets_and_legend(plans, basemap) -> None:
    meal, care = plans["meal"], plans["care"]
    data = read_map_data(save_map(coverage_map(meal, lang="zh", basemap=basemap), Path(os.environ.get("TMPDIR", "/tmp")) / "content" / "c.html").read_text("utf-8"))
    for layer in data["layers"]:
        for f in layer["features"]:
            for label, value in (f.get("popup") or {}).get("rows", []):
                if "人数" in label:
                    assert re.fullmatch(r"[\d,]+|–|<\d+", value), (label, value)  # whole persons, never "3.20"
                    assert "（" in label  # the group is named: 人数（60 岁及以上老年人）
    names = {layer["name"] for layer in data["layers"] if layer["features"]}
    legend = [row["text"] for row in data["legend"]["rows"]]
    assert ("已覆盖需求点" in legend) == ("已覆盖需求点" in names) and ("候选点位" in legend) == ("候选点位" in names)
    # a compliance map colours only the levels with a target: the care scenario sets one per town
    assert set(care.scenario.unit_min) == {"town"}
    comp = read_map_data(save_map(compliance_map(care, lang="zh", basemap=basemap), Path(os.environ.get("TMPDIR", "/tmp")) / "content" / "k.html").read_text("utf-8"))
    community = next(layer for layer in comp["layers"] if layer["name"] == "村(社区)")
    assert {f["style"]["fillColor"] for f in community["features"]} == {"#e9ecef"}  # neutral: no community target
    assert all("无设点要求" in f["tooltip"] for f in community["features"])
    used = {f["style"]["fillColor"] for layer in comp["layers"] if layer["name"] in ("镇街/园区", "村(社区)") for f in layer["features"]}
    legend = {row["swatches"][0][0]: row["text"] for row in comp["legend"]["rows"]}
    assert set(legend) == used and "未达标" not in legend.values()  # the legend lists what is drawn; nothing fails
    exempt = {u for c in care.compliance for u in c.get("units_exempt", [])}
    assert ("无需设点（人口过少）" in legend.values()) == bool(exempt)


def test_suggestion_map_coverage_before_and_after_each_site(plans, basemap, tmp_path) -> None:
    office = plans["office"]
    steps = coverage_steps(office)
    new = office.sites[office.sites["plan_status"] == "new"]
    assert len(steps) == len(new) + 1 and steps == sorted(steps)
    assert steps[0] == pytest.approx(office.summary["covered_by_existing_share"])
    assert steps[-1] == pytest.approx(office.summary["covered_share"], abs=0.002)  # the ranks' additions add up to the plan's coverage
    data = read_map_data(save_map(suggestion_map(office, lang="zh", basemap=basemap), tmp_path / "s.html").read_text("utf-8"))
    ranked = next(layer for layer in data["layers"] if layer["name"] == "选址建议")
    for k, f in enumerate(ranked["features"], start=1):
        rows = dict(f["popup"]["rows"])
        assert rows["镇街覆盖率"] == f"{steps[k - 1]:.0%} → {steps[k]:.0%}"


def test_straight_line_plans_say_so_on_the_map(small_city, tmp_path) -> None:
    travel = {"kind": "straight-line", "modes": ["drive", "walk"], "detour_factor": 1.3, "speed_mps": {"walk": 0.9, "drive": 24 / 3.6}}
    no_roads = dataclasses.replace(small_city, networks={}, provenance={**small_city.provenance, "travel": travel})
    plan = run_scenario(no_roads, dataclasses.replace(MEAL_SCENARIO, n_new=2))
    assert plan.summary["costs"]["kind"] == "straight-line"
    data = read_map_data(save_map(coverage_map(plan, lang="zh"), tmp_path / "s.html").read_text("utf-8"))
    assert "直线距离估算" in data["title"]["note"]


# ---------------------------------------------------------------------------- patrol maps and sheets
def test_patrol_map_teams_stops_and_arrows(plans, folder, basemap) -> None:
    patrol = plans["patrol"]
    path = save_map(patrol_map(patrol, lang="zh", basemap=basemap), folder / "patrol.html")
    out = render(path, folder / "patrol.png", width=1400, height=1000, budget_ms=6000)
    assert out.errors() == []
    n_stops = sum(len(r.stops) for r in patrol.routes)
    arrows = out.count("planner-arrow-icon")
    assert arrows >= sum(len(r.legs) for r in patrol.routes)  # every leg shows its direction
    assert out.count("leaflet-marker-icon") == n_stops + len(patrol.depots) + arrows
    for k in range(len(patrol.routes)):
        assert out.pixels_near(TEAM_COLOURS[k], 30) > 100, f"team {k + 1}'s route is not visible"
    data = read_map_data(path.read_text("utf-8"))
    rounds = [r.return_min - r.departure_min for r in patrol.routes]
    assert f"{rounds[0]:.0f} min" in data["legend"]["rows"][0]["text"]  # the round with its stops, not walking only
    assert rounds[0] > patrol.routes[0].travel_min


def print_to_pdf(url: str, pdf: Path, width: int, height: int) -> None:
    """Chromium's print to PDF of ``url`` from a window of ``width`` × ``height`` (offline)."""
    from tests.browser import OFFLINE_FLAGS

    subprocess.run([browser(), "--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}", *OFFLINE_FLAGS,
                    "--virtual-time-budget=6000", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", url], capture_output=True, timeout=120, check=True)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_patrol_sheets_print_one_page_per_team(plans, folder, basemap, size) -> None:
    from pypdf import PdfReader

    patrol = plans["patrol"]
    day = datetime.date(2026, 12, 24)
    path = save_map(patrol_map(patrol, lang="zh", basemap=basemap, print_mode=True, date=day), folder / f"sheets-{size[0]}.html")
    pdf = folder / f"sheets-{size[0]}.pdf"
    print_to_pdf(path.resolve().as_uri(), pdf, *size)
    pages = PdfReader(str(pdf)).pages
    assert len(pages) == len(patrol.routes), f"{len(pages)} pages for {len(patrol.routes)} teams"
    for page, route in zip(pages, patrol.routes):
        text = page.extract_text()
        assert route.team in text and "2026-12-24" in text and "序号" in text and "到达" in text
        for _, stop in route.stops.iterrows():
            assert stop["arrival"] in text  # the timetable lists every stop with its arrival
        round_min = route.return_min - route.departure_min
        assert f"{round_min:.0f} min" in text
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert {round(min(w, h)), round(max(w, h))} == {595, 842}  # A4 in points
    # every stop and the depot inside its page's map box, whatever the window
    out = render(path, folder / f"sheets-{size[0]}.png", width=size[0], height=size[1], budget_ms=6000)
    if size == DESKTOP:
        keep_screenshot(folder / f"sheets-{size[0]}.png", "patrol-sheet")
    sheets = re.findall(r'<section class="planner-sheet ([^"]+)" data-team="([^"]*)" data-markers="(\d+)" data-inside="(\d+)"', out.dom)
    assert len(sheets) == len(patrol.routes)
    for (orientation, team, markers, inside), route in zip(sheets, patrol.routes):
        assert team == route.team and int(markers) == len(route.stops) + 1 and inside == markers, (team, markers, inside)


def test_a_plan_prints_as_a4_pages_with_its_sites_numbered(plans, folder, basemap) -> None:
    """The care plan on paper: page 1 the map with the new facilities numbered as in the list under
    it, then the summary and the per-town table; every page A4, every figure the stored one's."""
    from pypdf import PdfReader

    from maps.views import ROWS_PER_PAGE, plan_print

    care = plans["care"]
    payload = json.loads(json.dumps(care.to_dict(), ensure_ascii=False, default=str))  # as stored by the service
    path = save_map(plan_print(care, payload, lang="zh", basemap=basemap, date=datetime.date(2026, 12, 1)), folder / "plan-print.html")
    pdf = folder / "plan-print.pdf"
    print_to_pdf(path.resolve().as_uri(), pdf, *DESKTOP)
    pages = [p.extract_text() for p in PdfReader(str(pdf)).pages]
    data = read_map_data(path.read_text("utf-8"))
    assert len(pages) == len(data["sheets"]) >= 3  # one A4 page per sheet: nothing cut or spilled
    new = care.sites[care.sites["plan_status"] == "new"].sort_values("rank")
    first = data["sheets"][0]
    assert [row[1] for row in first["table"]["rows"]] == new["name"].astype(str).tolist()[:len(first["table"]["rows"])]
    numbers = [f["icon"]["number"] for layer in data["layers"] if layer["name"] == "print-sites" for f in layer["features"] if f["k"] == "m"]
    assert numbers == list(range(1, len(new) + 1))
    assert "2026-12-01" in pages[0] and f"{care.summary['covered_share']:.1%}" in pages[0]
    towns = care.units[care.units["level"] == "town"]
    compliance = "".join(pages[2:])
    for _, town in towns.iterrows():
        assert str(town["name"]) in compliance
    assert ("未达标" in compliance) == (not care.summary["compliant"])
    assert all(len(s["table"]["rows"]) <= ROWS_PER_PAGE for s in data["sheets"])
    out = render(path, folder / "plan-print.png", width=1400, height=1000, budget_ms=6000)
    assert out.errors() == []
    sheet = re.search(r'<section class="planner-sheet [^"]*" data-team="" data-markers="(\d+)" data-inside="(\d+)"', out.dom)
    assert sheet and sheet.group(1) == sheet.group(2) == str(len(new)), "every new facility inside the page's map box"


def test_gpx_waypoints_carry_arrival_times(plans) -> None:
    import gpxpy

    from geodata.export import gpx_xml

    patrol = plans["patrol"]
    china = datetime.timezone(datetime.timedelta(hours=8))
    gpx = gpxpy.parse(gpx_xml(patrol.gpx_tracks(), day=datetime.date(2026, 12, 24), tz=china))
    first = patrol.routes[0].stops.iloc[0]
    arrival = datetime.datetime(2026, 12, 24, tzinfo=china) + datetime.timedelta(minutes=float(first["arrival_min"]))
    assert gpx.waypoints[0].time == arrival
    assert all(w.time is not None for w in gpx.waypoints)


# ---------------------------------------------------------------------------- online basemaps and GCJ-02
def test_the_pages_gcj02_shift_matches_the_planners(tmp_path) -> None:
    """The page moves the data onto Amap tiles by interpolating a grid of offsets made in Python:
    checked against geodata.chinacoords point by point (Node runs planner-map.js's shifter)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs)")
    bounds = (113.5, 22.6, 114.3, 23.2)  # Dongguan
    grid = gcj_grid(bounds)
    assert grid is not None and gcj_grid((24.9, 60.1, 25.0, 60.2)) is None  # Helsinki: no shift
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(bounds[0], bounds[2], 300), rng.uniform(bounds[1], bounds[3], 300)
    script = Path(__file__).resolve().parents[1] / "maps" / "static" / "planner-map.js"
    program = (f"global.window = globalThis; require({json.dumps(str(script))}); const s = window.plannerMap.shifter({json.dumps(grid)});"
               f"console.log(JSON.stringify({json.dumps(np.column_stack([lat, lon]).tolist())}.map(p => s(p))));")
    shifted = np.array(json.loads(subprocess.run([node, "-e", program], capture_output=True, text=True, check=True).stdout))
    glon, glat = wgs84_to_gcj02(lon, lat)
    error_m = np.hypot((shifted[:, 0] - glat) * 111_000, (shifted[:, 1] - glon) * 111_000 * np.cos(np.radians(lat)))
    assert error_m.max() < 1.0, f"interpolated GCJ-02 off by up to {error_m.max():.2f} m"
    assert np.hypot((glat - lat) * 111_000, (glon - lon) * 111_000).min() > 100  # and the shift itself is real


def test_tianditu_is_offered_with_a_token(plans, basemap, tmp_path) -> None:
    with pytest.raises(ValueError, match="32 hexadecimal"):
        Basemap.offline(basemap.archive, tianditu_token="not-a-token")
    token = "0123456789abcdef0123456789abcdef"
    data = read_map_data(save_map(patrol_map(plans["patrol"], lang="zh", basemap=Basemap.offline(basemap.archive, tianditu_token=token)),
                                  tmp_path / "t.html").read_text("utf-8"))
    names = [b["name"] for b in data["base"]["online"]]
    assert names == ["OpenStreetMap（联网）", "高德地图（联网，GCJ-02）", "天地图（联网）"]
    tianditu = data["base"]["online"][2]
    assert "tk=" + token in tianditu["url"] and "cva" in tianditu["overlay_url"] and tianditu["crs"] == "wgs84"


# ---------------------------------------------------------------------------- earlier guarantees
def test_missing_asset_is_detected(plans, folder) -> None:
    # the checks above can fail: without Leaflet the page breaks and nothing is drawn
    sub = folder / "broken"
    path = save_map(patrol_map(plans["patrol"], lang="en"), sub / "patrol.html")
    (sub / "assets" / "leaflet" / "leaflet.js").unlink()
    out = render(path, sub / "patrol.png")
    assert out.errors() != []
    assert out.count("leaflet-marker-icon") == 0


def test_compliance_colours_on_a_plain_background(plans, folder) -> None:
    path = save_map(compliance_map(plans["care"], lang="en"), folder / "compliance-en.html")
    page = path.read_text(encoding="utf-8")
    assert "Compliance with targets" in page and "Meets targets" in page
    out = render(path, folder / "compliance-en.png")
    assert out.errors() == []
    assert out.pixels_near(_blend("#2b8a3e", 0.5), 6) > 20_000  # compliant towns filled green
    assert out.pixels_near(_blend("#c92a2a", 0.5), 6) == 0  # and none red: every town meets its minimum
    assert out.count("leaflet-marker-icon") == len(plans["care"].sites)


def test_suggestion_map_numbers_candidates(sample_region, plans, folder) -> None:
    office = plans["office"]
    new = office.sites[office.sites["plan_status"] == "new"]
    own = new.head(1)[["name", "geometry"]]
    path = save_map(suggestion_map(office, office_sites=own, lang="zh"), folder / "suggest-zh.html")
    out = render(path, folder / "suggest-zh.png")
    assert out.errors() == []
    for k in range(1, len(new) + 1):
        assert f">{k}</b>" in out.dom
    assert out.count("leaflet-marker-icon") == len(office.sites) + len(own)
    with pytest.raises(ValueError, match="one town"):
        suggestion_map(plans["meal"])


def test_chinese_names_and_gcj02_basemap(small_city, folder) -> None:
    incidents = small_city.layers["incidents"]
    spots = find_hotspots(points_xy(incidents, small_city.crs), incidents["time"], HotspotParams(eps_m=120, min_cases=5))
    assert len(spots) > 0
    stops = hotspot_stops(spots.head(12), small_city.crs)
    depots, _ = demo_depots(small_city)
    assert depots["name"].iloc[0].startswith("救助管理站")
    plan = plan_patrols(small_city, stops, depots, [Team("夜巡队", depots["name"].iloc[0], count=2, mode="ebike", shift=("20:00", "02:00"))], seed=0)
    assert plan.summary["visited"] > 0
    plain = save_map(patrol_map(plan, lang="zh"), folder / "city-plain.html").read_text(encoding="utf-8")
    assert depots["name"].iloc[0] in plain  # UTF-8, untouched
    amap = save_map(patrol_map(plan, lang="zh", basemap="amap"), folder / "city-amap.html").read_text(encoding="utf-8")

    def first_marker(page: str) -> np.ndarray:
        markers = [f["at"] for layer in read_map_data(page)["layers"] for f in layer["features"] if f["k"] == "m"]
        assert markers
        return np.array(markers[0], float)  # lat, lon

    a, b = first_marker(plain), first_marker(amap)
    shift_m = np.hypot((b[0] - a[0]) * 111_000, (b[1] - a[1]) * 111_000 * np.cos(np.radians(a[0])))
    assert 100 < shift_m < 800  # data moved onto GCJ-02 tiles (Guangdong: a few hundred metres)
    assert "autonavi.com" in amap


# ---------------------------------------------------------------------------- city scale
def test_demand_cells_add_up_to_the_points(plans) -> None:
    from planner.aggregate import demand_cells

    meal = plans["meal"]
    weights = meal.demand[meal.scenario.group].to_numpy(float)
    served = meal.demand["within_standard"].to_numpy(bool)
    for cell_m in (100.0, 250.0, 1000.0):
        cells = demand_cells(meal.demand, weights, served, cell_m=cell_m)
        assert cells["residents"].sum() == pytest.approx(weights.sum())
        assert cells["unserved"].sum() == pytest.approx(weights[~served].sum())
        assert cells["points"].sum() == int((weights > 0).sum()) or cells["points"].sum() <= len(weights)
        assert ((cells["unserved"] <= cells["residents"] + 1e-9) & (cells["residents"] > 0)).all()
        area = cells.to_crs(cells.estimate_utm_crs()).area
        assert np.allclose(area, cell_m**2, rtol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        demand_cells(meal.demand, weights, served, cell_m=0)


def test_a_city_scale_map_draws_its_points_from_tiles(plans, folder, basemap) -> None:
    meal = plans["meal"]
    limit = 20  # the sample as if it were a city: points and candidates beyond this come from tiles
    path = save_map(coverage_map(meal, lang="zh", basemap=basemap, detail_limit=limit), folder / "city" / "coverage.html")
    data = read_map_data(path.read_text("utf-8"))
    assert data["tiled"]["layers"][0]["data_layer"] == "demand"
    assert not any(f["k"] == "c" for layer in data["layers"] for f in layer["features"])  # no point drawn one by one
    script = folder / "city" / "assets" / "basemaps" / f"{data['tiled']['id']}.js"
    assert script.is_file()
    out = render(path, folder / "city.png", width=1400, height=1000, budget_ms=6000)
    keep_screenshot(folder / "city.png", "coverage-tiled")
    assert out.errors() == []
    red = out.pixels_near("#c92a2a", 20)
    bare = render(path.resolve().as_uri() + "#base-only", folder / "city-base.png", width=1400, height=1000, budget_ms=6000).pixels_near("#c92a2a", 20)
    unserved = int(((meal.demand[meal.scenario.group] > 0) & ~meal.demand["within_standard"]).sum())
    assert unserved > 0 and red > bare + 30 * unserved // 2, (red, bare, unserved)  # the unserved points are drawn from the tiles
