"""Sites: existing facilities and candidate locations, from files or from OpenStreetMap.

A sites table is a WGS-84 point GeoDataFrame with columns:

``site_id`` (unique str), ``name`` (str, untouched), ``type`` (a code of
:data:`~geodata.vocabulary.FACILITY_TYPES`), ``status`` (``existing``/``candidate``),
``capacity`` (persons per day; NaN = unlimited), ``cost`` (any currency unit; default 1),
``source`` (file or ``osm``), ``geometry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.chinacoords import to_wgs84 as china_to_wgs84
from geodata.errors import DataError, DataIssue
from geodata.columns import PLACE_TARGETS, SITE_TARGETS, resolve_columns
from geodata.io import MAX_UNZIPPED_BYTES, VECTOR_SUFFIXES, points_from_table, read_table, read_vector
from geodata.projection import WGS84
from geodata.vocabulary import FACILITY_TYPES, SITE_STATUSES, normalise_facility_type

SITE_COLUMNS = ["site_id", "name", "type", "status", "capacity", "cost", "source", "geometry"]
_STATUS_ALIASES = {
    "existing": "existing", "现有": "existing", "已建": "existing", "已建成": "existing", "运营": "existing", "运营中": "existing",
    "existing facility": "existing", "open": "existing",
    "candidate": "candidate", "候选": "candidate", "拟建": "candidate", "规划": "candidate", "备选": "candidate",
    "proposed": "candidate", "new": "candidate",
}


def empty_sites() -> gpd.GeoDataFrame:
    """A sites table with no rows."""
    return gpd.GeoDataFrame({c: [] for c in SITE_COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def _convert_geometry(points: gpd.GeoDataFrame, coords: str) -> gpd.GeoDataFrame:
    if coords.lower() in {"wgs84", "wgs-84", "epsg:4326"}:
        return points
    lon, lat = china_to_wgs84(points.geometry.x.to_numpy(), points.geometry.y.to_numpy(), coords)
    return points.set_geometry(gpd.points_from_xy(lon, lat, crs=WGS84))


def read_sites(
    source: str | Path | bytes | gpd.GeoDataFrame,
    *,
    coords: str = "wgs84",
    name: str | None = None,
    default_type: str | None = None,
    default_status: str | None = None,
    fields: Mapping[str, str] | None = None,
    id_prefix: str = "site",
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Read sites from CSV/Excel (lon/lat columns) or a vector file (points; polygons use their centre).

    Parameters
    ----------
    source
        Path, raw upload bytes (give ``name``), or a GeoDataFrame.
    coords
        Coordinate system of the numbers: ``wgs84``, ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu);
        converted to WGS-84.  A vector file with a CRS other than EPSG:4326 is reprojected first
        and must then be declared ``wgs84``.
    default_type, default_status
        Used when the file has no ``type`` / ``status`` column.
    fields
        Our column → the file's column, e.g. ``{"name": "名称", "capacity": "床位"}``.
    id_prefix
        Prefix of generated ids when the file has no ``id`` column.
    max_unzipped_bytes
        Largest unzipped size of an Excel workbook, bytes (see :func:`geodata.io.read_table`).

    Returns
    -------
    (sites, issues)
        Rows with bad coordinates, unknown types or negative numbers are skipped and reported.
    """
    label = name or (str(source) if not isinstance(source, (bytes, gpd.GeoDataFrame)) else "sites")
    fields = fields if fields is not None else {}
    suffix = Path(label).suffix.lower()
    issues: list[DataIssue] = []
    if isinstance(source, gpd.GeoDataFrame) or suffix in VECTOR_SUFFIXES - {".json"} or (suffix == ".json" and not isinstance(source, bytes)):
        if isinstance(source, bytes):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / f"upload{suffix}"
                target.write_bytes(source)
                frame = read_vector(target, name=label)
        else:
            frame = read_vector(source, name=label)
        frame = frame.copy()
        geom_ok = frame.geometry.notna() & ~frame.geometry.is_empty
        if (~geom_ok).any():
            issues.append(DataIssue.of(label, "features without geometry", frame.index[~geom_ok], field="geometry"))
        frame = frame[geom_ok]
        frame["geometry"] = frame.geometry.representative_point()
        frame = _convert_geometry(frame, coords)
        table = frame
    elif isinstance(source, bytes) and suffix == ".json":
        raise DataError("upload .geojson for vector sites", source=label)
    else:
        raw = read_table(source, name=label, max_unzipped_bytes=max_unzipped_bytes)
        table, more = points_from_table(raw, label, columns=fields, coords=coords)
        issues += more

    found = resolve_columns(table, [t for t in (*PLACE_TARGETS, *SITE_TARGETS) if t not in ("lon", "lat")], fields, source=label)
    id_col, name_col, type_col = found.get("id"), found.get("name"), found.get("type")
    status_col, cap_col, cost_col = found.get("status"), found.get("capacity"), found.get("cost")

    n = len(table)
    rows = pd.RangeIndex(n)
    if id_col:
        ids = table[id_col].astype(str).str.strip().to_numpy()
        dup = pd.Series(ids).duplicated(keep=False)
        if dup.any():
            raise DataError(f"duplicate site ids: {', '.join(sorted(set(ids[dup.to_numpy()]))[:10])}", source=label, field=id_col)
    else:
        ids = np.array([f"{id_prefix}-{i + 1}" for i in rows])
    names = table[name_col].astype(object).where(table[name_col].notna(), "").astype(str).to_numpy() if name_col else ids.copy()

    if type_col:
        types = table[type_col].map(normalise_facility_type).to_numpy()
    elif default_type:
        norm = normalise_facility_type(default_type)
        if norm is None:
            raise DataError(f"unknown facility type {default_type!r}; use one of {', '.join(FACILITY_TYPES)}", source=label, field="type")
        types = np.array([norm] * n, dtype=object)
    else:
        raise DataError(f"no facility type column; add 'type' ({', '.join(FACILITY_TYPES)}) or give a default type", source=label, field="type")
    bad_type = pd.isna(types)
    if bad_type.any():
        issues.append(DataIssue.of(label, f"unknown facility type (use {', '.join(FACILITY_TYPES)})", ids[bad_type], field=type_col))

    if status_col:
        statuses = table[status_col].astype(str).str.strip().str.lower().map(_STATUS_ALIASES).to_numpy()
    elif default_status is None:
        raise DataError(
            "no status column, so it is not known whether these are existing facilities or candidate sites: "
            "give the file with --existing FILE or --candidates FILE (or add a 'status' column: existing/candidate, 现有/候选)",
            source=label, field="status")
    else:
        if default_status not in SITE_STATUSES:
            raise DataError(f"unknown status {default_status!r}; use existing or candidate", source=label, field="status")
        statuses = np.array([default_status] * n, dtype=object)
    bad_status = pd.isna(statuses)
    if bad_status.any():
        issues.append(DataIssue.of(label, "unknown status (use existing/candidate, 现有/候选)", ids[bad_status], field=status_col))

    def numbers(col: str | None, default: float) -> tuple[np.ndarray, np.ndarray]:
        if not col:
            return np.full(n, default), np.zeros(n, bool)
        raw = table[col]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        bad = (raw.notna().to_numpy() & ~np.isfinite(values)) | (values < 0)
        return values, bad

    capacity, bad_cap = numbers(cap_col, np.nan)
    cost, bad_cost = numbers(cost_col, 1.0)
    cost = np.where(np.isnan(cost), 1.0, cost)
    if bad_cap.any():
        issues.append(DataIssue.of(label, "capacity is not a non-negative number", ids[bad_cap], field=cap_col))
    if bad_cost.any():
        issues.append(DataIssue.of(label, "cost is not a non-negative number", ids[bad_cost], field=cost_col))
    keep = ~(bad_type | bad_status | bad_cap | bad_cost)
    columns = {
        "site_id": ids[keep],
        "name": names[keep],
        "type": types[keep],
        "status": statuses[keep],
        "capacity": capacity[keep],
        "cost": cost[keep],
        "source": label,
    }
    for level in ("town", "community"):
        if level in found:
            values = table[found[level]]
            columns[f"declared_{level}"] = values.astype(object).where(values.notna(), None).to_numpy()[keep]
    sites = gpd.GeoDataFrame(columns, geometry=table.geometry.to_numpy()[keep], crs=WGS84)
    sites.attrs["declared_columns"] = {level: str(found[level]) for level in ("town", "community") if level in found}
    return sites, issues


