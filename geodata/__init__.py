"""Data in and out: OpenStreetMap, population, admin units and sites → a :class:`Region`.

Reads and validates sources, projects them to a local metric CRS, builds the compact routable
networks and caches the result on disk.  Coordinates are WGS-84 at every edge.
"""

from geodata.errors import DataError, DataIssue, OfflineError
from geodata.network import Network
from geodata.region import Region

__all__ = ["DataError", "DataIssue", "OfflineError", "Network", "Region"]
