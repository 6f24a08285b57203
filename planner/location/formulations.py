"""Mixed-integer formulations of the location models, assembled from sparse blocks and solved by HiGHS.

Every model shares the site variables ``x_j`` (binary; required sites fixed at 1, forbidden at 0),
the count or budget constraint and the per-unit bounds; each adds its own demand variables.
Blocks are built with numpy from the sparse cost matrix: no per-variable Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csr_matrix

from planner.location.mip import MipResult, solve_mip
from planner.location.problem import InfeasibleProblem, Problem


@dataclass
class ModelBuilder:
    """Accumulates variables and constraint rows as COO triplets."""

    cost: list[NDArray] = field(default_factory=list)
    lower: list[NDArray] = field(default_factory=list)
    upper: list[NDArray] = field(default_factory=list)
    integer: list[NDArray] = field(default_factory=list)
    rows: list[NDArray] = field(default_factory=list)
    cols: list[NDArray] = field(default_factory=list)
    vals: list[NDArray] = field(default_factory=list)
    row_lo: list[NDArray] = field(default_factory=list)
    row_hi: list[NDArray] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0

    def add_vars(self, cost: NDArray, lower: NDArray | float, upper: NDArray | float, integer: bool) -> NDArray[np.int64]:
        """Add a block of variables; returns their column indices."""
        n = len(cost)
        self.cost.append(np.asarray(cost, float))
        self.lower.append(np.broadcast_to(np.asarray(lower, float), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self.integer.append(np.full(n, integer))
        cols = self.n_cols + np.arange(n, dtype=np.int64)
        self.n_cols += n
        return cols

    def add_rows(self, row: NDArray, col: NDArray, val: NDArray, lo: NDArray, hi: NDArray) -> NDArray[np.int64]:
        """Add rows given as triplets with local row numbers ``0..len(lo)-1``; returns global row indices."""
        k = len(lo)
        self.rows.append(np.asarray(row, np.int64) + self.n_rows)
        self.cols.append(np.asarray(col, np.int64))
        self.vals.append(np.asarray(val, float))
        self.row_lo.append(np.asarray(lo, float))
        self.row_hi.append(np.asarray(hi, float))
        out = self.n_rows + np.arange(k, dtype=np.int64)
        self.n_rows += k
        return out

    def solve(self, *, maximize: bool, time_limit: float, start: NDArray | None = None, offset: float = 0.0, mip_gap: float = 1e-9, seed: int = 0,
              presolve: bool = True, options: dict[str, object] | None = None) -> MipResult:
        """Solve the assembled model with HiGHS."""
        A = coo_matrix((np.concatenate(self.vals) if self.vals else np.zeros(0),
                        (np.concatenate(self.rows) if self.rows else np.zeros(0, int), np.concatenate(self.cols) if self.cols else np.zeros(0, int))),
                       shape=(self.n_rows, self.n_cols))
        return solve_mip(
            np.concatenate(self.cost), A, np.concatenate(self.row_lo) if self.row_lo else np.zeros(0),
            np.concatenate(self.row_hi) if self.row_hi else np.zeros(0), np.concatenate(self.lower), np.concatenate(self.upper),
            np.concatenate(self.integer), maximize=maximize, time_limit=time_limit, start=start, offset=offset, mip_gap=mip_gap, seed=seed,
            presolve=presolve, options=options,
        )


def site_block(builder: ModelBuilder, problem: Problem, cost: NDArray | None = None) -> NDArray[np.int64]:
    """Site variables with their fixings, the count/budget row and the unit-bound rows."""
    S = problem.n_sites
    lower = problem.required.astype(float)
    upper = np.where(problem.forbidden, 0.0, 1.0)
    x = builder.add_vars(np.zeros(S) if cost is None else cost, lower, upper, True)
    new = ~problem.existing if not problem.closable else np.ones(S, bool)
    if problem.n_new is not None:
        idx = np.flatnonzero(new)
        exact = problem.model in ("pmedian", "pcenter")
        builder.add_rows(np.zeros(len(idx)), x[idx], np.ones(len(idx)), [problem.n_new if exact else -np.inf], [problem.n_new])
    if problem.budget is not None:
        idx = np.flatnonzero(new)
        builder.add_rows(np.zeros(len(idx)), x[idx], problem.site_cost[idx], [-np.inf], [problem.budget])
    for bounds in problem.unit_bounds:
        has = bounds.site_unit >= 0
        builder.add_rows(bounds.site_unit[has], x[np.flatnonzero(has)], np.ones(int(has.sum())), bounds.minimum, bounds.maximum)
    return x


def row_hashes(matrix: csr_matrix, seed: int = 12345) -> NDArray[np.uint64]:
    """A 64-bit fingerprint of each row's set of columns (equal sets give equal fingerprints)."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(1, 2**63 - 1, matrix.shape[1], dtype=np.int64).astype(np.uint64)
    keys2 = rng.integers(1, 2**63 - 1, matrix.shape[1], dtype=np.int64).astype(np.uint64)
    col_keys = keys[matrix.indices] ^ (keys2[matrix.indices] >> np.uint64(7))
    sums = np.zeros(matrix.shape[0], np.uint64)
    nonempty = np.diff(matrix.indptr) > 0
    if matrix.nnz:
        with np.errstate(over="ignore"):
            sums[nonempty] = np.add.reduceat(col_keys, matrix.indptr[:-1][nonempty])
    return sums


