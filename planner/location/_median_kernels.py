"""Compiled kernels for median problems on a dense weighted cost matrix ``C`` (demand × candidate).

``C[i, j]`` is the weighted cost of serving demand point ``i`` from candidate ``j`` (weight ×
travel cost).

* :func:`greedy_add` — the greedy ADD heuristic;
* :func:`swap_search` — best-improvement vertex substitution with the gain/loss/extra
  decomposition of Whitaker (1983) as organised by Resende & Werneck (2007): one sweep over the
  matrix prices every possible swap;
* :func:`subgradient` — the Lagrangian relaxation of the assignment constraints (Beasley 1993),
  whose bound equals the LP bound.  It scans each demand point's candidates in increasing cost
  and stops at its multiplier, so an iteration costs what the multipliers let through, not
  ``n × m``;
* :func:`branch_and_bound` — depth-first Lagrangian branch-and-bound on the facility variables,
  with reduction tests (variable fixing) at every node; resumable, so the caller can enforce a
  time limit.

Facility *status* arrays use 1 = forced open, -1 = forced closed, 0 = free.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner._jit import argsort_stable, copy_into

BIG = 1e300
LS_FACTOR = 1.0


@njit(cache=True, nogil=True)
def assign_two(C, is_open):
    """Cheapest and second-cheapest open facility of every demand point."""
    n, m = C.shape
    d1 = np.full(n, BIG)
    d2 = np.full(n, BIG)
    phi1 = np.full(n, -1, np.int64)
    phi2 = np.full(n, -1, np.int64)
    for i in range(n):
        for j in range(m):
            if is_open[j]:
                c = C[i, j]
                if c < d1[i]:
                    d2[i] = d1[i]
                    phi2[i] = phi1[i]
                    d1[i] = c
                    phi1[i] = j
                elif c < d2[i]:
                    d2[i] = c
                    phi2[i] = j
    return d1, phi1, d2, phi2


@njit(cache=True, nogil=True)
def solution_cost(C, is_open):
    """Total cost of serving every demand point from its cheapest open facility."""
    n, m = C.shape
    total = 0.0
    for i in range(n):
        best = BIG
        for j in range(m):
            if is_open[j] and C[i, j] < best:
                best = C[i, j]
        total += best
    return total


@njit(cache=True, nogil=True)
def solution_cost_sorted(order, Cs, is_open):
    """:func:`solution_cost` from rows sorted by cost: stops at each row's first open facility."""
    n, m = Cs.shape
    total = 0.0
    for i in range(n):
        for t in range(m):
            if is_open[order[i, t]]:
                total += Cs[i, t]
                break
        else:
            total += BIG
    return total


@njit(cache=True, nogil=True)
def greedy_add(C, is_open, allowed, p_total):
    """Open facilities one by one, each time the one that lowers the total cost most.

    ``is_open`` holds the facilities already open (existing/required); facilities are added until
    ``p_total`` are open.  Returns the new ``is_open``.
    """
    n, m = C.shape
    is_open = is_open.copy()
    # a demand point not yet served counts at (its dearest cost + 1): gains then rank candidates
    # exactly as total cost does, without overflow
    d1 = np.empty(n)
    for i in range(n):
        worst = 0.0
        best = BIG
        for j in range(m):
            c = C[i, j]
            if c > worst:
                worst = c
            if is_open[j] and c < best:
                best = c
        d1[i] = best if best < BIG else worst + 1.0
    count = 0
    for j in range(m):
        if is_open[j]:
            count += 1
    while count < p_total:
        best_j = -1
        best_gain = -1.0
        for j in range(m):
            if is_open[j] or not allowed[j]:
                continue
            gain = 0.0
            for i in range(n):
                c = C[i, j]
                if c < d1[i]:
                    gain += d1[i] - c
            if gain > best_gain:
                best_gain = gain
                best_j = j
        if best_j < 0:
            break
        is_open[best_j] = True
        count += 1
        for i in range(n):
            if C[i, best_j] < d1[i]:
                d1[i] = C[i, best_j]
    return is_open


