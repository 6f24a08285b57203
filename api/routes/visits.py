"""Home-visit rounds for elders living alone (探访关爱): who visits whom and on which days of a month.

Elders living alone are personal data: a planner sees every town's rounds, a street office its own
town's (it organises the visits); patrol keys none.  Planned inside the request in a worker process
(the inline-solve limits and time cap apply), stored with the month's calendar.
"""

from __future__ import annotations

import io
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import Response

from api import store as db
from api.deps import PageDep, StateDep, Who, require
from api.schemas import VisitsIn
from api.state import ApiError, Caller, State, inline_slot, public_data, region_at, solve_inline, town_id, version_of
from geodata.export import safe_cell
from geodata.region import Region
from planner.routing.visits import plan_region_visits

router = APIRouter(tags=["home visits"])

VISITS_TIME_LIMIT_S = 60.0
"""Seconds a month's rounds may take in the worker before it is stopped (plus the inline grace)."""


def _plan_visits(region: Region, body: dict, town: str | None) -> tuple[dict, list[dict]]:
    """Runs in a worker process: the month's rounds as plain data (summary, visitors, unserved; calendar rows)."""
    import json

    plan = plan_region_visits(region, year=body["year"], month=body["month"], town=town, visits_per_month=body["visits_per_month"],
                              visitor_capacity=body["visitor_capacity"], weekdays=body["weekdays"], max_travel_min=body["max_travel_min"],
                              max_visits_per_day=body["max_visits_per_day"])
    payload = {"summary": plan.summary, "visitors": plan.visitors.to_dict("records"), "unserved": plan.unserved.to_dict("records")}
    return json.loads(json.dumps(payload, ensure_ascii=False, default=str)), json.loads(plan.calendar.to_json(orient="records", force_ascii=False))


@router.post("/regions/{region_id}/visits", status_code=201)
def create_visits(region_id: str, body: VisitsIn, who: Who, state: StateDep) -> dict:
    """Planner or street office (its own town): plan a month of home visits to elders living alone."""
    require(who, "planner", "street_office")
    region = region_at(state, region_id)
    town = town_id(region, body.town) if body.town else None
    if who.role == "street_office":
        if town is not None and town != who.town:
            raise ApiError(403, "a street office plans the visits of its own town only")
        town = who.town
    with inline_slot(state, who):
        payload, calendar = solve_inline(state, _plan_visits, region, body.model_dump(), town, time_limit_s=VISITS_TIME_LIMIT_S)
    visits_id = state.store.add(db.visits, region=region_id, region_version=version_of(region), town=town, spec=body.model_dump(),
                                payload=payload, calendar=calendar, created_by=who.id)
    return {"id": visits_id, **_out(payload), "links": {"calendar": f"/visits/{visits_id}/calendar"}}


def _out(payload: dict) -> dict:
    return {**payload, "summary": public_data(payload.get("summary", {}))}


def _row(state: State, visits_id: int, who: Caller) -> dict:
    require(who, "planner", "street_office")
    row = state.store.get(db.visits, visits_id)
    if row is None:
        raise ApiError(404, "no such visit plan")
    if who.role == "street_office" and row["town"] != who.town:
        raise ApiError(403, "this visit plan belongs to another town")
    return row


@router.get("/visits")
def list_visits(who: Who, state: StateDep, paging: PageDep, region: Annotated[str | None, Query(max_length=100)] = None) -> dict:
    """Visit plans, newest first (paged): a planner sees all, a street office its own town's."""
    require(who, "planner", "street_office")
    where = [db.visits.c.region == region] if region else []
    if who.role == "street_office":
        where.append(db.visits.c.town == who.town)
    rows = state.store.rows(db.visits, *where, limit=paging.limit, offset=paging.offset, columns=["id", "region", "town", "spec", "created_by", "created_at"])
    items = [{"id": r["id"], "region": r["region"], "town": r["town"], "month": f"{r['spec']['year']}-{r['spec']['month']:02d}",
              "created_by": r["created_by"], "created_at": str(r["created_at"]), "links": {"visits": f"/visits/{r['id']}"}} for r in rows]
    return paging.page(items, state.store.count(db.visits, *where))


@router.get("/visits/{visits_id}")
def get_visits(visits_id: int, who: Who, state: StateDep) -> dict:
    """A month's rounds: summary, visitors with their load, elders short of visits and why."""
    row = _row(state, visits_id, who)
    return {"id": row["id"], "region": row["region"], "town": row["town"], **_out(row["payload"]), "links": {"calendar": f"/visits/{visits_id}/calendar"}}


@router.get("/visits/{visits_id}/calendar")
def visits_calendar(visits_id: int, who: Who, state: StateDep, format: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> Response:
    """The month's calendar (date, visitor, elder's home): JSON or CSV (UTF-8 with BOM, opens in Excel)."""
    row = _row(state, visits_id, who)
    if format == "json":
        import json

        return Response(json.dumps(row["calendar"], ensure_ascii=False), media_type="application/json")
    frame = pd.DataFrame(row["calendar"]).map(safe_cell) if row["calendar"] else pd.DataFrame()
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="visits-{visits_id}.csv"'})
