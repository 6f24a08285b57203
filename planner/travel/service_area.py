"""Service areas (isochrones): the area reachable from a site within a travel budget.

Built from the reached network itself — every road piece reachable within the budget, partial
pieces cut at the frontier — buffered by a walking corridor and merged.  This follows the streets
(it never jumps a river or a railway the network cannot cross), unlike a convex hull of reached
nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from planner.travel.costs import NetworkCosts, StraightLineCosts, check_cutoff

if TYPE_CHECKING:
    import geopandas as gpd

    from geodata.region import Region
    from planner.scenario import Plan

DEFAULT_CORRIDOR_M = 50.0
"""Half-width of the area counted as reached on each side of a reached road, metres."""


@dataclass(frozen=True)
class ServiceArea:
    """The area reachable from one point.

    Attributes
    ----------
    polygon
        (Multi)Polygon in the network's metric CRS.
    cutoff
        The budget, in ``unit``.
    unit, kind
        ``s``/``m``; ``network`` or ``straight-line``.
    reached_length_m
        Total length of road reached, metres (0 for straight-line areas).
    """

    polygon: shapely.Geometry
    cutoff: float
    unit: str
    kind: str
    reached_length_m: float

    @property
    def area_m2(self) -> float:
        """Area of the polygon, m²."""
        return float(self.polygon.area)

    def contains(self, xy: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which of the points (metres, ``(n, 2)``) lie inside."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        return shapely.contains_xy(self.polygon, xy[:, 0], xy[:, 1])


def service_area(costs: NetworkCosts | StraightLineCosts, point: int, cutoff: float, *, corridor_m: float = DEFAULT_CORRIDOR_M) -> ServiceArea:
    """The service area of point ``point`` of ``costs`` within ``cutoff`` (seconds or metres).

    Parameters
    ----------
    costs
        A costs engine holding the point (e.g. the sites of a :class:`DemandSiteCosts`).
    point
        Index of the point in ``costs``.
    cutoff
        Budget in the engine's unit.
    corridor_m
        Buffer around reached roads, metres (default 50 m: homes along a street are served).
    """
    if corridor_m <= 0:
        raise ValueError("corridor_m must be positive (metres)")
    cutoff = check_cutoff(cutoff, costs.unit)
    if isinstance(costs, StraightLineCosts):
        radius = cutoff / costs.scale
        centre = shapely.Point(costs.points_xy[point])
        return ServiceArea(centre.buffer(radius, quad_segs=16), cutoff, costs.unit, costs.kind, 0.0)
    pieces, _ = costs.reach(point, cutoff)
    if not pieces:
        return ServiceArea(shapely.Polygon(), cutoff, costs.unit, costs.kind, 0.0)
    lines = np.array([shapely.LineString(p) for p in pieces], dtype=object)
    length = float(shapely.length(lines).sum())
    polygon = shapely.union_all(shapely.buffer(lines, corridor_m, quad_segs=4))
    return ServiceArea(polygon, cutoff, costs.unit, costs.kind, length)


def plan_service_areas(region: "Region", plan: "Plan", *, corridor_m: float = DEFAULT_CORRIDOR_M) -> "gpd.GeoDataFrame":
    """Service areas of a plan's open sites within its standard, as WGS-84 polygons.

    One row per open site: ``site_id``, ``name``, ``plan_status`` (existing/new), ``cutoff_min``,
    ``area_km2`` and the polygon (travel by the scenario's mode from the site outwards).
    """
    import geopandas as gpd

    from geodata.projection import WGS84, xy_to_lonlat
    from planner.travel.region import points_xy, travel_engine

    scenario = plan.scenario
    sites = plan.sites
    columns = ["site_id", "name", "plan_status", "cutoff_min", "area_km2", "geometry"]
    if len(sites) == 0:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=WGS84)
    xy = points_xy(sites, region.crs)
    costs = travel_engine(region, scenario.mode, xy, weight="time")
    cutoff = float(scenario.standard_min) * 60.0
    polygons, areas = [], []
    for k in range(len(sites)):
        area = service_area(costs, k, cutoff, corridor_m=corridor_m)
        areas.append(round(area.area_m2 / 1e6, 4))
        polygons.append(shapely.transform(area.polygon, lambda c: np.column_stack(xy_to_lonlat(c[:, 0], c[:, 1], region.crs))))
    return gpd.GeoDataFrame(
        {"site_id": sites["site_id"].to_numpy(), "name": sites["name"].to_numpy(), "plan_status": sites["plan_status"].to_numpy(),
         "cutoff_min": float(scenario.standard_min), "area_km2": areas},
        geometry=polygons, crs=WGS84,
    )
