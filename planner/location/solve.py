"""Solving a :class:`~planner.location.problem.Problem`: exact where it pays, heuristic with a bound beyond.

``method``:

* ``"exact"`` — HiGHS on the model's MIP (coverage, covering, capacitated, attendance, p-center
  by bisection), or the Lagrangian branch-and-bound of :mod:`planner.location.pmedian` for the p-median;
  the time limit returns the incumbent with its bound and gap.
* ``"heuristic"`` — greedy + swap local search, with a Lagrangian bound to state the gap.
* ``"auto"`` — exact when the model is small enough to prove quickly, else heuristic.

Results are deterministic: the heuristics have no randomness and HiGHS runs with a fixed seed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csc_matrix, csr_matrix

from planner.location import _cover_kernels as ck
from planner.location import formulations as fm
from planner.location.pmedian import UnitRule, solve_dense, solve_dense_units
from planner.location.problem import InfeasibleProblem, Problem, Solution, pair_matrix
from planner.progress import report

Method = Literal["auto", "exact", "heuristic"]
LP_FIRST_MAX_NNZ = 300_000
"""Coverage models up to this many (demand, site) pairs try the LP relaxation first."""
AUTO_EXACT_MAX_NNZ = 400_000
"""``auto`` solves coverage models exactly up to this many stored (demand, site) pairs."""
DENSE_MEDIAN_MAX_CELLS = 30_000_000
"""The dense p-median solver is used up to this many demand × site cells."""


def solve(problem: Problem, *, method: Method = "auto", time_limit: float = 60.0) -> Solution:
    """Solve ``problem`` (validated first) and return a :class:`Solution`.

    Raises
    ------
    ValueError, InfeasibleProblem
        With a message naming the cause (a unit without candidates, too few candidates …).
    """
    if method not in ("auto", "exact", "heuristic"):
        raise ValueError(f"method must be auto, exact or heuristic, not {method!r}")
    if not time_limit > 0:
        raise ValueError("time_limit must be positive (seconds)")
    started = time.perf_counter()
    prob = problem.normalised()
    if prob.model == "mclp":
        sol = _mclp(prob, method, time_limit)
    elif prob.model == "lscp":
        sol = _lscp(prob, time_limit)
    elif prob.model == "pmedian":
        sol = _pmedian(prob, method, time_limit)
    elif prob.model == "pcenter":
        sol = _pcenter(prob, time_limit)
    else:
        sol = _attendance(prob, time_limit)
    sol.seconds = time.perf_counter() - started
    return sol


# ---------------------------------------------------------------------- helpers
def nearest_open(costs: csr_matrix, is_open: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Each demand point's cheapest open site among its stored pairs (-1 / inf if none)."""
    coo = costs.tocoo()
    ok = is_open[coo.col]
    r, c, v = coo.row[ok], coo.col[ok], coo.data[ok]
    site = np.full(costs.shape[0], -1, np.int64)
    cost = np.full(costs.shape[0], np.inf)
    if len(r):
        order = np.lexsort((v, r))
        first = np.ones(len(order), bool)
        first[1:] = r[order][1:] != r[order][:-1]
        pick = order[first]
        site[r[pick]] = c[pick]
        cost[r[pick]] = v[pick]
    return site, cost


def _unit_arrays(prob: Problem) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    S = prob.n_sites
    L = max(len(prob.unit_bounds), 1)
    U = max([len(b.names) for b in prob.unit_bounds] + [1])
    unit = np.full((L, S), -1, np.int64)
    umin = np.zeros((L, U))
    umax = np.full((L, U), np.inf)
    for lv, b in enumerate(prob.unit_bounds):
        unit[lv] = b.site_unit
        umin[lv, : len(b.names)] = b.minimum
        umax[lv, : len(b.names)] = b.maximum
    return unit, umin, umax


def _state(prob: Problem) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
    state = np.where(prob.required, 1, np.where(prob.forbidden, -1, 0)).astype(np.int8)
    is_new = ~prob.existing if not prob.closable else np.ones(prob.n_sites, bool)
    return state, is_new


