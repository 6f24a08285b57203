"""Demand: where people live, as points with counts per population group.

Sources, best first:

* a **raster** of residents per cell (e.g. WorldPop GeoTIFF) — :func:`demand_from_raster`;
* **census polygons** with counts, spread over buildings or a grid (dasymetric) —
  :func:`demand_from_census`;
* a **point table** (CSV/Excel with lon/lat and counts) — :func:`demand_from_points`;
* an **estimate from OSM building footprints** (area × levels × residential share ÷ floor area per
  person) — :func:`demand_from_buildings`, always labelled as an estimate.

Every function returns a WGS-84 point GeoDataFrame with the columns of
:data:`~geodata.vocabulary.GROUP_COLUMNS` (persons, float) plus ``source_kind`` and ``estimate``.
Groups a source does not give are filled from :class:`GroupShares` and the fact is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import DataError, DataIssue
from geodata.io import points_from_table, read_table, read_vector
from geodata.projection import WGS84
from geodata.vocabulary import GROUP_COLUMNS


@dataclass(frozen=True)
class GroupShares:
    """Shares used to derive group counts when a source gives only totals.

    Attributes
    ----------
    aged_60_plus
        Residents aged 60+ as a share of all residents.  Default 0.187: China's 7th national
        census (2020) reported 18.70 % of the population aged 60 and over.
    aged_80_plus
        Residents aged 80+ as a share of all residents.  Default 0.0254 (2020 census: 2.54 %).
    living_alone_of_60_plus
        Elders living alone as a share of residents aged 60+.  Default 0.12, an assumption of the
        right order for Chinese cities; set it from the local civil-affairs register.

    Dongguan's population is younger than China's (its 60+ share was about 6 % in 2020): set the
    shares per region.
    """

    aged_60_plus: float = 0.187
    aged_80_plus: float = 0.0254
    living_alone_of_60_plus: float = 0.12

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value} must be a share between 0 and 1")
        if self.aged_80_plus > self.aged_60_plus:
            raise ValueError("aged_80_plus cannot exceed aged_60_plus")


GROUP_PARENT: dict[str, str] = {"pop_60": "pop_all", "pop_80": "pop_60", "pop_alone": "pop_60"}
"""Each group's parent group: 80+ and elders living alone are part of the 60+, who are part of all."""


def group_ratio(group: str, parent: str, shares: GroupShares) -> float:
    """Share of ``parent`` that ``group`` is taken to be, from ``shares`` (persons per person)."""
    step = {
        ("pop_60", "pop_all"): shares.aged_60_plus,
        ("pop_80", "pop_60"): shares.aged_80_plus / shares.aged_60_plus if shares.aged_60_plus > 0 else 0.0,
        ("pop_alone", "pop_60"): shares.living_alone_of_60_plus,
    }
    ratio, current = 1.0, group
    while current != parent:
        up = GROUP_PARENT.get(current)
        if up is None:
            raise ValueError(f"{parent} is not a parent group of {group}")
        ratio *= step[(current, up)]
        current = up
    return ratio


def fill_groups(frame: pd.DataFrame, shares: GroupShares) -> list[dict[str, object]]:
    """Fill the missing group columns of ``frame`` in place, each from its nearest *given* parent.

    80+ is derived from the 60+ when the source gives the 60+ (not from the total), elders living
    alone likewise; the 60+ from all residents.  Returns one record per derived group:
    ``{"group", "from", "ratio"}`` with the ratio applied (persons per person of ``from``), so that
    every summary can state what was derived and how.
    """
    given = {g for g in GROUP_COLUMNS if g in frame}
    derived: list[dict[str, object]] = []
    for group in ("pop_60", "pop_80", "pop_alone"):
        if group in given:
            continue
        parent = GROUP_PARENT[group]
        while parent not in given and parent in GROUP_PARENT:
            parent = GROUP_PARENT[parent]
        ratio = group_ratio(group, parent, shares)
        frame[group] = frame[parent].astype(float) * ratio
        derived.append({"group": group, "from": parent, "ratio": round(ratio, 6)})
    if "pop_60" not in given and "pop_80" in given:
        frame["pop_60"] = np.maximum(frame["pop_60"], frame["pop_80"].astype(float))
    return derived


