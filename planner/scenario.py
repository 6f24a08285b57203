"""Scenarios on a Region: facility type, model, standard and constraints → a :class:`Plan` that explains itself.

A :class:`Scenario` is what a planner or a street office states ("5 more meal points for people
aged 60+ within a 15-minute walk, at least one care centre in every town").  :func:`run_scenario`
turns it into a :class:`~planner.location.problem.Problem` on the region's network, solves it, and
returns a :class:`Plan`: the chosen sites with the residents each adds, per-unit coverage and
travel times, compliance with every target, and the solver's account (bound, gap, time).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.sparse import csr_matrix

from geodata.network import check_mode
from geodata.region import Region
from geodata.vocabulary import ADMIN_LEVELS, COMPLIANCE_LABELS, COST_KINDS, FACILITY_TYPES, GROUP_COLUMNS, LEVEL_ORDER, PLAN_STATUSES, POPULATION_GROUPS, label
from planner.travel.costs import CoverageMatrix, DemandSiteCosts
from planner.location.problem import MODELS, Decay, InfeasibleProblem, PairMatrix, Problem, Solution, UnitBounds, pair_matrix
from planner.travel.region import demand_site_costs, points_xy
from planner.location.solve import solve
from planner.progress import reporting

FAMILIES: dict[str, tuple[str, ...]] = {
    "meal_point": ("meal_point", "meal_hall"),
    "meal_hall": ("meal_hall", "meal_point"),
    "care_centre": ("care_centre", "flagship"),
    "care_station": ("care_station", "care_centre"),
    "flagship": ("flagship",),
    "care_home": ("care_home",),
    "rescue_station": ("rescue_station",),
}
"""Facility types that serve each other's purpose: an existing 长者饭堂 also serves meals."""

DENSE_MAX_CELLS = 20_000_000
"""Median-type scenarios use the full demand × site matrix up to this many cells, else k-nearest."""