@njit(cache=True, nogil=True)
def best_swap(gain, loss, extra, is_open, allowed, closable, open_list, p):
    """The most improving (open ``j``, close ``open_list[o]``) pair: ``gain[j] + loss[o] - extra[j, o]``.

    ``gain[j]`` is the change from opening ``j`` alone, ``loss[o]`` from closing the ``o``-th open
    facility alone, ``extra[j, o]`` what opening ``j`` saves of that loss (fast interchange).
    Returns ``(j, closed facility)``, or ``(-1, -1)`` when no swap lowers the cost.
    """
    best = -1e-9
    best_in = -1
    best_out = -1
    for j in range(is_open.shape[0]):
        if is_open[j] or not allowed[j]:
            continue
        gj = gain[j]
        for o in range(p):
            f_out = open_list[o]
            if not closable[f_out]:
                continue
            delta = gj + loss[o] - extra[j, o]
            if delta < best:
                best = delta
                best_in = j
                best_out = f_out
    return best_in, best_out


@njit(cache=True, nogil=True)
def swap_search(C, is_open, allowed, closable, max_passes):
    """Best-improvement swaps (open one, close one) until none lowers the cost.

    Parameters
    ----------
    is_open
        Starting solution.
    allowed
        Facilities that may be opened.
    closable
        Facilities that may be closed (existing/required ones may not).

    Returns
    -------
    (is_open, cost, passes)
    """
    n, m = C.shape
    is_open = is_open.copy()
    d1, phi1, d2, phi2 = assign_two(C, is_open)
    open_pos = np.full(m, -1, np.int64)
    open_list = np.empty(m, np.int64)
    passes = 0
    while passes < max_passes:
        passes += 1
        k = 0
        for j in range(m):
            if is_open[j]:
                open_pos[j] = k
                open_list[k] = j
                k += 1
            else:
                open_pos[j] = -1
        p = k
        gain = np.zeros(m)  # change in cost from opening j (<= 0)
        loss = np.zeros(p)  # increase in cost from closing open facility k
        extra = np.zeros((m, p))
        for i in range(n):
            a = d1[i]
            b = d2[i]
            o = open_pos[phi1[i]]
            if phi2[i] >= 0:
                loss[o] += b - a
            else:
                loss[o] += BIG
            for j in range(m):
                if is_open[j] or not allowed[j]:
                    continue
                c = C[i, j]
                if c < a:
                    gain[j] += c - a
                if c < b:
                    extra[j, o] += b - (c if c > a else a)
        best_in, best_out = best_swap(gain, loss, extra, is_open, allowed, closable, open_list, p)
        if best_in < 0:
            break
        is_open[best_in] = True
        is_open[best_out] = False
        # update the two nearest open facilities where they may have changed
        for i in range(n):
            if phi1[i] == best_out or phi2[i] == best_out or C[i, best_in] < d2[i]:
                a = BIG
                b = BIG
                fa = -1
                fb = -1
                for o in range(p):
                    j = open_list[o]
                    if j == best_out:
                        j = best_in
                    c = C[i, j]
                    if c < a:
                        b = a
                        fb = fa
                        a = c
                        fa = j
                    elif c < b:
                        b = c
                        fb = j
                d1[i] = a
                phi1[i] = fa
                d2[i] = b
                phi2[i] = fb
    cost = 0.0
    for i in range(n):
        cost += d1[i]
    return is_open, cost, passes


