"""Road networks from every OSM source: PBF (pyrosm), OSM XML and GraphML (osmnx), online (offline error)."""

from __future__ import annotations

import time
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pytest

from geodata.errors import DataError, OfflineError
from geodata.network import build_network
from geodata.osm import check_online, download_graph, read_graphml_links, read_osm_xml_links, read_pbf_layer, read_pbf_links
from geodata.sample import sample_pbf_path

CRS = "EPSG:32650"

# A tiny OSM XML file: a square of residential streets (one of them one-way), a footway across it,
# a motorway (not walkable) and a building outline (not a road at all).
OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="23.0200" lon="113.7500"/>
  <node id="2" lat="23.0200" lon="113.7510"/>
  <node id="3" lat="23.0209" lon="113.7510"/>
  <node id="4" lat="23.0209" lon="113.7500"/>
  <node id="5" lat="23.0204" lon="113.7505"/>
  <node id="6" lat="23.0220" lon="113.7500"/>
  <node id="7" lat="23.0220" lon="113.7520"/>
  <node id="20" lat="23.0201" lon="113.7501"/>
  <node id="21" lat="23.0201" lon="113.7502"/>
  <node id="22" lat="23.0202" lon="113.7502"/>
  <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="name" v="东城路"/></way>
  <way id="101"><nd ref="3"/><nd ref="4"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="102"><nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/><tag k="maxspeed" v="40"/></way>
  <way id="103"><nd ref="1"/><nd ref="5"/><nd ref="3"/><tag k="highway" v="footway"/></way>
  <way id="104"><nd ref="4"/><nd ref="6"/><nd ref="7"/><tag k="highway" v="motorway"/><tag k="oneway" v="yes"/></way>
  <way id="105"><nd ref="20"/><nd ref="21"/><nd ref="22"/><nd ref="20"/><tag k="building" v="yes"/></way>
</osm>
"""


@pytest.fixture()
def osm_xml(tmp_path: Path) -> Path:
    path = tmp_path / "square.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    return path


def test_pbf_sample_networks() -> None:
    walk = build_network(read_pbf_links(sample_pbf_path(), "walk"), "walk")
    drive = build_network(read_pbf_links(sample_pbf_path(), "drive"), "drive")
    assert walk.crs == "EPSG:32635"  # Helsinki is in UTM zone 35N
    assert 2000 < walk.n_nodes < 2600  # ~2,500 after simplification
    assert drive.n_nodes < walk.n_nodes
    # one-way streets exist for driving and not for walking
    assert (np.bincount(drive.edge_link) == 1).any()
    assert (np.bincount(walk.edge_link) == 2).all()
    assert walk.info["dropped_nodes"] > 0  # small islands of the clipped extract are reported
    # central Helsinki fits in about 1 × 1.7 km
    extent = walk.node_xy.max(axis=0) - walk.node_xy.min(axis=0)
    assert 900 < extent[0] < 1200 and 1500 < extent[1] < 1800


def test_pbf_layers() -> None:
    buildings = read_pbf_layer(sample_pbf_path(), "buildings")
    places = read_pbf_layer(sample_pbf_path(), "places")
    assert len(buildings) == 486
    assert (places["place"] == "suburb").sum() == 5
    assert (places["place"] == "city_block").sum() == 41
    assert set(places.loc[places["place"] == "suburb", "name"]) >= {"Kluuvi", "Kaartinkaupunki"}


def test_pbf_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found.*missing.pbf"):
        read_pbf_links(tmp_path / "missing.pbf", "walk")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"\x00\x01 definitely not protobuf")
    with pytest.raises(DataError, match="broken.osm.pbf"):
        read_pbf_links(broken, "walk")


def test_osm_xml_walk_and_drive(osm_xml: Path) -> None:
    walk = read_osm_xml_links(osm_xml, "walk", CRS)
    drive = read_osm_xml_links(osm_xml, "drive", CRS)
    assert set(walk.highway) == {"residential", "footway"}  # no motorway, no building
    assert set(drive.highway) == {"residential", "motorway"}
    assert "东城路" in set(walk.name)  # Chinese names untouched
    wnet = build_network(walk, "walk")
    dnet = build_network(drive, "drive")
    # the walk network has the diagonal footway 1-5-3; driving 3 -> 4 -> 1 is one-way around
    assert wnet.n_edges == 2 * wnet.n_links
    # the one-way motorway spur 4 -> 6 -> 7 is not strongly connected: dropped and reported
    assert dnet.info["dropped_nodes"] >= 1
    assert not {6, 7} & set(dnet.node_id.tolist())
    assert 0 < (np.bincount(dnet.edge_link) == 1).sum()


def test_graphml_round_trip(tmp_path: Path) -> None:
    graph = nx.MultiDiGraph(crs="epsg:4326")
    pts = {1: (113.75, 23.02), 2: (113.751, 23.02), 3: (113.751, 23.021)}
    for n, (x, y) in pts.items():
        graph.add_node(n, x=x, y=y)
    for a, b, length in ((1, 2, 102.4), (2, 1, 102.4), (2, 3, 110.6), (3, 2, 110.6)):
        graph.add_edge(a, b, length=length, highway="residential", oneway=False, name="莞城路")
    graph.add_edge(1, 3, length=150.0, highway="primary", oneway=True, maxspeed="60")
    path = tmp_path / "g.graphml"
    ox.save_graphml(graph, path)
    walk = read_graphml_links(path, "walk", CRS)
    drive = read_graphml_links(path, "drive", CRS)
    assert len(walk) == 3  # the two directions of a two-way street are one link
    assert drive.oneway.sum() == 1
    net = build_network(drive, "drive")
    # 1-2-3 merges into one two-way link (2 edges) beside the one-way primary 1 -> 3
    assert net.n_nodes == 2 and net.n_edges == 3
    # lengths come from the graph's 'length' attribute; the primary runs at its maxspeed
    assert net.edge_time.min() == pytest.approx(150.0 / (60 * 0.8 / 3.6))
    assert sorted(net.edge_length.round(1)) == [150.0, 213.0, 213.0]
    with pytest.raises(DataError, match="GraphML file not found"):
        read_graphml_links(tmp_path / "nope.graphml", "walk", CRS)
    (tmp_path / "bad.graphml").write_text("<graphml><oops", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read GraphML"):
        read_graphml_links(tmp_path / "bad.graphml", "walk", CRS)


def test_online_download_fails_fast_and_clearly_when_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a closed local port stands for an unreachable Overpass server
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    started = time.perf_counter()
    with pytest.raises(OfflineError, match=r"cannot reach 127\.0\.0\.1.*--pbf"):
        download_graph("walk", tmp_path, place="莞城街道, 东莞市")
    assert time.perf_counter() - started < 10
    with pytest.raises(OfflineError):
        check_online("http://127.0.0.1:9/")


def test_online_download_uses_its_cache_without_internet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A region downloaded once is read from the cache next time, even offline."""
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    graph = nx.MultiDiGraph(crs="epsg:4326")
    graph.add_node(1, x=113.75, y=23.02)
    graph.add_node(2, x=113.751, y=23.02)
    graph.add_edge(1, 2, length=102.4, highway="residential", oneway=False)
    graph.add_edge(2, 1, length=102.4, highway="residential", oneway=False)
    import hashlib

    key = hashlib.sha256("walk|莞城街道".encode()).hexdigest()[:16]
    ox.save_graphml(graph, tmp_path / f"osmnx-walk-{key}.graphml")
    path = download_graph("walk", tmp_path, place="莞城街道")
    assert len(read_graphml_links(path, "walk", CRS)) == 1


