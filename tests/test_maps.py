"""Maps render offline in a real headless browser, with their features drawn and labels in both languages."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from api.demo import CARE_SCENARIO, MEAL_SCENARIO, demo_depots
from maps.base import PLAIN_BACKGROUND, save_map
from maps.spec import read_map_data
from maps.views import NEW_COLOUR, TEAM_COLOURS, compliance_map, coverage_map, patrol_map, suggestion_map
from planner.routing.hotspots import HotspotParams, find_hotspots
from planner.routing.patrol import Team, hotspot_stops, plan_patrols, stops_from_spots
from planner.travel.region import points_xy
from planner.scenario import run_scenario
from planner.travel.service_area import plan_service_areas
from tests.browser import render


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


def _blend(fill: str, alpha: float) -> str:
    """Colour of a ``fill`` drawn at ``alpha`` over the plain map background."""
    f = np.array([int(fill[k : k + 2], 16) for k in (1, 3, 5)])
    b = np.array([int(PLAIN_BACKGROUND[k : k + 2], 16) for k in (1, 3, 5)])
    return "#%02x%02x%02x" % tuple(np.rint(alpha * f + (1 - alpha) * b).astype(int))


def _background_share(image: np.ndarray) -> float:
    rgb = np.array([int(PLAIN_BACKGROUND[k : k + 2], 16) for k in (1, 3, 5)])
    return float((np.abs(image.astype(int) - rgb).max(axis=2) <= 3).mean())


def test_coverage_map_offline(sample_region, plans, folder) -> None:
    meal = plans["meal"]
    areas = plan_service_areas(sample_region, meal)
    assert len(areas) == len(meal.sites) and (areas["area_km2"] > 0).all()
    path = save_map(coverage_map(meal, service_areas=areas, lang="zh"), folder / "coverage-zh.html")
    page = path.read_text(encoding="utf-8")
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page), "the page links files from the internet"
    assert "服务覆盖" in page and "助餐配餐点" in page
    out = render(path, folder / "coverage-zh.png")
    assert out.errors() == []
    assert out.count("leaflet-marker-icon") == len(meal.sites)
    assert out.count("leaflet-interactive") >= len(areas) + 10  # service areas, units, demand circles
    assert out.pixels_near(NEW_COLOUR) > 300  # proposed sites and their service areas are drawn
    assert _background_share(out.image) < 0.6


def test_compliance_map_english(sample_region, plans, folder) -> None:
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


@pytest.mark.parametrize("print_mode", [False, True])
def test_patrol_map_teams_and_stops(plans, folder, print_mode: bool) -> None:
    patrol = plans["patrol"]
    path = save_map(patrol_map(patrol, lang="zh", print_mode=print_mode), folder / f"patrol-{print_mode}.html")
    out = render(path, folder / f"patrol-{print_mode}.png", width=794, height=1123)  # A4 at 96 dpi
    assert out.errors() == []
    n_stops = sum(len(r.stops) for r in patrol.routes)
    assert out.count("leaflet-marker-icon") == n_stops + len(patrol.depots)
    assert out.count("leaflet-interactive") >= sum(len(r.legs) for r in patrol.routes)
    for k in range(len(patrol.routes)):
        assert out.pixels_near(TEAM_COLOURS[k], 30) > 100, f"team {k + 1}'s route is not visible"


def test_missing_asset_is_detected(plans, folder) -> None:
    # the checks above can fail: without Leaflet the page breaks and nothing is drawn
    sub = folder / "broken"
    path = save_map(patrol_map(plans["patrol"], lang="en"), sub / "patrol.html")
    (sub / "assets" / "leaflet" / "leaflet.js").unlink()
    out = render(path, sub / "patrol.png")
    assert out.errors() != []
    assert out.count("leaflet-marker-icon") == 0


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
