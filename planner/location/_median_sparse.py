"""Compiled heuristics for large median problems, where each demand point lists only its nearest sites.

Rows: ``lst_site[i, :]`` (site ids, -1 padding) and ``lst_cost[i, :]`` (weighted costs, ascending,
``inf`` padding).  A demand point none of whose listed sites is open is priced at ``far[i]`` (a
penalty that steers the search; the true cost is measured afterwards on the network).  Columns:
``col_ptr``/``col_dem``/``col_cost`` list, for every site, the demand points listing it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner._jit import argsort_stable

from planner.location._median_kernels import best_swap

BIG = 1e300


@njit(cache=True, nogil=True)
def assign_two(lst_site, lst_cost, far, is_open):
    """Cheapest and second-cheapest open listed site of every demand point (``far`` / -1 if none)."""
    n, k = lst_site.shape
    d1 = far.copy()
    d2 = far.copy()
    phi1 = np.full(n, -1, np.int64)
    phi2 = np.full(n, -1, np.int64)
    for i in range(n):
        found = 0
        for t in range(k):
            j = lst_site[i, t]
            if j < 0:
                break
            if is_open[j]:
                if found == 0:
                    d1[i] = lst_cost[i, t]
                    phi1[i] = j
                    found = 1
                else:
                    d2[i] = lst_cost[i, t]
                    phi2[i] = j
                    break
    return d1, phi1, d2, phi2


@njit(cache=True, nogil=True)
def greedy(col_ptr, col_dem, col_cost, far, is_open, allowed, p_total):
    """Greedy ADD with lazy gain evaluation on the listed pairs."""
    S = is_open.shape[0]
    is_open = is_open.copy()
    d1 = far.copy()
    count = 0
    for j in range(S):
        if is_open[j]:
            count += 1
            for k in range(col_ptr[j], col_ptr[j + 1]):
                i = col_dem[k]
                if col_cost[k] < d1[i]:
                    d1[i] = col_cost[k]
    bound = np.full(S, BIG)
    while count < p_total:
        order = argsort_stable(-bound)
        best = -1
        best_gain = -1.0
        for t in range(S):
            j = order[t]
            if bound[j] <= best_gain:
                break
            if is_open[j] or not allowed[j]:
                bound[j] = -1.0
                continue
            gain = 0.0
            for k in range(col_ptr[j], col_ptr[j + 1]):
                i = col_dem[k]
                c = col_cost[k]
                if c < d1[i]:
                    gain += d1[i] - c
            bound[j] = gain
            if gain > best_gain:
                best_gain = gain
                best = j
        if best < 0:
            break
        is_open[best] = True
        bound[best] = -1.0
        count += 1
        for k in range(col_ptr[best], col_ptr[best + 1]):
            i = col_dem[k]
            if col_cost[k] < d1[i]:
                d1[i] = col_cost[k]
    return is_open


@njit(cache=True, nogil=True)
def swap(lst_site, lst_cost, far, is_open, allowed, closable, max_passes):
    """Best-improvement vertex substitution priced on the listed pairs (see the dense version)."""
    n, k_max = lst_site.shape
    S = is_open.shape[0]
    is_open = is_open.copy()
    d1, phi1, d2, phi2 = assign_two(lst_site, lst_cost, far, is_open)
    pos = np.full(S, -1, np.int64)
    passes = 0
    while passes < max_passes:
        passes += 1
        open_list = np.flatnonzero(is_open)
        P = open_list.shape[0]
        pos[:] = -1
        for t in range(P):
            pos[open_list[t]] = t
        gain = np.zeros(S)
        loss = np.zeros(P)
        extra = np.zeros((S, P))
        for i in range(n):
            a = d1[i]
            b = d2[i]
            o = pos[phi1[i]] if phi1[i] >= 0 else -1
            if o >= 0:
                loss[o] += b - a
            for t in range(k_max):
                j = lst_site[i, t]
                if j < 0:
                    break
                c = lst_cost[i, t]
                if c >= b:
                    break
                if is_open[j] or not allowed[j]:
                    continue
                if c < a:
                    gain[j] += c - a
                if o >= 0:
                    extra[j, o] += b - (c if c > a else a)
        best_in, best_out = best_swap(gain, loss, extra, is_open, allowed, closable, open_list, P)
        if best_in < 0:
            break
        is_open[best_in] = True
        is_open[best_out] = False
        for i in range(n):
            touched = phi1[i] == best_out or phi2[i] == best_out
            if not touched:
                for t in range(k_max):
                    j = lst_site[i, t]
                    if j < 0 or lst_cost[i, t] >= d2[i]:
                        break
                    if j == best_in:
                        touched = True
                        break
            if touched:
                a = far[i]
                b = far[i]
                fa = -1
                fb = -1
                for t in range(k_max):
                    j = lst_site[i, t]
                    if j < 0:
                        break
                    if is_open[j]:
                        if fa < 0:
                            a = lst_cost[i, t]
                            fa = j
                        else:
                            b = lst_cost[i, t]
                            fb = j
                            break
                d1[i] = a
                phi1[i] = fa
                d2[i] = b
                phi2[i] = fb
    cost = 0.0
    for i in range(n):
        cost += d1[i]
    return is_open, cost, passes
