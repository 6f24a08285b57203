"""The planner command line: demo, region build/info/export, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_demo_writes_region_outputs(tmp_path: Path, cache_dir: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "region" / "region-summary.json").read_text(encoding="utf-8"))
    assert summary["population_is_estimate"] is True
    assert "Helsinki centre (sample)" in result.output and "ESTIMATE" in result.output
    assert str(tmp_path / "out" / "region" / "units.geojson") in result.output.replace("\n", "")
    coverage = json.loads((tmp_path / "out" / "costs" / "coverage-walk-15min.json").read_text(encoding="utf-8"))
    assert coverage["kind"] == "network" and coverage["cutoff"] == 900.0 and coverage["pairs"] > 1000
    assert 0 < coverage["existing"]["pop_60"]["share"] <= coverage["existing_and_candidates"]["pop_60"]["share"] <= 1
    from scipy.sparse import load_npz

    matrix = load_npz(tmp_path / "out" / "costs" / "coverage-walk-15min.npz")
    assert matrix.shape == (coverage["demand_points"], coverage["sites"]) and matrix.max() <= 900.0
    for stem in ("meal-points", "care-centres"):
        plan = json.loads((tmp_path / "out" / "plans" / f"{stem}.json").read_text(encoding="utf-8"))
        assert plan["summary"]["solver"]["proven_optimal"] and plan["summary"]["compliant"]
        sites = gpd.read_file(tmp_path / "out" / "plans" / f"{stem}-sites.geojson")
        assert len(sites) == plan["summary"]["new_sites"] + plan["summary"]["existing_sites"]
        units = pd.read_csv(tmp_path / "out" / "plans" / f"{stem}-units.csv", encoding="utf-8-sig")
        assert (units["covered"] <= units["residents"] + 1e-6).all()
    assert "meal points: aged 60+ within 10 min walk, with the plan" in result.output.replace("\n", " ") or "with the plan" in result.output
    report = (tmp_path / "out" / "region" / "region-summary.md").read_text(encoding="utf-8")
    assert "人口为根据建筑轮廓推算的估计值" in report
    patrol = json.loads((tmp_path / "out" / "patrols" / "night-patrol.json").read_text(encoding="utf-8"))
    assert patrol["summary"]["stops"] == 30 and 1 <= len(patrol["teams"]) <= 3
    assert sum(len(t["stops"]) for t in patrol["teams"]) + len(patrol["unserved"]) == 30
    assert (tmp_path / "out" / "patrols" / "night-patrol.gpx").read_text(encoding="utf-8").count("<trk>") == len(patrol["teams"])
    visits = json.loads((tmp_path / "out" / "visits" / "home-visits.json").read_text(encoding="utf-8"))
    assert visits["summary"]["elders_with_all_visits"] + visits["summary"]["elders_short"] == visits["summary"]["elders"]
    maps = sorted((tmp_path / "out" / "maps").glob("*.html"))
    assert len(maps) == 10
    for page in maps:
        assert str(page) in result.output.replace("\n", "")
        assert 'src="assets/leaflet/leaflet.js"' in page.read_text(encoding="utf-8")
    assert (tmp_path / "out" / "maps" / "assets" / "planner" / "planner-map.js").is_file()
    # the second run loads the cached region
    again = runner.invoke(app, ["demo", "--out", str(tmp_path / "out")])
    assert again.exit_code == 0 and "(loaded)" in again.output


def test_region_info_and_export(tmp_path: Path, cache_dir: Path) -> None:
    info = runner.invoke(app, ["region", "info", "synthetic:2", "--json"])
    assert info.exit_code == 0, info.output
    summary = json.loads(info.output[info.output.index("{"):])
    assert summary["kind"] == "synthetic"
    out = tmp_path / "exp"
    exported = runner.invoke(app, ["region", "export", "synthetic:2", "--out", str(out), "--format", "gpkg", "--no-networks"])
    assert exported.exit_code == 0, exported.output
    assert len(gpd.read_file(out / "region.gpkg", layer="incidents")) > 0


def test_region_build_from_files_and_save(tmp_path: Path, cache_dir: Path) -> None:
    from geodata.sample import sample_pbf_path

    pd.DataFrame({"name": ["候选甲"], "type": ["meal_point"], "lon": [24.945], "lat": [60.170]}).to_csv(tmp_path / "s.csv", index=False)
    result = runner.invoke(app, ["region", "build", "--pbf", str(sample_pbf_path()), "--name", "赫尔辛基", "--candidates", str(tmp_path / "s.csv"), "--out", str(tmp_path / "saved")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "saved" / "region.json").is_file()
    info = runner.invoke(app, ["region", "info", str(tmp_path / "saved"), "--json"])
    assert json.loads(info.output[info.output.index("{"):])["name"] == "赫尔辛基"


def test_errors_are_one_clear_line_not_a_traceback(tmp_path: Path, cache_dir: Path) -> None:
    missing = runner.invoke(app, ["region", "build", "--pbf", str(tmp_path / "nope.osm.pbf")])
    assert missing.exit_code == 2
    assert "error:" in missing.output and "nope.osm.pbf" in missing.output and "Traceback" not in missing.output
    (tmp_path / "towns.geojson").write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"名称":"甲"},"geometry":{"type":"Polygon","coordinates":[[[24.93,60.16],[24.96,60.16],[24.96,60.18],[24.93,60.16]]]}}]}', encoding="utf-8")
    from geodata.sample import sample_pbf_path

    no_field = runner.invoke(app, ["region", "build", "--pbf", str(sample_pbf_path()), "--admin", str(tmp_path / "towns.geojson"), "--level", "town"])
    assert no_field.exit_code == 2 and "field 'name'" in no_field.output
    unknown = runner.invoke(app, ["region", "info", "atlantis"])
    assert unknown.exit_code == 2 and "unknown region 'atlantis'" in unknown.output
    both = runner.invoke(app, ["region", "build"])
    assert both.exit_code == 2 and "exactly one network source" in both.output


def test_visits_command_plans_a_month_for_one_town(tmp_path: Path, cache_dir: Path) -> None:
    import json

    import pandas as pd

    result = runner.invoke(app, ["visits", "synthetic:2", "--month", "2026-12", "--town", "town-1", "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "v" / "visits.json").read_text(encoding="utf-8"))
    calendar = pd.read_csv(tmp_path / "v" / "visits-calendar.csv", encoding="utf-8-sig")
    per_elder = calendar["elder"].value_counts()
    assert data["summary"]["town"] == "town-1" and per_elder.max() <= 2
    assert data["summary"]["elders_with_all_visits"] == int((per_elder == 2).sum())
    assert f"{data['summary']['elders_with_all_visits']} of {data['summary']['elders']}" in result.output
    bad = runner.invoke(app, ["visits", "synthetic:2", "--month", "2026-13", "--out", str(tmp_path / "w")])
    assert bad.exit_code == 2 and "--month must be YYYY-MM" in bad.output


def test_hierarchy_command_plans_levels_as_one_problem(tmp_path: Path, cache_dir: Path) -> None:
    import json

    levels = [{"name": "flagship", "site_types": ["care_centre"], "unit_level": "city", "existing_types": ["flagship"], "minimum": 1, "maximum": 1,
               "standard_min": 30, "weight": 0.5},
              {"name": "town_centre", "site_types": ["care_centre"], "unit_level": "town", "minimum": 1, "standard_min": 15, "n_new": 12}]
    (tmp_path / "levels.json").write_text(json.dumps(levels), encoding="utf-8")
    result = runner.invoke(app, ["hierarchy", "synthetic:2", "--levels", str(tmp_path / "levels.json"), "--time-limit", "30", "--out", str(tmp_path / "h")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "h" / "hierarchy.json").read_text(encoding="utf-8"))
    assert [lv["name"] for lv in data["levels"]] == ["flagship", "town_centre"] and len(data["levels"][0]["sites"]) == 1
    geo = json.loads((tmp_path / "h" / "sites.geojson").read_text(encoding="utf-8"))
    assert len(geo["features"]) == sum(len(lv["sites"]) for lv in data["levels"])
    # the work plan's default levels on a city without a venue site in every community: the reason, in one line
    default = runner.invoke(app, ["hierarchy", "synthetic:2", "--out", str(tmp_path / "d")])
    assert default.exit_code == 2 and "needs at least 1 site" in default.output and "Traceback" not in default.output
    (tmp_path / "bad.json").write_text('[{"name": "x", "site_types": ["castle"], "unit_level": "town"}]', encoding="utf-8")
    bad = runner.invoke(app, ["hierarchy", "synthetic:2", "--levels", str(tmp_path / "bad.json"), "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "--levels: levels.0.site_types.0" in bad.output