@dataclass
class Scenario:
    """What to plan.

    Attributes
    ----------
    name
        Free text (Chinese fine).
    facility_type
        Code of :data:`geodata.vocabulary.FACILITY_TYPES` (``meal_point``, ``care_centre`` …).
    model
        ``mclp``, ``lscp``, ``pmedian``, ``pcenter`` or ``attendance``.
    group
        Population group served (``pop_all``, ``pop_60``, ``pop_80``, ``pop_alone``).
    mode
        ``walk`` or ``drive``.
    standard_min / standard_m
        Service standard as travel time (minutes, at the mode's speed) or distance (metres).
    n_new
        New sites to open.
    budget
        Alternatively, total cost of new sites.
    coverage_target
        ``lscp``: share of the group to cover (None: everyone coverable).
    existing
        ``keep`` (existing facilities stay open), ``closable`` or ``ignore`` (plan from scratch).
    required_sites, forbidden_sites
        Site ids that must / must not be open.
    unit_min, unit_max
        Per admin level, the least / most facilities per unit, e.g. ``{"town": 1}``.
    unit_min_residents
        Unit minimums apply only to units with more than this many residents of the group
        (default 0: a unit nobody of the group lives in needs no facility).  Exempt units are
        listed in the compliance report.
    capacitated
        Use the sites' ``capacity`` (persons) in the model.
    decay
        ``attendance`` only: ``{"kind": "linear"|"power"|"exponential", "cutoff_min": 20, "beta": 1}``.
    town
        Restrict to one town (street office): its residents and its candidate sites.
    candidate_site_ids
        Extra restriction: only these candidates (e.g. a street office's own proposals).
    k_nearest
        Median models on large regions: sites considered per demand point.
    method, time_limit
        Solver choice (``auto``/``exact``/``heuristic``) and seconds.
    direction
        ``demand_to_site`` (residents travel) or ``site_to_demand`` (services travel).
    allow_uncovered
        ``lscp``: plan for the rest when some residents are beyond the standard of every site
        (they are counted in the summary); otherwise that is an error.
    allow_unserved
        Capacitated plans: accept a total capacity below the demand (the unserved are counted).
    """

    name: str = "scenario"
    facility_type: str = "meal_point"
    model: str = "mclp"
    group: str = "pop_60"
    mode: str = "walk"
    standard_min: float | None = 15.0
    standard_m: float | None = None
    n_new: int | None = 5
    budget: float | None = None
    coverage_target: float | None = None
    existing: str = "keep"
    required_sites: list[str] = field(default_factory=list)
    forbidden_sites: list[str] = field(default_factory=list)
    unit_min: dict[str, float] = field(default_factory=dict)
    unit_max: dict[str, float] = field(default_factory=dict)
    unit_min_residents: float = 0.0
    capacitated: bool = False
    decay: dict[str, float | str] | None = None
    town: str | None = None
    candidate_site_ids: list[str] | None = None
    k_nearest: int = 25
    method: str = "auto"
    time_limit: float = 60.0
    direction: str = "demand_to_site"
    allow_uncovered: bool = False
    allow_unserved: bool = False

    def validate(self, region: Region) -> None:
        """Raise ValueError naming the field when the scenario does not fit the region."""
        if self.facility_type not in FACILITY_TYPES:
            raise ValueError(f"facility_type: unknown type {self.facility_type!r}; use one of {', '.join(FACILITY_TYPES)}")
        if self.model not in MODELS:
            raise ValueError(f"model: unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        if self.group not in GROUP_COLUMNS:
            raise ValueError(f"group: unknown group {self.group!r}; use one of {', '.join(GROUP_COLUMNS)}")
        try:
            check_mode(self.mode)
        except ValueError as exc:
            raise ValueError(f"mode: {exc}") from exc
        region.cost_kind(self.mode)  # ValueError naming the mode when the region cannot price it
        if (self.standard_min is None) == (self.standard_m is None):
            raise ValueError("standard: give exactly one of standard_min (minutes) or standard_m (metres)")
        value = self.standard_min if self.standard_min is not None else self.standard_m
        if not value > 0:
            raise ValueError("standard: must be positive")
        if self.existing not in ("keep", "closable", "ignore"):
            raise ValueError("existing: use keep, closable or ignore")
        for level in list(self.unit_min) + list(self.unit_max):
            if level not in ADMIN_LEVELS:
                raise ValueError(f"unit_min/unit_max: unknown level {level!r}; use {', '.join(ADMIN_LEVELS)}")
            if not len(region.units_at(level)):
                raise ValueError(f"unit_min/unit_max: region '{region.name}' has no {level} units")
        if self.town is not None and self.town not in set(region.units_at("town")["unit_id"]) | set(region.units_at("town")["name"]):
            raise ValueError(f"town: unknown town {self.town!r}")
        known = set(region.sites["site_id"])
        for name, ids in (("required_sites", self.required_sites), ("forbidden_sites", self.forbidden_sites), ("candidate_site_ids", self.candidate_site_ids or [])):
            unknown = [s for s in ids if s not in known]
            if unknown:
                raise ValueError(f"{name}: unknown site id(s) {', '.join(map(str, unknown[:5]))}")
        if self.direction not in ("demand_to_site", "site_to_demand"):
            raise ValueError("direction: use demand_to_site or site_to_demand")
        if self.model == "attendance" and not self.decay:
            raise ValueError("decay: the attendance model needs a decay")

    @property
    def weight(self) -> str:
        """Cost kind the standard is expressed in: ``time`` or ``length``."""
        return "time" if self.standard_min is not None else "length"

    @property
    def standard(self) -> float:
        """The service standard in cost units (seconds or metres)."""
        return float(self.standard_min * 60.0) if self.standard_min is not None else float(self.standard_m)

    def describe(self, lang: str = "en") -> str:
        """One line: the standard and the model, in ``lang``."""
        kind = FACILITY_TYPES[self.facility_type][lang]
        std = f"{self.standard_min:g} min" if self.standard_min is not None else f"{self.standard_m:g} m"
        if lang == "zh":
            return f"{kind}：{self.model}，服务半径 {std}（{'步行' if self.mode == 'walk' else '驾车'}），服务对象 {POPULATION_GROUPS[self.group]['zh']}"
        return f"{kind}: {self.model}, standard {std} ({self.mode}), serving {POPULATION_GROUPS[self.group]['en']}"


@dataclass
class Plan:
    """A solved scenario that explains itself.

    Attributes
    ----------
    scenario
        What was asked.
    sites
        Open sites (existing kept and new), WGS-84 GeoDataFrame: ``site_id``, ``name``, ``type``,
        ``plan_status`` (existing/new), ``rank`` (order of contribution), ``adds_persons`` (group
        members newly within the standard, in rank order), ``sole_persons`` (covered by no other
        open site), ``assigned_persons`` (those whose nearest open site it is), unit columns.
    candidates
        Every candidate considered, with ``selected`` and ``potential_persons`` (group within the
        standard of that site alone).
    units
        Per unit (town and community): residents of the group, covered persons and share, mean
        and worst travel time to the nearest open site (minutes or metres), facilities (existing,
        new), the minimum required, and ``compliant``.
    compliance
        One entry per target: what it asks, whether it is met, and the units failing it.
    summary
        Headline figures, solver account (objective, bound, gap, proven, seconds) and provenance.
    demand
        Per demand point: nearest open site and its cost, and whether it is within the standard.
    unit_shapes
        The outlines (WGS-84) of the towns and communities the plan reports on, so that its maps
        are drawn from the plan alone, as it was made, whatever becomes of the region.
    """

    scenario: Scenario
    sites: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    units: pd.DataFrame
    compliance: list[dict[str, Any]]
    summary: dict[str, Any]
    demand: gpd.GeoDataFrame
    unit_shapes: gpd.GeoDataFrame = field(default_factory=lambda: gpd.GeoDataFrame(columns=["unit_id", "name", "level", "parent_id", "geometry"], geometry="geometry", crs="EPSG:4326"))

    @property
    def region_name(self) -> str:
        """Name of the region the plan was made on."""
        return str(self.summary.get("region", ""))

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-friendly data (sites without geometry but with WGS-84 lon/lat, 7 decimals).

        Codes stay codes (``type``, ``plan_status``, ``compliance``) and each has its words beside
        it (``type_zh``/``type_en`` …), so a reader never has to translate ``care_centre`` or
        ``True`` itself.
        """
        sites = pd.DataFrame(self.sites.drop(columns="geometry"))
        sites["lon"] = self.sites.geometry.x.round(7)
        sites["lat"] = self.sites.geometry.y.round(7)
        for lang in ("zh", "en"):
            sites[f"type_{lang}"] = [label(FACILITY_TYPES, t, lang) for t in sites["type"]]
            sites[f"plan_status_{lang}"] = [label(PLAN_STATUSES, st, lang) for st in sites["plan_status"]]
        units = self.units.copy()
        if len(units):
            exempt = {u for c in self.compliance for u in c.get("units_exempt", [])}
            units["compliance"] = [_compliance_code(r, exempt) for r in units.to_dict("records")]
            for lang in ("zh", "en"):
                units[f"compliance_{lang}"] = [label(COMPLIANCE_LABELS, c, lang) for c in units["compliance"]]
        return {
            "scenario": asdict(self.scenario),
            "summary": self.summary,
            "compliance": self.compliance,
            "sites": _records(sites),
            "units": _records(units),
        }


def _compliance_code(row: dict[str, Any], exempt: set[str]) -> str:
    """``met``/``not_met``/``exempt``/``none`` for one unit row."""
    minimum = row.get("minimum_sites")
    if minimum is None or (isinstance(minimum, float) and np.isnan(minimum)):
        return "none"
    if row.get("name") in exempt and not minimum:
        return "exempt"
    return "met" if row.get("compliant") else "not_met"


COORDINATE_COLUMNS = frozenset({"lon", "lat"})
"""Columns kept to 7 decimals (about 1 cm) in a plan's JSON; other numbers to 4."""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in out:
        for k, v in row.items():
            if isinstance(v, (np.floating, float)) and v is not None:
                row[k] = None if not np.isfinite(v) else round(float(v), 7 if k in COORDINATE_COLUMNS else 4)
            elif isinstance(v, np.integer):
                row[k] = int(v)
            elif isinstance(v, np.bool_):
                row[k] = bool(v)
    return out


# ---------------------------------------------------------------------- building the problem
@dataclass
class _Context:
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    is_candidate: NDArray[np.bool_]
    is_existing: NDArray[np.bool_]
    costs: DemandSiteCosts
    coverage: csr_matrix
    weights: NDArray[np.float64]


def _of_family(sites: gpd.GeoDataFrame, facility_type: str) -> pd.Series:
    """Which sites are of ``facility_type``'s family (e.g. meal points and canteens)."""
    return sites["type"].isin(FAMILIES.get(facility_type, (facility_type,)))


def sites_for(region: Region, facility_type: str) -> gpd.GeoDataFrame:
    """The region's existing and candidate sites a scenario of ``facility_type`` plans with (its
    family, e.g. meal points and canteens), in the region's order."""
    sites = region.sites
    return sites[_of_family(sites, facility_type) & sites["status"].isin(["existing", "candidate"])]


def _select(region: Region, scenario: Scenario) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, NDArray[np.bool_], NDArray[np.bool_]]:
    sites = region.sites
    same = _of_family(sites, scenario.facility_type)
    candidates = same & (sites["status"] == "candidate")
    existing = same & (sites["status"] == "existing")
    demand = region.demand
    if scenario.town is not None:
        towns = region.units_at("town")
        town_id = scenario.town if scenario.town in set(towns["unit_id"]) else towns.loc[towns["name"] == scenario.town, "unit_id"].iloc[0]
        demand = demand[demand["town"] == town_id]
        candidates &= sites["town"] == town_id
        if demand.empty:
            raise InfeasibleProblem(f"town '{scenario.town}' has no demand points")
    if scenario.candidate_site_ids is not None:
        candidates &= sites["site_id"].isin(scenario.candidate_site_ids)
    if scenario.existing == "ignore":
        existing &= False
    keep = (candidates | existing).to_numpy()
    if not candidates.any() and not existing.any():
        raise InfeasibleProblem(f"no existing or candidate site of type {scenario.facility_type}" + (f" in town {scenario.town}" if scenario.town else ""))
    chosen = sites[keep].reset_index(drop=True)
    return demand.reset_index(drop=True), chosen, candidates.to_numpy()[keep], existing.to_numpy()[keep]


