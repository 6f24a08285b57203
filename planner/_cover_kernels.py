"""Compiled kernels for coverage models: greedy, swap local search and the Lagrangian bound of MCLP.

The coverage pattern comes twice: by site (CSC: ``col_ptr``/``col_dem``, the demand points each
site covers) and by demand point (CSR: ``row_ptr``/``row_site``).  ``w`` are demand weights.
Site constraints: ``state`` (1 fixed open, -1 forbidden, 0 free), ``is_new`` (counts toward
``p``), ``unit`` (levels × sites, -1 none) with per-unit ``umin``/``umax``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _unit_ok_add(unit, count, umax, j):
    for lv in range(unit.shape[0]):
        u = unit[lv, j]
        if u >= 0 and count[lv, u] + 1 > umax[lv, u]:
            return False
    return True


@njit(cache=True, nogil=True)
def _unit_ok_swap(unit, count, umin, umax, add, drop):
    for lv in range(unit.shape[0]):
        ua = unit[lv, add]
        ud = unit[lv, drop]
        if ua == ud:
            continue
        if ua >= 0 and count[lv, ua] + 1 > umax[lv, ua]:
            return False
        if ud >= 0 and count[lv, ud] - 1 < umin[lv, ud]:
            return False
    return True


@njit(cache=True, nogil=True)
def greedy(col_ptr, col_dem, w, state, is_new, cost, p, budget, unit, umin, umax):
    """Greedy MCLP: first each unit's minimum (best site in the unit), then the best gain per site
    (per cost unit under a budget), until ``p`` new sites or the budget are used.

    Returns (is_open, order of opening).
    """
    S = state.shape[0]
    D = w.shape[0]
    L, U = umin.shape
    is_open = state == 1
    covered = np.zeros(D, np.int32)
    count = np.zeros((L, U), np.int64)
    for j in range(S):
        if is_open[j]:
            for k in range(col_ptr[j], col_ptr[j + 1]):
                covered[col_dem[k]] += 1
            for lv in range(L):
                if unit[lv, j] >= 0:
                    count[lv, unit[lv, j]] += 1
    used = 0
    spent = 0.0
    for j in range(S):
        if is_open[j] and is_new[j]:  # required new sites use part of p and of the budget
            used += 1
            spent += cost[j]
    order = np.full(S, -1, np.int64)
    n_order = 0

    def gain_of(j):
        g = 0.0
        for k in range(col_ptr[j], col_ptr[j + 1]):
            if covered[col_dem[k]] == 0:
                g += w[col_dem[k]]
        return g

    # phase 1: unit minimums
    for lv in range(L):
        for u in range(U):
            while count[lv, u] < umin[lv, u]:
                best = -1
                best_g = -1.0
                for j in range(S):
                    if is_open[j] or state[j] == -1 or unit[lv, j] != u:
                        continue
                    if is_new[j] and (used + 1 > p or spent + cost[j] > budget):
                        continue
                    if not _unit_ok_add(unit, count, umax, j):
                        continue
                    g = gain_of(j)
                    if g > best_g:
                        best_g = g
                        best = j
                if best < 0:
                    break
                is_open[best] = True
                order[n_order] = best
                n_order += 1
                if is_new[best]:
                    used += 1
                    spent += cost[best]
                for k in range(col_ptr[best], col_ptr[best + 1]):
                    covered[col_dem[k]] += 1
                for l2 in range(L):
                    if unit[l2, best] >= 0:
                        count[l2, unit[l2, best]] += 1
    # phase 2: lazy greedy on gain (per cost when a budget binds)
    use_ratio = budget < 1e300
    bound = np.empty(S)
    for j in range(S):
        bound[j] = gain_of(j) / (cost[j] if use_ratio and cost[j] > 0 else 1.0)
    while used < p:
        best = -1
        best_v = 0.0
        # lazy evaluation: candidates whose stale bound beats the best fresh value
        idx = np.argsort(-bound)
        for t in range(S):
            j = idx[t]
            if bound[j] <= best_v:
                break
            if is_open[j] or state[j] == -1 or not is_new[j] or spent + cost[j] > budget:
                bound[j] = -1.0
                continue
            if not _unit_ok_add(unit, count, umax, j):
                bound[j] = -1.0
                continue
            v = gain_of(j) / (cost[j] if use_ratio and cost[j] > 0 else 1.0)
            bound[j] = v
            if v > best_v:
                best_v = v
                best = j
        if best < 0:
            break
        is_open[best] = True
        order[n_order] = best
        n_order += 1
        used += 1
        spent += cost[best]
        bound[best] = -1.0
        for k in range(col_ptr[best], col_ptr[best + 1]):
            covered[col_dem[k]] += 1
        for lv in range(L):
            if unit[lv, best] >= 0:
                count[lv, unit[lv, best]] += 1
    return is_open, order[:n_order]


@njit(cache=True, nogil=True)
def covered_weight(col_ptr, col_dem, w, is_open):
    """Total weight of demand points covered by at least one open site."""
    D = w.shape[0]
    hit = np.zeros(D, np.bool_)
    for j in range(is_open.shape[0]):
        if is_open[j]:
            for k in range(col_ptr[j], col_ptr[j + 1]):
                hit[col_dem[k]] = True
    total = 0.0
    for i in range(D):
        if hit[i]:
            total += w[i]
    return total


@njit(cache=True, nogil=True)
def swap(col_ptr, col_dem, row_ptr, row_site, w, is_open, state, is_new, cost, budget, unit, umin, umax, max_passes):
    """Best-improvement swaps (open a free site, close an open new one) while coverage grows.

    Each pass prices every swap in one sweep: ``gain[k] − loss[o] + extra[k, o]`` where ``extra``
    counts demand covered only by ``o`` that ``k`` also covers.
    """
    S = state.shape[0]
    D = w.shape[0]
    L, U = umin.shape
    is_open = is_open.copy()
    covered = np.zeros(D, np.int32)
    owner = np.full(D, -1, np.int64)
    count = np.zeros((L, U), np.int64)
    spent = 0.0
    for j in range(S):
        if is_open[j]:
            if is_new[j]:
                spent += cost[j]
            for lv in range(L):
                if unit[lv, j] >= 0:
                    count[lv, unit[lv, j]] += 1
    passes = 0
    while passes < max_passes:
        passes += 1
        covered[:] = 0
        for j in range(S):
            if is_open[j]:
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    covered[col_dem[k]] += 1
        open_list = np.flatnonzero(is_open & (state == 0) & is_new)
        P = open_list.shape[0]
        if P == 0:
            break
        pos = np.full(S, -1, np.int64)
        for t in range(P):
            pos[open_list[t]] = t
        loss = np.zeros(P)
        for i in range(D):
            if covered[i] == 1:
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    j = row_site[k]
                    if is_open[j]:
                        owner[i] = j
                        break
                if pos[owner[i]] >= 0:
                    loss[pos[owner[i]]] += w[i]
        gain = np.zeros(S)
        for j in range(S):
            if not is_open[j] and state[j] == 0 and is_new[j]:
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    if covered[col_dem[k]] == 0:
                        gain[j] += w[col_dem[k]]
        extra = np.zeros((S, P))
        for i in range(D):
            if covered[i] == 1 and pos[owner[i]] >= 0:
                o = pos[owner[i]]
                for k in range(row_ptr[i], row_ptr[i + 1]):
                    j = row_site[k]
                    if not is_open[j]:
                        extra[j, o] += w[i]
        best = 1e-9
        best_in = -1
        best_out = -1
        for j in range(S):
            if is_open[j] or state[j] != 0 or not is_new[j]:
                continue
            for t in range(P):
                o = open_list[t]
                delta = gain[j] - loss[t] + extra[j, t]
                if delta > best:
                    if spent - cost[o] + cost[j] > budget:
                        continue
                    if not _unit_ok_swap(unit, count, umin, umax, j, o):
                        continue
                    best = delta
                    best_in = j
                    best_out = o
        if best_in < 0:
            break
        is_open[best_in] = True
        is_open[best_out] = False
        spent += cost[best_in] - cost[best_out]
        for lv in range(L):
            if unit[lv, best_in] >= 0:
                count[lv, unit[lv, best_in]] += 1
            if unit[lv, best_out] >= 0:
                count[lv, unit[lv, best_out]] -= 1
    return is_open, passes


@njit(cache=True, nogil=True)
def lagrangian_bound(col_ptr, col_dem, w, state, is_new, p, lower, iterations, is_open_out):
    """Upper bound on MCLP coverage by relaxing ``y_i ≤ Σ_j x_j`` (count constraint only).

    ``L(λ) = Σ_i max(0, w_i − λ_i) + Σ_fixed s_j + top-p(s_j)`` with ``s_j = Σ_{i∈N(j)} λ_i``,
    minimised by subgradient steps; ``lower`` is a known coverage (for the step length).  Unit
    bounds and budgets are relaxed, so the bound stays valid (if weaker) when they exist.
    The relaxed site choice at the best bound is written to ``is_open_out``.

    Returns (best bound, iterations used).
    """
    S = state.shape[0]
    D = w.shape[0]
    lam = w * 0.5
    best = 1e300
    s = np.empty(S)
    y = np.empty(D, np.bool_)
    x = np.zeros(S, np.bool_)
    cover_count = np.zeros(D)
    theta = 1.0
    stall = 0
    used = 0
    for it in range(iterations):
        used = it + 1
        value = 0.0
        for i in range(D):
            if w[i] > lam[i]:
                y[i] = True
                value += w[i] - lam[i]
            else:
                y[i] = False
        for j in range(S):
            acc = 0.0
            for k in range(col_ptr[j], col_ptr[j + 1]):
                acc += lam[col_dem[k]]
            s[j] = acc
        x[:] = False
        free = np.empty(S, np.int64)
        n_free = 0
        fixed_new = 0
        for j in range(S):
            if state[j] == 1:
                x[j] = True
                value += s[j]
                if is_new[j]:
                    fixed_new += 1
            elif state[j] == 0 and is_new[j]:
                free[n_free] = j
                n_free += 1
        take = min(max(p - fixed_new, 0), n_free)
        if take > 0:
            top = np.argsort(-s[free[:n_free]])[:take]
            for t in range(take):
                j = free[top[t]]
                x[j] = True
                value += s[j]
        if value < best - 1e-9:
            best = value
            is_open_out[:] = x
            stall = 0
        else:
            stall += 1
            if stall >= 20:
                theta *= 0.5
                stall = 0
        if theta < 1e-5 or best - lower <= 1e-9 * max(1.0, best):
            break
        cover_count[:] = 0.0
        for j in range(S):
            if x[j]:
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    cover_count[col_dem[k]] += 1.0
        norm = 0.0
        for i in range(D):
            g = cover_count[i] - (1.0 if y[i] else 0.0)
            norm += g * g
        if norm == 0.0:
            break
        step = theta * (value - lower) / norm
        for i in range(D):
            g = cover_count[i] - (1.0 if y[i] else 0.0)
            v = lam[i] - step * g
            if v < 0.0:
                v = 0.0
            elif v > w[i]:
                v = w[i]
            lam[i] = v
    return best, used
