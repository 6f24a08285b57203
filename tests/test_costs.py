"""Travel costs: equal to networkx's Dijkstra on the same graphs, snapping equal to brute force."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from geodata.network import Network
from geodata.region import Region
from planner.travel import _dijkstra as kern
from planner.travel.costs import DemandSiteCosts, NetworkCosts, StraightLineCosts, check_cutoff, link_substring
from planner.travel.region import points_xy, region_costs
from planner.travel.service_area import service_area
from planner.travel.snapping import SegmentIndex


def nx_graph(net: Network, weight: str = "time") -> nx.DiGraph:
    """The network as a networkx DiGraph (parallel edges keep the cheapest)."""
    w = net.edge_time if weight == "time" else net.edge_length
    graph = nx.DiGraph()
    graph.add_nodes_from(range(net.n_nodes))
    for a, b, c in zip(net.edge_tail.tolist(), net.edge_head.tolist(), w.tolist()):
        if not graph.has_edge(a, b) or graph[a][b]["w"] > c:
            graph.add_edge(a, b, w=c)
    return graph


@pytest.mark.parametrize("which", ["sample-walk", "sample-drive", "city-walk", "city-drive"])
@pytest.mark.parametrize("reverse", [False, True])
def test_bounded_search_equals_networkx(which, reverse, sample_region: Region, small_city: Region) -> None:
    region = sample_region if which.startswith("sample") else small_city
    net = region.networks[which.split("-")[1]]
    graph = nx_graph(net)
    if reverse:
        graph = graph.reverse(copy=True)
    rng = np.random.default_rng(0)
    sources = rng.choice(net.n_nodes, 25, replace=False)
    cutoff = 600.0 if net.mode == "walk" else 120.0
    indptr, heads, weights = net.indptr, net.edge_head.astype(np.int64), net.edge_time
    if reverse:
        rindptr, rtails, order = net.reverse
        indptr, heads, weights = rindptr, rtails.astype(np.int64), net.edge_time[order]
    s, t, c = kern.bounded_all_nodes(indptr, heads, np.ascontiguousarray(weights), net.n_nodes, sources.astype(np.int64), cutoff)
    for k, src in enumerate(sources):
        ref = nx.single_source_dijkstra_path_length(graph, int(src), cutoff=cutoff, weight="w")
        mine = dict(zip(t[s == k].tolist(), c[s == k].tolist()))
        assert mine.keys() == ref.keys()
        for node, dist in ref.items():
            assert mine[node] == pytest.approx(dist, rel=1e-12, abs=1e-9)


def brute_force_snap(net: Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest link and distance by checking every segment of every link."""
    best_d = np.full(len(xy), np.inf)
    best_l = np.full(len(xy), -1)
    for link in range(net.n_links):
        line = shapely.LineString(net.link_coords(link))
        d = shapely.distance(shapely.points(xy), line)
        better = d < best_d - 1e-12
        best_d[better] = d[better]
        best_l[better] = link
    return best_l, best_d


def test_snapping_equals_brute_force(sample_region: Region) -> None:
    net = sample_region.networks["walk"]
    rng = np.random.default_rng(1)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    xy = rng.uniform(lo - 100, hi + 100, (150, 2))
    snap = SegmentIndex(net).snap(xy, max_snap_m=60)
    links, dist = brute_force_snap(net, xy)
    np.testing.assert_allclose(snap.distance_m, dist, atol=1e-6)
    # the same link, or a tie at the same distance (a shared node)
    same = snap.link == links
    assert same.mean() > 0.9
    # the projected point lies on the chosen link at the reported fraction
    for i in range(len(xy)):
        coords = net.link_coords(int(snap.link[i]))
        line = shapely.LineString(coords)
        p = line.interpolate(snap.fraction[i], normalized=True)
        assert np.hypot(p.x - snap.projected_xy[i, 0], p.y - snap.projected_xy[i, 1]) < 1e-6
    assert (snap.too_far == (dist > 60)).all() and snap.too_far.any()


