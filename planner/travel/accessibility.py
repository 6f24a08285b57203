"""Accessibility figures from a coverage matrix: who is within reach of which sites."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from planner.travel.costs import CoverageMatrix


def reached_by(coverage: CoverageMatrix, site_mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """For each demand point, whether at least one site with ``site_mask`` is within the cutoff."""
    site_mask = np.asarray(site_mask, bool)
    if site_mask.shape != (coverage.shape[1],):
        raise ValueError(f"site_mask needs {coverage.shape[1]} entries, not {site_mask.shape}")
    if not site_mask.any():
        return np.zeros(coverage.shape[0], bool)
    return np.asarray(coverage.covered()[:, np.flatnonzero(site_mask)].sum(axis=1)).ravel() > 0


def reach_summary(coverage: CoverageMatrix, weights: dict[str, NDArray[np.float64]], site_sets: dict[str, NDArray[np.bool_]]) -> dict[str, Any]:
    """Persons of each group within the cutoff of each set of sites.

    Parameters
    ----------
    coverage
        Demand × site coverage.
    weights
        Group name → persons per demand point (e.g. ``{"pop_60": ...}``).
    site_sets
        Set name → boolean mask over sites (e.g. ``{"existing": ..., "all": ...}``).

    Returns
    -------
    dict
        ``{set: {group: {"persons": x, "share": y}}}`` plus the cutoff, unit and cost kind.
    """
    result: dict[str, Any] = {"cutoff": coverage.cutoff, "unit": coverage.unit, "kind": coverage.kind, "direction": coverage.direction, "pairs": coverage.nnz}
    for name, mask in site_sets.items():
        reached = reached_by(coverage, mask)
        result[name] = {}
        for group, w in weights.items():
            w = np.asarray(w, float)
            total = float(w.sum())
            within = float(w[reached].sum())
            result[name][group] = {"persons": round(within, 1), "share": round(within / total, 4) if total > 0 else None}
    return result
