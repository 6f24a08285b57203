"""Street patrols (街面巡查救助) on the road network: which stops each team visits, when, and by which streets.

:func:`plan_patrols` takes a Region, a table of stops (hotspots, stations, underpasses, parks …
with priority, service minutes, time windows, required flag and supply load), the depots (relief
stations) and the teams (count, mode, shift, maximum duration, capacity), prices every leg on the
region's network with :mod:`planner.travel.costs`, and routes with PyVRP (:mod:`planner.routing.vrp`):

1. every *required* stop is visited (otherwise :class:`~planner.location.problem.InfeasibleProblem` names
   the stop and why);
2. among optional stops, the most priority is collected within the shifts (prize-collecting);
3. then the least travel time.

Stops that cannot be served are listed with the reason: unreachable on the network, outside
every shift, over every team's capacity, or left out because time ran short (lowest priority
first).  Campaigns (夏日送清凉 / 寒冬送温暖) add their stop kinds and supply loads
(:func:`apply_campaign`).

Times of day are ``"HH:MM"`` strings or minutes after midnight; a time earlier than the earliest
shift start belongs to the next day (a night shift 20:00–02:00 ends at 26:00).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geodata.projection import WGS84, lonlat_to_xy, xy_to_lonlat
from geodata.region import Region
from geodata.vocabulary import CAMPAIGN_NAMES, COST_KINDS, PATROL_STOP_KINDS, TEAM_MODES
from planner.travel.costs import NetworkCosts, StraightLineCosts
from planner.location.problem import InfeasibleProblem
from planner.reasons import NO_REASON, Reason, joined
from planner.travel.region import points_xy, travel_engine
from planner.routing.vrp import Fleet, RoutingProblem, solve_routes

Mode = Literal["walk", "ebike", "van"]
MODE_NETWORK: dict[str, str] = {"walk": "walk", "ebike": "walk", "van": "drive"}
"""Which network each team mode travels on."""
MODE_SPEED_MPS: dict[str, float | None] = {"walk": 1.2, "ebike": 15 / 3.6, "van": None}
"""Patrol speeds, metres per second: staff walking 1.2 m/s (not the elderly 0.9 m/s), e-bikes
15 km/h on the walking network, vans at the drive network's priced road speeds (``None``)."""
DEFAULT_SERVICE_MIN = 10.0
"""Minutes spent at a stop when the table does not say (look, talk, hand over supplies)."""
MAX_OUTSIDE_M = 200.0
"""A stop or depot farther than this outside the region boundary is refused, metres."""

_CLOCK = re.compile(r"^\s*(\d{1,2})[:：](\d{2})\s*$")


def parse_clock(value: Any, what: str) -> float:
    """``"20:30"`` (or minutes after midnight as a number) → minutes after midnight."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not (isinstance(value, float) and math.isnan(value)):
        minutes = float(value)
        if not 0 <= minutes <= 2 * 1440:
            raise ValueError(f"{what}: {value} minutes is not a time of day")
        return minutes
    match = _CLOCK.match(str(value))
    if not match:
        raise ValueError(f"{what}: {value!r} is not a time of day (write HH:MM, e.g. 20:30)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"{what}: {value!r} is not a time of day")
    return hours * 60.0 + minutes


def clock(minutes: float) -> str:
    """Minutes after the first day's midnight → ``"HH:MM"`` (``"+1"`` marks the next day)."""
    total = int(round(minutes))
    day, rest = divmod(total, 1440)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return text + (f" (+{day})" if day else "")


@dataclass(frozen=True)
class Team:
    """A group of identical patrol teams.

    Attributes
    ----------
    name
        Label, e.g. ``"夜巡队"``; teams are numbered 1..count after it.
    depot
        Name of the depot (relief station) they start from and return to.
    count
        How many teams of this kind (≥ 1).
    mode
        ``"walk"``, ``"ebike"`` or ``"van"``.
    shift
        ``(start, end)`` times of day (``"20:00"``, ``"02:00"``); an end before the start is the
        next day.
    max_duration_min
        Longest route, minutes (default: the shift).
    capacity
        Supplies a team carries in campaigns (``None``: no limit).
    """

    name: str
    depot: str
    count: int = 1
    mode: Mode = "walk"
    shift: tuple[Any, Any] = ("20:00", "02:00")
    max_duration_min: float | None = None
    capacity: int | None = None


@dataclass(frozen=True)
class Campaign:
    """A seasonal campaign: extra stop kinds and the supplies each stop needs.

    Attributes
    ----------
    key
        ``"heat"`` (夏日送清凉) or ``"cold"`` (寒冬送温暖).
    added_kinds
        Stop kinds (see :data:`geodata.vocabulary.PATROL_STOP_KINDS`) the campaign adds.
    supplies_per_person
        Supply packs per person expected at a stop (water and cooling kits; quilts, coats, hot food).
    extra_service_min
        Extra minutes per stop to hand over supplies and check health.
    added_priority
        Priority of the stops the campaign adds (1–5).
    """

    key: str
    added_kinds: tuple[str, ...]
    supplies_per_person: int
    extra_service_min: float
    added_priority: int = 2

    @property
    def names(self) -> dict[str, str]:
        """Chinese and English names."""
        return CAMPAIGN_NAMES[self.key]


