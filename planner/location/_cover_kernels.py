"""Compiled kernels for coverage models: greedy, swap local search and the Lagrangian bound of MCLP.

The coverage pattern comes twice: by site (CSC: ``col_ptr``/``col_dem``, the demand points each
site covers) and by demand point (CSR: ``row_ptr``/``row_site``).  ``w`` are demand weights.
Site constraints: ``state`` (1 fixed open, -1 forbidden, 0 free), ``is_new`` (counts toward
``p``), ``unit`` (levels × sites, -1 none) with per-unit ``umin``/``umax``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner._jit import argsort_stable, copy_into

from planner.location._median_kernels import stalled


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
def _take(j, col_ptr, col_dem, covered, unit, count):
    """Open site ``j`` in the greedy's bookkeeping: its points covered once more, its units counted."""
    for k in range(col_ptr[j], col_ptr[j + 1]):
        covered[col_dem[k]] += 1
    for lv in range(unit.shape[0]):
        if unit[lv, j] >= 0:
            count[lv, unit[lv, j]] += 1


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
            _take(j, col_ptr, col_dem, covered, unit, count)
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
                _take(best, col_ptr, col_dem, covered, unit, count)
    # phase 2: lazy greedy on gain (per cost when a budget binds)
    use_ratio = budget < 1e300
    bound = np.empty(S)
    for j in range(S):
        bound[j] = gain_of(j) / (cost[j] if use_ratio and cost[j] > 0 else 1.0)
    while used < p:
        best = -1
        best_v = 0.0
        # lazy evaluation: candidates whose stale bound beats the best fresh value
        idx = argsort_stable(-bound)
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
        _take(best, col_ptr, col_dem, covered, unit, count)
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


# ---------------------------------------------------------------------- Lagrangian branch-and-bound
@njit(cache=True, nogil=True)
def mclp_relaxed(col_ptr, col_dem, w, lam, status, is_new, p, s, chosen):
    """Value of the MCLP Lagrangian dual at ``lam`` (an upper bound) and its site choice.

    ``status``: 1 forced open, -1 closed, 0 free.  Forced-open new sites use part of ``p``;
    existing ones (not new) do not.  Fills ``s`` (site scores) and ``chosen``.
    Returns the value, or -1 if the node is infeasible (more forced-open new sites than ``p``).
    """
    S = status.shape[0]
    D = w.shape[0]
    value = 0.0
    for i in range(D):
        if w[i] > lam[i]:
            value += w[i] - lam[i]
    fixed_new = 0
    n_free = 0
    for j in range(S):
        chosen[j] = False
        if status[j] < 0:
            s[j] = 0.0
            continue
        acc = 0.0
        for k in range(col_ptr[j], col_ptr[j + 1]):
            acc += lam[col_dem[k]]
        s[j] = acc
        if status[j] == 1:
            chosen[j] = True
            value += acc
            if is_new[j]:
                fixed_new += 1
        elif is_new[j]:
            n_free += 1
    take = p - fixed_new
    if take < 0:
        return -1.0
    if take > 0 and n_free > 0:
        free = np.empty(n_free, np.int64)
        t = 0
        for j in range(S):
            if status[j] == 0 and is_new[j]:
                free[t] = j
                t += 1
        order = argsort_stable(-s[free])
        for r in range(min(take, n_free)):
            j = free[order[r]]
            if s[j] <= 0.0:
                break
            chosen[j] = True
            value += s[j]
    return value


