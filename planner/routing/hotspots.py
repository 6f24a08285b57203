"""Patrol hotspots from records of sightings and assistance cases.

Cases are clustered in projected metres with scikit-learn (DBSCAN by default; OPTICS with the ξ
method on request, for hotspots of different densities);
each cluster becomes a hotspot weighted by how many cases it had and how recent they are, with a
time window taken from the hours at which its cases happened (circular: a night window may cross
midnight).

Units: coordinates metres (a projected CRS), ``eps_m`` metres, times as pandas timestamps,
windows minutes after midnight (an end above 1,440 means after the next midnight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class HotspotParams:
    """How cases become hotspots.

    Attributes
    ----------
    method
        ``"dbscan"``: one density, cases closer than ``eps_m`` chain into one hotspot.
        ``"optics"``: hotspots of *different* densities (a tight cluster under a bridge and a
        looser one around a station) found by OPTICS's ξ method, neighbourhoods up to
        ``max_eps_m``.
    eps_m
        DBSCAN's neighbourhood radius, metres.
    min_cases
        Fewest cases for a DBSCAN hotspot (``min_samples``); OPTICS uses twice as many
        neighbours to estimate density.
    xi, max_eps_m, min_cluster_cases
        OPTICS: the steepness that separates hotspots (0–1), the largest neighbourhood, metres,
        and the fewest cases of a hotspot.
    half_life_days
        A case's weight halves every this many days before ``reference_time``.
    window_share
        Share of a hotspot's cases its time window must contain (the shortest such window).
    min_window_min
        Shortest window, minutes (widened around its middle when the cases are tightly timed).
    """

    method: Literal["dbscan", "optics"] = "dbscan"
    eps_m: float = 150.0
    min_cases: int = 5
    xi: float = 0.1
    max_eps_m: float = 1000.0
    min_cluster_cases: int = 15
    half_life_days: float = 90.0
    window_share: float = 0.8
    min_window_min: float = 60.0

    def validated(self) -> "HotspotParams":
        """Raise ValueError naming the parameter when a value is out of range."""
        if self.method not in ("dbscan", "optics"):
            raise ValueError(f"method must be 'dbscan' or 'optics', not {self.method!r}")
        if not self.eps_m > 0:
            raise ValueError("eps_m must be a positive distance in metres")
        if self.min_cases < 2:
            raise ValueError("min_cases must be at least 2")
        if not 0 < self.xi < 1:
            raise ValueError("xi must lie between 0 and 1")
        if not self.max_eps_m > 0 or self.min_cluster_cases < 2:
            raise ValueError("max_eps_m must be positive (metres) and min_cluster_cases at least 2")
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be positive")
        if not 0 < self.window_share <= 1:
            raise ValueError("window_share must be in (0, 1]")
        if not 0 <= self.min_window_min <= MINUTES_PER_DAY:
            raise ValueError("min_window_min must be between 0 and 1,440 minutes")
        return self


def cluster_cases(xy: NDArray[np.float64], params: HotspotParams) -> NDArray[np.int64]:
    """Cluster label per case (``-1`` = noise), clusters numbered by size, largest first."""
    from sklearn.cluster import DBSCAN, OPTICS

    if params.method == "dbscan":
        labels = DBSCAN(eps=params.eps_m, min_samples=params.min_cases, algorithm="ball_tree").fit_predict(xy)
    else:
        labels = OPTICS(min_samples=2 * params.min_cases, max_eps=params.max_eps_m, xi=params.xi,
                        min_cluster_size=params.min_cluster_cases, cluster_method="xi").fit_predict(xy)
    labels = np.asarray(labels, np.int64)
    found = labels >= 0
    if not found.any():
        return labels
    sizes = np.bincount(labels[found])
    rank = np.empty_like(sizes)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    out = np.full(len(labels), -1, np.int64)
    out[found] = rank[labels[found]]
    return out


def circular_window(minutes: NDArray[np.float64], share: float, min_length: float = 0.0) -> tuple[float, float]:
    """Shortest time-of-day window holding ``share`` of the given times (minutes after midnight).

    Returns ``(start, end)`` minutes with ``0 ≤ start < 1440`` and ``end ≥ start`` (an end above
    1,440 crosses midnight).  The window is widened around its middle to ``min_length``.
    """
    m = np.sort(np.mod(np.asarray(minutes, float), MINUTES_PER_DAY))
    n = len(m)
    if n == 0:
        raise ValueError("no times to derive a window from")
    k = max(1, math.ceil(share * n))
    if k >= n and share >= 1:
        k = n
    doubled = np.concatenate([m, m + MINUTES_PER_DAY])
    spans = doubled[k - 1 : k - 1 + n] - doubled[:n]
    best = int(np.argmin(spans))
    start, end = float(doubled[best]), float(doubled[best + k - 1])
    if end - start < min_length:
        middle = 0.5 * (start + end)
        start, end = middle - 0.5 * min_length, middle + 0.5 * min_length
    shift = math.floor(start / MINUTES_PER_DAY) * MINUTES_PER_DAY
    return start - shift, end - shift


def find_hotspots(
    xy: NDArray[np.float64],
    times: pd.Series | NDArray,
    params: HotspotParams | None = None,
    *,
    reference_time: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Hotspots from case locations and times.

    Parameters
    ----------
    xy
        Case locations, metres in a projected CRS, shape ``(n, 2)``.
    times
        When each case happened (anything :func:`pandas.to_datetime` reads).
    params
        Clustering and weighting parameters (:class:`HotspotParams`).
    reference_time
        "Now" for recency weights (default: the latest case).

    Returns
    -------
    DataFrame
        One row per hotspot, largest first: ``hotspot`` (0-based), ``x``, ``y`` (metres: the
        case nearest the cluster's mean, so it lies where cases really happen), ``cases``,
        ``weight`` (sum of recency weights), ``priority`` (1–5, by weight relative to the
        heaviest hotspot), ``window_start_min``, ``window_end_min``, ``first_seen``,
        ``last_seen``; and ``attrs["labels"]`` with each case's hotspot (``-1`` = none).
    """
    params = (params or HotspotParams()).validated()
    xy = np.asarray(xy, float).reshape(-1, 2)
    stamps = pd.to_datetime(pd.Series(times).reset_index(drop=True), errors="coerce")
    if len(stamps) != len(xy):
        raise ValueError(f"times: {len(stamps)} values for {len(xy)} cases")
    bad = np.flatnonzero(stamps.isna().to_numpy() | ~np.isfinite(xy).all(axis=1))
    if len(bad):
        raise ValueError(f"case {int(bad[0])}: missing or unreadable time or coordinates")
    columns = ["hotspot", "x", "y", "cases", "weight", "priority", "window_start_min", "window_end_min", "first_seen", "last_seen"]
    if len(xy) < params.min_cases:
        out = pd.DataFrame(columns=columns)
        out.attrs["labels"] = np.full(len(xy), -1, np.int64)
        return out
    labels = cluster_cases(xy, params)
    now = pd.Timestamp(reference_time) if reference_time is not None else stamps.max()
    age_days = ((now - stamps).dt.total_seconds() / 86_400.0).clip(lower=0.0).to_numpy()
    recency = np.power(0.5, age_days / params.half_life_days)
    minute_of_day = (stamps.dt.hour * 60 + stamps.dt.minute + stamps.dt.second / 60.0).to_numpy()
    rows = []
    for h in range(int(labels.max()) + 1 if (labels >= 0).any() else 0):
        members = np.flatnonzero(labels == h)
        centre = xy[members].mean(axis=0)
        medoid = members[int(np.argmin(np.hypot(*(xy[members] - centre).T)))]
        start, end = circular_window(minute_of_day[members], params.window_share, params.min_window_min)
        rows.append({
            "hotspot": h, "x": float(xy[medoid, 0]), "y": float(xy[medoid, 1]), "cases": len(members),
            "weight": float(recency[members].sum()), "window_start_min": start, "window_end_min": end,
            "first_seen": stamps.iloc[members].min(), "last_seen": stamps.iloc[members].max(),
        })
    out = pd.DataFrame(rows, columns=[c for c in columns if c != "priority"])
    if len(out):
        out["priority"] = np.clip(np.ceil(5.0 * out["weight"] / out["weight"].max()), 1, 5).astype(int)
    else:
        out["priority"] = pd.Series(dtype=int)
    out = out[columns]
    out.attrs["labels"] = labels
    return out