def reference_point_costs(costs: NetworkCosts, net: Network, graph: nx.DiGraph, a: int, b: int) -> float:
    """Cost from point a to point b computed independently: access + along-link + nx Dijkstra."""
    sa, sb = costs.snap, costs.snap
    w = net.edge_time
    best = np.inf

    def exits(i: int) -> list[tuple[int, float]]:
        """(node, cost from point i's projection to that node) for each way out along its link."""
        link, f = int(sa.link[i]), float(sa.fraction[i])
        out = []
        for e in np.flatnonzero(net.edge_link == link):
            share = (1 - f) if not net.edge_reversed[e] else f
            out.append((int(net.edge_head[e]), w[e] * share))
        return out

    def entries(i: int) -> list[tuple[int, float]]:
        link, f = int(sb.link[i]), float(sb.fraction[i])
        out = []
        for e in np.flatnonzero(net.edge_link == link):
            share = f if not net.edge_reversed[e] else (1 - f)
            out.append((int(net.edge_tail[e]), w[e] * share))
        return out

    lengths = {}
    for node, c1 in exits(a):
        if node not in lengths:
            lengths[node] = nx.single_source_dijkstra_path_length(graph, node, weight="w")
        for node2, c2 in entries(b):
            if node2 in lengths[node]:
                best = min(best, c1 + lengths[node][node2] + c2)
    if sa.link[a] == sb.link[b]:  # straight along the shared link, if its direction allows
        link, fa, fb = int(sa.link[a]), float(sa.fraction[a]), float(sb.fraction[b])
        for e in np.flatnonzero(net.edge_link == link):
            forward = not net.edge_reversed[e]
            if (forward and fb >= fa) or (not forward and fb <= fa):
                best = min(best, w[e] * abs(fb - fa))
    return float(costs.access[a] + best + costs.access[b])


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_point_costs_equal_independent_reference(mode, small_city: Region) -> None:
    net = small_city.networks[mode]
    graph = nx_graph(net)
    rng = np.random.default_rng(2)
    xy = points_xy(small_city.demand.iloc[:40], small_city.crs)
    costs = NetworkCosts(net, xy)
    full = costs.matrix(None, None)
    for a, b in rng.integers(0, 40, (60, 2)):
        if a == b:
            assert full[a, b] == 0
            continue
        assert full[a, b] == pytest.approx(reference_point_costs(costs, net, graph, int(a), int(b)), rel=1e-9)
    if mode == "drive":
        assert not np.allclose(full, full.T)  # one-way streets make it asymmetric
    else:
        np.testing.assert_allclose(full, full.T, rtol=1e-9)


def test_coverage_nearest_full_agree_both_directions(small_city: Region) -> None:
    sites = small_city.sites[small_city.sites["status"] == "candidate"].iloc[:80]
    costs = region_costs(small_city, "drive", sites, demand=small_city.demand.iloc[:500])
    assert costs.kind == "network" and costs.unit == "s"
    for direction in ("demand_to_site", "site_to_demand"):
        full = costs.full(direction)
        cov = costs.coverage(150.0, direction)
        dense = cov.costs.toarray()
        mask = full <= 150.0
        assert (cov.covered().toarray() == mask).all()
        np.testing.assert_allclose(dense[mask], full[mask], rtol=1e-12)
        idx, val = costs.nearest(4, direction)
        np.testing.assert_allclose(val, np.sort(full, axis=1)[:, :4], rtol=1e-12)
        np.testing.assert_allclose(np.take_along_axis(full, idx, axis=1), val, rtol=1e-12)
    assert not np.allclose(costs.full("demand_to_site"), costs.full("site_to_demand"))


def test_coverage_from_a_wider_cutoff_equals_a_fresh_search(small_city: Region) -> None:
    """A coverage derived from a remembered wider one (filtering its pairs) is exactly the one a
    bounded search gives: the same pairs, the same costs, in both directions."""
    sites = small_city.sites[small_city.sites["status"] == "candidate"].iloc[:120]
    wide = region_costs(small_city, "walk", sites, demand=small_city.demand.iloc[:800])
    fresh = region_costs(small_city, "walk", sites, demand=small_city.demand.iloc[:800])
    assert fresh is not wide
    for direction in ("demand_to_site", "site_to_demand"):
        wide.coverage(900.0, direction)
        for cutoff in (300.0, 450.0, 600.0, 899.9):
            derived = wide.coverage(cutoff, direction).costs
            fresh.__dict__.pop("_coverage_memo", None)  # a bounded search for this cutoff alone
            searched = fresh.coverage(cutoff, direction).costs
            assert fresh.__dict__["_coverage_memo"].keys() == {(cutoff, direction)}
            assert derived.nnz == searched.nnz > 0
            assert (derived.indptr == searched.indptr).all() and (derived.indices == searched.indices).all()
            assert (derived.data == searched.data).all()  # bit for bit


def test_paths_follow_the_roads(sample_region: Region) -> None:
    sites = sample_region.sites.iloc[:10]
    costs = region_costs(sample_region, "walk", sites, demand=sample_region.demand.iloc[:30])
    full = costs.full("site_to_demand")
    engine = costs.engine
    for d in range(0, 30, 7):
        for s in range(0, 10, 3):
            path = engine.path(int(costs.site_index[s]), int(costs.demand_index[d]))
            assert path.cost == pytest.approx(full[d, s], rel=1e-9)
            # walking at 0.9 m/s: the geometry is exactly the distance paid for
            assert path.length_m == pytest.approx(path.cost * 0.9, rel=1e-6)
            np.testing.assert_allclose(path.coords[0], engine.points_xy[costs.site_index[s]])
            np.testing.assert_allclose(path.coords[-1], engine.points_xy[costs.demand_index[d]])


