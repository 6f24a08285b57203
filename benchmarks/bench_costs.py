"""Benchmark: travel-cost engine vs networkx (and pandana) on the same graphs and sources.

Three parts, each measured in fresh Python processes (time and peak memory are their own):

A. side by side — node-to-node costs within a cutoff from the same source nodes on the same graph:
   our compiled bounded Dijkstra vs the usual networkx loop of ``single_source_dijkstra_path_length``
   (what osmnx users write) and pandana's contraction-hierarchy ``nodes_in_range``; results are
   compared entry by entry;
B. city scale — the coverage matrix of 20,000 candidate sites × 200,000 demand points within
   1,000 m of walking on the Dongguan-scale synthetic city (≈ 300k walk nodes), including snapping;
C. growth — time and memory for 3 city sizes × 2 cutoffs.

    python benchmarks/bench_costs.py            # all parts
    python benchmarks/bench_costs.py --part A   # one part
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, run_child, save  # noqa: E402

WARMUP = """
import numpy as np
from planner.travel import _dijkstra as kern
_ip = np.array([0, 1, 2], np.int64); _h = np.array([1, 0], np.int64); _w = np.array([1.0, 1.0])
kern.bounded_all_nodes(_ip, _h, _w, 2, np.array([0], np.int64), 5.0)
kern.bounded_to_targets(_ip, _h, _w, 2, np.array([0], np.int64), np.zeros(1), 5.0, np.array([-1, 0], np.int64), np.zeros(1))
"""

GRAPH = """
from geodata.synthetic import synthetic_region, SyntheticSpec, dongguan_scale_spec
from geodata.build import build_region
from geodata.sample import sample_sources
def graph(name):
    if name == 'sample':
        return build_region(sample_sources()).networks['walk']
    if name == 'dongguan':
        return synthetic_region(dongguan_scale_spec(0), modes=('walk',)).networks['walk']
    km = float(name.split('x')[0])
    return synthetic_region(SyntheticSpec(seed=0, width_km=km, height_km=km, n_demand=10, n_candidates=10, n_incidents=10), modes=('walk',)).networks['walk']
"""

SIDE_BY_SIDE = WARMUP + GRAPH + """
import json, time, os
import numpy as np
from concurrent.futures import ThreadPoolExecutor
net = graph({graph!r})
rng = np.random.default_rng(0)
sources = rng.choice(net.n_nodes, min({n_sources}, net.n_nodes), replace=False).astype(np.int64)
cutoff = {cutoff}
heads = net.edge_head.astype(np.int64); w = np.ascontiguousarray(net.edge_length)
out = dict(graph={graph!r}, nodes=net.n_nodes, edges=net.n_edges, sources=len(sources), cutoff_m=cutoff)
t = time.perf_counter(); s, tt, c = kern.bounded_all_nodes(net.indptr, heads, w, net.n_nodes, sources, cutoff); out['ours_1thread_s'] = time.perf_counter() - t
chunks = np.array_split(sources, 16)
t = time.perf_counter()
with ThreadPoolExecutor(os.cpu_count()) as pool:
    parts = list(pool.map(lambda ch: kern.bounded_all_nodes(net.indptr, heads, w, net.n_nodes, ch, cutoff), chunks))
out['ours_threads_s'] = time.perf_counter() - t
out['pairs'] = int(len(c))
ours = {{}}
for k, (a, b) in enumerate(zip(s.tolist(), tt.tolist())):
    ours[(int(sources[a]), b)] = c[k]
import networkx as nx
def compare(ref):
    n_ref = sum(len(v) for v in ref.values()); maxdiff = 0.0; missing = 0
    for src, d in ref.items():
        for node, dist in d.items():
            mine = ours.get((src, node))
            if mine is None:
                missing += 1
            else:
                maxdiff = max(maxdiff, abs(mine - dist))
    return bool(missing == 0 and n_ref == len(c) and maxdiff < 1e-6), maxdiff
t = time.perf_counter()
G = nx.DiGraph()
G.add_nodes_from(range(net.n_nodes))
for a, b, l in zip(net.edge_tail.tolist(), net.edge_head.tolist(), net.edge_length.tolist()):
    if not G.has_edge(a, b) or G[a][b]['length'] > l:
        G.add_edge(a, b, length=l)
out['networkx_build_s'] = time.perf_counter() - t
t = time.perf_counter()
ref = {{int(src): nx.single_source_dijkstra_path_length(G, int(src), cutoff=cutoff, weight='length') for src in sources}}
out['networkx_digraph_s'] = time.perf_counter() - t
out['identical_to_networkx'], out['max_abs_diff_m'] = compare(ref)
# the usual osmnx workflow: a MultiDiGraph with a 'length' attribute per edge
M = nx.MultiDiGraph()
M.add_nodes_from(range(net.n_nodes))
M.add_edges_from((a, b, {{'length': l}}) for a, b, l in zip(net.edge_tail.tolist(), net.edge_head.tolist(), net.edge_length.tolist()))
t = time.perf_counter()
ref = {{int(src): nx.single_source_dijkstra_path_length(M, int(src), cutoff=cutoff, weight='length') for src in sources}}
out['networkx_osmnx_s'] = time.perf_counter() - t
ok, diff = compare(ref)
out['identical_to_networkx'] = out['identical_to_networkx'] and ok
out['max_abs_diff_m'] = max(out['max_abs_diff_m'], diff)
try:
    import pandana, pandas as pd
    t = time.perf_counter()
    pnet = pandana.Network(pd.Series(net.node_xy[:, 0]), pd.Series(net.node_xy[:, 1]), pd.Series(net.edge_tail.astype(np.int64)), pd.Series(net.edge_head.astype(np.int64)), pd.DataFrame({{'length': net.edge_length}}), twoway=False)
    out['pandana_build_s'] = time.perf_counter() - t
    t = time.perf_counter()
    res = pnet.nodes_in_range(sources.tolist(), cutoff)
    out['pandana_s'] = time.perf_counter() - t
    pd_pairs = {{(int(a), int(b)): float(d) for a, b, d in res.itertuples(index=False)}}
    diff = [abs(pd_pairs[k] - v) for k, v in ours.items() if k in pd_pairs]
    out['pandana_pairs'] = len(pd_pairs)
    out['pandana_max_abs_diff_m'] = max(diff) if diff else None
