"""Compiled shortest-path kernels (numba) over CSR graphs.

All kernels take a graph as ``indptr`` (int64, n+1), ``heads`` (int32/int64, m) and ``weights``
(float64, m, non-negative).  Single-label searches use an indexed 4-ary heap with decrease-key;
the k-nearest multi-label search a binary heap with lazy deletion.  They allocate their work
arrays once per call and reset only what a search touched, so that thousands of small bounded
searches on a graph of a million nodes cost what the searches explore, not the graph's size.

Kernels release the GIL (``nogil=True``): callers run chunks of sources in parallel threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner._jit import grown

_INF = np.inf


@njit(cache=True, nogil=True, inline="always")
def _heap_push(keys, vals, size, key, val):
    """Push (key, val) on a binary min-heap stored in ``keys``/``vals``; returns the new size."""
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _heap_pop(keys, vals, size):
    """Pop the minimum; returns (key, val, new size)."""
    key = keys[0]
    val = vals[0]
    size -= 1
    if size > 0:
        keys[0] = keys[size]
        vals[0] = vals[size]
        i = 0
        while True:
            left = 2 * i + 1
            if left >= size:
                break
            small = left
            right = left + 1
            if right < size and keys[right] < keys[left]:
                small = right
            if keys[i] <= keys[small]:
                break
            keys[small], keys[i] = keys[i], keys[small]
            vals[small], vals[i] = vals[i], vals[small]
            i = small
    return key, val, size


_ARITY = 4  # children per heap node: a 4-ary heap does fewer, cache-friendlier levels than a binary one


@njit(cache=True, nogil=True, inline="always")
def _iheap_place(hnode, hkey, pos, i, node, key):
    """Sift ``node`` with ``key`` up from slot ``i`` of an indexed 4-ary min-heap."""
    while i > 0:
        parent = (i - 1) // _ARITY
        if hkey[parent] <= key:
            break
        moved = hnode[parent]
        hnode[i] = moved
        hkey[i] = hkey[parent]
        pos[moved] = i
        i = parent
    hnode[i] = node
    hkey[i] = key
    pos[node] = i


@njit(cache=True, nogil=True, inline="always")
def _iheap_pop(hnode, hkey, pos, size):
    """Remove the minimum of an indexed 4-ary heap; returns (node, key, new size)."""
    top = hnode[0]
    top_key = hkey[0]
    pos[top] = -2  # settled
    size -= 1
    if size > 0:
        last = hnode[size]
        last_key = hkey[size]
        i = 0
        while True:
            child = _ARITY * i + 1
            if child >= size:
                break
            best = child
            best_key = hkey[child]
            stop = min(child + _ARITY, size)
            for j in range(child + 1, stop):
                if hkey[j] < best_key:
                    best_key = hkey[j]
                    best = j
            if best_key >= last_key:
                break
            moved = hnode[best]
            hnode[i] = moved
            hkey[i] = best_key
            pos[moved] = i
            i = best
        hnode[i] = last
        hkey[i] = last_key
        pos[last] = i
    return top, top_key, size


@njit(cache=True, nogil=True)
def bounded_to_targets(indptr, heads, weights, n_nodes, src_nodes, src_cost, cutoff, target_of_node, target_cost):
    """From each source, every target reachable within ``cutoff`` (total cost).

    Dijkstra with an indexed 4-ary heap (decrease-key, no stale entries); work arrays are
    allocated once and only the nodes a search touched are reset.

    Parameters
    ----------
    src_nodes, src_cost
        Start node of each source and the cost already spent reaching it (e.g. access time).
    cutoff
        Largest total cost kept (``src_cost + path + target_cost``).
    target_of_node
        For every node, the target index it carries, or -1.
    target_cost
        Cost added at each target (its access time).

    Returns
    -------
    (source index, target index, total cost) arrays.
    """
    dist = np.full(n_nodes, _INF)
    pos = np.full(n_nodes, -1, np.int32)  # -1 untouched, -2 settled, else slot in the heap
    hnode = np.empty(n_nodes, np.int32)
    hkey = np.empty(n_nodes, np.float64)
    touched = np.empty(n_nodes, np.int32)
    out_s = np.empty(1024, np.int64)
    out_t = np.empty(1024, np.int64)
    out_v = np.empty(1024, np.float64)
    n_out = 0
    for k in range(src_nodes.shape[0]):
        start = src_nodes[k]
        d0 = src_cost[k]
        if d0 > cutoff:
            continue
        dist[start] = d0
        touched[0] = start
        n_touched = 1
        _iheap_place(hnode, hkey, pos, 0, start, d0)
        size = 1
        while size > 0:
            u, d, size = _iheap_pop(hnode, hkey, pos, size)
            t = target_of_node[u]
            if t >= 0:
                total = d + target_cost[t]
                if total <= cutoff:
                    if n_out >= out_s.shape[0]:
                        out_s = grown(out_s, n_out + 1)
                        out_t = grown(out_t, n_out + 1)
                        out_v = grown(out_v, n_out + 1)
                    out_s[n_out] = k
                    out_t[n_out] = t
                    out_v[n_out] = total
                    n_out += 1
            for e in range(indptr[u], indptr[u + 1]):
                v = heads[e]
                nd = d + weights[e]
                if nd < dist[v] and nd <= cutoff:
                    slot = pos[v]
                    if slot == -1:
                        touched[n_touched] = v
                        n_touched += 1
                        slot = size
                        size += 1
                    dist[v] = nd
                    _iheap_place(hnode, hkey, pos, slot, v, nd)
        for i in range(n_touched):
            node = touched[i]
            dist[node] = _INF
            pos[node] = -1
    return out_s[:n_out].copy(), out_t[:n_out].copy(), out_v[:n_out].copy()


@njit(cache=True, nogil=True)
def bounded_all_nodes(indptr, heads, weights, n_nodes, src_nodes, cutoff):
    """From each source node, every node within ``cutoff``: (source index, node, cost) arrays.

    The plain node-to-node problem, used to compare with networkx/pandana on the same graph.
    """
    target_of_node = np.arange(n_nodes)
    zeros = np.zeros(n_nodes)
    return bounded_to_targets(indptr, heads, weights, n_nodes, src_nodes, np.zeros(src_nodes.shape[0]), cutoff, target_of_node, zeros)


@njit(cache=True, nogil=True)
def k_nearest_sources(indptr, heads, weights, n_nodes, src_nodes, src_cost, k, cutoff, target_of_node, target_cost, n_targets):
    """For every target, its ``k`` cheapest sources (one simultaneous multi-label search).

    A node keeps at most ``k`` labels, one per source; a label popped at a node that already has
    ``k`` labels, or one from the same source, is discarded.  Labels at a node are settled in
    non-decreasing cost, so each target's list comes out sorted.

    Returns
    -------
    (source indices, costs) arrays of shape ``(n_targets, k)``; -1 / inf where fewer exist.
    """
    out_src = np.full((n_targets, k), -1, np.int64)
    out_val = np.full((n_targets, k), _INF)
    count = np.zeros(n_nodes, np.int32)
    labels = np.full((n_nodes, k), -1, np.int64)
    keys = np.empty(4096, np.float64)
    vals = np.empty(4096, np.int64)  # node * n_sources + source, decoded below
    n_src = src_nodes.shape[0]
    size = 0
    for s in range(n_src):
        if src_cost[s] <= cutoff:
            if size >= keys.shape[0]:
                keys = grown(keys, size + 1)
                vals = grown(vals, size + 1)
            size = _heap_push(keys, vals, size, src_cost[s], src_nodes[s] * n_src + s)
    while size > 0:
        d, code, size = _heap_pop(keys, vals, size)
        u = code // n_src
        s = code - u * n_src
        c = count[u]
        if c >= k:
            continue
        seen = False
        for i in range(c):
            if labels[u, i] == s:
                seen = True
                break
        if seen:
            continue
        labels[u, c] = s
        count[u] = c + 1
        t = target_of_node[u]
        if t >= 0:
            total = d + target_cost[t]
            if total <= cutoff:
                # insert keeping the row sorted (target_cost is constant per target, so in order)
                out_src[t, c] = s
                out_val[t, c] = total
        for e in range(indptr[u], indptr[u + 1]):
            v = heads[e]
            if count[v] < k:
                nd = d + weights[e]
                if nd <= cutoff:
                    if size >= keys.shape[0]:
                        keys = grown(keys, size + 1)
                        vals = grown(vals, size + 1)
                    size = _heap_push(keys, vals, size, nd, v * n_src + s)
    return out_src, out_val


@njit(cache=True, nogil=True)
def single_source(indptr, heads, weights, n_nodes, source, source_cost, cutoff, stop_at):
    """Dijkstra from one node with predecessor edges; stops early when ``stop_at`` (≥ 0) is settled.

    Returns
    -------
    (dist, pred_edge): cost to every node (inf if not reached within ``cutoff``) and the edge
    used to reach it (-1 for the source and unreached nodes).
    """
    dist = np.full(n_nodes, _INF)
    pred = np.full(n_nodes, -1, np.int64)
    pos = np.full(n_nodes, -1, np.int32)
    hnode = np.empty(n_nodes, np.int32)
    hkey = np.empty(n_nodes, np.float64)
    dist[source] = source_cost
    _iheap_place(hnode, hkey, pos, 0, source, source_cost)
    size = 1
    while size > 0:
        u, d, size = _iheap_pop(hnode, hkey, pos, size)
        if u == stop_at:
            break
        for e in range(indptr[u], indptr[u + 1]):
            v = heads[e]
            nd = d + weights[e]
            if nd < dist[v] and nd <= cutoff:
                slot = pos[v]
                if slot == -1:
                    slot = size
                    size += 1
                dist[v] = nd
                pred[v] = e
                _iheap_place(hnode, hkey, pos, slot, v, nd)
    return dist, pred