def test_a_province_extract_is_cut_to_the_region(tmp_path: Path) -> None:
    """A PBF larger than the region (a province's) is cut to the boundary box + 2 km before reading."""
    import geopandas as gpd

    from geodata.build import AdminSource, NetworkSource, PopulationSource, RegionSources, build_region
    from geodata.bureau_files import write_bureau_files
    from geodata.synthetic import SyntheticSpec
    from geodata.synthetic_pbf import write_synthetic_pbf

    city = SyntheticSpec(seed=5, width_km=4, height_km=4, n_towns=3, communities_per_town=2, n_demand=400, n_candidates=60)
    province = tmp_path / "province.osm.pbf"
    written = write_synthetic_pbf(city, province, margin_km=6)  # 16 × 16 km of streets around a 4 × 4 km city
    files = write_bureau_files(tmp_path / "files", city, coords="wgs84", encoding="utf-8")
    sources = RegionSources(name="合成市", network=NetworkSource(kind="pbf", path=str(province)),
                            admin=[AdminSource(str(files["towns"]), name_field="name", level_field="level")],
                            population=PopulationSource(kind="points", path=str(files["demand"])), columns={"pop_all": "pop", "pop_60": "pop60"},
                            modes=["walk"], osm_sites=False)
    region = build_region(sources, cache_dir=tmp_path / "cache")
    clip = region.provenance["pbf_clip"]
    # the box is 8 × 8 km of the 16 × 16 km file: about a quarter, plus the ways crossing its edge
    assert Path(clip["file"]).is_file() and Path(clip["file"]).stat().st_size < 0.45 * province.stat().st_size
    assert clip["ways"] < 0.45 * written["ways"]
    net = region.networks["walk"]
    x0, y0, x1, y1 = gpd.GeoSeries([region.boundary], crs="EPSG:4326").to_crs(region.crs).iloc[0].bounds
    x, y = net.node_xy.T
    beyond = np.maximum.reduce([x0 - x, x - x1, y0 - y, y - y1, np.zeros(len(x))])  # metres outside the city's box, per axis
    assert beyond.max() <= 2000 + 250  # the 2 km margin plus at most one street segment and the grid's tilt
    assert (beyond == 0).mean() > 0.2 and beyond.max() > 1500  # the city and the margin, nothing more
    assert "SYNTHETIC OpenStreetMap-format file" in region.data_label["en"]