except ImportError:
    out['pandana_s'] = None
print(json.dumps(out))
"""

COVERAGE = WARMUP + """
import json, time
import numpy as np
from geodata.synthetic import synthetic_region, SyntheticSpec, dongguan_scale_spec
from planner.travel.region import region_costs
spec = {spec}
t = time.perf_counter(); r = synthetic_region(spec, modes=('walk',)); gen = time.perf_counter() - t
sites = r.sites[r.sites['status'] == 'candidate']
t = time.perf_counter(); costs = region_costs(r, 'walk', sites, weight='length'); setup = time.perf_counter() - t
t = time.perf_counter(); cov = costs.coverage({cutoff}); query = time.perf_counter() - t
print(json.dumps(dict(city={label!r}, walk_nodes=r.networks['walk'].n_nodes, demand=len(r.demand), sites=len(sites), cutoff_m={cutoff},
    generate_s=round(gen, 1), snap_and_attach_s=round(setup, 2), search_s=round(query, 2), costs_total_s=round(setup + query, 2),
    pairs=cov.nnz, pairs_per_site=round(cov.nnz / len(sites), 1), demand_covered_share=round(float((cov.costs.getnnz(axis=1) > 0).mean()), 4))))
"""

SIZES = {
    "10 × 10 km": "SyntheticSpec(seed=0, width_km=10, height_km=10, street_spacing_m=91, n_towns=6, n_demand=8000, population=420000, n_candidates=800)",
    "25 × 25 km": "SyntheticSpec(seed=0, width_km=25, height_km=25, street_spacing_m=91, n_towns=15, n_demand=50000, population=2625000, n_candidates=5000)",
    "50 × 50 km (Dongguan scale)": "dongguan_scale_spec(0)",
}


def part_a() -> list[dict]:
    rows = []
    for graph, n_sources in (("sample", 500), ("10x10", 2000), ("dongguan", 2000)):
        row = run_child(SIDE_BY_SIDE.format(graph=graph, n_sources=n_sources, cutoff=1000.0))
        for base in ("networkx_osmnx", "networkx_digraph", "pandana"):
            if row.get(f"{base}_s"):
                row[f"x_vs_{base}_1thread"] = round(row[f"{base}_s"] / row["ours_1thread_s"], 1)
                row[f"x_vs_{base}"] = round(row[f"{base}_s"] / row["ours_threads_s"], 1)
        for key in ("ours_1thread_s", "ours_threads_s", "networkx_digraph_s", "networkx_osmnx_s", "networkx_build_s", "pandana_s", "pandana_build_s"):
            if row.get(key) is not None:
                row[key] = round(row[key], 3)
        if row.get("pandana_max_abs_diff_m") is not None:
            row["pandana_max_abs_diff_m"] = round(row["pandana_max_abs_diff_m"], 4)
        rows.append(row)
    print(markdown_table(rows, ["graph", "nodes", "edges", "sources", "cutoff_m", "pairs", "ours_1thread_s", "ours_threads_s",
                                "networkx_osmnx_s", "x_vs_networkx_osmnx_1thread", "x_vs_networkx_osmnx",
                                "networkx_digraph_s", "x_vs_networkx_digraph_1thread", "x_vs_networkx_digraph", "identical_to_networkx",
                                "pandana_build_s", "pandana_s", "x_vs_pandana_1thread", "x_vs_pandana", "pandana_pairs", "pandana_max_abs_diff_m", "peak_rss_mb"]))
    return rows


def part_b() -> list[dict]:
    rows = [run_child(COVERAGE.format(spec=SIZES["50 × 50 km (Dongguan scale)"], cutoff=1000.0, label="Dongguan scale"))]
    print(markdown_table(rows, ["city", "walk_nodes", "demand", "sites", "cutoff_m", "snap_and_attach_s", "search_s", "costs_total_s", "pairs", "pairs_per_site", "demand_covered_share", "peak_rss_mb", "generate_s"]))
    return rows


def part_c() -> list[dict]:
    rows = []
    for label, spec in SIZES.items():
        for cutoff in (500.0, 1000.0):
            rows.append(run_child(COVERAGE.format(spec=spec, cutoff=cutoff, label=label)))
    print(markdown_table(rows, ["city", "walk_nodes", "demand", "sites", "cutoff_m", "snap_and_attach_s", "search_s", "costs_total_s", "pairs", "peak_rss_mb"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["A", "B", "C"], action="append")
    parts = parser.parse_args().part or ["A", "B", "C"]
    print(f"machine: {machine()}")
    results = {}
    for part in parts:
        print(f"\n## part {part}")
        results[part] = {"A": part_a, "B": part_b, "C": part_c}[part]()
    save("costs", {"machine": machine(), **results})


if __name__ == "__main__":
    main()
