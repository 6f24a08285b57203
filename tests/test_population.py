"""Demand from every population source, and their bad-input errors."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from geodata.chinacoords import wgs84_to_gcj02
from geodata.errors import DataError
from geodata.population import (
    GroupShares,
    demand_from_buildings,
    demand_from_census,
    demand_from_points,
    demand_from_raster,
)
from geodata.projection import WGS84

CRS = "EPSG:32650"
BOX = shapely.box(113.74, 23.01, 113.76, 23.03)  # about 2 × 2.2 km in Dongguan


def write_raster(path: Path, values: np.ndarray, *, crs: str | None = "EPSG:4326", nodata: float = -99.0) -> Path:
    profile = dict(driver="GTiff", height=values.shape[0], width=values.shape[1], count=1, dtype="float32",
                   transform=from_origin(113.74, 23.03, 0.005, 0.005), nodata=nodata)
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("float32"), 1)
    return path


def test_raster_cells_become_points_with_their_counts(tmp_path: Path) -> None:
    values = np.arange(16, dtype=float).reshape(4, 4)  # 0.005° cells cover the box exactly
    values[0, 0] = -99.0  # nodata
    path = write_raster(tmp_path / "worldpop.tif", values)
    demand, issues = demand_from_raster(path, BOX)
    assert len(demand) == 15  # 16 cells minus the nodata cell
    assert demand["pop_all"].sum() == pytest.approx(values[values > 0].sum())
    assert demand["pop_60"].sum() == pytest.approx(demand["pop_all"].sum() * 0.187)
    assert (demand["estimate"] == False).all() and (demand["source_kind"] == "raster").all()  # noqa: E712
    # the cell centres are where they should be
    assert demand.geometry.x.min() == pytest.approx(113.7425)
    assert issues == []


def test_raster_partial_overlap_keeps_only_inside_cells(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "pop.tif", np.ones((4, 4)) * 10)
    half = shapely.box(113.74, 23.01, 113.75, 23.03)
    demand, _ = demand_from_raster(path, half)
    assert len(demand) == 8 and demand["pop_all"].sum() == pytest.approx(80)


def test_raster_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no CRS.*nocrs.tif"):
        demand_from_raster(write_raster(tmp_path / "nocrs.tif", np.ones((2, 2)), crs=None), BOX)
    far = shapely.box(0, 0, 1, 1)
    with pytest.raises(DataError, match="does not overlap"):
        demand_from_raster(write_raster(tmp_path / "ok.tif", np.ones((2, 2))), far)
    (tmp_path / "junk.tif").write_bytes(b"GIF89a not a tiff")
    with pytest.raises(DataError, match="cannot read raster.*junk.tif"):
        demand_from_raster(tmp_path / "junk.tif", BOX)
    with pytest.raises(DataError, match="band 3"):
        demand_from_raster(tmp_path / "ok.tif", BOX, band=3)
    negative = np.ones((4, 4))
    negative[1, 1] = -5
    demand, issues = demand_from_raster(write_raster(tmp_path / "neg.tif", negative), BOX)
    assert len(demand) == 15 and "negative" in issues[0].message


def census_polygons() -> gpd.GeoDataFrame:
    west = shapely.box(113.74, 23.01, 113.75, 23.03)
    east = shapely.box(113.75, 23.01, 113.76, 23.03)
    return gpd.GeoDataFrame({"社区": ["西社区", "东社区"], "total": [1000, 3000], "old": [200, 900]}, geometry=[west, east], crs=WGS84)


def test_census_spread_on_grid_keeps_totals_per_polygon() -> None:
    demand, issues = demand_from_census(census_polygons(), CRS, count_fields={"pop_all": "total", "pop_60": "old"}, spread="grid", cell_m=200)
    assert demand["pop_all"].sum() == pytest.approx(4000)
    assert demand["pop_60"].sum() == pytest.approx(1100)
    east = demand.geometry.x > 113.75
    assert demand.loc[east, "pop_all"].sum() == pytest.approx(3000)
    assert demand.loc[east, "pop_60"].sum() == pytest.approx(900)
    assert 40 < len(demand) < 140  # ~1 km × 2.2 km / (200 m)² per polygon
    assert issues == []


def test_census_spread_on_buildings_by_floor_area() -> None:
    b = gpd.GeoDataFrame({"floor_area_m2": [100.0, 300.0]}, geometry=[shapely.Point(113.745, 23.02).buffer(0.0002), shapely.Point(113.748, 23.02).buffer(0.0002)], crs=WGS84)
    demand, issues = demand_from_census(census_polygons(), CRS, count_fields={"pop_all": "total"}, spread="buildings", buildings=b)
    west = demand[demand.geometry.x < 113.75].sort_values("pop_all")
    assert west["pop_all"].tolist() == pytest.approx([250.0, 750.0])  # 1:3 by floor area
    # the east polygon has no building: spread on the grid, and reported
    assert demand.loc[demand.geometry.x > 113.75, "pop_all"].sum() == pytest.approx(3000)
    assert any("without residential buildings" in i.message for i in issues)


def test_census_errors() -> None:
    polys = census_polygons()
    with pytest.raises(DataError, match="missing count column.*field 'people'"):
        demand_from_census(polys, CRS, count_fields={"pop_all": "people"}, spread="grid")
    with pytest.raises(DataError, match="needs a buildings layer"):
        demand_from_census(polys, CRS, count_fields={"pop_all": "total"}, spread="buildings")
    bad = polys.copy()
    bad.loc[0, "total"] = -3
    demand, issues = demand_from_census(bad, CRS, count_fields={"pop_all": "total"}, spread="grid")
    assert demand["pop_all"].sum() == pytest.approx(3000)
    assert issues and "negative" in issues[0].message
    nocrs = polys.set_crs(None, allow_override=True)
    with pytest.raises(DataError, match="no coordinate reference system"):
        demand_from_census(nocrs, CRS, count_fields={"pop_all": "total"}, spread="grid")


def test_point_table_gcj02_gb18030_csv(tmp_path: Path) -> None:
    lon, lat = np.array([113.745, 113.755]), np.array([23.015, 23.025])
    glon, glat = wgs84_to_gcj02(lon, lat)
    frame = pd.DataFrame({"名称": ["莞城街道A", "南城街道B"], "经度": glon, "纬度": glat, "pop_all": [120, 80], "pop_60": [30, 10]})
    path = tmp_path / "points.csv"
    frame.to_csv(path, index=False, encoding="gb18030")  # as Chinese Excel saves CSV
    demand, issues = demand_from_points(path, coords="gcj02")
    np.testing.assert_allclose(demand.geometry.x, lon, atol=1e-8)
    np.testing.assert_allclose(demand.geometry.y, lat, atol=1e-8)
    assert demand["pop_60"].tolist() == [30, 10]
    # 80+ and living alone are derived from the given 60+ (their nearest given parent), not the total
    assert demand["pop_80"].tolist() == pytest.approx([30 * 0.0254 / 0.187, 10 * 0.0254 / 0.187])
    assert demand["pop_alone"].tolist() == pytest.approx([30 * 0.12, 10 * 0.12])
    assert demand.attrs["derived_groups"] == [{"group": "pop_80", "from": "pop_60", "ratio": round(0.0254 / 0.187, 6)},
                                              {"group": "pop_alone", "from": "pop_60", "ratio": 0.12}]
    assert issues == []


def test_point_table_chinese_headers_and_column_mappings(tmp_path: Path) -> None:
    from geodata.columns import SharedColumns, parse_column_mappings
    from geodata.population import describe_derivations

    frame = pd.DataFrame({"经度": [113.745, 113.755], "纬度": [23.015, 23.025], "常住人口（人）": [1000, 500], "60岁以上": [150, 90],
                          "80岁及以上": [20, 10], "独居老人": [5, 3], "镇街": ["莞城街道", "南城街道"]})
    frame.to_csv(tmp_path / "zh.csv", index=False, encoding="gbk")
    demand, _ = demand_from_points(tmp_path / "zh.csv")
    assert demand[["pop_all", "pop_60", "pop_80", "pop_alone"]].values.tolist() == [[1000, 150, 20, 5], [500, 90, 10, 3]]
    assert demand.attrs["derived_groups"] == [] and demand["declared_town"].tolist() == ["莞城街道", "南城街道"]
    # a column no synonym knows is named with --column; only the total given: groups from the total
    pd.DataFrame({"x_coord": [113.745], "lat": [23.015], "people": [1000]}).to_csv(tmp_path / "raw.csv", index=False)
    with pytest.raises(DataError, match="no total-residents column.*--column pop_all=COLUMN"):
        demand_from_points(tmp_path / "raw.csv", columns={"lon": "x_coord"})
    mapped, _ = demand_from_points(tmp_path / "raw.csv", columns=parse_column_mappings(["pop_all=people", "lon=x_coord"]))
    assert mapped["pop_60"].iloc[0] == pytest.approx(187.0) and mapped["pop_80"].iloc[0] == pytest.approx(25.4)
    assert "derived from 60+" not in " ".join(describe_derivations(mapped.attrs["derived_groups"]))
    assert describe_derivations(mapped.attrs["derived_groups"], "zh")[0] == "60岁及以上老年人未提供，按常住人口 × 0.187 推算"
    with pytest.raises(DataError, match="'人口数' .*not in the table"):
        demand_from_points(tmp_path / "raw.csv", columns={"pop_all": "人口数", "lon": "x_coord"})
    shared = SharedColumns(parse_column_mappings(["pop_all=people", "lon=x_coord", "name=机构"]))
    demand_from_points(tmp_path / "raw.csv", columns=shared)
    with pytest.raises(DataError, match="--column name=机构: no input table has a column '机构'"):
        shared.check_all_used(["raw.csv"])
    with pytest.raises(DataError, match="unknown column target 'pop_90'"):
        parse_column_mappings(["pop_90=x"])
    with pytest.raises(DataError, match="is not TARGET=SOURCE"):
        parse_column_mappings(["pop_all"])


def test_swapped_longitude_latitude_is_named(tmp_path: Path) -> None:
    pd.DataFrame({"lon": [23.015, 23.02], "lat": [113.745, 113.75], "pop_all": [10, 20]}).to_csv(tmp_path / "swap.csv", index=False)
    with pytest.raises(DataError, match="longitude and latitude look swapped.*'lat' holds 113.745.*field 'lon/lat'"):
        demand_from_points(tmp_path / "swap.csv")


def test_point_table_excel_and_bad_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"lon": [113.745, None, 200.0, 113.75], "lat": [23.015, 23.02, 23.02, 23.02], "pop_all": [10, 10, 10, -1]})
    path = tmp_path / "points.xlsx"
    frame.to_excel(path, index=False)
    demand, issues = demand_from_points(path)
    assert len(demand) == 1
    messages = " | ".join(str(i) for i in issues)
    assert "row 3" in messages and "row 4" in messages and "row 5" in messages
    with pytest.raises(DataError, match="column 'pop_all' would serve both pop_all and pop_60"):
        demand_from_points(path, count_fields={"pop_60": "pop_all"})
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="file is empty.*empty.csv"):
        demand_from_points(tmp_path / "empty.csv")


def test_building_estimate_formula() -> None:
    # a 20 m × 50 m apartment block of 6 levels and an office: 1000 m² × 6 / 40 m² per person = 150
    apt = shapely.box(0, 0, 20, 50)
    office = shapely.box(100, 0, 140, 40)
    frame = gpd.GeoDataFrame({"building": ["apartments", "office"], "building:levels": ["6", None]}, geometry=[apt, office], crs=CRS).to_crs(WGS84)
    demand, _ = demand_from_buildings(frame, CRS, shares=GroupShares(aged_60_plus=0.2, aged_80_plus=0.05, living_alone_of_60_plus=0.1))
    assert len(demand) == 1
    assert demand["pop_all"].iloc[0] == pytest.approx(150.0, rel=1e-3)
    assert demand["pop_60"].iloc[0] == pytest.approx(30.0, rel=1e-3)
    assert demand["pop_alone"].iloc[0] == pytest.approx(3.0, rel=1e-3)
    assert bool(demand["estimate"].iloc[0]) is True
    with pytest.raises(DataError, match="no residential building"):
        demand_from_buildings(frame.iloc[[1]], CRS)


def test_group_shares_validate() -> None:
    with pytest.raises(ValueError, match="aged_60_plus=1.5"):
        GroupShares(aged_60_plus=1.5)
    with pytest.raises(ValueError, match="cannot exceed"):
        GroupShares(aged_60_plus=0.1, aged_80_plus=0.2)
