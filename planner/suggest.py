"""Site suggestions for one town, answered from warm contexts.

A street office asks "k more meal points in my town within 10 minutes": a town-sized location
problem.  :func:`planner.scenario.run_scenario` answers it in full — travel costs, model, solve,
and an explanation of every site, unit and target — in tens of milliseconds, most of which is the
explanation and the model, not the search.  Many offices ask varied questions (their own town,
their own k and standard) about the same region, so :class:`SuggestionEngine` keeps, per question
without its k (town, facility type, group, mode, standard, candidates), the model and its context
warm, solves the question's k with the same solver :func:`run_scenario` uses, and works out only
what the answer needs: the new sites ranked by what each adds and the town's coverage before and
after.  The full plan of a suggestion (for its map and workbook) is :meth:`SuggestionEngine.plan`:
the same explanation :func:`run_scenario` writes, of the same solution — so a suggestion is the one
a fresh solve gives, by construction (tests/test_suggest.py checks it against ``run_scenario``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from geodata.region import Region
from planner.location.problem import Problem, Solution
from planner.location.solve import solve
from planner.scenario import Plan, Scenario, _Context, _context, _existing_share, _explain, _rank_sites, reached, warm_costs


WIDE_STANDARD_MIN = 15.0
"""Travel-time standard (minutes) whose coverage is searched first for a town's smaller standards."""


@dataclass(frozen=True)
class Suggestion:
    """A town question's answer: the new sites ranked, and what they change.

    ``site_ids``, ``names``, ``lon``/``lat`` (WGS-84 degrees) and ``adds_persons`` (residents of the
    group each new site adds, in rank order) describe the new sites; ``covered_before`` and
    ``covered_after`` are the town's covered shares (0–1) of the group without and with them;
    ``solution`` is the solver's own result (its bound and proof), ``seconds`` the time taken.
    """

    scenario: Scenario
    solution: Solution
    site_ids: list[str]
    names: list[str]
    lon: list[float]
    lat: list[float]
    adds_persons: list[float]
    covered_before: float
    covered_after: float
    residents: float
    seconds: float


@dataclass(frozen=True)
class _SiteFacts:
    """What answers read of a model: its sites as arrays, the group's residents, the share covered
    before, the coverage by site (read once per model, not per question)."""

    site_ids: np.ndarray
    names: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    residents: float
    covered_before: float
    coverage_csc: object
    """The pairs within the standard, by site (to find who the open sites reach)."""

    @classmethod
    def of(cls, ctx: _Context) -> "_SiteFacts":
        return cls(site_ids=ctx.sites["site_id"].astype(str).to_numpy(object), names=ctx.sites["name"].astype(str).to_numpy(object),
                   lon=np.array([round(float(v), 7) for v in ctx.sites.geometry.x]), lat=np.array([round(float(v), 7) for v in ctx.sites.geometry.y]),
                   residents=float(ctx.weights.sum()), covered_before=_existing_share(ctx), coverage_csc=ctx.coverage.tocsc())