def test_service_area_holds_the_points_within_reach(small_city: Region) -> None:
    sites = small_city.sites.iloc[:3]
    costs = region_costs(small_city, "walk", sites)
    cutoff = 600.0
    area = service_area(costs.engine, int(costs.site_index[0]), cutoff, corridor_m=50.0)
    full = costs.full("site_to_demand")[:, 0]
    xy = costs.engine.points_xy[costs.demand_index]
    inside = area.contains(xy)
    near_road = costs.demand_snap.distance_m < 45.0
    assert inside[(full <= cutoff) & near_road].all()
    # nothing lies farther (as the crow flies) than one can walk in the budget, plus the corridor
    site_xy = costs.engine.points_xy[costs.site_index[0]]
    crow = np.hypot(*(xy - site_xy).T)
    assert (crow[inside] <= cutoff * 0.9 + 50.0 + 1e-6).all()
    assert area.area_m2 < np.pi * (cutoff * 0.9) ** 2
    assert area.kind == "network" and 0 < area.reached_length_m
    straight = service_area(StraightLineCosts(xy[:5]), 0, 600.0)
    assert straight.area_m2 == pytest.approx(np.pi * (600 * 0.9 / 1.3) ** 2, rel=0.01)


def test_straight_line_fallback(small_city: Region) -> None:
    sites = small_city.sites.iloc[:20]
    costs = region_costs(small_city, "walk", sites, demand=small_city.demand.iloc[:200], network=False)
    assert costs.kind == "straight-line"
    full = costs.full()
    d = points_xy(small_city.demand.iloc[:200], small_city.crs)
    s = points_xy(sites, small_city.crs)
    expected = np.hypot(*(d[:, None, :] - s[None, :, :]).transpose(2, 0, 1)) * 1.3 / 0.9
    np.testing.assert_allclose(full, expected, rtol=1e-12)
    cov = costs.coverage(500.0)
    assert (cov.covered().toarray() == (expected <= 500)).all() and cov.kind == "straight-line"
    idx, val = costs.nearest(3)
    np.testing.assert_allclose(val, np.sort(expected, axis=1)[:, :3])


def test_bad_inputs(small_city: Region) -> None:
    net = small_city.networks["walk"]
    with pytest.raises(ValueError, match="positive number of seconds"):
        check_cutoff(-5, "s")
    with pytest.raises(ValueError, match="absurd"):
        check_cutoff(10 * 86400, "s")
    with pytest.raises(ValueError, match="no sites"):
        DemandSiteCosts(net, np.zeros((3, 2)) + net.node_xy[0], np.zeros((0, 2)))
    with pytest.raises(ValueError, match="unknown mode 'bike'"):
        region_costs(small_city, "bike", small_city.sites)
    with pytest.raises(ValueError, match="direction must be one of"):
        DemandSiteCosts(net, net.node_xy[:3], net.node_xy[3:5]).coverage(100, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="point 1 has no valid coordinates"):
        NetworkCosts(net, np.array([[0.0, 0.0], [np.nan, 1.0]]) + net.node_xy[0])
    # a site on an island 3 km off the city: flagged, and it covers nobody within 10 minutes
    island = net.node_xy.max(axis=0) + 3000
    costs = DemandSiteCosts(net, net.node_xy[:50], np.vstack([net.node_xy[0], island]))
    assert costs.site_snap.too_far.tolist() == [False, True]
    assert costs.coverage(600).costs[:, 1].nnz == 0


def test_link_substring_geometry(sample_region: Region) -> None:
    net = sample_region.networks["walk"]
    link = int(np.argmax(np.diff(net.link_offsets)))  # a link with many vertices
    coords = net.link_coords(link)
    whole = link_substring(net, link, 0.0, 1.0)
    np.testing.assert_allclose(whole, coords)
    part = link_substring(net, link, 0.75, 0.25)
    total = shapely.LineString(coords).length
    assert shapely.LineString(part).length == pytest.approx(total / 2, rel=1e-9)
    np.testing.assert_allclose(part[0], np.array(shapely.LineString(coords).interpolate(0.75, normalized=True).coords[0]))


def test_reach_summary_counts_people_within_reach(small_city: Region) -> None:
    from planner.travel.accessibility import reach_summary, reached_by

    sites = small_city.sites.iloc[:40]
    costs = region_costs(small_city, "walk", sites)
    cov = costs.coverage(600.0)
    full = costs.full()
    existing = (sites["status"] == "existing").to_numpy()
    expected = (full[:, existing] <= 600.0).any(axis=1)
    assert (reached_by(cov, existing) == expected).all()
    weights = small_city.demand["pop_60"].to_numpy()
    summary = reach_summary(cov, {"pop_60": weights}, {"existing": existing, "all": np.ones(len(sites), bool)})
    assert summary["existing"]["pop_60"]["persons"] == pytest.approx(weights[expected].sum(), abs=0.1)
    assert summary["existing"]["pop_60"]["share"] <= summary["all"]["pop_60"]["share"] <= 1.0
    with pytest.raises(ValueError, match="site_mask needs 40 entries"):
        reached_by(cov, np.ones(3, bool))