def describe_derivations(derived: list[dict[str, object]], lang: str = "en") -> list[str]:
    """Sentences such as "aged 80+ derived from aged 60+ × 0.1358" for summaries."""
    from geodata.vocabulary import POPULATION_GROUPS

    out = []
    for d in derived:
        group, parent = POPULATION_GROUPS[str(d["group"])][lang], POPULATION_GROUPS[str(d["from"])][lang]
        if lang == "zh":
            out.append(f"{group}未提供，按{parent} × {float(d['ratio']):.4g} 推算")
        else:
            out.append(f"{group} not given: derived from {parent} × {float(d['ratio']):.4g}")
    return out


def check_group_order(frame: pd.DataFrame, source: str, row_ids: pd.Series | None = None) -> list[DataIssue]:
    """Warn (rows kept) where a group exceeds its parent given in the same row (60+ above all residents …)."""
    issues = []
    for group, parent in GROUP_PARENT.items():
        if group in frame and parent in frame:
            over = (frame[group].astype(float) > frame[parent].astype(float) + 1e-9).to_numpy()
            if over.any():
                ids = (row_ids if row_ids is not None else pd.Series(frame.index.astype(str), index=frame.index))[over]
                issues.append(DataIssue.of(source, f"{group} exceeds {parent} (rows kept as given; check the columns)", ids, field=group, skipped=False))
    return issues


def _finish(points: gpd.GeoDataFrame, kind: str, estimate: bool, shares: GroupShares) -> gpd.GeoDataFrame:
    derived = fill_groups(points, shares)
    points = points[[*GROUP_COLUMNS, "geometry", *[c for c in ("declared_town", "declared_community", "source_row") if c in points]]].copy()
    for column in GROUP_COLUMNS:
        points[column] = points[column].astype(float)
    points["source_kind"] = kind
    points["estimate"] = estimate
    points.attrs["derived_groups"] = derived
    return points.reset_index(drop=True)


# ---------------------------------------------------------------------- raster
def demand_from_raster(
    path: str | Path,
    boundary: shapely.Geometry,
    *,
    band: int = 1,
    shares: GroupShares = GroupShares(),
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """One demand point per populated raster cell inside ``boundary`` (WGS-84).

    Parameters
    ----------
    path
        GeoTIFF (or any raster rasterio reads) of persons per cell, e.g. WorldPop.
    boundary
        Region boundary in WGS-84; only cells whose centre lies inside are kept.
    band
        Band holding the counts of all residents (groups are derived with ``shares``).
    """
    import rasterio
    from rasterio.windows import from_bounds

    path = Path(path)
    if not path.is_file():
        raise DataError("raster file not found", source=path)
    issues: list[DataIssue] = []
    try:
        dataset = rasterio.open(path)
    except Exception as exc:
        raise DataError(f"cannot read raster: {exc}", source=path) from exc
    with dataset:
        if dataset.crs is None:
            raise DataError("raster has no CRS; give it one (e.g. EPSG:4326 as WorldPop)", source=path)
        if not 1 <= band <= dataset.count:
            raise DataError(f"raster has {dataset.count} band(s), not band {band}", source=path, field="band")
        local = gpd.GeoSeries([boundary], crs=WGS84).to_crs(dataset.crs).iloc[0]
        left, bottom, right, top = local.bounds
        rb = dataset.bounds
        if right < rb.left or left > rb.right or top < rb.bottom or bottom > rb.top:
            raise DataError("raster does not overlap the region", source=path)
        window = from_bounds(max(left, rb.left), max(bottom, rb.bottom), min(right, rb.right), min(top, rb.top), dataset.transform)
        window = window.round_offsets().round_lengths()
        values = dataset.read(band, window=window, masked=True).astype(float)
        transform = dataset.window_transform(window)
        crs = dataset.crs
    counts = np.ma.filled(values, 0.0)
    negative = counts < 0
    if negative.any():
        issues.append(DataIssue.of(path, "negative cell values treated as 0", [f"cells={int(negative.sum())}"], field=f"band {band}"))
        counts[negative] = 0.0
    rows, cols = np.nonzero(counts > 0)
    xs, ys = rasterio.transform.xy(transform, rows, cols, offset="center")
    points = gpd.GeoDataFrame({"pop_all": counts[rows, cols]}, geometry=gpd.points_from_xy(xs, ys), crs=crs).to_crs(WGS84)
    inside = points.within(boundary).to_numpy()
    points = points[inside]
    if points.empty:
        raise DataError("no populated raster cell lies inside the region", source=path)
    return _finish(points, "raster", False, shares), issues


# ---------------------------------------------------------------------- census polygons
def _grid_points(polygon: shapely.Geometry, cell_m: float) -> np.ndarray:
    """Points on a ``cell_m`` grid inside a metric polygon (at least its representative point)."""
    xmin, ymin, xmax, ymax = polygon.bounds
    xs = np.arange(xmin + cell_m / 2, xmax, cell_m)
    ys = np.arange(ymin + cell_m / 2, ymax, cell_m)
    if len(xs) and len(ys):
        gx, gy = np.meshgrid(xs, ys)
        pts = shapely.points(gx.ravel(), gy.ravel())
        inside = shapely.contains(polygon, pts)
        if inside.any():
            return np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])
    rp = polygon.representative_point()
    return np.array([[rp.x, rp.y]])


