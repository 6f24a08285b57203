"""Exact p-median on a dense cost matrix: strong heuristic, Lagrangian bound, variable fixing, branch-and-bound.

The pipeline (each stage can end the search with a proof):

1. **Heuristic** — greedy ADD, then best-improvement vertex substitution (fast interchange).
2. **Lagrangian bound** — subgradient optimisation of the relaxation of the assignment
   constraints; its bound equals the LP bound of the classic formulation.  Each round's
   Lagrangian solution seeds another local search, which often improves the incumbent.
3. **Variable fixing** — facilities that cannot be open (or closed) in any solution better than
   the incumbent are fixed from the Lagrangian reduced costs; the rest of the search works on the
   candidates left.
4. **Branch-and-bound** — only if a gap remains: depth-first on the facility variables with a
   warm-started Lagrangian bound and the same fixing at every node (Beasley's scheme).  The
   LP gap of small-p instances (≈ 1 % on OR-Library) closes in tens to hundreds of nodes.

Costs are *weighted*: ``C[i, j] = weight_i × travel cost(i, j)``.  ``p_total`` counts all open
facilities, fixed-open ones included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from planner.location import _median_kernels as mk
from planner.progress import report


@dataclass
class MedianSolution:
    """Result of a median solve.

    Attributes
    ----------
    is_open
        Boolean mask over candidates.
    objective
        Total weighted cost of the solution.
    bound
        Proven lower bound on the optimum.
    proven
        True when the solution is proven optimal (bound = objective; for integer data, within 1).
    seconds
        Wall time.
    method
        Which stage ended the search (``lagrangian``, ``branch-and-bound``, ``heuristic``…).
    stats
        Stage details (heuristic cost, Lagrangian iterations, variables fixed, nodes …).
    """

    is_open: NDArray[np.bool_]
    objective: float
    bound: float
    proven: bool
    seconds: float
    method: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative gap ``(objective - bound) / objective`` (0 when proven)."""
        return 0.0 if self.proven else max(0.0, (self.objective - self.bound) / max(abs(self.objective), 1e-12))


def _threshold(upper: float, integral: bool) -> float:
    """Bound at which nothing strictly better than ``upper`` can exist."""
    return upper - 1.0 + 1e-6 if integral else upper - 1e-9 * max(1.0, abs(upper))


def check_median_inputs(C: NDArray, p_total: int, fixed_open: NDArray, allowed: NDArray) -> None:
    """Raise a ValueError naming the problem if no feasible solution can exist."""
    n, m = C.shape
    if n == 0 or m == 0:
        raise ValueError("the cost matrix is empty")
    if not np.isfinite(C).all() or (C < 0).any():
        raise ValueError("weighted costs must be finite and non-negative")
    if p_total < 1:
        raise ValueError("at least one facility must be open")
    if int(fixed_open.sum()) > p_total:
        raise ValueError(f"{int(fixed_open.sum())} facilities are fixed open but only {p_total} may be open")
    if int((allowed | fixed_open).sum()) < p_total:
        raise ValueError(f"only {int((allowed | fixed_open).sum())} sites may be opened but {p_total} are asked for")


def local_search(C: NDArray, is_open: NDArray, allowed: NDArray, closable: NDArray) -> tuple[NDArray[np.bool_], float]:
    """Vertex substitution from ``is_open`` until no swap improves; returns (solution, cost)."""
    solution, cost, _ = mk.swap_search(C, is_open, allowed, closable, 1_000_000)
    return solution, float(cost)


def heuristic(C: NDArray, p_total: int, fixed_open: NDArray, allowed: NDArray) -> tuple[NDArray[np.bool_], float]:
    """Greedy ADD followed by vertex substitution."""
    start = mk.greedy_add(C, fixed_open.copy(), allowed & ~fixed_open, p_total)
    return local_search(C, start, allowed & ~fixed_open, ~fixed_open)


