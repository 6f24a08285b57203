"""Patrols on real streets, hotspots from case records, home-visit rounds."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.export import write_gpx
from geodata.projection import lonlat_to_xy
from planner.routing.hotspots import HotspotParams, circular_window, find_hotspots
from planner.routing.patrol import Team, apply_campaign, plan_patrols, stops_from_spots
from planner.location.problem import InfeasibleProblem
from planner.routing.visits import assign_visitors, parse_weekdays, plan_home_visits_on_region, visit_calendar

SHIFT = ("20:00", "02:00")


@pytest.fixture(scope="module")
def depot(sample_region) -> gpd.GeoDataFrame:
    sites = sample_region.sites
    return sites[(sites["type"] == "care_centre") & (sites["status"] == "existing")].head(1)[["name", "geometry"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def night_plan(sample_region, depot):
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=30)
    teams = [Team("夜巡队", depot["name"].iloc[0], count=3, mode="walk", shift=SHIFT, max_duration_min=120)]
    return stops, plan_patrols(sample_region, stops, depot, teams, time_limit=10, seed=1)


def test_sample_has_real_patrol_spots(sample_region) -> None:
    spots = sample_region.layers["patrol_spots"]
    assert len(spots) >= 30
    assert {"station", "park", "bus_station"} <= set(spots["kind"])
    assert "Rautatientori" in set(spots["name"])  # Helsinki's railway square, from OSM


def test_night_patrol_three_teams_thirty_stops(night_plan, sample_region) -> None:
    stops, plan = night_plan
    assert len(plan.routes) <= 3
    served = [n for r in plan.routes for n in r.stops["stop_id"]]
    assert len(served) + len(plan.unserved) == 30
    assert len(set(served)) == len(served)
    for r in plan.routes:
        times = r.stops["arrival_min"].to_numpy()
        assert (np.diff(times) > 0).all()
        assert r.departure_min >= 20 * 60 - 1e-6 and r.return_min <= 26 * 60 + 1e-6
        assert r.return_min - r.departure_min <= 120 + 1e-6
        assert (r.stops["departure_min"] - r.stops["arrival_min"] >= 10 - 1e-6).all()


def test_every_leg_follows_the_road_network(night_plan, sample_region) -> None:
    _, plan = night_plan
    net = sample_region.networks["walk"]
    from geodata.export import network_links_frame

    links = network_links_frame(net)
    lines = shapely.transform(shapely.union_all(links.geometry.to_numpy()), lambda c: np.column_stack(lonlat_to_xy(c[:, 0], c[:, 1], sample_region.crs)))
    for r in plan.routes:
        assert len(r.legs) == len(r.stops) + 1
        for coords, metres in zip(r.legs, r.leg_metres):
            inner = coords[1:-1]  # the first and last vertex are the stops themselves (walked to the road)
            if len(inner):
                d = shapely.distance(lines, shapely.points(inner))
                assert d.max() < 0.5, f"a leg leaves the road network by {d.max():.2f} m"
            length = float(np.hypot(*np.diff(coords, axis=0).T).sum()) if len(coords) > 1 else 0.0
            assert length == pytest.approx(metres, rel=1e-6, abs=0.01)


def test_patrol_outputs_geojson_and_gpx(night_plan, tmp_path) -> None:
    _, plan = night_plan
    gj = plan.to_geojson()
    layers = {f["properties"]["layer"] for f in gj["features"]}
    assert layers == {"depot", "stop", "leg"}
    path = write_gpx(plan.gpx_tracks(), tmp_path / "patrol.gpx")
    root = ET.parse(path).getroot()
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(root.findall("g:trk", ns)) == len(plan.routes)
    names = [w.find("g:name", ns).text for w in root.findall("g:wpt", ns)]
    assert len(names) == sum(len(r.stops) for r in plan.routes)
    assert "夜巡队" in path.read_text(encoding="utf-8")


def test_same_seed_same_patrol(sample_region, depot) -> None:
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=12)
    teams = [Team("巡查", depot["name"].iloc[0], count=2, shift=SHIFT, max_duration_min=90)]
    a = plan_patrols(sample_region, stops, depot, teams, seed=3)
    b = plan_patrols(sample_region, stops, depot, teams, seed=3)
    assert [list(r.stops["name"]) for r in a.routes] == [list(r.stops["name"]) for r in b.routes]


def test_short_shift_drops_lowest_priority_with_reason(sample_region, depot) -> None:
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=30)
    teams = [Team("巡查", depot["name"].iloc[0], count=1, shift=("20:00", "21:00"))]
    plan = plan_patrols(sample_region, stops, depot, teams, seed=0)
    visited = plan.routes[0].stops
    dropped = plan.unserved
    assert len(dropped) > 0 and len(visited) > 0
    assert (dropped["reason"].str.len() > 0).all()
    time_dropped = dropped[dropped["reason"].str.startswith("time:")]
    assert len(time_dropped) > 0
    # every (dropped, visited) pair: the reason says truthfully whether lower-priority stops were visited
    for _, d in time_dropped.iterrows():
        lower = [v for v in visited["priority"] if v < d["priority"]]
        if lower:
            assert f"{len(lower)} visited stop(s) of lower priority lie on the teams' way" in d["reason"], d["reason"]
        else:
            assert f"no visited stop has a lower priority than its {d['priority']:g}" in d["reason"], d["reason"]
    # and time binds: with a whole night the same stops are visited
    longer = plan_patrols(sample_region, stops, depot, [Team("巡查", depot["name"].iloc[0], count=1, shift=("20:00", "04:00"))], seed=0)
    again = set(longer.unserved["name"])
    assert again.isdisjoint(time_dropped["name"])


def _dropped(plan, reason_start: str) -> set[str]:
    return set(plan.unserved.loc[plan.unserved["reason"].str.startswith(reason_start), "name"])


def test_each_reason_names_the_constraint_that_binds(sample_region, depot) -> None:
    """Capacity, round length and shift each reported when they bind; lifting that one constraint (and
    nothing else) brings the stops back."""
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=10).copy()
    stops["load"] = 3
    name = depot["name"].iloc[0]
    # capacity: 10 stops × 3 supplies, one team carrying 12, a whole night
    full = plan_patrols(sample_region, stops, depot, [Team("巡查", name, count=1, shift=SHIFT, capacity=12)], seed=0)
    by_capacity = _dropped(full, "capacity:")
    assert len(by_capacity) == 6 and len(full.unserved) == 6
    assert all("it needs 3, 巡查 carries 12" in r for r in full.unserved["reason"])
    assert all(r.startswith("物资不足") and "需要 3 份，巡查可带 12 份" in r for r in full.unserved["reason_zh"])
    unlimited = plan_patrols(sample_region, stops, depot, [Team("巡查", name, count=1, shift=SHIFT)], seed=0)
    assert len(unlimited.unserved) == 0
    # round length: at most 25 minutes out
    short = plan_patrols(sample_region, stops, depot, [Team("巡查", name, count=1, shift=SHIFT, max_duration_min=25)], seed=0)
    by_duration = _dropped(short, "time:")
    assert by_duration and all("the teams' maximum round length" in r for r in short.unserved.loc[short.unserved["reason"].str.startswith("time:"), "reason"])
    assert len(unlimited.unserved) == 0  # the same stops without the limit: all visited
    # zero minutes: no stop can be served, and the reason says so (not "outside every shift")
    none = plan_patrols(sample_region, stops, depot, [Team("巡查", name, count=1, shift=SHIFT, max_duration_min=0)], seed=0)
    assert len(none.unserved) == 10 and all("longer than the team's maximum of 0 min" in r for r in none.unserved["reason"])


def test_overnight_shifts_are_explicit_and_long_ones_refused(sample_region, depot) -> None:
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=3)
    name = depot["name"].iloc[0]
    plan = plan_patrols(sample_region, stops, depot, [Team("夜巡", name, shift=("20:00", "02:00"))], seed=0)
    assert plan.summary["teams"][0]["shift"] == ["20:00", "02:00 (+1)"]
    with pytest.raises(ValueError, match=r"shift 08:00–06:00 would last 22 h overnight; shifts over 16 h are refused"):
        plan_patrols(sample_region, stops, depot, [Team("巡查", name, shift=("08:00", "06:00"))])


def test_window_outside_shift_and_capacity_reasons(sample_region, depot) -> None:
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=4).copy()
    stops["window_start"] = [None, "09:00", None, None]
    stops["window_end"] = [None, "10:00", None, None]
    stops["load"] = [1, 1, 50, 1]
    teams = [Team("巡查", depot["name"].iloc[0], count=1, shift=SHIFT, capacity=10)]
    plan = plan_patrols(sample_region, stops, depot, teams)
    reasons = dict(zip(plan.unserved["name"], plan.unserved["reason"]))
    assert reasons[stops["name"].iloc[1]] == "its time window (09:00 (+1)–10:00 (+1)) lies outside the shift (20:00–02:00 (+1))"
    assert reasons[stops["name"].iloc[2]].startswith("over capacity: needs 50 supplies, a team carries 10")
    in_chinese = dict(zip(plan.unserved["name"], plan.unserved["reason_zh"]))  # the same reasons, made in Chinese
    assert in_chinese[stops["name"].iloc[1]] == "其时间窗（09:00 (+1)–10:00 (+1)）不在班次（20:00–02:00 (+1)）之内"
    assert in_chinese[stops["name"].iloc[2]].startswith("超出携带量：需要 50 份物资，每队只能带 10 份")
    stops["required"] = [False, True, False, False]
    with pytest.raises(InfeasibleProblem, match=stops["name"].iloc[1]):
        plan_patrols(sample_region, stops, depot, teams)


def test_bad_patrol_input_names_the_cause(sample_region, depot) -> None:
    stops = stops_from_spots(sample_region.layers["patrol_spots"], limit=5)
    name = depot["name"].iloc[0]
    with pytest.raises(ValueError, match="no patrol teams"):
        plan_patrols(sample_region, stops, depot, [])
    with pytest.raises(ValueError, match="not among the depots"):
        plan_patrols(sample_region, stops, depot, [Team("x", "nowhere")])
    with pytest.raises(ValueError, match="count must be at least 1"):
        plan_patrols(sample_region, stops, depot, [Team("x", name, count=0)])
    far = stops.copy()
    far.loc[2, "geometry"] = shapely.Point(113.75, 23.02)  # Dongguan, not Helsinki
    with pytest.raises(ValueError, match=f"'{far['name'].iloc[2]}' .*outside the region"):
        plan_patrols(sample_region, far, depot, [Team("x", name)])
    late = stops.copy()
    late["window_start"] = ["23:00"] + [None] * 4
    late["window_end"] = ["21:00"] + [None] * 4
    with pytest.raises(ValueError, match="ends .* before it starts"):
        plan_patrols(sample_region, late, depot, [Team("x", name)])
    with pytest.raises(ValueError, match="not a time of day"):
        plan_patrols(sample_region, stops, depot, [Team("x", name, shift=("8pm", "2am"))])


def test_cold_campaign_adds_stops_and_supplies(sample_region, depot) -> None:
    spots = sample_region.layers["patrol_spots"]
    base = stops_from_spots(spots, limit=10, kinds=("station", "bus_station"))
    cold = apply_campaign(base, spots, "cold")
    assert len(cold) > len(base)
    assert set(cold["kind"]) - set(base["kind"]) <= {"shelter", "bridge", "underpass", "station", "bus_station", "place_of_worship", "toilets"}
    assert (cold["load"] == 3).all()  # 3 packs per person, 1 person per spot without records
    teams = [Team("寒冬送温暖", depot["name"].iloc[0], count=2, shift=SHIFT, capacity=15)]
    plan = plan_patrols(sample_region, cold, depot, teams, seed=0)
    for r in plan.routes:
        assert r.stops["load"].sum() <= 15
    assert plan.summary["campaign"] == "cold"


# ---------------------------------------------------------------------------- hotspots
def _cases(rng: np.random.Generator) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    centres = np.array([[0.0, 0.0], [2000.0, 0.0], [0.0, 2500.0]])
    sizes = [60, 40, 25]
    hours = [23.5, 14.0, 2.0]
    xy, when, truth = [], [], []
    base = pd.Timestamp("2026-01-01")
    for k, (c, n, h) in enumerate(zip(centres, sizes, hours)):
        xy.append(c + rng.normal(scale=25.0, size=(n, 2)))
        minutes = (h * 60 + rng.normal(scale=40.0, size=n)) % 1440
        days = rng.integers(0, 300, n)
        when += [base + pd.Timedelta(days=int(d), minutes=float(m)) for d, m in zip(days, minutes)]
        truth += [k] * n
    noise = rng.uniform(-3000, 5000, size=(30, 2))
    xy.append(noise)
    when += [base + pd.Timedelta(days=int(d)) for d in rng.integers(0, 300, 30)]
    truth += [-1] * 30
    return np.vstack(xy), pd.Series(when), np.array(truth)


@pytest.mark.parametrize("method", ["dbscan", "optics"])
def test_hotspots_recover_known_clusters(method: str) -> None:
    from sklearn.metrics import adjusted_rand_score

    xy, when, truth = _cases(np.random.default_rng(0))
    spots = find_hotspots(xy, when, HotspotParams(method=method, eps_m=120, min_cases=8))
    assert len(spots) == 3
    labels = spots.attrs["labels"]
    in_cluster = truth >= 0
    assert adjusted_rand_score(truth[in_cluster], labels[in_cluster]) > 0.95
    assert list(spots["cases"]) == sorted(spots["cases"], reverse=True)
    assert abs(spots["cases"].iloc[0] - 60) <= 3
    # the biggest hotspot is near (0, 0) and active around 23:30, across midnight
    assert np.hypot(spots["x"].iloc[0], spots["y"].iloc[0]) < 60
    s, e = spots["window_start_min"].iloc[0], spots["window_end_min"].iloc[0]
    assert s <= 23.5 * 60 <= e and e > 1440
    assert spots["priority"].iloc[0] == 5 and spots["priority"].between(1, 5).all()


def test_optics_finds_hotspots_of_different_densities_that_dbscan_cannot() -> None:
    """A tight cluster (25 m), a loose one (180 m) and a middling one, with noise: OPTICS (ξ) finds all
    three whole; DBSCAN with a radius that keeps the tight one apart breaks the loose one up."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        parts = [rng.normal([0, 0], 25, (60, 2)), rng.normal([2000, 0], 180, (60, 2)), rng.normal([0, 2000], 60, (40, 2))]
        xy = np.vstack([*parts, rng.uniform(-1000, 3000, (60, 2))])
        truth = np.r_[np.zeros(60), np.ones(60), np.full(40, 2), np.full(60, -1)]
        when = pd.Series([pd.Timestamp("2026-01-01 23:00")] * len(xy))
        optics = find_hotspots(xy, when, HotspotParams(method="optics")).attrs["labels"]
        dbscan = find_hotspots(xy, when, HotspotParams(method="dbscan", eps_m=60)).attrs["labels"]

        def whole(labels: np.ndarray, k: int) -> float:
            mine = labels[truth == k]
            return float(np.bincount(mine[mine >= 0]).max() / len(mine)) if (mine >= 0).any() else 0.0

        assert len(set(optics[optics >= 0])) == 3 and min(whole(optics, k) for k in range(3)) >= 0.9
        assert whole(dbscan, 1) < 0.5  # the loose cluster falls apart at a radius fit for the tight one