def _unit_bounds(region: Region, scenario: Scenario, sites: gpd.GeoDataFrame, demand: gpd.GeoDataFrame) -> list[UnitBounds]:
    out = []
    for level in sorted(set(scenario.unit_min) | set(scenario.unit_max), key=LEVEL_ORDER.index):
        units = region.units_at(level)
        if scenario.town is not None and level == "town":
            units = units[units["unit_id"] == demand["town"].iloc[0]]
        elif scenario.town is not None and level == "community":
            units = units[units["parent_id"] == demand["town"].iloc[0]]
        ids = units["unit_id"].tolist()
        index = {u: k for k, u in enumerate(ids)}
        site_unit = np.array([index.get(u, -1) for u in sites[level]], np.int64) if level in sites else np.full(len(sites), -1)
        minimum = np.full(len(ids), float(scenario.unit_min.get(level, 0)))
        if level in demand:
            people = demand.groupby(level)[scenario.group].sum()
            has = np.array([people.get(u, 0.0) > scenario.unit_min_residents for u in ids], bool)
            minimum = np.where(has, minimum, 0.0) if len(ids) else minimum
        maximum = np.full(len(ids), float(scenario.unit_max.get(level, np.inf)))
        out.append(UnitBounds(level, site_unit, tuple(units["name"].tolist()), minimum, maximum))
    return out


_COSTS_CACHE: "OrderedDict[tuple, DemandSiteCosts]" = OrderedDict()
_COSTS_LOCK = threading.Lock()
COSTS_CACHE_SIZE = 16
"""Travel-cost engines kept in memory (by network and point sets), so that repeated questions
about the same town (a street office asking again) skip snapping and graph building."""


def scenario_costs(region: Region, mode: str, weight: str, demand_xy: NDArray[np.float64], site_xy: NDArray[np.float64]) -> DemandSiteCosts:
    """A :class:`DemandSiteCosts`, reused when the same network and points were asked before."""
    engine_key = id(region.networks[mode]) if region.cost_kind(mode) == "network" else ("straight-line", *region.straight_line(mode))
    key = (engine_key, weight, hashlib.sha1(demand_xy.tobytes()).hexdigest(), hashlib.sha1(site_xy.tobytes()).hexdigest())
    with _COSTS_LOCK:
        if key in _COSTS_CACHE:
            _COSTS_CACHE.move_to_end(key)
            return _COSTS_CACHE[key]
    costs = demand_site_costs(region, mode, demand_xy, site_xy, weight=weight)  # type: ignore[arg-type]
    with _COSTS_LOCK:
        _COSTS_CACHE[key] = costs
        while len(_COSTS_CACHE) > COSTS_CACHE_SIZE:
            _COSTS_CACHE.popitem(last=False)
    return costs


