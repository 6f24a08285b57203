"""Travel speeds per mode: elderly walking, and driving from OSM ``maxspeed`` or the road class.

Defaults, each overridable per region/scenario (see ``docs/STANDARDS.md``):

* **Walking**: 0.9 m/s.  Older people walk at roughly 0.8–1.0 m/s, not the 1.4 m/s used for adults
  (design brief §3; gait-speed studies of adults over 65 report means around 0.9–1.0 m/s).
* **Driving**: the edge's ``maxspeed`` tag when it parses (``"50"``, ``"30 mph"``, ``"CN:urban"``),
  else the class speed of :data:`DEFAULT_DRIVE_SPEEDS_KPH`; both multiplied by
  :data:`DEFAULT_DRIVE_SPEED_FACTOR` (0.8: urban traffic rarely runs at the limit).  The class
  speeds follow the design speeds of China's urban-road standard CJJ 37 (expressway 60–100 km/h,
  arterial 40–60, sub-arterial 30–50, branch 20–40 km/h), taken near their middle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_WALK_SPEED_MPS = 0.9
"""Elderly walking speed, metres per second."""

DEFAULT_DRIVE_SPEED_FACTOR = 0.8
"""Share of the legal/class speed actually driven in town traffic."""

DEFAULT_DRIVE_SPEEDS_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 35.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 15.0,
    "service": 20.0,
    "road": 30.0,
    "track": 15.0,
}
"""Road-class speeds in km/h used when an edge has no usable ``maxspeed``."""

DEFAULT_DETOUR_FACTOR = 1.3
"""Without a road network: network distance ≈ straight-line distance × 1.3 (a common urban
value; measured circuity of city street networks is mostly 1.2–1.4)."""

FALLBACK_DRIVE_SPEED_KPH = 30.0
"""Speed for drivable road classes absent from the table, km/h."""

# Zone codes used in OSM maxspeed values ("CN:urban", "FI:rural", "DE:living_street" ...).
_ZONE_SPEEDS_KPH = {
    "urban": 50.0,
    "rural": 80.0,
    "motorway": 110.0,
    "trunk": 90.0,
    "living_street": 15.0,
    "walk": 7.0,
    "zone30": 30.0,
    "zone20": 20.0,
}
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(mph|km/h|kmh|kph|knots)?", re.IGNORECASE)


def parse_maxspeed(value: object) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h, or None when it says nothing usable.

    Handles plain numbers, ``mph``, ranges and lists (``"50;30"`` → the lowest), zone codes
    (``"CN:urban"``, ``"RU:zone30"``), ``walk`` and ``none`` (unlimited: None, so the class speed
    is used).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, tuple)):
        speeds = [s for s in (parse_maxspeed(v) for v in value) if s is not None]
        return min(speeds) if speeds else None
    text = str(value).strip().lower()
    if not text or text in {"none", "signals", "variable", "unknown", "no"}:
        return None
    if ";" in text or "|" in text:
        return parse_maxspeed(re.split(r"[;|]", text))
    match = _NUMBER.search(text)
    if match and not text.split(":")[-1].startswith("zone"):
        speed = float(match.group(1).replace(",", "."))
        unit = (match.group(2) or "").lower()
        if unit == "mph":
            speed *= 1.609344
        elif unit == "knots":
            speed *= 1.852
        return speed if 0.0 < speed <= 200.0 else None
    zone = text.split(":")[-1].replace(" ", "_")
    if zone in _ZONE_SPEEDS_KPH:
        return _ZONE_SPEEDS_KPH[zone]
    return None


def first_highway(value: object) -> str:
    """The road class of an edge whose ``highway`` may be a list (osmnx merges) or missing."""
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else "road"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "road"
    return str(value)


@dataclass(frozen=True)
class SpeedProfile:
    """How fast each mode travels.

    Attributes
    ----------
    walk_mps
        Walking speed, metres per second (default 0.9, elderly).
    drive_class_kph
        Road-class speeds in km/h for edges without a usable ``maxspeed``.
    drive_factor
        Multiplier on drive speeds for traffic (default 0.8).
    use_maxspeed
        Whether to use OSM ``maxspeed`` when present.
    access_walk_mps
        Speed over the connector between a point (home, site) and the road it is snapped to, for
        the drive mode: you walk to the car.  Metres per second.
    """

    walk_mps: float = DEFAULT_WALK_SPEED_MPS
    drive_class_kph: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DRIVE_SPEEDS_KPH))
    drive_factor: float = DEFAULT_DRIVE_SPEED_FACTOR
    use_maxspeed: bool = True
    access_walk_mps: float = DEFAULT_WALK_SPEED_MPS

    def __post_init__(self) -> None:
        if not (0.1 <= self.walk_mps <= 3.0):
            raise ValueError(f"walk_mps={self.walk_mps} m/s is not a walking speed (0.1–3.0)")
        if not (0.1 <= self.drive_factor <= 1.5):
            raise ValueError(f"drive_factor={self.drive_factor} must lie in 0.1–1.5")

    def drive_kph(self, highway: object, maxspeed: object) -> float:
        """Driving speed of one edge in km/h (after the traffic factor)."""
        speed = parse_maxspeed(maxspeed) if self.use_maxspeed else None
        if speed is None:
            speed = self.drive_class_kph.get(first_highway(highway), FALLBACK_DRIVE_SPEED_KPH)
        return speed * self.drive_factor

    def straight_line_mps(self, mode: str) -> float:
        """Speed for straight-line travel estimates (regions without a road network), m/s.

        Walking: :attr:`walk_mps`.  Driving: :data:`FALLBACK_DRIVE_SPEED_KPH` (the speed of an
        ordinary urban street, 30 km/h) × :attr:`drive_factor`, i.e. 24 km/h by default.
        """
        if mode == "walk":
            return float(self.walk_mps)
        if mode == "drive":
            return FALLBACK_DRIVE_SPEED_KPH * self.drive_factor / 3.6
        raise ValueError(f"unknown mode {mode!r}; use walk or drive")

    def describe(self) -> dict[str, object]:
        """The profile as a JSON-friendly dictionary, for provenance."""
        return {
            "walk_mps": self.walk_mps,
            "drive_factor": self.drive_factor,
            "use_maxspeed": self.use_maxspeed,
            "drive_class_kph": dict(self.drive_class_kph),
            "access_walk_mps": self.access_walk_mps,
        }
