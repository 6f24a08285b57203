"""Example input files in a civil-affairs bureau's own format, from a synthetic city (labelled so).

A bureau's files rarely look like a GIS course's: town boundaries traced on Amap (GCJ-02 numbers
under a CRS84 label), population per point in a GBK CSV with short or Chinese headers, a list of
existing centres with no status column, a list of candidate sites.  :func:`write_bureau_files`
writes exactly such files for a seeded synthetic city placed in China, so that the whole
"your own city" path (``planner region build --no-network …``, ``planner plan …``) can be tried,
tested and benchmarked without anyone's real data.  Every name in them says 合成 (synthetic) and a
README in the folder says what they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.chinacoords import from_wgs84, geometries_from_wgs84, normalise_coord_system
from geodata.projection import lonlat_to_xy, xy_to_lonlat
from geodata.region import Region
from geodata.synthetic import SyntheticSpec, synthetic_region

CRS84 = "urn:ogc:def:crs:OGC:1.3:CRS84"


def china_city_spec(seed: int = 0) -> SyntheticSpec:
    """A 33-town synthetic city of 24 × 24 km placed at Dongguan's latitude (not Dongguan)."""
    return SyntheticSpec(
        seed=seed, width_km=24.0, height_km=24.0, street_spacing_m=150.0, n_towns=33, communities_per_town=4,
        n_demand=6_000, population=3_000_000.0, n_candidates=600, n_existing_care_centres=5, n_existing_meal_points=60,
        n_rescue_stations=2, n_incidents=500, n_hotspots=20, centre_lon=113.75, centre_lat=23.02,
    )


def _feature_collection(frame: gpd.GeoDataFrame, coords: str) -> dict:
    """GeoJSON whose numbers are in ``coords`` but whose CRS says CRS84, as Amap/Baidu exports are."""
    geoms = geometries_from_wgs84(frame.geometry.to_numpy(), coords)
    features = []
    for (_, row), geom in zip(frame.drop(columns="geometry").iterrows(), geoms):
        features.append({"type": "Feature", "properties": {k: (None if pd.isna(v) else v) for k, v in row.items()},
                         "geometry": shapely.geometry.mapping(shapely.set_precision(geom, 1e-7))})
    return {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": CRS84}}, "features": features}


def _points_table(frame: gpd.GeoDataFrame, coords: str) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = from_wgs84(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), coords)
    return np.round(lon, 6), np.round(lat, 6)


