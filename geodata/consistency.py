"""Cross-checks between a bureau's files: points against boundaries, declared towns against found towns.

Amap and Baidu export GCJ-02/BD-09 numbers under a CRS84 label, so the mistake a new user makes
is not visible in any single file: it shows when the files are put together.  Two checks:

* :func:`check_points_inside` — a file whose points all lie outside the region is refused
  (naming a swap of longitude and latitude when swapping puts them inside);
* :func:`check_declared_units` — where a table names each row's town (镇街) or community, the
  name is compared with the unit found by point-in-polygon; when more than
  :data:`DISAGREEMENT_WARN_SHARE` disagree, a warning gives the count and tests the likely
  causes (boundaries or points in another coordinate system) by converting and counting again.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.chinacoords import COORD_SYSTEMS, geometries_from_wgs84, geometries_to_wgs84, normalise_coord_system
from geodata.errors import DataError, DataIssue
from geodata.projection import WGS84

DISAGREEMENT_WARN_SHARE = 0.02
"""Share of rows whose declared town differs from the town they lie in above which a warning is given."""

_FLAG = {"admin": "--admin-coords", "points": "--population-coords", "sites": "--sites-coords"}
_SYSTEM_NAMES = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}


def check_points_inside(points: gpd.GeoDataFrame, boundary: shapely.Geometry, source: str, id_column: str) -> None:
    """Refuse a file none of whose points lies inside ``boundary`` (WGS-84), saying why if it can.

    Raises
    ------
    DataError
        Naming the file, the geometry field and the first feature; "longitude and latitude look
        swapped" when the swapped points fall inside.
    """
    if len(points) == 0:
        return
    geoms = points.geometry.to_numpy()
    inside = shapely.intersects(boundary, geoms)
    if inside.any():
        return
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    first = points[id_column].iloc[0]
    name = points["name"].iloc[0] if "name" in points else first
    if shapely.intersects(boundary, shapely.points(y, x)).mean() > 0.5:
        raise DataError(f"every point lies outside the region, and swapping longitude and latitude puts them inside: "
                        f"the longitude and latitude columns are swapped (first: {name} at {x[0]:.6f}, {y[0]:.6f})",
                        source=source, field="lon/lat", feature=first)
    b = boundary.bounds
    raise DataError(f"every point lies outside the region (first: {name} at {x[0]:.6f}, {y[0]:.6f}; the region spans "
                    f"longitude {b[0]:.4f}…{b[2]:.4f}, latitude {b[1]:.4f}…{b[3]:.4f}); check the file's coordinates",
                    source=source, field="geometry", feature=first)


def _unit_lookup(units: gpd.GeoDataFrame) -> dict[str, str]:
    lookup = {}
    for uid, name in zip(units["unit_id"], units["name"]):
        lookup[str(uid).strip()] = uid
        lookup[str(name).strip()] = uid
    return lookup


def _found_units(points: np.ndarray, units: gpd.GeoDataFrame) -> np.ndarray:
    """Unit id containing each point (None outside every unit)."""
    tree = shapely.STRtree(units.geometry.to_numpy())
    pts, polys = tree.query(points, predicate="intersects")
    out = np.full(len(points), None, dtype=object)
    ids = units["unit_id"].to_numpy()
    order = np.argsort(pts, kind="stable")[::-1]  # first hit wins
    out[pts[order]] = ids[polys[order]]
    return out


def _reconvert(geoms: np.ndarray, declared: str, alternative: str) -> np.ndarray:
    """Geometries read as ``declared`` and converted, as if the file had been ``alternative``."""
    return geometries_to_wgs84(geometries_from_wgs84(geoms, declared), alternative)


def check_declared_units(
    points: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    level: str,
    source: str,
    id_column: str,
    what: str,
    admin_coords: str,
    points_coords: str,
    points_kind: str,
    column_label: str | None = None,
) -> list[DataIssue]:
    """Compare a table's declared ``level`` (column ``declared_<level>``) with the unit each point lies in.

    Parameters
    ----------
    points
        WGS-84 points with ``declared_<level>`` and an ``id_column``.
    units
        Units of ``level`` (WGS-84, after the declared conversion).
    what
        Plural noun for messages ("sites", "demand points").
    admin_coords, points_coords
        The coordinate systems the boundaries and the points were declared in.
    points_kind
        ``"points"`` (population table) or ``"sites"``: which option to suggest for the points.
    column_label
        The file's own name of the column (e.g. ``镇街``), for messages.

    Returns
    -------
    list of DataIssue
        Warnings (nothing skipped): names the table uses that no unit has, and a disagreement
        above :data:`DISAGREEMENT_WARN_SHARE` with its likely cause.
    """
    column = f"declared_{level}"
    if column not in points or len(points) == 0 or len(units) == 0:
        return []
    admin_coords, points_coords = normalise_coord_system(admin_coords), normalise_coord_system(points_coords)
    lookup = _unit_lookup(units)
    declared_raw = points[column].astype(object)
    given = declared_raw.notna() & (declared_raw.astype(str).str.strip() != "")
    declared = np.array([lookup.get(str(v).strip()) if ok else None for v, ok in zip(declared_raw, given)], dtype=object)
    issues: list[DataIssue] = []
    unknown = given.to_numpy() & pd.isna(declared)
    if unknown.any():
        names = pd.Series(declared_raw[unknown].astype(str)).value_counts()
        shown = ", ".join(f"'{n}' ({c})" for n, c in names.head(5).items())
        issues.append(DataIssue.of(source, f"{int(unknown.sum())} of {int(given.sum())} {what} name a {level} that no boundary has: {shown}; "
                                           f"check the spelling against the boundary file's names", points.loc[unknown, id_column],
                                   field=level, skipped=False))
    known = ~pd.isna(declared)
    if not known.any():
        return issues
    geoms = points.geometry.to_numpy()[known]
    want = declared[known]
    found = _found_units(geoms, units)
    wrong = found != want
    n, bad = int(known.sum()), int(wrong.sum())
    if bad <= DISAGREEMENT_WARN_SHARE * n:
        return issues
    # test the likely causes: the boundaries or the points really in another coordinate system
    unit_geoms = units.geometry.to_numpy()
    trials: list[tuple[int, str]] = []
    for alternative in COORD_SYSTEMS:
        if alternative != admin_coords:
            moved = units.set_geometry(gpd.GeoSeries(_reconvert(unit_geoms, admin_coords, alternative), crs=WGS84))
            trials.append((int((_found_units(geoms, moved) != want).sum()), f"the boundaries may be {_SYSTEM_NAMES[alternative]}: try {_FLAG['admin']} {alternative}"))
        if alternative != points_coords:
            moved_points = _reconvert(geoms, points_coords, alternative)
            flag = _FLAG["sites" if points_kind == "sites" else "points"]
            trials.append((int((_found_units(moved_points, units) != want).sum()), f"the {what} may be {_SYSTEM_NAMES[alternative]}: try {flag} {alternative}"))
    best_bad, best_hint = min(trials)
    examples = []
    names = points["name"].to_numpy()[known] if "name" in points else points[id_column].to_numpy()[known]
    unit_name = dict(zip(units["unit_id"], units["name"]))
    for k in np.flatnonzero(wrong)[:3]:
        examples.append(f"{names[k]}: file says {unit_name.get(want[k])}, lies in {unit_name.get(found[k], f'no {level}')}")
    message = f"{bad} of {n} {what} fall outside the {level} named in their `{column_label or level}` column"
    if best_bad <= DISAGREEMENT_WARN_SHARE * n or best_bad <= bad / 2:
        message += f"; {best_hint} (then {n - best_bad} of {n} would agree)"
    else:
        message += f"; no coordinate conversion explains it ({n - best_bad} of {n} at best): check the {level} column and the boundaries"
    message += f". e.g. {'; '.join(examples)}"
    issues.append(DataIssue.of(source, message, points[id_column].to_numpy()[known][wrong], field=level, skipped=False))
    return issues