def aggregate_rows(pattern: csr_matrix, weights: NDArray[np.float64]) -> tuple[csr_matrix, NDArray[np.float64], NDArray[np.int64]]:
    """Merge demand points that are covered by exactly the same sites (summing their weights).

    Returns the distinct rows, their weights and, for each original row, its group.
    """
    h = row_hashes(pattern)
    _, first, group = np.unique(h, return_index=True, return_inverse=True)
    return pattern[first], np.bincount(group, weights=weights, minlength=len(first)), group


def mclp(problem: Problem, time_limit: float, start: NDArray[np.bool_] | None = None, *, relax: bool = False,
         presolve: bool = True, options: dict[str, object] | None = None) -> tuple[MipResult, NDArray[np.int64]]:
    """Maximal covering as a MIP on aggregated demand: ``max Σ w y`` s.t. ``y_i ≤ Σ_{j∈N(i)} x_j``.

    Demand already covered by fixed-open sites is a constant; demand no site covers is dropped.
    ``relax=True`` solves the LP relaxation (its result carries reduced costs); ``options`` are
    HiGHS options (e.g. the interior-point solver for a large relaxation).
    Returns the result and the site-variable columns.
    """
    pattern = problem.costs.copy()
    pattern.data[:] = 1.0
    fixed = problem.required
    covered_fixed = np.asarray(pattern[:, np.flatnonzero(fixed)].sum(axis=1)).ravel() > 0 if fixed.any() else np.zeros(problem.n_demand, bool)
    free_rows = (~covered_fixed) & (np.diff(pattern.indptr) > 0) & (problem.weights > 0)
    constant = float(problem.weights[covered_fixed].sum())
    sub = pattern[np.flatnonzero(free_rows)]
    sub = sub[:, :]  # copy
    # drop columns of forbidden and fixed sites from the coverage rows (fixed ones cover nothing new)
    allowed_cols = ~problem.forbidden & ~fixed
    sub = sub.multiply(allowed_cols[None, :]).tocsr()
    sub.eliminate_zeros()
    keep = np.diff(sub.indptr) > 0
    rows_idx = np.flatnonzero(keep)
    agg, agg_w, _ = aggregate_rows(sub[rows_idx], problem.weights[np.flatnonzero(free_rows)][rows_idx])
    builder = ModelBuilder()
    x = site_block(builder, problem)
    if relax:
        builder.integer = [np.zeros_like(flags) for flags in builder.integer]
    G = agg.shape[0]
    y = builder.add_vars(agg_w, 0.0, 1.0, False)
    coo = agg.tocoo()
    builder.add_rows(
        np.concatenate([np.arange(G), coo.row]), np.concatenate([y, x[coo.col]]),
        np.concatenate([np.ones(G), -np.ones(coo.nnz)]), np.full(G, -np.inf), np.zeros(G),
    )
    mip_start = None
    if start is not None:
        covered = np.asarray(agg[:, np.flatnonzero(start)].sum(axis=1)).ravel() > 0 if start.any() else np.zeros(G, bool)
        mip_start = np.concatenate([start.astype(float), covered.astype(float)])
    res = builder.solve(maximize=True, time_limit=time_limit, start=None if relax else mip_start, offset=constant, presolve=presolve, options=options)
    return res, x


