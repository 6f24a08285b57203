"""Site suggestions for one town (street offices), answered inside the request under the service's
inline-solve limit and time cap: by a warm suggestion engine (planner.suggest) in the service's
solver processes (api.solvers), stored as the answer and its solution, the full plan written when
first read (api.explainer); a question on a pending proposal or too large for that path is solved
in a worker process forked for it, with its plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fastapi import APIRouter

from api import store as db
from api.deps import StateDep, Who, require
from api.explainer import ANSWERED
from api.jobs import WorkerTimeout
from api.privacy import SENSITIVE_GROUPS, suppress
from api.schemas import SuggestionIn
from api.snapshots import save_plan
from api.state import (
    ApiError, Caller, State, inline_slot, inline_time_limit, new_snapshot, plan_documents, public_data, region_at, scenario_of, solve_inline, store_plan, suggestion_engine, town_id, upload_sites, version_of, with_sites,
)
from geodata.region import Region
from geodata.vocabulary import FACILITY_TYPES
from planner.scenario import Plan, Scenario, run_scenario, warm_costs
from planner.suggest import suggestion_record

router = APIRouter(tags=["street office"])

SUGGESTION_TIME_LIMIT_S = 20.0
"""Solver time limit asked for a suggestion, seconds (the service's inline cap may lower it)."""


def _candidates(state: State, region_id: str, region: Region, who: Caller, upload_id: int | None) -> tuple[Region, list[str] | None, str | None]:
    """The region to plan on and the candidate site ids: with ``upload_id``, that upload's sites only
    (a street office's own proposal is laid over the region for this question; it joins the
    region's scenarios only when a planner approves it)."""
    if upload_id is None:
        return region, None, None
    upload = state.store.get(db.uploads, upload_id)
    if upload is None or upload["region"] != region_id or (who.role == "street_office" and upload["town"] != who.town):
        raise ApiError(404, "no such upload for this town", "upload_id")
    status = upload["status"] or "approved"
    if upload["kind"] != "candidates":
        raise ApiError(422, f"upload {upload_id} holds existing facilities, not candidate sites", "upload_id")
    ids = [f"upload-{upload_id}-{k + 1}" for k in range(upload["features"])]
    if status == "proposed":
        return with_sites(region, upload_sites(upload), version_of(region)), ids, f"upload {upload_id} (proposed, not yet approved)"
    if status != "approved":
        raise ApiError(409, f"upload {upload_id} was {status}; its sites are not in the region", "upload_id")
    return region, ids, None


def _suggest(region: Region, scenario: Scenario, proposal: str | None, folder: Path) -> tuple[Plan, dict, str]:
    """Runs in a worker process: solve, note the proposal used, write the snapshot and the documents."""
    plan = run_scenario(region, scenario)
    if proposal:
        plan.summary["proposal"] = proposal
    save_plan(plan, folder)
    return (plan, *plan_documents(plan))


def _fast(state: State, region_id: str, region: Region, scenario: Scenario, spec: dict, body: SuggestionIn, who: Caller) -> tuple | None:
    """Answer from a warm suggestion engine and store the answer with its solution in the plan's row;
    its full plan is written when first read (api.explainer).  None: too large for this path."""
    if ":memory:" in state.settings.db_url:  # the writing process could not reach an in-memory database
        return None
    limit = state.settings.fast_suggestion_max_pairs
    got = None
    if state.solvers is not None:  # a warm solver process: the search runs beside the service
        try:
            got = state.solvers.suggest(region_id, version_of(region), scenario, max_pairs=limit, time_limit_s=scenario.time_limit + state.settings.inline_grace_s)
        except WorkerTimeout:
            raise ApiError(503, "the solve did not finish in time and was stopped; ask a smaller question or try later", retry_after=30) from None
        if got == "too_large":
            return None
    if got is None:  # no worker free or none with this region version yet: in this process
        engine = suggestion_engine(state, region_id, region)
        if engine.size(scenario) > limit:
            return None
        got = engine.suggest(scenario)
    plan_id = state.store.add(db.plans, kind="suggestion", scenario_id=None, region=region_id, region_version=version_of(region), town=spec.get("town"),
                              spec={**spec, "upload_id": body.upload_id}, payload={"status": ANSWERED, "answer": suggestion_record(got)}, geojson="{}",
                              snapshot=None, created_by=who.id)
    return plan_id, got.site_ids, got.names, got.adds_persons, got.lon, got.lat, got.covered_before, got.covered_after


@router.post("/regions/{region_id}/suggestions")
def suggestions(region_id: str, body: SuggestionIn, who: Who, state: StateDep) -> dict:
    """Street office: ``k`` more facilities in one town, ranked, with the residents each adds.

    Solved inside the request: at most ``inline_solves`` at a time (503 with Retry-After beyond)
    and within ``inline_time_cap_s`` seconds of solver time."""
    require(who, "planner", "street_office")
    latest = region_at(state, region_id)
    town = town_id(latest, body.town)
    if who.role == "street_office" and town != who.town:
        raise ApiError(403, "a street office may ask about its own town only")
    region, candidates, proposal = _candidates(state, region_id, latest, who, body.upload_id)
    key = json.dumps([region_id, version_of(latest), town, body.model_dump(), candidates, proposal, who.role in ("admin", "planner")],
                     sort_keys=True, ensure_ascii=False)
    with state.lock:
        cached = state.suggestion_cache.get(key)
    if cached is not None:
        return cached
    spec = {"name": f"{FACILITY_TYPES[body.facility_type]['zh']} · {town}", "facility_type": body.facility_type, "model": "mclp",
            "group": body.group, "mode": "walk", "standard_min": body.standard_min, "n_new": body.k, "town": town,
            "candidate_site_ids": candidates, "time_limit": inline_time_limit(state, SUGGESTION_TIME_LIMIT_S)}
    scenario = scenario_of(spec)
    with inline_slot(state, who):
        found = _fast(state, region_id, region, scenario, spec, body, who) if proposal is None and state.settings.fast_suggestions else None
        if found is None:
            folder, snapshot = new_snapshot(state, "plans")
            warm_costs(region, scenario)  # kept in this process: the worker that solves inherits them
            plan_obj, payload, geojson = solve_inline(state, _suggest, region, scenario, proposal, folder, time_limit_s=spec["time_limit"])
            plan_id = store_plan(state, plan_obj, kind="suggestion", region_id=region_id, spec={**spec, "upload_id": body.upload_id}, caller_id=who.id,
                                 payload=payload, snapshot=snapshot, geojson=geojson)
            new = plan_obj.sites[plan_obj.sites["plan_status"] == "new"].sort_values("rank")
            found = (plan_id, new["site_id"].tolist(), new["name"].tolist(), new["adds_persons"].astype(float).round(1).tolist(),
                     [round(p.x, 7) for p in new.geometry], [round(p.y, 7) for p in new.geometry],
                     plan_obj.summary["covered_by_existing_share"], plan_obj.summary["covered_share"])
    plan_id, site_ids, names, adds, lons, lats, before, after = found
    if who.role not in ("admin", "planner") and body.group in SENSITIVE_GROUPS:
        adds = suppress(np.asarray(adds, float), state.settings.privacy_min_count).tolist()
    answer = {
        "plan": plan_id, "town": town, "town_name": region.unit_names("town")[town],
        "map": f"/plans/{plan_id}/map?kind=suggestion&lang={body.lang}",
        "sites": [{"rank": k + 1, "site_id": i, "name": n, "adds_persons": a, "lon": x, "lat": y}
                  for k, (i, n, a, x, y) in enumerate(zip(site_ids, names, adds, lons, lats))],
        "covered_share_before": before, "covered_share_after": after,
        "region_version": version_of(latest), "proposal": proposal, "data": public_data(region.data_label),
    }
    with state.lock:
        state.suggestion_cache[key] = answer
        while len(state.suggestion_cache) > state.settings.suggestion_cache_size:
            state.suggestion_cache.popitem(last=False)
    return answer
