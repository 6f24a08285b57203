"""Province batches on Dask distributed: a set of scenarios over many regions (``planner batch``).

A batch spec (JSON) names regions and scenarios::

    {"name": "广东省-2026-标准调整",
     "regions": [{"id": "韶关", "region": "/shared/regions/shaoguan"},
                 {"id": "city-02", "region": "mid-city-synthetic:2"}],
     "scenarios": [{"name": "助餐 10 分钟", "facility_type": "meal_point", "standard_min": 10, "n_new": 40}, …]}

Each region is three kinds of task on the cluster's workers, each reading and writing files in
the batch folder (a shared disk when the workers are on several machines), never sending a region
or a matrix through the scheduler:

1. **build**: the region opened or generated, saved to ``regions/<id>/`` (skipped when saved by an
   earlier run of the batch);
2. **costs**: the coverage matrices its scenarios need, one per group of scenarios on the same
   points and network at the group's widest standard (:func:`planner.scenario.shared_coverage`),
   saved as ``.npz`` files;
3. **solve**, one per scenario: the region and its matrix read from the files, the plan solved
   (:func:`planner.scenario.run_scenario`), its snapshot written, its row stored in the store
   (``plans``, kind ``batch``) with a ``batch_results`` row saying how it ended.

A region that fails (bad data, an infeasible standard) fails its own tasks only; the others go on.
A batch run again skips every (region, scenario) already done, so it resumes after a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geodata.errors import DataError

NAME_MAX = 200
"""Longest batch or scenario name, characters."""


# ---------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class BatchRegion:
    """A region of a batch: its ``id`` (as stored) and ``source``, anything ``planner serve --region``
    accepts (a saved region folder, ``sample``, ``synthetic:SEED``, ``mid-city-synthetic:SEED``)."""

    id: str
    source: str


@dataclass(frozen=True)
class BatchSpec:
    """What a batch runs: every scenario on every region."""

    name: str
    regions: tuple[BatchRegion, ...]
    scenarios: tuple[dict[str, Any], ...]
    """Scenario specs as the API takes them (:class:`api.schemas.ScenarioIn`), validated, each with a unique name."""

    @classmethod
    def from_dict(cls, data: Any) -> "BatchSpec":
        """Validate a spec; :class:`DataError` naming the field on anything wrong."""
        from pydantic import ValidationError

        from api.schemas import ScenarioIn

        if not isinstance(data, dict):
            raise DataError("a batch spec is a JSON object with name, regions and scenarios", field="spec")
        unknown = set(data) - {"name", "regions", "scenarios"}
        if unknown:
            raise DataError(f"unknown field(s) {', '.join(sorted(unknown))}; a batch spec has name, regions and scenarios", field=sorted(unknown)[0])
        name = data.get("name")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= NAME_MAX:
            raise DataError(f"name must be a text of 1 to {NAME_MAX} characters", field="name")
        regions = data.get("regions")
        if not isinstance(regions, list) or not regions:
            raise DataError("regions must be a non-empty list of {\"id\": …, \"region\": …}", field="regions")
        parsed_regions = []
        for i, entry in enumerate(regions):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not isinstance(entry.get("region"), str):
                raise DataError(f"regions[{i}] must be {{\"id\": text, \"region\": text}}", field=f"regions[{i}]")
            if not 0 < len(entry["id"]) <= 100 or entry["id"] != entry["id"].strip():
                raise DataError(f"regions[{i}].id must be 1 to 100 characters without surrounding spaces", field=f"regions[{i}].id")
            parsed_regions.append(BatchRegion(entry["id"], entry["region"]))
        ids = [r.id for r in parsed_regions]
        if len(set(ids)) != len(ids):
            raise DataError(f"region ids must be unique: {sorted({i for i in ids if ids.count(i) > 1})}", field="regions")
        scenarios = data.get("scenarios")
        if not isinstance(scenarios, list) or not scenarios:
            raise DataError("scenarios must be a non-empty list of scenario specs (as POST /regions/{id}/scenarios takes)", field="scenarios")
        parsed = []
        for i, entry in enumerate(scenarios):
            try:
                parsed.append(ScenarioIn.model_validate(entry).model_dump(exclude_none=True))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                raise DataError(f"scenarios[{i}].{where}: {first.get('msg')}", field=f"scenarios[{i}].{where}") from None
            if parsed[-1].get("region_version") is not None or parsed[-1].get("town") is not None:
                raise DataError(f"scenarios[{i}]: a batch plans whole regions (no town, no region_version)", field=f"scenarios[{i}]")
        names = [s["name"] for s in parsed]
        if len(set(names)) != len(names):
            raise DataError(f"scenario names must be unique within a batch: {sorted({n for n in names if names.count(n) > 1})}", field="scenarios")
        return cls(name.strip(), tuple(parsed_regions), tuple(parsed))

    @classmethod
    def from_file(cls, path: Path) -> "BatchSpec":
        """Read and validate a spec file (JSON, UTF-8)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("no such file", source=path) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"not a JSON file in UTF-8: {exc}", source=path) from None
        return cls.from_dict(data)


