"""The compact routable network: CSR arrays, node coordinates and travel time per edge.

A :class:`Network` is built once per mode (``walk``, ``drive``) from a *link table* — the road
segments of any source (OSM PBF, OSM XML, GraphML, osmnx, the synthetic generator) — by
:func:`build_network`, which

1. prices every link in seconds for the mode (:mod:`geodata.speeds`),
2. merges chains of links through degree-2 nodes into one link (as OSMnx's ``simplify_graph``),
   summing lengths and times and keeping the full geometry — only where the pieces share one
   pace (seconds per metre), so that travel cost grows linearly along every link,
3. turns links into directed edges (two-way links in both directions; one-way drive links in their
   travel direction only),
4. keeps the largest strongly connected component and reports what it dropped, and
5. numbers the nodes along a Z-order curve and stores the result as plain numpy arrays (no
   networkx at run time).

All coordinates are metres in the network's metric CRS; times are seconds; lengths metres.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geodata.errors import DataError
from geodata.projection import xy_to_lonlat
from geodata.speeds import SpeedProfile

Mode = Literal["walk", "drive"]
MODES: tuple[str, ...] = ("walk", "drive")
NETWORK_FORMAT_VERSION = 2  # 2: nodes numbered along a Z-order curve


def spatial_order(xy: NDArray[np.float64], bits: int = 16) -> NDArray[np.int64]:
    """A permutation that sorts points along a Z-order (Morton) curve.

    Numbering nodes in this order puts neighbours close together in memory, which makes graph
    searches on large networks several times faster than with OSM's arbitrary id order.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    if len(xy) == 0:
        return np.zeros(0, np.int64)
    span = max(float(np.ptp(xy[:, 0])), float(np.ptp(xy[:, 1])), 1e-9)
    q = ((xy - xy.min(axis=0)) / span * (2**bits - 1)).astype(np.uint64)

    def spread(v: NDArray[np.uint64]) -> NDArray[np.uint64]:
        v = v & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        v = (v | (v << np.uint64(1))) & np.uint64(0x55555555)
        return v

    code = spread(q[:, 0]) | (spread(q[:, 1]) << np.uint64(1))
    return np.argsort(code, kind="stable").astype(np.int64)


