"""Seeded synthetic cities for tests and scale benchmarks — never real places, and labelled so.

:func:`synthetic_region` generates, from one integer seed:

* a street **network** on a jittered lattice with a road hierarchy (arterials every
  ``arterial_every`` streets, collectors halfway between, local streets, some walk-only paths,
  alternating one-way local streets for driving);
* **towns** (Voronoi cells of random centres) and **communities** (Voronoi cells inside each town);
* **demand** points drawn around each town's population centre (Gaussian) plus a thin background,
  with group counts varying by town;
* **sites**: existing care centres in some towns, existing meal points, relief stations and
  candidate sites near where people live;
* **incidents**: timestamped sightings of people sleeping rough around a few hotspots, mostly at
  night, for patrol planning.

The defaults make a small city (≈ 5 × 5 km); :func:`dongguan_scale_spec` makes one at Dongguan's
scale (≈ 2,500 km², ≈ 300k walk nodes, 200k demand points, 20k candidate sites, 33 towns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.admin import assign_parents, tag_points
from geodata.network import LinkTable, build_network
from geodata.projection import WGS84, lonlat_to_xy, utm_crs_for, xy_to_lonlat
from geodata.region import Region
from geodata.speeds import DEFAULT_DETOUR_FACTOR, SpeedProfile
from geodata.vocabulary import GROUP_COLUMNS, LEVEL_ORDER


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and shape of a synthetic city.

    Attributes
    ----------
    seed
        Random seed: the same spec always gives the same city.
    width_km, height_km
        Extent of the city, km.
    street_spacing_m
        Mean distance between parallel streets, metres (the lattice step).
    arterial_every
        Every n-th street is an arterial (primary); collectors (secondary) halfway between.
    n_towns, communities_per_town
        Admin units (Dongguan: 33 towns/sub-districts/parks, ≈ 600 villages/communities).
    n_demand
        Demand points.
    population
        Total residents, persons.
    n_candidates
        Candidate sites.
    n_existing_care_centres, n_existing_meal_points, n_rescue_stations
        Existing facilities.
    n_incidents, n_hotspots
        Street-patrol sightings and the hotspots they gather around.
    centre_lon, centre_lat
        Where the synthetic city is placed (WGS-84 degrees); only fixes the UTM zone and the
        latitude for GCJ-02 tests, it does not make the city real.
    """

    seed: int = 0
    width_km: float = 5.0
    height_km: float = 5.0
    street_spacing_m: float = 100.0
    arterial_every: int = 10
    n_towns: int = 4
    communities_per_town: int = 5
    n_demand: int = 2_000
    population: float = 200_000.0
    n_candidates: int = 300
    n_existing_care_centres: int = 2
    n_existing_meal_points: int = 10
    n_rescue_stations: int = 1
    n_incidents: int = 400
    n_hotspots: int = 12
    centre_lon: float = 113.75
    centre_lat: float = 23.02
    removed_street_share: float = 0.08
    walk_only_share: float = 0.12


def mid_city_spec(seed: int = 0) -> SyntheticSpec:
    """A synthetic city the size of a mid-sized Chinese prefecture city's built-up area (e.g.
    Shaoguan, Zhaoqing or Jiangmen: ≈ 2.4 million residents on ≈ 300 km², 12 towns/sub-districts)."""
    return SyntheticSpec(
        seed=seed, width_km=18.0, height_km=16.0, street_spacing_m=110.0, arterial_every=9,
        n_towns=12, communities_per_town=10, n_demand=20_000, population=2_400_000.0,
        n_candidates=2_000, n_existing_care_centres=4, n_existing_meal_points=60,
        n_rescue_stations=2, n_incidents=800, n_hotspots=30,
    )


def dongguan_scale_spec(seed: int = 0) -> SyntheticSpec:
    """A synthetic city the size of Dongguan (≈ 2,500 km², ≈ 300k walk nodes)."""
    return SyntheticSpec(
        seed=seed, width_km=50.0, height_km=50.0, street_spacing_m=91.0, arterial_every=11,
        n_towns=33, communities_per_town=18, n_demand=200_000, population=10_500_000.0,
        n_candidates=20_000, n_existing_care_centres=5, n_existing_meal_points=300,
        n_rescue_stations=3, n_incidents=5_000, n_hotspots=120,
    )


