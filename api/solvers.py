"""Warm solver processes for the questions asked inside requests.

The service's own process spends its time on HTTP, keys, limits and the store; a town suggestion's
search (planner.suggest) would share its one interpreter lock.  :class:`SolverPool` forks a few
worker processes from the service once its regions are loaded: each keeps its own warm
:class:`~planner.suggest.SuggestionEngine` per region version and answers one question at a time
over a pipe, so searches run beside the service on the other cores.  A worker past its time cap is
killed and replaced; a question about a region version the workers were forked before (an upload
approved since) is answered in the service's process while the pool is forked again from it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from api.jobs import _CONTEXT, WorkerTimeout, child_started
from geodata.region import Region
from planner.scenario import Scenario
from planner.suggest import Suggestion, SuggestionEngine

def _serve(conn: Any, regions: dict[tuple[str, int], Region], inherited: list[Any]) -> None:
    """A worker's loop: answer ``(region id, version, scenario, most pairs)`` with ``("ok",
    Suggestion)``, ``("invalid", why, kind)``, ``("missing", None)`` (a version it does not have),
    ``("too_large", None)`` or ``("error", why)``; it ends when the service's end of the pipe closes."""
    from planner.location.problem import InfeasibleProblem

    child_started(os.getppid(), die_with_service=False)  # it ends when its pipe closes (see below): the pool forks from passing threads too
    for other in inherited:  # the service's ends of the other workers' pipes: held here they would keep those workers alive
        try:
            other.close()
        except OSError:
            pass
    engines: dict[tuple[str, int], SuggestionEngine] = {}
    while True:
        try:
            region_id, version, scenario, max_pairs = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        key = (region_id, version)
        if key not in regions:
            conn.send(("missing", None))
            continue
        try:
            if key not in engines:
                engines[key] = SuggestionEngine(regions[key])
            engine = engines[key]
            if engine.size(scenario) > max_pairs:
                conn.send(("too_large", None))
                continue
            conn.send(("ok", engine.suggest(scenario)))
        except (InfeasibleProblem, ValueError) as exc:
            conn.send(("invalid", str(exc), type(exc).__name__))
        except Exception as exc:  # noqa: BLE001 - reported; the worker keeps serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


@dataclass
class _Worker:
    process: Any
    conn: Any


@dataclass
class SolverPool:
    """``size`` warm worker processes answering town suggestions (see module docstring).

    ``regions()`` returns the region versions to fork the workers with, ``{(id, version): Region}``.
    """

    regions: Any
    size: int = 2
    _idle: list[_Worker] = field(default_factory=list)
    _all: list[_Worker] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _free: threading.Condition = field(init=False)
    _generation: int = 0
    _reforking: bool = False

    def __post_init__(self) -> None:
        self._free = threading.Condition(self._lock)

    def start(self) -> None:
        """Fork the workers (again: the old ones end once their current question is answered)."""
        with self._lock:
            old, self._all, self._idle = self._all, [], []
            self._generation += 1
            self._reforking = False
            regions = dict(self.regions())
            for _ in range(max(1, self.size)):
                self._spawn(regions, [w.conn for w in old])
            self._free.notify_all()
        for worker in old:
            worker.conn.close()  # an idle worker ends now; a busy one after its answer

    def _spawn(self, regions: dict, also_inherited: list[Any] | None = None) -> None:
        parent, child = _CONTEXT.Pipe(duplex=True)
        inherited = [w.conn for w in self._all] + list(also_inherited or [])
        process = _CONTEXT.Process(target=_serve, args=(child, regions, inherited), daemon=True, name="planner-solver")
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._all.append(worker)
        self._idle.append(worker)

    def suggest(self, region_id: str, version: int, scenario: Scenario, *, max_pairs: int, time_limit_s: float,
                wait_s: float = 5.0) -> Suggestion | str | None:
        """The answer of a warm worker; ``"too_large"`` for a question of more than ``max_pairs``
        (demand, site) pairs; None when no worker is free within ``wait_s`` or has this region
        version (the caller answers in its own process; the pool is forked again).  Raises
        ValueError/InfeasibleProblem as the engine does, WorkerTimeout when the worker had to be
        stopped."""
        from planner.location.problem import InfeasibleProblem

        with self._lock:
            if not self._free.wait_for(lambda: bool(self._idle), timeout=wait_s):
                return None
            worker, generation = self._idle.pop(), self._generation
        healthy = False
        try:
            worker.conn.send((region_id, version, scenario, max_pairs))
            if not worker.conn.poll(time_limit_s):
                raise WorkerTimeout(f"stopped after {time_limit_s:g} s")
            answer = worker.conn.recv()
            healthy = True
        except (EOFError, OSError) as exc:
            raise RuntimeError(f"a solver process ended without an answer ({exc})") from None
        finally:
            with self._lock:
                if healthy and generation == self._generation:
                    self._idle.append(worker)
                    self._free.notify()
                else:
                    if worker in self._all:
                        self._all.remove(worker)
                    if generation != self._generation:
                        worker.conn.close()
                    else:  # killed or broken: replaced by a fresh one
                        worker.process.kill()
                        worker.conn.close()
                        self._spawn(dict(self.regions()))
                        self._free.notify()
        kind, value = answer[0], answer[1]
        if kind == "ok":
            return value
        if kind == "too_large":
            return "too_large"
        if kind == "missing":
            with self._lock:  # one new pool for a new region version, however many questions find the old one lacking
                refork, self._reforking = not self._reforking, True
            if refork:
                threading.Thread(target=self.start, daemon=True, name="solver-pool-refork").start()
            return None
        if kind == "invalid":
            raise InfeasibleProblem(value) if answer[2] == "InfeasibleProblem" else ValueError(value)
        raise RuntimeError(value)

    def shutdown(self) -> None:
        """End the workers."""
        with self._lock:
            for worker in self._all:
                worker.conn.close()
                worker.process.kill()
            self._all, self._idle = [], []
