"""Vehicle routing with time windows, shifts, capacities and optional stops, solved by PyVRP.

A small matrix-level layer: :class:`RoutingProblem` holds travel-time and distance matrices
(one per travel *profile*, e.g. walking and driving teams), stops with service times, time
windows, supply loads and priorities (*prizes*), and fleets of teams with their depot, shift and
capacity.  :func:`solve_routes` hands it to PyVRP's iterated local search and returns plain
routes with arrival and departure times.  Patrols (:mod:`planner.routing.patrol`) and benchmarks (Solomon
VRPTW) both build on it.

Units: times are **seconds** (any common origin, e.g. seconds after midnight of the shift's
first day), distances **metres** (or the benchmark's units), loads are whole units of supplies.

Objective, in this order: serve every required stop; collect the most prize (priority) among
optional stops; then the least travel cost (duration or distance, see ``RoutingProblem.cost``).
The lexicographic order is enforced by scaling prizes above any possible travel cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from planner.location.problem import InfeasibleProblem

CostKind = Literal["duration", "distance"]
UNREACHABLE = 1 << 40
"""Matrix entry PyVRP receives for a leg that does not exist (seconds or metres)."""


@dataclass(frozen=True)
class Fleet:
    """A group of identical teams (vehicles).

    Attributes
    ----------
    count
        Number of teams available (≥ 1).
    depot
        Index of the depot (0-based, into the problem's depots) where they start and end.
    shift
        ``(start, end)`` seconds: earliest departure and latest return.
    max_duration
        Longest route from departure to return, seconds (default: the shift length).
    capacity
        Supplies a team carries (``None``: no limit).
    profile
        Index of the travel profile (matrix) the teams use.
    name
        Label used in outputs.
    """

    count: int
    depot: int = 0
    shift: tuple[float, float] = (0.0, 86_400.0)
    max_duration: float | None = None
    capacity: int | None = None
    profile: int = 0
    name: str = "team"


@dataclass
class RoutingProblem:
    """Depots, stops and fleets over travel matrices (see module docstring for units).

    Locations are numbered depots first, then stops: ``durations[k][a, b]`` is the travel time
    of profile ``k`` from location ``a`` to ``b`` (``inf`` when there is no path).
    """

    durations: list[NDArray[np.float64]]
    distances: list[NDArray[np.float64]]
    n_depots: int
    service: NDArray[np.float64]
    windows: NDArray[np.float64]
    fleets: list[Fleet]
    prize: NDArray[np.float64] | None = None
    required: NDArray[np.bool_] | None = None
    load: NDArray[np.int64] | None = None
    cost: CostKind = "duration"
    depot_windows: NDArray[np.float64] | None = None

    @property
    def n_stops(self) -> int:
        """Number of stops (locations after the depots)."""
        return int(len(self.service))

    def validated(self) -> "RoutingProblem":
        """Check shapes and values; fill defaults.  Raises ValueError naming the field."""
        n_loc = self.n_depots + self.n_stops
        if self.n_depots < 1:
            raise ValueError("depots: at least one depot is needed")
        if not self.fleets:
            raise ValueError("fleets: no teams (at least one team is needed)")
        if len(self.durations) != len(self.distances) or not self.durations:
            raise ValueError("durations/distances: one matrix of each per profile")
        for k, (dur, dist) in enumerate(zip(self.durations, self.distances)):
            if dur.shape != (n_loc, n_loc) or dist.shape != (n_loc, n_loc):
                raise ValueError(f"profile {k}: matrices must be {n_loc} × {n_loc} (depots + stops)")
        windows = np.asarray(self.windows, float).reshape(self.n_stops, 2)
        bad = np.flatnonzero(windows[:, 1] < windows[:, 0])
        if len(bad):
            raise ValueError(f"windows: stop {int(bad[0])} has a time window that ends before it starts")
        if (np.asarray(self.service) < 0).any():
            raise ValueError("service: service times must be ≥ 0 seconds")
        for i, fleet in enumerate(self.fleets):
            if fleet.count < 1:
                raise ValueError(f"fleets[{i}] ({fleet.name}): count must be at least 1 team")
            if not 0 <= fleet.depot < self.n_depots:
                raise ValueError(f"fleets[{i}] ({fleet.name}): depot {fleet.depot} does not exist")
            if not 0 <= fleet.profile < len(self.durations):
                raise ValueError(f"fleets[{i}] ({fleet.name}): profile {fleet.profile} does not exist")
            if fleet.shift[1] <= fleet.shift[0]:
                raise ValueError(f"fleets[{i}] ({fleet.name}): shift ends before it starts")
            if fleet.capacity is not None and fleet.capacity < 0:
                raise ValueError(f"fleets[{i}] ({fleet.name}): capacity must be ≥ 0")
        self.windows = windows
        self.service = np.asarray(self.service, float)
        self.prize = np.zeros(self.n_stops) if self.prize is None else np.asarray(self.prize, float)
        self.required = np.ones(self.n_stops, bool) if self.required is None else np.asarray(self.required, bool)
        self.load = np.zeros(self.n_stops, np.int64) if self.load is None else np.asarray(self.load, np.int64)
        if (self.load < 0).any():
            raise ValueError("load: supply loads must be ≥ 0")
        if (self.prize < 0).any():
            raise ValueError("prize: priorities must be ≥ 0")
        return self


@dataclass
class Visit:
    """One stop on a route (times in seconds)."""

    stop: int
    arrival: float
    start: float
    departure: float


@dataclass
class Route:
    """One team's route: depot → stops → depot."""

    fleet: int
    team: int
    visits: list[Visit]
    departure: float
    return_time: float
    travel_duration: float
    distance: float
    load: int

    @property
    def stops(self) -> list[int]:
        """Stop indices in visiting order."""
        return [v.stop for v in self.visits]


@dataclass
class RoutingSolution:
    """Routes, the stops left out, and how the solver did."""

    routes: list[Route]
    unvisited: NDArray[np.int64]
    feasible: bool
    travel_duration: float
    distance: float
    prize_collected: float
    seconds: float
    iterations: int
    stats: dict = field(default_factory=dict)


def _int(values: NDArray[np.float64], scale: float, rounding: str = "nearest") -> NDArray[np.int64]:
    """Scale and round to PyVRP's integers; inf becomes :data:`UNREACHABLE`.

    ``rounding="up"`` / ``"down"`` keep the integer problem on the safe side of the real one
    (travel times and window openings up, window closings and shift ends down), so that every
    integer-feasible route is feasible in real time too.
    """
    scaled = np.asarray(values, float) * scale
    fn = {"nearest": np.rint, "up": lambda a: np.ceil(a - 1e-9), "down": lambda a: np.floor(a + 1e-9)}[rounding]
    out = np.where(np.isfinite(scaled), fn(np.where(np.isfinite(scaled), scaled, 0.0)), UNREACHABLE)
    return np.minimum(out, UNREACHABLE).astype(np.int64)


def _zero_diagonal(matrix: NDArray[np.int64]) -> NDArray[np.int64]:
    np.fill_diagonal(matrix, 0)
    return np.ascontiguousarray(matrix)


def solve_routes(
    problem: RoutingProblem,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    max_iterations: int | None = None,
    no_improvement: int | None = 3_000,
    scale: float = 1.0,
) -> RoutingSolution:
    """Solve a routing problem with PyVRP.

    Parameters
    ----------
    problem
        The problem (validated here).
    time_limit
        Wall-clock limit, seconds.
    seed
        Random seed; with the same seed the result is the same unless ``time_limit`` stopped
        the search (then it depends on the machine's speed).
    max_iterations, no_improvement
        Stop after this many iterations in all, or without improving the best solution.
    scale
        Multiplier applied to times and distances before rounding to integers (e.g. 1000 for
        Solomon's fractional distances); results are reported back in the original units.

    Raises
    ------
    InfeasibleProblem
        When the required stops cannot all be served within the shifts and capacities.
    """
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType
    from pyvrp import solve as pyvrp_solve
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement

    problem = problem.validated()
    started = time.perf_counter()
    n_dep, n_stop = problem.n_depots, problem.n_stops
    locations = [Location(0, 0) for _ in range(n_dep + n_stop)]
    if problem.depot_windows is not None:
        depot_windows = np.asarray(problem.depot_windows, float).reshape(n_dep, 2)
    else:
        depot_windows = np.tile([min(f.shift[0] for f in problem.fleets), max(f.shift[1] for f in problem.fleets)], (n_dep, 1))
    dw_early, dw_late = _int(depot_windows[:, 0], scale, "up"), _int(depot_windows[:, 1], scale, "down")
    depots = [Depot(d, tw_early=int(dw_early[d]), tw_late=int(dw_late[d])) for d in range(n_dep)]

    # prizes above any possible travel cost, so priority always beats travel
    if problem.cost == "duration":
        travel_ub = sum(f.count * (f.max_duration if f.max_duration is not None else f.shift[1] - f.shift[0]) for f in problem.fleets)
    else:
        finite = np.concatenate([d[np.isfinite(d)].ravel() for d in problem.distances])
        travel_ub = sum(f.count for f in problem.fleets) * (float(finite.max()) if len(finite) else 0.0) * (n_stop + 1)
    prizes = np.rint(problem.prize * (travel_ub * scale + 1.0)).astype(np.int64)
    if prizes.max(initial=0) > 2**62 // max(n_stop, 1):
        raise ValueError("prize: priorities too large to combine with travel costs; use small integers (e.g. 1–5)")
    has_load = bool(problem.load.any()) or any(f.capacity is not None for f in problem.fleets)
    service = _int(problem.service, scale, "up")
    tw_early, tw_late = _int(problem.windows[:, 0], scale, "up"), _int(problem.windows[:, 1], scale, "down")
    clients = [
        Client(
            n_dep + s,
            delivery=[int(problem.load[s])] if has_load else [],
            service_duration=int(service[s]),
            tw_early=int(tw_early[s]),
            tw_late=int(tw_late[s]),
            prize=int(prizes[s]),
            required=bool(problem.required[s]),
        )
        for s in range(n_stop)
    ]
    big_capacity = int(max(problem.load.sum(), 1))
    vehicle_types = []
    for fleet in problem.fleets:
        shift = (_int(np.array([fleet.shift[0]]), scale, "up")[0], _int(np.array([fleet.shift[1]]), scale, "down")[0])
        kwargs = dict(
            num_available=int(fleet.count),
            start_depot=fleet.depot,
            end_depot=fleet.depot,
            tw_early=int(shift[0]),
            tw_late=int(shift[1]),
            profile=fleet.profile,
            unit_distance_cost=1 if problem.cost == "distance" else 0,
            unit_duration_cost=1 if problem.cost == "duration" else 0,
            name=fleet.name,
        )
        if fleet.max_duration is not None:
            kwargs["shift_duration"] = int(_int(np.array([fleet.max_duration]), scale, "down")[0])
        if has_load:
            kwargs["capacity"] = [int(fleet.capacity) if fleet.capacity is not None else big_capacity]
        vehicle_types.append(VehicleType(**kwargs))
    distance_matrices = [_zero_diagonal(_int(d, scale)) for d in problem.distances]
    duration_matrices = [_zero_diagonal(_int(d, scale, "up")) for d in problem.durations]
    data = ProblemData(locations, clients, depots, vehicle_types, distance_matrices, duration_matrices)
    criteria = [MaxRuntime(max(time_limit - (time.perf_counter() - started), 0.05))]
    if max_iterations is not None:
        criteria.append(MaxIterations(max_iterations))
    if no_improvement is not None:
        criteria.append(NoImprovement(no_improvement))
    result = pyvrp_solve(data, stop=MultipleCriteria(criteria), seed=seed, display=False, collect_stats=False)
    best = result.best
    if not best.is_feasible():
        raise InfeasibleProblem(_infeasible_reason(best, problem))
    return _decode(best, problem, scale, time.perf_counter() - started, int(result.num_iterations))


def _infeasible_reason(best, problem: RoutingProblem) -> str:
    parts = []
    if best.has_time_warp():
        parts.append("time windows or shift lengths")
    if best.has_excess_load():
        parts.append("team capacities")
    if not best.is_complete():
        parts.append("the number of teams")
    what = ", ".join(parts) or "the constraints"
    return f"the required stops cannot all be served within {what}; add teams, lengthen shifts or make some stops optional"


def _decode(best, problem: RoutingProblem, scale: float, seconds: float, iterations: int) -> RoutingSolution:
    routes: list[Route] = []
    visited = np.zeros(problem.n_stops, bool)
    for r in best.routes():
        fleet = int(r.vehicle_type())
        visits: list[Visit] = []
        for act in r.schedule():
            if not act.is_client():
                continue
            stop = int(act.idx)  # client index = stop index
            visited[stop] = True
            start = act.start_time / scale
            visits.append(Visit(stop=stop, arrival=(act.start_time - act.wait_duration) / scale, start=start, departure=act.end_time / scale))
        load = int(problem.load[[v.stop for v in visits]].sum()) if visits else 0
        routes.append(Route(fleet=fleet, team=0, visits=visits, departure=r.start_time() / scale, return_time=r.end_time() / scale,
                            travel_duration=r.travel_duration() / scale, distance=r.distance() / scale, load=load))
    routes.sort(key=lambda rt: (rt.fleet, rt.departure, rt.stops[:1]))
    # renumber teams within each fleet after sorting, so numbering is stable
    counter: dict[int, int] = {}
    for rt in routes:
        rt.team = counter.get(rt.fleet, 0)
        counter[rt.fleet] = rt.team + 1
    return RoutingSolution(
        routes=routes,
        unvisited=np.flatnonzero(~visited),
        feasible=True,
        travel_duration=float(sum(rt.travel_duration for rt in routes)),
        distance=float(sum(rt.distance for rt in routes)),
        prize_collected=float(problem.prize[visited].sum()),
        seconds=seconds,
        iterations=iterations,
    )


def vrptw_problem(
    distances: NDArray[np.float64],
    demand: NDArray[np.int64],
    ready: NDArray[np.float64],
    due: NDArray[np.float64],
    service: NDArray[np.float64],
    vehicles: int,
    capacity: int,
) -> RoutingProblem:
    """A classic VRPTW (one depot at index 0, travel time = distance, minimise distance)."""
    return RoutingProblem(
        durations=[distances],
        distances=[distances],
        n_depots=1,
        service=service[1:],
        windows=np.column_stack([ready[1:], due[1:]]),
        fleets=[Fleet(count=vehicles, depot=0, shift=(float(ready[0]), float(due[0])), capacity=capacity, name="vehicle")],
        load=demand[1:],
        cost="distance",
        depot_windows=np.array([[ready[0], due[0]]]),
    )


def route_distance(route: Route, distances: NDArray[np.float64], n_depots: int, depot: int = 0) -> float:
    """Recompute a route's distance in unrounded units from a matrix (depots first)."""
    path = [depot] + [n_depots + s for s in route.stops] + [depot]
    return float(sum(distances[a, b] for a, b in zip(path[:-1], path[1:])))
