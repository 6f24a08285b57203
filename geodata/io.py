"""Reading tables and vector layers safely: every failure becomes a :class:`DataError` naming the file.

* Tables: CSV (UTF-8, UTF-8 with BOM, or GB18030 as Chinese Excel often saves it) and Excel
  (``.xlsx``/``.xls``).
* Vector layers: anything GDAL/pyogrio reads (GeoJSON, Shapefile, GeoPackage …), or a
  GeoDataFrame already in memory.
"""

from __future__ import annotations

import io as _io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.chinacoords import to_wgs84 as china_to_wgs84
from geodata.columns import find_target
from geodata.errors import DataError, DataIssue
from geodata.projection import WGS84, require_crs

TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls"}
VECTOR_SUFFIXES = {".geojson", ".json", ".shp", ".gpkg", ".zip", ".fgb", ".parquet", ".geoparquet"}
_ENCODINGS = ("utf-8-sig", "gb18030")
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
"""Largest total size of the parts of an .xlsx workbook once unzipped, bytes (a zip bomb is refused)."""


def read_table(path: str | Path | bytes, *, name: str | None = None, max_unzipped_bytes: int = MAX_UNZIPPED_BYTES) -> pd.DataFrame:
    """Read a CSV or Excel table into a DataFrame of strings/numbers.

    Parameters
    ----------
    path
        A file path, or the raw bytes of an upload (then ``name`` gives the file name/suffix).
    name
        File name used for messages and to tell CSV from Excel when ``path`` is bytes.
    max_unzipped_bytes
        An .xlsx/.xlsm workbook (a zip archive) whose parts add up to more than this many bytes
        once unzipped is refused before it is opened.
    """
    label = name or (str(path) if not isinstance(path, bytes) else "upload")
    suffix = Path(label).suffix.lower()
    if not isinstance(path, bytes):
        path = Path(path)
        if not path.is_file():
            raise DataError("file not found", source=label)
        raw = path.read_bytes()
    else:
        raw = path
    if not raw.strip():
        raise DataError("file is empty", source=label)
    try:
        if suffix in {".xlsx", ".xlsm", ".xls"}:
            check_unzipped_size(raw, label, max_unzipped_bytes)
            frame = pd.read_excel(_io.BytesIO(raw))
        else:
            sep = "\t" if suffix == ".tsv" else None
            frame = None
            for encoding in _ENCODINGS:
                try:
                    frame = pd.read_csv(_io.BytesIO(raw), sep=sep, engine="python", encoding=encoding)
                    break
                except UnicodeDecodeError:
                    continue
            if frame is None:
                raise DataError("cannot decode the text (tried UTF-8 and GB18030)", source=label)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read table: {exc}", source=label) from exc
    if frame.empty:
        raise DataError("table has no rows", source=label)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def check_unzipped_size(raw: bytes, label: str, limit: int) -> None:
    """Refuse a zip archive (e.g. an .xlsx workbook) whose parts unzip to more than ``limit`` bytes.

    The sizes are those the archive declares; Python's zip reader never inflates a part beyond
    its declared size, so they bound what reading it can cost."""
    import zipfile

    if not zipfile.is_zipfile(_io.BytesIO(raw)):
        return  # an old .xls, or not a workbook: the reader says so
    with zipfile.ZipFile(_io.BytesIO(raw)) as archive:
        total = sum(info.file_size for info in archive.infolist())
    if total > limit:
        raise DataError(f"workbook unzips to {total / 1024 / 1024:,.0f} MB, more than the {limit / 1024 / 1024:,.0f} MB accepted "
                        "(a compressed 'zip bomb', or a table to split)", source=label, field="file")