def test_circular_window_and_recency() -> None:
    start, end = circular_window(np.array([23 * 60 + 30, 30, 60]), share=1.0)
    assert (start, end) == (23 * 60 + 30, 25 * 60)
    start, end = circular_window(np.array([600.0]), share=1.0, min_length=60)
    assert (start, end) == (570.0, 630.0)
    # two equal clusters: the one with recent cases weighs more
    rng = np.random.default_rng(1)
    xy = np.vstack([rng.normal(scale=10, size=(20, 2)), 1000 + rng.normal(scale=10, size=(20, 2))])
    when = pd.Series([pd.Timestamp("2025-01-01")] * 20 + [pd.Timestamp("2026-01-01")] * 20)
    spots = find_hotspots(xy, when, HotspotParams(half_life_days=90))
    recent = spots.loc[spots["x"] > 500].iloc[0]
    old = spots.loc[spots["x"] < 500].iloc[0]
    assert recent["weight"] > 10 * old["weight"]
    with pytest.raises(ValueError, match="case 1"):
        find_hotspots(xy[:3], pd.Series(["2026-01-01", "not a date", "2026-01-02"]))


# ---------------------------------------------------------------------------- home visits
def test_short_elders_name_capacity_or_visiting_days() -> None:
    """Two visitors near everyone: one takes 3 elders at most, the other visits one weekday only;
    the elders left over are told which limit each visitor reached."""
    from planner.routing.visits import plan_home_visits

    E = 20
    pairs = (np.repeat([0, 1], E), np.tile(np.arange(E), 2), np.full(2 * E, 300.0))
    elders = pd.DataFrame({"name": [f"长者{k}" for k in range(E)], "visits_per_month": 2})
    visitors = pd.DataFrame({"name": ["社工甲", "志愿者乙"], "capacity": [3, 50], "weekdays": ["1,2,3,4,5", "周六"]})
    plan = plan_home_visits(pairs, elders, visitors, np.arange(E, dtype=float), year=2026, month=12, max_visits_per_day=2)
    # Saturdays in December 2026: 4 → 4 days × 2 visits ÷ 2 visits per elder = 4 elders; the other takes 3
    assert plan.summary["elders_with_all_visits"] == 7
    reasons = set(plan.unserved["reason"])
    assert reasons == {"every visitor within 30 min is full: at capacity (3 elders); out of visiting days (4 open days × 2 visits a day ÷ 2 visits per elder = 4 elders)"}
    assert set(plan.unserved["reason_zh"]) == {"30 分钟路程内的探访人员都已排满：已满员（3 人）；探访日不够（4 个探访日 × 每天 2 次 ÷ 每人 2 次 = 4 人）"}


