"""Benchmark: a real-size city built from OSM PBF extracts and a bureau's files, as a user runs it.

The Dongguan-scale synthetic city (50 × 50 km, ≈ 300k walk nodes, 33 towns) is written out as
an ``.osm.pbf`` with pyosmium, once on its own ("city extract") and once inside 25 km of more
streets on every side ("province extract", 100 × 100 km, ≈ 1.2M nodes).  Its towns, 200,000
demand points and candidate sites are written in a bureau's format (GCJ-02 numbers, GBK CSV).
Each build is ``planner region build --pbf … --admin … --population-file … --coords gcj02`` in a
fresh process with an empty cache: the time and the peak memory (RSS) are the command's own.

    python benchmarks/bench_city_pbf.py            # city and province extracts
    python benchmarks/bench_city_pbf.py --quick    # a 10 × 10 km city (a minute)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, markdown_table, run_command, save  # noqa: E402


def build(label: str, pbf: Path, files: dict[str, Path], work: Path) -> dict:
    """Run the build command in a fresh process with an empty cache; its wall time and peak RSS."""
    tag = label.split()[0]
    out = work / f"region-{tag}"
    command = [sys.executable, "-m", "api.cli", "region", "build", "--name", "东莞市 (synthetic)", "--pbf", str(pbf),
               "--admin", str(files["towns"]), "--name-field", "name", "--level-field", "level",
               "--population-file", str(files["demand"]), "--column", "pop_all=pop", "--column", "pop_60=pop60",
               "--candidates", str(files["candidates"]), "--existing", str(files["existing"]), "--site-type", "care_centre",
               "--coords", "gcj02", "--cache-dir", str(work / f"cache-{tag}"), "--out", str(out)]
    run = run_command(command)
    info = subprocess.run([sys.executable, "-m", "api.cli", "region", "info", str(out), "--json"], capture_output=True, text=True, cwd=ROOT)
    summary = json.loads(info.stdout[info.stdout.index("{"):])
    return {
        "extract": label, "pbf_mb": round(pbf.stat().st_size / 1e6, 1), "build_s": run["seconds"], "peak_rss_mb": run["peak_rss_mb"],
        "walk_nodes": summary["networks"]["walk"]["nodes"], "drive_nodes": summary["networks"]["drive"]["nodes"],
        "demand": summary["demand_points"], "sites": sum(summary["sites"].values()), "towns": summary["units"]["town"]["count"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 10 × 10 km city instead of Dongguan scale")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    from geodata.bureau_files import write_bureau_files
    from geodata.synthetic import dongguan_scale_spec
    from geodata.synthetic_pbf import write_synthetic_pbf

    spec = dongguan_scale_spec(0)
    if args.quick:
        spec = dataclasses.replace(spec, width_km=10, height_km=10, n_demand=20_000, n_candidates=2_000, n_towns=8, communities_per_town=5)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-city-pbf-"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    files = write_bureau_files(work / "files", spec, coords="gcj02")
    city = write_synthetic_pbf(spec, work / "city.osm.pbf")
    province = write_synthetic_pbf(spec, work / "province.osm.pbf", margin_km=25)
    print(f"files written in {time.perf_counter() - t:.0f} s: city {city}, province {province}", flush=True)
    rows = [build("city extract", work / "city.osm.pbf", files, work), build("province extract (+25 km around)", work / "province.osm.pbf", files, work)]
    columns = ["extract", "pbf_mb", "build_s", "peak_rss_mb", "walk_nodes", "drive_nodes", "demand", "sites", "towns"]
    print(f"machine: {machine()}")
    print(markdown_table(rows, columns))
    save("city_pbf" + ("_quick" if args.quick else ""), {"machine": machine(), "spec": dataclasses.asdict(spec), "rows": rows})


if __name__ == "__main__":
    main()