def lscp(problem: Problem, time_limit: float) -> tuple[MipResult, NDArray[np.int64], NDArray[np.bool_]]:
    """Set covering: cheapest new sites covering every coverable point (or a target share of weight).

    Returns the MIP result, the site columns and the mask of demand points no site can cover.
    """
    pattern = problem.costs.copy()
    pattern.data[:] = 1.0
    allowed = ~problem.forbidden
    reach = pattern.multiply(allowed[None, :]).tocsr()
    reach.eliminate_zeros()
    uncoverable = (np.diff(reach.indptr) == 0) & (problem.weights > 0)
    fixed = problem.required
    covered_fixed = np.asarray(reach[:, np.flatnonzero(fixed)].sum(axis=1)).ravel() > 0 if fixed.any() else np.zeros(problem.n_demand, bool)
    total = float(problem.weights.sum())
    builder = ModelBuilder()
    new_cost = np.where(problem.existing, 0.0, problem.site_cost)
    x = site_block(builder, problem, cost=new_cost)
    todo = np.flatnonzero(~covered_fixed & ~uncoverable & (problem.weights > 0))
    if problem.coverage_target is None:
        agg, _, _ = aggregate_rows(reach[todo], problem.weights[todo])
        coo = agg.tocoo()
        builder.add_rows(coo.row, x[coo.col], np.ones(coo.nnz), np.ones(agg.shape[0]), np.full(agg.shape[0], np.inf))
    else:
        need = problem.coverage_target * total - float(problem.weights[covered_fixed].sum())
        coverable = float(problem.weights[~uncoverable].sum())
        if problem.coverage_target * total > coverable + 1e-9:
            raise InfeasibleProblem(
                f"a coverage target of {problem.coverage_target:.0%} cannot be met: even with every candidate open only "
                f"{coverable / total:.1%} of the weight is within the standard"
            )
        if need > 0:
            agg, agg_w, _ = aggregate_rows(reach[todo], problem.weights[todo])
            G = agg.shape[0]
            y = builder.add_vars(np.zeros(G), 0.0, 1.0, False)
            coo = agg.tocoo()
            builder.add_rows(np.concatenate([np.arange(G), coo.row]), np.concatenate([y, x[coo.col]]),
                             np.concatenate([np.ones(G), -np.ones(coo.nnz)]), np.full(G, -np.inf), np.zeros(G))
            builder.add_rows(np.zeros(G), y, agg_w, [need], [np.inf])
    res = builder.solve(maximize=False, time_limit=time_limit)
    if res.status == "infeasible":
        raise InfeasibleProblem("no set of sites meets the covering and unit constraints together")
    return res, x, uncoverable


