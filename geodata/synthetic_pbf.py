"""A synthetic city's streets written as an OpenStreetMap PBF extract (pyosmium), for scale tests.

:func:`write_synthetic_pbf` writes the street lattice of :func:`geodata.synthetic.synthetic_region`
(same seed, same streets when ``margin_km`` is 0) as OSM nodes and ways: each run of street segments along one line with
the same class, name and one-way direction becomes one way, as mappers draw streets, with
``highway``, ``name``, ``oneway`` and ``maxspeed`` tags.  ``margin_km`` adds more streets around the
city, so that the file is larger than the area the admin boundaries cover, as a province extract is
larger than one city.  Everything in it is synthetic and the file header says so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from geodata.projection import lonlat_to_xy, utm_crs_for, xy_to_lonlat
from geodata.synthetic import SyntheticSpec, _lattice


def _runs(keys: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Start index of each run of consecutive positions sharing ``keys`` (rows already sorted)."""
    new = np.ones(len(position), bool)
    new[1:] = (keys[1:] != keys[:-1]).any(axis=1) | (position[1:] != position[:-1] + 1)
    return np.flatnonzero(new)


def write_synthetic_pbf(spec: SyntheticSpec, path: str | Path, *, margin_km: float = 0.0) -> dict[str, int]:
    """Write the streets of the synthetic city ``spec`` (plus ``margin_km`` around it) to an ``.osm.pbf``.

    Returns
    -------
    dict
        ``nodes`` and ``ways`` written.
    """
    import osmium
    from osmium.osm import mutable

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    big = replace(spec, width_km=spec.width_km + 2 * margin_km, height_km=spec.height_km + 2 * margin_km)
    rng = np.random.default_rng(spec.seed)  # the first draws of synthetic_region: the same streets inside the city
    _, links = _lattice(big, rng)
    crs = utm_crs_for(spec.centre_lon, spec.centre_lat)
    cx, cy = lonlat_to_xy(spec.centre_lon, spec.centre_lat, crs)
    origin = np.array([float(cx) - big.width_km * 500, float(cy) - big.height_km * 500])
    xy = links.node_xy + origin
    lon, lat = xy_to_lonlat(xy[:, 0], xy[:, 1], crs)
    nx_ = max(int(round(big.width_km * 1000 / big.street_spacing_m)) + 1, 2)

    a, b = np.minimum(links.u, links.v), np.maximum(links.u, links.v)  # drawn west→east / south→north
    horizontal = (a // nx_) == (b // nx_)
    line = np.where(horizontal, a // nx_, a % nx_)
    pos = np.where(horizontal, a % nx_, a // nx_)
    reverse = links.u > links.v  # one-way against the drawing direction
    highway = links.highway.astype(str)
    names = links.name.astype(str)
    kinds = {h: k for k, h in enumerate(sorted(set(highway)))}
    keys = np.column_stack([horizontal, line, [kinds[h] for h in highway], links.oneway, reverse])
    order = np.lexsort((pos, keys[:, 4], keys[:, 3], keys[:, 2], keys[:, 1], keys[:, 0]))
    keys, pos, a, b = keys[order], pos[order], a[order], b[order]
    starts = _runs(keys, pos)
    ends = np.r_[starts[1:], len(order)]

    header = osmium.io.Header()
    header.set("generator", "coverage-planner synthetic city (NOT a real place)")
    writer = osmium.SimpleWriter(str(path), header=header, overwrite=True)
    used = np.unique(np.concatenate([a, b]))
    try:
        for node in used:
            writer.add_node(mutable.Node(id=int(node) + 1, location=(float(lon[node]), float(lat[node])), version=1))
        for way_id, (s, e) in enumerate(zip(starts, ends), start=1):
            nodes = np.r_[a[s:e], b[e - 1]] + 1
            k = order[s]
            if keys[s, 4]:
                nodes = nodes[::-1]
            tags = {"highway": highway[k], "name": names[k]}
            if keys[s, 3]:
                tags["oneway"] = "yes"
            if links.maxspeed[k] is not None:
                tags["maxspeed"] = str(links.maxspeed[k])
            writer.add_way(mutable.Way(id=way_id, nodes=[int(n) for n in nodes], tags=tags, version=1))
    finally:
        writer.close()
    return {"nodes": int(len(used)), "ways": int(len(starts))}
