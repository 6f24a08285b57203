"""Chinese map coordinate systems: GCJ-02 (Amap/Gaode, Tencent) and BD-09 (Baidu) to and from WGS-84.

Coordinates copied from Amap or Baidu are *not* WGS-84: GCJ-02 shifts points by an obfuscating
function of position (300–600 m in Guangdong, as large as a walking radius), and BD-09 adds a
further rotation/offset on top of GCJ-02.  Every coordinate that enters the planner is converted to
WGS-84 once, at the edge, when the user declares its system.

* WGS-84 → GCJ-02 and GCJ-02 ↔ BD-09 follow the published forward formulas (Krasovsky 1940
  ellipsoid constants), and are exact by definition.
* GCJ-02 → WGS-84 has no closed form; it is solved here by fixed-point iteration on the forward
  transform until the residual is below 1e-9 degrees (≈ 0.1 mm), usually in 3–5 steps.
* Outside mainland China (a rough bounding box, as every published implementation uses) no shift
  is applied.

All functions are vectorised: they accept scalars or numpy arrays of longitudes and latitudes in
degrees and return arrays of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

CoordSystem = Literal["wgs84", "gcj02", "bd09"]
COORD_SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02, metres
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # BD-09 rotation constant
_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "gps": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "amap": "gcj02", "gaode": "gcj02", "tencent": "gcj02",
    "mars": "gcj02", "火星坐标": "gcj02", "高德": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09", "百度": "bd09",
}


def normalise_coord_system(name: str) -> CoordSystem:
    """Map a user's spelling (``"GCJ-02"``, ``"amap"``, ``"Baidu"`` …) to ``wgs84|gcj02|bd09``.

    Raises
    ------
    ValueError
        If the name is not a known coordinate system.
    """
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(
            f"unknown coordinate system {name!r}: use one of wgs84, gcj02 (Amap/Tencent), bd09 (Baidu)"
        )
    return _ALIASES[key]  # type: ignore[return-value]


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies in the rough mainland-China box where GCJ-02 applies its shift."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _shift_lat(x: NDArray, y: NDArray) -> NDArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _shift_lon(x: NDArray, y: NDArray) -> NDArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    """The GCJ-02 offset (degrees) that is added to a WGS-84 point."""
    dlat = _shift_lat(lon - 105.0, lat - 35.0)
    dlon = _shift_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in shape: {lon_a.shape} vs {lat_a.shape}")
    return lon_a, lat_a


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS-84 → GCJ-02 (degrees in, degrees out)."""
    lon_a, lat_a = _arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon_a, lat_a)
    return lon_a + dlon, lat_a + dlat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, tolerance_deg: float = 1e-9, max_iter: int = 30
) -> tuple[NDArray, NDArray]:
    """GCJ-02 → WGS-84 by fixed-point iteration on the forward transform.

    Parameters
    ----------
    lon, lat
        GCJ-02 coordinates in degrees.
    tolerance_deg
        Stop when the forward transform of the estimate is this close to the input (degrees;
        1e-9° is about 0.1 mm).
    max_iter
        Safety cap on iterations.
    """
    lon_a, lat_a = _arrays(lon, lat)
    est_lon, est_lat = lon_a.copy(), lat_a.copy()
    for _ in range(max_iter):
        fwd_lon, fwd_lat = wgs84_to_gcj02(est_lon, est_lat)
        err_lon, err_lat = fwd_lon - lon_a, fwd_lat - lat_a
        est_lon = est_lon - err_lon
        est_lat = est_lat - err_lat
        if np.all(np.abs(err_lon) < tolerance_deg) and np.all(np.abs(err_lat) < tolerance_deg):
            break
    return est_lon, est_lat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 → BD-09 (degrees)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(
    lon: ArrayLike, lat: ArrayLike, tolerance_deg: float = 1e-10, max_iter: int = 10
) -> tuple[NDArray, NDArray]:
    """BD-09 → GCJ-02 (degrees).

    Starts from Baidu's published closed-form inverse (accurate to about 0.1 m) and refines it by
    fixed-point iteration on :func:`gcj02_to_bd09`, so that a round trip is exact.
    """
    lon_a, lat_a = _arrays(lon, lat)
    x, y = lon_a - 0.0065, lat_a - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    est_lon, est_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iter):
        fwd_lon, fwd_lat = gcj02_to_bd09(est_lon, est_lat)
        err_lon, err_lat = fwd_lon - lon_a, fwd_lat - lat_a
        est_lon, est_lat = est_lon - err_lon, est_lat - err_lat
        if np.all(np.abs(err_lon) < tolerance_deg) and np.all(np.abs(err_lat) < tolerance_deg):
            break
    return est_lon, est_lat


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """BD-09 → WGS-84 (degrees), through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS-84 → BD-09 (degrees), through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> tuple[NDArray, NDArray]:
    """Convert coordinates declared in ``system`` (wgs84, gcj02, bd09 or an alias) to WGS-84."""
    kind = normalise_coord_system(system)
    if kind == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if kind == "bd09":
        return bd09_to_wgs84(lon, lat)
    return _arrays(lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> tuple[NDArray, NDArray]:
    """Convert WGS-84 coordinates to ``system`` (for example to overlay data on Amap tiles)."""
    kind = normalise_coord_system(system)
    if kind == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if kind == "bd09":
        return wgs84_to_bd09(lon, lat)
    return _arrays(lon, lat)


def _transform_geometries(geometries: ArrayLike, convert: Callable[[NDArray, NDArray], tuple[NDArray, NDArray]]) -> NDArray[np.object_]:
    """Apply a lon/lat conversion to every vertex of shapely geometries."""
    import shapely

    def each(coords: NDArray) -> NDArray:
        lon, lat = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(np.asarray(geometries, dtype=object), each)


def geometries_to_wgs84(geometries: ArrayLike, system: str) -> NDArray[np.object_]:
    """Convert every vertex of shapely geometries (points, lines, polygons) declared in ``system``.

    Amap and Baidu boundaries are GCJ-02/BD-09 even when their file says CRS84: converting only
    the points and not the polygons puts residents in the neighbouring town.  Vertices are
    converted one by one, so a polygon keeps its topology (the shift varies by at most
    millimetres across a town).
    """
    kind = normalise_coord_system(system)
    if kind == "wgs84":
        return np.asarray(geometries, dtype=object)
    return _transform_geometries(geometries, lambda lon, lat: to_wgs84(lon, lat, kind))


def geometries_from_wgs84(geometries: ArrayLike, system: str) -> NDArray[np.object_]:
    """The inverse of :func:`geometries_to_wgs84`: WGS-84 geometries into ``system``."""
    kind = normalise_coord_system(system)
    if kind == "wgs84":
        return np.asarray(geometries, dtype=object)
    return _transform_geometries(geometries, lambda lon, lat: from_wgs84(lon, lat, kind))
