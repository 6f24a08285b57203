"""Writing suggestions' full plans behind the answers.

A street office's suggestion is answered from a warm model (:class:`planner.suggest.SuggestionEngine`)
in milliseconds and stored as its answer and its solution (the open sites, the bound and proof).
Its full plan — the explanation its map, workbook and ``GET /plans/{id}`` show, and the snapshot
they are drawn from — is written when it is first read, by :class:`Explainer`: one background
thread hands the plans asked for, a batch at a time, to a worker process forked at the lowest CPU
priority, which writes each snapshot and stores its plan document and GeoJSON in the plan's row.
An office trying many questions pays for the plans it opens only.  Nothing is solved again: each
plan explains the solution its answer came from, on the region version it was asked about.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.jobs import run_in_child
from planner.suggest import Suggestion, SuggestionEngine

LOG = logging.getLogger("planner.api")

ANSWERED = "answered"
"""``payload["status"]`` of a suggestion stored as its answer and solution, its full plan not written yet."""
LOST = "lost"
"""``payload["status"]`` of a suggestion whose full plan could not be written."""
BATCH = 256
"""Suggestions explained in one worker process at most."""
NICENESS = 19
"""CPU priority of the writing process: it takes only what requests leave."""
WRITE_LIMIT_S = 900.0
"""A batch's writing process is stopped after this many seconds (a hang, not a busy machine)."""
MAX_PENDING = 2_000
"""Plans asked for and waiting to be written at most; beyond, such reads are refused for a while (503)."""


@dataclass
class Task:
    """One answered suggestion to write: its plan row, snapshot folder (and its name relative to
    the snapshot root), engine and answer."""

    plan_id: int
    folder: Path
    snapshot: str
    engine: SuggestionEngine
    suggestion: Suggestion


def _write(tasks: list[Task], db_url: str) -> list[str]:
    """Runs in the worker process: each suggestion's plan, snapshot, document and GeoJSON, stored
    in its row by this process (the service's own process does none of the writing); returns, per
    task, "" or why its plan could not be written (its row then says it was lost)."""
    from api import store as db
    from api.snapshots import save_plan
    from api.state import plan_documents

    store = db.Store(db_url, migrate=False)  # the service migrated it
    out: list[str] = []
    for task in tasks:
        task.engine.reset_lock()  # a lock held by another thread of the service at the fork would never be released here
        try:
            plan = task.engine.plan(task.suggestion)
            save_plan(plan, task.folder)
            payload, geojson = plan_documents(plan)
            store.set(db.plans, task.plan_id, payload=payload, geojson=geojson, snapshot=task.snapshot)
            out.append("")
        except Exception as exc:  # noqa: BLE001 - one plan's failure is reported, the others written
            store.set(db.plans, task.plan_id, payload={"status": LOST})
            out.append(f"{type(exc).__name__}: {exc}")
    store.engine.dispose()
    return out


class Explainer:
    """The background writer of suggestions' full plans into ``store`` (its writing processes
    open the same database by its URL)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._queue: queue.Queue[Task] = queue.Queue()
        self._done: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="planner-explainer")
        self._thread.start()

    def submit(self, task: Task) -> None:
        """Queue a suggestion's plan for writing (once: a plan queued already is not queued again)."""
        with self._lock:
            if task.plan_id in self._done:
                return
            self._done[task.plan_id] = threading.Event()
        self._queue.put(task)

    def queued(self, plan_id: int) -> bool:
        """True while plan ``plan_id`` is queued or being written."""
        with self._lock:
            return plan_id in self._done

    def pending(self) -> int:
        """Plans queued or being written."""
        with self._lock:
            return len(self._done)

    def wait(self, plan_id: int, timeout_s: float) -> bool:
        """Wait until plan ``plan_id`` is written (True), or ``timeout_s`` seconds (False). A plan
        this explainer never had (written already, or before a restart) returns True at once."""
        with self._lock:
            event = self._done.get(plan_id)
        return True if event is None else event.wait(timeout_s)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results: list[Any] = run_in_child(_write, batch, self._store.url, time_limit_s=WRITE_LIMIT_S, niceness=NICENESS)
            except Exception as exc:  # noqa: BLE001 - the batch is reported lost, the thread lives on
                LOG.warning("writing %d suggestion plan(s) failed: %s", len(batch), exc)
                results = [f"{type(exc).__name__}: {exc}"] * len(batch)
                self._lose([t.plan_id for t in batch])
            for task, result in zip(batch, results):
                if result:
                    LOG.warning("suggestion plan %d not written: %s", task.plan_id, result)
                with self._lock:
                    event = self._done.pop(task.plan_id, None)
                if event is not None:
                    event.set()

    def _lose(self, plan_ids: list[int]) -> None:
        """Mark plans whose writing process failed as lost (those it stored stay stored)."""
        from api import store as db

        for plan_id in plan_ids:
            row = self._store.get(db.plans, plan_id)
            if row is not None and isinstance(row["payload"], dict) and row["payload"].get("status") == ANSWERED:
                self._store.set(db.plans, plan_id, payload={"status": LOST})