def assignment_model(problem: Problem, pair_value: NDArray[np.float64], *, maximize: bool, must_assign: bool, time_limit: float,
                     penalty: NDArray[np.float64] | None = None, start: NDArray[np.bool_] | None = None,
                     options: dict[str, object] | None = None) -> tuple[MipResult, NDArray[np.int64], NDArray[np.int64], csr_matrix]:
    """Sites plus assignment variables ``z_ij`` on the stored pairs (median, attendance, capacitated).

    Parameters
    ----------
    pair_value
        Objective coefficient of each stored pair (``problem.costs.data`` order) before weighting
        by demand.
    must_assign
        True: ``Σ_j z_ij + u_i = 1`` with an unassigned variable ``u_i`` priced at ``penalty``;
        False: ``Σ_j z_ij ≤ 1``.
    """
    costs = problem.costs
    D = problem.n_demand
    coo = costs.tocoo()
    allowed = ~problem.forbidden[coo.col] & (problem.weights[coo.row] > 0)
    r, c, v = coo.row[allowed], coo.col[allowed], pair_value[allowed] if len(pair_value) == costs.nnz else pair_value
    builder = ModelBuilder()
    x = site_block(builder, problem)
    w = problem.weights
    z = builder.add_vars(w[r] * v, 0.0, 1.0, False)
    active = np.flatnonzero(w > 0)
    if must_assign:
        pen = penalty if penalty is not None else np.full(D, 0.0)
        u = builder.add_vars(w[active] * pen[active], 0.0, 1.0, False)
        local = np.full(D, -1)
        local[active] = np.arange(len(active))
        builder.add_rows(np.concatenate([local[r], np.arange(len(active))]), np.concatenate([z, u]), np.ones(len(z) + len(u)),
                         np.ones(len(active)), np.ones(len(active)))
    else:
        local = np.full(D, -1)
        local[active] = np.arange(len(active))
        builder.add_rows(local[r], z, np.ones(len(z)), np.full(len(active), -np.inf), np.ones(len(active)))
    k = len(z)
    builder.add_rows(np.concatenate([np.arange(k), np.arange(k)]), np.concatenate([z, x[c]]), np.concatenate([np.ones(k), -np.ones(k)]),
                     np.full(k, -np.inf), np.zeros(k))
    if problem.capacity is not None:
        finite = np.isfinite(problem.capacity)
        sites = np.flatnonzero(finite)
        row_of_site = np.full(problem.n_sites, -1)
        row_of_site[sites] = np.arange(len(sites))
        sel = finite[c]
        builder.add_rows(np.concatenate([row_of_site[c[sel]], np.arange(len(sites))]), np.concatenate([z[sel], x[sites]]),
                         np.concatenate([w[r[sel]], -problem.capacity[sites]]), np.full(len(sites), -np.inf), np.zeros(len(sites)))
    mip_start = None
    if start is not None and problem.capacity is None:
        mip_start = _assignment_start(problem, start, r, c, v, maximize, must_assign, active, len(x), len(z))
    res = builder.solve(maximize=maximize, time_limit=time_limit, start=mip_start, options=options)
    pairs = csr_matrix((np.arange(len(r)) + 1, (r, c)), shape=costs.shape)
    return res, x, z, pairs


def _assignment_start(problem: Problem, start: NDArray[np.bool_], r, c, v, maximize: bool, must_assign: bool, active, n_x: int, n_z: int) -> NDArray | None:
    """A MIP start for the assignment model from an open-site mask (best pair per demand point)."""
    vals = np.where(start[c], v, -np.inf if maximize else np.inf)
    order = np.lexsort((-vals if maximize else vals, r))
    first = np.ones(len(order), bool)
    first[1:] = r[order][1:] != r[order][:-1]
    pick = order[first]
    pick = pick[np.isfinite(vals[pick])]
    if maximize:
        pick = pick[vals[pick] > 0]
    sol = np.zeros(n_x + n_z + (len(active) if must_assign else 0))
    sol[:n_x] = start.astype(float)
    sol[n_x + pick] = 1.0
    if must_assign:
        assigned = np.zeros(problem.n_demand, bool)
        assigned[r[pick]] = True
        local = np.full(problem.n_demand, -1)
        local[active] = np.arange(len(active))
        unassigned = active[~assigned[active]]
        sol[n_x + n_z + local[unassigned]] = 1.0
    return sol


def decode_assignment(res: MipResult, problem: Problem, x: NDArray, z: NDArray, pairs: csr_matrix) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Open mask, each demand point's main site, its served share, and each site's load (persons).

    A demand point may be split between sites in capacitated models; the load counts every part.
    """
    is_open = res.x[x] > 0.5
    coo = pairs.tocoo()
    assign = np.full(problem.n_demand, -1, np.int64)
    share = np.zeros(problem.n_demand)
    value = res.x[z[coo.data - 1]]
    np.add.at(share, coo.row, value)
    order = np.lexsort((-value, coo.row))
    first = np.ones(len(order), bool)
    first[1:] = coo.row[order][1:] != coo.row[order][:-1]
    best = order[first]
    best = best[value[best] > 1e-6]
    assign[coo.row[best]] = coo.col[best]
    load = np.bincount(coo.col, weights=value * problem.weights[coo.row], minlength=problem.n_sites)
    return is_open, assign, np.clip(share, 0.0, 1.0), load
