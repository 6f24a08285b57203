"""The compact network: pricing, simplification, one-way streets, components, persistence."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from geodata.errors import DataError
from geodata.network import LinkTable, Network, build_network
from geodata.speeds import SpeedProfile, parse_maxspeed


def table(links: list[tuple[int, int]], xy: dict[int, tuple[float, float]], *, oneway=None, highway=None, maxspeed=None) -> LinkTable:
    ids = np.array(sorted(xy), dtype=np.int64)
    coords = [np.array([xy[a], xy[b]], float) for a, b in links]
    return LinkTable.from_segments(
        [a for a, _ in links], [b for _, b in links], coords, ids, np.array([xy[i] for i in ids]), "EPSG:32650",
        oneway=oneway, highway=highway, maxspeed=maxspeed, source="test",
    )


def reference_times(links: LinkTable, mode: str, speeds: SpeedProfile) -> nx.DiGraph:
    """networkx graph of the *unsimplified* table, priced independently of build_network."""
    graph = nx.DiGraph()
    for i in range(len(links)):
        a, b = int(links.u[i]), int(links.v[i])
        if a == b:
            continue
        speed = speeds.walk_mps if mode == "walk" else speeds.drive_kph(links.highway[i], links.maxspeed[i]) / 3.6
        t = links.length_m[i] / speed
        for s, d in ([(a, b)] if (mode == "drive" and links.oneway[i]) else [(a, b), (b, a)]):
            if not graph.has_edge(s, d) or graph[s][d]["t"] > t:
                graph.add_edge(s, d, t=t)
    return graph


def test_walk_speed_and_simplification_on_a_chain() -> None:
    # 1 - 2 - 3 - 4 with a branch 3 - 5: node 2 is interstitial, 3 is a junction
    xy = {1: (0, 0), 2: (90, 0), 3: (180, 0), 4: (270, 0), 5: (180, 90)}
    net = build_network(table([(1, 2), (2, 3), (3, 4), (3, 5)], xy), "walk")
    assert net.n_nodes == 4  # node 2 merged away
    assert net.n_links == 3
    one_to_three = [e for e in range(net.n_edges) if net.node_id[net.edge_tail[e]] == 1]
    assert len(one_to_three) == 1
    e = one_to_three[0]
    assert net.edge_length[e] == pytest.approx(180.0)
    assert net.edge_time[e] == pytest.approx(180.0 / 0.9)  # elderly walking speed, seconds
    assert len(net.edge_coords(e)) == 3  # geometry keeps the merged vertex


def test_oneway_streets_are_one_way_for_driving_only() -> None:
    xy = {1: (0, 0), 2: (100, 0), 3: (100, 100), 4: (0, 100)}
    links = table([(1, 2), (2, 3), (3, 4), (4, 1)], xy, oneway=[True, True, True, True], highway=["residential"] * 4)
    drive = build_network(links, "drive", simplify=False)
    walk = build_network(links, "walk", simplify=False)
    assert drive.n_edges == 4 and walk.n_edges == 8
    d = dijkstra(drive.to_scipy())
    pos = {int(n): i for i, n in enumerate(drive.node_id)}
    # going "backwards" 2 -> 1 means driving round the block
    speed = 30 * 0.8 / 3.6
    assert d[pos[2], pos[1]] == pytest.approx(300 / speed)
    assert d[pos[1], pos[2]] == pytest.approx(100 / speed)


def test_maxspeed_beats_road_class() -> None:
    xy = {1: (0, 0), 2: (1000, 0)}
    fast = build_network(table([(1, 2)], xy, highway=["residential"], maxspeed=["60"]), "drive")
    slow = build_network(table([(1, 2)], xy, highway=["residential"], maxspeed=[None]), "drive")
    assert fast.edge_time[0] == pytest.approx(1000 / (60 * 0.8 / 3.6))
    assert slow.edge_time[0] == pytest.approx(1000 / (30 * 0.8 / 3.6))


@pytest.mark.parametrize(
    ("raw", "kph"),
    [("50", 50.0), ("30 mph", 30 * 1.609344), ("CN:urban", 50.0), ("RU:zone30", 30.0), ("50;40", 40.0),
     ("none", None), (None, None), ("signals", None), (float("nan"), None), (["60", "40"], 40.0), ("walk", 7.0)],
)
def test_parse_maxspeed(raw, kph) -> None:
    got = parse_maxspeed(raw)
    assert got == (pytest.approx(kph) if kph is not None else None)


def test_largest_strong_component_is_kept_and_the_rest_reported() -> None:
    xy = {1: (0, 0), 2: (100, 0), 3: (200, 0), 10: (5000, 0), 11: (5100, 0)}
    net = build_network(table([(1, 2), (2, 3), (10, 11)], xy), "walk", simplify=False)
    assert set(net.node_id.tolist()) == {1, 2, 3}
    assert net.info["dropped_nodes"] == 2
    assert net.info["dropped_links"] == 1
    assert net.info["components"] == 2


def test_bad_networks_are_named_errors() -> None:
    xy = {1: (0, 0), 2: (100, 0)}
    with pytest.raises(DataError, match="no walk roads"):
        build_network(LinkTable.from_segments([], [], [], np.array([1]), np.zeros((1, 2)), "EPSG:32650", source="empty.pbf"), "walk")
    bad = table([(1, 2)], xy)
    bad.length_m[:] = -5
    with pytest.raises(DataError, match="negative or missing length.*field 'length'"):
        build_network(bad, "walk")
    with pytest.raises(ValueError, match="unknown mode 'bike'"):
        build_network(table([(1, 2)], xy), "bike")


def test_save_and_load_round_trip(tmp_path, small_city) -> None:
    net = small_city.networks["drive"]
    path = tmp_path / "net.npz"
    net.save(path)
    back = Network.load(path)
    for name in ("node_xy", "indptr", "edge_head", "edge_time", "link_xy", "edge_reversed"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    assert back.name_vocab == net.name_vocab and back.info == net.info
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read network file"):
        Network.load(tmp_path / "broken.npz")


@st.composite
def random_graphs(draw):
    n = draw(st.integers(3, 25))
    pts = {i: (draw(st.floats(0, 2000)), draw(st.floats(0, 2000))) for i in range(n)}
    m = draw(st.integers(n - 1, 3 * n))
    edges = [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))) for _ in range(m)]
    oneway = [draw(st.booleans()) for _ in range(m)]
    hw = [draw(st.sampled_from(["primary", "residential", "service"])) for _ in range(m)]
    return pts, edges, oneway, hw


@settings(max_examples=80, deadline=None)
@given(random_graphs(), st.sampled_from(["walk", "drive"]))
def test_simplified_network_keeps_every_shortest_time(graph, mode) -> None:
    """Simplification and component filtering never change a travel time between kept nodes."""
    pts, edges, oneway, hw = graph
    links = table(edges, pts, oneway=oneway, highway=hw)
    try:
        net = build_network(links, mode)
    except DataError:
        return  # nothing with two connected nodes: acceptable, and said so
    ref = reference_times(links, mode, SpeedProfile())
    got = dijkstra(net.to_scipy())
    ids = net.node_id.tolist()
    for i, a in enumerate(ids):
        lengths = nx.single_source_dijkstra_path_length(ref, a, weight="t")
        for j, b in enumerate(ids):
            assert got[i, j] == pytest.approx(lengths[b], rel=1e-9, abs=1e-9)