def solve_dense(
    C: NDArray[np.float64],
    p_total: int,
    *,
    fixed_open: NDArray[np.bool_] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    time_limit: float = 60.0,
    exact: bool = True,
    root_iterations: int = 500,
    root_rounds: int = 40,
    root_min_gain: float = 0.1,
    node_iterations: int = 40,
    node_step: float = 2.0,
    node_patience: int = 16,
    branch_rule: int = 1,
) -> MedianSolution:
    """Solve the p-median problem on the dense weighted cost matrix ``C`` (demand × candidate).

    Parameters
    ----------
    C
        Weighted costs, shape ``(n_demand, n_candidates)``, finite and non-negative.
    p_total
        Number of open facilities (fixed-open ones included).
    fixed_open
        Facilities that must be open (existing, required).
    allowed
        Facilities that may be opened (others are forbidden); default all.
    time_limit
        Seconds for the whole solve; on timeout the incumbent and the best bound are returned.
    exact
        False: stop after the heuristic and the root Lagrangian bound (no branching).
    root_iterations, root_rounds
        Subgradient iterations per root round, and the most root rounds.
    root_min_gain
        A root round counts as progress when it lifts the bound by at least this share of the
        gap left to the incumbent (and by 10⁻⁶ of it at least), or finds a better incumbent; the
        root ends after two rounds without progress (0: any rise of 10⁻⁶ counts, as before).
        Rounds that creep up by less cost more than the nodes they save (OR-Library: pmed11, 27
        and 32 spent 20,000 root iterations for < 0.1 % of bound).
    node_iterations, node_step, node_patience
        Per branch-and-bound node: subgradient steps per run (up to three runs, with reduction
        tests between them), the Polyak step factor (towards the incumbent, which is above the
        node's optimum dual: a long step 2 closes nodes with far fewer of them than 1 — pmed36:
        517 nodes instead of 3,903), and the steps without progress before it is halved.
    branch_rule
        Branching variable: 0 the weakest chosen facility, 1 the strongest (default: the fastest
        on OR-Library), 2 the one closest to the best non-chosen, 3 the best non-chosen.
    """
    if branch_rule not in (0, 1, 2, 3):
        raise ValueError(f"branch_rule must be 0, 1, 2 or 3, not {branch_rule!r}")
    started = time.perf_counter()
    C = np.ascontiguousarray(C, dtype=float)
    n, m = C.shape
    fixed_open = np.zeros(m, bool) if fixed_open is None else np.asarray(fixed_open, bool).copy()
    allowed = np.ones(m, bool) if allowed is None else np.asarray(allowed, bool) | fixed_open
    check_median_inputs(C, p_total, fixed_open, allowed)
    integral = bool(np.all(C == np.round(C)))
    stats: dict[str, Any] = {"n_demand": n, "n_candidates": m, "p_total": int(p_total)}

    best_open, upper = heuristic(C, p_total, fixed_open, allowed)
    stats["heuristic_cost"] = upper
    if int(best_open.sum()) == int(allowed.sum()):  # every allowed facility is open: nothing to choose
        return MedianSolution(best_open, upper, upper, True, time.perf_counter() - started, "enumeration", stats)

    order = np.argsort(C, axis=1, kind="stable").astype(np.int32)
    Cs = np.ascontiguousarray(np.take_along_axis(C, order, axis=1))
    status = np.where(fixed_open, 1, np.where(allowed, 0, -1)).astype(np.int8)
    # multipliers start from each point's second-cheapest open cost: a bound close to the incumbent
    d1, _, d2, _ = mk.assign_two(C, best_open)
    lam = np.where(d2 < mk.BIG, d2, d1)
    lower = -np.inf
    iterations = 0
    stalled = 0
    # The root alternates short subgradient runs with a local search from each run's relaxed
    # solution: the multipliers steer the search to good facility sets, and a better incumbent
    # sharpens the next run's steps.  It stops when neither bound nor incumbent moves twice.
    for _ in range(root_rounds):
        value, lam, rho, chosen, used = mk.subgradient(order, Cs, lam, status, p_total, _threshold(upper, integral), root_iterations, 1.0, 40, np.full(n, mk.BIG))
        iterations += int(used)
        candidate, cost = local_search(C, chosen, allowed & ~fixed_open, ~fixed_open)
        moved = False
        if cost < upper - 1e-9:
            upper, best_open, moved = cost, candidate, True
        if value > lower + max(1e-6 * max(1.0, abs(upper)), root_min_gain * (upper - value)):
            moved = True
        if value > lower:
            lower = float(value)
        report("Lagrangian root round", incumbent=upper, bound=lower)
        if lower >= _threshold(upper, integral) or time.perf_counter() - started > time_limit:
            break
        stalled = 0 if moved else stalled + 1
        if stalled >= 2:
            break
    stats.update(root_bound=lower, root_iterations=iterations, upper_after_root=upper)
    if lower >= _threshold(upper, integral):
        return MedianSolution(best_open, upper, upper, True, time.perf_counter() - started, "lagrangian", stats)

    fixed_by_bound = mk.reduce_node(value, rho, chosen, status, _threshold(upper, integral))
    stats["fixed_at_root"] = int(fixed_by_bound)
    stats["candidates_left"] = int((status == 0).sum())
    if not exact:
        return MedianSolution(best_open, upper, lower, False, time.perf_counter() - started, "heuristic+lagrangian", stats)

    # branch-and-bound over the candidates still free (columns of the closed ones are dropped)
    keep = np.flatnonzero(status >= 0)
    Ck = np.ascontiguousarray(C[:, keep])
    order_k = np.argsort(Ck, axis=1, kind="stable").astype(np.int32)
    Cs_k = np.ascontiguousarray(np.take_along_axis(Ck, order_k, axis=1))
    q = len(keep)
    cap = q + 2
    stack_status = np.zeros((cap, q), np.int8)
    stack_lam = np.zeros((cap, n))
    stack_bound = np.full(cap, -np.inf)
    stack_status[0] = status[keep]
    stack_lam[0] = lam
    stack_bound[0] = lower
    # The incumbent may use facilities the reduction tests closed (they only exclude *strictly
    # better* solutions), so it is kept whole; the search's own incumbent replaces it only if the
    # search finds something strictly better.
    incumbent = np.zeros(q, bool)
    root_upper = upper
    top, nodes = 1, 0
    while top > 0 and time.perf_counter() - started < time_limit:
        top, done, upper = mk.branch_and_bound(Ck, order_k, Cs_k, stack_status, stack_lam, stack_bound, top, p_total, upper, incumbent, integral, 200, node_iterations, ~fixed_open[keep], branch_rule, node_step, node_patience)
        nodes += int(done)
        report(f"branch-and-bound, {nodes} nodes", incumbent=upper, bound=max(lower, float(stack_bound[:top].min())) if top else upper)
    if upper < root_upper - 1e-9:
        best_open = np.zeros(m, bool)
        best_open[keep[incumbent]] = True
    upper = float(mk.solution_cost(C, best_open))
    stats["nodes"] = nodes
    if top == 0:
        return MedianSolution(best_open, upper, upper, True, time.perf_counter() - started, "branch-and-bound", stats)
    bound = max(lower, float(stack_bound[:top].min()))
    return MedianSolution(best_open, upper, min(bound, upper), False, time.perf_counter() - started, "branch-and-bound (time limit)", stats)