def warm_costs(region: Region, scenario: Scenario) -> None:
    """Build and keep in memory (see :func:`scenario_costs`) the travel costs ``scenario`` will ask
    for, with the coverage within its standard.

    A service that solves each question in a forked worker process calls this in the parent first:
    what a child computes is lost when it ends, so without it every question would rebuild its
    costs (about 0.4 s on the sample region against 0.06 s for the rest of the solve)."""
    demand, sites, _, _ = _select(region, scenario)
    costs = scenario_costs(region, scenario.mode, scenario.weight, points_xy(demand, region.crs), points_xy(sites, region.crs))
    costs.coverage(scenario.standard, scenario.direction)  # type: ignore[arg-type]


def _costs_of(region: Region, scenario: Scenario) -> DemandSiteCosts:
    """The travel-cost engine ``scenario`` solves with (shared by scenarios on the same points and network)."""
    demand, sites, _, _ = _select(region, scenario)
    return scenario_costs(region, scenario.mode, scenario.weight, points_xy(demand, region.crs), points_xy(sites, region.crs))


def shared_coverage(region: Region, scenarios: list[Scenario]) -> list[tuple[list[int], CoverageMatrix]]:
    """The coverage matrices a set of scenarios on one region need, each computed once.

    Scenarios on the same demand points, sites, network and direction form a group; a group's
    matrix is computed at its widest standard (the narrower ones are filtered from it, the
    shortest paths being the same).  Returns (indices of the scenarios in the group, matrix).
    """
    groups: dict[tuple, list[int]] = {}
    for index, scenario in enumerate(scenarios):
        groups.setdefault((id(_costs_of(region, scenario)), scenario.direction), []).append(index)
    out = []
    for members in groups.values():
        widest = max(members, key=lambda i: scenarios[i].standard)
        out.append((members, _costs_of(region, scenarios[widest]).coverage(scenarios[widest].standard, scenarios[widest].direction)))  # type: ignore[arg-type]
    return out


def use_coverage(region: Region, scenario: Scenario, coverage: CoverageMatrix) -> None:
    """Give ``scenario``'s cost engine a coverage matrix computed before (e.g. by
    :func:`shared_coverage` in another process), so its solve does not search the network again.

    Raises ValueError when the matrix does not fit the scenario: other points, a narrower cutoff,
    another direction or cost unit."""
    costs = _costs_of(region, scenario)
    if coverage.costs.shape != (costs.n_demand, costs.n_sites):
        raise ValueError(f"the coverage matrix is {coverage.costs.shape[0]} × {coverage.costs.shape[1]}, "
                         f"the scenario has {costs.n_demand} demand points × {costs.n_sites} sites")
    if coverage.cutoff < scenario.standard or coverage.direction != scenario.direction or coverage.unit != costs.unit or coverage.kind != costs.kind:
        raise ValueError(f"the coverage matrix ({coverage.kind}, {coverage.direction}, within {coverage.cutoff:g} {coverage.unit}) "
                         f"does not hold the scenario's pairs ({costs.kind}, {scenario.direction}, within {scenario.standard:g} {costs.unit})")
    memo = costs.__dict__.setdefault("_coverage_memo", {})
    memo[(float(coverage.cutoff), coverage.direction)] = coverage


def _context(region: Region, scenario: Scenario) -> tuple[Problem, _Context]:
    demand, sites, is_candidate, is_existing = _select(region, scenario)
    costs = scenario_costs(region, scenario.mode, scenario.weight, points_xy(demand, region.crs), points_xy(sites, region.crs))
    coverage = costs.coverage(scenario.standard, scenario.direction).costs  # type: ignore[arg-type]
    weights = demand[scenario.group].to_numpy(float)
    model = scenario.model
    D, S = len(demand), len(sites)
    if model in ("mclp", "lscp"):
        matrix, complete = PairMatrix.of(coverage), True
    elif model == "attendance":
        # every pair within the decay's cutoff: nobody attends beyond it, so these pairs are complete
        cutoff = _decay_cutoff(scenario)
        matrix, complete = costs.coverage(cutoff, scenario.direction).costs, True  # type: ignore[arg-type]
    elif D * S <= DENSE_MAX_CELLS:
        full = costs.full(scenario.direction)  # type: ignore[arg-type]
        r, c = np.nonzero(np.isfinite(full))  # an unreachable pair is no pair: the matrix is still complete
        matrix, complete = pair_matrix(r, c, full[r, c], (D, S)), True
    else:
        idx, val = costs.nearest(scenario.k_nearest, scenario.direction)  # type: ignore[arg-type]
        ok = idx >= 0
        r = np.repeat(np.arange(D), idx.shape[1])[ok.ravel()]
        matrix, complete = pair_matrix(r, idx[ok], val[ok], (D, S)), False
    ids = sites["site_id"].to_numpy()
    required = np.isin(ids, scenario.required_sites)
    forbidden = np.isin(ids, scenario.forbidden_sites) | ~(is_candidate | is_existing)
    decay = None
    if scenario.decay:
        d = scenario.decay
        decay = Decay(str(d.get("kind", "linear")), _decay_cutoff(scenario), float(d.get("beta", 1.0)), 60.0 if scenario.weight == "time" else 100.0)  # type: ignore[arg-type]
    capacity = None
    if scenario.capacitated:
        capacity = sites["capacity"].to_numpy(float)
        capacity = np.where(np.isnan(capacity), np.inf, capacity)
    problem = Problem(
        model=model, weights=weights, costs=matrix, standard=scenario.standard, n_new=scenario.n_new, budget=scenario.budget,
        site_cost=sites["cost"].to_numpy(float), existing=is_existing, closable=scenario.existing == "closable",
        required=required, forbidden=forbidden, capacity=capacity, unit_bounds=_unit_bounds(region, scenario, sites, demand),
        coverage_target=scenario.coverage_target, decay=decay, complete=complete, cost_unit="s" if scenario.weight == "time" else "m",
        allow_uncovered=scenario.allow_uncovered, allow_unserved=scenario.allow_unserved,
    )
    return problem, _Context(demand, sites, is_candidate, is_existing, costs, coverage, weights)


