"""Admin units (city ▸ town ▸ community) and planning zones when a source has none.

Units are a GeoDataFrame in WGS-84 with columns ``unit_id`` (unique string), ``name`` (kept
exactly as given: Chinese names round-trip untouched), ``level`` (``city``/``town``/``community``),
``parent_id`` (the unit of the next level up containing it, or None) and ``zone_kind``
(``"official"`` for user boundaries, ``"planning-zone"`` for derived ones).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import pandas as pd
import shapely

from geodata.chinacoords import geometries_to_wgs84
from geodata.errors import DataError, DataIssue
from geodata.io import read_vector
from geodata.projection import WGS84
from geodata.vocabulary import LEVEL_ORDER, normalise_level

UNIT_COLUMNS = ["unit_id", "name", "level", "parent_id", "zone_kind", "geometry"]


def empty_units() -> gpd.GeoDataFrame:
    """A units table with no rows."""
    return gpd.GeoDataFrame({c: [] for c in UNIT_COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def read_admin_units(
    source: str | Path | gpd.GeoDataFrame,
    *,
    name_field: str,
    level_field: str | None = None,
    level: str | None = None,
    id_field: str | None = None,
    layer: str | None = None,
    coords: str = "wgs84",
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Read admin-unit polygons with a name and a level.

    Parameters
    ----------
    source
        GeoJSON/Shapefile/GeoPackage path or a GeoDataFrame.
    name_field
        Column with the unit's name (e.g. ``"name"`` or ``"镇街名称"``).
    level_field
        Column with each unit's level (``city``/``town``/``community`` or 市/镇街/社区 …).
    level
        The level of every unit, when the file holds one level and has no level column.
    id_field
        Column with unique ids; default: generated from level and row.
    coords
        The system the file's longitude/latitude numbers are really in: ``wgs84``, ``gcj02``
        (boundaries traced on Amap or Tencent maps: their files usually *say* CRS84/EPSG:4326) or
        ``bd09`` (Baidu).  Every vertex is converted to WGS-84.

    Raises
    ------
    DataError
        Missing name/level field, unknown level value, duplicate ids, empty layer, no CRS.
    """
    label = str(source) if not isinstance(source, gpd.GeoDataFrame) else "admin units"
    frame = read_vector(source, layer=layer, name=label)
    if name_field not in frame.columns:
        raise DataError(f"missing name field (columns: {', '.join(map(str, frame.columns))})", source=label, field=name_field)
    if (level_field is None) == (level is None):
        raise DataError("give exactly one of a level field or a fixed level", source=label, field="level")
    if level_field is not None:
        if level_field not in frame.columns:
            raise DataError("missing level field", source=label, field=level_field)
        levels = frame[level_field].map(normalise_level)
        unknown = levels.isna()
        if unknown.any():
            first = frame.index[unknown][0]
            raise DataError(
                f"unknown level {frame.loc[first, level_field]!r}; use city/town/community (市/镇街/村社区)",
                source=label, field=level_field, feature=first,
            )
    else:
        norm = normalise_level(level)
        if norm is None:
            raise DataError(f"unknown level {level!r}; use city, town or community", source=label, field="level")
        levels = pd.Series(norm, index=frame.index)
    names = frame[name_field]
    issues: list[DataIssue] = []
    missing_name = names.isna() | (names.astype(str).str.strip() == "")
    if missing_name.any():
        raise DataError("unit without a name", source=label, field=name_field, feature=frame.index[missing_name][0])
    if id_field is not None:
        if id_field not in frame.columns:
            raise DataError("missing id field", source=label, field=id_field)
        ids = frame[id_field].astype(str)
    else:
        ids = pd.Series([f"{lv}-{i + 1}" for i, lv in enumerate(levels)], index=frame.index)
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise DataError(f"duplicate unit ids: {', '.join(sorted(set(ids[dup]))[:10])}", source=label, field=id_field or "unit_id")
    geom = frame.geometry
    bad_geom = geom.isna() | geom.is_empty | ~geom.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad_geom.any():
        issues.append(DataIssue.of(label, "features without a polygon geometry skipped", names[bad_geom], field="geometry"))
    keep = ~bad_geom
    if not keep.any():
        raise DataError("no unit has a polygon geometry", source=label, field="geometry")
    try:
        polygons = geometries_to_wgs84(geom[keep].to_numpy(), coords)
    except ValueError as exc:
        raise DataError(str(exc), source=label, field="coords") from exc
    units = gpd.GeoDataFrame(
        {
            "unit_id": ids[keep].to_numpy(),
            "name": names[keep].astype(str).to_numpy(),
            "level": levels[keep].to_numpy(),
            "parent_id": None,
            "zone_kind": "official",
        },
        geometry=gpd.GeoSeries(polygons, crs=WGS84).make_valid().to_numpy(),
        crs=WGS84,
    )
    return units, issues