def solve_lists(
    costs_csr,
    weights: NDArray[np.float64],
    p_total: int,
    *,
    fixed_open: NDArray[np.bool_] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    truncated: bool = True,
    time_limit: float = 60.0,
    root_iterations: int = 300,
    root_rounds: int = 10,
) -> MedianSolution:
    """Heuristic p-median for large regions where each demand point lists only its nearest sites.

    Greedy ADD and vertex substitution on the listed pairs, then rounds of Lagrangian subgradient
    (multipliers capped at each point's last listed cost, so the lower bound stays valid for the
    unlisted pairs) alternating with local search from the relaxed solutions.

    Parameters
    ----------
    costs_csr
        Sparse demand × site travel costs (each row: that point's nearest sites).
    weights
        Demand weights (persons).
    truncated
        True when rows do not hold every site (then multipliers are capped).

    Returns
    -------
    MedianSolution
        ``objective`` prices each point at its cheapest *listed* open site; points with none
        (``stats["beyond_list"]``) at a penalty of twice their last listed cost.
    """
    from planner.location import _median_sparse as ms

    started = time.perf_counter()
    costs_csr = costs_csr.tocsr()
    n, m = costs_csr.shape
    fixed_open = np.zeros(m, bool) if fixed_open is None else np.asarray(fixed_open, bool)
    allowed = np.ones(m, bool) if allowed is None else np.asarray(allowed, bool) | fixed_open
    if int(fixed_open.sum()) > p_total or int(allowed.sum()) < p_total:
        raise ValueError(f"cannot open {p_total} sites with {int(fixed_open.sum())} fixed and {int(allowed.sum())} allowed")
    counts = np.diff(costs_csr.indptr)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} demand point(s) have no site within reach")
    k_max = int(counts.max())
    lst_site = np.full((n, k_max), -1, np.int64)
    lst_cost = np.full((n, k_max), np.inf)
    rows = np.repeat(np.arange(n), counts)
    weighted = costs_csr.data * weights[rows]
    order = np.lexsort((weighted, rows))
    slot = np.arange(len(order)) - costs_csr.indptr[rows[order]]
    lst_site[rows[order], slot] = costs_csr.indices[order]
    lst_cost[rows[order], slot] = weighted[order]
    last = lst_cost[np.arange(n), counts - 1]
    far = 2.0 * last + weights
    csc = costs_csr.tocsc()
    col_rows = csc.indices
    col_cost = csc.data * weights[col_rows]
    start = ms.greedy(csc.indptr.astype(np.int64), col_rows.astype(np.int64), col_cost, far, fixed_open.copy(), allowed & ~fixed_open, p_total)
    best_open, upper, _ = ms.swap(lst_site, lst_cost, far, start, allowed & ~fixed_open, ~fixed_open, 10_000)
    upper = float(upper)
    stats: dict[str, Any] = {"n_demand": n, "n_candidates": m, "listed_per_point": k_max, "heuristic_cost": upper}
    status = np.where(fixed_open, 1, np.where(allowed, 0, -1)).astype(np.int8)
    cap = last if truncated else np.full(n, mk.BIG)
    d1, _, d2, _ = ms.assign_two(lst_site, lst_cost, far, best_open)
    lam = np.minimum(np.where(np.isfinite(d2), d2, d1), cap)
    lower = -np.inf
    for _ in range(root_rounds):
        if time.perf_counter() - started > time_limit:
            break
        value, lam, rho, chosen, _ = mk.subgradient(lst_site.astype(np.int32), lst_cost, lam, status, p_total, upper, root_iterations, 1.0, 20, cap)
        lower = max(lower, float(value))
        candidate, cost, _ = ms.swap(lst_site, lst_cost, far, chosen, allowed & ~fixed_open, ~fixed_open, 10_000)
        if cost < upper - 1e-9:
            upper, best_open = float(cost), candidate
        elif upper - lower <= 1e-9 * max(1.0, abs(upper)):
            break
    d1, phi1, _, _ = ms.assign_two(lst_site, lst_cost, far, best_open)
    beyond = int((phi1 < 0).sum())
    stats.update(lagrangian_bound=lower, beyond_list=beyond)
    proven = beyond == 0 and upper - lower <= 1e-9 * max(1.0, abs(upper))
    return MedianSolution(best_open, upper, min(lower, upper), proven, time.perf_counter() - started, "greedy+swap (Lagrangian bound)", stats)


