"""Costs for a Region: pick the mode's network (or its straight-line estimate) and the region's points, in metres.

Every travel question on a region goes through :func:`travel_engine` or
:func:`demand_site_costs`, so that a region built without a road network (``--no-network``)
answers the same questions with straight-line distance × its detour factor at its standard speed,
and every result carries ``kind = "straight-line"``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from numpy.typing import NDArray

from geodata.network import check_mode
from geodata.projection import lonlat_to_xy
from geodata.region import Region
from geodata.speeds import DEFAULT_DETOUR_FACTOR, SpeedProfile
from planner.travel.costs import DemandSiteCosts, NetworkCosts, StraightLineCosts, Weight
from planner.travel.snapping import DEFAULT_MAX_SNAP_M, SegmentIndex


def points_xy(frame: gpd.GeoDataFrame, crs: str) -> NDArray[np.float64]:
    """Point geometries of a WGS-84 frame as metric ``(n, 2)`` coordinates in ``crs``."""
    if len(frame) == 0:
        return np.zeros((0, 2))
    geoms = frame.geometry
    if not (geoms.geom_type == "Point").all():
        geoms = geoms.representative_point()
    x, y = lonlat_to_xy(geoms.x.to_numpy(), geoms.y.to_numpy(), crs)
    return np.column_stack([x, y])


def travel_engine(
    region: Region,
    mode: str,
    xy: NDArray[np.float64],
    *,
    weight: Weight = "time",
    speed_mps: float | None = None,
    index: SegmentIndex | None = None,
) -> NetworkCosts | StraightLineCosts:
    """A cost engine between metric points ``xy`` for ``mode`` on ``region``.

    Parameters
    ----------
    mode
        ``walk`` or ``drive``.
    weight
        ``"time"`` (seconds) or ``"length"`` (metres).
    speed_mps
        Straight-line regions only: a speed other than the region's standard for ``mode`` (e.g.
        patrol staff walking 1.2 m/s), metres per second.
    index
        Network regions only: a prebuilt segment index to share.

    Raises
    ------
    ValueError
        When the region can price neither a network nor a straight line for ``mode``.
    """
    mode = check_mode(mode)
    if region.cost_kind(mode) == "network":
        return NetworkCosts(region.networks[mode], xy, weight=weight, index=index)
    detour, speed = region.straight_line(mode)
    return StraightLineCosts(xy, weight=weight, detour_factor=detour, speed_mps=speed_mps or speed)


def demand_site_costs(region: Region, mode: str, demand_xy: NDArray[np.float64], site_xy: NDArray[np.float64], *,
                      weight: Weight = "time", max_snap_m: float = DEFAULT_MAX_SNAP_M) -> DemandSiteCosts:
    """:class:`DemandSiteCosts` between metric demand and site coordinates, on the network or in a straight line."""
    mode = check_mode(mode)
    if region.cost_kind(mode) == "network":
        return DemandSiteCosts(region.networks[mode], demand_xy, site_xy, weight=weight, max_snap_m=max_snap_m)
    detour, speed = region.straight_line(mode)
    return DemandSiteCosts(None, demand_xy, site_xy, weight=weight, detour_factor=detour, speed_mps=speed)


def region_costs(
    region: Region,
    mode: str,
    sites: gpd.GeoDataFrame,
    *,
    demand: gpd.GeoDataFrame | None = None,
    weight: Weight = "time",
    network: bool = True,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> DemandSiteCosts:
    """Travel costs between a region's demand points and the given sites for ``mode``.

    Parameters
    ----------
    region
        The region.
    mode
        ``walk`` or ``drive``: on the region's network, or straight-line when it was built
        without one.
    sites
        Rows of ``region.sites`` (or any WGS-84 point frame).
    demand
        Demand rows (default all of ``region.demand``).
    network
        False: straight-line costs (distance × the region's detour factor, default 1.3, at the
        mode's standard speed) even if a network exists.
    """
    mode = check_mode(mode)
    demand = region.demand if demand is None else demand
    dxy, sxy = points_xy(demand, region.crs), points_xy(sites, region.crs)
    if network:
        return demand_site_costs(region, mode, dxy, sxy, weight=weight, max_snap_m=max_snap_m)
    travel = region.travel
    detour = float(travel.get("detour_factor", DEFAULT_DETOUR_FACTOR))
    speed = float(travel.get("speed_mps", {}).get(mode) or SpeedProfile().straight_line_mps(mode))
    return DemandSiteCosts(None, dxy, sxy, weight=weight, detour_factor=detour, speed_mps=speed)
