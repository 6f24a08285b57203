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
from geodata.sites import PATROL_SPOT_FILTER, clip_to_boundary, empty_sites, patrol_spots_from_osm, read_sites, sites_from_osm
from geodata.speeds import SpeedProfile
from geodata.vocabulary import LEVEL_ORDER

Progress = Callable[[str], None]

NETWORK_KINDS = ("pbf", "xml", "graphml", "online")
TOWN_PLACES = ("town", "suburb", "borough", "district")
COMMUNITY_PLACES = ("city_block", "neighbourhood", "quarter", "village", "hamlet")


@dataclass
class NetworkSource:
    """Where the road network comes from.

    ``kind`` is ``pbf`` (``path`` to an .osm.pbf, read with pyrosm), ``xml`` (OSM XML, osmnx),
    ``graphml`` (``paths`` per mode, osmnx GraphML) or ``online`` (``place`` name or the region
    boundary, downloaded with osmnx and cached).
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


@dataclass
class PopulationSource:
    """Where residents are.

    ``kind``: ``raster`` (GeoTIFF of persons per cell), ``census`` (polygons with counts, spread
    over ``spread`` = buildings|grid), ``points`` (CSV/Excel with lon/lat and counts) or
    ``buildings`` (estimate from OSM footprints; needs a PBF network source).
    """

    kind: str = "buildings"
    path: str | None = None
    count_fields: dict[str, str] = field(default_factory=dict)
    spread: str = "buildings"
    cell_m: float = 100.0
    coords: str = "wgs84"
    floor_m2_per_person: float = 40.0


@dataclass
class SiteSource:
    """One file of sites; see :func:`geodata.sites.read_sites`."""

    path: str
    coords: str = "wgs84"
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
            return cls(**data)
        except TypeError as exc:
            raise DataError(f"bad region config: {exc}", source="region config") from exc

    def input_files(self) -> list[Path]:
        """Every local file the sources read (for the cache key)."""
        files = [self.network.path, *self.network.paths.values(), self.boundary, self.population.path]
        files += [a.path for a in self.admin] + [s.path for s in self.sites]
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
def _network_links(sources: RegionSources, mode: str, crs: str | None, boundary: shapely.Geometry | None, cache_dir: Path) -> LinkTable:
    src = sources.network
    if src.kind == "pbf":
        if not src.path:
            raise DataError("a pbf network source needs a path", field="network.path")
        return osm_mod.read_pbf_links(src.path, mode, crs)
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


def _demand(sources: RegionSources, boundary: shapely.Geometry, crs: str, shares: GroupShares, buildings: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    pop = sources.population
    if pop.kind == "raster":
        return demand_from_raster(_need(pop.path, "population.path"), boundary, shares=shares)
    if pop.kind == "census":
        return demand_from_census(_need(pop.path, "population.path"), crs, count_fields=pop.count_fields or None, spread=pop.spread, buildings=buildings, cell_m=pop.cell_m, shares=shares)
    if pop.kind == "points":
        return demand_from_points(_need(pop.path, "population.path"), count_fields=pop.count_fields or None, coords=pop.coords, shares=shares)
    if pop.kind == "buildings":
        if buildings is None:
            raise DataError("a population estimate from buildings needs an OSM PBF network source (for its buildings)", field="population.kind")
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
                    issues.append(DataIssue.of(label, f"not inside any {level} unit (kept, untagged)", points.loc[missing, id_column], field=level))
    return points, issues


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
    started = time.perf_counter()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    speeds = SpeedProfile(**sources.speeds)
    shares = GroupShares(**sources.shares)
    modes = [check_mode(m) for m in sources.modes]
    if not modes:
        raise DataError("at least one travel mode is needed", field="modes")
    issues: list[DataIssue] = []

    # boundary and CRS first where the user gave them
    say("reading admin units and boundary")
    admin_tables = []
    for a in sources.admin:
        table, more = admin_mod.read_admin_units(a.path, name_field=a.name_field, level_field=a.level_field, level=a.level, id_field=a.id_field)
        admin_tables.append(table)
        issues += more
    units = admin_mod.combine_units(*admin_tables) if admin_tables else None
    boundary = None
    if sources.boundary:
        outline = read_vector(sources.boundary)
        boundary = shapely.union_all(outline.geometry.make_valid().values)
    elif units is not None and len(units):
        boundary = shapely.union_all(units.geometry.values)
    crs = None
    if boundary is not None:
        if boundary.is_empty:
            raise DataError("the region boundary is empty", source=sources.boundary or "admin units", field="geometry")
        c = boundary.representative_point()
        crs = utm_crs_for(c.x, c.y)

    networks: dict[str, Network] = {}
    for mode in modes:
        say(f"building the {mode} network")
        links = _network_links(sources, mode, crs, boundary, cache_dir)
        crs = crs or links.crs
        networks[mode] = build_network(links, mode, speeds)
    crs = crs or next(iter(networks.values())).crs
    if boundary is None:
        base = networks.get("walk") or next(iter(networks.values()))
        boundary = _network_outline(base)

    say("building admin units / planning zones")
    pbf = sources.network.path if sources.network.kind == "pbf" else None
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
    demand, more = _demand(sources, boundary, crs, shares, buildings)
    issues += more
    demand.insert(0, "demand_id", [f"d{i + 1}" for i in range(len(demand))])
    demand, more = _tag_and_clip(demand, units, boundary, "demand", "demand_id")
    issues += more
    if demand.empty:
        raise DataError("no demand point lies inside the region", source=sources.population.path or "population")

    say("reading sites")
    site_tables = []
    for s in sources.sites:
        table, more = read_sites(s.path, coords=s.coords, default_type=s.default_type, default_status=s.default_status, fields=s.fields or None)
        issues += more
        site_tables.append(table)
    if sources.osm_sites and pbf:
        pois = osm_mod.read_pbf_layer(pbf, "pois", custom_filter={"amenity": True, "social_facility": True})
        site_tables.append(sites_from_osm(pois))
        say("reading patrol spots")
        spot_features = osm_mod.read_pbf_layer(pbf, "pois", custom_filter=PATROL_SPOT_FILTER)
    sites = pd.concat(site_tables, ignore_index=True) if site_tables else empty_sites()
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=WGS84)
    dup = sites["site_id"].duplicated(keep=False)
    if dup.any():
        raise DataError(f"duplicate site ids across files: {', '.join(sorted(set(sites.loc[dup, 'site_id']))[:10])}", field="site_id")
    if len(sites):
        sites, more = clip_to_boundary(sites, boundary, "sites")
        issues += more
        sites, more = _tag_and_clip(sites, units, boundary, "sites", "site_id")
        issues += more

    layers: dict[str, gpd.GeoDataFrame] = {}
    if sources.osm_sites and pbf:
        spots = patrol_spots_from_osm(spot_features)
        if len(spots):
            spots = spots[spots.within(boundary)].reset_index(drop=True)
            spots, more = _tag_and_clip(spots, units, boundary, "patrol spots", "spot_id")
            issues += more
            layers["patrol_spots"] = spots
    if buildings is not None:
        keep = [c for c in ("id", "name", "building", "levels", "footprint_m2", "floor_area_m2") if c in buildings]
        layers["buildings"] = gpd.GeoDataFrame(buildings[keep].astype({c: str for c in ("name", "building") if c in keep}), geometry=buildings.geometry.to_numpy(), crs=WGS84)

    provenance = {
        "kind": "osm" if sources.network.kind in {"pbf", "xml", "online", "graphml"} else "other",
        "sources": sources.to_dict(),
        "population": {
            "kind": sources.population.kind,
            "estimate": bool(demand["estimate"].any()),
            "groups_from_shares": demand.attrs.get("groups_from_shares", []),
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
