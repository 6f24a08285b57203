"""Location-allocation: the :class:`~planner.location.problem.Problem` as arrays, its MIP formulations
on HiGHS, and the fast exact and heuristic solvers (p-median Lagrangian branch-and-bound, coverage
local search with Lagrangian bounds, facility hierarchies)."""