def _finish(prob: Problem, is_open: NDArray[np.bool_], objective: float, bound: float, proven: bool, solver: str, stats: dict,
            share: NDArray[np.float64] | None = None, assignment: NDArray[np.int64] | None = None, load: NDArray[np.float64] | None = None) -> Solution:
    if assignment is None:
        assignment, _ = nearest_open(prob.costs, is_open)
    if share is None:
        share = (assignment >= 0).astype(float)
    if load is None:
        ok = assignment >= 0
        load = np.bincount(assignment[ok], weights=prob.weights[ok] * share[ok], minlength=prob.n_sites)
    return Solution(is_open, assignment, share, float(objective), float(bound), bool(proven), solver, 0.0, stats, load)


def _check_unit_solution(prob: Problem, is_open: NDArray[np.bool_]) -> None:
    for b in prob.unit_bounds:
        counts = np.bincount(b.site_unit[is_open & (b.site_unit >= 0)], minlength=len(b.names))
        bad = np.flatnonzero((counts < b.minimum) | (counts > b.maximum))
        if len(bad):
            u = int(bad[0])
            raise InfeasibleProblem(f"no plan found that gives {b.level} '{b.names[u]}' between {b.minimum[u]:g} and {b.maximum[u]:g} sites within the other constraints")


# ---------------------------------------------------------------------- models
def _cover_structures(prob: Problem) -> tuple[csc_matrix, csr_matrix]:
    pattern = prob.costs.copy()
    pattern.data[:] = 1.0
    return pattern.tocsc(), pattern