@njit(cache=True, nogil=True)
def mclp_subgradient(col_ptr, col_dem, w, lam, status, is_new, p, target, iterations, theta, patience):
    """Minimise the MCLP Lagrangian bound from ``lam`` (Polyak steps towards ``target``).

    Stops once the bound falls to ``target`` (nothing better than the incumbent can exist).
    Returns (best bound, its multipliers, scores, choice, iterations used).
    """
    S = status.shape[0]
    D = w.shape[0]
    lam = lam.copy()
    s = np.zeros(S)
    chosen = np.zeros(S, np.bool_)
    best = 1e300
    best_lam = lam.copy()
    best_s = np.zeros(S)
    best_chosen = np.zeros(S, np.bool_)
    count = np.zeros(D)
    stall = 0
    used = 0
    for it in range(iterations):
        used = it + 1
        value = mclp_relaxed(col_ptr, col_dem, w, lam, status, is_new, p, s, chosen)
        if value < 0.0:
            return -1.0, best_lam, best_s, best_chosen, used
        if value < best - 1e-12:
            best = value
            copy_into(best_lam, lam)
            copy_into(best_s, s)
            copy_into(best_chosen, chosen)
            stall = 0
        else:
            stall, theta = stalled(stall, patience, theta)
        if best <= target or theta < 1e-5:
            break
        count[:] = 0.0
        for j in range(S):
            if chosen[j]:
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    count[col_dem[k]] += 1.0
        norm = 0.0
        for i in range(D):
            g = count[i] - (1.0 if w[i] > lam[i] else 0.0)
            norm += g * g
        if norm == 0.0:
            break
        gap = value - target
        if gap < 1e-9 * max(1.0, abs(target)):
            gap = 1e-4 * max(1.0, abs(target))
        step = theta * gap / norm
        for i in range(D):
            g = count[i] - (1.0 if w[i] > lam[i] else 0.0)
            v = lam[i] - step * g
            if v < 0.0:
                v = 0.0
            elif v > w[i]:
                v = w[i]
            lam[i] = v
    return best, best_lam, best_s, best_chosen, used


@njit(cache=True, nogil=True)
def cover_counts(col_ptr, col_dem, is_open, n_demand):
    """How many open sites cover each demand point (int32 per point)."""
    cnt = np.zeros(n_demand, np.int32)
    for j in range(is_open.shape[0]):
        if is_open[j]:
            for k in range(col_ptr[j], col_ptr[j + 1]):
                cnt[col_dem[k]] += 1
    return cnt


@njit(cache=True, nogil=True)
def swap_simple(col_ptr, col_dem, row_ptr, row_site, w, is_open, movable, max_passes):
    """Best-improvement swaps for the plain count constraint; work proportional to what may move.

    No site × open-site matrix: a demand point covered only by open site ``o`` is found by
    scanning ``o``'s own column (count 1 means ``o`` is its only coverer); accumulating, over
    those points, what each closed site would keep covered gives ``o``'s best partner, compared
    with the best plain gain.  ``movable`` marks the sites that may be opened or closed; with a
    small neighbourhood (after a local perturbation) a pass costs only that neighbourhood.
    Returns (is_open, passes).
    """
    S = is_open.shape[0]
    D = w.shape[0]
    is_open = is_open.copy()
    cnt = cover_counts(col_ptr, col_dem, is_open, D)
    move = np.flatnonzero(movable)
    gain = np.zeros(S)
    acc = np.zeros(S)
    touched = np.empty(S, np.int64)
    passes = 0
    while passes < max_passes:
        passes += 1
        best_gain = -1.0
        best_gain_j = -1
        for t in range(move.shape[0]):
            j = move[t]
            g = 0.0
            if not is_open[j]:
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    if cnt[col_dem[k]] == 0:
                        g += w[col_dem[k]]
                if g > best_gain:
                    best_gain, best_gain_j = g, j
            gain[j] = g
        best_delta = 1e-9
        best_in = -1
        best_out = -1
        for t in range(move.shape[0]):
            o = move[t]
            if not is_open[o]:
                continue
            loss = 0.0
            n_touched = 0
            for k in range(col_ptr[o], col_ptr[o + 1]):
                i = col_dem[k]
                if cnt[i] != 1:
                    continue
                loss += w[i]
                for kk in range(row_ptr[i], row_ptr[i + 1]):
                    j = row_site[kk]
                    if not is_open[j] and movable[j]:
                        if acc[j] == 0.0:
                            touched[n_touched] = j
                            n_touched += 1
                        acc[j] += w[i]
            cand = best_gain_j
            cand_value = best_gain
            for tt in range(n_touched):
                j = touched[tt]
                v = gain[j] + acc[j]
                if v > cand_value:
                    cand_value = v
                    cand = j
                acc[j] = 0.0
            if cand >= 0 and cand_value - loss > best_delta:
                best_delta = cand_value - loss
                best_in = cand
                best_out = o
        if best_in < 0:
            break
        is_open[best_in] = True
        is_open[best_out] = False
        for k in range(col_ptr[best_in], col_ptr[best_in + 1]):
            cnt[col_dem[k]] += 1
        for k in range(col_ptr[best_out], col_ptr[best_out + 1]):
            cnt[col_dem[k]] -= 1
    return is_open, passes