CAMPAIGNS: dict[str, Campaign] = {
    "heat": Campaign("heat", ("park", "marketplace", "bridge", "underpass", "drinking_water"), supplies_per_person=2, extra_service_min=5.0),
    "cold": Campaign("cold", ("shelter", "bridge", "underpass", "station", "bus_station", "place_of_worship", "toilets"), supplies_per_person=3, extra_service_min=5.0),
}
"""Heat waves: people outdoors at parks, markets, bridges and underpasses get water and cooling
kits; cold snaps: shelters, bridges, underpasses, stations and other places people sleep get
quilts, coats and hot food."""


def apply_campaign(stops: gpd.GeoDataFrame, spots: gpd.GeoDataFrame | None, campaign: Campaign | str) -> gpd.GeoDataFrame:
    """Stops for a campaign: the given stops plus the campaign's kinds from ``spots``, with loads.

    Each stop's ``load`` becomes ``supplies_per_person × persons`` (``persons`` column, default 1)
    and its service time grows by the campaign's extra minutes.  Spots already among the stops
    (same ``spot_id`` or name) are not added twice.
    """
    if isinstance(campaign, str):
        if campaign not in CAMPAIGNS:
            raise ValueError(f"campaign must be one of {', '.join(CAMPAIGNS)}, not {campaign!r}")
        campaign = CAMPAIGNS[campaign]
    out = stops.copy()
    if spots is not None and len(spots):
        extra = spots[spots["kind"].isin(campaign.added_kinds)].copy()
        known_ids = set(out.get("spot_id", pd.Series(dtype=str)).dropna().astype(str))
        known_names = set(out["name"].astype(str))
        if "spot_id" in extra:
            extra = extra[~extra["spot_id"].astype(str).isin(known_ids)]
        extra = extra[~extra["name"].astype(str).isin(known_names)]
        extra["priority"] = campaign.added_priority
        extra["required"] = False
        keep = [c for c in ("spot_id", "name", "kind", "priority", "required", "geometry") if c in extra]
        out = pd.concat([out, extra[keep]], ignore_index=True)
        out = gpd.GeoDataFrame(out, geometry="geometry", crs=stops.crs or WGS84)
    persons = pd.to_numeric(out["persons"], errors="coerce").fillna(1.0) if "persons" in out else pd.Series(1.0, index=out.index)
    out["load"] = np.maximum(1, np.rint(persons.to_numpy() * campaign.supplies_per_person)).astype(int)
    service = pd.to_numeric(out["service_min"], errors="coerce").fillna(DEFAULT_SERVICE_MIN) if "service_min" in out else pd.Series(DEFAULT_SERVICE_MIN, index=out.index)
    out["service_min"] = service + campaign.extra_service_min
    out["priority"] = pd.to_numeric(out.get("priority", 1), errors="coerce").fillna(1).astype(int)
    out["required"] = out["required"].fillna(False).astype(bool) if "required" in out else False
    out.attrs["campaign"] = campaign.key
    return out


KIND_PRIORITY: dict[str, int] = {
    "reported": 5, "hotspot": 5, "station": 5, "underpass": 5, "bridge": 4, "bus_station": 4, "shelter": 4,
    "park": 3, "marketplace": 3, "subway_entrance": 3, "place_of_worship": 2, "toilets": 2, "drinking_water": 1,
}
"""Default priority (1–5) of a stop by kind, when records give none: stations, underpasses and
bridges first (where people sleep rough most often), then parks and markets."""


