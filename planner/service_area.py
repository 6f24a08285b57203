"""Service areas (isochrones): the area reachable from a site within a travel budget.

Built from the reached network itself — every road piece reachable within the budget, partial
pieces cut at the frontier — buffered by a walking corridor and merged.  This follows the streets
(it never jumps a river or a railway the network cannot cross), unlike a convex hull of reached
nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from planner.costs import NetworkCosts, StraightLineCosts, check_cutoff

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