def folder_name(text: str) -> str:
    """A file-system-safe folder name for a region or batch (letters of any script kept) with a
    short hash, so different names never share a folder."""
    safe = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("._")[:60] or "x"
    return f"{safe}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"


# ---------------------------------------------------------------------------- tasks (run on the workers)
_STORES: dict[str, Any] = {}


def _store(db_url: str) -> Any:
    """This worker's store connection (one per process; the schema was migrated by the client)."""
    from api.store import Store

    if db_url not in _STORES:
        _STORES[db_url] = Store(db_url, migrate=False)
    return _STORES[db_url]


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_task(source: str, region_dir: str, cache_dir: str | None) -> dict[str, Any]:
    """Open or generate a region and save it to ``region_dir`` (kept when an earlier run saved it
    from the same source); returns its folder and figures."""
    from api.regions import open_region
    from geodata.region import Region

    folder = Path(region_dir)
    stamp = folder / "batch-source.txt"
    started = time.perf_counter()
    if (folder / "region.json").is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == source:
        region = Region.load(folder)
        built = False
    else:
        region = open_region(source, Path(cache_dir) if cache_dir else None)
        region.save(folder)
        stamp.write_text(source, encoding="utf-8")
        built = True
    return {"region_dir": str(folder), "built": built, "seconds": time.perf_counter() - started, "demand_points": len(region.demand),
            "sites": len(region.sites), "peak_rss_mb": _peak_rss_mb()}