def test_visitors_are_based_at_existing_facilities_only(sample_region) -> None:
    from planner.routing.visits import visitor_bases

    bases = visitor_bases(sample_region)
    ids = set(sample_region.sites.loc[sample_region.sites["status"] == "candidate", "site_id"])
    assert len(bases) > 0 and not (set(bases["site_id"]) & ids)


def test_assignment_is_optimal_on_small_cases() -> None:
    rng = np.random.default_rng(5)
    V, E = 3, 6
    cost = rng.uniform(60, 1800, (V, E))
    v, e = np.nonzero(np.ones((V, E), bool))
    cap = np.array([2, 2, 2])
    a = assign_visitors(v, e, cost[v, e], V, E, cap, max_travel_min=60, balance_slack=0.0)
    best = min(sum(cost[p[k], k] for k in range(E)) for p in itertools.product(range(V), repeat=E) if (np.bincount(p, minlength=V) <= 2).all())
    assert a.assigned.all()
    assert np.nansum(a.travel_min) * 60 == pytest.approx(best)
    assert (a.load <= cap).all()


def test_visit_calendar_meets_frequencies_on_available_days() -> None:
    rng = np.random.default_rng(2)
    E, V = 60, 5
    d = rng.uniform(100, 2000, (V, E))
    v, e = np.nonzero(d < 1500)
    a = assign_visitors(v, e, d[v, e], V, E, np.full(V, 20), max_travel_min=30)
    freq = rng.choice([2, 4], E)
    days = [{0, 2, 4}, {1, 3}, {5, 6}, {0, 1, 2, 3, 4}, set(range(7))]
    cal, missing = visit_calendar(a, freq, days, rng.uniform(size=E), year=2026, month=12, max_visits_per_day=6)
    per_elder = cal.groupby("elder").size()
    for elder in range(E):
        if elder in missing:
            continue
        assert per_elder.get(elder, 0) == freq[elder]
        dates = sorted(cal.loc[cal["elder"] == elder, "date"])
        assert len(set(dates)) == len(dates)
    for _, row in cal.iterrows():
        assert row["date"].weekday() in days[row["visitor"]]
    assert (cal.groupby(["visitor", "date"]).size() <= 6).all()
    # unreachable elders are reported with a reason
    for elder in np.flatnonzero(~a.assigned):
        assert "within" in missing[int(elder)].en or "capacity" in missing[int(elder)].en


