"""Benchmark: building regions — the bundled sample (real OSM) and a Dongguan-scale synthetic city.

Each build runs in a fresh interpreter so that time and peak memory are its own.

    python benchmarks/bench_region_build.py            # sample + Dongguan scale
    python benchmarks/bench_region_build.py --quick    # sample + a 10 × 10 km synthetic city
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, run_child, save  # noqa: E402

SAMPLE = """
import json, time, tempfile
from geodata.build import build_region
from geodata.sample import sample_sources
from geodata.region import Region
t = time.perf_counter(); r = build_region(sample_sources()); build = time.perf_counter() - t
d = tempfile.mkdtemp(); t = time.perf_counter(); r.save(d); save = time.perf_counter() - t
t = time.perf_counter(); Region.load(d); load = time.perf_counter() - t
w = r.networks['walk']; dr = r.networks['drive']
print(json.dumps(dict(region='sample (Helsinki, real OSM)', build_s=round(build, 2), save_s=round(save, 2), load_s=round(load, 3),
  walk_nodes=w.n_nodes, walk_edges=w.n_edges, drive_nodes=dr.n_nodes, demand=len(r.demand), sites=len(r.sites),
  units=len(r.units), area_km2=round(r.area_km2(), 2))))
"""

SYNTH = """
import json, time, tempfile
from geodata.synthetic import synthetic_region, SyntheticSpec, dongguan_scale_spec
from geodata.region import Region
spec = {spec}
t = time.perf_counter(); r = synthetic_region(spec); build = time.perf_counter() - t
d = tempfile.mkdtemp(); t = time.perf_counter(); r.save(d); save = time.perf_counter() - t
t = time.perf_counter(); Region.load(d); load = time.perf_counter() - t
w = r.networks['walk']; dr = r.networks['drive']
print(json.dumps(dict(region={label!r}, build_s=round(build, 2), save_s=round(save, 2), load_s=round(load, 3),
  walk_nodes=w.n_nodes, walk_edges=w.n_edges, drive_nodes=dr.n_nodes, demand=len(r.demand), sites=len(r.sites),
  units=len(r.units), area_km2=round(r.area_km2(), 2))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 10 × 10 km synthetic city instead of Dongguan scale")
    args = parser.parse_args()
    rows = [run_child(SAMPLE)]
    if args.quick:
        rows.append(run_child(SYNTH.format(spec="SyntheticSpec(seed=0, width_km=10, height_km=10, n_demand=20000, n_candidates=2000)", label="synthetic 10 × 10 km")))
    else:
        rows.append(run_child(SYNTH.format(spec="dongguan_scale_spec(0)", label="synthetic, Dongguan scale (50 × 50 km)")))
    columns = ["region", "build_s", "save_s", "load_s", "peak_rss_mb", "area_km2", "walk_nodes", "walk_edges", "drive_nodes", "demand", "sites", "units"]
    print(f"machine: {machine()}")
    print(markdown_table(rows, columns))
    save("region_build", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
