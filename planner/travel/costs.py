"""Travel costs between points on the road network: coverage, k-nearest, matrices, paths, service areas.

:class:`NetworkCosts` attaches a set of points (demand points, sites, patrol stops …) to a
:class:`~geodata.network.Network`: each point is snapped to its nearest link and becomes a node
that splits that link, with its snap distance as an *access cost* walked at the mode's access
speed.  Every question is then an exact shortest-path search on this augmented graph, run by the
compiled kernels of :mod:`planner.travel._dijkstra`:

* :meth:`NetworkCosts.within` — all (source, target) pairs within a cutoff (coverage), sparse;
* :meth:`NetworkCosts.nearest` — each target's ``k`` cheapest sources (median models);
* :meth:`NetworkCosts.matrix` — the full matrix, when it is small;
* :meth:`NetworkCosts.path` — one path with its geometry;
* :meth:`NetworkCosts.reach` — what is reachable from a point within a budget (service areas).

:class:`StraightLineCosts` answers the same questions from straight-line distance × a detour
factor, for regions without a network.  Every result says which kind of cost it used.

Costs are seconds (``weight="time"``) or metres (``weight="length"``).  ``reverse=False`` means
travel *from* the sources *to* the targets along one-way streets; ``reverse=True`` the opposite
(e.g. elders walking from home to a meal point, searched from the meal points).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from geodata.network import Network, spatial_order
from geodata.speeds import DEFAULT_DETOUR_FACTOR
from planner.travel import _dijkstra as kern
from planner.travel.snapping import DEFAULT_MAX_SNAP_M, SegmentIndex, Snap

Weight = Literal["time", "length"]
MAX_CUTOFF_S = 12 * 3600.0
"""Largest time cutoff accepted, seconds (a cutoff beyond half a day is a mistake)."""
MAX_CUTOFF_M = 500_000.0
"""Largest length cutoff accepted, metres."""


def check_cutoff(cutoff: float, unit: str) -> float:
    """Validate a cutoff in ``unit`` (``"s"`` or ``"m"``); return it as float."""
    value = float(cutoff)
    limit = MAX_CUTOFF_S if unit == "s" else MAX_CUTOFF_M
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"cutoff must be a positive number of {'seconds' if unit == 's' else 'metres'}, not {cutoff!r}")
    if value > limit:
        raise ValueError(f"cutoff {value:g} {unit} is absurd (more than {limit:g} {unit}); check the unit")
    return value


def _indices(values: NDArray | list[int] | None, n: int, what: str) -> NDArray[np.int64]:
    if values is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(values, dtype=np.int64).ravel()
    if idx.size == 0:
        raise ValueError(f"no {what} given")
    if idx.min() < 0 or idx.max() >= n:
        raise IndexError(f"{what} index out of range 0..{n - 1}")
    return idx


@dataclass(frozen=True)
class PairCosts:
    """Sparse (source, target, cost) triples, indices into the caller's source/target lists."""

    source: NDArray[np.int64]
    target: NDArray[np.int64]
    cost: NDArray[np.float64]
    n_sources: int
    n_targets: int
    unit: str
    kind: str

    def __len__(self) -> int:
        return int(self.cost.shape[0])


@dataclass(frozen=True)
class PathResult:
    """One shortest path: total cost, the augmented-graph edges, and its geometry (metres)."""

    cost: float
    edges: NDArray[np.int64]
    coords: NDArray[np.float64]
    unit: str
    kind: str

    @property
    def length_m(self) -> float:
        """Length of the geometry, metres."""
        return float(np.hypot(*np.diff(self.coords, axis=0).T).sum()) if len(self.coords) > 1 else 0.0