# ---------------------------------------------------------------------- p-median with per-unit minimums
@dataclass(frozen=True)
class UnitRule:
    """At least ``minimum[u]`` and at most ``maximum[u]`` open sites in unit ``u`` (``unit[j]`` = unit of site j, -1 none)."""

    unit: NDArray[np.int64]
    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]


def select_with_units(rho: NDArray[np.float64], status: NDArray[np.int8], p_total: int, rule: UnitRule) -> NDArray[np.bool_] | None:
    """The cheapest ``p_total`` sites by ``rho`` that respect ``status`` and the unit bounds, or None if none can.

    ``status``: 1 open, -1 closed, 0 free.  Exact: the open sites forced by ``status`` first, then
    in each unit its cheapest free sites up to its minimum, then the cheapest of the rest without
    passing any unit's maximum (the constraints form a laminar family of one level, for which
    this greedy order is optimal).
    """
    unit = rule.unit
    U = len(rule.minimum)
    chosen = status == 1
    free = status == 0
    in_unit = unit >= 0
    counts = np.bincount(unit[chosen & in_unit], minlength=U)[:U].astype(float)
    if (counts > rule.maximum).any():
        return None
    need = np.maximum(rule.minimum - counts, 0.0)
    # the cheapest `need[u]` free sites of each unit
    cand = np.flatnonzero(free & in_unit)
    order = cand[np.lexsort((rho[cand], unit[cand]))]
    if len(order):
        u_sorted = unit[order]
        starts = np.r_[0, np.flatnonzero(u_sorted[1:] != u_sorted[:-1]) + 1]
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        take = order[rank < need[u_sorted]]
        chosen[take] = True
        counts += np.bincount(unit[take], minlength=U)[:U]
    if (counts < rule.minimum).any():
        return None
    left = p_total - int(chosen.sum())
    if left < 0:
        return None
    if left:
        rest = np.flatnonzero(free & ~chosen)
        room = np.where(np.isfinite(rule.maximum), rule.maximum - counts, np.inf)
        rest = rest[np.lexsort((rho[rest], np.where(unit[rest] >= 0, unit[rest], U)))]
        u_rest = np.where(unit[rest] >= 0, unit[rest], U)
        starts = np.r_[0, np.flatnonzero(u_rest[1:] != u_rest[:-1]) + 1] if len(rest) else np.zeros(0, np.int64)
        rank = np.arange(len(rest)) - np.repeat(starts, np.diff(np.r_[starts, len(rest)])) if len(rest) else np.zeros(0, np.int64)
        eligible = rest[rank < np.r_[room, np.inf][u_rest]]
        if len(eligible) < left:
            return None
        pick = eligible[np.argsort(rho[eligible], kind="stable")[:left]]
        chosen[pick] = True
    return chosen if int(chosen.sum()) == p_total else None