def test_home_visits_on_real_streets(sample_region) -> None:
    demand = sample_region.demand
    elders = demand[demand["pop_alone"] >= demand["pop_alone"].quantile(0.8)][["demand_id", "geometry"]].rename(columns={"demand_id": "name"})
    bases = sample_region.sites[sample_region.sites["type"] == "care_centre"][["name", "geometry"]]
    visitors = bases.assign(capacity=12, weekdays=["周一,周三,周五", "Tue Thu", "1,2,3,4,5"] * (len(bases) // 3) + ["6,7"] * (len(bases) % 3))
    plan = plan_home_visits_on_region(sample_region, elders, visitors, year=2026, month=12, max_travel_min=20)
    s = plan.summary
    assert s["elders"] == len(elders)
    assert s["max_travel_min"] <= 20
    # counted again from the calendar itself: elders with every visit on distinct open days of their visitor
    per_elder = plan.calendar.groupby("elder_name")["date"].nunique()
    complete = {name for name, n in per_elder.items() if n >= 2}
    assert s["elders_with_all_visits"] == len(complete) and s["elders_short"] == len(elders) - len(complete)
    assert set(plan.unserved["elder_name"]) == set(elders["name"].astype(str)) - complete  # each short elder has a reason
    assert (plan.visitors["elders"] <= plan.visitors["cap_used"]).all()
    assert len(complete) > 0.8 * len(elders)
    with pytest.raises(ValueError, match="not a weekday"):
        parse_weekdays("Funday", "visitor 'x' weekdays")
    assert parse_weekdays("周一、周三", "w") == {0, 2}
