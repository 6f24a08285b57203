"""Scenario jobs in worker processes: they run in parallel, report real progress, and stop when told.

Solves inside a request (suggestions, patrols) use :func:`run_in_child` the same way: the
request's thread waits while a child process solves, so one user's solve never holds up the
others' requests.

Each job runs :func:`planner.scenario.run_scenario` in its own child process (``fork``: the child
starts with the parent's regions in memory, copy-on-write, and touches no database connection).
A monitor thread in the service reads the child's progress messages, writes them to the job row,
and ends the child when the job is cancelled or its hard time limit passes — the process is
terminated, so a cancelled solve frees its core at once.  At most ``workers`` children run at
a time; the others wait as ``queued``.

The child writes the plan's snapshot (:mod:`api.snapshots`) to the folder it is given and sends
back the plan's JSON; the service stores the row.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geodata.errors import DataError
from geodata.region import Region
from planner.location.problem import InfeasibleProblem
from planner.scenario import Scenario

_CONTEXT = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")


@dataclass
class Outcome:
    """How a job ended: ``done`` (with the plan's JSON and snapshot folder), ``failed``, ``cancelled``
    or ``interrupted`` (the service stopped: the job is queued again, not ended)."""

    status: str
    message: str
    payload: dict[str, Any] | None = None
    snapshot: Path | None = None


@dataclass(frozen=True)
class HierarchyTask:
    """A hierarchy scenario for a job: its levels (:class:`planner.scenario.LevelSpec`), group, mode and solver time limit, seconds."""

    levels: tuple
    group: str
    mode: str
    time_limit: float


JOB_NICENESS = 10
"""Scheduling niceness added to scenario-job processes: with every core solving, the service's own
process (and the suggestions it solves inline) still gets the CPU when it asks."""


def child_started(parent_pid: int, niceness: int = 0, *, die_with_service: bool = True) -> None:
    """First thing a forked worker process does: the default answer to SIGTERM/SIGINT (not the
    service's handlers it inherited, which would only set a flag of the service's copy); with
    ``die_with_service``, death with the service (Linux: PR_SET_PDEATHSIG, so no orphan keeps
    working after the service is gone; it fires when the forking *thread* ends, so a long-lived
    process forked from a passing thread ends otherwise); its CPU priority lowered by ``niceness``."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if die_with_service:
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:  # the service ended before the line above took effect
            os._exit(1)
    if niceness:
        try:
            os.nice(niceness)
        except (AttributeError, OSError):  # not POSIX: the priority stays
            pass


def default_workers() -> int:
    """Scenario jobs solved at once by default: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _child(conn: Any, region: Region, scenario: Scenario | HierarchyTask, snapshot: Path, parent_pid: int) -> None:
    """Runs in the worker process: solve, write the snapshot, send the outcome."""
    from api.snapshots import save_plan
    from planner.scenario import run_hierarchy, run_scenario

    child_started(parent_pid, JOB_NICENESS)

    def progress(fraction: float, message: str) -> None:
        conn.send(("progress", fraction, message))

    try:
        if isinstance(scenario, HierarchyTask):
            progress(0.05, f"travel costs and the {len(scenario.levels)}-level model")
            result = run_hierarchy(region, list(scenario.levels), group=scenario.group, mode=scenario.mode, time_limit=scenario.time_limit)
            conn.send(("done", result, None))
            return
        plan = run_scenario(region, scenario, progress=progress)
        progress(0.95, "storing the plan")
        save_plan(plan, snapshot)
        conn.send(("done", plan.to_dict(), str(snapshot)))
    except (InfeasibleProblem, DataError, ValueError) as exc:
        conn.send(("failed", str(exc), None))
    except Exception as exc:  # noqa: BLE001 - reported, the service stays up
        conn.send(("failed", f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc(limit=5)))
    finally:
        conn.close()


def _call_child(conn: Any, function: Callable[..., Any], args: tuple, parent_pid: int, niceness: int) -> None:
    """Runs in a forked worker process: call, send back the result or what went wrong."""
    child_started(parent_pid, niceness)
    try:
        conn.send(("ok", function(*args)))
    except (InfeasibleProblem, DataError, ValueError) as exc:
        conn.send(("invalid", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported, the service stays up
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class WorkerTimeout(RuntimeError):
    """A solve in a worker process was stopped at its time cap."""


def run_in_child(function: Callable[..., Any], *args: Any, time_limit_s: float, niceness: int = 0) -> Any:
    """``function(*args)`` in a forked worker process (the parent's regions in memory, copy-on-write),
    its result sent back; the caller's thread waits without holding the interpreter, so the service
    keeps answering other requests while it solves.

    Raises :class:`ValueError` (the problem's own reason: infeasible, bad data) or
    :class:`WorkerTimeout` when the process had to be stopped after ``time_limit_s`` seconds.
    """
    parent, child = _CONTEXT.Pipe(duplex=False)
    proc = _CONTEXT.Process(target=_call_child, args=(child, function, args, os.getpid(), niceness), daemon=True, name="planner-inline")
    proc.start()
    child.close()
    try:
        if not parent.poll(time_limit_s):
            JobRunner._stop(proc)
            raise WorkerTimeout(f"stopped after {time_limit_s:g} s")
        try:
            kind, value = parent.recv()
        except EOFError:
            proc.join(timeout=5)
            raise RuntimeError(f"the worker process ended without an answer (exit code {proc.exitcode})") from None
    finally:
        parent.close()
        proc.join(timeout=5)
        if proc.is_alive():
            JobRunner._stop(proc)
    if kind == "ok":
        return value
    if kind == "invalid":
        raise ValueError(value)
    raise RuntimeError(value)


class JobRunner:
    """Runs scenario jobs in worker processes, ``workers`` at a time.

    Parameters
    ----------
    workers
        Most jobs running at once (processes); the rest queue.
    on_progress
        ``callback(job_id, fraction, message)`` from the monitor thread.
    grace_s
        Seconds a job may run beyond its scenario's solver time limit (travel costs, the
        explanation, writing) before it is stopped: the hard limit is ``time_limit + grace_s``.
    """

    def __init__(self, workers: int, on_progress: Callable[[int, float, str], None], *, grace_s: float = 120.0) -> None:
        self.workers = max(1, int(workers))
        self.on_progress = on_progress
        self.grace_s = float(grace_s)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="job-monitor")
        self._lock = threading.Lock()
        self._cancel: set[int] = set()
        self._running: dict[int, Any] = {}
        self._inflight = 0
        self._stopping = False

    def submit(self, job_id: int, region: Region, scenario: Scenario | HierarchyTask, snapshot: Path, done: Callable[[int, Outcome], None],
               still_held: Callable[[], bool] | None = None) -> None:
        """Queue a job; ``done(job_id, outcome)`` is called once when it ends, whatever happens.  ``still_held()`` is asked about once a
        second while it runs: False (the job was cancelled, or taken back by the queue) stops it."""
        with self._lock:
            self._inflight += 1
        self._pool.submit(self._monitor, job_id, region, scenario, snapshot, done, still_held)

    def free_slots(self) -> int:
        """Jobs that could start now without waiting (``workers`` less those submitted and not ended)."""
        with self._lock:
            return max(0, self.workers - self._inflight)

    def cancel(self, job_id: int) -> None:
        """Stop a job: a queued one never starts, a running one's process is terminated."""
        with self._lock:
            self._cancel.add(job_id)
            proc = self._running.get(job_id)
        if proc is not None and proc.is_alive():
            proc.terminate()

    def running(self) -> int:
        """Jobs whose process is alive."""
        with self._lock:
            return sum(1 for p in self._running.values() if p.is_alive())

    def shutdown(self) -> None:
        """Terminate every running job (the service is stopping)."""
        with self._lock:
            procs = list(self._running.values())
            self._cancel.update(self._running)
            self._stopping = True
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _monitor(self, job_id: int, region: Region, scenario: Scenario | HierarchyTask, snapshot: Path, done: Callable[[int, Outcome], None],
                 still_held: Callable[[], bool] | None) -> None:
        try:
            outcome = self._run(job_id, region, scenario, snapshot, still_held)
        except Exception as exc:  # noqa: BLE001 - the job fails, the monitor thread survives
            outcome = Outcome("failed", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._inflight -= 1
        done(job_id, outcome)

    def _run(self, job_id: int, region: Region, scenario: Scenario | HierarchyTask, snapshot: Path,
             still_held: Callable[[], bool] | None) -> Outcome:
        with self._lock:
            if self._stopping:
                return Outcome("interrupted", "the service stopped before it started")
            if job_id in self._cancel:
                return Outcome("cancelled", "cancelled by the user before it started")
        parent, child = _CONTEXT.Pipe(duplex=False)
        proc = _CONTEXT.Process(target=_child, args=(child, region, scenario, snapshot, os.getpid()), daemon=True, name=f"planner-job-{job_id}")
        with self._lock:
            self._running[job_id] = proc
        deadline = time.monotonic() + float(scenario.time_limit) + self.grace_s
        proc.start()
        child.close()
        self.on_progress(job_id, 0.01, "started in a worker process")
        next_check = time.monotonic() + 1.0
        try:
            while True:
                if parent.poll(0.2):
                    try:
                        kind, first, second = parent.recv()
                    except EOFError:  # the child is gone; its exit is handled below
                        kind, first, second = "eof", None, None
                    if kind == "progress":
                        self.on_progress(job_id, float(first), str(second))
                        continue
                    if kind == "done":
                        return Outcome("done", "done", payload=first, snapshot=Path(second) if second else None)
                    if kind == "failed":
                        return Outcome("failed", str(first))
                with self._lock:
                    cancelled, stopping = job_id in self._cancel, self._stopping
                if not cancelled and still_held is not None and time.monotonic() > next_check:
                    next_check = time.monotonic() + 1.0
                    cancelled = not still_held()
                if cancelled:
                    self._stop(proc)
                    if stopping:
                        return Outcome("interrupted", "the service stopped while it ran")
                    return Outcome("cancelled", "cancelled by the user; the solve was stopped")
                if time.monotonic() > deadline:
                    self._stop(proc)
                    return Outcome("failed", f"stopped at the hard time limit of {scenario.time_limit + self.grace_s:g} s "
                                             f"(solver {scenario.time_limit:g} s + {self.grace_s:g} s for costs and writing)")
                if not proc.is_alive() and not parent.poll(0):
                    return Outcome("failed", f"the worker process ended without an answer (exit code {proc.exitcode})")
        finally:
            parent.close()
            proc.join(timeout=5)
            with self._lock:
                self._running.pop(job_id, None)

    @staticmethod
    def _stop(proc: Any) -> None:
        proc.terminate()
        proc.join(timeout=3)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=3)