def _decay_cutoff(scenario: Scenario) -> float:
    """The attendance decay's cutoff in cost units (seconds or metres)."""
    d = scenario.decay or {}
    return float(d.get("cutoff_min", 20)) * 60 if scenario.weight == "time" else float(d.get("cutoff_m", 1500))


# ---------------------------------------------------------------------- explaining the solution
def _rank_sites(coverage: csr_matrix, weights: NDArray[np.float64], is_open: NDArray[np.bool_], existing: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Order open sites by what each adds (existing first, then greedily); return (rank, adds).
    ``coverage``: the pairs within the standard (CSR, or CSC to spare the conversion)."""
    pattern = coverage.tocsc()  # only its pattern is read
    covered = np.zeros(coverage.shape[0], bool)
    rank = np.full(coverage.shape[1], -1, np.int64)
    adds = np.zeros(coverage.shape[1])
    order: list[int] = []
    for j in np.flatnonzero(is_open & existing):
        rows = pattern.indices[pattern.indptr[j]:pattern.indptr[j + 1]]
        adds[j] = weights[rows[~covered[rows]]].sum()
        covered[rows] = True
        order.append(int(j))
    remaining = set(np.flatnonzero(is_open & ~existing).tolist())
    while remaining:
        best, best_gain = -1, -1.0
        for j in sorted(remaining):
            rows = pattern.indices[pattern.indptr[j]:pattern.indptr[j + 1]]
            gain = weights[rows[~covered[rows]]].sum()
            if gain > best_gain:
                best, best_gain = j, gain
        rows = pattern.indices[pattern.indptr[best]:pattern.indptr[best + 1]]
        covered[rows] = True
        adds[best] = best_gain
        order.append(best)
        remaining.discard(best)
    for k, j in enumerate(order):
        rank[j] = k + 1
    return rank, adds


def _explain(region: Region, scenario: Scenario, problem: Problem, ctx: _Context, solution: Solution, seconds: float) -> Plan:
    is_open = solution.is_open
    unit_factor = 60.0 if scenario.weight == "time" else 1.0
    unit_name = "min" if scenario.weight == "time" else "m"
    open_idx = np.flatnonzero(is_open)
    nearest_site, nearest_cost = _nearest_open(scenario, ctx, is_open)
    within = nearest_cost <= scenario.standard
    w = ctx.weights

    pattern = ctx.coverage.copy()
    pattern.data[:] = 1.0
    counts = np.asarray(pattern[:, open_idx].sum(axis=1)).ravel() if len(open_idx) else np.zeros(len(w))
    rank, adds = _rank_sites(ctx.coverage, w, is_open, ctx.is_existing)
    sole = np.zeros(len(ctx.sites))
    csc = pattern.tocsc()
    for j in open_idx:
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        sole[j] = w[rows[counts[rows] == 1]].sum()
    assigned = np.bincount(nearest_site[nearest_site >= 0], weights=w[nearest_site >= 0], minlength=len(ctx.sites))
    potential = np.asarray(csc.multiply(w[:, None]).sum(axis=0)).ravel() if csc.nnz else np.zeros(len(ctx.sites))

    sites = ctx.sites.copy()
    sites["plan_status"] = np.where(ctx.is_existing, "existing", "new")
    sites["rank"] = rank
    sites["adds_persons"] = adds.round(1)
    sites["sole_persons"] = sole.round(1)
    sites["assigned_persons"] = assigned.round(1)
    sites["potential_persons"] = potential.round(1)
    unit_names = dict(zip(region.units["unit_id"], region.units["name"]))
    levels = [lv for lv in LEVEL_ORDER if lv in sites]
    for lv in ("town", "community"):
        if lv in sites:
            sites[f"{lv}_name"] = sites[lv].map(unit_names)
    names = [f"{lv}_name" for lv in ("town", "community") if f"{lv}_name" in sites]
    cols = ["site_id", "name", "type", "plan_status", "rank", "adds_persons", "sole_persons", "assigned_persons", "capacity", "cost"] + levels + names + ["geometry"]
    open_sites = sites[is_open][cols].sort_values("rank").reset_index(drop=True)
    candidates = sites[ctx.is_candidate][["site_id", "name", "type", "potential_persons", "cost"] + levels + names + ["geometry"]].copy()
    candidates["selected"] = is_open[ctx.is_candidate]

    demand = ctx.demand[["demand_id", scenario.group] + [lv for lv in LEVEL_ORDER if lv in ctx.demand] + ["geometry"]].copy()
    demand["nearest_site"] = np.where(nearest_site >= 0, ctx.sites["site_id"].to_numpy()[np.maximum(nearest_site, 0)], None)
    demand["nearest_cost"] = nearest_cost / unit_factor
    demand["within_standard"] = within

    units_rows = []
    site_level_counts = {}
    for level in ("town", "community"):
        if level not in ctx.demand or not len(region.units_at(level)):
            continue
        layer = region.units_at(level)
        if scenario.town is not None:
            town_id = ctx.demand["town"].iloc[0]
            layer = layer[(layer["unit_id"] == town_id) | (layer["parent_id"] == town_id)]
            layer = layer[layer["level"] == level]
        figures = _unit_figures(layer["unit_id"].to_numpy(), ctx.demand[level].to_numpy(), w, within, nearest_cost)
        open_sites_level = sites[is_open]
        site_counts = open_sites_level.groupby([level, "plan_status"]).size() if level in open_sites_level and len(open_sites_level) else pd.Series(dtype=int)
        bounds = {b.level: b for b in problem.unit_bounds}
        minimum_by_name = {}
        if level in bounds:
            for i, nm in reversed(list(enumerate(bounds[level].names))):  # the first unit of a name, as before
                minimum_by_name[nm] = float(bounds[level].minimum[i])
        for unit_id, name, parent, people, covered, mean, worst in zip(layer["unit_id"], layer["name"], layer.get("parent_id", pd.Series(None, index=layer.index)),
                                                                       *figures):
            existing_n = int(site_counts.get((unit_id, "existing"), 0))
            new_n = int(site_counts.get((unit_id, "new"), 0))
            minimum = minimum_by_name.get(name) if level in bounds else None
            units_rows.append({
                "level": level, "unit_id": unit_id, "name": name, "parent_id": parent,
                "residents": round(people, 1), "covered": round(covered, 1),
                "covered_share": round(covered / people, 4) if people > 0 else None,
                f"mean_{unit_name}": None if mean is None else round(mean / unit_factor, 2), f"worst_{unit_name}": None if worst is None else round(worst / unit_factor, 2),
                "existing_sites": existing_n, "new_sites": new_n, "minimum_sites": minimum,
                "compliant": None if minimum is None else existing_n + new_n >= minimum,
            })
        site_level_counts[level] = site_counts
    units = pd.DataFrame(units_rows)

    compliance = []
    for b in problem.unit_bounds:
        failing = units[(units["level"] == b.level) & (units["compliant"] == False)]["name"].tolist() if len(units) else []  # noqa: E712
        need = scenario.unit_min.get(b.level)
        compliance.append({
            "target": (f"at least {need:g} {FACILITY_TYPES[scenario.facility_type]['en']} per {ADMIN_LEVELS[b.level]['en'].lower()}" if need
                       else f"at most {scenario.unit_max.get(b.level):g} {FACILITY_TYPES[scenario.facility_type]['en']} per {ADMIN_LEVELS[b.level]['en'].lower()}"),
            "target_zh": f"每个{ADMIN_LEVELS[b.level]['zh']}至少 {need:g} 个{FACILITY_TYPES[scenario.facility_type]['zh']}" if need else f"每个{ADMIN_LEVELS[b.level]['zh']}至多 {scenario.unit_max.get(b.level):g} 个{FACILITY_TYPES[scenario.facility_type]['zh']}",
            "met": not failing, "units_failing": failing,
            "units_exempt": [b.names[u] for u in np.flatnonzero(b.minimum == 0)] if need else [],
            "exempt_rule": f"units with at most {scenario.unit_min_residents:g} residents of {scenario.group} are exempt" if need else None,
        })
    total = float(w.sum())
    covered_total = float(w[within].sum())
    if scenario.coverage_target is not None:
        compliance.append({"target": f"{scenario.coverage_target:.0%} of {scenario.group} within the standard", "target_zh": f"{POPULATION_GROUPS[scenario.group]['zh']}覆盖率不低于 {scenario.coverage_target:.0%}",
                           "met": covered_total >= scenario.coverage_target * total - 1e-6, "units_failing": []})
    n_new = int((is_open & ~ctx.is_existing).sum())
    summary = {
        "scenario": scenario.name,
        "region": region.name,
        "region_version": region.provenance.get("version"),
        "description": {"en": scenario.describe("en"), "zh": scenario.describe("zh")},
        "data": region.data_label,
        "model": scenario.model,
        "group": scenario.group,
        "residents_in_group": round(total, 1),
        "covered_persons": round(covered_total, 1),
        "covered_share": round(covered_total / total, 4) if total > 0 else None,
        "covered_by_existing_share": _existing_share(ctx),
        f"mean_{unit_name}_to_nearest": round(float(np.average(nearest_cost[np.isfinite(nearest_cost)], weights=w[np.isfinite(nearest_cost)])) / unit_factor, 2) if np.isfinite(nearest_cost).any() and w[np.isfinite(nearest_cost)].sum() > 0 else None,
        f"worst_{unit_name}_to_nearest": round(float(nearest_cost[(w > 0) & np.isfinite(nearest_cost)].max()) / unit_factor, 2) if ((w > 0) & np.isfinite(nearest_cost)).any() else None,
        "uncoverable_persons": round(float(solution.stats.get("uncoverable_weight", 0.0)), 1),
        "unserved_persons": round(float(solution.stats.get("unserved_persons", 0.0)), 1),
        "existing_sites": int((is_open & ctx.is_existing).sum()),
        "new_sites": n_new,
        "candidates_considered": int(ctx.is_candidate.sum()),
        "compliant": all(c["met"] for c in compliance),
        "solver": _solver_account(scenario, problem, solution, w, nearest_cost),
        "costs": cost_account(region, scenario.mode, ctx.costs.kind, ctx.costs.unit, scenario.direction,
                              int(ctx.costs.demand_snap.too_far.sum()) if ctx.costs.demand_snap is not None else 0),
        "seconds_total": round(seconds, 3),
    }
    reported = set(units["unit_id"]) if len(units) else set()
    shapes = region.units[region.units["unit_id"].isin(reported)][["unit_id", "name", "level", "parent_id", "geometry"]].reset_index(drop=True)
    return Plan(scenario, open_sites, candidates.reset_index(drop=True), units, compliance, summary, demand, shapes)


def _nearest_open(scenario: Scenario, ctx: _Context, is_open: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For every demand point, its nearest open site (-1: none reachable) and the cost to it
    (seconds or metres), beyond the standard too."""
    open_idx = np.flatnonzero(is_open)
    if not len(open_idx):
        return np.full(len(ctx.demand), -1), np.full(len(ctx.demand), np.inf)
    near_idx, near_cost = ctx.costs.engine.nearest(ctx.costs.site_index[open_idx], ctx.costs.demand_index, 1, reverse=scenario.direction == "demand_to_site")
    return np.where(near_idx[:, 0] >= 0, open_idx[np.maximum(near_idx[:, 0], 0)], -1), near_cost[:, 0]


def reached(coverage: csr_matrix, sites: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Demand points with a pair within the standard to any of ``sites`` (column indices) in
    ``coverage`` (the pairs within the standard; CSC spares a conversion)."""
    if not len(sites):
        return np.zeros(coverage.shape[0], bool)
    return np.diff(coverage.tocsc()[:, sites].tocsr().indptr) > 0


def _existing_share(ctx: _Context) -> float:
    """Share of the group within the standard of an existing site (before the plan), 4 decimals."""
    total = float(ctx.weights.sum())
    if total <= 0 or not ctx.is_existing.any():
        return 0.0
    return round(float(ctx.weights[reached(ctx.coverage, np.flatnonzero(ctx.is_existing))].sum()) / total, 4)


def _unit_figures(unit_ids: NDArray, demand_units: NDArray, weights: NDArray[np.float64], within: NDArray[np.bool_],
                  nearest_cost: NDArray[np.float64]) -> tuple[list[float], list[float], list[float | None], list[float | None]]:
    """Per unit of ``unit_ids``: residents, covered residents, the weighted mean and the worst
    cost to the nearest open site over its demand points with a finite cost (None without any)."""
    index = {u: k for k, u in enumerate(unit_ids)}
    code = np.fromiter((index.get(u, -1) for u in demand_units), dtype=np.int64, count=len(demand_units))
    mine = code >= 0
    code, w, ok, cost = code[mine], weights[mine], within[mine], nearest_cost[mine]
    n = len(unit_ids)
    people = np.bincount(code, weights=w, minlength=n)
    covered = np.bincount(code, weights=w * ok, minlength=n)
    finite = np.isfinite(cost)
    w_finite = np.bincount(code[finite], weights=w[finite], minlength=n)
    weighted = np.bincount(code[finite], weights=(w * cost)[finite], minlength=n)
    worst = np.full(n, -np.inf)
    counted = finite & (w > 0)
    np.maximum.at(worst, code[counted], cost[counted])
    means = [float(weighted[k] / w_finite[k]) if w_finite[k] > 0 else None for k in range(n)]
    worsts = [float(worst[k]) if np.isfinite(worst[k]) else None for k in range(n)]
    return people.tolist(), covered.tolist(), means, worsts


def _solver_account(scenario: Scenario, problem: Problem, solution: Solution, weights: NDArray[np.float64], nearest_cost: NDArray[np.float64]) -> dict[str, Any]:
    """The solver's report, with the p-median objective re-priced on the full network when the
    solver saw only each point's nearest sites (its own figure then under-states the trips)."""
    objective, bound, proven = float(solution.objective), float(solution.bound), bool(solution.proven)
    stats = dict(solution.stats)
    if scenario.model == "pmedian" and not problem.complete and np.isfinite(nearest_cost[weights > 0]).all():
        true = float((weights * np.where(weights > 0, nearest_cost, 0.0)).sum())
        stats["objective_on_lists"] = objective
        if abs(true - objective) > 1e-6 * max(1.0, abs(true)):
            proven = False
        objective = true
    gap = 0.0 if proven else (max(0.0, (objective - bound) / abs(objective)) if np.isfinite(bound) and objective else float("inf"))
    if not proven and problem.model in ("mclp", "attendance"):  # maximisation: the bound lies above
        gap = max(0.0, (bound - objective) / abs(objective)) if np.isfinite(bound) and objective else float("inf")
    return {"name": solution.solver, "objective": objective, "bound": bound, "gap": gap, "proven_optimal": proven,
            "seconds": round(solution.seconds, 3), "stats": stats}


def cost_account(region: Region, mode: str, kind: str, unit: str, direction: str, far_from_roads: int = 0) -> dict[str, Any]:
    """How a plan's travel costs were computed, with the zh/en statement every output of it shows."""
    out: dict[str, Any] = {"kind": kind, "kind_label": COST_KINDS.get(kind, {"zh": kind, "en": kind}), "unit": unit,
                           "direction": direction, "mode": mode, "demand_far_from_roads": far_from_roads}
    if kind == "straight-line":
        detour, speed = region.straight_line(mode) if region.cost_kind(mode) == "straight-line" else (1.3, 0.9)
        out.update(detour_factor=detour, speed_mps=speed, note={lang: region.cost_note(lang) for lang in ("zh", "en")})
    return out


StageListener = Callable[[float, str], None]
"""``callback(fraction done 0–1, message)`` for :func:`run_scenario`'s stages."""


def run_scenario(region: Region, scenario: Scenario, *, progress: StageListener | None = None) -> Plan:
    """Build, solve and explain ``scenario`` on ``region``.

    ``progress`` hears the real stages: travel costs (to 0.3), the model (0.35), the search with
    its incumbent and bound (0.4–0.9, by the share of the time limit used) and the explanation.

    Raises
    ------
    ValueError
        A field of the scenario does not fit the region (the message names the field).
    InfeasibleProblem
        The constraints cannot be met (the message names the unit or count at fault).
    """
    started = time.perf_counter()
    say = progress or (lambda _f, _m: None)
    scenario.validate(region)
    say(0.05, "computing travel costs")
    problem, ctx = _context(region, scenario)
    say(0.35, f"building the model ({problem.n_demand:,} demand points × {problem.n_sites:,} sites, {problem.costs.nnz:,} pairs)")
    search_started = time.perf_counter()

    def searching(message: str, incumbent: float | None, bound: float | None) -> None:
        share = min(1.0, (time.perf_counter() - search_started) / max(scenario.time_limit, 1e-9))
        figures = "".join(f", {name} {value:,.6g}" for name, value in (("incumbent", incumbent), ("bound", bound)) if value is not None)
        say(0.4 + 0.5 * share, f"searching: {message}{figures}")

    with reporting(searching):
        solution = solve(problem, method=scenario.method, time_limit=scenario.time_limit)  # type: ignore[arg-type]
    say(0.9, "explaining the plan")
    return _explain(region, scenario, problem, ctx, solution, time.perf_counter() - started)


# ---------------------------------------------------------------------- hierarchies
@dataclass
class LevelSpec:
    """One level of a facility hierarchy on a region.

    Attributes
    ----------
    name
        e.g. ``"flagship"`` (市级龙头), ``"town_centre"`` (镇街示范), ``"community_venue"`` (村居场所).
    site_types
        Facility types whose candidate sites may host this level.
    existing_types
        Facility types whose existing sites already are this level (default: ``site_types``).
    unit_level
        Admin level of the per-unit requirement (``city``, ``town``, ``community``).
    minimum, maximum
        Facilities per unit of ``unit_level`` (units without residents of the group are exempt
        from the minimum).
    standard_min
        Walking standard of this level, minutes.
    weight
        Weight of this level's coverage in the joint objective.
    n_new
        Most new facilities of this level (None: as the unit bounds require and allow).
    """

    name: str
    site_types: tuple[str, ...]
    unit_level: str
    existing_types: tuple[str, ...] | None = None
    minimum: float = 1.0
    maximum: float = float("inf")
    standard_min: float = 15.0
    weight: float = 1.0
    n_new: int | None = None


def run_hierarchy(region: Region, levels: list[LevelSpec], *, group: str = "pop_60", mode: str = "walk", time_limit: float = 60.0) -> dict[str, Any]:
    """Plan all levels of a hierarchy as one problem (see :mod:`planner.location.hierarchy`).

    Returns a JSON-friendly dictionary: per level the open sites (existing/new) and the share of
    the group within its standard, per-unit compliance, and the solver's account.
    """
    from planner.location.hierarchy import Level, solve_hierarchy

    if group not in GROUP_COLUMNS:
        raise ValueError(f"group: unknown group {group!r}")
    types = sorted({t for lv in levels for t in (*lv.site_types, *(lv.existing_types or ()))})
    sites = region.sites[region.sites["type"].isin(types)].reset_index(drop=True)
    if sites.empty:
        raise InfeasibleProblem(f"no site of types {', '.join(types)} in region '{region.name}'")
    demand = region.demand
    costs = demand_site_costs(region, mode, points_xy(demand, region.crs), points_xy(sites, region.crs))
    weights = demand[group].to_numpy(float)
    built = []
    for spec in levels:
        if spec.unit_level not in ADMIN_LEVELS or not len(region.units_at(spec.unit_level)):
            raise ValueError(f"level {spec.name}: region has no {spec.unit_level} units")
        units = region.units_at(spec.unit_level)
        ids = units["unit_id"].tolist()
        index = {u: k for k, u in enumerate(ids)}
        site_unit = np.array([index.get(u, -1) for u in sites[spec.unit_level]], np.int64)
        people = demand.groupby(spec.unit_level)[group].sum()
        minimum = np.array([spec.minimum if people.get(u, 0.0) > 0 else 0.0 for u in ids])
        bounds = UnitBounds(spec.unit_level, site_unit, tuple(units["name"]), minimum, np.full(len(ids), spec.maximum))
        candidate = sites["type"].isin(spec.site_types).to_numpy() & (sites["status"] == "candidate").to_numpy()
        existing = sites["type"].isin(spec.existing_types or spec.site_types).to_numpy() & (sites["status"] == "existing").to_numpy()
        coverage = costs.coverage(spec.standard_min * 60.0).costs
        built.append(Level(spec.name, coverage, candidate, existing, spec.weight, spec.n_new, [bounds]))
    # an existing site hosts the first level listing its type
    taken = np.zeros(len(sites), bool)
    for lv in built:
        lv.existing &= ~taken
        taken |= lv.existing
    sol = solve_hierarchy(weights, built, time_limit=time_limit)
    total = float(weights.sum())
    out: dict[str, Any] = {"data": region.data_label, "group": group, "costs": cost_account(region, mode, costs.kind, costs.unit, "demand_to_site"),
                           "levels": [], "solver": {
        "objective": sol.objective, "bound": sol.bound, "gap": sol.gap, "proven_optimal": sol.proven, "seconds": round(sol.seconds, 3)}}
    for spec, lv in zip(levels, built):
        is_open = sol.open_by_level[spec.name]
        chosen = sites[is_open]
        per_unit = chosen.groupby(spec.unit_level).size()
        units = region.units_at(spec.unit_level)
        people = demand.groupby(spec.unit_level)[group].sum()
        failing = [row["name"] for _, row in units.iterrows() if people.get(row["unit_id"], 0) > 0 and per_unit.get(row["unit_id"], 0) < spec.minimum]
        out["levels"].append({
            "name": spec.name, "unit_level": spec.unit_level, "standard_min": spec.standard_min,
            "sites": [{"site_id": r["site_id"], "name": r["name"], "type": r["type"], "plan_status": "existing" if lv.existing[k] else "new",
                       spec.unit_level: r[spec.unit_level], "lon": round(r.geometry.x, 7), "lat": round(r.geometry.y, 7)}
                      for k, (_, r) in zip(np.flatnonzero(is_open), chosen.iterrows())],
            "covered_persons": round(sol.covered_by_level[spec.name], 1),
            "covered_share": round(sol.covered_by_level[spec.name] / total, 4) if total else None,
            "minimum_per_unit": spec.minimum, "units_failing": failing, "compliant": not failing,
        })
    return out
