"""The server's side of the job queue: claim queued jobs from the store, run them, store how they ended.

Every ``planner serve`` process runs one :class:`JobDispatcher`.  The ``jobs`` table is the
queue (:mod:`api.store`): a request only inserts a queued row; each server claims the oldest
queued job of a region it has loaded whenever its :class:`api.jobs.JobRunner` has a free worker,
so several servers on one PostgreSQL database share the work and no job is claimed twice.

While it runs, a server beats (``servers.seen_at``, every ``heartbeat_s`` seconds) and every
server takes back the jobs of servers that stopped beating for ``stale_s`` seconds (killed,
machine lost) or whose process is gone: queued again once, then failed, each saying which
(and written to the audit log).  A job is ended only by the server that holds it, in one
transaction with its plan row, so it ends exactly once.  A server stopped cleanly queues its
running jobs again for the others (or its own next start).  At each heartbeat the server also
reads the region versions other servers made (uploads approved there).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from api import store as db
from api.hierarchy import hierarchy_geojson, job_task
from api.jobs import Outcome
from api.snapshots import load_plan
from api.state import ApiError, State, new_snapshot, plan_row, public_message, region_at, remember, sync_versions
from geodata.region import Region

LOG = logging.getLogger("planner.jobs")


class JobDispatcher:
    """Claims this server's share of the queued jobs and runs them in ``state.runner``.

    Parameters
    ----------
    state
        The service's shared state (store, runner, regions).
    poll_s
        Seconds between looks at the queue when nothing woke the dispatcher.
    heartbeat_s
        Seconds between heartbeats (and between looks for stopped servers' jobs).
    stale_s
        A server silent this many seconds is taken as stopped and its running jobs are taken back.
    max_attempts
        Claims a job may have: a job whose server stopped under it is queued again until then, then failed.
    """

    def __init__(self, state: State, *, poll_s: float = 0.5, heartbeat_s: float = 2.0, stale_s: float = 30.0, max_attempts: int = 2) -> None:
        self.state = state
        self.poll_s, self.heartbeat_s, self.stale_s, self.max_attempts = poll_s, heartbeat_s, stale_s, max_attempts
        self.server_id: int | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Register the server, take back the jobs of servers gone, and start claiming."""
        self.server_id = self.state.store.register_server(self.state.settings.workers)
        self._reap()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="job-dispatcher")
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look at the queue now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming, queue this server's running jobs again, and stop their processes."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.server_id is not None:
            try:
                self.state.store.stop_server(self.server_id)
            except SQLAlchemyError as exc:  # the database is gone too: the others' reaping takes the jobs back
                LOG.warning("could not hand back this server's jobs: %s", type(exc).__name__)
        self.state.runner.shutdown()

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_s
                    self.state.store.heartbeat(self.server_id)
                    self._reap()
                    for region_id in self.state.settings.regions:  # uploads approved on other servers
                        with self.state.lock:
                            sync_versions(self.state, region_id)
                while self.state.runner.free_slots() > 0 and not self._stop.is_set():
                    row = self.state.store.claim_job(self.server_id, list(self.state.settings.regions))
                    if row is None:
                        break
                    self._launch(row)
            except SQLAlchemyError as exc:  # the database is unreachable for a moment: try again at the next poll
                LOG.warning("job queue: %s", type(exc).__name__)
            except Exception:  # noqa: BLE001 - logged; the dispatcher keeps serving the queue
                LOG.exception("job queue")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _reap(self) -> None:
        for taken in self.state.store.reap_jobs(stale_s=self.stale_s, max_attempts=self.max_attempts):
            LOG.warning("job %s: %s", taken.job_id, taken.message)
            self.state.store.add(db.audit, key_id=None, key_name="service", role=None, action="job.retry" if taken.retried else "job.fail",
                                 target="job", target_id=str(taken.job_id), detail={"server": taken.server, "message": taken.message})

    def _launch(self, job: dict) -> None:
        """Start a claimed job in the runner (or end it failed when it cannot be started)."""
        state, job_id, server_id = self.state, int(job["id"]), self.server_id
        scenario_row = state.store.get(db.scenarios, job["scenario_id"])
        try:
            if scenario_row is None:
                raise ApiError(404, "its scenario no longer exists")
            region = self._region(scenario_row["region"], scenario_row["region_version"])
            task = job_task(scenario_row["spec"])
        except (ApiError, ValueError) as exc:
            self._finish(job_id, "failed", f"could not be started: {public_message(getattr(exc, 'message', str(exc)))}")
            return
        folder, _ = new_snapshot(state, "plans")

        def ended(jid: int, outcome: Outcome) -> None:
            self._ended(jid, outcome, scenario_row, job["created_by"])

        state.runner.submit(job_id, region, task, folder, ended, still_held=lambda: state.store.holds(job_id, server_id))

    def _region(self, region_id: str, version: int | None) -> Region:
        """The region at ``version``; a version made by another server since this one started is read from the store."""
        try:
            return region_at(self.state, region_id, version)
        except ApiError:
            with self.state.lock:
                sync_versions(self.state, region_id)
            return region_at(self.state, region_id, version)

    # ------------------------------------------------------------------ how a job ended
    def progress(self, job_id: int, fraction: float, message: str) -> None:
        """A running job's progress (0–1, capped at 0.99 until it is stored) and its stage."""
        self.state.store.report_progress(job_id, self.server_id, round(min(max(fraction, 0.0), 0.99), 3), message)

    def _ended(self, job_id: int, outcome: Outcome, scenario_row: dict, caller_id: int | None) -> None:
        """Store what a job's worker process produced (called once per run of a job)."""
        state = self.state
        if outcome.status == "interrupted":  # the server is stopping: stop_server queues it again
            return
        if outcome.status != "done" or outcome.payload is None:
            self._finish(job_id, "failed" if outcome.status == "done" else outcome.status, public_message(outcome.message or ""))
            return
        spec = scenario_row["spec"]
        try:
            if spec.get("kind") == "hierarchy":
                plan = None
                row = dict(kind="hierarchy", scenario_id=scenario_row["id"], region=scenario_row["region"],
                           region_version=scenario_row["region_version"], town=None, spec=spec, payload=outcome.payload,
                           geojson=hierarchy_geojson(outcome.payload), snapshot=None, created_by=caller_id)
            else:
                assert outcome.snapshot is not None
                plan = load_plan(outcome.snapshot)
                row = plan_row(state, plan, kind="scenario", region_id=scenario_row["region"], spec=spec, caller_id=caller_id,
                               scenario_id=scenario_row["id"], payload=outcome.payload,
                               snapshot=str(Path(outcome.snapshot).relative_to(state.snapshots)))
        except Exception as exc:  # noqa: BLE001 - the job fails, the service stays up
            self._finish(job_id, "failed", f"the plan could not be stored: {type(exc).__name__}")
            return
        plan_id = self._finish(job_id, "done", "done", row)
        if plan_id is not None and plan is not None:
            remember(state, state.plan_cache, plan_id, plan)

    def _finish(self, job_id: int, status: str, message: str, plan: dict | None = None) -> int | None:
        """End a job this server holds; a job it no longer holds (cancelled, taken back) is left as it is."""
        try:
            return self.state.store.finish_job(job_id, self.server_id, status=status, message=message, plan=plan)
        except db.JobLost:
            LOG.info("job %s ended here but is no longer this server's; its outcome (%s) is dropped", job_id, status)
            return None
