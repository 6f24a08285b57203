"""Facility hierarchies solved as one problem: "市级有龙头、镇街有示范、村(社区)有场所".

Each level (city flagship, town demonstration centre, community venue …) has its own eligible
sites, existing facilities, service standard and per-unit bounds.  A site hosts at most one
facility, and levels are not interchangeable: a flagship does not count as its town's
demonstration centre (design brief §3).  The model maximises the weighted coverage of all levels
together:

    max  Σ_l α_l Σ_i w_i y_il
    s.t. y_il ≤ Σ_{j ∈ N_l(i)} x_jl          (coverage per level)
         Σ_l x_jl ≤ 1                         (one facility per site)
         count / unit bounds per level, budget over all levels
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from planner.location.formulations import ModelBuilder, aggregate_rows
from planner.location.problem import InfeasibleProblem, UnitBounds, _check_units


@dataclass
class Level:
    """One level of the hierarchy.

    Attributes
    ----------
    name
        e.g. ``"flagship"``, ``"town_centre"``, ``"community_station"``.
    coverage
        Demand × site pairs within this level's service standard (any stored value).
    eligible
        Sites that may host this level.
    existing
        Sites already hosting this level (kept).
    weight
        Weight of this level's coverage in the objective.
    n_new
        Most new facilities of this level (None: no limit beyond unit bounds and budget).
    unit_bounds
        Bounds per admin unit (e.g. at least one per town; exactly one in the city).
    """

    name: str
    coverage: csr_matrix
    eligible: NDArray[np.bool_]
    existing: NDArray[np.bool_]
    weight: float = 1.0
    n_new: int | None = None
    unit_bounds: list[UnitBounds] = field(default_factory=list)


@dataclass
class HierarchySolution:
    """Open sites per level, coverage per level, and the solver's account."""

    open_by_level: dict[str, NDArray[np.bool_]]
    covered_by_level: dict[str, float]
    objective: float
    bound: float
    proven: bool
    seconds: float
    solver: str = "exact-mip (hierarchy)"
    stats: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative gap (0 when proven)."""
        return 0.0 if self.proven else abs(self.bound - self.objective) / max(abs(self.objective), 1e-12)


def solve_hierarchy(weights: NDArray[np.float64], levels: list[Level], *, site_cost: NDArray[np.float64] | None = None,
                    budget: float | None = None, time_limit: float = 60.0) -> HierarchySolution:
    """Solve the hierarchy as one MIP (HiGHS).

    Raises
    ------
    InfeasibleProblem
        Naming the level and unit that cannot get its minimum, or when the levels together cannot
        be placed (e.g. more facilities required than sites).
    """
    started = time.perf_counter()
    if not levels:
        raise ValueError("a hierarchy needs at least one level")
    D, S = levels[0].coverage.shape
    weights = np.asarray(weights, float)
    site_cost = np.ones(S) if site_cost is None else np.asarray(site_cost, float)
    occupied = np.zeros(S, int)
    for lv in levels:
        if lv.coverage.shape != (D, S):
            raise ValueError(f"level {lv.name}: coverage shape {lv.coverage.shape} differs from {(D, S)}")
        occupied += lv.existing.astype(int)
        for b in lv.unit_bounds:
            try:
                _check_units(b, lv.existing, lv.existing, ~(lv.eligible | lv.existing), S)
            except InfeasibleProblem as exc:
                raise InfeasibleProblem(f"level {lv.name}: {exc}") from exc
    if (occupied > 1).any():
        raise InfeasibleProblem(f"site {int(np.flatnonzero(occupied > 1)[0])} already hosts facilities of two levels")

    builder = ModelBuilder()
    xs = []
    for lv in levels:
        allowed = (lv.eligible & (occupied == 0)) | lv.existing
        x = builder.add_vars(np.zeros(S), lv.existing.astype(float), allowed.astype(float), True)
        xs.append(x)
        new = np.flatnonzero(allowed & ~lv.existing)
        if lv.n_new is not None:
            builder.add_rows(np.zeros(len(new)), x[new], np.ones(len(new)), [-np.inf], [lv.n_new])
        for b in lv.unit_bounds:
            has = b.site_unit >= 0
            builder.add_rows(b.site_unit[has], x[np.flatnonzero(has)], np.ones(int(has.sum())), b.minimum, b.maximum)
    # one facility per site
    stack_rows = np.concatenate([np.arange(S)] * len(levels))
    stack_cols = np.concatenate(xs)
    builder.add_rows(stack_rows, stack_cols, np.ones(len(stack_cols)), np.full(S, -np.inf), np.ones(S))
    if budget is not None:
        cols = np.concatenate([x[np.flatnonzero(~lv.existing)] for x, lv in zip(xs, levels)])
        costs = np.concatenate([site_cost[np.flatnonzero(~lv.existing)] for lv in levels])
        builder.add_rows(np.zeros(len(cols)), cols, costs, [-np.inf], [budget])
    constant = 0.0
    for lv, x in zip(levels, xs):
        pattern = lv.coverage.copy()
        pattern.data[:] = 1.0
        covered_now = np.asarray(pattern[:, np.flatnonzero(lv.existing)].sum(axis=1)).ravel() > 0 if lv.existing.any() else np.zeros(D, bool)
        constant += lv.weight * float(weights[covered_now].sum())
        rows = np.flatnonzero(~covered_now & (weights > 0) & (np.diff(pattern.indptr) > 0))
        if len(rows) == 0:
            continue
        sub = pattern[rows].multiply(lv.eligible[None, :]).tocsr()
        sub.eliminate_zeros()
        nonempty = np.diff(sub.indptr) > 0
        agg, agg_w, _ = aggregate_rows(sub[np.flatnonzero(nonempty)], weights[rows][nonempty])
        G = agg.shape[0]
        y = builder.add_vars(lv.weight * agg_w, 0.0, 1.0, False)
        coo = agg.tocoo()
        builder.add_rows(np.concatenate([np.arange(G), coo.row]), np.concatenate([y, x[coo.col]]),
                         np.concatenate([np.ones(G), -np.ones(coo.nnz)]), np.full(G, -np.inf), np.zeros(G))
    res = builder.solve(maximize=True, time_limit=time_limit, offset=constant)
    if res.x is None:
        if res.status == "infeasible":
            raise InfeasibleProblem("the levels' minimums cannot all be met with one facility per site (too few eligible sites in some unit, or counts/budget too small)")
        raise InfeasibleProblem(f"the solver found no hierarchy plan within the time limit ({res.status})")
    open_by_level = {lv.name: res.x[x] > 0.5 for lv, x in zip(levels, xs)}
    covered = {}
    for lv in levels:
        pattern = lv.coverage.copy()
        pattern.data[:] = 1.0
        is_open = open_by_level[lv.name]
        hit = np.asarray(pattern[:, np.flatnonzero(is_open)].sum(axis=1)).ravel() > 0 if is_open.any() else np.zeros(D, bool)
        covered[lv.name] = float(weights[hit].sum())
    return HierarchySolution(open_by_level, covered, res.objective, max(res.bound, res.objective), res.status == "optimal",
                             time.perf_counter() - started, stats={"mip_status": res.status, "nodes": res.nodes})