def clip_to_boundary(sites: gpd.GeoDataFrame, boundary: shapely.Geometry, source: str) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Keep the sites inside ``boundary`` (WGS-84); report the rest by id."""
    inside = sites.within(boundary).to_numpy() | sites.touches(boundary).to_numpy()
    issues = []
    if (~inside).any():
        issues.append(DataIssue.of(source, "outside the region boundary", sites.loc[~inside, "site_id"], field="geometry"))
    return sites[inside].reset_index(drop=True), issues


# ---------------------------------------------------------------------- from OSM
OSM_SITE_RULES: list[tuple[str, str | tuple[str, ...], str, str]] = [
    # (tag, values, facility type, status)
    ("social_facility", ("outreach", "day_care", "assisted_living", "nursing_home", "group_home"), "care_centre", "existing"),
    ("amenity", "social_facility", "care_centre", "existing"),
    ("amenity", "nursing_home", "care_home", "existing"),
    ("amenity", "community_centre", "care_centre", "candidate"),
    ("amenity", ("library", "townhall", "social_centre"), "care_centre", "candidate"),
    ("amenity", ("restaurant", "canteen", "food_court", "cafe"), "meal_point", "candidate"),
]
"""How OSM POIs become sites: social facilities are existing care centres; community centres,
libraries and town halls are candidate care centres; restaurants, canteens and cafés are candidate
meal points (in China many 长者饭堂 run in existing restaurants and canteens)."""


def sites_from_osm(pois: gpd.GeoDataFrame, rules: list[tuple[str, Any, str, str]] | None = None) -> gpd.GeoDataFrame:
    """Turn OSM POIs (WGS-84, with tag columns or a ``tags`` dict) into sites by ``rules``.

    The first rule a POI matches decides its type and status; ids are ``osm-<type>-<osm id>``.
    """
    rules = rules or OSM_SITE_RULES
    if pois is None or pois.empty:
        return empty_sites()

    def tag_value(row: pd.Series, key: str) -> Any:
        value = row.get(key) if key in row.index else None
        if (value is None or (isinstance(value, float) and np.isnan(value))) and isinstance(row.get("tags"), dict):
            value = row["tags"].get(key)
        return value

    records = []
    for _, row in pois.iterrows():
        for key, values, ftype, status in rules:
            value = tag_value(row, key)
            wanted = (values,) if isinstance(values, str) else values
            if value is not None and str(value) in wanted:
                name = tag_value(row, "name")
                osm_id = row.get("id", len(records))
                geom = row.geometry if row.geometry.geom_type == "Point" else row.geometry.representative_point()
                records.append({
                    "site_id": f"osm-{row.get('osm_type', 'node')}-{osm_id}",
                    "name": str(name) if name is not None and str(name) != "nan" else f"{key}={value}",
                    "type": ftype,
                    "status": status,
                    "capacity": np.nan,
                    "cost": 1.0,
                    "source": "osm",
                    "geometry": geom,
                })
                break
    if not records:
        return empty_sites()
    sites = gpd.GeoDataFrame(records, geometry="geometry", crs=WGS84)
    return sites.drop_duplicates("site_id").reset_index(drop=True)


PATROL_SPOT_RULES: list[tuple[str, str | tuple[str, ...], str]] = [
    ("railway", "station", "station"),
    ("public_transport", "station", "station"),
    ("amenity", "bus_station", "bus_station"),
    ("railway", "subway_entrance", "subway_entrance"),
    ("amenity", "shelter", "shelter"),
    ("amenity", "marketplace", "marketplace"),
    ("leisure", "park", "park"),
    ("man_made", "bridge", "bridge"),
    ("amenity", "place_of_worship", "place_of_worship"),
    ("amenity", "toilets", "toilets"),
    ("amenity", "drinking_water", "drinking_water"),
]
"""OSM features where people sleeping rough are often found or helped (stations, bridges, parks,
markets, shelters, places of worship, public toilets), by the patrol stop kind they become.  The
first rule a feature matches decides its kind.  Underpasses are not taken from ``tunnel=*``: in
OSM that tag mostly marks long road and rail tunnels; add known underpasses as stops instead."""

PATROL_SPOT_FILTER: dict[str, list[str]] = {}
for _key, _values, _kind in PATROL_SPOT_RULES:
    PATROL_SPOT_FILTER.setdefault(_key, []).extend([_values] if isinstance(_values, str) else list(_values))


def patrol_spots_from_osm(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Candidate patrol stops from OSM features (WGS-84): ``spot_id``, ``name``, ``kind``, point geometry.

    Polygons (parks, stations) become their representative point.  Unnamed features are named by
    their kind and OSM id so that a patrol team can still find them.
    """
    columns = ["spot_id", "name", "kind", "source", "geometry"]
    if features is None or features.empty:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=WGS84)
    kind = pd.Series(None, index=features.index, dtype=object)
    for key, values, label in PATROL_SPOT_RULES:
        if key not in features:
            continue
        wanted = [values] if isinstance(values, str) else list(values)
        hit = kind.isna() & features[key].astype(str).isin(wanted)
        kind[hit] = label
    keep = kind.notna()
    found = features[keep]
    if found.empty:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=WGS84)
    ids = found["id"].astype(str) if "id" in found else pd.Series(np.arange(len(found)).astype(str), index=found.index)
    osm_type = found["osm_type"].astype(str) if "osm_type" in found else "node"
    names = found["name"] if "name" in found else pd.Series(None, index=found.index)
    names = names.where(names.notna() & (names.astype(str) != "nan"), kind[keep] + " " + ids)
    geoms = found.geometry.where(found.geometry.geom_type == "Point", found.geometry.representative_point())
    spots = gpd.GeoDataFrame(
        {"spot_id": "osm-" + osm_type + "-" + ids, "name": names.astype(str), "kind": kind[keep].astype(str), "source": "osm"},
        geometry=geoms.to_numpy(), crs=WGS84,
    )
    return spots.drop_duplicates("spot_id").reset_index(drop=True)