# ---------------------------------------------------------------------- Lagrangian relaxation
@njit(cache=True, nogil=True)
def lagrangian_value(order, Cs, lam, status, p_total, rho, chosen):
    """Evaluate the Lagrangian dual at ``lam``.

    ``L(lam) = sum_i lam_i + min { sum_j rho_j x_j : sum_j x_j = p_total, status }`` with
    ``rho_j = sum_i min(0, C_ij - lam_i)``.  ``order``/``Cs`` are each row's candidates sorted by
    cost and those costs.  Fills ``rho`` and ``chosen`` in place.

    Returns
    -------
    The dual value, or ``BIG`` when the node is infeasible (too few facilities may open).
    """
    n, k_max = Cs.shape
    m = status.shape[0]
    rho[:] = 0.0
    value = 0.0
    for i in range(n):
        li = lam[i]
        value += li
        for t in range(k_max):
            c = Cs[i, t]
            if c >= li:
                break
            j = order[i, t]
            if status[j] >= 0:
                rho[j] += c - li
    chosen[:] = False
    n_open = 0
    n_free = 0
    for j in range(m):
        if status[j] == 1:
            chosen[j] = True
            value += rho[j]
            n_open += 1
        elif status[j] == 0:
            n_free += 1
    need = p_total - n_open
    if need < 0 or need > n_free:
        return BIG
    if need > 0:
        free = np.empty(n_free, np.int64)
        k = 0
        for j in range(m):
            if status[j] == 0:
                free[k] = j
                k += 1
        picked = argsort_stable(rho[free])[:need]
        for r in range(need):
            j = free[picked[r]]
            chosen[j] = True
            value += rho[j]
    return value


@njit(cache=True, nogil=True)
def stalled(stall, patience, theta):
    """One more subgradient step without progress: halve the step factor every ``patience`` of them.

    Returns ``(stall, theta)``."""
    stall += 1
    if stall >= patience:
        return 0, theta * 0.5
    return stall, theta


@njit(cache=True, nogil=True)
def subgradient(order, Cs, lam, status, p_total, target, iterations, theta, patience, lam_cap):
    """Maximise the Lagrangian dual from ``lam`` by subgradient steps (Polyak length towards ``target``).

    Stops early once the bound reaches ``target`` (nothing better than the incumbent can be
    below), after ``iterations``, or when the step factor has shrunk to nothing.

    ``lam_cap`` bounds each multiplier: with rows truncated to each point's nearest candidates,
    capping ``lam_i`` at the last listed cost keeps the bound valid (unlisted pairs cost more).

    Returns
    -------
    (best value, multipliers at the best value, rho and chosen at the best value, iterations used)
    """
    n, k_max = Cs.shape
    m = status.shape[0]
    rho = np.empty(m)
    chosen = np.zeros(m, np.bool_)
    best_rho = np.zeros(m)
    best_chosen = np.zeros(m, np.bool_)
    best = -BIG
    best_lam = lam.copy()
    lam = lam.copy()
    g = np.empty(n)
    stall = 0
    used = 0
    for it in range(iterations):
        used = it + 1
        value = lagrangian_value(order, Cs, lam, status, p_total, rho, chosen)
        if value >= BIG:
            return BIG, best_lam, best_rho, best_chosen, used
        if value > best + 1e-9:
            best = value
            copy_into(best_lam, lam)
            copy_into(best_rho, rho)
            copy_into(best_chosen, chosen)
            stall = 0
        else:
            stall, theta = stalled(stall, patience, theta)
        if best >= target or theta < 1e-4:
            break
        norm = 0.0
        for i in range(n):
            served = 0.0
            li = lam[i]
            for t in range(k_max):
                if Cs[i, t] >= li:
                    break
                if chosen[order[i, t]]:
                    served += 1.0
            g[i] = 1.0 - served
            norm += g[i] * g[i]
        if norm == 0.0:
            break  # the relaxed solution is feasible: the bound is exact at these multipliers
        gap = target - value
        if gap < 1e-9 * max(1.0, abs(target)):
            gap = 1e-3 * max(1.0, abs(target)) / n
        step = theta * gap / norm
        for i in range(n):
            v = lam[i] + step * g[i]
            if v > lam_cap[i]:
                v = lam_cap[i]
            lam[i] = v if v > 0.0 else 0.0
    return best, best_lam, best_rho, best_chosen, used