def combine_units(*tables: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Concatenate unit tables (e.g. a town file and a community file); ids must stay unique."""
    tables = tuple(t for t in tables if t is not None and len(t))
    if not tables:
        return empty_units()
    units = pd.concat(tables, ignore_index=True)
    dup = units["unit_id"].duplicated(keep=False)
    if dup.any():
        raise DataError(f"duplicate unit ids across files: {', '.join(sorted(set(units.loc[dup, 'unit_id']))[:10])}", field="unit_id")
    return gpd.GeoDataFrame(units, geometry="geometry", crs=WGS84)


def assign_parents(units: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Set ``parent_id`` of each unit to the unit one level up that contains most of its area."""
    units = units.copy()
    units["parent_id"] = None
    metric = units.to_crs(crs)
    for upper, lower in zip(LEVEL_ORDER[:-1], LEVEL_ORDER[1:]):
        ups = metric[metric["level"] == upper]
        lows = metric[metric["level"] == lower]
        if ups.empty or lows.empty:
            continue
        points = lows.geometry.representative_point()
        joined = gpd.sjoin(gpd.GeoDataFrame({"i": lows.index}, geometry=points.values, crs=crs), ups[["unit_id", "geometry"]], predicate="within", how="left")
        joined = joined.drop_duplicates("i")
        units.loc[joined["i"].to_numpy(), "parent_id"] = joined["unit_id"].where(joined["unit_id"].notna(), None).to_numpy()
    # towns without a city parent: attach to the single city if there is exactly one
    cities = units[units["level"] == "city"]
    if len(cities) == 1:
        orphan = (units["level"] == "town") & units["parent_id"].isna()
        units.loc[orphan, "parent_id"] = cities["unit_id"].iloc[0]
    return units


def tag_points(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """For each point, the id of the unit containing it at every level present (columns = levels).

    Points on no unit of a level get None in that column.
    """
    result = pd.DataFrame(index=points.index)
    for level in LEVEL_ORDER:
        layer = units[units["level"] == level]
        if layer.empty:
            continue
        joined = gpd.sjoin(points[["geometry"]], layer[["unit_id", "geometry"]], predicate="intersects", how="left")
        joined = joined[~joined.index.duplicated(keep="first")]
        ids = joined["unit_id"].reindex(points.index).astype(object)
        result[level] = ids.where(ids.notna(), None)
    return result


def h3_zones(boundary: shapely.Geometry, resolution: int, level: str = "community", prefix: str = "zone") -> gpd.GeoDataFrame:
    """Split a WGS-84 boundary into H3 hexagons of ``resolution`` (clipped), as planning zones.

    Resolution 8 hexagons are about 0.74 km², 7 about 5.2 km², 6 about 36 km².
    """
    if not 0 <= resolution <= 15:
        raise ValueError("H3 resolution must be 0–15")
    polygons = list(boundary.geoms) if boundary.geom_type == "MultiPolygon" else [boundary]
    cells: set[str] = set()
    for poly in polygons:
        shape = h3.geo_to_h3shape(shapely.geometry.mapping(poly))
        cells.update(h3.h3shape_to_cells_experimental(shape, resolution, contain="overlap"))
    if not cells:
        rp = boundary.representative_point()
        cells.add(h3.latlng_to_cell(rp.y, rp.x, resolution))
    rows = []
    for cell in sorted(cells):
        hexagon = shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
        clipped = hexagon.intersection(boundary)
        if not clipped.is_empty and clipped.area > 0:
            rows.append((cell, clipped))
    units = gpd.GeoDataFrame(
        {
            "unit_id": [f"{prefix}-{c}" for c, _ in rows],
            "name": [f"H3 {c}" for c, _ in rows],
            "level": level,
            "parent_id": None,
            "zone_kind": "planning-zone",
        },
        geometry=[g for _, g in rows],
        crs=WGS84,
    )
    return units


def voronoi_zones(
    seeds: gpd.GeoDataFrame, boundary: shapely.Geometry, level: str, crs: str, *, name_field: str = "name", prefix: str | None = None
) -> gpd.GeoDataFrame:
    """Planning zones as Voronoi cells of named seed points (e.g. OSM ``place`` nodes), clipped to the boundary.

    Seeds with the same name are merged into one zone.  The zones are *not* official boundaries
    and are marked ``zone_kind="planning-zone"``.
    """
    if seeds.empty:
        raise DataError(f"no seed points to build {level} zones from", source="places")
    metric = seeds.to_crs(crs)
    pts = metric.geometry.representative_point()
    bmetric = gpd.GeoSeries([boundary], crs=WGS84).to_crs(crs).iloc[0]
    if len(pts) == 1:
        cells = [bmetric]
    else:
        diagram = shapely.voronoi_polygons(shapely.MultiPoint(list(pts.values)), extend_to=bmetric.buffer(1000))
        cell_geoms = list(diagram.geoms)
        tree = shapely.STRtree(cell_geoms)
        cells = []
        for p in pts.values:
            hits = tree.query(p, predicate="intersects")
            cells.append(cell_geoms[hits[0]] if len(hits) else p.buffer(1))
    frame = gpd.GeoDataFrame({"name": metric[name_field].astype(str).to_numpy()}, geometry=[c.intersection(bmetric) for c in cells], crs=crs)
    frame = frame[~frame.geometry.is_empty]
    frame = frame.dissolve(by="name", as_index=False, sort=True)
    prefix = prefix or level
    units = gpd.GeoDataFrame(
        {
            "unit_id": [f"{prefix}-{i + 1}" for i in range(len(frame))],
            "name": frame["name"].to_numpy(),
            "level": level,
            "parent_id": None,
            "zone_kind": "planning-zone",
        },
        geometry=frame.geometry.to_numpy(),
        crs=crs,
    ).to_crs(WGS84)
    return units


def voronoi_zones_within(
    seeds: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, level: str, crs: str, *, name_field: str = "name"
) -> gpd.GeoDataFrame:
    """Voronoi planning zones built separately inside each parent unit, so they nest exactly.

    Each parent's zones are seeded by the seeds inside it; a parent holding no seed becomes one
    zone carrying the parent's name.  Ids are ``<level>-1..n``; ``parent_id`` is set.
    """
    metric_seeds = seeds.to_crs(crs)
    seed_points = metric_seeds.geometry.representative_point()
    tables = []
    for _, parent in parents.iterrows():
        outline = gpd.GeoSeries([parent.geometry], crs=WGS84).to_crs(crs).iloc[0]
        inside = seed_points.within(outline).to_numpy()
        if inside.any():
            zones = voronoi_zones(seeds[inside], parent.geometry, level, crs, name_field=name_field)
        else:
            zones = gpd.GeoDataFrame({"name": [parent["name"]], "level": [level], "zone_kind": ["planning-zone"]}, geometry=[parent.geometry], crs=WGS84)
        zones["parent_id"] = parent["unit_id"]
        tables.append(zones)
    merged = pd.concat(tables, ignore_index=True)
    merged["unit_id"] = [f"{level}-{i + 1}" for i in range(len(merged))]
    return gpd.GeoDataFrame(merged[UNIT_COLUMNS], geometry="geometry", crs=WGS84)
