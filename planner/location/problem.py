"""The location problem as arrays: what to optimise, over which pairs, under which constraints.

A :class:`Problem` is independent of maps and files: demand weights (persons), a sparse
demand × site cost matrix, and the constraints the work plan sets (existing facilities kept,
required/forbidden sites, per-admin-unit minimums and maximums, capacities, budget).  Solvers in
:mod:`planner.location.solve` turn it into a :class:`Solution`.

Models
------
``mclp``
    Maximal covering: maximise the weight within ``standard`` of an open site, with ``n_new``
    new sites (or within ``budget``).
``lscp``
    Set covering: fewest (or cheapest) new sites so that every coverable demand point — or a
    ``coverage_target`` share of the weight — is within ``standard``.
``pmedian``
    Minimise total weighted travel cost with ``n_new`` new sites.
``pcenter``
    Minimise the worst travel cost (of demand with positive weight) with ``n_new`` new sites.
``attendance``
    Maximise expected attendance: each demand point attends its best open site with a
    probability that decays with travel cost (:class:`Decay`), as ArcGIS's "maximize attendance".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix, issparse

from planner.travel.costs import PairMatrix, pair_matrix

Model = Literal["mclp", "lscp", "pmedian", "pcenter", "attendance"]
MODELS: tuple[str, ...] = ("mclp", "lscp", "pmedian", "pcenter", "attendance")


class InfeasibleProblem(ValueError):
    """The constraints cannot all be met; the message names the cause (a unit, a count …)."""


def as_pair_matrix(costs: object) -> PairMatrix:
    """Problem costs given as a dense array (``inf``/NaN = unreachable), a :class:`PairMatrix`, or a
    scipy sparse matrix that stores its zero costs explicitly.

    Raises
    ------
    ValueError
        For a scipy sparse matrix that stores no zero cost but lacks some pairs: built from a
        dense array, its zero costs were silently dropped and would read as "unreachable".
    """
    if isinstance(costs, PairMatrix):
        return costs
    if isinstance(costs, np.ndarray) or (not issparse(costs) and hasattr(costs, "__array__")):
        dense = np.asarray(costs, float)
        if dense.ndim != 2:
            raise ValueError(f"costs: a cost matrix must be 2-D (demand × site), not of shape {dense.shape}")
        rows, cols = np.nonzero(np.isfinite(dense))
        return pair_matrix(rows, cols, dense[rows, cols], dense.shape)
    if not issparse(costs):
        raise ValueError(f"costs: expected a dense array or a sparse matrix, not {type(costs).__name__}")
    matrix = csr_matrix(costs, dtype=float)
    D, S = matrix.shape
    if matrix.nnz < D * S and not (matrix.data == 0).any():
        raise ValueError(
            f"costs: this scipy sparse matrix lacks {D * S - matrix.nnz:,} of its {D * S:,} pairs and stores no zero cost; "
            "if it was made from a dense array, its zero costs were dropped and would count as unreachable. "
            "Pass the dense array (inf = unreachable) or build it with planner.travel.costs.pair_matrix(rows, cols, costs, shape)"
        )
    coo = matrix.tocoo()  # keeps explicit zeros
    return pair_matrix(coo.row, coo.col, coo.data, matrix.shape)


@dataclass(frozen=True)
class Decay:
    """Distance decay of attendance, as ArcGIS's impedance transformations.

    ``kind``: ``linear`` (1 − cost/cutoff), ``power`` ((cost/scale)^−beta, capped at 1) or
    ``exponential`` (exp(−beta × cost/scale)); zero beyond ``cutoff``.

    Attributes
    ----------
    kind
        ``linear``, ``power`` or ``exponential``.
    cutoff
        Cost beyond which nobody attends (cost units).
    beta
        Decay rate (power and exponential).
    scale
        Cost unit of the power/exponential forms (e.g. 60 s: beta per minute).
    """

    kind: Literal["linear", "power", "exponential"] = "linear"
    cutoff: float = 900.0
    beta: float = 1.0
    scale: float = 60.0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "power", "exponential"):
            raise ValueError(f"decay kind must be linear, power or exponential, not {self.kind!r}")
        if self.cutoff <= 0 or self.scale <= 0 or self.beta < 0:
            raise ValueError("decay cutoff and scale must be positive and beta non-negative")

    def weight(self, cost: NDArray[np.float64]) -> NDArray[np.float64]:
        """Attendance probability in [0, 1] at each cost."""
        cost = np.asarray(cost, float)
        if self.kind == "linear":
            w = 1.0 - cost / self.cutoff
        elif self.kind == "power":
            with np.errstate(divide="ignore"):
                w = np.minimum(1.0, np.power(np.maximum(cost, 1e-12) / self.scale, -self.beta))
        else:
            w = np.exp(-self.beta * cost / self.scale)
        return np.where(cost <= self.cutoff, np.clip(w, 0.0, 1.0), 0.0)


@dataclass(frozen=True)
class UnitBounds:
    """Per-admin-unit bounds on the number of open sites (existing ones count).

    Attributes
    ----------
    level
        Admin level, e.g. ``"town"``.
    site_unit
        For each site, the index of its unit (-1 if none).
    names
        Unit names, for messages (Chinese kept).
    minimum, maximum
        Per unit; ``maximum`` may be ``inf``.
    """

    level: str
    site_unit: NDArray[np.int64]
    names: tuple[str, ...]
    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]


@dataclass
class Problem:
    """A location problem as arrays (see the module docstring for the models).

    Attributes
    ----------
    model
        One of :data:`MODELS`.
    weights
        Demand weight per demand point (persons), shape ``(D,)``.
    costs
        Sparse demand × site travel costs, shape ``(D, S)``: for ``mclp``/``lscp`` the pairs within
        ``standard``; for the other models every pair considered (all of them, or each demand
        point's nearest sites).  A stored entry means "this pair is possible"; costs of 0 are
        stored explicitly.
    standard
        Service standard (cost units) for ``mclp``/``lscp``; the cutoff of ``pcenter`` candidates.
    n_new
        Number of new sites to open (``mclp``, ``pmedian``, ``pcenter``, ``attendance``).
    budget
        Alternative to ``n_new``: total ``site_cost`` of new sites at most this.
    site_cost
        Cost of opening each site (any unit; default 1).
    existing
        Sites open today; kept open unless ``closable``.
    closable
        Existing sites may close (then ``n_new`` counts all open sites).
    required, forbidden
        Sites that must / must not be open.
    capacity
        Persons each site can serve (inf = no limit), or None for uncapacitated models.
    unit_bounds
        Per-admin-unit minimums/maximums.
    coverage_target
        ``lscp`` only: share (0–1] of the total weight to cover; None = every coverable point.
    decay
        ``attendance`` only.
    complete
        True when ``costs`` holds every possible (demand, site) pair (median/center exact on the
        full matrix); False when each demand point lists only its nearest sites (then a plan is
        proven only if no point needs a site beyond its list).
    cost_unit
        ``"s"`` or ``"m"``, for reports.
    allow_uncovered
        ``lscp``: demand no site can reach within the standard is an error unless this is True
        (then it is left out and counted).
    allow_unserved
        Capacitated models: total capacity below the demand is an error unless this is True
        (then the unserved persons are counted).

    ``costs`` may be given as a dense array (``inf`` or NaN = unreachable; zeros are costs of 0),
    a :class:`PairMatrix`, or a scipy sparse matrix that stores its zero costs (see
    :func:`as_pair_matrix`).  For ``mclp``/``lscp`` pairs beyond ``standard`` are dropped, so a full
    matrix may be handed over as it is.
    """

    model: str
    weights: NDArray[np.float64]
    costs: csr_matrix
    standard: float | None = None
    n_new: int | None = None
    budget: float | None = None
    site_cost: NDArray[np.float64] | None = None
    existing: NDArray[np.bool_] | None = None
    closable: bool = False
    required: NDArray[np.bool_] | None = None
    forbidden: NDArray[np.bool_] | None = None
    capacity: NDArray[np.float64] | None = None
    unit_bounds: list[UnitBounds] = field(default_factory=list)
    coverage_target: float | None = None
    decay: Decay | None = None
    complete: bool = True
    cost_unit: str = "s"
    allow_uncovered: bool = False
    allow_unserved: bool = False

    @property
    def n_demand(self) -> int:
        """Number of demand points."""
        return int(self.costs.shape[0])

    @property
    def n_sites(self) -> int:
        """Number of sites (existing and candidate)."""
        return int(self.costs.shape[1])

    def normalised(self) -> "Problem":
        """Fill defaults and check shapes and values; raises ValueError/InfeasibleProblem naming the cause."""
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        costs = as_pair_matrix(self.costs)
        D, S = costs.shape
        if D == 0:
            raise ValueError("no demand points")
        if S == 0:
            raise ValueError("no sites: give at least one existing or candidate site")
        weights = np.asarray(self.weights, float)
        if weights.shape != (D,):
            raise ValueError(f"weights need {D} entries, not {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("demand weights must be finite and non-negative")
        if costs.nnz and (not np.isfinite(costs.data).all() or (costs.data < 0).any()):
            raise ValueError("travel costs must be finite and non-negative")
        if self.model in ("mclp", "lscp") and self.standard is not None and costs.nnz and costs.data.max() > self.standard:
            coo = costs.tocoo()
            near = coo.data <= self.standard
            costs = pair_matrix(coo.row[near], coo.col[near], coo.data[near], costs.shape)  # the standard applies to any matrix

        def mask(values: NDArray | None, name: str) -> NDArray[np.bool_]:
            if values is None:
                return np.zeros(S, bool)
            arr = np.asarray(values, bool)
            if arr.shape != (S,):
                raise ValueError(f"{name} needs {S} entries, not {arr.shape}")
            return arr

        existing = mask(self.existing, "existing")
        required = mask(self.required, "required")
        forbidden = mask(self.forbidden, "forbidden")
        both = required & forbidden
        if both.any():
            raise InfeasibleProblem(f"site {int(np.flatnonzero(both)[0])} is both required and forbidden")
        kept_existing = existing & ~forbidden if self.closable else existing
        if (existing & forbidden).any() and not self.closable:
            raise InfeasibleProblem(f"existing site {int(np.flatnonzero(existing & forbidden)[0])} is forbidden but existing sites may not close")
        site_cost = np.ones(S) if self.site_cost is None else np.asarray(self.site_cost, float)
        if site_cost.shape != (S,) or not np.isfinite(site_cost).all() or (site_cost < 0).any():
            raise ValueError("site_cost needs one finite non-negative value per site")
        capacity = None
        if self.capacity is not None:
            capacity = np.asarray(self.capacity, float)
            if capacity.shape != (S,) or np.isnan(capacity).any() or (capacity < 0).any():
                raise ValueError("capacity needs one non-negative value (or inf) per site")
        if self.model in ("mclp", "lscp"):
            if self.standard is None or not self.standard > 0:
                raise ValueError(f"model {self.model} needs a positive service standard")
        if self.model in ("mclp", "pmedian", "pcenter", "attendance") and self.n_new is None and self.budget is None:
            raise ValueError(f"model {self.model} needs the number of new sites (n_new) or a budget")
        if self.n_new is not None and int(self.n_new) < 0:
            raise ValueError("n_new must be 0 or more")
        if self.budget is not None and not self.budget >= 0:
            raise ValueError("budget must be 0 or more")
        if self.coverage_target is not None and not 0 < self.coverage_target <= 1:
            raise ValueError("coverage_target must be a share in (0, 1]")
        if self.model == "attendance" and self.decay is None:
            raise ValueError("model attendance needs a decay")
        new_candidates = ~existing & ~forbidden
        if self.n_new is not None and not self.closable and int(self.n_new) > int(new_candidates.sum()):
            raise InfeasibleProblem(f"{int(self.n_new)} new sites asked for but only {int(new_candidates.sum())} candidate sites are allowed")
        if not self.closable and self.n_new is not None and int((required & ~existing).sum()) > int(self.n_new):
            raise InfeasibleProblem(f"{int((required & ~existing).sum())} sites are required but only {int(self.n_new)} new sites may open")
        for bounds in self.unit_bounds:
            _check_units(bounds, existing if not self.closable else np.zeros(S, bool), required, forbidden, S)
            if not self.closable:
                _check_unit_count(bounds, existing | required, forbidden, site_cost, self.n_new, self.budget)
        if self.model == "lscp" and self.coverage_target is None and not self.allow_uncovered:
            _check_coverable(costs, weights, forbidden, self.standard, self.cost_unit)
        if capacity is not None and not self.allow_unserved and self.model == "pmedian":  # a median serves everyone
            _check_capacity(capacity, weights, existing, forbidden, required, self.n_new, self.closable)
        return Problem(
            self.model, weights, costs, self.standard, None if self.n_new is None else int(self.n_new), self.budget, site_cost,
            kept_existing, self.closable, required | (kept_existing if not self.closable else np.zeros(S, bool)), forbidden,
            capacity, list(self.unit_bounds), self.coverage_target, self.decay, self.complete, self.cost_unit,
            self.allow_uncovered, self.allow_unserved,
        )


def _check_coverable(costs: PairMatrix, weights: NDArray[np.float64], forbidden: NDArray[np.bool_], standard: float | None, unit: str) -> None:
    """Refuse a covering problem with demand that no allowed site reaches within the standard."""
    reach = np.zeros(costs.shape[0], bool)
    coo = costs.tocoo()
    reach[coo.row[~forbidden[coo.col]]] = True
    lost = (weights > 0) & ~reach
    if lost.any():
        raise InfeasibleProblem(
            f"{float(weights[lost].sum()):,.0f} persons at {int(lost.sum())} demand point(s) are beyond {standard:g} {unit} of every allowed "
            f"site, so no plan covers everyone; add candidate sites there, or set allow_uncovered to plan for the rest and count them")


def _check_capacity(capacity: NDArray[np.float64], weights: NDArray[np.float64], existing: NDArray[np.bool_], forbidden: NDArray[np.bool_],
                    required: NDArray[np.bool_], n_new: int | None, closable: bool) -> None:
    """Refuse a capacitated problem whose sites, however chosen, cannot serve the whole demand."""
    fixed = required | (np.zeros_like(existing) if closable else existing)
    room = float(capacity[fixed].sum())
    free = np.sort(capacity[~fixed & ~forbidden])[::-1]
    slots = None if n_new is None else max(int(n_new) - int((fixed if closable else fixed & ~existing).sum()), 0)
    room += float(free.sum() if slots is None else free[:slots].sum())
    total = float(weights.sum())
    if room < total - 1e-9:
        raise InfeasibleProblem(
            f"capacity: the open sites can serve at most {room:,.0f} persons but the demand is {total:,.0f} "
            f"({total - room:,.0f} would be unserved); raise capacities or the number of sites, or set allow_unserved to count them")


def _check_units(bounds: UnitBounds, fixed_open: NDArray[np.bool_], required: NDArray[np.bool_], forbidden: NDArray[np.bool_], S: int) -> None:
    site_unit = np.asarray(bounds.site_unit, np.int64)
    if site_unit.shape != (S,):
        raise ValueError(f"unit bounds for level {bounds.level} need one unit per site")
    U = len(bounds.names)
    if bounds.minimum.shape != (U,) or bounds.maximum.shape != (U,):
        raise ValueError(f"unit bounds for level {bounds.level} need one minimum and maximum per unit")
    available = np.bincount(site_unit[(site_unit >= 0) & ~forbidden], minlength=U)[:U]
    forced = np.bincount(site_unit[(site_unit >= 0) & (fixed_open | required)], minlength=U)[:U]
    short = np.flatnonzero(available < bounds.minimum)
    if len(short):
        u = int(short[0])
        raise InfeasibleProblem(
            f"{bounds.level} '{bounds.names[u]}' needs at least {bounds.minimum[u]:g} site(s) but has "
            f"{int(available[u])} existing or candidate site(s); add candidate sites there"
            + (f" (and {len(short) - 1} more unit(s) alike)" if len(short) > 1 else "")
        )
    over = np.flatnonzero(forced > bounds.maximum)
    if len(over):
        u = int(over[0])
        raise InfeasibleProblem(f"{bounds.level} '{bounds.names[u]}' allows at most {bounds.maximum[u]:g} site(s) but {int(forced[u])} are existing or required there")


def _check_unit_count(bounds: UnitBounds, fixed_open: NDArray[np.bool_], forbidden: NDArray[np.bool_], site_cost: NDArray[np.float64],
                      n_new: int | None, budget: float | None) -> None:
    """Refuse minimums that need more new sites (or more money) than allowed, counting what they need."""
    site_unit = np.asarray(bounds.site_unit, np.int64)
    U = len(bounds.names)
    forced = np.bincount(site_unit[(site_unit >= 0) & fixed_open], minlength=U)[:U]
    short = np.maximum(bounds.minimum - forced, 0.0)
    needed = int(np.ceil(short.sum()))
    if not needed:
        return
    lacking = [bounds.names[u] for u in np.flatnonzero(short > 0)]
    shown = "、".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
    if n_new is not None and needed > int(n_new):
        raise InfeasibleProblem(f"the {bounds.level} minimums need at least {needed} new site(s) ({len(lacking)} {bounds.level}(s) short: {shown}) "
                                f"but only {int(n_new)} may open; raise the number of new sites to {needed} or more")
    if budget is not None:
        cheapest = 0.0
        free = (site_unit >= 0) & ~fixed_open & ~forbidden
        for u in np.flatnonzero(short > 0):
            costs = np.sort(site_cost[free & (site_unit == u)])
            cheapest += float(costs[: int(np.ceil(short[u]))].sum())
        if cheapest > budget + 1e-9:
            raise InfeasibleProblem(f"the {bounds.level} minimums cost at least {cheapest:g} ({len(lacking)} {bounds.level}(s) short: {shown}) "
                                    f"but the budget is {budget:g}")


@dataclass
class Solution:
    """What a solver found.

    Attributes
    ----------
    is_open
        Boolean mask over sites (existing ones included).
    assignment
        For each demand point, the site serving it (-1: none within reach / uncovered).
    served_share
        For capacitated models, the share of each demand point's weight served (0–1); else 1 where
        assigned.
    objective
        Objective value in the model's sense (covered weight, total weighted cost, worst cost …).
    bound
        Best proven bound on the optimum (upper for maximisation, lower for minimisation).
    proven
        True when the solution is proven optimal.
    solver
        ``exact-mip``, ``lagrangian-bnb``, ``greedy+swap`` … with the bound's method.
    seconds
        Wall time.
    stats
        Solver details.
    site_load
        Persons served by each site (a demand point split between sites counts in each part).
    """

    is_open: NDArray[np.bool_]
    assignment: NDArray[np.int64]
    served_share: NDArray[np.float64]
    objective: float
    bound: float
    proven: bool
    solver: str
    seconds: float
    stats: dict = field(default_factory=dict)
    site_load: NDArray[np.float64] | None = None

    @property
    def gap(self) -> float:
        """Relative gap between objective and bound (0 when proven)."""
        if self.proven:
            return 0.0
        if not np.isfinite(self.bound):
            return float("inf")
        return abs(self.bound - self.objective) / max(abs(self.objective), 1e-12)
