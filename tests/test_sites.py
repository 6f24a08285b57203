"""Sites from CSV/Excel/GeoJSON in WGS-84, GCJ-02 and BD-09, and from OpenStreetMap."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.chinacoords import wgs84_to_bd09, wgs84_to_gcj02
from geodata.errors import DataError
from geodata.osm import read_pbf_layer
from geodata.projection import WGS84
from geodata.sample import sample_pbf_path
from geodata.sites import clip_to_boundary, read_sites, sites_from_osm

TRUE_LON = np.array([113.7518, 113.7601, 113.7455])
TRUE_LAT = np.array([23.0205, 23.0150, 23.0301])


def site_table() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["GC-001", "NC-002", "DC-003"],
        "名称": ["莞城街道长者饭堂", "南城街道居家养老服务中心", "东城候选点"],
        "设施类型": ["长者饭堂", "居家社区养老服务中心", "meal_point"],
        "状态": ["现有", "现有", "候选"],
        "容量": [120, 80, None],
        "成本": [0, 0, 35.5],
    })


@pytest.mark.parametrize(("system", "convert"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09), ("wgs84", None)])
def test_csv_sites_in_chinese_coordinate_systems(tmp_path: Path, system, convert) -> None:
    frame = site_table()
    lon, lat = convert(TRUE_LON, TRUE_LAT) if convert else (TRUE_LON, TRUE_LAT)
    frame["经度"], frame["纬度"] = lon, lat
    path = tmp_path / "sites.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    sites, issues = read_sites(path, coords=system)
    assert issues == []
    np.testing.assert_allclose(sites.geometry.x, TRUE_LON, atol=1e-7)  # ~1 cm
    np.testing.assert_allclose(sites.geometry.y, TRUE_LAT, atol=1e-7)
    assert sites["name"].tolist() == frame["名称"].tolist()  # Chinese names untouched
    assert sites["type"].tolist() == ["meal_hall", "care_centre", "meal_point"]
    assert sites["status"].tolist() == ["existing", "existing", "candidate"]
    assert np.isnan(sites["capacity"].iloc[2]) and sites["cost"].tolist() == [0, 0, 35.5]


def test_excel_and_geojson_sites(tmp_path: Path) -> None:
    frame = site_table()
    frame["lon"], frame["lat"] = TRUE_LON, TRUE_LAT
    frame.to_excel(tmp_path / "sites.xlsx", index=False)
    xl, _ = read_sites(tmp_path / "sites.xlsx")
    gj = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(TRUE_LON, TRUE_LAT), crs=WGS84)
    gj.to_file(tmp_path / "sites.geojson", driver="GeoJSON")
    vec, _ = read_sites(tmp_path / "sites.geojson")
    assert xl["site_id"].tolist() == vec["site_id"].tolist() == ["GC-001", "NC-002", "DC-003"]
    np.testing.assert_allclose(vec.geometry.x, xl.geometry.x)
    # a vector file in GCJ-02 numbers declared as such is converted too
    glon, glat = wgs84_to_gcj02(TRUE_LON, TRUE_LAT)
    gj.set_geometry(gpd.points_from_xy(glon, glat), crs=WGS84).to_file(tmp_path / "amap.geojson", driver="GeoJSON")
    amap, _ = read_sites(tmp_path / "amap.geojson", coords="gcj02")
    np.testing.assert_allclose(amap.geometry.x, TRUE_LON, atol=1e-7)


def test_bad_rows_are_reported_by_id(tmp_path: Path) -> None:
    frame = site_table()
    frame["lon"], frame["lat"] = TRUE_LON, TRUE_LAT
    frame.loc[0, "设施类型"] = "游泳池"
    frame.loc[1, "容量"] = -4
    frame.loc[2, "lat"] = np.nan
    frame.to_csv(tmp_path / "s.csv", index=False)
    sites, issues = read_sites(tmp_path / "s.csv")
    assert sites.empty
    text = " | ".join(str(i) for i in issues)
    assert "GC-001" in text and "unknown facility type" in text
    assert "NC-002" in text and "capacity" in text
    assert "row 4" in text and "longitude/latitude" in text


def test_whole_file_errors(tmp_path: Path) -> None:
    frame = site_table()
    frame["lon"], frame["lat"] = TRUE_LON, TRUE_LAT
    frame.loc[2, "id"] = "GC-001"
    frame.to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(DataError, match="duplicate site ids: GC-001.*field 'id'"):
        read_sites(tmp_path / "dup.csv")
    frame.loc[2, "id"] = "DC-003"
    frame.drop(columns=["设施类型"]).to_csv(tmp_path / "notype.csv", index=False)
    with pytest.raises(DataError, match="no facility type column.*field 'type'"):
        read_sites(tmp_path / "notype.csv")
    with pytest.raises(DataError, match="unknown coordinate system"):
        read_sites(tmp_path / "notype.csv", default_type="meal_point", coords="wgs-85")
    frame.drop(columns=["lon"]).to_csv(tmp_path / "nolon.csv", index=False)
    with pytest.raises(DataError, match="no longitude column.*nolon.csv"):
        read_sites(tmp_path / "nolon.csv")
    (tmp_path / "bin.xlsx").write_bytes(b"\x00\x01garbage")
    with pytest.raises(DataError, match="cannot read table.*bin.xlsx"):
        read_sites(tmp_path / "bin.xlsx")


def test_sites_outside_the_boundary_are_reported(tmp_path: Path) -> None:
    frame = site_table()
    frame["lon"], frame["lat"] = TRUE_LON, TRUE_LAT
    frame.to_csv(tmp_path / "s.csv", index=False)
    sites, _ = read_sites(tmp_path / "s.csv")
    kept, issues = clip_to_boundary(sites, shapely.box(113.74, 23.01, 113.755, 23.025), "s.csv")
    assert kept["site_id"].tolist() == ["GC-001"]
    assert sorted(issues[0].features) == ["DC-003", "NC-002"] and "outside" in issues[0].message


def test_sites_from_osm_pois_of_the_sample() -> None:
    pois = read_pbf_layer(sample_pbf_path(), "pois", custom_filter={"amenity": True, "social_facility": True})
    sites = sites_from_osm(pois)
    assert (sites.query("type == 'care_centre' and status == 'existing'").shape[0]) == 2  # two social facilities
    assert (sites["type"] == "meal_point").sum() > 250  # restaurants, cafés, canteens
    assert sites["site_id"].is_unique
