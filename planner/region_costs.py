"""Costs for a Region: pick the mode's network and the region's points, in metres."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from numpy.typing import NDArray

from geodata.network import check_mode
from geodata.projection import lonlat_to_xy
from geodata.region import Region
from planner.costs import DemandSiteCosts, Weight
from planner.snapping import DEFAULT_MAX_SNAP_M


def points_xy(frame: gpd.GeoDataFrame, crs: str) -> NDArray[np.float64]:
    """Point geometries of a WGS-84 frame as metric ``(n, 2)`` coordinates in ``crs``."""
    if len(frame) == 0:
        return np.zeros((0, 2))
    geoms = frame.geometry
    if not (geoms.geom_type == "Point").all():
        geoms = geoms.representative_point()
    x, y = lonlat_to_xy(geoms.x.to_numpy(), geoms.y.to_numpy(), crs)
    return np.column_stack([x, y])


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
        ``walk`` or ``drive``; the region must have that network unless ``network=False``.
    sites
        Rows of ``region.sites`` (or any WGS-84 point frame).
    demand
        Demand rows (default all of ``region.demand``).
    network
        False: straight-line costs (distance × 1.3 at the mode's speed) even if a network exists.
    """
    mode = check_mode(mode)
    demand = region.demand if demand is None else demand
    net = None
    speed = 0.9
    if network:
        if mode not in region.networks:
            raise ValueError(f"region '{region.name}' has no {mode} network (it has: {', '.join(region.networks) or 'none'})")
        net = region.networks[mode]
    if mode == "drive" and net is None:
        speed = 30 * 0.8 / 3.6
    return DemandSiteCosts(net, points_xy(demand, region.crs), points_xy(sites, region.crs), weight=weight, speed_mps=speed, max_snap_m=max_snap_m)
