"""Admin units: reading, hierarchy, tagging demand, and planning zones."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geodata.admin import assign_parents, combine_units, h3_zones, read_admin_units, tag_points, voronoi_zones_within
from geodata.errors import DataError
from geodata.projection import WGS84

CRS = "EPSG:32650"


def towns_file(tmp_path: Path) -> Path:
    frame = gpd.GeoDataFrame(
        {"镇街名称": ["莞城街道", "南城街道"], "级别": ["镇街", "镇街"], "code": ["441900003", "441900004"]},
        geometry=[shapely.box(113.74, 23.01, 113.75, 23.03), shapely.box(113.75, 23.01, 113.76, 23.03)],
        crs=WGS84,
    )
    path = tmp_path / "towns.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def communities_file(tmp_path: Path) -> Path:
    frame = gpd.GeoDataFrame(
        {"name": ["东正社区", "北隅社区", "石鼓社区"], "level": ["社区", "社区", "村"]},
        geometry=[shapely.box(113.74, 23.01, 113.75, 23.02), shapely.box(113.74, 23.02, 113.75, 23.03), shapely.box(113.75, 23.01, 113.76, 23.03)],
        crs=WGS84,
    )
    path = tmp_path / "communities.gpkg"
    frame.to_file(path, driver="GPKG")
    return path


def test_chinese_units_round_trip_with_hierarchy_and_tags(tmp_path: Path) -> None:
    towns, issues = read_admin_units(towns_file(tmp_path), name_field="镇街名称", level_field="级别", id_field="code")
    comms, _ = read_admin_units(communities_file(tmp_path), name_field="name", level_field="level")
    units = assign_parents(combine_units(towns, comms), CRS)
    assert issues == []
    assert units.loc[units["level"] == "town", "name"].tolist() == ["莞城街道", "南城街道"]
    parent = dict(zip(units["name"], units["parent_id"]))
    assert parent["东正社区"] == "441900003" and parent["石鼓社区"] == "441900004"
    points = gpd.GeoDataFrame(geometry=[shapely.Point(113.745, 23.015), shapely.Point(113.755, 23.02), shapely.Point(114.5, 23.0)], crs=WGS84)
    tags = tag_points(points, units)
    assert tags["town"].tolist()[:2] == ["441900003", "441900004"]
    assert tags["town"].iloc[2] is None  # outside every unit


def test_fixed_level_for_single_level_files(tmp_path: Path) -> None:
    units, _ = read_admin_units(towns_file(tmp_path), name_field="镇街名称", level="town")
    assert units["unit_id"].tolist() == ["town-1", "town-2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name_field": "名称", "level": "town"}, "missing name field.*field '名称'"),
        ({"name_field": "镇街名称", "level_field": "层级"}, "missing level field.*field '层级'"),
        ({"name_field": "镇街名称", "level": "province"}, "unknown level 'province'"),
        ({"name_field": "镇街名称"}, "exactly one of a level field or a fixed level"),
    ],
)
def test_field_errors_name_the_field(tmp_path: Path, kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        read_admin_units(towns_file(tmp_path), **kwargs)


def test_bad_values_name_the_feature(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["甲", "乙"], "level": ["镇街", "省"], "id": ["a", "a"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=WGS84)
    with pytest.raises(DataError, match="unknown level '省'.*feature 1"):
        read_admin_units(frame, name_field="name", level_field="level")
    frame["level"] = "town"
    with pytest.raises(DataError, match="duplicate unit ids: a"):
        read_admin_units(frame, name_field="name", level="town", id_field="id")
    with pytest.raises(DataError, match="no coordinate reference system"):
        read_admin_units(frame.set_crs(None, allow_override=True), name_field="name", level="town")
    with pytest.raises(DataError, match="layer has no features"):
        read_admin_units(frame.iloc[0:0], name_field="name", level="town")
    (tmp_path / "broken.geojson").write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(DataError, match="cannot read vector layer.*broken.geojson"):
        read_admin_units(tmp_path / "broken.geojson", name_field="name", level="town")


def test_points_without_polygons_are_reported(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.Point(0.5, 0.5)], crs=WGS84)
    units, issues = read_admin_units(frame, name_field="name", level="town")
    assert len(units) == 1 and issues[0].features == ["乙"]


def test_h3_zones_cover_the_boundary_exactly() -> None:
    boundary = shapely.box(113.74, 23.01, 113.76, 23.03)
    zones = h3_zones(boundary, 8)
    area = gpd.GeoSeries([boundary], crs=WGS84).to_crs(CRS).area.iloc[0]
    assert zones.to_crs(CRS).area.sum() == pytest.approx(area, rel=1e-6)
    assert (zones["zone_kind"] == "planning-zone").all()
    assert 3 < len(zones) < 20  # res-8 hexagons are ~0.74 km²; the box is ~4.6 km²


def test_voronoi_zones_nest_in_their_parents() -> None:
    parents = gpd.GeoDataFrame({"unit_id": ["t1", "t2"], "name": ["西", "东"]}, geometry=[shapely.box(0, 0, 0.01, 0.01), shapely.box(0.01, 0, 0.02, 0.01)], crs=WGS84)
    seeds = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=[shapely.Point(0.002, 0.005), shapely.Point(0.008, 0.005), shapely.Point(0.0095, 0.009)], crs=WGS84)
    zones = voronoi_zones_within(seeds, parents, "community", "EPSG:32631")
    assert zones.loc[zones["parent_id"] == "t1", "name"].tolist() == ["a", "b", "c"]
    assert zones.loc[zones["parent_id"] == "t2", "name"].tolist() == ["东"]  # no seed: one zone named after the town
    for _, zone in zones.iterrows():
        parent = parents.set_index("unit_id").geometry[zone["parent_id"]]
        assert zone.geometry.difference(parent).area < 1e-6 * parent.area  # projection round-off only


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_boundaries_traced_on_amap_or_baidu_are_converted_vertex_by_vertex(tmp_path: Path, system: str) -> None:
    """A polygon whose numbers are GCJ-02/BD-09 under a CRS84 label comes back at its true WGS-84 place."""
    import numpy as np

    from geodata.chinacoords import from_wgs84

    true = shapely.Polygon([(113.74, 23.01), (113.752, 23.012), (113.755, 23.03), (113.741, 23.027)])
    x, y = np.asarray(true.exterior.coords).T
    sx, sy = from_wgs84(x, y, system)
    shifted = gpd.GeoDataFrame({"name": ["莞城街道"], "level": ["镇街"]}, geometry=[shapely.Polygon(np.column_stack([sx, sy]))], crs=WGS84)
    shifted.to_file(tmp_path / "amap.geojson", driver="GeoJSON")
    as_is, _ = read_admin_units(tmp_path / "amap.geojson", name_field="name", level_field="level")
    converted, _ = read_admin_units(tmp_path / "amap.geojson", name_field="name", level_field="level", coords=system)
    got = np.asarray(converted.geometry.iloc[0].exterior.coords)
    assert np.abs(got - np.asarray(true.exterior.coords)).max() < 1e-7  # ~1 cm
    offset = shapely.distance(as_is.geometry.iloc[0].centroid, true.centroid) * 111_000
    assert 300 < offset < 1600  # left unconverted, the town sits hundreds of metres off (BD-09 more than GCJ-02)
    with pytest.raises(DataError, match="unknown coordinate system"):
        read_admin_units(tmp_path / "amap.geojson", name_field="name", level_field="level", coords="gcj-2")