def check_mode(mode: str) -> Mode:
    """Return ``mode`` if it is a known travel mode, else raise a ValueError naming the choices."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


@dataclass
class LinkTable:
    """Road segments of a source, before pricing and simplification.

    Attributes
    ----------
    u, v
        Source node ids of the two ends (int64).  For one-way links ``u → v`` is the travel
        direction.
    node_ids, node_xy
        Every node id used by ``u``/``v`` and its coordinates (metres, ``crs``).
    geom_offsets, geom_xy
        Link ``i``'s polyline is ``geom_xy[geom_offsets[i]:geom_offsets[i+1]]`` (metres), from
        ``u`` to ``v``.
    length_m
        Link length in metres.
    highway, maxspeed, name
        OSM-style attributes (strings; maxspeed may be None).
    oneway
        True where the link may only be driven ``u → v``.
    crs
        The metric CRS of all coordinates.
    source
        Where the links came from (for provenance).
    """

    u: NDArray[np.int64]
    v: NDArray[np.int64]
    node_ids: NDArray[np.int64]
    node_xy: NDArray[np.float64]
    geom_offsets: NDArray[np.int64]
    geom_xy: NDArray[np.float64]
    length_m: NDArray[np.float64]
    highway: NDArray[np.object_]
    maxspeed: NDArray[np.object_]
    name: NDArray[np.object_]
    oneway: NDArray[np.bool_]
    crs: str
    source: str = ""

    def __len__(self) -> int:
        return int(self.u.shape[0])

    @classmethod
    def from_segments(
        cls,
        u: Sequence[int] | NDArray,
        v: Sequence[int] | NDArray,
        coords: Sequence[NDArray],
        node_ids: NDArray,
        node_xy: NDArray,
        crs: str,
        *,
        length_m: NDArray | None = None,
        highway: Sequence[Any] | None = None,
        maxspeed: Sequence[Any] | None = None,
        name: Sequence[Any] | None = None,
        oneway: Sequence[bool] | NDArray | None = None,
        source: str = "",
    ) -> "LinkTable":
        """Build a table from per-link coordinate arrays (each ``(k, 2)`` metres, ``u`` to ``v``)."""
        n = len(u)
        counts = np.fromiter((len(c) for c in coords), dtype=np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        geom_xy = np.concatenate([np.asarray(c, float).reshape(-1, 2) for c in coords]) if n else np.zeros((0, 2))
        if length_m is None:
            seg = np.hypot(*np.diff(geom_xy, axis=0).T) if len(geom_xy) > 1 else np.zeros(0)
            seg_sum = np.concatenate([[0.0], np.cumsum(seg)])
            length_m = seg_sum[offsets[1:] - 1] - seg_sum[offsets[:-1]]
        def col(values: Sequence[Any] | None, default: Any) -> NDArray[np.object_]:
            arr = np.empty(n, dtype=object)
            arr[:] = default if values is None else list(values)
            return arr
        return cls(
            u=np.asarray(u, dtype=np.int64),
            v=np.asarray(v, dtype=np.int64),
            node_ids=np.asarray(node_ids, dtype=np.int64),
            node_xy=np.asarray(node_xy, dtype=float).reshape(-1, 2),
            geom_offsets=offsets,
            geom_xy=geom_xy,
            length_m=np.asarray(length_m, dtype=float),
            highway=col(highway, "road"),
            maxspeed=col(maxspeed, None),
            name=col(name, ""),
            oneway=np.zeros(n, bool) if oneway is None else np.asarray(oneway, dtype=bool),
            crs=crs,
            source=source,
        )


@dataclass(frozen=True, eq=False)
class Network:
    """A compact directed road network for one travel mode.

    Nodes are numbered ``0..n-1``; directed edges ``0..m-1`` are sorted by tail so that the edges
    leaving node ``i`` are ``indptr[i]:indptr[i+1]`` (CSR).  Each edge travels along a *link*
    (a polyline shared by the two directions of a two-way street).

    Attributes
    ----------
    mode
        ``"walk"`` or ``"drive"``.
    crs
        Metric CRS of all coordinates (e.g. ``"EPSG:32650"`` for Dongguan).
    node_id
        Source node ids (OSM ids for real data).
    node_xy
        Node coordinates, metres, shape ``(n, 2)``.
    indptr, edge_head, edge_tail
        CSR structure: ``edge_tail[e] → edge_head[e]``.
    edge_time
        Travel time of each edge for this mode, seconds.
    edge_length
        Length of each edge, metres.
    edge_link, edge_reversed
        The link an edge follows, and whether it runs against the link's stored direction.
    link_offsets, link_xy
        Link polylines: link ``k`` is ``link_xy[link_offsets[k]:link_offsets[k+1]]`` (metres).
    link_highway, link_name
        Codes into :attr:`highway_vocab` / :attr:`name_vocab`.
    info
        Provenance: source, speeds, simplification and what the component filter dropped.
    """

    mode: str
    crs: str
    node_id: NDArray[np.int64]
    node_xy: NDArray[np.float64]
    indptr: NDArray[np.int64]
    edge_head: NDArray[np.int32]
    edge_tail: NDArray[np.int32]
    edge_time: NDArray[np.float64]
    edge_length: NDArray[np.float64]
    edge_link: NDArray[np.int32]
    edge_reversed: NDArray[np.bool_]
    link_offsets: NDArray[np.int64]
    link_xy: NDArray[np.float64]
    link_highway: NDArray[np.int32]
    link_name: NDArray[np.int32]
    highway_vocab: tuple[str, ...]
    name_vocab: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ sizes and views
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_xy.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.edge_head.shape[0])

    @property
    def n_links(self) -> int:
        """Number of links (polylines; a two-way street is one link, two edges)."""
        return int(self.link_offsets.shape[0] - 1)

    @cached_property
    def node_lonlat(self) -> NDArray[np.float64]:
        """Node coordinates in WGS-84 degrees, shape ``(n, 2)``."""
        lon, lat = xy_to_lonlat(self.node_xy[:, 0], self.node_xy[:, 1], self.crs)
        return np.column_stack([lon, lat])

    @cached_property
    def reverse(self) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64]]:
        """The transposed CSR: ``(indptr, edge_tail_sorted, edge_ids)`` of edges *entering* each node.

        Searching it finds times *to* a node (demand → site when the site is the source).
        """
        order = np.argsort(self.edge_head, kind="stable")
        counts = np.bincount(self.edge_head, minlength=self.n_nodes)
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, self.edge_tail[order].astype(np.int32), order.astype(np.int64)

    def link_coords(self, link: int) -> NDArray[np.float64]:
        """Polyline of a link in its stored direction, metres, shape ``(k, 2)``."""
        return self.link_xy[self.link_offsets[link] : self.link_offsets[link + 1]]

    def edge_coords(self, edge: int) -> NDArray[np.float64]:
        """Polyline of a directed edge in its travel direction, metres, shape ``(k, 2)``."""
        coords = self.link_coords(int(self.edge_link[edge]))
        return coords[::-1] if self.edge_reversed[edge] else coords

    def to_scipy(self) -> csr_matrix:
        """The network as a scipy CSR matrix of edge times (seconds); parallel edges keep the fastest."""
        matrix = csr_matrix(
            (self.edge_time, (self.edge_tail, self.edge_head)), shape=(self.n_nodes, self.n_nodes)
        )
        # csr_matrix sums duplicates; rebuild with the minimum instead.
        if matrix.nnz != self.n_edges:
            order = np.lexsort((self.edge_time, self.edge_head, self.edge_tail))
            tail, head, t = self.edge_tail[order], self.edge_head[order], self.edge_time[order]
            first = np.ones(len(order), bool)
            first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
            matrix = csr_matrix((t[first], (tail[first], head[first])), shape=(self.n_nodes, self.n_nodes))
        return matrix

    def summary(self) -> dict[str, Any]:
        """Sizes and provenance as a JSON-friendly dictionary."""
        xmin, ymin = self.node_xy.min(axis=0) if self.n_nodes else (0.0, 0.0)
        xmax, ymax = self.node_xy.max(axis=0) if self.n_nodes else (0.0, 0.0)
        return {
            "mode": self.mode,
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "links": self.n_links,
            "total_length_km": round(float(self.link_length_m().sum()) / 1000.0, 3),
            "extent_km": [round(float(xmax - xmin) / 1000, 3), round(float(ymax - ymin) / 1000, 3)],
            **{k: v for k, v in self.info.items() if k != "speeds"},
        }

    def link_length_m(self) -> NDArray[np.float64]:
        """Length of every link, metres (from the edge that follows it)."""
        lengths = np.zeros(self.n_links)
        lengths[self.edge_link] = self.edge_length
        return lengths

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the network to one ``.npz`` file (uncompressed, loads in milliseconds)."""
        np.savez(
            path,
            format_version=np.array(NETWORK_FORMAT_VERSION),
            mode=np.array(self.mode),
            crs=np.array(self.crs),
            highway_vocab=np.array(self.highway_vocab, dtype=str),
            name_vocab=np.array(self.name_vocab, dtype=str),
            info=np.array(json.dumps(self.info, ensure_ascii=False)),
            **{name: getattr(self, name) for name in _ARRAY_FIELDS},
        )

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read a network written by :meth:`save`."""
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read network file: {exc}", source=path) from exc
        with data:
            if int(data["format_version"]) != NETWORK_FORMAT_VERSION:
                raise DataError("network file has an old format; rebuild the region", source=path)
            return cls(
                mode=str(data["mode"]),
                crs=str(data["crs"]),
                highway_vocab=tuple(str(s) for s in data["highway_vocab"]),
                name_vocab=tuple(str(s) for s in data["name_vocab"]),
                info=json.loads(str(data["info"])),
                **{name: data[name] for name in _ARRAY_FIELDS},
            )


_ARRAY_FIELDS = (
    "node_id", "node_xy", "indptr", "edge_head", "edge_tail", "edge_time", "edge_length", "edge_link",
    "edge_reversed", "link_offsets", "link_xy", "link_highway", "link_name",
)


# ---------------------------------------------------------------------- building
WALK_EXCLUDED_HIGHWAYS = frozenset({"motorway", "motorway_link", "trunk_link", "bus_guideway", "raceway", "proposed", "construction", "abandoned", "platform"})
DRIVE_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "road",
})


def _link_times(links: LinkTable, mode: Mode, speeds: SpeedProfile) -> NDArray[np.float64]:
    """Travel time of each link for ``mode``, seconds."""
    if mode == "walk":
        return links.length_m / speeds.walk_mps
    kph = np.fromiter(
        (speeds.drive_kph(h, m) for h, m in zip(links.highway, links.maxspeed)), dtype=float, count=len(links)
    )
    return links.length_m / (kph / 3.6)


def _simplify(links: LinkTable, time_s: NDArray, oneway: NDArray[np.bool_]) -> tuple[LinkTable, NDArray, NDArray, dict]:
    """Merge chains of links through degree-2 nodes (see module docstring), keeping geometry.

    Returns the merged table, its times, its one-way flags and counts for provenance.
    """
    n_links = len(links)
    ends = np.concatenate([links.u, links.v])
    which = np.concatenate([np.arange(n_links), np.arange(n_links)])
    order = np.argsort(ends, kind="stable")
    ends_sorted, which_sorted = ends[order], which[order]
    uniq, first, degree = np.unique(ends_sorted, return_index=True, return_counts=True)
    node_pos = {int(node): i for i, node in enumerate(uniq)}

    # A node is interstitial when exactly two distinct, compatible links meet there.
    inter = np.zeros(len(uniq), bool)
    cand = np.flatnonzero(degree == 2)
    la, lb = which_sorted[first[cand]], which_sorted[first[cand] + 1]
    node_of = uniq[cand]
    ok = la != lb
    ok &= oneway[la] == oneway[lb]
    # for one-way chains one link must enter and the other leave the node
    enters_a, enters_b = links.v[la] == node_of, links.v[lb] == node_of
    ok &= ~oneway[la] | (enters_a != enters_b)
    other_a = np.where(links.u[la] == node_of, links.v[la], links.u[la])
    other_b = np.where(links.u[lb] == node_of, links.v[lb], links.u[lb])
    ok &= other_a != other_b  # merging would create a self-loop
    # merge only pieces of equal pace (s/m), so that cost stays linear along a merged link
    pace = time_s / np.maximum(links.length_m, 1e-9)
    ok &= np.isclose(pace[la], pace[lb], rtol=1e-9, atol=0.0)
    inter[cand[ok]] = True
    if not inter.any():
        return links, time_s, oneway, {"simplified_from_links": n_links}

    incident = {}  # node -> (link a, link b) for interstitial nodes only
    for node, a, b in zip(node_of[ok], la[ok], lb[ok]):
        incident[int(node)] = (int(a), int(b))

    used = np.zeros(n_links, bool)
    new_u, new_v, coords, lengths, times, ways, highways, names, speeds = [], [], [], [], [], [], [], [], []
    xy = links.geom_xy
    off = links.geom_offsets

    def piece(link: int, start: int) -> NDArray:
        c = xy[off[link] : off[link + 1]]
        return c if links.u[link] == start else c[::-1]

    def walk_chain(start: int, link: int) -> tuple[list[int], list[int]]:
        chain_links, chain_nodes = [link], [start]
        node = int(links.v[link] if links.u[link] == start else links.u[link])
        while inter[node_pos[node]] and node != start:
            chain_nodes.append(node)
            a, b = incident[node]
            nxt = b if a == chain_links[-1] else a
            if used[nxt] or nxt in chain_links:
                break
            chain_links.append(nxt)
            node = int(links.v[nxt] if links.u[nxt] == node else links.u[nxt])
        chain_nodes.append(node)
        return chain_links, chain_nodes

    endpoints = uniq[~inter]
    for start in endpoints.tolist():
        pos = node_pos[start]
        for k in range(first[pos], first[pos] + degree[pos]):
            link = int(which_sorted[k])
            if used[link]:
                continue
            chain_links, chain_nodes = walk_chain(start, link)
            used[chain_links] = True
            pieces = [piece(l, n) for l, n in zip(chain_links, chain_nodes[:-1])]
            line = np.concatenate([pieces[0]] + [p[1:] for p in pieces[1:]])
            a_node, b_node = chain_nodes[0], chain_nodes[-1]
            if oneway[chain_links[0]] and links.u[chain_links[0]] != a_node:
                line, a_node, b_node = line[::-1], b_node, a_node
            longest = chain_links[int(np.argmax(links.length_m[chain_links]))]
            new_u.append(a_node)
            new_v.append(b_node)
            coords.append(line)
            lengths.append(float(links.length_m[chain_links].sum()))
            times.append(float(time_s[chain_links].sum()))
            ways.append(bool(oneway[chain_links[0]]))
            highways.append(links.highway[longest])
            names.append(links.name[longest])
            speeds.append(links.maxspeed[longest])
    rings = int((~used).sum())  # links on isolated rings of degree-2 nodes: no endpoint to start from
    keep_nodes = np.unique(np.concatenate([new_u, new_v])) if new_u else np.zeros(0, np.int64)
    idx = np.searchsorted(links.node_ids, keep_nodes) if np.all(np.diff(links.node_ids) > 0) else None
    if idx is None:
        lookup = {int(n): i for i, n in enumerate(links.node_ids)}
        idx = np.fromiter((lookup[int(n)] for n in keep_nodes), dtype=np.int64, count=len(keep_nodes))
    merged = LinkTable.from_segments(
        new_u, new_v, coords, keep_nodes, links.node_xy[idx], links.crs,
        length_m=np.asarray(lengths), highway=highways, maxspeed=speeds, name=names, oneway=ways,
        source=links.source,
    )
    return merged, np.asarray(times), np.asarray(ways, bool), {
        "simplified_from_links": n_links,
        "isolated_ring_links_dropped": rings,
    }


def _vocab(values: NDArray[np.object_]) -> tuple[NDArray[np.int32], tuple[str, ...]]:
    text = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], dtype=object)
    vocab, codes = np.unique(text.astype(str), return_inverse=True) if len(text) else (np.array([], str), np.array([], int))
    return codes.astype(np.int32), tuple(str(v) for v in vocab)


def build_network(
    links: LinkTable,
    mode: str,
    speeds: SpeedProfile | None = None,
    *,
    simplify: bool = True,
) -> Network:
    """Price, simplify and compact a link table into a :class:`Network` for one mode.

    Parameters
    ----------
    links
        Road segments (see :class:`LinkTable`); for ``drive`` only drivable classes should be
        passed (the readers filter them).
    mode
        ``"walk"`` (every link both ways at ``speeds.walk_mps``) or ``"drive"`` (one-way links one
        way, speeds from ``maxspeed`` or the road class).
    speeds
        Speed profile; default :class:`SpeedProfile()` (0.9 m/s walking).
    simplify
        Merge chains through degree-2 nodes (default True).

    Returns
    -------
    Network
        The largest strongly connected component; ``info`` says how many nodes and links the
        other components held.

    Raises
    ------
    DataError
        If the table is empty or nothing routable remains.
    """
    mode = check_mode(mode)
    speeds = speeds or SpeedProfile()
    source = links.source or "network"
    if len(links) == 0:
        raise DataError(f"no {mode} roads in the source", source=source)
    bad = ~np.isfinite(links.length_m) | (links.length_m < 0)
    if bad.any():
        raise DataError(f"{int(bad.sum())} link(s) have a negative or missing length", source=source, field="length")
    oneway = links.oneway.copy() if mode == "drive" else np.zeros(len(links), bool)
    time_s = _link_times(links, mode, speeds)
    info: dict[str, Any] = {"source": source, "raw_links": len(links)}
    if simplify:
        links, time_s, oneway, counts = _simplify(links, time_s, oneway)
        info.update(counts)
    # drop self-loops: they never shorten a path
    loop = links.u == links.v
    info["self_loops_dropped"] = int(loop.sum())

    node_ids = links.node_ids
    sorter = np.argsort(node_ids)
    u_idx = sorter[np.searchsorted(node_ids, links.u, sorter=sorter)]
    v_idx = sorter[np.searchsorted(node_ids, links.v, sorter=sorter)]
    link_ids = np.flatnonzero(~loop)
    two_way = link_ids[~oneway[link_ids]]
    tail = np.concatenate([u_idx[link_ids], v_idx[two_way]])
    head = np.concatenate([v_idx[link_ids], u_idx[two_way]])
    edge_link = np.concatenate([link_ids, two_way])
    edge_rev = np.concatenate([np.zeros(len(link_ids), bool), np.ones(len(two_way), bool)])

    n_all = len(node_ids)
    graph = csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n_all, n_all))
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    used_nodes = np.zeros(n_all, bool)
    used_nodes[tail] = True
    used_nodes[head] = True
    comp_sizes = np.bincount(labels[used_nodes], minlength=n_comp)
    if comp_sizes.max(initial=0) < 2:
        raise DataError(f"the {mode} network has no connected part with two or more nodes", source=source)
    main = int(np.argmax(comp_sizes))
    keep_node = labels == main
    keep_edge = keep_node[tail] & keep_node[head]
    kept_links = np.unique(edge_link[keep_edge])
    info.update(
        components=int((comp_sizes > 0).sum()),
        dropped_nodes=int(used_nodes.sum() - keep_node.sum()),
        dropped_links=int(len(link_ids) - len(kept_links)),
    )

    # renumber nodes along a Z-order curve (memory locality for searches) and links
    kept_ids = np.flatnonzero(keep_node)
    kept_ids = kept_ids[spatial_order(links.node_xy[kept_ids])]
    keep_node_order = kept_ids
    new_node = np.full(n_all, -1, np.int64)
    new_node[kept_ids] = np.arange(len(kept_ids))
    new_link = np.full(len(links), -1, np.int64)
    new_link[kept_links] = np.arange(len(kept_links))
    tail, head = new_node[tail[keep_edge]], new_node[head[keep_edge]]
    edge_link, edge_rev = new_link[edge_link[keep_edge]], edge_rev[keep_edge]
    order = np.lexsort((head, tail))
    tail, head, edge_link, edge_rev = tail[order], head[order], edge_link[order], edge_rev[order]
    n = int(keep_node.sum())
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])

    starts, stops = links.geom_offsets[kept_links], links.geom_offsets[kept_links + 1]
    counts = stops - starts
    link_offsets = np.zeros(len(kept_links) + 1, np.int64)
    np.cumsum(counts, out=link_offsets[1:])
    gather = np.repeat(starts - link_offsets[:-1], counts) + np.arange(int(counts.sum()))
    hw_codes, hw_vocab = _vocab(links.highway[kept_links])
    nm_codes, nm_vocab = _vocab(links.name[kept_links])
    info["speeds"] = speeds.describe()
    return Network(
        mode=mode,
        crs=links.crs,
        node_id=node_ids[keep_node_order],
        node_xy=np.ascontiguousarray(links.node_xy[keep_node_order]),
        indptr=indptr,
        edge_head=head.astype(np.int32),
        edge_tail=tail.astype(np.int32),
        edge_time=time_s[kept_links][edge_link],
        edge_length=links.length_m[kept_links][edge_link],
        edge_link=edge_link.astype(np.int32),
        edge_reversed=edge_rev,
        link_offsets=link_offsets,
        link_xy=np.ascontiguousarray(links.geom_xy[gather]),
        link_highway=hw_codes,
        link_name=nm_codes,
        highway_vocab=hw_vocab,
        name_vocab=nm_vocab,
        info=info,
    )