@njit(cache=True, nogil=True)
def reduce_node(value, rho, chosen, status, threshold):
    """Reduction tests: fix facilities whose forcing/forbidding lifts the bound to ``threshold``.

    Returns the number of facilities fixed (``status`` is updated in place).
    """
    m = rho.shape[0]
    worst_in = -BIG
    best_out = BIG
    for j in range(m):
        if status[j] == 0:
            if chosen[j]:
                if rho[j] > worst_in:
                    worst_in = rho[j]
            elif rho[j] < best_out:
                best_out = rho[j]
    changed = 0
    for j in range(m):
        if status[j] != 0:
            continue
        if not chosen[j]:
            if worst_in > -BIG and value + rho[j] - worst_in >= threshold:
                status[j] = -1
                changed += 1
        elif best_out < BIG and value - rho[j] + best_out >= threshold:
            status[j] = 1
            changed += 1
    return changed


@njit(cache=True, nogil=True)
def branch_and_bound(C, order, Cs, stack_status, stack_lam, stack_bound, top, p_total, upper, incumbent, integral, node_budget, iterations, closable, rule, step, patience):
    """Depth-first Lagrangian branch-and-bound; resumable.

    The stack holds open nodes (facility status, multipliers to start from, parent bound).  Each
    node: up to three runs of ``iterations`` subgradient steps (step factor ``step``, halved
    after ``patience`` steps without progress) towards the incumbent with reduction tests between
    them, the node's Lagrangian solution priced as an incumbent candidate, then branching on the
    weakest chosen free facility (open branch explored first).

    Returns
    -------
    (top, nodes explored, upper): ``top == 0`` means the search is complete and the incumbent
    (updated in place) is optimal.
    """
    n, m = C.shape
    nodes = 0
    is_open = np.zeros(m, np.bool_)
    lam_cap = np.full(n, BIG)
    while top > 0 and nodes < node_budget:
        top -= 1
        threshold = upper - 1.0 + 1e-6 if integral else upper - 1e-9 * max(1.0, abs(upper))
        if stack_bound[top] >= threshold:
            continue
        status = stack_status[top].copy()
        lam = stack_lam[top].copy()
        nodes += 1
        for _round in range(3):
            value, lam, rho, chosen, _ = subgradient(order, Cs, lam, status, p_total, threshold, iterations, step, patience, lam_cap)
            if value >= threshold:
                break
            # the node's relaxed solution is a feasible set of p facilities: price it
            for j in range(m):
                is_open[j] = chosen[j]
            cost = solution_cost_sorted(order, Cs, is_open)
            if cost < upper * LS_FACTOR and cost >= upper - 1e-9:
                # close to the incumbent: a local search from it may find a better one
                improved, cost, _ = swap_search(C, is_open, status >= 0, closable, 1000)
                for j in range(m):
                    is_open[j] = improved[j]
            if cost < upper - 1e-9:
                upper = cost
                copy_into(incumbent, is_open)
                threshold = upper - 1.0 + 1e-6 if integral else upper - 1e-9 * max(1.0, abs(upper))
                if value >= threshold:
                    break
            if reduce_node(value, rho, chosen, status, threshold) == 0:
                break
        if value >= threshold:
            continue
        branch = -1
        best_score = -BIG
        best_out = BIG
        for j in range(m):
            if status[j] == 0 and not chosen[j] and rho[j] < best_out:
                best_out = rho[j]
        for j in range(m):
            if status[j] != 0:
                continue
            if rule == 0 and chosen[j]:
                score = rho[j]
            elif rule == 1 and chosen[j]:
                score = -rho[j]
            elif rule == 2 and chosen[j]:
                score = -(best_out - rho[j])
            elif rule == 3 and not chosen[j]:
                score = -rho[j]
            else:
                continue
            if score > best_score:
                best_score = score
                branch = j
        if branch < 0:
            continue  # every chosen facility is fixed: the node's solution was priced above
        for side in (-1, 1):  # closed child first on the stack: the open child is explored first
            copy_into(stack_status[top], status)
            stack_status[top, branch] = side
            copy_into(stack_lam[top], lam)
            stack_bound[top] = value
            top += 1
    return top, nodes, upper
