"""Benchmark: the coverage map of a whole city — write time, size on disk, first screen in Chromium.

The Dongguan-scale synthetic city (200,000 demand points, 20,000 candidates, 33 towns): a meal-point
plan (MCLP, 400 new sites, 10-minute walk; solver capped at 30 s — the map, not the plan, is
measured), then

* **basemap**: the region's offline vector basemap made by tippecanoe (once per region);
* **write**: ``coverage_map`` + ``save_map`` (the points and candidates cut into the map's own
  vector tiles, the basemap's script written beside it);
* **size**: the HTML and everything in its ``assets/`` folder;
* **first screen**: headless Chromium (offline) opening the page from disk until the data layers
  are drawn and the basemap's first tiles have loaded (the page marks both; idle time skipped
  with ``--virtual-time-budget``): wall clock, best of 3, minus the same browser opening an
  empty page (its start-up); and a screenshot to look at.

Targets (issue 13): write ≤ 20 s, ≤ 15 MB with tiles, first screen ≤ 3 s.  Side by side, the same
map written the old way (every point drawn one by one as SVG) — its write time and size.

    python benchmarks/bench_maps.py
    python benchmarks/bench_maps.py --small      # a 10 × 10 km city
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, run_child, save  # noqa: E402

CODE = """
import json, os, subprocess, tempfile, time, shutil
from pathlib import Path
import numpy as np
from geodata.synthetic import synthetic_region, dongguan_scale_spec, SyntheticSpec
from geodata.basemap import region_basemap
from maps.base import Basemap, save_map
from maps.views import coverage_map
from planner.scenario import Scenario, run_scenario

def folder_mb(path):
    return sum(f.stat().st_size for f in Path(path).rglob('*') if f.is_file()) / 1e6

spec = {spec}
t = time.perf_counter(); region = synthetic_region(spec, modes=("walk",)); generate = time.perf_counter() - t
plan = run_scenario(region, Scenario(name="助餐配餐点", facility_type="meal_point", model="mclp", n_new={p}, standard_min=10, time_limit=30))
out = Path(tempfile.mkdtemp(prefix="bench-maps-"))
t = time.perf_counter(); archive = region_basemap(region, out / "cache"); basemap_s = time.perf_counter() - t
t = time.perf_counter()
m = coverage_map(plan, lang="zh", basemap=Basemap.offline(archive))
page = save_map(m, out / "city" / "coverage.html")
write_s = time.perf_counter() - t
size_mb = folder_mb(out / "city")
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
flags = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", "--proxy-server=127.0.0.1:9",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-background-networking"]
first, launch = [], []
blank = out / "blank.html"
blank.write_text("<!doctype html><title>blank</title><p>blank</p>", encoding="utf-8")
for _ in range(3):
    t = time.perf_counter()
    subprocess.run(flags + ["--virtual-time-budget=15000", "--dump-dom", blank.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    launch.append(time.perf_counter() - t)
    t = time.perf_counter()
    dom = subprocess.run(flags + ["--virtual-time-budget=15000", "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout
    first.append(time.perf_counter() - t)
assert 'data-basemap-ms="' in dom and 'data-drawn-ms="' in dom, "the page did not finish drawing"
drawn = ("planner-legend" in dom) and ("planner-title" in dom) and dom.count("leaflet-interactive") > 10
subprocess.run(flags + ["--virtual-time-budget=8000", f"--screenshot={{out / 'city.png'}}", page.resolve().as_uri()], capture_output=True, timeout=120)
# the old way: every demand point and candidate drawn one by one
t = time.perf_counter()
old = save_map(coverage_map(plan, lang="zh", detail_limit=10**9), out / "old" / "coverage.html")
old_write_s = time.perf_counter() - t
old_mb = folder_mb(out / "old")
print(json.dumps(dict(city={label!r}, demand=len(region.demand), candidates=int((region.sites["status"] == "candidate").sum()),
    communities=int((region.units["level"] == "community").sum()), basemap_s=round(basemap_s, 1), basemap_mb=round(archive.path.stat().st_size / 1e6, 2),
    write_s=round(write_s, 1), size_mb=round(size_mb, 1), first_screen_s=round(min(first) - min(launch), 2), browser_start_s=round(min(launch), 2), drawn=drawn,
    old_write_s=round(old_write_s, 1), old_size_mb=round(old_mb, 1), write_ratio=round(old_write_s / write_s, 1),
    size_ratio=round(old_mb / size_mb, 1), screenshot=str(out / "city.png"), generate_s=round(generate, 1))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    if args.small:
        row = run_child(CODE.format(spec="SyntheticSpec(seed=0, width_km=10, height_km=10, street_spacing_m=91, n_towns=6, n_demand=8000, population=420000, n_candidates=800)",
                                    p=16, label="10 x 10 km"))
    else:
        row = run_child(CODE.format(spec="dongguan_scale_spec(0)", p=400, label="Dongguan scale (50 x 50 km)"))
    print(f"machine: {machine()}")
    print(markdown_table([row], ["city", "demand", "candidates", "communities", "basemap_s", "basemap_mb", "write_s", "size_mb", "first_screen_s", "browser_start_s", "drawn",
                                 "old_write_s", "old_size_mb", "write_ratio", "size_ratio", "peak_rss_mb"]))
    print(row["screenshot"])
    save("maps", {"machine": machine(), "row": row})


if __name__ == "__main__":
    main()
