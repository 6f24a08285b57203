"""Build a :class:`~geodata.region.Region` from declared sources, and cache it on disk.

A :class:`RegionSources` says where everything comes from (it round-trips through JSON, so
``planner region build --config region.json`` works); :func:`build_region` reads, validates,
projects and joins the layers; :func:`load_or_build` keys a disk cache by the sources (paths,
sizes and modification times, parameters and format versions).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata import admin as admin_mod
from geodata import osm as osm_mod
from geodata.chinacoords import geometries_to_wgs84, normalise_coord_system
from geodata.columns import SharedColumns, parse_column_mappings
from geodata.consistency import check_declared_units, check_points_inside
from geodata.errors import DataError, DataIssue
from geodata.io import read_vector
from geodata.network import MODES, NETWORK_FORMAT_VERSION, LinkTable, Network, build_network, check_mode
from geodata.population import (
    GroupShares,
    building_floor_area,
    demand_from_buildings,
    demand_from_census,
    demand_from_points,
    demand_from_raster,
)
from geodata.projection import WGS84, utm_crs_for, xy_to_lonlat
from geodata.region import REGION_FORMAT_VERSION, Region
from geodata.sites import PATROL_SPOT_FILTER, clip_to_boundary, empty_sites, patrol_spots_from_osm, read_patrol_spots, read_sites, sites_from_osm
from geodata.speeds import DEFAULT_DETOUR_FACTOR, SpeedProfile
from geodata.vocabulary import LEVEL_ORDER

Progress = Callable[[str], None]

NETWORK_KINDS = ("pbf", "xml", "graphml", "online", "none")
TOWN_PLACES = ("town", "suburb", "borough", "district")
COMMUNITY_PLACES = ("city_block", "neighbourhood", "quarter", "village", "hamlet")


@dataclass
class NetworkSource:
    """Where the road network comes from.

    ``kind`` is ``pbf`` (``path`` to an .osm.pbf, read with pyrosm), ``xml`` (OSM XML, osmnx),
    ``graphml`` (``paths`` per mode, osmnx GraphML), ``online`` (``place`` name or the region
    boundary, downloaded with osmnx and cached) or ``none``: no road network at all, travel
    costs are straight-line distance × :attr:`RegionSources.detour_factor` at the standard
    speeds, and every output says so.
    """

    kind: str = "pbf"
    path: str | None = None
    paths: dict[str, str] = field(default_factory=dict)
    place: str | None = None


@dataclass
class AdminSource:
    """One admin-unit file: see :func:`geodata.admin.read_admin_units`."""

    path: str
    name_field: str
    level_field: str | None = None
    level: str | None = None
    id_field: str | None = None
    coords: str | None = None
    """The system of the file's numbers (wgs84, gcj02, bd09); None: the region's ``coords``."""


@dataclass
class PopulationSource:
    """Where residents are.

    ``kind``: ``raster`` (GeoTIFF of persons per cell), ``census`` (polygons with counts, spread
    over ``spread`` = buildings|grid), ``points`` (CSV/Excel with lon/lat and counts) or
    ``buildings`` (estimate from OSM footprints; needs a PBF network source).  ``coords`` (None:
    the region's) declares the system of a point table's or census file's numbers; rasters are
    read in their own CRS.
    """

    kind: str = "buildings"
    path: str | None = None
    count_fields: dict[str, str] = field(default_factory=dict)
    spread: str = "buildings"
    cell_m: float = 100.0
    coords: str | None = None
    floor_m2_per_person: float = 40.0


@dataclass
class SiteSource:
    """One file of sites; see :func:`geodata.sites.read_sites`.

    ``default_status`` is ``existing`` (``--existing FILE``) or ``candidate`` (``--candidates
    FILE``) for files without a status column; a file with neither is refused.  ``coords``
    None: the region's.
    """

    path: str
    coords: str | None = None
    default_type: str | None = None
    default_status: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class RegionSources:
    """Everything :func:`build_region` needs to know, JSON-serialisable.

    Attributes
    ----------
    name
        Region name (Chinese names fine).
    network
        Road-network source (both modes come from it).
    modes
        Travel modes to build (``walk``, ``drive``).
    boundary
        Optional polygon file of the study area; default the union of the admin units, else the
        outline of the walk network (convex hull + 30 m).
    admin
        Admin-unit files (e.g. one for towns, one for communities).
    zones
        When there are no admin files: ``places`` (Voronoi zones seeded by OSM place nodes:
        suburbs → towns, blocks/neighbourhoods → communities) or ``h3``.
    h3_resolution
        H3 resolution for ``zones="h3"`` communities (towns one resolution coarser… two steps).
    population
        Demand source.
    sites
        Site files.
    osm_sites
        Also take sites from OSM POIs of the PBF (see :data:`geodata.sites.OSM_SITE_RULES`).
    speeds, shares
        Speed profile and population-group shares (as dictionaries of their fields).
    coords
        The coordinate system of every input's numbers unless the input says otherwise:
        ``wgs84``, ``gcj02`` (Amap/Tencent, also for boundaries traced on them) or ``bd09``.
    boundary_coords
        The boundary file's system (None: the admin files' default, i.e. ``coords``).
    patrol_spots
        Files of the bureau's own patrol spots (桥底, 车站 … with name, lon/lat, kind, priority;
        see :func:`geodata.sites.read_patrol_spots`), added to the OSM ones.
    columns
        Our column → the files' column for the population and site tables
        (``{"pop_all": "pop"}``), on top of the built-in Chinese and English synonyms.
    detour_factor
        Regions without a network: network distance ≈ straight distance × this (default 1.3).
    """

    name: str
    network: NetworkSource = field(default_factory=NetworkSource)
    modes: list[str] = field(default_factory=lambda: list(MODES))
    boundary: str | None = None
    admin: list[AdminSource] = field(default_factory=list)
    zones: str = "places"
    h3_resolution: int = 8
    population: PopulationSource = field(default_factory=PopulationSource)
    sites: list[SiteSource] = field(default_factory=list)
    osm_sites: bool = True
    speeds: dict[str, Any] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)
    patrol_spots: list[SiteSource] = field(default_factory=list)
    coords: str = "wgs84"
    boundary_coords: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    detour_factor: float = DEFAULT_DETOUR_FACTOR

    def coords_of(self, declared: str | None) -> str:
        """An input's declared coordinate system, or the region's default."""
        return declared or self.coords

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-friendly dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RegionSources":
        """From a dictionary (e.g. a parsed ``region.json`` config); unknown keys are errors."""
        data = dict(data)
        try:
            data["network"] = NetworkSource(**data.get("network", {}))
            data["admin"] = [AdminSource(**a) for a in data.get("admin", [])]
            data["population"] = PopulationSource(**data.get("population", {}))
            data["sites"] = [SiteSource(**s) for s in data.get("sites", [])]
            data["patrol_spots"] = [SiteSource(**s) for s in data.get("patrol_spots", [])]
            return cls(**data)
        except TypeError as exc:
            raise DataError(f"bad region config: {exc}", source="region config") from exc

    def input_files(self) -> list[Path]:
        """Every local file the sources read (for the cache key)."""
        files = [self.network.path, *self.network.paths.values(), self.boundary, self.population.path]
        files += [a.path for a in self.admin] + [s.path for s in self.sites] + [s.path for s in self.patrol_spots]
        return [Path(f) for f in files if f]


def cache_key(sources: RegionSources) -> str:
    """A short hash of the sources: parameters plus each input file's path, size and mtime."""
    stamp: dict[str, Any] = {"format": [REGION_FORMAT_VERSION, NETWORK_FORMAT_VERSION], "sources": sources.to_dict(), "files": []}
    for path in sources.input_files():
        st = path.stat() if path.exists() else None
        stamp["files"].append([str(path.resolve()), st.st_size if st else None, st.st_mtime_ns if st else None])
    return hashlib.sha256(json.dumps(stamp, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]


def default_cache_dir() -> Path:
    """``$PLANNER_CACHE_DIR`` or ``~/.cache/coverage-planner``."""
    return Path(os.environ.get("PLANNER_CACHE_DIR", Path.home() / ".cache" / "coverage-planner"))


# ---------------------------------------------------------------------- steps
CLIP_MARGIN_M = 2000.0
"""A PBF is cut to the region's boundary box grown by this many metres, so that roads leaving and
re-entering the region near its edge stay connected."""


def _clipped_pbf(path: str, boundary: shapely.Geometry, crs: str, cache_dir: Path, say: Progress) -> tuple[str, dict[str, Any]]:
    """The part of a (possibly province-wide) PBF the region needs, cut once and cached by file and box."""
    metric = gpd.GeoSeries([boundary], crs=WGS84).to_crs(crs).iloc[0].envelope.buffer(CLIP_MARGIN_M, join_style="mitre")
    lon, lat = xy_to_lonlat(*np.asarray(metric.exterior.coords).T, crs)
    bbox = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    source = Path(path)
    if not source.is_file():
        raise DataError("OSM PBF file not found", source=path)
    st = source.stat()
    key = hashlib.sha256(json.dumps([str(source.resolve()), st.st_size, st.st_mtime_ns, [round(v, 6) for v in bbox]]).encode()).hexdigest()[:20]
    target = cache_dir / "pbf-clips" / f"{key}.osm.pbf"
    info: dict[str, Any] = {"bbox": [round(v, 6) for v in bbox], "margin_m": CLIP_MARGIN_M, "file": str(target)}
    if not target.is_file():
        say(f"cutting the region out of {source.name}")
        info.update(osm_mod.clip_pbf(source, target, bbox))
    return str(target), info


def _network_links(sources: RegionSources, mode: str, crs: str | None, boundary: shapely.Geometry | None, cache_dir: Path,
                   pbf: str | None = None, bbox: list[float] | None = None) -> LinkTable:
    src = sources.network
    if src.kind == "pbf":
        if not src.path:
            raise DataError("a pbf network source needs a path", field="network.path")
        return osm_mod.read_pbf_links(pbf or src.path, mode, crs, bbox=tuple(bbox) if bbox else None)  # type: ignore[arg-type]
    if crs is None:
        raise DataError(f"a {src.kind} network source needs a boundary or admin units to choose the map projection", field="boundary")
    if src.kind == "xml":
        if not src.path:
            raise DataError("an xml network source needs a path", field="network.path")
        return osm_mod.read_osm_xml_links(src.path, mode, crs)
    if src.kind == "graphml":
        path = src.paths.get(mode) or src.path
        if not path:
            raise DataError(f"no GraphML file for mode {mode}", field="network.paths")
        return osm_mod.read_graphml_links(path, mode, crs)
    if src.kind == "online":
        target = osm_mod.download_graph(mode, cache_dir, place=src.place, polygon=None if src.place else boundary)
        return osm_mod.read_graphml_links(target, mode, crs)
    raise DataError(f"unknown network source kind {src.kind!r}; use pbf, xml, graphml or online", field="network.kind")


def _network_outline(net: Network) -> shapely.Geometry:
    hull = shapely.MultiPoint(net.node_xy).convex_hull.buffer(30.0)
    x, y = shapely.get_coordinates(hull).T
    lon, lat = xy_to_lonlat(x, y, net.crs)
    return shapely.Polygon(np.column_stack([lon, lat]))


def _place_zones(pbf: str, boundary: shapely.Geometry, crs: str, region_name: str) -> gpd.GeoDataFrame:
    places = osm_mod.read_pbf_layer(pbf, "places")
    if places.empty:
        raise DataError("the extract has no place=* features to seed planning zones; give admin units or zones='h3'", source=pbf)
    places = places[places["name"].notna()]
    metric_b = gpd.GeoSeries([boundary], crs=WGS84).to_crs(crs).iloc[0]
    inside = places.to_crs(crs).geometry.representative_point().within(metric_b.buffer(200)).to_numpy()
    places = places[inside]
    city_rows = places[places["place"].isin(["city", "town"]) & (places.geometry.geom_type == "Point")]
    city_name = city_rows["name"].iloc[0] if len(city_rows) else region_name
    city = gpd.GeoDataFrame({"unit_id": ["city-1"], "name": [city_name], "level": ["city"], "parent_id": [None], "zone_kind": ["planning-zone"]}, geometry=[boundary], crs=WGS84)
    town_seeds = places[places["place"].isin(TOWN_PLACES) & ~places["name"].eq(city_name)]
    comm_seeds = places[places["place"].isin(COMMUNITY_PLACES)]
    tables = [city]
    towns = None
    if len(town_seeds):
        towns = admin_mod.voronoi_zones(town_seeds, boundary, "town", crs)
        tables.append(towns)
    if len(comm_seeds):
        if towns is not None:
            comms = admin_mod.voronoi_zones_within(comm_seeds, towns, "community", crs)
        else:
            comms = admin_mod.voronoi_zones(comm_seeds, boundary, "community", crs)
        tables.append(comms)
    return admin_mod.combine_units(*tables)


def _h3_zones(boundary: shapely.Geometry, resolution: int) -> gpd.GeoDataFrame:
    comms = admin_mod.h3_zones(boundary, resolution, "community", "zone")
    towns = admin_mod.h3_zones(boundary, max(resolution - 2, 0), "town", "district")
    city = gpd.GeoDataFrame({"unit_id": ["city-1"], "name": ["city"], "level": ["city"], "parent_id": [None], "zone_kind": ["planning-zone"]}, geometry=[boundary], crs=WGS84)
    return admin_mod.combine_units(city, towns, comms)


def _demand(sources: RegionSources, boundary: shapely.Geometry, crs: str, shares: GroupShares, buildings: gpd.GeoDataFrame | None,
            columns: SharedColumns) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    pop = sources.population
    coords = sources.coords_of(pop.coords)
    if pop.kind == "raster":
        if pop.coords and normalise_coord_system(pop.coords) != "wgs84":
            raise DataError("a population raster is read in its own CRS; it cannot be declared GCJ-02/BD-09", source=pop.path, field="population.coords")
        return demand_from_raster(_need(pop.path, "population.path"), boundary, shares=shares)
    if pop.kind == "census":
        polygons = read_vector(_need(pop.path, "population.path"))
        polygons = polygons.set_geometry(gpd.GeoSeries(geometries_to_wgs84(polygons.geometry.to_numpy(), coords), crs=WGS84))
        return demand_from_census(polygons, crs, count_fields=pop.count_fields or None, spread=pop.spread, buildings=buildings, cell_m=pop.cell_m, shares=shares)
    if pop.kind == "points":
        return demand_from_points(_need(pop.path, "population.path"), count_fields=pop.count_fields or None, columns=columns, coords=coords, shares=shares)
    if pop.kind == "buildings":
        if buildings is None:
            raise DataError("a population estimate from buildings needs an OSM PBF network source (for its buildings); "
                            "without a road network give a population file (--population points|census|raster)", field="population.kind")
        return demand_from_buildings(buildings, crs, floor_m2_per_person=pop.floor_m2_per_person, shares=shares)
    raise DataError(f"unknown population kind {pop.kind!r}; use raster, census, points or buildings", field="population.kind")


def _need(value: str | None, name: str) -> str:
    if not value:
        raise DataError("missing path", field=name)
    return value


def _tag_and_clip(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, boundary: shapely.Geometry, label: str, id_column: str) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    issues = []
    inside = points.intersects(boundary).to_numpy()
    if (~inside).any():
        issues.append(DataIssue.of(label, "outside the region boundary", points.loc[~inside, id_column], field="geometry"))
    points = points[inside].reset_index(drop=True)
    if len(units):
        tags = admin_mod.tag_points(points, units)
        for level in LEVEL_ORDER:
            if level in tags:
                points[level] = tags[level].to_numpy()
                missing = points[level].isna()
                if missing.any() and level != "city":
                    issues.append(DataIssue.of(label, f"not inside any {level} unit (kept, untagged)", points.loc[missing, id_column], field=level, skipped=False))
    return points, issues


def _declared_checks(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, sources: RegionSources, *, label: str, id_column: str,
                     what: str, points_coords: str, points_kind: str, column_names: dict[str, str]) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Compare declared towns/communities with the boundaries; drop the declared columns."""
    issues: list[DataIssue] = []
    admin_coords = sources.coords_of(sources.admin[0].coords) if sources.admin else sources.coords
    for level in ("town", "community"):
        if f"declared_{level}" in points:
            issues += check_declared_units(points, units[units["level"] == level], level=level, source=label, id_column=id_column, what=what,
                                           admin_coords=admin_coords, points_coords=points_coords, points_kind=points_kind,
                                           column_label=column_names.get(level))
    return points.drop(columns=[c for c in ("declared_town", "declared_community") if c in points]), issues


def _read_site_file(source: SiteSource, sources: RegionSources, columns: SharedColumns, boundary: shapely.Geometry,
                    units: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """One site file: read with its declared coordinates and status, refuse it if nothing lies inside, tag and check it."""
    mapping = columns
    if source.fields:
        mapping = SharedColumns({**columns, **source.fields})
        mapping.used = columns.used
    coords = sources.coords_of(source.coords)
    table, issues = read_sites(source.path, coords=coords, default_type=source.default_type, default_status=source.default_status, fields=mapping,
                               id_prefix=Path(source.path).stem)
    declared = dict(table.attrs.get("declared_columns", {}))
    if len(table) == 0:
        return table, issues
    check_points_inside(table, boundary, source.path, "site_id")
    table, more = clip_to_boundary(table, boundary, source.path)
    issues += more
    table, more = _tag_and_clip(table, units, boundary, source.path, "site_id")
    issues += more
    table, more = _declared_checks(table, units, sources, label=source.path, id_column="site_id", what="sites", points_coords=coords,
                                   points_kind="sites", column_names=declared)
    return table, issues + more


def _travel(sources: RegionSources, speeds: SpeedProfile, modes: list[str], networks: dict[str, Network]) -> dict[str, Any]:
    if sources.network.kind != "none":
        return {"kind": "network", "modes": sorted(networks)}
    if not 1.0 <= sources.detour_factor <= 5.0:
        raise DataError(f"detour factor {sources.detour_factor:g} is not plausible; use a value between 1 and 5 (default 1.3)", field="detour_factor")
    return {"kind": "straight-line", "modes": sorted(modes), "detour_factor": float(sources.detour_factor),
            "speed_mps": {mode: round(speeds.straight_line_mps(mode), 4) for mode in modes}}


def build_region(
    sources: RegionSources,
    *,
    progress: Progress | None = None,
    cache_dir: str | Path | None = None,
) -> Region:
    """Read, validate, project and join every source into a :class:`Region`.

    Parameters
    ----------
    sources
        What to read.
    progress
        Called with a short description before each step (for progress bars).
    cache_dir
        Where online downloads are cached (default :func:`default_cache_dir`).

    Raises
    ------
    DataError
        With the file/field/feature, for any input that cannot be used.
    """
    say = progress or (lambda _msg: None)
    if sources.network.kind not in NETWORK_KINDS:
        raise DataError(f"unknown network source kind {sources.network.kind!r}; use {', '.join(NETWORK_KINDS)}", field="network.kind")
    with_network = sources.network.kind != "none"
    started = time.perf_counter()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    speeds = SpeedProfile(**sources.speeds)
    shares = GroupShares(**sources.shares)
    modes = [check_mode(m) for m in sources.modes]
    if not modes:
        raise DataError("at least one travel mode is needed", field="modes")
    for declared in [sources.coords, sources.boundary_coords, sources.population.coords, *(a.coords for a in sources.admin), *(x.coords for x in sources.sites)]:
        if declared:
            try:
                normalise_coord_system(declared)
            except ValueError as exc:
                raise DataError(str(exc), field="coords") from exc
    columns = SharedColumns(parse_column_mappings(sources.columns))
    issues: list[DataIssue] = []

    # boundary and CRS first where the user gave them
    say("reading admin units and boundary")
    admin_tables = []
    for a in sources.admin:
        table, more = admin_mod.read_admin_units(a.path, name_field=a.name_field, level_field=a.level_field, level=a.level, id_field=a.id_field,
                                                 coords=sources.coords_of(a.coords))
        admin_tables.append(table)
        issues += more
    units = admin_mod.combine_units(*admin_tables) if admin_tables else None
    boundary = None
    if sources.boundary:
        outline = read_vector(sources.boundary)
        default = sources.admin[0].coords if sources.admin else None
        polygons = geometries_to_wgs84(outline.geometry.make_valid().to_numpy(), sources.coords_of(sources.boundary_coords or default))
        boundary = shapely.union_all(polygons)
    elif units is not None and len(units):
        boundary = shapely.union_all(units.geometry.values)
    crs = None
    if boundary is not None:
        if boundary.is_empty:
            raise DataError("the region boundary is empty", source=sources.boundary or "admin units", field="geometry")
        c = boundary.representative_point()
        crs = utm_crs_for(c.x, c.y)
    elif not with_network:
        raise DataError("a region without a road network needs its admin units (--admin) or a boundary file (--boundary)", field="boundary")

    pbf = sources.network.path if sources.network.kind == "pbf" else None
    clip_info: dict[str, Any] | None = None
    if pbf and boundary is not None:  # read only what the boundary needs, even from a province's extract
        pbf, clip_info = _clipped_pbf(pbf, boundary, crs, cache_dir, say)  # type: ignore[arg-type]
    networks: dict[str, Network] = {}
    if with_network:
        for mode in modes:
            say(f"building the {mode} network")
            links = _network_links(sources, mode, crs, boundary, cache_dir, pbf, clip_info["bbox"] if clip_info else None)
            crs = crs or links.crs
            networks[mode] = build_network(links, mode, speeds)
        crs = crs or next(iter(networks.values())).crs
    if boundary is None:
        base = networks.get("walk") or next(iter(networks.values()))
        boundary = _network_outline(base)
    assert crs is not None

    say("building admin units / planning zones")
    if units is None:
        if sources.zones == "places":
            if not pbf:
                raise DataError("zones='places' needs a PBF network source; give admin units or zones='h3'", field="zones")
            units = _place_zones(pbf, boundary, crs, sources.name)
        elif sources.zones == "h3":
            units = _h3_zones(boundary, sources.h3_resolution)
        else:
            raise DataError(f"unknown zones {sources.zones!r}; use places or h3", field="zones")
    units = admin_mod.assign_parents(units, crs)

    buildings = None
    if pbf:
        say("reading buildings")
        raw_buildings = osm_mod.read_pbf_layer(pbf, "buildings")
        if len(raw_buildings):
            buildings = building_floor_area(raw_buildings[raw_buildings.geometry.geom_type.isin(["Polygon", "MultiPolygon"])], crs)

    say("placing population")
    demand, more = _demand(sources, boundary, crs, shares, buildings, columns)
    issues += more
    derived_groups = demand.attrs.get("derived_groups", [])
    count_columns = demand.attrs.get("columns", {})
    declared_columns = demand.attrs.get("declared_columns", {})
    demand.insert(0, "demand_id", [f"d{i + 1}" for i in range(len(demand))])
    pop_label = sources.population.path or "population"
    demand_ref = "source_row" if "source_row" in demand else "demand_id"  # messages name the file's rows where there is a file
    check_points_inside(demand, boundary, pop_label, demand_ref)
    demand, more = _tag_and_clip(demand, units, boundary, pop_label if demand_ref == "source_row" else "demand", demand_ref)
    issues += more
    if demand.empty:
        raise DataError("no demand point lies inside the region", source=sources.population.path or "population")
    demand, more = _declared_checks(demand, units, sources, label=pop_label, id_column=demand_ref,
                                    what="demand points", points_coords=sources.coords_of(sources.population.coords), points_kind="points",
                                    column_names=declared_columns)
    issues += more
    demand = demand.drop(columns=["source_row"], errors="ignore")

    say("reading sites")
    site_tables = []
    for s in sources.sites:
        table, more = _read_site_file(s, sources, columns, boundary, units)
        issues += more
        site_tables.append(table)
    own_spots = []
    for s in sources.patrol_spots:
        spots_table, more = read_patrol_spots(s.path, coords=sources.coords_of(s.coords), fields=columns)
        issues += more
        check_points_inside(spots_table, boundary, s.path, "spot_id")
        spots_table, more = _tag_and_clip(spots_table, units, boundary, s.path, "spot_id")
        issues += more
        own_spots.append(spots_table)
    columns.check_all_used([p for p in [sources.population.path if sources.population.kind == "points" else None,
                                        *(x.path for x in sources.sites), *(x.path for x in sources.patrol_spots)] if p])
    if sources.osm_sites and pbf:
        pois = osm_mod.read_pbf_layer(pbf, "pois", custom_filter={"amenity": True, "social_facility": True})
        osm_sites = sites_from_osm(pois)
        if len(osm_sites):
            osm_sites, more = clip_to_boundary(osm_sites, boundary, "osm")
            issues += more
            osm_sites, more = _tag_and_clip(osm_sites, units, boundary, "osm", "site_id")
            issues += more
        site_tables.append(osm_sites)
        say("reading patrol spots")
        spot_features = osm_mod.read_pbf_layer(pbf, "pois", custom_filter=PATROL_SPOT_FILTER)
    site_tables = [t for t in site_tables if len(t)]
    sites = pd.concat(site_tables, ignore_index=True) if site_tables else empty_sites()
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=WGS84)
    dup = sites["site_id"].duplicated(keep=False)
    if dup.any():
        raise DataError(f"duplicate site ids across files: {', '.join(sorted(set(sites.loc[dup, 'site_id']))[:10])}; "
                        f"give each file its own ids (or none: they are then numbered per file)", field="site_id")

    layers: dict[str, gpd.GeoDataFrame] = {}
    if sources.osm_sites and pbf:
        spots = patrol_spots_from_osm(spot_features)
        if len(spots):
            spots = spots[spots.within(boundary)].reset_index(drop=True)
            spots, more = _tag_and_clip(spots, units, boundary, "patrol spots", "spot_id")
            issues += more
            layers["patrol_spots"] = spots
    if own_spots:
        merged = pd.concat([layers.get("patrol_spots", gpd.GeoDataFrame()), *own_spots], ignore_index=True)
        if merged["spot_id"].duplicated().any():
            raise DataError(f"duplicate patrol spot ids across files: {', '.join(sorted(set(merged.loc[merged['spot_id'].duplicated(), 'spot_id']))[:5])}",
                            field="spot_id")
        layers["patrol_spots"] = gpd.GeoDataFrame(merged, geometry="geometry", crs=WGS84)
    if buildings is not None:
        keep = [c for c in ("id", "name", "building", "levels", "footprint_m2", "floor_area_m2") if c in buildings]
        layers["buildings"] = gpd.GeoDataFrame(buildings[keep].astype({c: str for c in ("name", "building") if c in keep}), geometry=buildings.geometry.to_numpy(), crs=WGS84)

    provenance = {
        "kind": "osm" if with_network else "files",
        "sources": sources.to_dict(),
        "travel": _travel(sources, speeds, modes, networks),
        "pbf_clip": clip_info,
        "osm_generator": osm_mod.pbf_generator(sources.network.path) if sources.network.kind == "pbf" and sources.network.path else None,
        "population": {
            "kind": sources.population.kind,
            "estimate": bool(demand["estimate"].any()),
            "derived_groups": derived_groups,
            "columns": count_columns,
            "shares": asdict(shares),
        },
        "speeds": speeds.describe(),
        "build_seconds": round(time.perf_counter() - started, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    say("done")
    return Region(sources.name, crs, boundary, units, demand, sites, networks, layers, provenance, issues)


def load_or_build(
    sources: RegionSources,
    cache_root: str | Path | None = None,
    *,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> tuple[Region, Path, bool]:
    """Load the region for ``sources`` from the cache, or build and save it.

    Returns
    -------
    (region, directory, from_cache)
    """
    root = Path(cache_root) if cache_root else default_cache_dir()
    directory = root / "regions" / cache_key(sources)
    if directory.is_dir() and not rebuild:
        try:
            return Region.load(directory), directory, True
        except DataError:
            pass  # broken or old cache: rebuild below
    region = build_region(sources, progress=progress, cache_dir=root)
    region.provenance["cache_key"] = directory.name
    region.save(directory)
    return region, directory, False