def _lattice(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, LinkTable]:
    step = spec.street_spacing_m
    nx_ = max(int(round(spec.width_km * 1000 / step)) + 1, 2)
    ny_ = max(int(round(spec.height_km * 1000 / step)) + 1, 2)
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny_))
    ix, iy = ix.ravel(), iy.ravel()
    node = iy * nx_ + ix
    x = ix * step + rng.uniform(-0.25, 0.25, ix.size) * step
    y = iy * step + rng.uniform(-0.25, 0.25, iy.size) * step
    # horizontal links (along rows) and vertical links (along columns)
    h = node[ix < nx_ - 1]
    v = node[iy < ny_ - 1]
    u = np.concatenate([h, v])
    w = np.concatenate([h + 1, v + nx_])
    horizontal = np.concatenate([np.ones(len(h), bool), np.zeros(len(v), bool)])
    line_index = np.where(horizontal, u // nx_, u % nx_)  # row for horizontal, column for vertical
    art = spec.arterial_every
    highway = np.full(len(u), "residential", dtype=object)
    highway[line_index % art == art // 2] = "secondary"
    highway[line_index % art == 0] = "primary"
    local = highway == "residential"
    r = rng.random(len(u))
    removed = local & (r < spec.removed_street_share)
    footway = local & ~removed & (r < spec.removed_street_share + spec.walk_only_share)
    highway[footway] = "footway"
    # alternate one-way local rows for driving: even rows eastbound, odd rows westbound
    oneway = local & ~footway & horizontal & (line_index % 4 == 1)
    westbound = oneway & ((line_index // 4) % 2 == 1)
    u2, w2 = u.copy(), w.copy()
    u2[westbound], w2[westbound] = w[westbound], u[westbound]
    keep = ~removed
    u2, w2, highway, oneway = u2[keep], w2[keep], highway[keep], oneway[keep]
    maxspeed = np.where(highway == "primary", "60", np.where(highway == "secondary", "50", None)).astype(object)
    xy = np.column_stack([x, y])
    offsets = np.arange(0, 2 * len(u2) + 1, 2, dtype=np.int64)
    geom = np.empty((2 * len(u2), 2))
    geom[0::2] = xy[u2]
    geom[1::2] = xy[w2]
    length = np.hypot(*(xy[w2] - xy[u2]).T)
    names = np.array([f"{'E' if hz else 'N'}{li}路" for hz, li in zip(horizontal[keep], line_index[keep])], dtype=object)
    links = LinkTable(
        u=u2.astype(np.int64), v=w2.astype(np.int64), node_ids=node.astype(np.int64), node_xy=xy,
        geom_offsets=offsets, geom_xy=geom, length_m=length, highway=highway, maxspeed=maxspeed,
        name=names, oneway=oneway, crs="", source="synthetic",
    )
    return xy, links


def _voronoi(points: np.ndarray, clip: shapely.Geometry) -> list[shapely.Geometry]:
    if len(points) == 1:
        return [clip]
    diagram = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=clip.buffer(clip.length))
    cells = list(diagram.geoms)
    tree = shapely.STRtree(cells)
    out = []
    for p in shapely.points(points):
        hit = tree.query(p, predicate="intersects")
        out.append(cells[hit[0]].intersection(clip))
    return out


def synthetic_region(spec: SyntheticSpec = SyntheticSpec(), *, modes: tuple[str, ...] = ("walk", "drive"), network: bool = True) -> Region:
    """Generate the synthetic city described by ``spec`` (deterministic for its seed).

    ``network=False`` builds no streets: the region prices ``modes`` by straight-line distance ×
    1.3 at the standard speeds, as a region built with ``--no-network`` (and says so).  Everything
    else (units, demand, sites) is the same city as with streets, for the same seed.
    """
    rng = np.random.default_rng(spec.seed)
    crs = utm_crs_for(spec.centre_lon, spec.centre_lat)
    cx, cy = lonlat_to_xy(spec.centre_lon, spec.centre_lat, crs)
    origin = np.array([float(cx) - spec.width_km * 500, float(cy) - spec.height_km * 500])

    xy, links = _lattice(spec, rng)
    links.node_xy = links.node_xy + origin
    links.geom_xy = links.geom_xy + origin
    links.crs = crs
    networks = {}
    for mode in modes if network else ():
        if mode == "drive":
            mask = links.highway != "footway"
            sub = LinkTable(
                u=links.u[mask], v=links.v[mask], node_ids=links.node_ids, node_xy=links.node_xy,
                geom_offsets=np.arange(0, 2 * int(mask.sum()) + 1, 2, dtype=np.int64),
                geom_xy=links.geom_xy.reshape(-1, 2, 2)[mask].reshape(-1, 2), length_m=links.length_m[mask],
                highway=links.highway[mask], maxspeed=links.maxspeed[mask], name=links.name[mask],
                oneway=links.oneway[mask], crs=crs, source="synthetic",
            )
            networks[mode] = build_network(sub, mode, SpeedProfile(), simplify=True)
        else:
            networks[mode] = build_network(links, mode, SpeedProfile(), simplify=True)

    width, height = spec.width_km * 1000, spec.height_km * 1000
    box_m = shapely.box(origin[0], origin[1], origin[0] + width, origin[1] + height)

    # towns and communities
    town_xy = origin + rng.uniform([0.06 * width, 0.06 * height], [0.94 * width, 0.94 * height], (spec.n_towns, 2))
    town_cells = _voronoi(town_xy, box_m)
    unit_rows: list[dict[str, Any]] = [{"unit_id": "city-1", "name": "合成市 Synthetic City", "level": "city", "geometry": box_m}]
    for t, cell in enumerate(town_cells):
        unit_rows.append({"unit_id": f"town-{t + 1}", "name": f"合成镇{t + 1:02d}", "level": "town", "geometry": cell})
    community_count = 0
    for t, cell in enumerate(town_cells):
        minx, miny, maxx, maxy = cell.bounds
        seeds = []
        while len(seeds) < spec.communities_per_town:
            p = rng.uniform([minx, miny], [maxx, maxy], (4 * spec.communities_per_town, 2))
            inside = shapely.contains_xy(cell, p[:, 0], p[:, 1])
            seeds.extend(p[inside].tolist())
        for k, comm in enumerate(_voronoi(np.array(seeds[: spec.communities_per_town]), cell)):
            community_count += 1
            unit_rows.append({"unit_id": f"community-{community_count}", "name": f"合成镇{t + 1:02d}第{k + 1}社区", "level": "community", "geometry": comm})
    units_m = gpd.GeoDataFrame(unit_rows, geometry="geometry", crs=crs)
    units_m["parent_id"] = None
    units_m["zone_kind"] = "synthetic"
    units = units_m.to_crs(WGS84)[["unit_id", "name", "level", "parent_id", "zone_kind", "geometry"]]
    units = assign_parents(units, crs)

    # demand: a Gaussian population centre per town plus 10 % background
    weights = rng.gamma(2.0, 1.0, spec.n_towns)
    sigma = rng.uniform(0.08, 0.16, spec.n_towns) * min(width, height) / np.sqrt(spec.n_towns) * 2.5
    n_bg = spec.n_demand // 10
    which = rng.choice(spec.n_towns, size=spec.n_demand - n_bg, p=weights / weights.sum())
    pts = town_xy[which] + rng.normal(size=(len(which), 2)) * sigma[which, None]
    pts = np.vstack([pts, origin + rng.uniform([0, 0], [width, height], (n_bg, 2))])
    pts[:, 0] = np.clip(pts[:, 0], origin[0] + 1, origin[0] + width - 1)
    pts[:, 1] = np.clip(pts[:, 1], origin[1] + 1, origin[1] + height - 1)
    size = rng.gamma(3.0, 1.0, len(pts))
    pop_all = size / size.sum() * spec.population
    share60 = np.clip(rng.normal(0.12, 0.04, spec.n_towns), 0.04, 0.3)
    town_of_pt = np.concatenate([which, rng.integers(0, spec.n_towns, n_bg)])
    pop_60 = pop_all * share60[town_of_pt] * rng.uniform(0.7, 1.3, len(pts))
    lon, lat = xy_to_lonlat(pts[:, 0], pts[:, 1], crs)
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{i + 1}" for i in range(len(pts))], "pop_all": pop_all, "pop_60": pop_60,
         "pop_80": pop_60 * rng.uniform(0.1, 0.2, len(pts)), "pop_alone": pop_60 * rng.uniform(0.08, 0.16, len(pts)),
         "source_kind": "synthetic", "estimate": False},
        geometry=gpd.points_from_xy(lon, lat), crs=WGS84,
    )

    # sites
    def near_people(n: int, jitter: float) -> np.ndarray:
        idx = rng.choice(len(pts), size=n, p=pop_all / pop_all.sum())
        p = pts[idx] + rng.normal(size=(n, 2)) * jitter
        p[:, 0] = np.clip(p[:, 0], origin[0] + 1, origin[0] + width - 1)
        p[:, 1] = np.clip(p[:, 1], origin[1] + 1, origin[1] + height - 1)
        return p

    site_rows = []
    care_towns = rng.choice(spec.n_towns, size=min(spec.n_existing_care_centres, spec.n_towns), replace=False)
    for k, t in enumerate(care_towns):
        site_rows.append(("existing", "care_centre", f"合成镇{t + 1:02d}居家社区养老服务中心", town_xy[t] + rng.normal(size=2) * 100, 200.0))
    for k, p in enumerate(near_people(spec.n_existing_meal_points, 150.0)):
        site_rows.append(("existing", "meal_point", f"现有助餐点{k + 1}", p, 80.0))
    for k in range(spec.n_rescue_stations):
        site_rows.append(("existing", "rescue_station", f"救助管理站{k + 1}", town_xy[k % spec.n_towns] + rng.normal(size=2) * 200, np.nan))
    for k, p in enumerate(near_people(spec.n_candidates, 200.0)):
        site_rows.append(("candidate", "meal_point" if k % 3 else "care_centre", f"候选点{k + 1}", p, float(rng.choice([60, 80, 120, 200]))))
    sxy = np.array([r[3] for r in site_rows])
    slon, slat = xy_to_lonlat(sxy[:, 0], sxy[:, 1], crs)
    sites = gpd.GeoDataFrame(
        {"site_id": [f"s{i + 1}" for i in range(len(site_rows))], "name": [r[2] for r in site_rows],
         "type": [r[1] for r in site_rows], "status": [r[0] for r in site_rows],
         "capacity": [r[4] for r in site_rows], "cost": rng.uniform(0.5, 2.0, len(site_rows)).round(2), "source": "synthetic"},
        geometry=gpd.points_from_xy(slon, slat), crs=WGS84,
    )

    # incidents around hotspots, mostly at night
    hot = near_people(spec.n_hotspots, 300.0)
    hw = rng.gamma(1.5, 1.0, spec.n_hotspots)
    which_hot = rng.choice(spec.n_hotspots, size=spec.n_incidents, p=hw / hw.sum())
    ip = hot[which_hot] + rng.normal(size=(spec.n_incidents, 2)) * 40.0
    ilon, ilat = xy_to_lonlat(ip[:, 0], ip[:, 1], crs)
    hours = (rng.normal(23.5, 2.0, spec.n_incidents) % 24.0)
    days = rng.integers(0, 365, spec.n_incidents)
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D") + pd.to_timedelta(hours * 3600, unit="s").round("min")
    incidents = gpd.GeoDataFrame({"incident_id": [f"i{i + 1}" for i in range(spec.n_incidents)], "time": times}, geometry=gpd.points_from_xy(ilon, ilat), crs=WGS84)

    for frame in (demand, sites, incidents):
        tags = tag_points(frame, units)
        for level in LEVEL_ORDER:
            if level in tags:
                frame[level] = tags[level].to_numpy()
    boundary = shapely.Polygon(np.column_stack(xy_to_lonlat(*np.asarray(box_m.exterior.coords).T, crs)))
    name = f"Synthetic city {spec.width_km:g}×{spec.height_km:g} km (seed {spec.seed})"
    return Region(
        name=name, crs=crs, boundary=boundary, units=units, demand=demand, sites=sites, networks=networks,
        layers={"incidents": incidents},
        provenance={"kind": "synthetic", "spec": asdict(spec), "population": {"kind": "synthetic", "estimate": False, "groups": list(GROUP_COLUMNS)},
                    "travel": {"kind": "network", "modes": sorted(networks)} if network else {
                        "kind": "straight-line", "modes": sorted(modes), "detour_factor": DEFAULT_DETOUR_FACTOR,
                        "speed_mps": {m: round(SpeedProfile().straight_line_mps(m), 4) for m in modes}}},
    )