def read_vector(path: str | Path | gpd.GeoDataFrame, *, layer: str | None = None, name: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer (GeoJSON, Shapefile, GeoPackage …) and return it in WGS-84.

    Raises
    ------
    DataError
        If the file is missing, unreadable, empty, or has no CRS.
    """
    if isinstance(path, gpd.GeoDataFrame):
        frame, label = path, name or "layer"
    else:
        label = name or str(path)
        path = Path(path)
        if not path.exists():
            raise DataError("file not found", source=label)
        try:
            if path.suffix.lower() in {".parquet", ".geoparquet"}:
                frame = gpd.read_parquet(path)
            else:
                frame = gpd.read_file(path, layer=layer)
        except Exception as exc:
            raise DataError(f"cannot read vector layer: {exc}", source=label) from exc
    if len(frame) == 0:
        raise DataError("layer has no features", source=label)
    require_crs(frame, label)
    if frame.crs.is_geographic:
        check_degrees(frame, label)
    if not frame.crs.equals(gpd.GeoSeries([], crs=WGS84).crs):
        frame = frame.to_crs(WGS84)
    if not frame.crs.is_geographic:
        return frame
    check_degrees(frame, label)
    return frame


def check_degrees(frame: gpd.GeoDataFrame, source: str) -> None:
    """Refuse a longitude/latitude layer with coordinates beyond ±180°/±90°, naming the first feature.

    Latitudes beyond ±90° whose longitudes would be valid latitudes mean the axes are swapped
    (x = latitude, y = longitude), which is said so.
    """
    bounds = frame.geometry.bounds
    finite = bounds.notna().all(axis=1)
    bad = finite & ((bounds["miny"] < -90) | (bounds["maxy"] > 90) | (bounds["minx"] < -180) | (bounds["maxx"] > 180))
    inf = ~np.isfinite(bounds.where(finite, 0.0).to_numpy()).all(axis=1)
    bad = bad.to_numpy() | inf
    if not bad.any():
        return
    k = int(np.flatnonzero(bad)[0])
    row = bounds.iloc[k]
    swapped = abs(row["maxx"]) <= 90 and abs(row["maxy"]) > 90
    hint = ("longitude and latitude look swapped (x holds latitudes, y longitudes); write x = longitude, y = latitude"
            if swapped else "coordinates are not longitude/latitude degrees; check the file's CRS")
    raise DataError(f"{hint} (x {row['minx']:g}…{row['maxx']:g}, y {row['miny']:g}…{row['maxy']:g})",
                    source=source, field="geometry", feature=frame.index[k])


def require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Raise a :class:`DataError` naming the first missing column and listing those present."""
    for column in columns:
        if column not in frame.columns:
            present = ", ".join(map(str, frame.columns[:20]))
            raise DataError(f"missing column (columns present: {present})", source=source, field=column)


def find_column(frame: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    """The first of ``candidates`` present in ``frame`` (case-insensitive), or None."""
    lower = {str(c).lower(): c for c in frame.columns}
    for candidate in candidates:
        if candidate.lower() in lower:
            return lower[candidate.lower()]
    return None


def points_from_table(
    frame: pd.DataFrame,
    source: str,
    *,
    lon_field: str | None = None,
    lat_field: str | None = None,
    columns: Mapping[str, str] | None = None,
    coords: str = "wgs84",
    id_values: pd.Series | None = None,
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Turn a table with longitude/latitude columns into WGS-84 points.

    The columns are found by their usual names (lon, lng, 经度 …; see :mod:`geodata.columns`) or
    given by ``lon_field``/``lat_field`` or ``columns`` (``{"lon": "东经", "lat": "北纬"}``).
    Rows whose coordinates are missing, non-numeric or not valid degrees are skipped and reported;
    a table whose longitudes and latitudes are swapped is refused, naming both columns.
    ``coords`` declares the system the numbers are in (``wgs84``, ``gcj02`` for Amap, ``bd09`` for
    Baidu); they are converted to WGS-84.
    """
    mapping: Mapping[str, str] = columns if columns is not None else {}
    if lon_field or lat_field:
        mapping = {**mapping, **({"lon": lon_field} if lon_field else {}), **({"lat": lat_field} if lat_field else {})}
    lon_col = find_target(frame, "lon", mapping, source=source)
    lat_col = find_target(frame, "lat", mapping, source=source)
    if lon_col is None:
        raise DataError("no longitude column (expected one of lon, lng, longitude, x, 经度, or --column lon=COLUMN)", source=source, field="lon")
    if lat_col is None:
        raise DataError("no latitude column (expected one of lat, latitude, y, 纬度, or --column lat=COLUMN)", source=source, field="lat")
    lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(float)
    check_not_swapped(lon, lat, source, lon_col, lat_col)
    ids = id_values if id_values is not None else pd.Series([f"row {i + 2}" for i in range(len(frame))], index=frame.index)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lon) > 180) | (np.abs(lat) > 90)
    issues: list[DataIssue] = []
    if bad.any():
        issues.append(DataIssue.of(source, "missing or invalid longitude/latitude", ids[bad], field=f"{lon_col}/{lat_col}"))
    try:
        wlon, wlat = china_to_wgs84(lon[~bad], lat[~bad], coords)
    except ValueError as exc:
        raise DataError(str(exc), source=source, field="coords") from exc
    kept = frame.loc[~bad].copy()
    points = gpd.GeoDataFrame(kept, geometry=gpd.points_from_xy(wlon, wlat), crs=WGS84)
    return points, issues


def check_not_swapped(lon: np.ndarray, lat: np.ndarray, source: str, lon_col: str = "lon", lat_col: str = "lat") -> None:
    """Refuse coordinates whose longitude and latitude are evidently swapped.

    A "latitude" beyond ±90° whose "longitude" would be a valid latitude can only be a swap
    (for all of China: longitudes 73–135°, latitudes 18–54°).  Raised when most rows look so.
    """
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return
    swapped = ok & (np.abs(lat) > 90) & (np.abs(lon) <= 90)
    if swapped.sum() > 0.5 * ok.sum():
        k = int(np.flatnonzero(swapped)[0])
        raise DataError(
            f"longitude and latitude look swapped: '{lat_col}' holds {lat[k]:g}, which cannot be a latitude, "
            f"and '{lon_col}' holds {lon[k]:g}; swap the two columns (or map them with --column lon={lat_col} --column lat={lon_col})",
            source=source, field=f"{lon_col}/{lat_col}", feature=f"row {k + 2}",
        )


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dictionaries with NaN replaced by None (JSON-friendly)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
