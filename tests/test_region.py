"""Regions end to end: the sample extract, building from files, the cache and persistence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.build import AdminSource, NetworkSource, PopulationSource, RegionSources, SiteSource, build_region, cache_key, load_or_build
from geodata.chinacoords import wgs84_to_gcj02
from geodata.errors import DataError
from geodata.export import export_region
from geodata.projection import WGS84
from geodata.region import Region
from geodata.sample import sample_pbf_path, sample_sources

SUBURBS = {"Kaartinkaupunki", "Siltasaari", "Hakaniemi", "Kluuvi", "Kaisaniemi"}


def test_sample_region_end_to_end(sample_region: Region) -> None:
    s = sample_region.summary()
    assert s["units"]["city"]["names"] == ["Helsinki"]
    assert set(s["units"]["town"]["names"]) == SUBURBS
    assert 30 < s["units"]["community"]["count"] < 60
    assert 2000 < s["networks"]["walk"]["nodes"] < 2600
    assert s["population_is_estimate"] and s["population_source"] == ["buildings-estimate"]
    assert "ESTIMATE" in s["data"]["en"] and "估计" in s["data"]["zh"]
    assert "planning zones" in s["data"]["en"]
    # every demand point lies inside the boundary and carries its town and community
    demand = sample_region.demand
    assert demand.within(sample_region.boundary.buffer(1e-9)).all()
    assert demand["town"].notna().all() and demand["community"].notna().all()
    # communities nest in towns: a point's community has the point's town as parent
    parent = dict(zip(sample_region.units["unit_id"], sample_region.units["parent_id"]))
    assert all(parent[c] == t for c, t in zip(demand["community"], demand["town"]))
    # coverage of every unit by at most one unit of its level (zones do not overlap)
    towns = sample_region.units_at("town").to_crs(sample_region.crs)
    assert towns.area.sum() == pytest.approx(towns.union_all().area, rel=1e-6)
    # population: groups follow the default shares of the estimate
    assert demand["pop_60"].sum() == pytest.approx(0.187 * demand["pop_all"].sum())
    assert 5_000 < demand["pop_all"].sum() < 60_000
    sites = sample_region.sites
    assert ((sites["type"] == "care_centre") & (sites["status"] == "existing")).sum() == 2
    assert sites["site_id"].is_unique and sites["town"].notna().all()


def test_region_save_load_round_trip(sample_region: Region, tmp_path: Path) -> None:
    sample_region.save(tmp_path / "r")
    back = Region.load(tmp_path / "r")
    assert back.summary() == sample_region.summary()
    pd.testing.assert_frame_equal(pd.DataFrame(back.demand.drop(columns="geometry")), pd.DataFrame(sample_region.demand.drop(columns="geometry")), check_dtype=False)
    assert back.demand.geometry.equals(sample_region.demand.geometry)
    np.testing.assert_array_equal(back.networks["walk"].edge_time, sample_region.networks["walk"].edge_time)
    # saving again over it is atomic and leaves a loadable copy
    back.save(tmp_path / "r")
    assert Region.load(tmp_path / "r").name == sample_region.name
    with pytest.raises(DataError, match="not a saved region"):
        Region.load(tmp_path)


def test_cache_is_keyed_by_sources(tmp_path: Path, cache_dir: Path) -> None:
    sources = sample_sources()
    region, directory, cached = load_or_build(sources, cache_dir)
    assert not cached and (directory / "region.json").is_file()
    again, directory2, cached2 = load_or_build(sources, cache_dir)
    assert cached2 and directory2 == directory and again.summary() == region.summary()
    other = sample_sources()
    other.shares = {"aged_60_plus": 0.3}
    assert cache_key(other) != cache_key(sources)
    # touching an input file changes the key
    copy = tmp_path / "copy.osm.pbf"
    copy.write_bytes(sample_pbf_path().read_bytes())
    with_copy = sample_sources()
    with_copy.network.path = str(copy)
    key = cache_key(with_copy)
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))
    assert cache_key(with_copy) != key


def dongguan_like_files(tmp_path: Path) -> dict[str, Path]:
    """Small Chinese admin/site/population files over the Helsinki extract's streets.

    The files carry Chinese names but lie where the sample's roads are, so the network is real.
    """
    towns = gpd.GeoDataFrame({"名称": ["西区街道", "东区街道"], "级别": ["镇街", "镇街"]},
                             geometry=[shapely.box(24.935, 60.164, 24.944, 60.179), shapely.box(24.944, 60.164, 24.954, 60.179)], crs=WGS84)
    towns.to_file(tmp_path / "towns.geojson", driver="GeoJSON")
    pts = pd.DataFrame({"lon": [24.940, 24.946, 24.950, 25.5], "lat": [60.170, 60.168, 60.172, 60.17], "pop_all": [500, 300, 200, 50], "pop_60": [100, 90, 20, 5]})
    pts.to_csv(tmp_path / "people.csv", index=False)
    glon, glat = wgs84_to_gcj02([24.941, 24.948, 26.0], [60.169, 60.171, 60.0])  # outside China: no shift
    pd.DataFrame({"id": ["A", "B", "far"], "name": ["长者饭堂甲", "长者饭堂乙", "远处"], "type": ["meal_hall"] * 3, "status": ["existing", "candidate", "candidate"], "lon": glon, "lat": glat}).to_csv(tmp_path / "sites.csv", index=False)
    return {"towns": tmp_path / "towns.geojson", "people": tmp_path / "people.csv", "sites": tmp_path / "sites.csv"}


def test_build_from_user_files(tmp_path: Path) -> None:
    files = dongguan_like_files(tmp_path)
    sources = RegionSources(
        name="测试区",
        network=NetworkSource(kind="pbf", path=str(sample_pbf_path())),
        admin=[AdminSource(str(files["towns"]), name_field="名称", level_field="级别")],
        population=PopulationSource(kind="points", path=str(files["people"])),
        sites=[SiteSource(str(files["sites"]), coords="gcj02")],
        osm_sites=False,
    )
    region = build_region(sources)
    assert region.name == "测试区"
    assert region.units["name"].tolist() == ["西区街道", "东区街道"]
    assert region.demand["pop_all"].sum() == 1000  # the point at 25.5°E is outside and reported
    assert region.sites["site_id"].tolist() == ["A", "B"]
    text = " | ".join(str(i) for i in region.issues)
    assert "far" in text and "people.csv [geometry]: outside the region boundary: 1 feature(s) skipped (row 5)" in text  # the file's own row
    assert region.demand.set_index("demand_id").loc["d1", "town"] == "town-1"
    # round trip through JSON config
    assert RegionSources.from_dict(json.loads(json.dumps(sources.to_dict()))) == sources


def test_bad_region_sources() -> None:
    with pytest.raises(DataError, match="unknown network source kind 'ftp'"):
        build_region(RegionSources(name="x", network=NetworkSource(kind="ftp", path="a"), boundary=None, admin=[], zones="h3"), cache_dir=None)
    with pytest.raises(DataError, match="bad region config"):
        RegionSources.from_dict({"name": "x", "colour": "red"})
    with pytest.raises(DataError, match="population kind 'census2'"):
        build_region(RegionSources(name="x", network=NetworkSource(kind="pbf", path=str(sample_pbf_path())), population=PopulationSource(kind="census2")))


def test_h3_zones_when_no_admin_units() -> None:
    sources = sample_sources()
    sources.zones = "h3"
    sources.h3_resolution = 9
    region = build_region(sources)
    comms = region.units_at("community")
    assert (comms["zone_kind"] == "planning-zone").all() and len(comms) > 5
    assert region.demand["community"].notna().all()


def test_export_geojson_and_gpkg(sample_region: Region, tmp_path: Path) -> None:
    files = export_region(sample_region, tmp_path / "gj", "geojson")
    names = {f.name for f in files}
    assert {"units.geojson", "demand.geojson", "sites.geojson", "network_walk.geojson", "region-summary.json"} <= names
    units = gpd.read_file(tmp_path / "gj" / "units.geojson")
    assert set(units["name"]) >= SUBURBS and units.crs.to_epsg() == 4326
    walk = gpd.read_file(tmp_path / "gj" / "network_walk.geojson")
    assert len(walk) == sample_region.networks["walk"].n_links
    # link lengths measured on the exported WGS-84 geometry agree with the network's
    measured = walk.to_crs(sample_region.crs).length
    np.testing.assert_allclose(measured, walk["length_m"], rtol=1e-3, atol=0.05)
    export_region(sample_region, tmp_path / "gp", "gpkg", include_networks=False)
    assert gpd.read_file(tmp_path / "gp" / "region.gpkg", layer="sites")["site_id"].is_unique
