"""Readers for public reference instances used by tests and benchmarks (never bundled).

* OR-Library p-median (Beasley 1990): ``pmedN.txt`` and ``pmedopt.txt``.
* Solomon (1987) VRPTW instances: ``C101.txt`` …
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from geodata.errors import DataError


@dataclass(frozen=True)
class PMedianInstance:
    """An OR-Library p-median instance: ``n`` nodes, ``p`` medians, undirected weighted edges (1-based ids)."""

    name: str
    n: int
    p: int
    edges: NDArray[np.int64]  # (m, 3): i, j, cost — the last occurrence of a pair holds


def read_orlib_pmed(path: str | Path) -> PMedianInstance:
    """Read ``pmedN.txt``: first line ``n m p``, then ``m`` lines ``i j cost``.

    If an edge appears more than once, the last occurrence holds (OR-Library's rule).
    """
    path = Path(path)
    try:
        numbers = np.array(path.read_text().split(), dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read p-median instance: {exc}", source=path) from exc
    if len(numbers) < 3:
        raise DataError("p-median file too short", source=path)
    n, m, p = (int(v) for v in numbers[:3])
    body = numbers[3 : 3 + 3 * m]
    if len(body) != 3 * m:
        raise DataError(f"expected {m} edges", source=path)
    edges = body.reshape(m, 3)
    # keep the last occurrence of each undirected pair
    key = np.minimum(edges[:, 0], edges[:, 1]) * (n + 1) + np.maximum(edges[:, 0], edges[:, 1])
    _, last_rev = np.unique(key[::-1], return_index=True)
    keep = np.sort(len(key) - 1 - last_rev)
    return PMedianInstance(path.stem, n, p, edges[keep])


def read_orlib_optima(path: str | Path) -> dict[str, int]:
    """Read ``pmedopt.txt`` into ``{"pmed1": 5819, ...}``."""
    optima = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("pmed") and parts[1].isdigit():
            optima[parts[0]] = int(parts[1])
    return optima


@dataclass(frozen=True)
class SolomonInstance:
    """A Solomon VRPTW instance; row 0 of the arrays is the depot.

    Attributes: ``vehicles`` and ``capacity`` of the fleet; ``xy`` coordinates; ``demand``;
    ``ready``/``due`` time windows; ``service`` times (Solomon's time units = distance units).
    """

    name: str
    vehicles: int
    capacity: int
    xy: NDArray[np.float64]
    demand: NDArray[np.int64]
    ready: NDArray[np.float64]
    due: NDArray[np.float64]
    service: NDArray[np.float64]

    def distances(self) -> NDArray[np.float64]:
        """Euclidean distance matrix (unrounded), depot first."""
        diff = self.xy[:, None, :] - self.xy[None, :, :]
        return np.hypot(diff[..., 0], diff[..., 1])


SOLOMON_BEST_KNOWN_C1 = {"C101": 827.3, "C102": 827.3, "C103": 826.3, "C104": 822.9, "C105": 827.3, "C106": 827.3, "C107": 827.3, "C108": 827.3, "C109": 827.3}
"""Best known distances of the C1 class (10 vehicles), as given in the shared data's README
(about 827; C103 826.3, C104 822.9)."""


def read_solomon(path: str | Path) -> SolomonInstance:
    """Read a Solomon instance in the classic text format (vehicle count and capacity, then one
    row per customer: number, x, y, demand, ready time, due date, service time; customer 0 is the
    depot)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read Solomon instance: {exc}", source=path) from exc
    rows = [line.split() for line in lines]
    numeric = [r for r in rows if r and all(_is_number(v) for v in r)]
    fleet = [r for r in numeric if len(r) == 2]
    customers = [r for r in numeric if len(r) == 7]
    if not fleet or not customers:
        raise DataError("not a Solomon instance (no VEHICLE or CUSTOMER section)", source=path)
    table = np.array(customers, dtype=float)
    if table[0, 0] != 0:
        raise DataError("customer 0 (the depot) must come first", source=path)
    return SolomonInstance(
        name=path.stem, vehicles=int(fleet[0][0]), capacity=int(fleet[0][1]), xy=table[:, 1:3],
        demand=table[:, 3].astype(np.int64), ready=table[:, 4], due=table[:, 5], service=table[:, 6],
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