def _extra_candidates(region: Region, per_town: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``per_town`` candidate sites in every town, placed where its residents live."""
    rows = []
    towns = region.units_at("town")
    demand = region.demand
    for _, town in towns.iterrows():
        mine = demand[demand["town"] == town["unit_id"]]
        if mine.empty:
            continue
        picks = rng.choice(len(mine), size=per_town, p=(mine["pop_60"] / mine["pop_60"].sum()).to_numpy())
        x, y = lonlat_to_xy(mine.geometry.x.to_numpy()[picks], mine.geometry.y.to_numpy()[picks], region.crs)
        for k in range(per_town):
            for _ in range(50):  # a few tens of metres off the home point, inside the town
                dx, dy = rng.normal(size=2) * 60.0
                lon, lat = xy_to_lonlat(x[k] + dx, y[k] + dy, region.crs)
                if town.geometry.contains(shapely.Point(float(lon), float(lat))):
                    break
            else:
                lon, lat = mine.geometry.x.to_numpy()[picks[k]], mine.geometry.y.to_numpy()[picks[k]]
            rows.append({"name": f"{town['name']}候选点{k + 1}", "town": town["name"], "geometry": shapely.Point(float(lon), float(lat))})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=region.units.crs)


def write_bureau_files(folder: str | Path, spec: SyntheticSpec | None = None, *, coords: str = "gcj02",
                       encoding: str = "gbk") -> dict[str, Path]:
    """Write a synthetic city's boundaries, population and sites as a bureau would hand them over.

    Parameters
    ----------
    folder
        Output folder (created).
    spec
        The synthetic city (default :func:`china_city_spec`: 33 towns, 6,000 demand points).
    coords
        The system every file's numbers are written in (default ``gcj02``, as traced on Amap);
        the GeoJSON still *says* CRS84, as such exports do.
    encoding
        Encoding of the CSV files (default ``gbk``, as Chinese Excel saves CSV).

    Returns
    -------
    dict
        ``towns``, ``demand``, ``existing``, ``candidates``, ``stations``, ``patrol_spots``, ``readme``
        → path.  ``demand.csv`` has
        the columns ``lon,lat,town,pop,pop60`` (persons; the town each point truly lies in);
        ``existing.csv`` (existing home-care centres, no status column) and ``candidates.csv``
        have ``名称,经度,纬度,镇街`` plus ``床位`` (beds) or ``造价`` (cost, 10,000 yuan).
    """
    coords = normalise_coord_system(coords)
    spec = spec or china_city_spec()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    region = synthetic_region(spec, network=False)
    rng = np.random.default_rng(spec.seed + 1)
    names = dict(zip(region.units["unit_id"], region.units["name"]))

    towns = region.units_at("town")[["name", "geometry"]].assign(level="镇街").reset_index(drop=True)
    towns_path = folder / "towns.geojson"
    towns_path.write_text(json.dumps(_feature_collection(towns, coords), ensure_ascii=False), encoding="utf-8")

    demand = region.demand
    lon, lat = _points_table(demand, coords)
    demand_table = pd.DataFrame({"lon": lon, "lat": lat, "town": demand["town"].map(names),
                                 "pop": demand["pop_all"].round().astype(int), "pop60": demand["pop_60"].round().astype(int)})
    demand_path = folder / "demand.csv"
    demand_table.to_csv(demand_path, index=False, encoding=encoding)

    sites = region.sites
    existing = sites[(sites["type"] == "care_centre") & (sites["status"] == "existing")]
    lon, lat = _points_table(existing, coords)
    existing_path = folder / "existing.csv"
    pd.DataFrame({"名称": existing["name"].to_numpy(), "经度": lon, "纬度": lat, "镇街": existing["town"].map(names).to_numpy(),
                  "床位": existing["capacity"].round().astype(int).to_numpy()}).to_csv(existing_path, index=False, encoding=encoding)

    listed = sites[(sites["type"] == "care_centre") & (sites["status"] == "candidate")][["name", "geometry"]].copy()
    listed["town"] = sites.loc[listed.index, "town"].map(names)
    candidates = pd.concat([listed, _extra_candidates(region, 2, rng)], ignore_index=True)
    candidates = gpd.GeoDataFrame(candidates, geometry="geometry", crs=region.units.crs)
    lon, lat = _points_table(candidates, coords)
    candidates_path = folder / "candidates.csv"
    pd.DataFrame({"名称": candidates["name"].to_numpy(), "经度": lon, "纬度": lat, "镇街": candidates["town"].to_numpy(),
                  "造价": rng.choice([80, 120, 150, 200], size=len(candidates))}).to_csv(candidates_path, index=False, encoding=encoding)

    stations = sites[sites["type"] == "rescue_station"]
    lon, lat = _points_table(stations, coords)
    stations_path = folder / "stations.csv"
    pd.DataFrame({"名称": [f"合成市救助管理站{k + 1}" for k in range(len(stations))], "经度": lon, "纬度": lat}).to_csv(
        stations_path, index=False, encoding=encoding)

    incidents = region.layers["incidents"]
    incidents = incidents[incidents.within(region.boundary.buffer(-0.0005))].reset_index(drop=True)  # clear of the edge
    centres = incidents.head(30)  # a spot where each of the first 30 sightings was
    kinds = ["桥底", "火车站", "公园", "市场", "地下通道", "汽车站"]
    lon, lat = _points_table(centres, coords)
    spots_path = folder / "patrol_spots.csv"
    pd.DataFrame({"名称": [f"合成巡查点{k + 1}" for k in range(len(centres))], "经度": lon, "纬度": lat,
                  "类别": [kinds[k % len(kinds)] for k in range(len(centres))], "优先级": [5 - (k % 5) for k in range(len(centres))]}).to_csv(
        spots_path, index=False, encoding=encoding)

    readme = folder / "README.txt"
    readme.write_text(
        "合成数据 SYNTHETIC DATA — not a real place.\n"
        f"A seeded synthetic city (seed {spec.seed}, {spec.n_towns} towns, {spec.width_km:g} × {spec.height_km:g} km) placed at "
        f"{spec.centre_lon:.2f}E {spec.centre_lat:.2f}N, written as a civil-affairs bureau's files:\n"
        f"  towns.geojson   town boundaries, numbers in {coords.upper()} although the file says CRS84\n"
        f"  demand.csv      population per point ({encoding.upper()}): lon,lat,town,pop,pop60 ({coords.upper()})\n"
        f"  existing.csv    existing home-care centres, no status column ({coords.upper()})\n"
        f"  candidates.csv  candidate sites ({coords.upper()})\n"
        f"  stations.csv    relief stations (救助管理站), no status column ({coords.upper()})\n"
        f"  patrol_spots.csv  patrol spots with kind (类别) and priority (优先级) ({coords.upper()})\n",
        encoding="utf-8",
    )
    return {"towns": towns_path, "demand": demand_path, "existing": existing_path, "candidates": candidates_path,
            "stations": stations_path, "patrol_spots": spots_path, "readme": readme}

