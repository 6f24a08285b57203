"""Demand summed into grid cells, for maps of whole cities (200,000 points do not draw one by one).

A coverage map shows a city at low zoom as square cells of ``cell_m`` metres holding the
residents of the plan's group and how many of them are not served; the points themselves are
drawn from vector tiles once the map is zoomed in (see :mod:`maps.views`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

WGS84 = "EPSG:4326"


def demand_cells(demand: gpd.GeoDataFrame, weights: np.ndarray, served: np.ndarray, *, cell_m: float = 1000.0) -> gpd.GeoDataFrame:
    """Demand summed into square cells of ``cell_m`` metres (in the local UTM zone).

    Parameters
    ----------
    demand
        WGS-84 points.
    weights
        Persons at each point (the plan's group).
    served
        True where the point is within the plan's standard of an open site.
    cell_m
        Side of a cell, metres.

    Returns
    -------
    GeoDataFrame
        One row per cell holding people: ``residents``, ``unserved`` (persons), ``points``,
        ``unserved_share`` and the cell's square (WGS-84).  The residents and unserved persons
        of all cells add up to those of the points (tested).
    """
    if cell_m <= 0:
        raise ValueError(f"cell_m must be positive, not {cell_m}")
    weights = np.asarray(weights, float)
    served = np.asarray(served, bool)
    if len(weights) != len(demand) or len(served) != len(demand):
        raise ValueError("weights and served need one value per demand point")
    empty = gpd.GeoDataFrame({"residents": [], "unserved": [], "points": [], "unserved_share": []}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    if len(demand) == 0:
        return empty
    metric = demand.estimate_utm_crs()
    xy = shapely.get_coordinates(demand.to_crs(metric).geometry.to_numpy())
    ix = np.floor(xy[:, 0] / cell_m).astype(np.int64)
    iy = np.floor(xy[:, 1] / cell_m).astype(np.int64)
    table = pd.DataFrame({"ix": ix, "iy": iy, "residents": weights, "unserved": np.where(served, 0.0, weights), "points": 1})
    cells = table.groupby(["ix", "iy"], sort=True).sum().reset_index()
    cells = cells[cells["residents"] > 0]
    if cells.empty:
        return empty
    x0, y0 = cells["ix"].to_numpy() * cell_m, cells["iy"].to_numpy() * cell_m
    squares = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    out = gpd.GeoDataFrame({"residents": cells["residents"].to_numpy(), "unserved": cells["unserved"].to_numpy(),
                            "points": cells["points"].to_numpy(), "unserved_share": (cells["unserved"] / cells["residents"]).to_numpy()},
                           geometry=squares, crs=metric)
    return out.to_crs(WGS84).reset_index(drop=True)
