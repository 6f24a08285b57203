"""Scenarios and their jobs: stored against a region version, run in worker processes (api.jobs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import store as db
from api.deps import PageDep, StateDep, Who, require
from api.hierarchy import job_task
from api.schemas import HierarchyIn, ScenarioIn
from api.state import ApiError, State, region_at, scenario_of, town_id, version_of

router = APIRouter(tags=["scenarios"])


@router.post("/regions/{region_id}/scenarios", status_code=201)
def create_scenario(region_id: str, body: ScenarioIn, who: Who, state: StateDep) -> dict:
    """Planner: store a scenario (validated against its region version)."""
    require(who, "planner")
    spec = body.model_dump()
    region = region_at(state, region_id, spec.pop("region_version"))
    version = version_of(region)
    if state.settings.solve_time_cap:
        spec["time_limit"] = min(spec["time_limit"], state.settings.solve_time_cap)
    if spec.get("town"):
        spec["town"] = town_id(region, spec["town"])
    scenario = scenario_of(spec)
    try:
        scenario.validate(region)
    except (ValueError, KeyError) as exc:
        raise ApiError(422, str(exc)) from exc
    scenario_id = state.store.add(db.scenarios, region=region_id, region_version=version, spec=spec, created_by=who.id)
    return {"id": scenario_id, "region": region_id, "region_version": version, "scenario": spec}


@router.post("/regions/{region_id}/hierarchies", status_code=201)
def create_hierarchy(region_id: str, body: HierarchyIn, who: Who, state: StateDep) -> dict:
    """Planner: store a hierarchy scenario (default: the work plan's 市级龙头 / 镇街示范 / 村居场所),
    every level planned as one problem when it is run (``POST /scenarios/{id}/run``)."""
    require(who, "planner")
    spec = body.model_dump()
    region = region_at(state, region_id, spec.pop("region_version"))
    if state.settings.solve_time_cap:
        spec["time_limit"] = min(spec["time_limit"], state.settings.solve_time_cap)
    for k, level in enumerate(spec["levels"]):
        if not len(region.units_at(level["unit_level"])):
            raise ApiError(422, f"levels[{k}] ({level['name']}): region '{region.name}' has no {level['unit_level']} units", "levels")
    types = {t for lv in spec["levels"] for t in (*lv["site_types"], *(lv["existing_types"] or []))}
    if not region.sites["type"].isin(types).any():
        raise ApiError(422, f"region '{region.name}' has no site of types {', '.join(sorted(types))}", "levels")
    names = [lv["name"] for lv in spec["levels"]]
    if len(set(names)) != len(names):
        raise ApiError(422, "levels: each level needs its own name", "levels")
    limits = spec.pop("n_new_by_level")
    unknown = sorted(set(limits) - set(names))
    if unknown or any(v < 0 for v in limits.values()):
        raise ApiError(422, f"n_new_by_level: {'no level named ' + ', '.join(unknown) if unknown else 'limits must be 0 or more'} (levels: {', '.join(names)})",
                       "n_new_by_level")
    for level in spec["levels"]:
        if level["name"] in limits:
            level["n_new"] = int(limits[level["name"]])
    spec["kind"] = "hierarchy"
    scenario_id = state.store.add(db.scenarios, region=region_id, region_version=version_of(region), spec=spec, created_by=who.id)
    return {"id": scenario_id, "region": region_id, "region_version": version_of(region), "scenario": spec}


@router.get("/scenarios")
def list_scenarios(who: Who, state: StateDep, paging: PageDep, region: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    """Planner: stored scenarios, newest first (paged)."""
    require(who, "planner")
    where = [db.scenarios.c.region == region] if region else []
    rows = state.store.rows(db.scenarios, *where, limit=paging.limit, offset=paging.offset)
    items = [{"id": r["id"], "region": r["region"], "region_version": r["region_version"], "name": (r["spec"] or {}).get("name"),
              "facility_type": (r["spec"] or {}).get("facility_type"), "model": (r["spec"] or {}).get("model"),
              "created_by": r["created_by"], "created_at": str(r["created_at"])} for r in rows]
    return paging.page(items, state.store.count(db.scenarios, *where))


@router.get("/jobs")
def list_jobs(who: Who, state: StateDep, paging: PageDep,
              status: Annotated[str | None, Query(pattern="^(queued|running|done|failed|cancelled)$")] = None) -> dict:
    """Planner: jobs, newest first (paged), optionally of one status."""
    require(who, "planner")
    where = [db.jobs.c.status == status] if status else []
    rows = state.store.rows(db.jobs, *where, limit=paging.limit, offset=paging.offset)
    return paging.page([_job_out(r) for r in rows], state.store.count(db.jobs, *where))


@router.get("/scenarios/{scenario_id}")
def get_scenario(scenario_id: int, who: Who, state: StateDep) -> dict:
    """Planner: a stored scenario."""
    require(who, "planner")
    row = state.store.get(db.scenarios, scenario_id)
    if row is None:
        raise ApiError(404, "no such scenario")
    return {"id": row["id"], "region": row["region"], "region_version": row["region_version"], "scenario": row["spec"],
            "created_at": str(row["created_at"])}


def _pending(state: State, key_id: int | None = None) -> int:
    where = [db.jobs.c.status.in_(["queued", "running"])]
    if key_id is not None:
        where.append(db.jobs.c.created_by == key_id)
    return len(state.store.rows(db.jobs, *where, limit=10_000))


@router.post("/scenarios/{scenario_id}/run", status_code=202)
def run(scenario_id: int, who: Who, state: StateDep) -> dict:
    """Planner: run a scenario as a background job in a worker process; poll ``/jobs/{id}``.

    The queue is bounded: 429 when this key has too many jobs waiting or running, 503 when the
    service has; both say when to retry."""
    require(who, "planner")
    row = state.store.get(db.scenarios, scenario_id)
    if row is None:
        raise ApiError(404, "no such scenario")
    limits = state.settings
    if _pending(state, who.id) >= limits.max_pending_jobs_per_key:
        raise ApiError(429, f"this key has {limits.max_pending_jobs_per_key} jobs queued or running already; wait for one to finish",
                       retry_after=30)
    if _pending(state) >= limits.max_pending_jobs:
        raise ApiError(503, f"the job queue is full ({limits.max_pending_jobs} jobs queued or running); try again later", retry_after=60)
    region_at(state, row["region"], row["region_version"])  # 404 for a version that cannot be rebuilt
    job_task(row["spec"])  # a spec that cannot run is refused here, not queued
    job_id = state.store.add(db.jobs, scenario_id=scenario_id, status="queued", progress=0.0, message="queued", created_by=who.id)
    state.dispatcher.wake()  # any server with a free worker claims it; this one looks at once
    return {"job": job_id, "status": "queued", "poll": f"/jobs/{job_id}"}


def _job_out(row: dict) -> dict:
    out = {k: (str(v) if k.endswith("_at") and v is not None else v) for k, v in row.items()}
    if row["plan_id"]:
        out["plan"] = f"/plans/{row['plan_id']}"
    return out


@router.get("/jobs/{job_id}")
def job(job_id: int, who: Who, state: StateDep) -> dict:
    """Planner: status, progress (0–1), message (the real stage), and the plan when done."""
    require(who, "planner")
    row = state.store.get(db.jobs, job_id)
    if row is None:
        raise ApiError(404, "no such job")
    return _job_out(row)


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: int, who: Who, state: StateDep) -> dict:
    """Planner: cancel a queued or running job; a running job's worker process is terminated."""
    require(who, "planner")
    row = state.store.get(db.jobs, job_id)
    if row is None:
        raise ApiError(404, "no such job")
    if not state.store.cancel_job(job_id):
        raise ApiError(409, f"the job is already {(state.store.get(db.jobs, job_id) or row)['status']}")
    state.runner.cancel(job_id)  # running here: stopped now; on another server: stopped there within a second
    return _job_out(state.store.get(db.jobs, job_id) or row)