def _plain(value: object) -> object:
    """A JSON-ready copy of solver statistics (numbers as Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def suggestion_record(suggestion: Suggestion) -> dict:
    """A suggestion as plain JSON data: its answer and what its full plan needs of the solver
    (the open sites by id, objective, bound, proof, method, seconds, statistics)."""
    sol = suggestion.solution
    return {"site_ids": suggestion.site_ids, "names": suggestion.names, "lon": suggestion.lon, "lat": suggestion.lat,
            "adds_persons": suggestion.adds_persons, "covered_before": suggestion.covered_before, "covered_after": suggestion.covered_after,
            "residents": suggestion.residents, "seconds": suggestion.seconds,
            "solution": {"open_rows": np.flatnonzero(sol.is_open).tolist(), "n_sites": int(len(sol.is_open)), "objective": float(sol.objective),
                         "bound": float(sol.bound), "proven": bool(sol.proven), "solver": sol.solver, "seconds": float(sol.seconds),
                         "stats": _plain(sol.stats)}}


def suggestion_from_record(scenario: Scenario, record: dict) -> Suggestion:
    """The :class:`Suggestion` a :func:`suggestion_record` was made of (for writing its full plan)."""
    sol = record["solution"]
    is_open = np.zeros(int(sol["n_sites"]), bool)
    is_open[np.asarray(sol["open_rows"], dtype=np.int64)] = True
    solution = Solution(is_open=is_open, assignment=np.zeros(0, np.int64), served_share=np.zeros(0), objective=float(sol["objective"]),
                        bound=float(sol["bound"]), proven=bool(sol["proven"]), solver=str(sol["solver"]), seconds=float(sol["seconds"]),
                        stats=dict(sol["stats"]))
    return Suggestion(scenario=scenario, solution=solution, site_ids=list(record["site_ids"]), names=list(record["names"]), lon=list(record["lon"]),
                      lat=list(record["lat"]), adds_persons=list(record["adds_persons"]), covered_before=float(record["covered_before"]),
                      covered_after=float(record["covered_after"]), residents=float(record["residents"]), seconds=float(record["seconds"]))


class SuggestionEngine:
    """Answers town questions on one region version from models kept warm.

    Parameters
    ----------
    region
        The region version the answers are about (a new version needs a new engine).
    max_models
        Questions without their k kept warm at most (least recently used dropped first).

    Thread-safe: several requests may ask at once (each solve runs outside the engine's lock).
    """

    def __init__(self, region: Region, max_models: int = 256) -> None:
        self.region = region
        self.max_models = int(max_models)
        self._models: OrderedDict[str, tuple[Problem, _Context, _SiteFacts]] = OrderedDict()
        self._lock = threading.Lock()

    def reset_lock(self) -> None:
        """A new lock (for a forked process: a lock another thread held at the fork stays held)."""
        self._lock = threading.Lock()

    def size(self, scenario: Scenario) -> int:
        """Pairs (demand point, site) of the question's model (builds it if needed)."""
        problem, _ = self.model(scenario)
        return int(problem.costs.nnz)

    @staticmethod
    def _key(scenario: Scenario) -> str:
        """The question without what does not change its model (its k, name and time limit)."""
        return repr(dataclasses.replace(scenario, n_new=0, name="", time_limit=0.0))

    def _entry(self, scenario: Scenario) -> tuple[Problem, _Context, _SiteFacts]:
        """The question's model without its k, its context and its sites' facts (built and
        validated on first use, then kept)."""
        key = self._key(scenario)
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
        if found is None:
            scenario.validate(self.region)
            if scenario.standard_min is not None and scenario.standard_min < WIDE_STANDARD_MIN:
                # one search at the wider standard serves every smaller one of this town (filtered, bit for bit the same)
                warm_costs(self.region, dataclasses.replace(scenario, standard_min=WIDE_STANDARD_MIN))
            problem, ctx = _context(self.region, dataclasses.replace(scenario, n_new=0))
            found = (problem, ctx, _SiteFacts.of(ctx))
            with self._lock:
                self._models[key] = found
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
        return found

    def model(self, scenario: Scenario) -> tuple[Problem, _Context]:
        """The question's model with its k (built on first use, then kept)."""
        problem, ctx, _ = self._entry(scenario)
        return dataclasses.replace(problem, n_new=scenario.n_new, budget=scenario.budget), ctx

    def suggest(self, scenario: Scenario) -> Suggestion:
        """Solve ``scenario`` (a town question, ``Scenario(town=..., n_new=k)``) and rank its new sites.

        Raises ValueError (a field that does not fit the region) or InfeasibleProblem, as
        :func:`run_scenario` does."""
        if scenario.town is None:
            raise ValueError("town: a suggestion is about one town (Scenario(town=...))")
        started = time.perf_counter()
        if scenario.n_new is not None and scenario.n_new < 0:
            raise ValueError("n_new: must be at least 0")
        base, ctx, facts = self._entry(scenario)  # validated when built: the rest of the question is the same
        problem = dataclasses.replace(base, n_new=scenario.n_new, budget=scenario.budget)
        solution = solve(problem, method=scenario.method, time_limit=scenario.time_limit)  # type: ignore[arg-type]
        is_open = solution.is_open
        rank, adds = _rank_sites(facts.coverage_csc, ctx.weights, is_open, ctx.is_existing)  # type: ignore[arg-type]
        new = np.flatnonzero(is_open & ~ctx.is_existing)
        new = new[np.argsort(rank[new], kind="stable")]
        covered = float(ctx.weights[reached(facts.coverage_csc, np.flatnonzero(is_open))].sum())  # type: ignore[arg-type]
        return Suggestion(scenario=scenario, solution=solution, site_ids=facts.site_ids[new].tolist(), names=facts.names[new].tolist(),
                          lon=facts.lon[new].tolist(), lat=facts.lat[new].tolist(), adds_persons=[round(float(adds[j]), 1) for j in new],
                          covered_before=facts.covered_before, covered_after=round(covered / facts.residents, 4) if facts.residents > 0 else 0.0,
                          residents=round(facts.residents, 1), seconds=time.perf_counter() - started)

    def plan(self, suggestion: Suggestion) -> Plan:
        """The suggestion's full plan — sites, candidates, units, targets, summary — as
        :func:`run_scenario` explains it, of the suggestion's own solution (nothing solved again).

        Raises ValueError if the suggestion's open sites are not this question's (another region
        version)."""
        problem, ctx = self.model(suggestion.scenario)
        opened = ctx.sites["site_id"].astype(str).to_numpy()[suggestion.solution.is_open] if len(suggestion.solution.is_open) == len(ctx.sites) else None
        new = set(suggestion.site_ids)
        if opened is None or not new <= set(opened.tolist()):
            raise ValueError("the suggestion's sites are not those of this region version's question")
        return _explain(self.region, suggestion.scenario, problem, ctx, suggestion.solution, suggestion.seconds)