def costs_task(build: dict[str, Any], scenarios: list[dict[str, Any]], costs_dir: str) -> dict[str, Any]:
    """Compute the coverage matrices the region's scenarios need (once per group) and save them;
    returns, per scenario name, its matrix file."""
    from api.state import scenario_of
    from geodata.region import Region
    from planner.scenario import shared_coverage

    started = time.perf_counter()
    region = Region.load(build["region_dir"])
    folder = Path(costs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for members, coverage in shared_coverage(region, [scenario_of(s) for s in scenarios]):
        path = folder / f"coverage-{hashlib.sha1(json.dumps([scenarios[i]['name'] for i in members]).encode()).hexdigest()[:12]}.npz"
        save_coverage(coverage, path)
        files.update({scenarios[i]["name"]: str(path) for i in members})
    return {"files": files, "seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb()}


def solve_task(batch: str, region: BatchRegion, build: dict[str, Any], costs: dict[str, Any], scenario: dict[str, Any], db_url: str,
               snapshots: str) -> dict[str, Any]:
    """Solve one scenario on one region from the files, write its snapshot and store its plan and
    result rows; returns a short summary (no plan crosses the scheduler)."""
    from api import store as db
    from api.snapshots import save_plan
    from api.state import plan_documents, scenario_of
    from geodata.region import Region
    from planner.location.solve import set_cores_per_solve
    from planner.scenario import run_scenario, use_coverage

    set_cores_per_solve(1)  # one solve per worker process per core: nothing beside it
    started = time.perf_counter()
    region_id = region.id
    loaded = Region.load(build["region_dir"])
    spec = scenario_of(scenario)
    use_coverage(loaded, spec, load_coverage(Path(costs["files"][scenario["name"]])))
    plan = run_scenario(loaded, spec)
    folder = Path(snapshots) / folder_name(region_id) / f"{folder_name(scenario['name'])}-{uuid.uuid4().hex[:8]}"  # a new one per solve: never overwritten
    save_plan(plan, folder)
    payload, geojson = plan_documents(plan)
    store = _store(db_url)
    plan_id = store.add(db.plans, kind="batch", scenario_id=None, region=region_id, region_version=None, town=None,
                        spec=stored_spec(batch, region, scenario), payload=payload, geojson=geojson,
                        snapshot=str(folder.relative_to(Path(snapshots).parent)), created_by=None)
    seconds = time.perf_counter() - started
    solver = plan.summary.get("solver") or {}
    summary = {"covered_share": plan.summary.get("covered_share"), "new_sites": plan.summary.get("new_sites"),
               "proven_optimal": solver.get("proven_optimal"), "gap": solver.get("gap"), "solver": solver.get("name"),
               "objective": solver.get("objective"), "bound": solver.get("bound")}
    store.record_batch_result(batch=batch, region=region_id, scenario=scenario["name"], status="done", plan_id=plan_id,
                              message=json.dumps(summary, ensure_ascii=False, default=str), seconds=seconds, peak_rss_mb=_peak_rss_mb(),
                              worker=f"{socket.gethostname()}:{os.getpid()}")
    return {"plan_id": plan_id, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "worker": f"{socket.gethostname()}:{os.getpid()}",
            "summary": summary}


def stored_spec(batch: str, region: BatchRegion, scenario: dict[str, Any]) -> dict[str, Any]:
    """The spec stored with a batch plan: the scenario, the batch and where the region came from."""
    return {**scenario, "batch": batch, "region_source": region.source}


def _still_valid(store: Any, spec: BatchSpec) -> set[tuple[str, str]]:
    """The (region, scenario) pairs an earlier run of this batch finished with the same scenario
    and region source (a pair whose spec changed since is solved again)."""
    from api import store as db

    done = store.rows(db.batch_results, db.batch_results.c.batch == spec.name, db.batch_results.c.status == "done", limit=1_000_000)
    plan_ids = [r["plan_id"] for r in done if r["plan_id"]]
    stored = {p["id"]: p["spec"] for p in store.rows(db.plans, db.plans.c.id.in_(plan_ids), limit=1_000_000, columns=["id", "spec"])} if plan_ids else {}
    regions = {r.id: r for r in spec.regions}
    scenarios = {s["name"]: s for s in spec.scenarios}
    return {(r["region"], r["scenario"]) for r in done
            if r["region"] in regions and r["scenario"] in scenarios
            and stored.get(r["plan_id"]) == stored_spec(spec.name, regions[r["region"]], scenarios[r["scenario"]])}


# ---------------------------------------------------------------------------- coverage files
def save_coverage(coverage: Any, path: Path) -> None:
    """Write a :class:`planner.travel.costs.CoverageMatrix` as an ``.npz`` (atomically)."""
    matrix = coverage.costs
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr, shape=np.array(matrix.shape),
             meta=np.array(json.dumps({"cutoff": coverage.cutoff, "unit": coverage.unit, "kind": coverage.kind, "direction": coverage.direction})))
    os.replace(tmp, path)


def load_coverage(path: Path) -> Any:
    """Read a matrix written by :func:`save_coverage`."""
    from planner.travel.costs import CoverageMatrix, PairMatrix

    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        matrix = PairMatrix((f["data"], f["indices"], f["indptr"]), shape=tuple(int(n) for n in f["shape"]))
    return CoverageMatrix(matrix, float(meta["cutoff"]), meta["unit"], meta["kind"], meta["direction"])


# ---------------------------------------------------------------------------- the client side
@dataclass
class BatchReport:
    """How a batch run went: per (region, scenario) ``done`` (this run), ``kept`` (an earlier run's)
    or ``failed`` with the reason; per region the build time; wall time, seconds."""

    name: str
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    wall_s: float = 0.0

    def count(self, status: str) -> int:
        """How many (region, scenario) pairs ended with ``status``."""
        return sum(1 for r in self.results.values() if r["status"] == status)

    def failed_regions(self) -> dict[str, str]:
        """Region → the first reason one of its scenarios failed."""
        out: dict[str, str] = {}
        for (region, _), r in sorted(self.results.items()):
            if r["status"] == "failed":
                out.setdefault(region, r["message"])
        return out


def _reason(exc: BaseException) -> str:
    """The reason a task failed, for the report (the error's own words, one line)."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, (DataError, ValueError)) else f"{type(exc).__name__}: {text}"


def run_batch(spec: BatchSpec, client: Any, *, db_url: str, data_dir: Path, cache_dir: Path | None = None,
              on_event: Callable[[str, dict[str, Any]], None] | None = None) -> BatchReport:
    """Run ``spec`` on the Dask cluster behind ``client``; results go to the store at ``db_url``.

    ``data_dir`` holds the batch's files (regions, matrices, snapshots): every worker must see it
    at the same path.  Pairs done by an earlier run of the same batch are kept, not solved again.
    ``on_event(kind, info)`` hears ``built``, ``done``, ``failed`` and ``kept`` as they happen.
    """
    from distributed import as_completed

    from api import store as db

    store = db.Store(db_url)  # migrated here, once, before any worker writes
    started = time.perf_counter()
    report = BatchReport(spec.name)
    say = on_event or (lambda _kind, _info: None)
    finished = _still_valid(store, spec)
    root = Path(data_dir).resolve() / "batch" / folder_name(spec.name)
    snapshots = Path(data_dir).resolve() / "snapshots" / f"batch-{folder_name(spec.name)}"
    futures: dict[Any, tuple[str, str, str]] = {}
    for region in spec.regions:
        todo = [s for s in spec.scenarios if (region.id, s["name"]) not in finished]
        for s in spec.scenarios:
            if (region.id, s["name"]) in finished:
                report.results[(region.id, s["name"])] = {"status": "kept"}
                say("kept", {"region": region.id, "scenario": s["name"]})
        if not todo:
            continue
        folder = root / folder_name(region.id)
        build = client.submit(build_task, region.source, str(folder / "region"), str(cache_dir) if cache_dir else None,
                              key=f"build-{folder_name(spec.name)}-{folder_name(region.id)}", pure=False)
        costs = client.submit(costs_task, build, todo, str(folder / "costs"), key=f"costs-{folder_name(spec.name)}-{folder_name(region.id)}",
                              pure=False)
        futures[build] = ("build", region.id, "")
        for s in todo:
            solve = client.submit(solve_task, spec.name, region, build, costs, s, db_url, str(snapshots),
                                  key=f"solve-{folder_name(spec.name)}-{folder_name(region.id)}-{folder_name(s['name'])}", pure=False)
            futures[solve] = ("solve", region.id, s["name"])
    for future in as_completed(list(futures)):
        kind, region_id, scenario_name = futures[future]
        if future.status == "error":
            reason = _reason(future.exception())
            if kind == "build":
                report.builds[region_id] = {"status": "failed", "message": reason}
                continue
            step = "build" if report.builds.get(region_id, {}).get("status") == "failed" else "solve"
            reason = f"{step}: {reason}"
            store.record_batch_result(batch=spec.name, region=region_id, scenario=scenario_name, status="failed", message=reason)
            report.results[(region_id, scenario_name)] = {"status": "failed", "message": reason, "step": step}
            say("failed", {"region": region_id, "scenario": scenario_name, "message": reason})
            continue
        result = future.result()
        if kind == "build":
            report.builds[region_id] = {"status": "done", **result}
            say("built", {"region": region_id, **result})
        else:
            report.results[(region_id, scenario_name)] = {"status": "done", **result}
            say("done", {"region": region_id, "scenario": scenario_name, **result})
    report.wall_s = time.perf_counter() - started
    store.engine.dispose()
    return report


def local_cluster(workers: int, memory_limit: str | None = None) -> Any:
    """A Dask LocalCluster of ``workers`` single-threaded worker processes (no dashboard; offline)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        memory_limit=memory_limit or "auto", silence_logs=50)  # a failed task is reported by the batch, once
