"""OpenStreetMap sources: PBF extracts (pyrosm), OSM XML and GraphML (osmnx), and online downloads.

Every reader returns a :class:`~geodata.network.LinkTable` in a metric CRS (or WGS-84
GeoDataFrames for the non-network layers); :func:`geodata.network.build_network` turns the links
into a routable :class:`~geodata.network.Network`.
"""

from __future__ import annotations

import hashlib
import json
import socket
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geodata.errors import DataError, OfflineError
from geodata.network import DRIVE_HIGHWAYS, WALK_EXCLUDED_HIGHWAYS, LinkTable, check_mode
from geodata.projection import WGS84, lonlat_to_xy, utm_crs_for
from geodata.speeds import first_highway

_PYROSM_NETWORK = {"walk": "walking", "drive": "driving"}
_TRUE = {"yes", "true", "1"}
_REVERSE = {"-1", "reverse"}


def _open_pbf(path: str | Path, bbox: tuple[float, float, float, float] | None = None) -> Any:
    import pyrosm  # imported lazily: heavy

    path = Path(path)
    if not path.is_file():
        raise DataError("OSM PBF file not found", source=path)
    if path.stat().st_size == 0:
        raise DataError("OSM PBF file is empty", source=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pyrosm.OSM(str(path), bounding_box=list(bbox) if bbox else None)
    except Exception as exc:  # pyrosm raises many types on broken files
        raise DataError(f"cannot read OSM PBF: {exc}", source=path) from exc


def _tag(tags: Any, key: str) -> str | None:
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except ValueError:
            return None
    if isinstance(tags, dict):
        value = tags.get(key)
        return None if value is None else str(value)
    return None


def _oneway_flags(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(oneway, reverse) flags from OSM ``oneway``/``junction``/``highway`` columns or tags."""
    n = len(frame)
    raw = frame["oneway"] if "oneway" in frame else pd.Series([None] * n, index=frame.index)
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip().str.lower()
    junction = frame["junction"] if "junction" in frame else (
        frame["tags"].map(lambda t: _tag(t, "junction")) if "tags" in frame else pd.Series([None] * n, index=frame.index)
    )
    roundabout = junction.astype(object).astype(str).str.lower().isin(["roundabout", "circular"])
    motorway = frame["highway"].astype(str).isin(["motorway"]) if "highway" in frame else False
    reverse = text.isin(list(_REVERSE)).to_numpy()
    oneway = (text.isin(list(_TRUE)) | roundabout | motorway).to_numpy() | reverse
    return oneway, reverse


def _links_from_lines(
    lines: gpd.GeoDataFrame,
    u: np.ndarray,
    v: np.ndarray,
    node_ids: np.ndarray,
    node_lon: np.ndarray,
    node_lat: np.ndarray,
    crs: str,
    mode: str,
    source: str,
    length_m: np.ndarray | None = None,
) -> LinkTable:
    """Turn WGS-84 line features with end-node ids into a metric :class:`LinkTable`.

    ``length_m`` gives the link lengths (metres) when the source has them; otherwise they are
    measured along the projected geometry.
    """
    oneway, reverse = _oneway_flags(lines)
    if mode == "walk":
        oneway = np.zeros(len(lines), bool)
        reverse = np.zeros(len(lines), bool)
    coords, index = shapely.get_coordinates(lines.geometry.values, return_index=True)
    x, y = lonlat_to_xy(coords[:, 0], coords[:, 1], crs)
    xy = np.column_stack([x, y])
    counts = np.bincount(index, minlength=len(lines))
    offsets = np.zeros(len(lines) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    pieces = [xy[offsets[i] : offsets[i + 1]] for i in range(len(lines))]
    u, v = np.asarray(u, np.int64).copy(), np.asarray(v, np.int64).copy()
    for i in np.flatnonzero(reverse):  # "oneway=-1": travel runs v → u
        u[i], v[i] = v[i], u[i]
        pieces[i] = pieces[i][::-1]
    nx_, ny_ = lonlat_to_xy(node_lon, node_lat, crs)
    if length_m is None:
        length_m = np.array([np.hypot(*np.diff(p, axis=0).T).sum() if len(p) > 1 else 0.0 for p in pieces])
    return LinkTable.from_segments(
        u, v, pieces, node_ids, np.column_stack([nx_, ny_]), crs,
        length_m=np.asarray(length_m, float),
        highway=lines["highway"].map(first_highway).tolist() if "highway" in lines else None,
        maxspeed=lines["maxspeed"].tolist() if "maxspeed" in lines else None,
        name=lines["name"].where(lines["name"].notna(), "").tolist() if "name" in lines else None,
        oneway=oneway,
        source=source,
    )


def pbf_generator(path: str | Path) -> str | None:
    """The ``generator`` written in a PBF's header (who made the file), or None."""
    import osmium

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            return reader.header().get("generator") or None
        finally:
            reader.close()
    except Exception:  # noqa: BLE001 - a header we cannot read says nothing
        return None


def clip_pbf(source: str | Path, target: str | Path, bbox: tuple[float, float, float, float]) -> dict[str, int]:
    """Cut the part of a large extract (a province's) that a region needs, with pyosmium, into ``target``.

    Kept: nodes inside ``bbox`` (``min_lon, min_lat, max_lon, max_lat``), ways with a node inside
    (whole, with every node they reference, like ``osmium extract --strategy complete_ways``)
    and relations with a member kept (their other members referenced, untagged).  Reading the
    province once in C++ and then the small clip with pyrosm is many times faster than pyrosm
    on the province for every layer.

    Returns
    -------
    dict
        ``nodes``, ``ways``, ``relations`` kept (before references are completed).
    """
    import osmium

    source, target = Path(source), Path(target)
    if not source.is_file():
        raise DataError("OSM PBF file not found", source=source)
    min_lon, min_lat, max_lon, max_lat = bbox
    x0, y0, x1, y1 = (int(round(v * 1e7)) for v in (min_lon, min_lat, max_lon, max_lat))
    kept = osmium.IdTracker()
    counts = {"nodes": 0, "ways": 0, "relations": 0}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part.osm.pbf")
    try:
        with osmium.BackReferenceWriter(str(tmp), ref_src=str(source), overwrite=True) as writer:
            # untagged nodes never reach Python: the writer adds those the kept ways use
            for obj in osmium.FileProcessor(str(source)).with_locations().with_filter(osmium.filter.EmptyTagFilter()):
                if obj.is_node():
                    loc = obj.location
                    if loc.valid() and min_lon <= loc.lon <= max_lon and min_lat <= loc.lat <= max_lat:
                        writer.add_node(obj)
                        kept.add_node(obj.id)
                        counts["nodes"] += 1
                elif obj.is_way():
                    if any(x0 <= n.x <= x1 and y0 <= n.y <= y1 for n in obj.nodes):  # fixed-point degrees × 1e7
                        writer.add_way(obj)
                        kept.add_way(obj.id)
                        counts["ways"] += 1
                elif obj.is_relation() and kept.contains_any_references(obj):
                    writer.add_relation(obj)
                    counts["relations"] += 1
    except RuntimeError as exc:  # pyosmium reports broken files as RuntimeError
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot read OSM PBF: {exc}", source=source) from exc
    tmp.replace(target)
    return counts


def read_pbf_links(
    path: str | Path,
    mode: str,
    crs: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> LinkTable:
    """Read the road segments for ``mode`` from an OSM PBF extract with pyrosm.

    Parameters
    ----------
    path
        ``.osm.pbf`` file.
    mode
        ``"walk"`` (pyrosm's *walking* filter) or ``"drive"`` (*driving*).
    crs
        Metric CRS for the output coordinates; default the UTM zone of the nodes' median.
    bbox
        Optional ``(min_lon, min_lat, max_lon, max_lat)`` to read only part of a large extract:
        segments with neither end inside are left out (a way crossing the box keeps the
        segments that touch it, not its whole length outside).
    """
    mode = check_mode(mode)
    osm = _open_pbf(path)  # the box is applied below, to segments (see clip_pbf to cut a province first)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = osm.get_network(network_type=_PYROSM_NETWORK[mode], nodes=True)
    except Exception as exc:
        raise DataError(f"cannot read the {mode} network: {exc}", source=path) from exc
    if result is None or result[1] is None or len(result[1]) == 0:
        raise DataError(f"the extract has no {mode} roads", source=path)
    nodes, edges = result
    edges = edges[edges.geometry.notna() & ~edges.geometry.is_empty]
    if mode == "drive":
        edges = edges[edges["highway"].map(first_highway).isin(DRIVE_HIGHWAYS)]
    if bbox is not None:
        lon, lat = nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float)
        inside = nodes["id"].to_numpy(np.int64)[(lon >= bbox[0]) & (lat >= bbox[1]) & (lon <= bbox[2]) & (lat <= bbox[3])]
        edges = edges[np.isin(edges["u"].to_numpy(np.int64), inside) | np.isin(edges["v"].to_numpy(np.int64), inside)]
        if edges.empty:
            raise DataError(f"the extract has no {mode} roads inside the region's box {tuple(round(v, 4) for v in bbox)}", source=path)
    if crs is None:
        crs = utm_crs_for(float(nodes["lon"].median()), float(nodes["lat"].median()))
    return _links_from_lines(
        edges.reset_index(drop=True), edges["u"].to_numpy(), edges["v"].to_numpy(),
        nodes["id"].to_numpy(np.int64), nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float),
        crs, mode, source=str(path),
    )


def read_pbf_layer(path: str | Path, layer: str, bbox: tuple[float, float, float, float] | None = None,
                   custom_filter: dict[str, Any] | None = None) -> gpd.GeoDataFrame:
    """Read a non-network layer from a PBF extract, in WGS-84.

    Parameters
    ----------
    layer
        ``"buildings"``, ``"pois"`` (``custom_filter`` as pyrosm's, e.g.
        ``{"amenity": ["social_facility"]}``), ``"places"`` (``place=*`` nodes and areas) or
        ``"boundaries"``.

    Returns
    -------
    GeoDataFrame
        Possibly empty (never None), with a ``tags`` dict column parsed from JSON.
    """
    osm = _open_pbf(path, bbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if layer == "buildings":
                frame = osm.get_buildings()
            elif layer == "pois":
                frame = osm.get_pois(custom_filter=custom_filter)
            elif layer == "places":
                frame = osm.get_data_by_custom_criteria(
                    custom_filter={"place": True}, filter_type="keep",
                    keep_nodes=True, keep_ways=True, keep_relations=True,
                )
            elif layer == "boundaries":
                frame = osm.get_boundaries()
            else:
                raise ValueError(f"unknown PBF layer {layer!r}")
        except ValueError:
            raise
        except Exception as exc:
            raise DataError(f"cannot read the {layer} layer: {exc}", source=path) from exc
    if frame is None or len(frame) == 0:
        return gpd.GeoDataFrame({"tags": []}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    frame = frame.set_crs(WGS84, allow_override=True) if frame.crs is None else frame.to_crs(WGS84)
    if "tags" in frame:
        frame["tags"] = frame["tags"].map(_parse_tags)
    else:
        frame["tags"] = [{} for _ in range(len(frame))]
    if "name" not in frame:
        frame["name"] = frame["tags"].map(lambda t: t.get("name"))
    return frame.reset_index(drop=True)


def _parse_tags(tags: Any) -> dict[str, Any]:
    if isinstance(tags, dict):
        return tags
    if isinstance(tags, str):
        try:
            parsed = json.loads(tags)
            return parsed if isinstance(parsed, dict) else {}
        except ValueError:
            return {}
    return {}


# ---------------------------------------------------------------------- osmnx graphs
def links_from_graph(graph: nx.MultiDiGraph, mode: str, crs: str, source: str) -> LinkTable:
    """Turn an osmnx ``MultiDiGraph`` (nodes with ``x``/``y`` in WGS-84) into a :class:`LinkTable`.

    Only edges with a ``highway`` usable by ``mode`` are kept.  A two-way street, which osmnx
    stores as two directed edges with ``oneway=False``, becomes one two-way link; edges with
    ``oneway=True`` become one-way links.
    """
    mode = check_mode(mode)
    if graph.number_of_edges() == 0:
        raise DataError("the graph has no edges", source=source)
    rows = []
    for a, b, data in graph.edges(data=True):
        hw = data.get("highway")
        if hw is None:
            continue
        cls = first_highway(hw)
        if mode == "drive" and cls not in DRIVE_HIGHWAYS:
            continue
        if mode == "walk" and (cls in WALK_EXCLUDED_HIGHWAYS or str(data.get("foot", "")).lower() == "no"):
            continue
        oneway = data.get("oneway", False)
        oneway = oneway if isinstance(oneway, bool) else str(oneway).lower() in _TRUE
        rows.append((a, b, data, bool(oneway) and mode == "drive"))
    if not rows:
        raise DataError(f"the graph has no {mode} roads (no edge with a suitable 'highway')", source=source)
    node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    try:
        lon = np.array([float(graph.nodes[n]["x"]) for n in node_ids])
        lat = np.array([float(graph.nodes[n]["y"]) for n in node_ids])
    except KeyError as exc:
        raise DataError("graph nodes need 'x' (longitude) and 'y' (latitude)", source=source, field=str(exc)) from exc
    graph_crs = str(graph.graph.get("crs", WGS84)).lower()
    if graph_crs not in {"epsg:4326", "wgs84"}:
        raise DataError(f"graph is projected ({graph_crs}); give one in WGS-84 (EPSG:4326)", source=source, field="crs")
    node_lonlat = dict(zip(node_ids.tolist(), zip(lon.tolist(), lat.tolist())))
    seen: set[tuple[int, int, float]] = set()
    u, v, geoms, hw, ms, nm, ow, lengths = [], [], [], [], [], [], [], []
    for a, b, data, oneway in rows:
        length = round(float(data.get("length", 0.0)), 1)
        if not oneway:
            key = (min(a, b), max(a, b), length)
            if key in seen:
                continue
            seen.add(key)
        geom = data.get("geometry")
        if isinstance(geom, BaseGeometry):
            line = np.asarray(geom.coords, float)
        else:
            line = np.array([node_lonlat[a], node_lonlat[b]], float)
        u.append(a)
        v.append(b)
        geoms.append(shapely.LineString(line))
        hw.append(data.get("highway"))
        ms.append(data.get("maxspeed"))
        name = data.get("name", "")
        nm.append(name[0] if isinstance(name, list) else name)
        ow.append("yes" if oneway else "no")
        lengths.append(float(data["length"]) if "length" in data else np.nan)
    lines = gpd.GeoDataFrame({"highway": hw, "maxspeed": ms, "name": nm, "oneway": ow}, geometry=geoms, crs=WGS84)
    measured = np.array(lengths)
    return _links_from_lines(lines, np.array(u), np.array(v), node_ids, lon, lat, crs, mode, source,
                             length_m=None if np.isnan(measured).any() else measured)


def read_osm_xml_links(path: str | Path, mode: str, crs: str) -> LinkTable:
    """Read road segments from an OSM XML file (``.osm``) with ``osmnx.graph_from_xml``."""
    import osmnx as ox

    path = Path(path)
    if not path.is_file():
        raise DataError("OSM XML file not found", source=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = ox.graph_from_xml(path, bidirectional=(mode == "walk"), simplify=False, retain_all=True)
    except Exception as exc:
        raise DataError(f"cannot read OSM XML: {exc}", source=path) from exc
    return links_from_graph(graph, mode, crs, str(path))


def read_graphml_links(path: str | Path, mode: str, crs: str) -> LinkTable:
    """Read road segments from a GraphML file saved by ``osmnx.save_graphml``."""
    import osmnx as ox

    path = Path(path)
    if not path.is_file():
        raise DataError("GraphML file not found", source=path)
    try:
        graph = ox.load_graphml(path)
    except Exception as exc:
        raise DataError(f"cannot read GraphML: {exc}", source=path) from exc
    return links_from_graph(graph, mode, crs, str(path))


def check_online(url: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`OfflineError` unless a TCP connection to ``url``'s host opens within ``timeout_s``."""
    parsed = urlparse(url)
    host = parsed.hostname or url
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        raise OfflineError(
            f"cannot reach {host} ({exc.__class__.__name__}: {exc}); downloading OpenStreetMap data "
            "needs internet. Offline, build the region from a local extract instead "
            "(planner region build --pbf FILE.osm.pbf)",
            source=url,
        ) from exc


def download_graph(
    mode: str,
    cache_dir: str | Path,
    *,
    place: str | None = None,
    polygon: BaseGeometry | None = None,
    timeout_s: float = 180.0,
) -> Path:
    """Download a road network with osmnx by place name or WGS-84 polygon, cached as GraphML.

    A second call with the same query reads the cached file and needs no internet.

    Returns
    -------
    Path
        The cached GraphML file; read it with :func:`read_graphml_links`.

    Raises
    ------
    OfflineError
        Within seconds when Overpass/Nominatim cannot be reached (never a hang).
    """
    import osmnx as ox

    mode = check_mode(mode)
    if (place is None) == (polygon is None):
        raise ValueError("give exactly one of place= or polygon=")
    query = place if place is not None else shapely.to_wkt(polygon, rounding_precision=6)
    key = hashlib.sha256(f"{mode}|{query}".encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir)
    target = cache_dir / f"osmnx-{mode}-{key}.graphml"
    if target.is_file():
        return target
    check_online(ox.settings.overpass_url)
    if place is not None:
        check_online(ox.settings.nominatim_url)
    cache_dir.mkdir(parents=True, exist_ok=True)
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache_dir / "osmnx-http")
    ox.settings.requests_timeout = int(timeout_s)
    network_type = "walk" if mode == "walk" else "drive"
    try:
        if place is not None:
            graph = ox.graph_from_place(place, network_type=network_type, simplify=True, retain_all=True)
        else:
            graph = ox.graph_from_polygon(polygon, network_type=network_type, simplify=True, retain_all=True)
    except Exception as exc:
        raise OfflineError(f"osmnx download failed: {exc}", source=query) from exc
    ox.save_graphml(graph, target)
    return target
