"""A thin, array-based interface to the HiGHS MIP solver (highspy).

Models are passed whole as sparse matrices — no per-variable Python objects — so that building a
model with a million non-zeros takes milliseconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csc_matrix, spmatrix

INF = highspy.kHighsInf
_BANNER_LOCK = threading.Lock()
_banner_done = False


def new_highs() -> highspy.Highs:
    """A HiGHS instance; the banner HiGHS prints to stdout on its first construction in a
    process is swallowed (it would land in the middle of the command line's output)."""
    global _banner_done
    with _BANNER_LOCK:
        if _banner_done:
            return highspy.Highs()
        sys.stdout.flush()
        try:
            saved = os.dup(1)
        except OSError:  # no file descriptor 1 (embedded interpreters): let it print
            _banner_done = True
            return highspy.Highs()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_done = True
        return h


@dataclass(frozen=True)
class MipResult:
    """Outcome of one HiGHS solve.

    Attributes
    ----------
    x
        Variable values (None when no feasible solution was found).
    objective
        Objective of ``x`` (in the model's sense), or nan.
    bound
        Best proven bound on the optimum (dual bound).
    status
        ``optimal``, ``time_limit``, ``infeasible``, ``unbounded`` or another HiGHS status name.
    seconds
        Wall time of the solve.
    nodes
        Branch-and-bound nodes explored.
    reduced_costs
        For a pure LP solved to optimality, the reduced cost of every column; else None.
    """

    x: NDArray[np.float64] | None
    objective: float
    bound: float
    status: str
    seconds: float
    nodes: int
    reduced_costs: NDArray[np.float64] | None = None

    @property
    def gap(self) -> float:
        """Relative gap ``|objective - bound| / max(1, |objective|)`` (0 when proven optimal)."""
        if self.x is None or not np.isfinite(self.bound):
            return float("inf")
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


def _report_progress(h: highspy.Highs, every_s: float = 0.5) -> None:
    """While someone listens (:func:`planner.progress.reporting`), pass HiGHS's incumbent and bound on."""
    from planner.progress import listening, report

    if not listening():
        return
    last = [0.0]

    kinds = highspy.cb.HighsCallbackType

    def callback(kind: object, _message: object, data_out: object, _data_in: object, _user: object) -> None:
        now = time.perf_counter()
        if now - last[0] < every_s:
            return
        last[0] = now
        if kind == kinds.kCallbackSimplexInterrupt:
            report(f"HiGHS: LP relaxation, {int(data_out.simplex_iteration_count):,} simplex iterations")  # type: ignore[attr-defined]
            return
        primal, dual = float(data_out.mip_primal_bound), float(data_out.mip_dual_bound)  # type: ignore[attr-defined]
        report("HiGHS branch-and-bound", incumbent=primal if np.isfinite(primal) else None, bound=dual if np.isfinite(dual) else None)

    h.setCallback(callback, None)
    h.startCallback(kinds.kCallbackMipInterrupt)
    h.startCallback(kinds.kCallbackSimplexInterrupt)


def solve_mip(
    cost: NDArray[np.float64],
    A: spmatrix,
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
    col_lower: NDArray[np.float64],
    col_upper: NDArray[np.float64],
    integer: NDArray[np.bool_],
    *,
    maximize: bool = False,
    time_limit: float = 60.0,
    mip_gap: float = 1e-9,
    start: NDArray[np.float64] | None = None,
    threads: int | None = None,
    offset: float = 0.0,
    objective_bound: float | None = None,
    seed: int = 0,
    presolve: bool = True,
    options: dict[str, object] | None = None,
) -> MipResult:
    """Solve ``min/max cost·x + offset`` s.t. ``row_lower ≤ A x ≤ row_upper``, bounds, integrality.

    Parameters
    ----------
    A
        Constraint matrix (any scipy sparse format), shape ``(rows, cols)``.
    integer
        True for integer columns.
    time_limit
        Seconds; on timeout the best solution and bound so far are returned.
    mip_gap
        Relative gap at which HiGHS stops.
    start
        A feasible solution to start from (MIP start), or None.
    seed
        HiGHS's random seed: the same seed gives the same result.
    presolve
        False skips HiGHS's presolve (faster on small, already reduced models).
    objective_bound
        Prune every node whose bound is not better than this (a known incumbent's value):
        the solve then only looks for strictly better solutions, and "infeasible" means none exists.
    options
        Further HiGHS options by name (e.g. ``{"mip_heuristic_effort": 0.0}`` when a good start
        is given and the solve only has to prove it).
    """
    started = time.perf_counter()
    A = csc_matrix(A)
    A.sort_indices()
    n_rows, n_cols = A.shape
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_ = np.asarray(col_lower, float)
    lp.col_upper_ = np.asarray(col_upper, float)
    lp.row_lower_ = np.asarray(row_lower, float)
    lp.row_upper_ = np.asarray(row_upper, float)
    lp.offset_ = float(offset)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in np.asarray(integer, bool)]
    h = new_highs()
    h.setOptionValue("output_flag", bool(os.environ.get("PLANNER_HIGHS_LOG")))  # set it to watch HiGHS work
    h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("random_seed", int(seed))
    if not presolve:
        h.setOptionValue("presolve", "off")
    if threads:
        h.setOptionValue("threads", int(threads))
    if objective_bound is not None:
        h.setOptionValue("objective_bound", float(objective_bound))
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    h.passModel(lp)
    _report_progress(h)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(np.asarray(start, float))
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    name = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
        highspy.HighsModelStatus.kUnbounded: "unbounded",
        highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
        highspy.HighsModelStatus.kInterrupt: "interrupted",
    }.get(status, h.modelStatusToString(status))
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, float) if has_solution else None
    objective = float(info.objective_function_value) if has_solution else float("nan")
    if name == "optimal":
        bound = objective if not np.any(integer) else float(info.mip_dual_bound)
        if not np.isfinite(bound):
            bound = objective
    else:
        bound = float(info.mip_dual_bound) if np.any(integer) else float("nan")
    reduced = None
    if not np.any(integer) and name == "optimal":
        reduced = np.asarray(h.getSolution().col_dual, float)
    return MipResult(x, objective, bound, name, time.perf_counter() - started, int(max(info.mip_node_count, 0)), reduced)
