"""Routing engine (PyVRP): brute force on small cases, feasibility properties, prize collection, Solomon."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from geodata.reference import SOLOMON_BEST_KNOWN_C1, read_solomon
from planner.location.problem import InfeasibleProblem
from planner.routing.vrp import Fleet, RoutingProblem, route_distance, solve_routes, vrptw_problem
from tests.conftest import shared_data


def _euclid(xy: np.ndarray) -> np.ndarray:
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def _route_ok(order: tuple[int, ...], D, service, windows, shift, max_duration) -> tuple[bool, float]:
    """Simulate one route (stops are 0-based, locations 1 + stop); start as late as useful."""
    if not order:
        return True, 0.0
    t = shift[0]
    loc = 0
    for s in order:
        t = max(t + D[loc, 1 + s], windows[s, 0])
        if t > windows[s, 1]:
            return False, 0.0
        t += service[s]
        loc = 1 + s
    t += D[loc, 0]
    travel = sum(D[a, b] for a, b in zip((0,) + tuple(1 + s for s in order), tuple(1 + s for s in order) + (0,)))
    # latest departure that keeps every window: never makes a route infeasible, only shorter
    return t <= shift[1] and (max_duration is None or t - shift[0] <= max_duration or _late_start_ok(order, D, service, windows, shift, max_duration)), travel


def _late_start_ok(order, D, service, windows, shift, max_duration) -> bool:
    for start in np.arange(shift[0], shift[1], 1.0):
        t, loc, ok = start, 0, True
        for s in order:
            t = max(t + D[loc, 1 + s], windows[s, 0])
            if t > windows[s, 1]:
                ok = False
                break
            t += service[s]
            loc = 1 + s
        t += D[loc, 0]
        if ok and t <= shift[1] and t - start <= max_duration:
            return True
    return False


def _brute_force(D, service, windows, load, capacity, vehicles, shift, max_duration=None) -> float:
    """Least total travel visiting all stops with ≤ vehicles routes (exhaustive)."""
    n = len(service)
    best = np.inf
    for labels in itertools.product(range(vehicles), repeat=n):
        if labels and labels[0] != 0:
            continue  # symmetry: stop 0 on vehicle 0
        total = 0.0
        feasible = True
        for v in range(vehicles):
            mine = [s for s in range(n) if labels[s] == v]
            if load[mine].sum() > capacity:
                feasible = False
                break
            best_route = np.inf
            for order in itertools.permutations(mine):
                ok, travel = _route_ok(order, D, service, windows, shift, max_duration)
                if ok:
                    best_route = min(best_route, travel)
            if not np.isfinite(best_route):
                feasible = False
                break
            total += best_route
        if feasible:
            best = min(best, total)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_small_vrptw_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    xy = rng.uniform(0, 100, (n + 1, 2))
    D = np.round(_euclid(xy))
    service = np.full(n, 5.0)
    opens = rng.uniform(0, 150, n).round()
    windows = np.column_stack([opens, opens + rng.uniform(40, 120, n).round()])
    load = rng.integers(1, 5, n)
    prob = RoutingProblem(durations=[D], distances=[D], n_depots=1, service=service, windows=windows,
                          fleets=[Fleet(count=2, shift=(0.0, 400.0), capacity=10)], load=load, cost="distance")
    expected = _brute_force(D, service, windows, load, 10, 2, (0.0, 400.0))
    if not np.isfinite(expected):  # no plan exists: the solver must say so, not return one
        with pytest.raises(InfeasibleProblem):
            solve_routes(prob, time_limit=2, seed=seed)
        return
    sol = solve_routes(prob, time_limit=5, seed=seed)
    assert sol.distance == pytest.approx(expected)
    assert len(sol.unvisited) == 0


def _check_feasible(prob: RoutingProblem, sol) -> None:
    for route in sol.routes:
        fleet = prob.fleets[route.fleet]
        assert route.departure >= fleet.shift[0] - 1e-9
        assert route.return_time <= fleet.shift[1] + 1e-9
        if fleet.max_duration is not None:
            assert route.return_time - route.departure <= fleet.max_duration + 1e-9
        if fleet.capacity is not None:
            assert prob.load[route.stops].sum() <= fleet.capacity
        prev_loc, prev_t = fleet.depot, route.departure
        dur = prob.durations[fleet.profile]
        for k, v in enumerate(route.visits):
            loc = prob.n_depots + v.stop
            # travel takes its time (PyVRP works in whole seconds: ≤ 0.5 s rounding per leg)
            assert v.arrival >= prev_t + dur[prev_loc, loc] - 0.5 * (k + 1) - 1e-6
            assert v.start >= prob.windows[v.stop, 0] - 1e-9
            assert v.start <= prob.windows[v.stop, 1] + 1e-9
            assert v.departure == pytest.approx(v.start + prob.service[v.stop])
            prev_loc, prev_t = loc, v.departure
        assert route.return_time >= prev_t + dur[prev_loc, fleet.depot] - 0.5 * (len(route.visits) + 1) - 1e-6


@pytest.mark.parametrize("seed", [3, 4])
def test_time_windows_shifts_and_capacity_hold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    xy = rng.uniform(0, 3000, (n + 2, 2))
    D = _euclid(xy) / 1.2  # seconds walking
    opens = rng.uniform(0, 4 * 3600, n)
    windows = np.column_stack([opens, opens + rng.uniform(1800, 3 * 3600, n)])
    prob = RoutingProblem(
        durations=[D], distances=[D * 1.2], n_depots=2, service=np.full(n, 600.0), windows=windows,
        fleets=[Fleet(count=2, depot=0, shift=(0, 6 * 3600), max_duration=4 * 3600, capacity=8),
                Fleet(count=1, depot=1, shift=(3600, 7 * 3600), capacity=12)],
        prize=rng.integers(1, 6, n).astype(float), required=np.zeros(n, bool), load=rng.integers(0, 3, n),
    )
    sol = solve_routes(prob, time_limit=5, seed=seed)
    _check_feasible(prob, sol)
    served = np.concatenate([r.stops for r in sol.routes]).astype(int)
    assert len(set(served)) == len(served)
    assert sorted(set(served) | set(sol.unvisited.tolist())) == list(range(n))


def test_prize_collecting_drops_lowest_priority_first() -> None:
    # eight stops at one spot 100 s from the depot, 10 min each; the shift fits only three
    n = 8
    D = np.full((n + 1, n + 1), 0.0)
    D[0, 1:] = D[1:, 0] = 100.0
    priority = np.array([1, 5, 2, 4, 3, 1, 2, 5], float)
    prob = RoutingProblem(durations=[D], distances=[D], n_depots=1, service=np.full(n, 600.0),
                          windows=np.tile([0.0, 1e5], (n, 1)), fleets=[Fleet(count=1, shift=(0, 200 + 3 * 600))],
                          prize=priority, required=np.zeros(n, bool))
    sol = solve_routes(prob, time_limit=3)
    visited = sorted(sol.routes[0].stops)
    assert sorted(priority[visited]) == [4, 5, 5]
    assert sol.prize_collected == 14


def test_required_stops_are_always_visited_and_impossible_ones_are_refused() -> None:
    n = 5
    D = np.full((n + 1, n + 1), 60.0)
    np.fill_diagonal(D, 0)
    required = np.array([True, False, False, True, False])
    prob = RoutingProblem(durations=[D], distances=[D], n_depots=1, service=np.full(n, 600.0), windows=np.tile([0.0, 1e5], (n, 1)),
                          fleets=[Fleet(count=1, shift=(0, 1500))], prize=np.full(n, 5.0), required=required)
    sol = solve_routes(prob, time_limit=2)
    assert set(np.flatnonzero(required)) <= set(sol.routes[0].stops)
    prob.required = np.ones(n, bool)
    with pytest.raises(InfeasibleProblem, match="required stops"):
        solve_routes(prob, time_limit=2)


def test_bad_routing_input_is_named() -> None:
    D = np.zeros((3, 3))
    base = dict(durations=[D], distances=[D], n_depots=1, service=np.zeros(2))
    with pytest.raises(ValueError, match="ends before it starts"):
        solve_routes(RoutingProblem(**base, windows=np.array([[0, 10], [50, 20]]), fleets=[Fleet(count=1)]))
    with pytest.raises(ValueError, match="no teams"):
        solve_routes(RoutingProblem(**base, windows=np.array([[0, 10], [0, 20]]), fleets=[]))
    with pytest.raises(ValueError, match="count must be at least 1"):
        solve_routes(RoutingProblem(**base, windows=np.array([[0, 10], [0, 20]]), fleets=[Fleet(count=0)]))


def test_same_seed_same_routes() -> None:
    rng = np.random.default_rng(9)
    xy = rng.uniform(0, 100, (21, 2))
    D = _euclid(xy)
    prob = lambda: RoutingProblem(durations=[D], distances=[D], n_depots=1, service=np.zeros(20),  # noqa: E731
                                  windows=np.tile([0.0, 1e4], (20, 1)), fleets=[Fleet(count=3, capacity=8)], load=np.ones(20, int), cost="distance")
    a = solve_routes(prob(), seed=5, time_limit=30)
    b = solve_routes(prob(), seed=5, time_limit=30)
    assert [r.stops for r in a.routes] == [r.stops for r in b.routes]


def test_solomon_c101_within_one_percent() -> None:
    inst = read_solomon(shared_data("solomon") / "C101.txt")
    D = inst.distances()
    prob = vrptw_problem(D, inst.demand, inst.ready, inst.due, inst.service, inst.vehicles, inst.capacity)
    sol = solve_routes(prob, time_limit=10, seed=1, scale=1000)
    exact = sum(route_distance(r, D, 1) for r in sol.routes)
    assert exact == pytest.approx(sol.distance, abs=0.1)
    assert exact <= SOLOMON_BEST_KNOWN_C1["C101"] * 1.01
    assert len(sol.unvisited) == 0
    for r in sol.routes:
        assert inst.demand[1:][r.stops].sum() <= inst.capacity