def read_patrol_spots(
    source: str | Path,
    *,
    coords: str = "wgs84",
    fields: Mapping[str, str] | None = None,
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """A bureau's own list of patrol spots (桥底, 车站, 公园 …) from CSV/Excel (lon/lat) or a vector file.

    Columns (by their usual names or ``fields``): name, lon/lat, ``kind`` (a word of
    :data:`geodata.vocabulary.PATROL_STOP_KINDS`, Chinese or English; other words count as a
    hotspot) and ``priority`` (1–5, optional).  Returns the ``patrol_spots`` layer format:
    ``spot_id``, ``name``, ``kind``, ``priority`` (NaN when not given), ``source``, geometry.
    """
    from geodata.columns import SPOT_TARGETS
    from geodata.vocabulary import normalise_spot_kind

    label = str(source)
    fields = fields if fields is not None else {}
    if Path(label).suffix.lower() in VECTOR_SUFFIXES:
        table = read_vector(source)
        table = _convert_geometry(table.assign(geometry=table.geometry.representative_point()), coords)
        issues: list[DataIssue] = []
    else:
        table, issues = points_from_table(read_table(source), label, columns=fields, coords=coords)
    found = resolve_columns(table, ("id", "name", *SPOT_TARGETS), fields, source=label)
    n = len(table)
    ids = table[found["id"]].astype(str).to_numpy() if "id" in found else np.array([f"spot-{i + 1}" for i in range(n)])
    names = table[found["name"]].astype(str).to_numpy() if "name" in found else ids
    kinds = [normalise_spot_kind(v) for v in table[found["kind"]]] if "kind" in found else ["hotspot"] * n
    priority = pd.to_numeric(table[found["priority"]], errors="coerce").to_numpy(float) if "priority" in found else np.full(n, np.nan)
    bad = (priority < 0) | (priority > 5)
    if bad.any():
        issues.append(DataIssue.of(label, "priority must lie in 0–5", ids[bad], field=found.get("priority")))
    spots = gpd.GeoDataFrame({"spot_id": ids[~bad], "name": names[~bad], "kind": np.asarray(kinds, dtype=object)[~bad],
                              "priority": priority[~bad], "source": label}, geometry=table.geometry.to_numpy()[~bad], crs=WGS84)
    if spots["spot_id"].duplicated().any():
        raise DataError("duplicate spot ids", source=label, field=found.get("id", "id"))
    return spots, issues