def demand_from_census(
    source: str | Path | gpd.GeoDataFrame,
    crs: str,
    *,
    count_fields: Mapping[str, str] | None = None,
    spread: str = "buildings",
    buildings: gpd.GeoDataFrame | None = None,
    cell_m: float = 100.0,
    shares: GroupShares = GroupShares(),
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Spread census-polygon counts over buildings (by floor area) or a grid (dasymetric mapping).

    Parameters
    ----------
    source
        Polygons with counts (file path or GeoDataFrame).
    crs
        Metric CRS for areas and the grid.
    count_fields
        Group code → column, e.g. ``{"pop_all": "总人口", "pop_60": "60岁以上"}``; default
        ``{"pop_all": "pop_all"}`` plus any group columns present under their codes.
    spread
        ``"buildings"``: to the residential floor area of the ``buildings`` inside each polygon
        (polygons without buildings fall back to the grid, reported); ``"grid"``: evenly to points
        on a ``cell_m`` grid.
    buildings
        Buildings with a ``floor_area_m2`` column (see :func:`building_floor_area`), WGS-84.
    cell_m
        Grid spacing in metres.
    """
    name = str(source) if not isinstance(source, gpd.GeoDataFrame) else "census polygons"
    polygons = read_vector(source, name=name)
    fields = dict(count_fields or {})
    if not fields:
        fields = {g: g for g in GROUP_COLUMNS if g in polygons.columns}
        fields.setdefault("pop_all", "pop_all")
    if "pop_all" not in fields:
        raise DataError("census polygons need a total count (pop_all)", source=name, field="pop_all")
    for group, column in fields.items():
        if group not in GROUP_COLUMNS:
            raise DataError(f"unknown group {group!r}; use {', '.join(GROUP_COLUMNS)}", source=name, field=group)
        if column not in polygons.columns:
            raise DataError("missing count column", source=name, field=column)
    if spread not in {"buildings", "grid"}:
        raise ValueError(f"spread must be 'buildings' or 'grid', not {spread!r}")
    if spread == "buildings" and buildings is None:
        raise DataError("spreading to buildings needs a buildings layer", source=name)
    if cell_m <= 0:
        raise ValueError("cell_m must be positive (metres)")
    issues: list[DataIssue] = []
    counts = pd.DataFrame({g: pd.to_numeric(polygons[c], errors="coerce") for g, c in fields.items()})
    bad = counts.isna().any(axis=1) | (counts < 0).any(axis=1)
    if bad.any():
        issues.append(DataIssue.of(name, "missing or negative counts", polygons.index[bad], field=",".join(fields.values())))
    polygons = polygons[~bad.to_numpy()].to_crs(crs)
    counts = counts[~bad]
    polygons["geometry"] = polygons.geometry.make_valid()

    bxy = None
    if spread == "buildings":
        b = buildings.to_crs(crs)
        centres = b.geometry.representative_point()
        bxy = (np.column_stack([centres.x, centres.y]), b["floor_area_m2"].to_numpy(float))
        tree = shapely.STRtree(centres.values)

    xs, ys, rows = [], [], []
    no_buildings = []
    for pos, (index, geom) in enumerate(zip(polygons.index, polygons.geometry)):
        weights = None
        if bxy is not None:
            hit = tree.query(geom, predicate="contains")
            if len(hit) and bxy[1][hit].sum() > 0:
                pts, weights = bxy[0][hit], bxy[1][hit]
            else:
                no_buildings.append(index)
        if weights is None:
            pts = _grid_points(geom, cell_m)
            weights = np.ones(len(pts))
        share = weights / weights.sum()
        xs.append(pts[:, 0])
        ys.append(pts[:, 1])
        rows.append(np.outer(share, counts.iloc[pos].to_numpy(float)))
    if no_buildings:
        issues.append(DataIssue(name, "polygons without residential buildings spread on a grid instead", [str(i) for i in no_buildings[:50]], len(no_buildings)))
    if not rows:
        raise DataError("no usable census polygon", source=name)
    values = np.vstack(rows)
    frame = pd.DataFrame(values, columns=list(fields))
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(np.concatenate(xs), np.concatenate(ys)), crs=crs).to_crs(WGS84)
    points = points[points["pop_all"] > 0]
    return _finish(points, f"census-{spread}", False, shares), issues


# ---------------------------------------------------------------------- point tables
def demand_from_points(
    path: str | Path,
    *,
    count_fields: Mapping[str, str] | None = None,
    lon_field: str | None = None,
    lat_field: str | None = None,
    columns: Mapping[str, str] | None = None,
    coords: str = "wgs84",
    shares: GroupShares = GroupShares(),
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Demand points from a CSV/Excel table with longitude, latitude and count columns.

    Parameters
    ----------
    path
        CSV (UTF-8 or GBK/GB18030) or Excel file, one row per point (a building, a grid cell or a
        community centroid).
    count_fields, columns
        Our column → the file's column (``{"pop_all": "pop", "pop_60": "pop60"}``); any column
        not mapped is found by its usual names, Chinese included (常住人口, 60岁以上, 80岁以上,
        独居老人, 经度, 纬度, 镇街, 社区; see :mod:`geodata.columns`).
    coords
        The system of the numbers (wgs84, gcj02, bd09); converted to WGS-84.
    shares
        Ratios for the groups the table does not give (each derived from its nearest given parent).

    Returns
    -------
    (points, issues)
        Rows with bad coordinates or counts are skipped and reported.  A ``town``/``community``
        column, when present, is kept as ``declared_town``/``declared_community`` for the
        consistency check against the boundaries.
    """
    from geodata.columns import POPULATION_TARGETS, find_target, resolve_columns

    table = read_table(path)
    name = str(path)
    mapping: Mapping[str, str] = {**(columns or {}), **count_fields} if count_fields else (columns if columns is not None else {})
    fields = resolve_columns(table, POPULATION_TARGETS, mapping, source=name)
    if "pop_all" not in fields:
        present = ", ".join(map(str, table.columns[:20]))
        raise DataError(f"no total-residents column (looked for pop_all, 人口, 常住人口, 总人口 …; columns present: {present}); "
                        f"name it with --column pop_all=COLUMN", source=name, field="pop_all")
    points, issues = points_from_table(table, name, lon_field=lon_field, lat_field=lat_field, columns=mapping, coords=coords)
    counts = pd.DataFrame({g: pd.to_numeric(points[c], errors="coerce") for g, c in fields.items()}, index=points.index)
    bad = counts.isna().any(axis=1) | (counts < 0).any(axis=1)
    row_ids = pd.Series([f"row {i + 2}" for i in points.index], index=points.index)
    if bad.any():
        issues.append(DataIssue.of(name, "missing or negative counts", row_ids[bad], field=",".join(fields[g] for g in fields)))
    issues += check_group_order(counts[~bad], name, row_ids[~bad])
    frame = counts[~bad].copy()
    for level in ("town", "community"):
        column = find_target(table, level, mapping, source=name)
        if column is not None:
            frame[f"declared_{level}"] = points.loc[~bad, column].astype(object).where(points.loc[~bad, column].notna(), None).to_numpy()
    frame["source_row"] = row_ids[~bad].to_numpy()
    points = gpd.GeoDataFrame(frame, geometry=points.geometry[~bad], crs=WGS84)
    if points.empty:
        raise DataError("no usable row", source=name)
    finished = _finish(points, "points", False, shares)
    finished.attrs["columns"] = {g: str(c) for g, c in fields.items()}
    finished.attrs["declared_columns"] = {level: str(find_target(table, level, mapping, source=name)) for level in ("town", "community")
                                          if f"declared_{level}" in finished}
    return finished, issues


# ---------------------------------------------------------------------- building estimate
RESIDENTIAL_SHARE: dict[str, float] = {
    "apartments": 1.0, "residential": 1.0, "house": 1.0, "detached": 1.0, "semidetached_house": 1.0,
    "terrace": 1.0, "dormitory": 1.0, "bungalow": 1.0, "farm": 1.0, "cabin": 1.0,
    "yes": 0.5,  # untyped buildings: assume half of the floor area is housing (mixed use)
}
"""Share of a building's floor area that houses residents, by OSM ``building`` value; others 0."""

DEFAULT_LEVELS: dict[str, float] = {
    "house": 2.0, "detached": 2.0, "semidetached_house": 2.0, "terrace": 2.0, "bungalow": 1.0,
    "farm": 2.0, "cabin": 1.0, "apartments": 6.0, "residential": 6.0, "dormitory": 5.0,
}
"""Levels assumed when ``building:levels`` is missing; others 3."""


def building_floor_area(buildings: gpd.GeoDataFrame, crs: str, *, default_levels: float = 3.0) -> gpd.GeoDataFrame:
    """Add ``levels``, ``footprint_m2``, ``residential_share`` and ``floor_area_m2`` (residential) to buildings."""
    frame = buildings.copy()
    kind = frame["building"].astype(object).where(frame["building"].notna(), "yes").astype(str).str.lower() if "building" in frame else pd.Series("yes", index=frame.index)
    levels_raw = frame["building:levels"] if "building:levels" in frame else pd.Series(np.nan, index=frame.index)
    levels = pd.to_numeric(levels_raw.astype(str).str.extract(r"(\d+(?:\.\d+)?)")[0], errors="coerce")
    levels = levels.where((levels > 0) & (levels < 200))
    fallback = kind.map(DEFAULT_LEVELS).fillna(default_levels)
    frame["levels"] = levels.fillna(fallback).astype(float)
    frame["footprint_m2"] = frame.to_crs(crs).geometry.area.to_numpy()
    frame["residential_share"] = kind.map(RESIDENTIAL_SHARE).fillna(0.0).astype(float)
    frame["floor_area_m2"] = frame["footprint_m2"] * frame["levels"] * frame["residential_share"]
    return frame


def demand_from_buildings(
    buildings: gpd.GeoDataFrame,
    crs: str,
    *,
    floor_m2_per_person: float = 40.0,
    shares: GroupShares = GroupShares(),
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Estimate residents per building from OSM footprints: an **estimate**, labelled as such.

    residents = footprint area (m²) × levels × residential share ÷ ``floor_m2_per_person``.

    Parameters
    ----------
    buildings
        Building polygons in WGS-84 with OSM ``building`` and ``building:levels`` columns.
    crs
        Metric CRS for areas.
    floor_m2_per_person
        Residential floor area per resident, m².  Default 40: urban per-capita housing floor
        area in China was 39.8 m² in 2019 (National Bureau of Statistics).
    """
    if floor_m2_per_person <= 0:
        raise ValueError("floor_m2_per_person must be positive (m²)")
    if buildings is None or len(buildings) == 0:
        raise DataError("no buildings to estimate population from", source="buildings")
    polys = buildings[buildings.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        raise DataError("no building polygons to estimate population from", source="buildings")
    frame = building_floor_area(polys, crs)
    frame["pop_all"] = frame["floor_area_m2"] / floor_m2_per_person
    frame = frame[frame["pop_all"] > 0]
    if frame.empty:
        raise DataError("no residential building found to estimate population from", source="buildings")
    points = gpd.GeoDataFrame(
        {"pop_all": frame["pop_all"].to_numpy()},
        geometry=frame.to_crs(crs).geometry.representative_point().to_crs(WGS84).to_numpy(),
        crs=WGS84,
    )
    return _finish(points, "buildings-estimate", True, shares), []
