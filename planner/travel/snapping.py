"""Snapping points to the nearest edge of a network.

A point joins the network where the perpendicular from it meets the nearest link (a road
polyline), not at the nearest node: on long blocks that difference is the walk to the corner.  The
snap distance is reported, walked at the mode's access speed, and points farther than
``max_snap_m`` from every road are flagged (kept, never hidden).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from geodata.network import Network

DEFAULT_MAX_SNAP_M = 500.0
"""Points farther than this from any road (metres) are flagged ``too_far``."""


@dataclass(frozen=True)
class Snap:
    """Where each point meets the network.

    Attributes
    ----------
    link
        Index of the nearest link.
    fraction
        Position along the link's stored direction, 0 (start) … 1 (end).
    distance_m
        Straight distance from the point to the link, metres.
    projected_xy
        The meeting point on the link, metres, shape ``(n, 2)``.
    too_far
        True where ``distance_m > max_snap_m``.
    max_snap_m
        The threshold used, metres.
    """

    link: NDArray[np.int64]
    fraction: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    projected_xy: NDArray[np.float64]
    too_far: NDArray[np.bool_]
    max_snap_m: float

    def __len__(self) -> int:
        return int(self.link.shape[0])

    def take(self, index: NDArray[np.int64]) -> "Snap":
        """The snaps of a subset of points."""
        return Snap(self.link[index], self.fraction[index], self.distance_m[index], self.projected_xy[index], self.too_far[index], self.max_snap_m)


class SegmentIndex:
    """A spatial index over every straight segment of every link of a network (built once)."""

    def __init__(self, network: Network) -> None:
        xy = network.link_xy
        offsets = network.link_offsets
        n_links = network.n_links
        counts = np.diff(offsets)
        if (counts < 2).any():
            raise ValueError("every link needs at least two coordinates")
        # segment i goes from coordinate start[i] to start[i] + 1, within one link
        is_last = np.zeros(len(xy), bool)
        is_last[offsets[1:] - 1] = True
        self.start = np.flatnonzero(~is_last)
        self.link_of = np.repeat(np.arange(n_links), counts - 1)
        a, b = xy[self.start], xy[self.start + 1]
        self.a, self.b = a, b
        seg_len = np.hypot(*(b - a).T)
        self.seg_len = seg_len
        # metres from the link start to each segment start, and each link's geometric length
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        first_seg = offsets[:-1] - np.arange(n_links)  # index of each link's first segment
        self.before = cum[:-1] - cum[first_seg][self.link_of]
        self.link_len = cum[first_seg + counts - 1] - cum[first_seg]
        self.tree = shapely.STRtree(shapely.linestrings(np.stack([a, b], axis=1)))

    def snap(self, xy: NDArray[np.float64], max_snap_m: float = DEFAULT_MAX_SNAP_M) -> Snap:
        """Snap points (metres, shape ``(n, 2)``) to their nearest link."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        if len(xy) == 0:
            return Snap(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 2)), np.zeros(0, bool), max_snap_m)
        bad = ~np.isfinite(xy).all(axis=1)
        if bad.any():
            raise ValueError(f"point {int(np.flatnonzero(bad)[0])} has no valid coordinates")
        pts = shapely.points(xy)
        input_idx, seg_idx = self.tree.query_nearest(pts, all_matches=False)
        order = np.argsort(input_idx, kind="stable")
        seg = seg_idx[order]
        a, b = self.a[seg], self.b[seg]
        ab = b - a
        denom = np.einsum("ij,ij->i", ab, ab)
        t = np.where(denom > 0, np.einsum("ij,ij->i", xy - a, ab) / np.where(denom > 0, denom, 1.0), 0.0)
        t = np.clip(t, 0.0, 1.0)
        proj = a + t[:, None] * ab
        dist = np.hypot(*(xy - proj).T)
        link = self.link_of[seg]
        along = self.before[seg] + t * self.seg_len[seg]
        length = self.link_len[link]
        fraction = np.where(length > 0, along / np.where(length > 0, length, 1.0), 0.0)
        return Snap(link.astype(np.int64), np.clip(fraction, 0.0, 1.0), dist, proj, dist > max_snap_m, float(max_snap_m))