def _costs_of(C: NDArray[np.float64], is_open: NDArray[np.bool_]) -> float:
    return float(C[:, is_open].min(axis=1).sum())


def greedy_with_units(C: NDArray[np.float64], p_total: int, rule: UnitRule, fixed_open: NDArray[np.bool_], allowed: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Greedy ADD that first gives every unit its minimum, then adds the best sites up to ``p_total``.

    Raises
    ------
    ValueError
        When the minimums cannot be met with the allowed sites and ``p_total``.
    """
    D, S = C.shape
    U = len(rule.minimum)
    is_open = fixed_open.copy()
    d1 = C[:, is_open].min(axis=1) if is_open.any() else np.full(D, 2.0 * float(C.max()) + 1.0)
    counts = np.bincount(rule.unit[is_open & (rule.unit >= 0)], minlength=U)[:U].astype(float)
    while int(is_open.sum()) < p_total:
        short = counts < rule.minimum
        room = counts < rule.maximum
        site_ok = allowed & ~is_open & np.where(rule.unit >= 0, room[np.maximum(rule.unit, 0)], True)
        if short.any():
            site_ok &= (rule.unit >= 0) & short[np.maximum(rule.unit, 0)]
        if not site_ok.any():
            raise ValueError("the unit minimums cannot be met with the sites allowed and the number of sites")
        cols = np.flatnonzero(site_ok)
        gains = np.maximum(d1[:, None] - C[:, cols], 0.0).sum(axis=0)
        j = int(cols[int(np.argmax(gains))])
        is_open[j] = True
        d1 = np.minimum(d1, C[:, j])
        if rule.unit[j] >= 0:
            counts[rule.unit[j]] += 1
    if (counts < rule.minimum).any():
        raise ValueError("the unit minimums need more sites than may open")
    return is_open


def swap_with_units(C: NDArray[np.float64], is_open: NDArray[np.bool_], rule: UnitRule, closable: NDArray[np.bool_],
                    allowed: NDArray[np.bool_], max_passes: int = 10_000) -> tuple[NDArray[np.bool_], float]:
    """Best-improvement vertex substitution that never breaks a unit's minimum or maximum.

    Each pass prices every (close a, open b) pair at once from each point's nearest and
    second-nearest open site (Whitaker's fast interchange, vectorised) and makes the best feasible
    improving swap.  Returns the local optimum and its cost.
    """
    is_open = is_open.copy()
    D, S = C.shape
    U = len(rule.minimum)
    rows = np.arange(D)
    for _ in range(max_passes):
        open_idx = np.flatnonzero(is_open)
        sub = C[:, open_idx]
        if len(open_idx) > 1:
            two = np.argpartition(sub, 1, axis=1)[:, :2]
            a_val, b_val = sub[rows, two[:, 0]], sub[rows, two[:, 1]]
            first = np.where(a_val <= b_val, two[:, 0], two[:, 1])
            d1, d2 = np.minimum(a_val, b_val), np.maximum(a_val, b_val)
        else:
            first, d1, d2 = np.zeros(D, np.int64), sub[:, 0], np.full(D, np.inf)
        cands = np.flatnonzero(allowed & ~is_open)
        outs = np.flatnonzero(is_open & closable)
        if not len(cands) or not len(outs):
            break
        Cb = C[:, cands]
        gain_in = np.minimum(Cb - d1[:, None], 0.0).sum(axis=0)               # opening b, nothing closed
        loss = np.where(Cb >= d1[:, None], np.minimum(Cb, d2[:, None]) - d1[:, None], 0.0)
        # loss of closing the open site a: summed over the points whose nearest it is
        owner = open_idx[first]
        local = np.full(S, -1)
        local[outs] = np.arange(len(outs))
        mine = np.flatnonzero(local[owner] >= 0)
        member = csr_matrix((np.ones(len(mine)), (local[owner[mine]], mine)), shape=(len(outs), D))
        L = np.asarray(member @ loss)
        delta = gain_in[None, :] + L
        counts = np.bincount(rule.unit[is_open & (rule.unit >= 0)], minlength=U)[:U]
        ua, ub = rule.unit[outs], rule.unit[cands]
        can_leave = (ua < 0) | (counts[np.maximum(ua, 0)] - 1 >= rule.minimum[np.maximum(ua, 0)])
        can_enter = (ub < 0) | (counts[np.maximum(ub, 0)] + 1 <= rule.maximum[np.maximum(ub, 0)])
        same = (ua[:, None] == ub[None, :]) & (ua[:, None] >= 0)
        feasible = same | (can_leave[:, None] & can_enter[None, :])
        delta = np.where(feasible, delta, np.inf)
        k = int(np.argmin(delta))
        a, b = divmod(k, len(cands))
        if not delta.flat[k] < -1e-9 * max(1.0, float(d1.sum())):
            break
        is_open[outs[a]] = False
        is_open[cands[b]] = True
    return is_open, _costs_of(C, is_open)


def _dual(C: NDArray[np.float64], lam: NDArray[np.float64], status: NDArray[np.int8], p_total: int, rule: UnitRule
          ) -> tuple[float, NDArray[np.float64], NDArray[np.bool_] | None, NDArray[np.float64]]:
    """Lagrangian dual value, reduced site costs ``rho``, chosen sites and the subgradient at ``lam``."""
    reduced = np.minimum(C - lam[:, None], 0.0)
    rho = reduced.sum(axis=0)
    chosen = select_with_units(rho, status, p_total, rule)
    if chosen is None:
        return np.inf, rho, None, np.zeros(len(lam))
    value = float(lam.sum() + rho[chosen].sum())
    g = 1.0 - (reduced[:, chosen] < 0).sum(axis=1)
    return value, rho, chosen, g


def solve_dense_units(
    C: NDArray[np.float64],
    p_total: int,
    rule: UnitRule,
    *,
    fixed_open: NDArray[np.bool_] | None = None,
    allowed: NDArray[np.bool_] | None = None,
    time_limit: float = 60.0,
    iterations: int = 3000,
) -> tuple[MedianSolution, NDArray[np.int8]]:
    """p-median with at least/at most so many open sites per admin unit: heuristic, Lagrangian bound, fixing.

    1. **Heuristic**: greedy ADD that meets every unit's minimum first, then vertex substitution
       restricted to swaps that keep every unit within its bounds.
    2. **Bound**: Lagrangian relaxation of the assignment constraints with the unit bounds kept
       in the subproblem (solved exactly by :func:`select_with_units`; its constraint matrix is
       totally unimodular, so the bound equals the LP bound of the full formulation), maximised by
       subgradient steps; relaxed solutions seed more local search.
    3. **Fixing**: a site whose forced opening (closing) lifts the dual to the incumbent's cost
       can be closed (opened) for good.

    Returns
    -------
    (solution, status)
        The best plan with its bound, and each site's status after fixing (1 open, -1 closed, 0
        free) for an exact finish on what is left (see :func:`planner.location.solve.solve`).
    """
    started = time.perf_counter()
    C = np.ascontiguousarray(C, dtype=float)
    D, S = C.shape
    fixed_open = np.zeros(S, bool) if fixed_open is None else np.asarray(fixed_open, bool).copy()
    allowed = np.ones(S, bool) if allowed is None else np.asarray(allowed, bool) | fixed_open
    check_median_inputs(C, p_total, fixed_open, allowed)
    status = np.where(fixed_open, 1, np.where(allowed, 0, -1)).astype(np.int8)
    start = greedy_with_units(C, p_total, rule, fixed_open, allowed)
    best, upper = swap_with_units(C, start, rule, ~fixed_open, allowed)
    stats: dict[str, Any] = {"n_demand": D, "n_candidates": S, "p_total": int(p_total), "heuristic_cost": upper}
    # multipliers start at each point's second-cheapest allowed site (a better start, measured, than
    # the incumbent's second-cheapest open one used for the plain p-median)
    part = np.partition(C[:, allowed], 1, axis=1) if int(allowed.sum()) > 1 else C[:, allowed]
    lam = part[:, 1] if part.shape[1] > 1 else part[:, 0]
    lower, best_lam, theta, stale, used = -np.inf, lam.copy(), 1.0, 0, 0
    integral = bool(np.all(C == np.round(C)))
    for used in range(1, iterations + 1):
        value, rho, chosen, g = _dual(C, lam, status, p_total, rule)
        if chosen is None:  # cannot happen once the heuristic found a plan; guard anyway
            break
        if value > lower + 1e-9 * max(1.0, abs(upper)):
            lower, best_lam, stale = value, lam.copy(), 0
        else:
            stale += 1
            if stale >= 25:
                theta, stale = theta / 2.0, 0
        if used % 40 == 0 or used == 1:
            cand, cost = swap_with_units(C, chosen, rule, ~fixed_open, allowed)
            if cost < upper - 1e-9:
                upper, best = cost, cand
            report(f"Lagrangian iteration {used}", incumbent=upper, bound=lower)
        if lower >= _threshold(upper, integral) or theta < 1e-4 or time.perf_counter() - started > time_limit:
            break
        norm = float(g @ g)
        if norm == 0:
            break
        lam = np.maximum(lam + theta * (upper - value) / norm * g, 0.0)
    stats.update(lagrangian_bound=lower, lagrangian_iterations=used)
    if lower >= _threshold(upper, integral):
        return MedianSolution(best, upper, upper, True, time.perf_counter() - started, "lagrangian (unit bounds)", stats), status
    # reduced-cost fixing at the best multipliers: force each free site in or out and re-price
    value, rho, chosen, _ = _dual(C, best_lam, status, p_total, rule)
    limit = _threshold(upper, integral)
    fixed = status.copy()
    if chosen is not None:
        for j in np.flatnonzero(status == 0):
            trial = status.copy()
            trial[j] = -1 if chosen[j] else 1
            pick = select_with_units(rho, trial, p_total, rule)
            forced = np.inf if pick is None else float(best_lam.sum() + rho[pick].sum())
            if forced >= limit:
                fixed[j] = 1 if chosen[j] else -1
    stats.update(fixed_open=int(((fixed == 1) & (status == 0)).sum()), fixed_closed=int(((fixed == -1) & (status == 0)).sum()),
                 candidates_left=int((fixed == 0).sum()))
    return MedianSolution(best, upper, min(lower, upper), False, time.perf_counter() - started, "greedy+swap (unit bounds, Lagrangian bound)", stats), fixed