def stops_from_spots(spots: gpd.GeoDataFrame, *, limit: int | None = None, kinds: tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
    """Patrol stops from candidate spots (e.g. the region's ``patrol_spots`` layer).

    Priorities are the spots' own ``priority`` where given, else from :data:`KIND_PRIORITY`; with
    ``limit``, the highest-priority spots are kept (ties by ``spot_id``, so the choice is stable).
    """
    if kinds is not None:
        spots = spots[spots["kind"].isin(kinds)]
    out = spots.copy()
    by_kind = out["kind"].map(KIND_PRIORITY).fillna(1)
    given = pd.to_numeric(out["priority"], errors="coerce") if "priority" in out else pd.Series(np.nan, index=out.index)
    out["priority"] = given.fillna(by_kind).round().astype(int)  # a bureau's own priority wins over the kind's
    out["service_min"] = DEFAULT_SERVICE_MIN
    out["required"] = False
    out = out.sort_values(["priority", "spot_id"], ascending=[False, True])
    if limit is not None:
        out = out.head(limit)
    return out.reset_index(drop=True)


def with_added_stops(stops: gpd.GeoDataFrame, names: list[str], lon: ArrayLike, lat: ArrayLike, *,
                     service_min: ArrayLike | float = DEFAULT_SERVICE_MIN, required: bool = True) -> gpd.GeoDataFrame:
    """``stops`` plus stops added for one shift (WGS-84 degrees), e.g. a person reported sleeping
    rough by a hotline call: kind ``reported``, the highest priority, ``required`` by default (the
    plan then visits them or says why it cannot), ``service_min`` minutes at each.

    Raises ValueError naming the stop when a name is empty or repeats a stop already there.
    """
    lon, lat = np.asarray(lon, dtype=float).ravel(), np.asarray(lat, dtype=float).ravel()
    if not (len(names) == len(lon) == len(lat)):
        raise ValueError(f"added stops: {len(names)} names for {len(lon)} longitudes and {len(lat)} latitudes")
    if not len(names):
        return stops
    known = set(stops["name"].astype(str)) if len(stops) else set()
    for k, name in enumerate(names):
        if not str(name).strip():
            raise ValueError(f"added stop {k + 1} has no name")
        if str(name) in known:
            raise ValueError(f"added stop '{name}' has the name of a stop already on the round")
        known.add(str(name))
        if not (np.isfinite(lon[k]) and np.isfinite(lat[k]) and -180 <= lon[k] <= 180 and -90 <= lat[k] <= 90):
            raise ValueError(f"added stop '{name}' has no valid longitude/latitude")
    added = gpd.GeoDataFrame({
        "spot_id": [f"added-{k + 1}" for k in range(len(names))], "name": [str(n) for n in names], "kind": "reported",
        "priority": KIND_PRIORITY["reported"], "service_min": np.broadcast_to(np.asarray(service_min, dtype=float), len(names)).copy(),
        "required": bool(required),
    }, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    out = pd.concat([stops, added], ignore_index=True) if len(stops) else added
    return gpd.GeoDataFrame(out, geometry="geometry", crs=stops.crs or WGS84)


def hotspot_stops(hotspots: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    """Patrol stops from :func:`planner.routing.hotspots.find_hotspots` output (metric ``x``/``y`` in ``crs``).

    Each hotspot keeps its priority and its time window; ``persons`` (for campaign supplies) is
    the average number of cases per month over its active period, at least 1.
    """
    lon, lat = xy_to_lonlat(hotspots["x"].to_numpy(), hotspots["y"].to_numpy(), crs)
    months = ((hotspots["last_seen"] - hotspots["first_seen"]).dt.days / 30.4).clip(lower=1.0)
    return gpd.GeoDataFrame({
        "spot_id": [f"hotspot-{h + 1}" for h in hotspots["hotspot"]],
        "name": [f"热点{h + 1} / hotspot {h + 1}" for h in hotspots["hotspot"]],
        "kind": "hotspot",
        "priority": hotspots["priority"].astype(int).to_numpy(),
        "service_min": DEFAULT_SERVICE_MIN,
        "window_start": hotspots["window_start_min"].round().to_numpy(),
        "window_end": np.minimum(hotspots["window_end_min"].round().to_numpy(), 2 * 1440),
        "required": False,
        "cases": hotspots["cases"].to_numpy(),
        "persons": np.maximum(1, np.round(hotspots["cases"].to_numpy() / months.to_numpy())).astype(int),
    }, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


# ---------------------------------------------------------------------------- results
@dataclass
class PatrolRoute:
    """One team's round: ordered stops with times (minutes after the first midnight), road path."""

    team: str
    mode: str
    depot: str
    stops: pd.DataFrame
    legs: list[NDArray[np.float64]]
    leg_minutes: list[float]
    leg_metres: list[float]
    departure_min: float
    return_min: float
    load: int

    @property
    def travel_min(self) -> float:
        """Minutes on the move."""
        return float(sum(self.leg_minutes))

    @property
    def distance_m(self) -> float:
        """Metres travelled."""
        return float(sum(self.leg_metres))


@dataclass
class PatrolPlan:
    """Routes for all teams, the stops left out with reasons, and a summary."""

    region: str
    crs: str
    routes: list[PatrolRoute]
    depots: gpd.GeoDataFrame
    unserved: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def stops_frame(self) -> gpd.GeoDataFrame:
        """Every visit as a WGS-84 point: team, order, stop, arrival/departure clock times."""
        frames = [r.stops.assign(team=r.team, mode=r.mode) for r in self.routes if len(r.stops)]
        if not frames:
            return gpd.GeoDataFrame(columns=["team", "order", "name", "geometry"], geometry="geometry", crs=WGS84)
        table = pd.concat(frames, ignore_index=True)
        lon, lat = xy_to_lonlat(table["x"].to_numpy(), table["y"].to_numpy(), self.crs)
        return gpd.GeoDataFrame(table.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(lon, lat), crs=WGS84)

    def legs_frame(self) -> gpd.GeoDataFrame:
        """Every leg as a WGS-84 line along the roads: team, leg number, from, to, minutes, metres."""
        rows, geoms = [], []
        for r in self.routes:
            names = [r.depot] + r.stops["name"].tolist() + [r.depot]
            for k, (coords, minutes, metres) in enumerate(zip(r.legs, r.leg_minutes, r.leg_metres)):
                lon, lat = xy_to_lonlat(coords[:, 0], coords[:, 1], self.crs)
                geoms.append(shapely.linestrings(np.column_stack([lon, lat])) if len(coords) > 1 else shapely.Point(lon[0], lat[0]))
                rows.append({"team": r.team, "mode": r.mode, "leg": k + 1, "from": names[k], "to": names[k + 1],
                             "minutes": round(minutes, 1), "metres": round(metres, 1)})
        return gpd.GeoDataFrame(rows, geometry=geoms, crs=WGS84) if rows else gpd.GeoDataFrame(columns=["team", "leg", "geometry"], geometry="geometry", crs=WGS84)

    def to_geojson(self) -> dict[str, Any]:
        """One FeatureCollection: depots, visits (points) and legs (lines), WGS-84."""
        import json

        features: list[dict] = []
        for frame, layer in ((self.depots, "depot"), (self.stops_frame(), "stop"), (self.legs_frame(), "leg")):
            if len(frame):
                data = json.loads(frame.assign(layer=layer).to_json(drop_id=True))
                features += data["features"]
        return {"type": "FeatureCollection", "features": features, "properties": self.summary}

    def gpx_tracks(self) -> list[dict[str, Any]]:
        """Plain data for GPX: per team a track (lon, lat) and numbered waypoints with times."""
        tracks = []
        stops = self.stops_frame()
        legs = self.legs_frame()
        for r in self.routes:
            lines = legs[legs["team"] == r.team].geometry
            coords: list[tuple[float, float]] = []
            for g in lines:
                for xy in np.asarray(g.coords):
                    if not coords or (abs(coords[-1][0] - xy[0]) > 1e-12 or abs(coords[-1][1] - xy[1]) > 1e-12):
                        coords.append((float(xy[0]), float(xy[1])))
            mine = stops[stops["team"] == r.team]
            waypoints = [
                {"name": f"{int(row.order)}. {row['name']}", "lon": float(row.geometry.x), "lat": float(row.geometry.y),
                 "description": f"{row['arrival']}–{row['departure']}", "minutes": float(row["arrival_min"])}
                for _, row in mine.iterrows()
            ]
            tracks.append({"name": f"{r.team} ({r.depot})", "points": coords, "waypoints": waypoints})
        return tracks

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plan: summary, per-team stop lists, unserved stops with reasons."""
        teams = []
        for r in self.routes:
            teams.append({
                "team": r.team, "mode": r.mode, "depot": r.depot, "departure": clock(r.departure_min), "return": clock(r.return_min),
                "travel_min": round(r.travel_min, 1), "distance_m": round(r.distance_m, 1), "load": r.load,
                "stops": r.stops.drop(columns=["x", "y"]).to_dict("records"),
            })
        return {"summary": self.summary, "teams": teams, "unserved": self.unserved.to_dict("records")}


# ---------------------------------------------------------------------------- inputs
def _column(frame: pd.DataFrame, name: str, default: Any) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index)


def _inside(region: Region, frame: gpd.GeoDataFrame, what: str) -> NDArray[np.float64]:
    """Metric coordinates of WGS-84 points, refusing points outside the region (naming the first)."""
    if frame.crs is not None and not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
    if frame.geometry.isna().any() or frame.geometry.is_empty.any():
        k = int(np.flatnonzero((frame.geometry.isna() | frame.geometry.is_empty).to_numpy())[0])
        raise ValueError(f"{what} '{frame.iloc[k].get('name', k)}' (row {k}) has no location")
    xy = points_xy(frame, region.crs)
    outline = shapely.transform(region.boundary, lambda c: np.column_stack(lonlat_to_xy(c[:, 0], c[:, 1], region.crs)))
    far = shapely.distance(outline, shapely.points(xy)) > MAX_OUTSIDE_M
    if far.any():
        k = int(np.flatnonzero(far)[0])
        raise ValueError(f"{what} '{frame.iloc[k].get('name', k)}' (row {k}) lies outside the region '{region.name}'")
    return xy


MAX_SHIFT_H = 16.0
"""Longest shift accepted, hours: a longer one is almost always mistyped times (08:00–06:00)."""


def _shift_minutes(team: Team, anchor: float) -> tuple[float, float]:
    """A team's shift on the plan's timeline (minutes); an end at or before the start is the next day
    (an overnight shift, shown as "02:00 (+1)"), and a shift over :data:`MAX_SHIFT_H` is refused."""
    start = parse_clock(team.shift[0], f"team '{team.name}' shift start")
    end = parse_clock(team.shift[1], f"team '{team.name}' shift end")
    if start < anchor:
        start += 1440
    if end <= start:
        end += 1440
    hours = (end - start) / 60
    if hours > MAX_SHIFT_H:
        overnight = " overnight" if parse_clock(team.shift[1], "") <= parse_clock(team.shift[0], "") else ""
        raise ValueError(f"team '{team.name}': the shift {team.shift[0]}–{team.shift[1]} would last {hours:g} h{overnight}; "
                         f"shifts over {MAX_SHIFT_H:g} h are refused (check the start and end times)")
    return start, end


def _on_timeline(minutes: float, anchor: float) -> float:
    return minutes + 1440 if minutes < anchor else minutes


def _travel(region: Region, mode: str, xy: NDArray[np.float64]) -> tuple[NDArray, NDArray, NetworkCosts | StraightLineCosts, NDArray[np.bool_]]:
    """Duration (seconds) and distance (metres) matrices for one team mode; snap-too-far flags.

    On a region without a road network, distances are straight-line × the region's detour
    factor and vans drive at its standard straight-line drive speed.
    """
    net_mode = MODE_NETWORK[mode]
    try:
        kind = region.cost_kind(net_mode)
    except ValueError:
        raise ValueError(f"teams with mode '{mode}' need {net_mode} travel, and region '{region.name}' cannot price it") from None
    length_costs = travel_engine(region, net_mode, xy, weight="length")
    metres = length_costs.matrix(None, None)
    speed = MODE_SPEED_MPS[mode]
    if speed is not None:
        seconds = metres / speed
    elif kind == "network":
        seconds = travel_engine(region, net_mode, xy, weight="time", index=length_costs.index).matrix(None, None)  # type: ignore[union-attr]
    else:
        seconds = metres / region.straight_line(net_mode)[1]
    too_far = length_costs.snap.too_far if isinstance(length_costs, NetworkCosts) else np.zeros(len(xy), bool)
    return seconds, metres, length_costs, too_far


def plan_patrols(
    region: Region,
    stops: gpd.GeoDataFrame,
    depots: gpd.GeoDataFrame,
    teams: list[Team],
    *,
    time_limit: float = 10.0,
    seed: int = 0,
) -> PatrolPlan:
    """Plan one patrol shift (see the module docstring).

    Parameters
    ----------
    region
        The region whose networks are used.
    stops
        WGS-84 points with ``name`` and optionally ``kind``, ``priority`` (1–5),
        ``service_min`` (minutes), ``window_start``/``window_end`` (HH:MM), ``required``,
        ``load`` (supplies).
    depots
        WGS-84 points with ``name`` (relief stations).
    teams
        The teams (:class:`Team`).
    time_limit
        Seconds for the routing search.
    seed
        Random seed (same seed, same plan unless the time limit cut the search).

    Raises
    ------
    ValueError
        Bad input, naming the field or the stop: no teams, unknown depot, stop outside the
        region, window that ends before it starts.
    InfeasibleProblem
        A required stop cannot be served (named, with the reason).
    """
    if not teams:
        raise ValueError("teams: no patrol teams given (at least one is needed)")
    if len(stops) == 0:
        raise ValueError("stops: no patrol stops given")
    if len(depots) == 0:
        raise ValueError("depots: no depot (relief station) given")
    if "name" not in stops or "name" not in depots:
        raise ValueError("stops and depots need a 'name' column")
    depot_names = depots["name"].astype(str).tolist()
    for t in teams:
        if t.mode not in MODE_NETWORK:
            raise ValueError(f"team '{t.name}': mode must be one of {', '.join(MODE_NETWORK)}, not {t.mode!r}")
        if t.depot not in depot_names:
            raise ValueError(f"team '{t.name}': depot '{t.depot}' is not among the depots ({', '.join(depot_names)})")
        if t.count < 1:
            raise ValueError(f"team '{t.name}': count must be at least 1")
        if t.capacity is not None and t.capacity < 0:
            raise ValueError(f"team '{t.name}': capacity must be ≥ 0")
    stops = stops.reset_index(drop=True)
    depots = depots.reset_index(drop=True)
    depot_xy = _inside(region, depots, "depot")
    stop_xy = _inside(region, stops, "stop")
    names = stops["name"].astype(str)
    kinds = _column(stops, "kind", "hotspot").astype(str)
    n_dep, n_stop = len(depots), len(stops)

    anchor = min(parse_clock(t.shift[0], f"team '{t.name}' shift start") for t in teams)
    shifts = [_shift_minutes(t, anchor) for t in teams]
    day_start, day_end = min(s[0] for s in shifts), max(s[1] for s in shifts)
    windows = np.tile([day_start, day_end], (n_stop, 1)).astype(float)
    ws, we = _column(stops, "window_start", None), _column(stops, "window_end", None)
    for i in range(n_stop):
        if ws.iloc[i] is None or (isinstance(ws.iloc[i], float) and math.isnan(ws.iloc[i])):
            continue
        a = _on_timeline(parse_clock(ws.iloc[i], f"stop '{names[i]}' window_start"), anchor)
        b = _on_timeline(parse_clock(we.iloc[i], f"stop '{names[i]}' window_end"), anchor)
        if b < a:
            raise ValueError(f"stop '{names[i]}': its time window ends ({we.iloc[i]}) before it starts ({ws.iloc[i]})")
        windows[i] = (a, b)
    priority = pd.to_numeric(_column(stops, "priority", 1), errors="coerce")
    if priority.isna().any() or (priority < 0).any():
        k = int(np.flatnonzero((priority.isna() | (priority < 0)).to_numpy())[0])
        raise ValueError(f"stop '{names[k]}': priority must be a number ≥ 0")
    service_min = pd.to_numeric(_column(stops, "service_min", DEFAULT_SERVICE_MIN), errors="coerce").fillna(DEFAULT_SERVICE_MIN)
    if (service_min < 0).any():
        raise ValueError(f"stop '{names[int(np.flatnonzero((service_min < 0).to_numpy())[0])]}': service_min must be ≥ 0 minutes")
    required = _column(stops, "required", False).fillna(False).astype(bool).to_numpy()
    load = pd.to_numeric(_column(stops, "load", 0), errors="coerce").fillna(0).astype(int).to_numpy()
    if (load < 0).any():
        raise ValueError(f"stop '{names[int(np.flatnonzero(load < 0)[0])]}': load must be ≥ 0")

    # travel matrices per mode (locations: depots, then stops)
    xy = np.vstack([depot_xy, stop_xy])
    modes = sorted({t.mode for t in teams})
    travel = {m: _travel(region, m, xy) for m in modes}
    fleets = [
        Fleet(count=t.count, depot=depot_names.index(t.depot), shift=(s[0] * 60, s[1] * 60),
              max_duration=t.max_duration_min * 60 if t.max_duration_min is not None else None,
              capacity=t.capacity, profile=modes.index(t.mode), name=t.name)
        for t, s in zip(teams, shifts)
    ]

    reasons = _unservable(fleets, travel, modes, windows * 60, service_min.to_numpy() * 60, load, n_dep)
    bad_required = [i for i in range(n_stop) if required[i] and reasons[i]]
    if bad_required:
        i = bad_required[0]
        raise InfeasibleProblem(f"required stop '{names[i]}' cannot be served: {reasons[i]}")
    servable = np.array([not r for r in reasons])
    keep = np.flatnonzero(servable)
    routes_out: list[PatrolRoute] = []
    stop_ids = stops["spot_id"].astype(str) if "spot_id" in stops else pd.Series([f"stop-{i + 1}" for i in range(n_stop)])
    unserved_rows = [
        {"stop_id": stop_ids.iloc[i], "name": names[i], "kind": kinds.iloc[i], "priority": float(priority.iloc[i]), "required": bool(required[i]),
         "reason": reasons[i].en, "reason_zh": reasons[i].zh}
        for i in range(n_stop) if reasons[i]
    ]
    solution = None
    if len(keep):
        loc = np.concatenate([np.arange(n_dep), n_dep + keep])
        problem = RoutingProblem(
            durations=[travel[m][0][np.ix_(loc, loc)] for m in modes],
            distances=[travel[m][1][np.ix_(loc, loc)] for m in modes],
            n_depots=n_dep,
            service=service_min.to_numpy()[keep] * 60,
            windows=windows[keep] * 60,
            fleets=fleets,
            prize=priority.to_numpy(float)[keep],
            required=required[keep],
            load=load[keep],
            cost="duration",
        )
        solution = solve_routes(problem, time_limit=time_limit, seed=seed)
        visited_priority = [float(priority.iloc[int(keep[v.stop])]) for r in solution.routes for v in r.visits]
        for s in solution.unvisited:
            i = int(keep[s])
            reason = _why_left_out(i, solution.routes, fleets, travel, modes, windows * 60, service_min.to_numpy() * 60, load, n_dep, keep,
                                   float(priority.iloc[i]), visited_priority)
            unserved_rows.append({"stop_id": stop_ids.iloc[i], "name": names[i], "kind": kinds.iloc[i], "priority": float(priority.iloc[i]),
                                  "required": False, "reason": reason.en, "reason_zh": reason.zh})
        for route in solution.routes:
            team = teams[route.fleet]
            mode = team.mode
            costs = travel[mode][2]
            seconds, metres = travel[mode][0], travel[mode][1]
            d = depot_names.index(team.depot)
            seq = [d] + [n_dep + int(keep[v.stop]) for v in route.visits] + [d]
            legs, leg_min, leg_m = [], [], []
            for a, b in zip(seq[:-1], seq[1:]):
                path = costs.path(a, b)
                legs.append(path.coords)
                leg_min.append(float(seconds[a, b]) / 60)
                leg_m.append(float(metres[a, b]))
            rows = []
            for order, v in enumerate(route.visits, start=1):
                i = int(keep[v.stop])
                rows.append({
                    "order": order, "stop_id": stop_ids.iloc[i], "name": names[i], "kind": kinds.iloc[i], "priority": float(priority.iloc[i]), "required": bool(required[i]),
                    "arrival": clock(v.arrival / 60), "start": clock(v.start / 60), "departure": clock(v.departure / 60),
                    "arrival_min": v.arrival / 60, "departure_min": v.departure / 60, "wait_min": (v.start - v.arrival) / 60,
                    "load": int(load[i]), "x": stop_xy[i, 0], "y": stop_xy[i, 1],
                })
            label = f"{team.name} {route.team + 1}" if team.count > 1 else team.name
            routes_out.append(PatrolRoute(
                team=label, mode=mode, depot=team.depot, stops=pd.DataFrame(rows), legs=legs, leg_minutes=leg_min, leg_metres=leg_m,
                departure_min=route.departure / 60, return_min=route.return_time / 60, load=route.load,
            ))
    unserved = pd.DataFrame(unserved_rows, columns=["stop_id", "name", "kind", "priority", "required", "reason", "reason_zh"])
    unserved = unserved.sort_values(["priority", "name"], ascending=[False, True]).reset_index(drop=True)
    depot_frame = gpd.GeoDataFrame({"name": depot_names}, geometry=depots.to_crs(WGS84).geometry.to_numpy() if depots.crs is not None else depots.geometry.to_numpy(), crs=WGS84)
    visited = sum(len(r.stops) for r in routes_out)
    summary = {
        "region": region.name,
        "data": region.data_label,
        "costs": {mode: {"kind": travel[mode][2].kind, "kind_label": COST_KINDS[travel[mode][2].kind]} for mode in modes},
        "campaign": stops.attrs.get("campaign"),
        "campaign_names": CAMPAIGN_NAMES.get(stops.attrs.get("campaign"), None),
        "teams": [{"name": t.name, "count": t.count, "mode": t.mode, "mode_label": TEAM_MODES[t.mode], "depot": t.depot,
                   "shift": [clock(s[0]), clock(s[1])], "capacity": t.capacity} for t, s in zip(teams, shifts)],
        "routes": len(routes_out),
        "stops": n_stop,
        "visited": visited,
        "unserved": int(len(unserved)),
        "priority_collected": float(sum(r.stops["priority"].sum() for r in routes_out if len(r.stops))),
        "priority_total": float(priority.sum()),
        "travel_min": round(sum(r.travel_min for r in routes_out), 1),
        "distance_m": round(sum(r.distance_m for r in routes_out), 1),
        "solver": {"name": "PyVRP (iterated local search)", "seed": seed, "seconds": round(solution.seconds, 3) if solution else 0.0,
                   "iterations": solution.iterations if solution else 0},
        "stop_kinds": {k: PATROL_STOP_KINDS.get(k, {"zh": k, "en": k}) for k in sorted(set(kinds))},
    }
    return PatrolPlan(region.name, region.crs, routes_out, depot_frame, unserved, summary)


def _schedule(seq: list[int], f: Fleet, seconds: NDArray, windows_s: NDArray, service_s: NDArray, n_dep: int) -> str:
    """Whether a team can serve the stops ``seq`` (location indices) in this order: "" or the binding limit.

    Earliest times from the shift start, waiting for windows to open; the round's length counts
    from a departure just in time for the first stop.
    """
    t, prev = f.shift[0], f.depot
    departure = None
    for loc in seq:
        arrive = t + seconds[prev, loc]
        k = loc - n_dep
        start = max(arrive, windows_s[k, 0])
        if departure is None:
            departure = max(f.shift[0], start - seconds[prev, loc])
        if start > windows_s[k, 1] + 1e-6:
            return "window"
        t, prev = start + service_s[k], loc
    end = t + seconds[prev, f.depot]
    if end > f.shift[1] + 1e-6:
        return "shift"
    if f.max_duration is not None and end - (departure if departure is not None else f.shift[0]) > f.max_duration + 1e-6:
        return "duration"
    return ""


_LIMIT_WORDS = {"window": Reason("its time window", "其时间窗"), "shift": Reason("the end of the shift", "班次结束"),
               "duration": Reason("the teams' maximum round length", "每队最长巡查时间")}


def _why_left_out(i: int, routes: list, fleets: list[Fleet], travel: dict[str, tuple], modes: list[str], windows_s: NDArray,
                  service_s: NDArray, load: NDArray, n_dep: int, keep: NDArray, prio: float, visited_priority: list[float]) -> Reason:
    """Why a stop that some team could serve alone is not in the plan: the constraint that binds.

    Stop ``i`` is tried at every position of every team's round (and in the rounds of teams left
    idle): if it fits in time somewhere but every such team is out of supplies, capacity binds;
    if it fits nowhere in time, the binding limits are named (window, shift end, round length)
    with how its priority compares with the stops visited; if it fits somewhere in time and load,
    the search left it out (it stopped at its time limit)."""
    loc = n_dep + i
    time_fits_but_full, fits, limits = [], [], set()
    used = {}
    for r in routes:
        used[r.fleet] = used.get(r.fleet, 0) + 1
    rounds = [(r.fleet, [n_dep + int(keep[v.stop]) for v in r.visits], int(r.load)) for r in routes]
    rounds += [(k, [], 0) for k, f in enumerate(fleets) if used.get(k, 0) < f.count]
    for fleet_index, seq, carried in rounds:
        f = fleets[fleet_index]
        seconds = travel[modes[f.profile]][0]
        results = {_schedule(seq[:k] + [loc] + seq[k:], f, seconds, windows_s, service_s, n_dep) for k in range(len(seq) + 1)}
        cap_ok = f.capacity is None or carried + int(load[i]) <= f.capacity
        if "" in results:
            (fits if cap_ok else time_fits_but_full).append(f)
        else:
            limits |= results
    if fits:
        return Reason(f"it fits into {fits[0].name}'s round, but the search left it out (it stopped at its time limit; a longer search may add it)",
                      f"本可排入{fits[0].name}的路线，但搜索在时间上限内未选它（延长搜索时间可能加入）")
    if time_fits_but_full:
        f = time_fits_but_full[0]
        return Reason(f"capacity: the teams with time for it carry no more supplies (it needs {int(load[i])}, {f.name} carries {f.capacity})",
                      f"物资不足：有时间去的队伍已无余量（需要 {int(load[i])} 份，{f.name}可带 {f.capacity} 份）")
    named = [_LIMIT_WORDS[x] for x in sorted(limits) if x in _LIMIT_WORDS]
    which = Reason(" and ".join(w.en for w in named) or "the shifts", "、".join(w.zh for w in named) or "班次结束")
    lower = [p for p in visited_priority if p < prio]
    ranked = (Reason(f"no visited stop has a lower priority than its {prio:g}", f"已到访的点优先级都不低于它的 {prio:g}") if not lower
              else Reason(f"{len(lower)} visited stop(s) of lower priority lie on the teams' way", f"有 {len(lower)} 个优先级更低的点顺路到访"))
    return Reason(f"time: no team's round has room for it before {which.en} ({ranked.en})", f"时间不够：在{which.zh}之前没有队伍的路线排得下它（{ranked.zh}）")


def _unservable(
    fleets: list[Fleet],
    travel: dict[str, tuple],
    modes: list[str],
    windows_s: NDArray[np.float64],
    service_s: NDArray[np.float64],
    load: NDArray[np.int64],
    n_dep: int,
) -> list[str]:
    """Per stop: NO_REASON if some team could serve it alone, else why no team can."""
    return [_why_unservable(i, fleets, travel, modes, windows_s, service_s, load, n_dep) for i in range(len(windows_s))]


def _why_unservable(
    i: int,
    fleets: list[Fleet],
    travel: dict[str, tuple],
    modes: list[str],
    windows_s: NDArray[np.float64],
    service_s: NDArray[np.float64],
    load: NDArray[np.int64],
    n_dep: int,
) -> Reason:
    """NO_REASON if some team could serve stop ``i`` on its own, else every reason why none can."""
    loc = n_dep + i
    why: set[Reason] = set()
    for f in fleets:
        seconds, _, _, too_far = travel[modes[f.profile]]
        if too_far[loc]:
            why.add(Reason("unreachable: too far from any road", "无法到达：离道路太远"))
            continue
        go, back = seconds[f.depot, loc], seconds[loc, f.depot]
        if not (np.isfinite(go) and np.isfinite(back)):
            why.add(Reason("unreachable on the road network from its team's depot", "从队伍所在站点经路网无法到达"))
            continue
        if f.capacity is not None and load[i] > f.capacity:
            why.add(Reason(f"over capacity: needs {int(load[i])} supplies, a team carries {f.capacity}",
                           f"超出携带量：需要 {int(load[i])} 份物资，每队只能带 {f.capacity} 份"))
            continue
        # earliest service start, then back at the depot; a late departure avoids waiting
        arrive = max(f.shift[0] + go, windows_s[i, 0])
        alone = go + service_s[i] + back
        if f.max_duration is not None and alone > f.max_duration:
            why.add(Reason(f"a round to it alone takes {alone / 60:.0f} min, longer than the team's maximum of {f.max_duration / 60:g} min",
                           f"单独往返也要 {alone / 60:.0f} 分钟，超过每队最长 {f.max_duration / 60:g} 分钟"))
            continue
        if windows_s[i, 0] + service_s[i] + back > f.shift[1] or windows_s[i, 1] < f.shift[0]:
            window, shift = f"{clock(windows_s[i, 0] / 60)}–{clock(windows_s[i, 1] / 60)}", f"{clock(f.shift[0] / 60)}–{clock(f.shift[1] / 60)}"
            why.add(Reason(f"its time window ({window}) lies outside the shift ({shift})", f"其时间窗（{window}）不在班次（{shift}）之内"))
            continue
        if arrive > windows_s[i, 1]:
            why.add(Reason(f"its time window ends ({clock(windows_s[i, 1] / 60)}) before a team can arrive ({clock(arrive / 60)})",
                           f"其时间窗 {clock(windows_s[i, 1] / 60)} 结束，队伍最早 {clock(arrive / 60)} 才能到达"))
            continue
        if arrive + service_s[i] + back > f.shift[1]:
            why.add(Reason(f"a team cannot visit it and be back by the end of its shift ({clock(f.shift[1] / 60)})",
                           f"到访后无法在班次结束（{clock(f.shift[1] / 60)}）前返回"))
            continue
        return NO_REASON
    return joined(why)
