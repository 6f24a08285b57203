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