class NetworkCosts:
    """Exact network travel costs between a set of points.

    Parameters
    ----------
    network
        The routable network of one mode.
    points_xy
        Points in the network's metric CRS, shape ``(p, 2)`` (e.g. demand points then sites).
    weight
        ``"time"`` (seconds; access walked at ``access_speed_mps``) or ``"length"`` (metres).
    max_snap_m
        Points farther than this from every road are flagged in :attr:`snap` (``too_far``).
    access_speed_mps
        Speed over the snap distance; default the network's walking speed (walk mode) or its
        access walking speed (drive mode), both 0.9 m/s by default.
    index
        A prebuilt :class:`SegmentIndex` of the network, to share between engines.
    threads
        Worker threads for :meth:`within` (default: CPU count).
    """

    kind = "network"

    def __init__(
        self,
        network: Network,
        points_xy: NDArray[np.float64],
        *,
        weight: Weight = "time",
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        access_speed_mps: float | None = None,
        index: SegmentIndex | None = None,
        threads: int | None = None,
    ) -> None:
        if weight not in ("time", "length"):
            raise ValueError(f"weight must be 'time' or 'length', not {weight!r}")
        points_xy = np.asarray(points_xy, float).reshape(-1, 2)
        if len(points_xy) == 0:
            raise ValueError("no points to attach to the network")
        self.network = network
        self.weight = weight
        self.unit = "s" if weight == "time" else "m"
        self.points_xy = points_xy
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.index = index or SegmentIndex(network)
        self.snap: Snap = self.index.snap(points_xy, max_snap_m)
        speeds = network.info.get("speeds", {})
        if access_speed_mps is None:
            access_speed_mps = speeds.get("walk_mps", 0.9) if network.mode == "walk" else speeds.get("access_walk_mps", 0.9)
        if access_speed_mps <= 0:
            raise ValueError("access_speed_mps must be positive (m/s)")
        self.access_speed_mps = float(access_speed_mps)
        self.access = self.snap.distance_m / self.access_speed_mps if weight == "time" else self.snap.distance_m.copy()
        self._build_augmented()

    # ------------------------------------------------------------------ graph
    def _build_augmented(self) -> None:
        net = self.network
        n, p = net.n_nodes, len(self.snap)
        base_w = net.edge_time if self.weight == "time" else net.edge_length
        rev = net.edge_reversed
        fwd_edge = np.full(net.n_links, -1, np.int64)
        bwd_edge = np.full(net.n_links, -1, np.int64)
        fwd_edge[net.edge_link[~rev]] = np.flatnonzero(~rev)
        bwd_edge[net.edge_link[rev]] = np.flatnonzero(rev)
        link_start = net.edge_tail[fwd_edge].astype(np.int64)
        link_end = net.edge_head[fwd_edge].astype(np.int64)

        order = np.lexsort((self.snap.fraction, self.snap.link))
        lk = self.snap.link[order]
        fr = self.snap.fraction[order]
        node = n + order
        first = np.ones(p, bool)
        first[1:] = lk[1:] != lk[:-1]
        last = np.ones(p, bool)
        last[:-1] = lk[1:] != lk[:-1]
        prev_node = np.where(first, link_start[lk], np.roll(node, 1))
        prev_fr = np.where(first, 0.0, np.roll(fr, 1))
        seg_a = np.concatenate([prev_node, node[last]])
        seg_b = np.concatenate([node, link_end[lk[last]]])
        seg_fa = np.concatenate([prev_fr, fr[last]])
        seg_fb = np.concatenate([fr, np.ones(int(last.sum()))])
        seg_link = np.concatenate([lk, lk[last]])
        share = seg_fb - seg_fa
        two_way = bwd_edge[seg_link] >= 0

        split = np.zeros(net.n_links, bool)
        split[lk] = True
        keep = ~split[net.edge_link]
        tails = np.concatenate([net.edge_tail[keep].astype(np.int64), seg_a, seg_b[two_way]])
        heads = np.concatenate([net.edge_head[keep].astype(np.int64), seg_b, seg_a[two_way]])
        weights = np.concatenate([base_w[keep], base_w[fwd_edge[seg_link]] * share, base_w[bwd_edge[seg_link[two_way]]] * share[two_way]])
        links = np.concatenate([net.edge_link[keep].astype(np.int64), seg_link, seg_link[two_way]])
        f_from = np.concatenate([np.where(rev[keep], 1.0, 0.0), seg_fa, seg_fb[two_way]])
        f_to = np.concatenate([np.where(rev[keep], 0.0, 1.0), seg_fb, seg_fa[two_way]])

        # renumber all nodes (road nodes and attached points) along a Z-order curve
        n_aug = n + p
        relabel = np.empty(n_aug, np.int64)
        relabel[spatial_order(np.vstack([net.node_xy, self.snap.projected_xy]))] = np.arange(n_aug)
        tails, heads = relabel[tails], relabel[heads]
        order = np.argsort(tails, kind="stable")
        self.n_aug = n_aug
        self.road_node = relabel[:n]
        self.point_node = relabel[n:]
        self.edge_tail = tails[order]
        self.heads = heads[order]
        self.weights = np.ascontiguousarray(weights[order])
        self.edge_link_aug = links[order]
        self.edge_from = f_from[order]
        self.edge_to = f_to[order]
        self.indptr = np.zeros(n_aug + 1, np.int64)
        np.cumsum(np.bincount(tails, minlength=n_aug), out=self.indptr[1:])

    @cached_property
    def _reverse_graph(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        order = np.argsort(self.heads, kind="stable")
        indptr = np.zeros(self.n_aug + 1, np.int64)
        np.cumsum(np.bincount(self.heads, minlength=self.n_aug), out=indptr[1:])
        return indptr, self.edge_tail[order], np.ascontiguousarray(self.weights[order]), order

    def _graph(self, reverse: bool) -> tuple[NDArray, NDArray, NDArray]:
        if reverse:
            indptr, heads, weights, _ = self._reverse_graph
            return indptr, heads, weights
        return self.indptr, self.heads, self.weights

    def _targets(self, targets: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        target_of_node = np.full(self.n_aug, -1, np.int64)
        target_of_node[self.point_node[targets]] = np.arange(len(targets))
        return target_of_node, self.access[targets]

    # ------------------------------------------------------------------ queries
    def within(self, sources: NDArray | None, targets: NDArray | None, cutoff: float, *, reverse: bool = False) -> PairCosts:
        """Every (source, target) pair whose cost is at most ``cutoff`` (seconds or metres).

        Parameters
        ----------
        sources, targets
            Point indices (None: all points).
        reverse
            False: cost of travelling source → target; True: target → source.
        """
        cutoff = check_cutoff(cutoff, self.unit)
        src = _indices(sources, len(self.snap), "sources")
        tgt = _indices(targets, len(self.snap), "targets")
        indptr, heads, weights = self._graph(reverse)
        target_of_node, target_cost = self._targets(tgt)
        chunks = np.array_split(np.arange(len(src)), min(self.threads * 4, len(src)))

        def run(chunk: NDArray[np.int64]) -> tuple[NDArray, NDArray, NDArray]:
            s, t, c = kern.bounded_to_targets(indptr, heads, weights, self.n_aug, self.point_node[src[chunk]], self.access[src[chunk]], cutoff, target_of_node, target_cost)
            return chunk[s], t, c

        if self.threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                parts = list(pool.map(run, chunks))
        else:
            parts = [run(c) for c in chunks]
        return PairCosts(
            np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
            len(src), len(tgt), self.unit, self.kind,
        )

    def nearest(self, sources: NDArray | None, targets: NDArray | None, k: int, *, cutoff: float | None = None, reverse: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each target's ``k`` cheapest sources: (indices into ``sources``, costs), shape ``(targets, k)``.

        Missing entries (fewer than ``k`` sources within ``cutoff``) are -1 / inf.
        """
        if int(k) < 1:
            raise ValueError("k must be at least 1")
        limit = np.inf if cutoff is None else check_cutoff(cutoff, self.unit)
        src = _indices(sources, len(self.snap), "sources")
        tgt = _indices(targets, len(self.snap), "targets")
        indptr, heads, weights = self._graph(reverse)
        target_of_node, target_cost = self._targets(tgt)
        return kern.k_nearest_sources(indptr, heads, weights, self.n_aug, self.point_node[src], self.access[src], int(min(k, len(src))), limit, target_of_node, target_cost, len(tgt))

    def matrix(self, sources: NDArray | None, targets: NDArray | None, *, reverse: bool = False, max_entries: int = 50_000_000) -> NDArray[np.float64]:
        """Full cost matrix ``(sources, targets)``; inf where unreachable; 0 from a point to itself."""
        src = _indices(sources, len(self.snap), "sources")
        tgt = _indices(targets, len(self.snap), "targets")
        if len(src) * len(tgt) > max_entries:
            raise ValueError(f"a {len(src)} × {len(tgt)} matrix is too large; use within() or nearest()")
        pairs = self.within(src, tgt, MAX_CUTOFF_S if self.unit == "s" else MAX_CUTOFF_M, reverse=reverse)
        out = np.full((len(src), len(tgt)), np.inf)
        out[pairs.source, pairs.target] = pairs.cost
        same = src[:, None] == tgt[None, :]
        out[same] = 0.0
        return out

    def path(self, source: int, target: int) -> PathResult:
        """The cheapest path from point ``source`` to point ``target`` with its geometry (metres).

        The geometry runs from the source point to its snap, along the roads, to the target's
        snap and point.  Raises ValueError if the target cannot be reached.
        """
        src = int(_indices([source], len(self.snap), "source")[0])
        tgt = int(_indices([target], len(self.snap), "target")[0])
        if src == tgt:
            return PathResult(0.0, np.zeros(0, np.int64), self.points_xy[[src, src]], self.unit, self.kind)
        start, goal = self.point_node[src], self.point_node[tgt]
        dist, pred = kern.single_source(self.indptr, self.heads, self.weights, self.n_aug, start, self.access[src], np.inf, goal)
        if not np.isfinite(dist[goal]):
            raise ValueError(f"point {target} cannot be reached from point {source}")
        edges = []
        node = goal
        while node != start:
            e = pred[node]
            edges.append(e)
            node = self.edge_tail[e]
        edges = np.array(edges[::-1], dtype=np.int64)
        pieces = [self.points_xy[[src]], self.snap.projected_xy[[src]]]
        pieces += [self.edge_piece(e) for e in edges]
        pieces += [self.snap.projected_xy[[tgt]], self.points_xy[[tgt]]]
        coords = np.concatenate(pieces)
        keep = np.ones(len(coords), bool)
        keep[1:] = np.any(np.abs(np.diff(coords, axis=0)) > 1e-9, axis=1)
        return PathResult(float(dist[goal] + self.access[tgt]), edges, coords[keep], self.unit, self.kind)

    def edge_piece(self, edge: int, fraction: float = 1.0) -> NDArray[np.float64]:
        """Geometry of an augmented edge (metres), or of its first ``fraction`` in travel direction."""
        f0 = float(self.edge_from[edge])
        f1 = f0 + (float(self.edge_to[edge]) - f0) * fraction
        return link_substring(self.network, int(self.edge_link_aug[edge]), f0, f1)

    def reach(self, source: int, cutoff: float) -> tuple[list[NDArray[np.float64]], NDArray[np.float64]]:
        """What is reachable from point ``source`` within ``cutoff``.

        Returns
        -------
        (pieces, node_cost)
            Road pieces reached (polylines in metres, partial at the frontier) and the cost to every
            augmented-graph node (inf beyond the cutoff).
        """
        cutoff = check_cutoff(cutoff, self.unit)
        src = int(_indices([source], len(self.snap), "source")[0])
        start = self.point_node[src]
        dist, _ = kern.single_source(self.indptr, self.heads, self.weights, self.n_aug, start, self.access[src], cutoff, -1)
        pieces = [np.vstack([self.points_xy[src], self.snap.projected_xy[src]])] if self.access[src] <= cutoff else []
        reached = np.flatnonzero(np.isfinite(dist[self.edge_tail]))
        for e in reached:
            left = cutoff - dist[self.edge_tail[e]]
            w = self.weights[e]
            fraction = 1.0 if w <= left else left / w
            if fraction > 0:
                pieces.append(self.edge_piece(int(e), fraction))
        return pieces, dist


def link_substring(network: Network, link: int, f0: float, f1: float) -> NDArray[np.float64]:
    """The part of a link's polyline between fractions ``f0`` and ``f1`` (reversed if f0 > f1), metres."""
    coords = network.link_coords(link)
    seg = np.hypot(*np.diff(coords, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    lo, hi = sorted((f0, f1))
    a, b = lo * total, hi * total
    xs = np.interp([a, b], cum, coords[:, 0])
    ys = np.interp([a, b], cum, coords[:, 1])
    inner = coords[(cum > a) & (cum < b)]
    out = np.vstack([[xs[0], ys[0]], inner, [xs[1], ys[1]]])
    return out[::-1] if f0 > f1 else out


class StraightLineCosts:
    """Straight-line costs (distance × detour factor, at a speed) when a region has no network.

    Same questions and answers as :class:`NetworkCosts`, with ``kind = "straight-line"``.

    Parameters
    ----------
    points_xy
        Points in a metric CRS, shape ``(p, 2)``.
    weight
        ``"time"`` (seconds at ``speed_mps``) or ``"length"`` (metres).
    detour_factor
        Network distance ≈ straight distance × this (default 1.3).
    speed_mps
        Travel speed for ``weight="time"`` (default 0.9 m/s, elderly walking).
    """

    kind = "straight-line"

    def __init__(self, points_xy: NDArray[np.float64], *, weight: Weight = "time", detour_factor: float = DEFAULT_DETOUR_FACTOR, speed_mps: float = 0.9) -> None:
        if weight not in ("time", "length"):
            raise ValueError(f"weight must be 'time' or 'length', not {weight!r}")
        if not 1.0 <= detour_factor <= 5.0:
            raise ValueError("detour_factor must lie between 1 and 5")
        if speed_mps <= 0:
            raise ValueError("speed_mps must be positive (m/s)")
        self.points_xy = np.asarray(points_xy, float).reshape(-1, 2)
        if len(self.points_xy) == 0:
            raise ValueError("no points given")
        self.weight = weight
        self.unit = "s" if weight == "time" else "m"
        self.scale = detour_factor / speed_mps if weight == "time" else detour_factor
        self.detour_factor = detour_factor
        self.speed_mps = speed_mps

    def within(self, sources: NDArray | None, targets: NDArray | None, cutoff: float, *, reverse: bool = False) -> PairCosts:
        """All pairs within ``cutoff`` (symmetric: ``reverse`` changes nothing)."""
        cutoff = check_cutoff(cutoff, self.unit)
        src = _indices(sources, len(self.points_xy), "sources")
        tgt = _indices(targets, len(self.points_xy), "targets")
        tree = cKDTree(self.points_xy[tgt])
        hits = tree.query_ball_point(self.points_xy[src], r=cutoff / self.scale)
        s = np.repeat(np.arange(len(src)), [len(h) for h in hits])
        t = np.concatenate([np.asarray(h, np.int64) for h in hits]) if len(s) else np.zeros(0, np.int64)
        cost = np.hypot(*(self.points_xy[src[s]] - self.points_xy[tgt[t]]).T) * self.scale
        return PairCosts(s.astype(np.int64), t, cost, len(src), len(tgt), self.unit, self.kind)

    def nearest(self, sources: NDArray | None, targets: NDArray | None, k: int, *, cutoff: float | None = None, reverse: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each target's ``k`` nearest sources, as :meth:`NetworkCosts.nearest`."""
        src = _indices(sources, len(self.points_xy), "sources")
        tgt = _indices(targets, len(self.points_xy), "targets")
        k = int(min(k, len(src)))
        dist, idx = cKDTree(self.points_xy[src]).query(self.points_xy[tgt], k=k)
        dist, idx = np.asarray(dist).reshape(len(tgt), k) * self.scale, np.asarray(idx).reshape(len(tgt), k)
        if cutoff is not None:
            far = dist > check_cutoff(cutoff, self.unit)
            dist[far], idx[far] = np.inf, -1
        return idx.astype(np.int64), dist

    def matrix(self, sources: NDArray | None, targets: NDArray | None, *, reverse: bool = False, max_entries: int = 50_000_000) -> NDArray[np.float64]:
        """Full matrix ``(sources, targets)``."""
        src = _indices(sources, len(self.points_xy), "sources")
        tgt = _indices(targets, len(self.points_xy), "targets")
        if len(src) * len(tgt) > max_entries:
            raise ValueError(f"a {len(src)} × {len(tgt)} matrix is too large")
        diff = self.points_xy[src][:, None, :] - self.points_xy[tgt][None, :, :]
        return np.hypot(diff[..., 0], diff[..., 1]) * self.scale

    def path(self, source: int, target: int) -> PathResult:
        """A straight segment between two points."""
        coords = self.points_xy[[source, target]]
        return PathResult(float(np.hypot(*(coords[1] - coords[0])) * self.scale), np.zeros(0, np.int64), coords, self.unit, self.kind)


class PairMatrix(csr_matrix):
    """A sparse demand × site cost matrix whose stored entries are exactly the possible pairs.

    A zero cost (a site at the demand point) is stored explicitly; a pair that is not stored is
    unreachable (or beyond the cutoff the matrix was built for).  Build one with
    :func:`pair_matrix`; the cost engines here produce them (:meth:`DemandSiteCosts.coverage`),
    and :class:`planner.location.problem.Problem` takes them as they are.
    """

    @classmethod
    def of(cls, matrix: "csr_matrix") -> "PairMatrix":
        """A sparse matrix that stores every possible pair (zeros included), e.g. a slice of a
        :class:`PairMatrix`, as a :class:`PairMatrix` (scipy's slicing returns plain matrices)."""
        coo = matrix.tocoo()
        return pair_matrix(coo.row, coo.col, coo.data, matrix.shape)


COVERAGE_MEMO_SIZE = 16
"""Coverage matrices (cutoff, direction) a DemandSiteCosts keeps."""


def pair_matrix(rows: NDArray, cols: NDArray, costs: NDArray, shape: tuple[int, int]) -> PairMatrix:
    """A :class:`PairMatrix` from unique (demand, site, cost) triples; zero costs are kept."""
    matrix = PairMatrix((np.asarray(costs, float), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))), shape=shape)
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


# ---------------------------------------------------------------------- demand × site
Direction = Literal["demand_to_site", "site_to_demand"]
DIRECTIONS: tuple[str, ...] = ("demand_to_site", "site_to_demand")


@dataclass(frozen=True)
class CoverageMatrix:
    """Sparse demand × site costs within a cutoff.

    Attributes
    ----------
    costs
        CSR matrix ``(n_demand, n_sites)`` of costs (seconds or metres); a stored entry means
        *within the cutoff* (a cost of exactly 0 is stored explicitly).
    cutoff, unit, kind, direction
        What was computed: cutoff in ``unit``; ``kind`` is ``network`` or ``straight-line``.
    """

    costs: "PairMatrix"
    cutoff: float
    unit: str
    kind: str
    direction: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_demand, n_sites)``."""
        return self.costs.shape

    @property
    def nnz(self) -> int:
        """Number of (demand, site) pairs within the cutoff."""
        return int(self.costs.nnz)

    def covered(self) -> "csr_matrix":
        """Boolean CSR of the same pattern: True where a site covers a demand point."""
        pattern = self.costs.copy()
        pattern.data = np.ones_like(pattern.data, dtype=bool)
        return pattern


class DemandSiteCosts:
    """Travel costs between demand points and sites, on a network or in a straight line.

    Parameters
    ----------
    network
        The mode's network, or None for straight-line costs (``kind = "straight-line"``).
    demand_xy, site_xy
        Metric coordinates, shapes ``(d, 2)`` and ``(s, 2)``.
    weight
        ``"time"`` (seconds) or ``"length"`` (metres).
    detour_factor, speed_mps
        Straight-line costs only: distance × detour factor, at ``speed_mps`` (default 0.9 m/s).
    max_snap_m
        Network only: snap distance above which points are flagged.
    """

    def __init__(
        self,
        network: Network | None,
        demand_xy: NDArray[np.float64],
        site_xy: NDArray[np.float64],
        *,
        weight: Weight = "time",
        detour_factor: float = DEFAULT_DETOUR_FACTOR,
        speed_mps: float = 0.9,
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
        index: SegmentIndex | None = None,
    ) -> None:
        demand_xy = np.asarray(demand_xy, float).reshape(-1, 2)
        site_xy = np.asarray(site_xy, float).reshape(-1, 2)
        if len(demand_xy) == 0:
            raise ValueError("no demand points")
        if len(site_xy) == 0:
            raise ValueError("no sites: give at least one existing or candidate site")
        self.n_demand, self.n_sites = len(demand_xy), len(site_xy)
        points = np.vstack([demand_xy, site_xy])
        if network is None:
            self.engine: NetworkCosts | StraightLineCosts = StraightLineCosts(points, weight=weight, detour_factor=detour_factor, speed_mps=speed_mps)
        else:
            self.engine = NetworkCosts(network, points, weight=weight, max_snap_m=max_snap_m, index=index)
        self.kind = self.engine.kind
        self.unit = self.engine.unit
        self.demand_index = np.arange(self.n_demand, dtype=np.int64)
        self.site_index = self.n_demand + np.arange(self.n_sites, dtype=np.int64)

    @property
    def demand_snap(self) -> Snap | None:
        """Snaps of the demand points (None for straight-line costs)."""
        return self.engine.snap.take(self.demand_index) if isinstance(self.engine, NetworkCosts) else None

    @property
    def site_snap(self) -> Snap | None:
        """Snaps of the sites (None for straight-line costs)."""
        return self.engine.snap.take(self.site_index) if isinstance(self.engine, NetworkCosts) else None

    def _reverse(self, direction: str) -> bool:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        # searches start at the sites: demand -> site travel is the reverse of the graph
        return direction == "demand_to_site"

    def coverage(self, cutoff: float, direction: Direction = "demand_to_site") -> CoverageMatrix:
        """Every (demand, site) pair within ``cutoff``, as a sparse demand × site matrix.

        Results are remembered per (cutoff, direction): treat the returned matrix as read-only.
        """
        memo = self.__dict__.setdefault("_coverage_memo", {})
        if (float(cutoff), direction) in memo:
            return memo[(float(cutoff), direction)]
        wider = [c for c, d in memo if d == direction and c > float(cutoff)] if self.kind == "network" else []
        if wider:  # the pairs within a wider cutoff hold these, with the same shortest-path costs: filter, not search again
            coo = memo[(min(wider), direction)].costs.tocoo()
            keep = coo.data <= cutoff
            matrix = pair_matrix(coo.row[keep], coo.col[keep], coo.data[keep], (self.n_demand, self.n_sites))
        else:
            pairs = self.engine.within(self.site_index, self.demand_index, cutoff, reverse=self._reverse(direction))
            matrix = pair_matrix(pairs.target, pairs.source, pairs.cost, (self.n_demand, self.n_sites))
        result = CoverageMatrix(matrix, float(cutoff), self.unit, self.kind, direction)
        if len(memo) < COVERAGE_MEMO_SIZE:
            memo[(float(cutoff), direction)] = result
        return result

    def nearest(self, k: int, direction: Direction = "demand_to_site", cutoff: float | None = None) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each demand point's ``k`` cheapest sites: (site indices, costs), shape ``(n_demand, k)``."""
        return self.engine.nearest(self.site_index, self.demand_index, k, cutoff=cutoff, reverse=self._reverse(direction))

    def full(self, direction: Direction = "demand_to_site", max_entries: int = 50_000_000) -> NDArray[np.float64]:
        """The full demand × site matrix (inf where unreachable); only for small problems."""
        return self.engine.matrix(self.site_index, self.demand_index, reverse=self._reverse(direction), max_entries=max_entries).T
