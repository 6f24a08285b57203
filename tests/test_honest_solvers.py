"""Every "proven", bound and figure a solver reports holds, also for inputs people naturally hand over.

Each case here once came out wrong (issue: plans you can trust): a dense array or a sparse matrix
built from one, a full matrix given to a coverage model, uncoverable demand, capacity below
demand, cut candidate lists, a p-center step that ran out of time.  Every claim is checked
against brute force or an independent solve.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import shortest_path

from geodata.reference import read_orlib_optima, read_orlib_pmed
from planner.location.problem import InfeasibleProblem, Problem, UnitBounds
from planner.location.solve import solve
from planner.travel.costs import pair_matrix
from tests.conftest import shared_data


def points(seed: int, D: int, S: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = np.hypot(*(rng.uniform(0, 10, (D, 1, 2)) - rng.uniform(0, 10, (1, S, 2))).transpose(2, 0, 1))
    return d.round(3), rng.integers(1, 10, D).astype(float)


def median_cost(d: np.ndarray, w: np.ndarray, sites) -> float:
    return float((w * d[:, list(sites)].min(axis=1)).sum())


def test_dense_arrays_are_complete_and_zero_costs_count() -> None:
    """pmed1 as a dense array is solved to its published optimum; built into a csr_matrix its zeros
    vanish, which once gave 6204 marked proven (optimum 5819): now refused, saying why."""
    folder = shared_data("orlib-pmed")
    inst = read_orlib_pmed(folder / "pmed1.txt")
    e = inst.edges
    D = shortest_path(coo_matrix((e[:, 2].astype(float), (e[:, 0] - 1, e[:, 1] - 1)), shape=(inst.n, inst.n)), method="D", directed=False)
    optimum = read_orlib_optima(folder / "pmedopt.txt")["pmed1"]
    sol = solve(Problem("pmedian", np.ones(inst.n), D, n_new=inst.p))
    assert sol.proven and sol.objective == optimum == 5819
    with pytest.raises(ValueError, match="stores no zero cost.*zero costs were dropped"):
        solve(Problem("pmedian", np.ones(inst.n), csr_matrix(D), n_new=inst.p))
    # a sparse matrix that keeps its zeros is fine
    r, c = np.nonzero(np.isfinite(D))
    assert solve(Problem("pmedian", np.ones(inst.n), pair_matrix(r, c, D[r, c], D.shape), n_new=inst.p)).objective == optimum


def test_coverage_models_apply_their_standard_to_any_matrix() -> None:
    """A full matrix with standard 5 covers only pairs within 5 (it once covered everything: 1 site instead of 8)."""
    d, w = points(1, 40, 12)
    need = next(k for k in range(1, 13) if any((d[:, list(c)] <= 2.0).any(axis=1)[(d <= 2.0).any(axis=1)].all() for c in itertools.combinations(range(12), k)))
    lscp = solve(Problem("lscp", w, d, standard=2.0, allow_uncovered=True))
    assert lscp.proven and lscp.objective == need > 1
    best = max(float(w[(d[:, list(c)] <= 2.0).any(axis=1)].sum()) for c in itertools.combinations(range(12), 2))
    mclp = solve(Problem("mclp", w, d, standard=2.0, n_new=2))
    assert mclp.proven and mclp.objective == pytest.approx(best) and best < w.sum()


def test_uncoverable_demand_is_an_error_unless_allowed() -> None:
    d, w = points(2, 30, 6)
    d[:3] += 50.0  # three points far from every site
    standard = float(np.ceil(d[3:].min(axis=1).max()))  # every other point has a site within it
    with pytest.raises(InfeasibleProblem, match=rf"{w[:3].sum():,.0f} persons at 3 demand point\(s\) are beyond {standard:g} s"):
        solve(Problem("lscp", w, d, standard=standard))
    sol = solve(Problem("lscp", w, d, standard=standard, allow_uncovered=True))
    assert sol.stats["uncoverable_demand_points"] == 3 and sol.stats["uncoverable_weight"] == w[:3].sum()


def test_capacity_below_demand_is_an_error_unless_allowed() -> None:
    d, w = points(3, 20, 6)
    cap = np.full(6, 10.0)
    with pytest.raises(InfeasibleProblem, match=rf"capacity: the open sites can serve at most 20 persons but the demand is {w.sum():,.0f}"):
        solve(Problem("pmedian", w, d, n_new=2, capacity=cap))
    sol = solve(Problem("pmedian", w, d, n_new=2, capacity=cap, allow_unserved=True))
    assert sol.stats["unserved_persons"] == pytest.approx(w.sum() - 20)
    assert "capacity short" in sol.solver
    # the reported cost is the travel of those served, not a hidden penalty
    served = sol.served_share * w
    assert sol.objective == pytest.approx(float((served * np.where(sol.assignment >= 0, d[np.arange(20), np.maximum(sol.assignment, 0)], 0)).sum()), rel=1e-6)
    assert sol.objective < 20 * d.max()


def _cut(d: np.ndarray, k: int):
    order = np.argsort(d, axis=1)[:, :k]
    rows = np.repeat(np.arange(d.shape[0]), k)
    return pair_matrix(rows, order.ravel(), d[rows, order.ravel()], d.shape)


@pytest.mark.parametrize("seed", range(4))
def test_cut_lists_are_never_proven_wrongly(seed) -> None:
    """p-median with a unit minimum on each point's 2 nearest sites: a town whose sites are nobody's
    nearest forces points beyond their lists.  Whatever is reported holds for the full matrix."""
    d, w = points(seed, 30, 8)
    unit = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    bounds = UnitBounds("town", unit, ("甲", "乙"), np.array([1.0, 1.0]), np.full(2, np.inf))
    feasible = [c for c in itertools.combinations(range(8), 3) if {0, 1} <= set(unit[list(c)])]
    best = min(median_cost(d, w, c) for c in feasible)
    sol = solve(Problem("pmedian", w, _cut(d, 2), n_new=3, unit_bounds=[bounds], complete=False), time_limit=20)
    true_cost = median_cost(d, w, np.flatnonzero(sol.is_open))
    assert sol.bound <= best + 1e-6  # a valid bound for the complete problem
    if sol.proven:
        assert true_cost == pytest.approx(best) and sol.objective == pytest.approx(best)
    else:
        assert sol.stats["beyond_list"] > 0 or sol.stats["mip_status"] != "optimal"


def test_cut_lists_p_center_and_attendance_claim_only_what_holds() -> None:
    from planner.location.problem import Decay

    d, w = points(7, 25, 8)
    best_radius = min(float(d[:, list(c)].min(axis=1).max()) for c in itertools.combinations(range(8), 2))
    with pytest.raises(InfeasibleProblem, match="cut list"):  # two sites per point: no pair of sites is on every list
        solve(Problem("pcenter", w, _cut(d, 2), n_new=2, complete=False), time_limit=20)
    cut = solve(Problem("pcenter", w, _cut(d, 5), n_new=2, complete=False), time_limit=20)
    assert cut.bound <= best_radius + 1e-9 and float(d[:, cut.is_open].min(axis=1).max()) >= best_radius - 1e-9
    if cut.proven:
        assert cut.objective == pytest.approx(best_radius)
    full = solve(Problem("pcenter", w, d, n_new=2))
    assert full.proven and full.objective == pytest.approx(best_radius)
    decay = Decay("linear", cutoff=6.0)
    att = solve(Problem("attendance", w, _cut(d, 1), n_new=2, decay=decay, complete=False))
    assert not att.proven and "cut lists" in att.solver  # lists of one site end before the 6.0 cutoff


def test_p_center_opens_exactly_n_new_and_keeps_to_its_time_limit() -> None:
    d, w = points(4, 30, 10)
    d[:, 0] = 0.5  # one site near everyone: one site reaches the best radius
    sol = solve(Problem("pcenter", w, d, n_new=3))
    assert sol.proven and int(sol.is_open.sum()) == 3 and sol.objective == pytest.approx(0.5)
    big, bw = points(5, 1500, 120)
    started = time.perf_counter()
    timed = solve(Problem("pcenter", bw, big, n_new=12), time_limit=1.0)
    assert time.perf_counter() - started <= 1.0 + 1.5  # the limit, plus the last step's stop and model building
    best_known = float(big[:, timed.is_open].min(axis=1).max())
    assert timed.objective == pytest.approx(best_known) and timed.bound <= timed.objective
    if not timed.proven:
        assert timed.solver.startswith("bisection (stopped") and any(s["result"] == "unknown" for s in timed.stats["steps"])
    assert int(timed.is_open.sum()) == 12


def _milp_mclp(cover: np.ndarray, w: np.ndarray, p: int, fixed: np.ndarray | None = None, units: np.ndarray | None = None,
               minimum: np.ndarray | None = None) -> float:
    """MCLP as an independent MIP (scipy.optimize.milp): x sites, y covered points; ``fixed`` sites
    open (not counted in p), at least ``minimum[u]`` open sites in each unit ``u``."""
    D, S = cover.shape
    fixed = np.zeros(S, bool) if fixed is None else fixed
    c = np.concatenate([np.zeros(S), -w])
    rows = [np.hstack([-cover.astype(float), np.eye(D)]), np.concatenate([(~fixed).astype(float), np.zeros(D)])[None, :]]
    lo, hi = [np.full(D, -np.inf), [0]], [np.zeros(D), [p]]
    if units is not None:
        for u, need in enumerate(minimum):
            if need > 0:
                rows.append(np.concatenate([(units == u).astype(float), np.zeros(D)])[None, :])
                lo.append([need])
                hi.append([np.inf])
    res = milp(c, constraints=LinearConstraint(np.vstack(rows), np.concatenate(lo), np.concatenate(hi)),
               integrality=np.concatenate([np.ones(S), np.zeros(D)]), bounds=Bounds(np.concatenate([fixed.astype(float), np.zeros(D)]), 1))
    assert res.status == 0
    return float(-res.fun)


def test_a_proven_plan_on_the_sample_matches_an_independent_mip(sample_region) -> None:
    """The meal-point plan's "proven optimal" against scipy's MILP on the same coverage pattern."""
    from api.demo import MEAL_SCENARIO
    from planner.scenario import _context, run_scenario

    plan = run_scenario(sample_region, MEAL_SCENARIO)
    assert plan.summary["solver"]["proven_optimal"]
    problem, ctx = _context(sample_region, MEAL_SCENARIO)
    pattern = np.zeros(ctx.coverage.shape, bool)
    coo = ctx.coverage.tocoo()
    pattern[coo.row, coo.col] = True  # zeros stored explicitly count as covering
    existing = ctx.is_existing
    covered_by_existing = pattern[:, existing].any(axis=1)
    free = ~existing & ctx.is_candidate
    rest = _milp_mclp(pattern[~covered_by_existing][:, free], ctx.weights[~covered_by_existing], MEAL_SCENARIO.n_new)
    assert plan.summary["covered_persons"] == pytest.approx(float(ctx.weights[covered_by_existing].sum()) + rest, abs=0.2)


def test_the_demo_care_plan_with_town_minimums_matches_an_independent_mip(sample_region) -> None:
    """The care-centre plan (one per town, 3 new) claims proven optimal: scipy's MILP agrees."""
    from api.demo import CARE_SCENARIO
    from planner.scenario import _context, run_scenario

    plan = run_scenario(sample_region, CARE_SCENARIO)
    assert plan.summary["solver"]["proven_optimal"]
    problem, ctx = _context(sample_region, CARE_SCENARIO)
    pattern = np.zeros(ctx.coverage.shape, bool)
    coo = ctx.coverage.tocoo()
    pattern[coo.row, coo.col] = True
    allowed = ctx.is_existing | ctx.is_candidate
    bounds = problem.unit_bounds[0]
    best = _milp_mclp(pattern[:, allowed], ctx.weights, CARE_SCENARIO.n_new, fixed=ctx.is_existing[allowed],
                      units=bounds.site_unit[allowed], minimum=bounds.minimum)
    assert plan.summary["covered_persons"] == pytest.approx(best, abs=0.2)