def _mclp(prob: Problem, method: str, time_limit: float) -> Solution:
    started = time.perf_counter()
    if prob.capacity is not None and np.isfinite(prob.capacity).any():
        res, x, z, pairs = fm.assignment_model(prob, np.ones(prob.costs.nnz), maximize=True, must_assign=False, time_limit=time_limit)
        if res.x is None:
            raise InfeasibleProblem("no feasible capacitated coverage plan within the constraints" + (f" (solver: {res.status})" if res.status != "infeasible" else ""))
        is_open, assign, share, load = fm.decode_assignment(res, prob, x, z, pairs)
        return _finish(prob, is_open, res.objective, res.bound, res.status == "optimal", "exact-mip (capacitated)", {"mip_status": res.status, "nodes": res.nodes}, share, assign, load)
    csc, csr = _cover_structures(prob)
    state, is_new = _state(prob)
    unit, umin, umax = _unit_arrays(prob)
    p = prob.n_new if prob.n_new is not None else prob.n_sites
    budget = prob.budget if prob.budget is not None else 1e301
    w = prob.weights
    col_ptr, col_dem = csc.indptr.astype(np.int64), csc.indices.astype(np.int64)
    row_ptr, row_site = csr.indptr.astype(np.int64), csr.indices.astype(np.int64)

    def cover(mask: NDArray[np.bool_]) -> float:
        return float(ck.covered_weight(col_ptr, col_dem, w, mask))

    simple = prob.budget is None and not prob.unit_bounds
    movable = (state == 0) & is_new

    def local(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        if simple:
            improved, _ = ck.swap_simple(col_ptr, col_dem, row_ptr, row_site, w, mask, movable, 100_000)
        else:
            improved, _ = ck.swap(col_ptr, col_dem, row_ptr, row_site, w, mask, state, is_new, prob.site_cost, budget, unit, umin, umax, 10_000)
        return improved

    g_open, _ = ck.greedy(col_ptr, col_dem, w, state, is_new, prob.site_cost, p, budget, unit, umin, umax)
    best = local(g_open)
    value = cover(best)
    stats: dict = {"greedy_cover": cover(g_open), "swap_cover": value}
    bound = float(w[np.diff(csr.indptr) > 0].sum())  # everyone coverable: a trivial bound
    report("greedy and swap search", incumbent=value, bound=bound)
    exact = method == "exact" or (method == "auto" and prob.costs.nnz <= AUTO_EXACT_MAX_NNZ)
    # large models get no MIP: their LP relaxation (a tighter bound than the Lagrangian rounds
    # reach) is solved beside the searches, on another core, within the time limit
    lp_beside = _BackgroundLpBound(prob, LP_BOUND_SHARE * time_limit - (time.perf_counter() - started)) \
        if simple and not exact and prob.costs.nnz > LP_FIRST_MAX_NNZ and _CORES_PER_SOLVE > 1 else None
    if simple and prob.costs.nnz <= LP_FIRST_MAX_NNZ:
        # small models: the LP relaxation (simplex, milliseconds) is often integral at the
        # optimum, which proves the local-search plan optimal at once; its largest site values
        # also seed one more local search
        lp, x_cols = fm.mclp(prob, max(0.2 * time_limit, 1.0), relax=True, presolve=False)
        if lp.status == "optimal" and lp.x is not None:
            bound = min(bound, float(lp.objective))
            stats["lp_bound"] = float(lp.objective)
            report("LP relaxation", incumbent=value, bound=bound)
            if bound - value > 1e-9 * max(1.0, value):
                seed_open = np.zeros(prob.n_sites, bool)
                scores = lp.x[x_cols]
                seed_open[np.argsort(-scores, kind="stable")[: max(p, 0)]] = True
                candidate = local(seed_open | (state == 1))
                got = cover(candidate)
                if got > value + 1e-9:
                    best, value = candidate, got
    if simple:
        # Lagrangian rounds (relaxing y_i ≤ Σ x_j): each round's relaxed site choice seeds a local
        # search, until neither bound nor incumbent moves twice; then (heuristic mode) iterated
        # local search while it keeps improving, within half the time limit.
        lam = 0.5 * w
        stalled = rounds = 0
        tol_rel = 1e-9 * max(1.0, value)
        while rounds < 40 and bound - value > tol_rel and time.perf_counter() - started < 0.4 * time_limit:
            rounds += 1
            lag, lam, _, chosen, _ = ck.mclp_subgradient(col_ptr, col_dem, w, lam, state, is_new, p, value, 300, 1.0, 30)
            moved = False
            if lag < bound - tol_rel:
                bound, moved = float(lag), True
            report(f"Lagrangian round {rounds}", incumbent=value, bound=bound)
            candidate = local(chosen | (state == 1))
            got = cover(candidate)
            if got > value + 1e-9:
                best, value, moved = candidate, got, True
            if bound - value <= tol_rel:
                break
            stalled = 0 if moved else stalled + 1
            if stalled >= 2:
                break
        lagrangian_s = time.perf_counter() - started
        ils = 0
        if not exact:  # an exact MIP follows otherwise: it proves or improves on its own, from this incumbent
            # iterated local search (cheap next to the Lagrangian rounds) while it keeps finding
            # improvements: stop after 5 rounds in a row without one, or at 85 % of the limit
            stalls = 0
            while bound - value > tol_rel and time.perf_counter() - started < 0.85 * time_limit:
                ils += 1
                best, got, improvements = ck.iterated_local_search(col_ptr, col_dem, row_ptr, row_site, w, best, movable, 300, ils)
                value = max(value, float(got))
                stalls = 0 if improvements else stalls + 1
                if stalls >= 5:
                    break
        stats.update(lagrangian_rounds=rounds, ils_rounds=ils, heuristic_cover=value,
                     lagrangian_seconds=round(lagrangian_s, 2), ils_seconds=round(time.perf_counter() - started - lagrangian_s, 2))
    if lp_beside is not None:
        stats["lagrangian_bound"] = bound
        lp_value = lp_beside.value(wait_s=max(0.0, 0.97 * time_limit - (time.perf_counter() - started)))
        stats["lp_bound_seconds"] = round(lp_beside.seconds, 2)
        if lp_value is not None:
            stats["lp_bound"] = lp_value
            if lp_value < bound:
                bound = lp_value
                report("LP relaxation", incumbent=value, bound=bound)
    if not simple and not exact:
        # a bound for the heuristic's plan (an exact MIP, when it follows, finds its own);
        # with a budget any number of sites may open: the count bound is then all of them
        lag, _, _, _, _ = ck.mclp_subgradient(col_ptr, col_dem, w, 0.5 * w, state, is_new, p if prob.budget is None else prob.n_sites, value, 600, 1.0, 20)
        if lag >= 0.0:
            bound = min(bound, float(lag))
    tol = 1e-9 * max(1.0, value)
    try:
        _check_unit_solution(prob, best)
        incumbent_ok = True
    except InfeasibleProblem:
        incumbent_ok = False
    if incumbent_ok and bound - value <= tol:
        proof = "LP bound" if stats.get("lp_bound", np.inf) - value <= tol else "Lagrangian bound"
        return _finish(prob, best, value, value, True, f"greedy+swap ({proof})", stats)
    if not exact and incumbent_ok:
        which = "LP bound" if stats.get("lp_bound", np.inf) <= bound else "Lagrangian bound"
        return _finish(prob, best, value, max(bound, value), False, f"greedy+swap ({which})", stats)
    # exact: the MIP (HiGHS, without its presolve, which slows these models down several times),
    # started from the incumbent
    res, x = fm.mclp(prob, max(time_limit - (time.perf_counter() - started), 1.0), start=best if incumbent_ok else None, presolve=False)
    stats.update(mip_status=res.status, nodes=res.nodes)
    if res.x is None:
        raise InfeasibleProblem("no plan meets all constraints (count/budget, required, unit minimums and maximums)" if res.status == "infeasible" else f"the solver found no plan ({res.status})")
    is_open = res.x[x] > 0.5
    real = cover(is_open)
    if incumbent_ok and value > real:
        is_open, real = best, value
    final_bound = max(min(res.bound, bound), real)
    proven = res.status == "optimal" or final_bound - real <= tol
    return _finish(prob, is_open, real, real if proven else final_bound, proven, "exact-mip", stats)


_CORES_PER_SOLVE = 2
"""Cores one solve may use: 2 lets a large covering model's LP bound run beside its search."""


def set_cores_per_solve(cores: int) -> None:
    """How many cores one solve in this process may use (1 or more).  With 1 — a batch worker
    running one solve per core — large covering models get no LP relaxation beside their search
    and report the Lagrangian bound instead."""
    global _CORES_PER_SOLVE
    if cores < 1:
        raise ValueError(f"cores must be at least 1, not {cores}")
    _CORES_PER_SOLVE = int(cores)


LP_BOUND_SHARE = 0.9
"""Share of a large covering model's time limit its background LP relaxation may use."""


class _BackgroundLpBound:
    """The LP relaxation of a covering model solved in a thread (HiGHS interior point without
    crossover, one thread; HiGHS and the numba searches both release the interpreter lock, so the
    two run on two cores).  :meth:`value` is its optimum — a valid upper bound on the covered
    weight, raised by a relative 1e-7 for the solver's tolerances — or None if it did not finish."""

    def __init__(self, prob: Problem, time_limit: float) -> None:
        self.seconds = 0.0
        self._value: float | None = None
        self._thread = threading.Thread(target=self._solve, args=(prob, max(time_limit, 1.0)), name="lp-bound", daemon=True)
        self._thread.start()

    def _solve(self, prob: Problem, time_limit: float) -> None:
        started = time.perf_counter()
        try:
            lp, _ = fm.mclp(prob, time_limit, relax=True, options={"solver": "ipm", "run_crossover": "off", "threads": 1})
        except Exception:  # noqa: BLE001 - no bound from here is no worse than before; the plan stands
            return
        finally:
            self.seconds = time.perf_counter() - started
        if lp.status == "optimal" and np.isfinite(lp.objective):
            self._value = float(lp.objective) * (1.0 + 1e-7) + 1e-9

    def value(self, wait_s: float) -> float | None:
        """The bound, waiting at most ``wait_s`` seconds for it."""
        self._thread.join(wait_s)
        return None if self._thread.is_alive() else self._value


def _lscp(prob: Problem, time_limit: float) -> Solution:
    res, x, uncoverable = fm.lscp(prob, time_limit)
    if res.x is None:
        raise InfeasibleProblem(f"the solver found no covering plan ({res.status})")
    is_open = res.x[x] > 0.5
    stats = {"mip_status": res.status, "uncoverable_demand_points": int(uncoverable.sum()), "uncoverable_weight": float(prob.weights[uncoverable].sum())}
    return _finish(prob, is_open, res.objective, res.bound, res.status == "optimal", "exact-mip", stats)


def _dense_costs(prob: Problem) -> tuple[NDArray[np.float64], float]:
    """Full demand × site cost matrix from the stored pairs; missing pairs get a large penalty."""
    D, S = prob.costs.shape
    dense = np.full((D, S), np.nan)
    coo = prob.costs.tocoo()
    dense[coo.row, coo.col] = coo.data
    finite_max = float(np.nanmax(dense)) if np.isfinite(dense).any() else 1.0
    penalty = 10.0 * max(finite_max, 1.0)
    return np.where(np.isnan(dense), penalty, dense), penalty


def _pmedian_units(prob: Problem, method: str, time_limit: float) -> Solution:
    """p-median with one level of per-unit bounds on a complete matrix: Lagrangian + fixing, then an exact MIP on what is left.

    The MIP keeps only the sites not fixed and, for each demand point, only the sites no
    farther than a site that is open in *every* plan (an existing one) or than the farthest
    allowed site of some unit that must hold one: no optimal plan assigns a point beyond that.
    """
    started = time.perf_counter()
    dense, _ = _dense_costs(prob)
    C = prob.weights[:, None] * dense
    b = prob.unit_bounds[0]
    rule = UnitRule(np.asarray(b.site_unit, np.int64), np.asarray(b.minimum, float), np.asarray(b.maximum, float))
    p_total = int(prob.n_new) + int(prob.existing.sum())
    try:
        sol, status = solve_dense_units(C, p_total, rule, fixed_open=prob.required, allowed=~prob.forbidden, time_limit=0.5 * time_limit)
    except ValueError as exc:
        raise InfeasibleProblem(str(exc)) from exc
    stats = dict(sol.stats, method=sol.method)
    if sol.proven or method == "heuristic":
        return _finish(prob, sol.is_open, sol.objective, sol.bound, sol.proven, sol.method, stats)
    # exact finish on the sites left free, with each point's pairs cut at a cost no plan exceeds
    reach = np.full(prob.n_demand, np.inf)
    if (status == 1).any():
        reach = dense[:, status == 1].min(axis=1)
    for u in np.flatnonzero(rule.minimum >= 1):
        in_unit = (rule.unit == u) & (status >= 0)
        if in_unit.any():
            reach = np.minimum(reach, dense[:, in_unit].max(axis=1))
    keep = (dense <= reach[:, None] + 1e-9) & (status >= 0)[None, :]
    r, c = np.nonzero(keep)
    reduced = dataclasses.replace(prob, costs=csr_matrix((dense[r, c], (r, c)), shape=dense.shape),
                                  forbidden=prob.forbidden | (status == -1), required=prob.required | (status == 1))
    remaining = max(0.1, time_limit - (time.perf_counter() - started))
    report(f"exact MIP on the {int((status == 0).sum())} sites left", incumbent=sol.objective, bound=sol.bound)
    start = sol.is_open if not (sol.is_open & (status == -1)).any() and (sol.is_open[status == 1]).all() else None
    res, x, z, pairs = fm.assignment_model(reduced, reduced.costs.data, maximize=False, must_assign=True, time_limit=remaining,
                                           penalty=np.full(prob.n_demand, 10.0 * float(dense.max()) + 1.0), start=start,
                                           options={"mip_heuristic_effort": 0.0} if start is not None else None)
    stats.update(mip_status=res.status, mip_pairs=int(len(r)), mip_sites=int((status == 0).sum()))
    if res.x is None:
        return _finish(prob, sol.is_open, sol.objective, sol.bound, False, sol.method, stats)
    mip_open = res.x[x] > 0.5
    mip_cost = float(C[:, mip_open].min(axis=1).sum())
    best_open, best = (mip_open, mip_cost) if mip_cost < sol.objective - 1e-9 else (sol.is_open, sol.objective)
    proven = res.status == "optimal"
    bound = best if proven else max(sol.bound, min(best, float(res.bound)))
    return _finish(prob, best_open, best, bound, proven, "lagrangian + exact-mip (unit bounds)" if proven else "lagrangian + mip (unit bounds, time limit)", stats)


def _pmedian(prob: Problem, method: str, time_limit: float) -> Solution:
    D, S = prob.costs.shape
    side = bool(prob.unit_bounds) or prob.capacity is not None or prob.budget is not None or prob.closable
    only_units = len(prob.unit_bounds) == 1 and prob.capacity is None and prob.budget is None and not prob.closable
    if only_units and prob.complete and D * S <= DENSE_MEDIAN_MAX_CELLS:
        return _pmedian_units(prob, method, time_limit)
    if not side and prob.complete and D * S <= DENSE_MEDIAN_MAX_CELLS:
        dense, _ = _dense_costs(prob)
        C = prob.weights[:, None] * dense
        p_total = int(prob.n_new) + int(prob.existing.sum())  # new sites plus the existing ones kept
        allowed = ~prob.forbidden
        sol = solve_dense(C, p_total, fixed_open=prob.required, allowed=allowed, time_limit=time_limit, exact=method != "heuristic")
        stats = dict(sol.stats, method=sol.method)
        return _finish(prob, sol.is_open, sol.objective, sol.bound, sol.proven, "lagrangian-bnb" if method != "heuristic" else "greedy+swap (Lagrangian bound)", stats)
    if not side:
        from planner.location.pmedian import solve_lists

        p_total = int(prob.n_new) + int(prob.existing.sum())
        active = prob.weights > 0
        sub = prob.costs[np.flatnonzero(active)]
        sol = solve_lists(sub, prob.weights[active], p_total, fixed_open=prob.required, allowed=~prob.forbidden,
                          truncated=not prob.complete, time_limit=time_limit)
        stats = dict(sol.stats, method=sol.method)
        return _finish(prob, sol.is_open, sol.objective, sol.bound, sol.proven, sol.method, stats)
    return _pmedian_mip(prob, time_limit)


def _last_listed(costs: csr_matrix) -> NDArray[np.float64]:
    """Each demand point's largest stored cost (its last listed site; 0 when it lists none)."""
    last = np.zeros(costs.shape[0])
    rows = np.repeat(np.arange(costs.shape[0]), np.diff(costs.indptr))
    np.maximum.at(last, rows, costs.data)
    return last


def _pmedian_mip(prob: Problem, time_limit: float) -> Solution:
    """p-median with side constraints (capacities, budget, closable, several unit levels) on HiGHS.

    On cut lists (``complete=False``) a point may be left to the "unlisted" variable at the cost of
    its last listed site, which no unlisted site undercuts: the MIP is then a relaxation of the
    complete problem, its bound is valid, and a plan is proven only if no point needs it.  On a
    complete matrix the same variable means "unserved" (capacity short, allowed with
    ``allow_unserved``) and is priced high, so that the most persons are served first.
    """
    D = prob.n_demand
    active = prob.weights > 0
    reachable = np.zeros(D, bool)
    coo = prob.costs.tocoo()
    reachable[coo.row[~prob.forbidden[coo.col]]] = True
    if prob.complete and (active & ~reachable).any():
        lost = active & ~reachable
        raise InfeasibleProblem(f"{float(prob.weights[lost].sum()):,.0f} persons at {int(lost.sum())} demand point(s) cannot reach any allowed site")
    finite_max = float(prob.costs.data.max()) if prob.costs.nnz else 1.0
    penalty = _last_listed(prob.costs) if not prob.complete else np.full(D, 10.0 * max(finite_max, 1.0))
    res, x, z, pairs = fm.assignment_model(prob, prob.costs.data, maximize=False, must_assign=True, time_limit=time_limit, penalty=penalty)
    if res.x is None:
        raise InfeasibleProblem("no p-median plan meets all constraints" if res.status == "infeasible"
                                else f"no plan found within the time limit of {time_limit:g} s; give the solver more time" if res.status == "time_limit"
                                else f"the solver found no plan ({res.status})")
    is_open, assign, share, load = fm.decode_assignment(res, prob, x, z, pairs)
    left = np.clip(1.0 - share, 0.0, 1.0) * prob.weights  # persons on the "unlisted"/"unserved" variable
    penalty_part = float((left * penalty).sum())
    optimal = res.status == "optimal"
    stats: dict = {"mip_status": res.status, "nodes": res.nodes}
    if not prob.complete:
        beyond = int((left > 1e-9).sum())
        stats["beyond_list"] = beyond
        # the objective prices those points at their last listed cost: a lower estimate of their trip
        return _finish(prob, is_open, res.objective, res.bound, optimal and beyond == 0,
                       "exact-mip" if beyond == 0 else "exact-mip on cut lists (not proven: some points need a site beyond their list)",
                       stats, share, assign, load)
    unserved = float(left.sum())
    stats.update(unserved_persons=round(unserved, 3), penalised_objective=res.objective)
    label = "exact-mip" if unserved <= 1e-9 else f"exact-mip (capacity short: {unserved:,.0f} persons unserved, as allowed)"
    return _finish(prob, is_open, res.objective - penalty_part, res.bound - penalty_part, optimal, label, stats, share, assign, load)


def _pcenter(prob: Problem, time_limit: float) -> Solution:
    """Smallest radius r such that the demand (weight > 0) can be covered within r: bisection on
    the distinct stored costs, each step a covering feasibility MIP with the same constraints.

    A step that runs out of time is *unknown*, never "infeasible": the search stops there and the
    plan keeps the best radius proven feasible, with the largest radius proven infeasible as its
    bound.  The whole solve keeps within ``time_limit`` (+ the last step's stop).  On cut lists
    (``complete=False``) a radius at or above some point's last listed cost cannot be proven
    infeasible (a site beyond the list may serve it).  Exactly ``n_new`` new sites open: when
    fewer reach the radius, the rest are added where they shorten trips most.
    """
    started = time.perf_counter()
    active = prob.weights > 0
    costs = prob.costs
    radii = np.unique(costs.data[np.repeat(active, np.diff(costs.indptr))])
    if len(radii) == 0:
        raise InfeasibleProblem("no demand point with positive weight has a site within reach")
    # a lower bound on the radius: every active point's nearest allowed site
    _, best_cost = nearest_open(costs, ~prob.forbidden)
    if np.isinf(best_cost[active]).any():
        raise InfeasibleProblem(f"{int(np.isinf(best_cost[active]).sum())} demand point(s) have no allowed site within reach")
    provable_below = np.inf if prob.complete else float(_last_listed(costs)[active].min())
    lo = int(np.searchsorted(radii, best_cost[active].max()))  # radii below this are infeasible for sure
    hi = len(radii) - 1
    row_of = np.repeat(np.arange(costs.shape[0]), np.diff(costs.indptr))
    steps: list[tuple[float, str]] = []

    def feasible(r: float) -> tuple[str, NDArray[np.bool_] | None]:
        """("feasible", sites) | ("infeasible", None) | ("unknown", None)."""
        remaining = time_limit - (time.perf_counter() - started)
        if remaining <= 0.05:
            return "unknown", None
        keep = costs.data <= r
        sub = pair_matrix(row_of[keep], costs.indices[keep], costs.data[keep], costs.shape)
        cover = Problem("lscp", np.where(active, 1.0, 0.0), sub, standard=r, n_new=prob.n_new, budget=prob.budget, site_cost=prob.site_cost,
                        existing=prob.existing, closable=prob.closable, required=prob.required, forbidden=prob.forbidden,
                        unit_bounds=prob.unit_bounds, cost_unit=prob.cost_unit, allow_uncovered=True).normalised()
        try:
            res, x, unc = fm.lscp(cover, remaining)
        except InfeasibleProblem:
            return ("infeasible" if r < provable_below else "beyond lists"), None
        if res.x is not None and not unc.any():
            return "feasible", res.x[x] > 0.5
        if res.status == "infeasible" or unc.any():
            return ("infeasible" if r < provable_below else "beyond lists"), None
        return "unknown", None  # time limit without an answer

    state, best_open = feasible(float(radii[hi]))
    steps.append((float(radii[hi]), state))
    if state == "infeasible":
        raise InfeasibleProblem(f"even the largest radius ({radii[hi]:g} {prob.cost_unit}) cannot cover all demand with "
                                f"{prob.n_new} new sites and the other constraints")
    if state == "beyond lists":
        raise InfeasibleProblem(f"no p-center plan covers every point with the sites on its cut list ({radii[hi]:g} {prob.cost_unit} at most); "
                                f"consider more sites per point (k_nearest) or a complete matrix")
    if state == "unknown":
        raise InfeasibleProblem(f"no p-center plan found within the time limit of {time_limit:g} s (the covering step at "
                                f"{radii[hi]:g} {prob.cost_unit} did not finish)")
    stopped = False
    while lo < hi:
        mid = (lo + hi) // 2
        state, sol = feasible(float(radii[mid]))
        steps.append((float(radii[mid]), state))
        report(f"bisection step {len(steps)}: radius {radii[mid]:g} {state}", incumbent=float(radii[hi]), bound=float(radii[lo]))
        if state == "feasible":
            hi, best_open = mid, sol
        elif state == "infeasible":
            lo = mid + 1
        else:  # out of time, or infeasible only on the cut lists: nothing is proven below
            stopped = True
            break
    best_open = _fill_to_count(prob, best_open)
    _, cost = nearest_open(costs, best_open)
    worst = float(cost[active].max())
    proven = not stopped and lo == hi
    bound = worst if proven else float(radii[lo])
    stats = {"bisection_steps": len(steps), "radius": float(radii[hi]), "steps": [{"radius": r, "result": st} for r, st in steps]}
    return _finish(prob, best_open, worst, bound, proven, "exact (bisection on covering MIPs)" if proven else "bisection (stopped: time limit or cut lists)", stats)


def _fill_to_count(prob: Problem, is_open: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Open more new sites until ``n_new`` are open (they never lengthen the worst trip), each where
    it shortens trips most; stops early only where no allowed site, unit room or budget is left."""
    if prob.n_new is None:
        return is_open
    is_open = is_open.copy()
    new = ~prob.existing
    spent = float(prob.site_cost[is_open & new].sum())
    pattern = prob.costs.tocsc()
    far = 2.0 * float(prob.costs.data.max(initial=1.0))
    while int((is_open & new).sum()) < prob.n_new:
        _, d = nearest_open(prob.costs, is_open)
        d = np.where(np.isfinite(d), d, far)
        eligible = ~is_open & ~prob.forbidden & new
        if prob.budget is not None:
            eligible &= spent + prob.site_cost <= prob.budget + 1e-9
        for b in prob.unit_bounds:
            counts = np.bincount(b.site_unit[is_open & (b.site_unit >= 0)], minlength=len(b.names))
            full = np.flatnonzero(counts[: len(b.names)] >= b.maximum)
            eligible &= ~np.isin(b.site_unit, full)
        best, best_gain = -1, -1.0
        for j in np.flatnonzero(eligible):
            lo, hi = pattern.indptr[j], pattern.indptr[j + 1]
            rows = pattern.indices[lo:hi]
            gain = float((prob.weights[rows] * np.maximum(d[rows] - pattern.data[lo:hi], 0.0)).sum())
            if gain > best_gain:
                best, best_gain = j, gain
        if best < 0:
            break
        is_open[best] = True
        spent += float(prob.site_cost[best])
    return is_open


def _attendance(prob: Problem, time_limit: float) -> Solution:
    value = prob.decay.weight(prob.costs.data)
    res, x, z, pairs = fm.assignment_model(prob, value, maximize=True, must_assign=False, time_limit=time_limit)
    if res.x is None:
        raise InfeasibleProblem("no attendance plan meets all constraints" if res.status == "infeasible" else f"the solver found no plan ({res.status})")
    is_open, assign, share, load = fm.decode_assignment(res, prob, x, z, pairs)
    # on cut lists, a point whose list ends before the decay's cutoff may attend a site beyond it:
    # the bound would not hold for the complete problem
    active = prob.weights > 0
    whole = prob.complete or bool((_last_listed(prob.costs)[active] >= prob.decay.cutoff).all())
    stats = {"mip_status": res.status, "nodes": res.nodes, "lists_cover_the_cutoff": whole}
    return _finish(prob, is_open, res.objective, res.bound, res.status == "optimal" and whole,
                   "exact-mip" if whole else "exact-mip on cut lists (not proven for sites beyond the lists)", stats, share, assign, load)