@njit(cache=True, nogil=True)
def _neighbourhood(col_ptr, col_dem, row_ptr, row_site, centre, hops, mark, out):
    """Sites sharing covered demand with ``centre``, up to ``hops`` steps; returns how many."""
    n = 1
    out[0] = centre
    mark[centre] = True
    start = 0
    for _ in range(hops):
        stop = n
        for t in range(start, stop):
            j = out[t]
            for k in range(col_ptr[j], col_ptr[j + 1]):
                i = col_dem[k]
                for kk in range(row_ptr[i], row_ptr[i + 1]):
                    jj = row_site[kk]
                    if not mark[jj]:
                        mark[jj] = True
                        out[n] = jj
                        n += 1
        start = stop
    for t in range(n):
        mark[out[t]] = False
    return n


@njit(cache=True, nogil=True)
def iterated_local_search(col_ptr, col_dem, row_ptr, row_site, w, is_open, movable, iterations, seed):
    """Iterated local search for the plain MCLP: close a few open sites around a random one,
    refill the neighbourhood greedily, run swaps inside it, keep the result if coverage grew.

    Deterministic for a given ``seed``.  Returns (is_open, coverage, improvements).
    """
    np.random.seed(seed)
    S = is_open.shape[0]
    D = w.shape[0]
    best = is_open.copy()
    cnt = cover_counts(col_ptr, col_dem, best, D)
    value = 0.0
    for i in range(D):
        if cnt[i] > 0:
            value += w[i]
    mark = np.zeros(S, np.bool_)
    hood = np.empty(S, np.int64)
    local_mask = np.zeros(S, np.bool_)
    improvements = 0
    open_movable = np.flatnonzero(best & movable)
    for it in range(iterations):
        if open_movable.shape[0] == 0:
            break
        centre = open_movable[np.random.randint(open_movable.shape[0])]
        n = _neighbourhood(col_ptr, col_dem, row_ptr, row_site, centre, 2, mark, hood)
        trial = best.copy()
        # close up to k open movable sites in the neighbourhood (the centre first)
        k = 1 + np.random.randint(4)
        closed = 0
        for t in range(n):
            j = hood[t]
            if trial[j] and movable[j] and closed < k and (t == 0 or np.random.random() < 0.5):
                trial[j] = False
                closed += 1
        # greedy refill inside the neighbourhood
        tcnt = cnt.copy()
        for t in range(n):
            j = hood[t]
            if best[j] and not trial[j]:
                for kk in range(col_ptr[j], col_ptr[j + 1]):
                    tcnt[col_dem[kk]] -= 1
        for _ in range(closed):
            best_j = -1
            best_g = -1.0
            for t in range(n):
                j = hood[t]
                if trial[j] or not movable[j] or (best[j] and np.random.random() < 0.7):
                    continue
                g = 0.0
                for kk in range(col_ptr[j], col_ptr[j + 1]):
                    if tcnt[col_dem[kk]] == 0:
                        g += w[col_dem[kk]]
                if g > best_g:
                    best_g = g
                    best_j = j
            if best_j < 0:
                break
            trial[best_j] = True
            for kk in range(col_ptr[best_j], col_ptr[best_j + 1]):
                tcnt[col_dem[kk]] += 1
        for t in range(n):
            local_mask[hood[t]] = movable[hood[t]]
        trial, _ = swap_simple(col_ptr, col_dem, row_ptr, row_site, w, trial, local_mask, 1000)
        for t in range(n):
            local_mask[hood[t]] = False
        # price the trial incrementally from the neighbourhood's changes
        tcnt = cnt.copy()
        for t in range(n):
            j = hood[t]
            if best[j] != trial[j]:
                delta = 1 if trial[j] else -1
                for kk in range(col_ptr[j], col_ptr[j + 1]):
                    tcnt[col_dem[kk]] += delta
        new_value = 0.0
        for i in range(D):
            if tcnt[i] > 0:
                new_value += w[i]
        if new_value > value + 1e-9 and trial.sum() == best.sum():
            best = trial
            cnt = tcnt
            value = new_value
            improvements += 1
            open_movable = np.flatnonzero(best & movable)
    return best, value, improvements
