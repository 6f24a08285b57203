"""Reading tables and vector layers safely: every failure becomes a :class:`DataError` naming the file.

* Tables: CSV (UTF-8, UTF-8 with BOM, or GB18030 as Chinese Excel often saves it) and Excel
  (``.xlsx``/``.xls``).
* Vector layers: anything GDAL/pyogrio reads (GeoJSON, Shapefile, GeoPackage …), or a
  GeoDataFrame already in memory.
"""

from __future__ import annotations

import io as _io
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.chinacoords import to_wgs84 as china_to_wgs84
from geodata.errors import DataError, DataIssue
from geodata.projection import WGS84, require_crs

TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls"}
VECTOR_SUFFIXES = {".geojson", ".json", ".shp", ".gpkg", ".zip", ".fgb", ".parquet", ".geoparquet"}
_ENCODINGS = ("utf-8-sig", "gb18030")


def read_table(path: str | Path | bytes, *, name: str | None = None) -> pd.DataFrame:
    """Read a CSV or Excel table into a DataFrame of strings/numbers.

    Parameters
    ----------
    path
        A file path, or the raw bytes of an upload (then ``name`` gives the file name/suffix).
    name
        File name used for messages and to tell CSV from Excel when ``path`` is bytes.
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
    if not frame.crs.equals(gpd.GeoSeries([], crs=WGS84).crs):
        frame = frame.to_crs(WGS84)
    return frame


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


LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")


def points_from_table(
    frame: pd.DataFrame,
    source: str,
    *,
    lon_field: str | None = None,
    lat_field: str | None = None,
    coords: str = "wgs84",
    id_values: pd.Series | None = None,
) -> tuple[gpd.GeoDataFrame, list[DataIssue]]:
    """Turn a table with longitude/latitude columns into WGS-84 points.

    Rows whose coordinates are missing, non-numeric or not valid degrees are skipped and reported.
    ``coords`` declares the system the numbers are in (``wgs84``, ``gcj02`` for Amap, ``bd09`` for
    Baidu); they are converted to WGS-84.
    """
    lon_col = lon_field or find_column(frame, LON_NAMES)
    lat_col = lat_field or find_column(frame, LAT_NAMES)
    if lon_col is None or lon_col not in frame:
        raise DataError("no longitude column (expected one of lon, lng, longitude, x, 经度)", source=source, field=lon_field or "lon")
    if lat_col is None or lat_col not in frame:
        raise DataError("no latitude column (expected one of lat, latitude, y, 纬度)", source=source, field=lat_field or "lat")
    lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(float)
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


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dictionaries with NaN replaced by None (JSON-friendly)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
