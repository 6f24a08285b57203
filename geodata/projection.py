"""Map projections: WGS-84 lon/lat at every edge, a local metric CRS (UTM) inside.

Distances, areas, snapping and geometry are computed in metres in the region's UTM zone; every
file, API answer and map speaks WGS-84 longitude/latitude.
"""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer

from geodata.errors import DataError

WGS84 = "EPSG:4326"


def utm_crs_for(lon: float, lat: float) -> str:
    """The EPSG code (``"EPSG:326xx"`` north / ``"EPSG:327xx"`` south) of the UTM zone of a point.

    Parameters
    ----------
    lon, lat
        A representative point of the region (degrees, WGS-84), e.g. its centroid.
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise DataError(f"centre ({lon}, {lat}) is not a WGS-84 longitude/latitude")
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def lonlat_to_xy(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[NDArray, NDArray]:
    """Project WGS-84 degrees to metres in ``crs``."""
    x, y = _transformer(WGS84, crs).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def xy_to_lonlat(x: ArrayLike, y: ArrayLike, crs: str) -> tuple[NDArray, NDArray]:
    """Unproject metres in ``crs`` to WGS-84 degrees."""
    lon, lat = _transformer(crs, WGS84).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def require_crs(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Raise a :class:`DataError` naming ``source`` when a layer has no CRS."""
    if frame.crs is None:
        raise DataError(
            "layer has no coordinate reference system; declare it (e.g. save it with EPSG:4326)",
            source=source,
        )
    return frame


def to_wgs84(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Return ``frame`` in WGS-84, after checking it has a CRS."""
    require_crs(frame, source)
    return frame if frame.crs.equals(CRS.from_epsg(4326)) else frame.to_crs(WGS84)
