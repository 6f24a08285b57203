"""The HTTP service (FastAPI): a thin layer over ``planner``, ``geodata`` and ``maps``.

Users and what they may do (API key in the ``X-API-Key`` header; no key → 401, wrong role or
another town's / station's data → 403):

* **admin** — keys, regions, everything a planner may do;
* **planner** — all towns: scenarios run as background jobs, plans, maps, Excel, compliance;
* **street_office** — bound to one town: site suggestions and uploads for that town only;
* **patrol** — bound to one station: patrol routes from that station only.

Create the app with :func:`create_app`; ``planner serve`` runs it with uvicorn.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import pandas as pd
from fastapi import Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import store as db
from api.jobs import JobRunner, Outcome
from api.schemas import KeyIn, PatrolIn, ScenarioIn, SuggestionIn
from api.snapshots import load_patrol, load_plan, save_patrol, save_plan
from geodata.admin import tag_points
from geodata.errors import DataError
from geodata.export import excel_bytes, gpx_xml
from geodata.region import Region
from geodata.sites import read_sites
from geodata.vocabulary import FACILITY_TYPES
from maps.base import copy_assets, render_html
from maps.views import compliance_map, coverage_map, patrol_map, suggestion_map
from planner.location.problem import InfeasibleProblem
from planner.routing.patrol import CAMPAIGNS, PatrolPlan, Team, apply_campaign, plan_patrols, stops_from_spots
from planner.report import PERCENT_HEADERS, plan_tables
from planner.scenario import Plan, Scenario, run_scenario

VERSION = "0.1.0"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""Largest upload accepted, bytes."""
UPLOAD_SUFFIXES = {".csv", ".xlsx", ".xls", ".geojson", ".json"}
ASSET_URL = "/static/maps"


@dataclass
class Settings:
    """Service configuration.

    ``regions`` maps a region id to a loaded Region; ``db_url`` is any SQLAlchemy URL;
    ``admin_key`` (optional) is created as an admin key at start when no key exists.
    """

    regions: dict[str, Region]
    db_url: str
    data_dir: Path
    admin_key: str | None = None
    workers: int = 1
    suggestion_cache_size: int = 256
    solve_time_cap: float | None = None
    """Upper bound on any solver time limit, seconds (e.g. for fuzzing); None: as requested."""
    job_grace_s: float = 120.0
    """A job is stopped at its solver time limit plus this many seconds (costs, explanation, writing)."""


@dataclass
class Caller:
    """The authenticated key."""

    id: int
    name: str
    role: str
    town: str | None = None
    station: str | None = None


@dataclass
class State:
    """Everything the request handlers share."""

    settings: Settings
    store: db.Store
    runner: JobRunner
    versions: dict[str, dict[int, Region]] = field(default_factory=dict)
    plan_cache: "OrderedDict[int, Plan]" = field(default_factory=OrderedDict)
    patrol_cache: "OrderedDict[int, PatrolPlan]" = field(default_factory=OrderedDict)
    suggestion_cache: "OrderedDict[str, dict]" = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def snapshots(self) -> Path:
        """Folder of the plan and patrol snapshots."""
        return self.settings.data_dir / "snapshots"


class ApiError(Exception):
    """A 4xx answer with a reason."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


# ---------------------------------------------------------------------------- helpers
def _region(state: State, region_id: str, version: int | None = None) -> Region:
    """A region as of ``version`` (default: its latest version)."""
    chain = state.versions.get(region_id)
    if chain is None:
        raise ApiError(404, f"no region {region_id!r} (known: {', '.join(state.settings.regions)})", "region")
    if version is None:
        return chain[max(chain)]
    if version not in chain:
        raise ApiError(404, f"region {region_id!r} has no version {version} (versions: {', '.join(map(str, sorted(chain)))})", "region_version")
    return chain[version]


def _version_of(region: Region) -> int:
    return int(region.provenance.get("version", 1))


def _town_id(region: Region, town: str) -> str:
    towns = region.units_at("town")
    hit = towns[(towns["unit_id"] == town) | (towns["name"] == town)]
    if hit.empty:
        raise ApiError(422, f"unknown town {town!r} in region '{region.name}'", "town")
    return str(hit["unit_id"].iloc[0])


def _geojson(frame: gpd.GeoDataFrame) -> dict:
    return json.loads(frame.to_json(drop_id=True, default=str)) if len(frame) else {"type": "FeatureCollection", "features": []}


def _require(caller: Caller, *roles: str) -> None:
    if caller.role not in roles and caller.role != "admin":
        raise ApiError(403, f"the role '{caller.role}' may not do this (needs: {', '.join(roles)})")


def _scenario(spec: dict) -> Scenario:
    fields = {f.name for f in dataclasses.fields(Scenario)}
    return Scenario(**{k: v for k, v in spec.items() if k in fields})


OBJECT_CACHE_SIZE = 32
"""Solved plans and patrols kept in memory for their maps (older ones are solved again)."""


def _recall(state: State, cache: OrderedDict, key: int) -> object | None:
    with state.lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    return None


def _remember(state: State, cache: OrderedDict, key: int, value: object) -> None:
    with state.lock:
        cache[key] = value
        while len(cache) > OBJECT_CACHE_SIZE:
            cache.popitem(last=False)


def _plan_object(state: State, plan_row: dict) -> Plan:
    """The Plan behind a stored plan, read from its snapshot (never solved again)."""
    plan = _recall(state, state.plan_cache, plan_row["id"])
    if plan is None:
        if not plan_row.get("snapshot"):
            raise ApiError(409, "this plan was stored before plans kept snapshots; its map cannot be drawn without solving it again "
                                "(run its scenario again for a new plan)")
        plan = load_plan(state.snapshots / plan_row["snapshot"])
        _remember(state, state.plan_cache, plan_row["id"], plan)
    return plan  # type: ignore[return-value]


def _patrol_inputs(region: Region, body: PatrolIn) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[Team]]:
    """Depot, stops and teams of a patrol request (422 naming what is wrong)."""
    depots = region.sites[region.sites["name"].astype(str) == body.station][["name", "geometry"]].head(1).reset_index(drop=True)
    if depots.empty:
        raise ApiError(422, f"unknown station {body.station!r}", "station")
    spots = region.layers.get("patrol_spots")
    if spots is None or len(spots) == 0:
        raise ApiError(422, f"region '{region.name}' has no patrol spots", "region")
    stops = stops_from_spots(spots, limit=body.spots, kinds=tuple(body.kinds) if body.kinds else None)
    if len(stops) == 0:
        raise ApiError(422, "no patrol spot of the requested kinds", "kinds")
    if body.campaign:
        stops = apply_campaign(stops, spots, CAMPAIGNS[body.campaign])
    teams = [Team(t.name, body.station, count=t.count, mode=t.mode, shift=(t.shift_start.replace("：", ":"), t.shift_end.replace("：", ":")),
                  max_duration_min=t.max_duration_min, capacity=t.capacity) for t in body.teams]
    return depots, stops, teams


def _new_snapshot(state: State, kind: str) -> tuple[Path, str]:
    """A fresh snapshot folder (not created yet) and its name relative to the snapshot root."""
    name = f"{kind}/{uuid.uuid4().hex}"
    return state.snapshots / name, name


def _store_plan(state: State, plan: Plan, *, kind: str, region_id: str, spec: dict, caller_id: int | None, scenario_id: int | None = None,
                payload: dict | None = None, snapshot: str | None = None) -> int:
    """Store a plan: its snapshot (written here unless given) and its row."""
    if snapshot is None:
        folder, snapshot = _new_snapshot(state, "plans")
        save_plan(plan, folder)
    payload = json.loads(json.dumps(payload if payload is not None else plan.to_dict(), ensure_ascii=False, default=str))
    geojson = json.dumps(_geojson(plan.sites), ensure_ascii=False)
    plan_id = state.store.add(db.plans, kind=kind, scenario_id=scenario_id, region=region_id, region_version=plan.summary.get("region_version"),
                              town=spec.get("town"), spec=spec, payload=payload, geojson=geojson, snapshot=snapshot, created_by=caller_id)
    _remember(state, state.plan_cache, plan_id, plan)
    return plan_id


def _check_plan_access(caller: Caller, row: dict | None, what: str = "plan") -> dict:
    if row is None:
        raise ApiError(404, f"no such {what}")
    if caller.role in ("admin", "planner"):
        return row
    if caller.role == "street_office" and row.get("kind") == "suggestion" and row.get("town") == caller.town:
        return row
    raise ApiError(403, f"this {what} belongs to another user group or town")


def _fingerprint(region: Region) -> str:
    """What identifies a region's base data: its name, cache key and sites."""
    sites = ",".join(map(str, region.sites["site_id"])) if len(region.sites) else ""
    text = json.dumps([region.name, region.provenance.get("cache_key"), len(region.demand), sites], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _with_sites(region: Region, extra: gpd.GeoDataFrame | None, version: int) -> Region:
    """A version of ``region``: its sites plus ``extra`` (networks and layers shared, never changed)."""
    sites = region.sites
    if extra is not None and len(extra):
        sites = gpd.GeoDataFrame(pd.concat([region.sites, extra], ignore_index=True), geometry="geometry", crs=region.sites.crs)
    return dataclasses.replace(region, sites=sites, provenance={**region.provenance, "version": version})


def _upload_sites(row: dict) -> gpd.GeoDataFrame:
    return gpd.read_file(io.StringIO(row["geojson"]))


def _init_versions(state: State, region_id: str) -> None:
    """Rebuild a region's version chain from the store; a first start (or new base data) makes a version."""
    base = state.settings.regions[region_id]
    rows = sorted(state.store.rows(db.region_versions, db.region_versions.c.region == region_id, limit=100_000), key=lambda r: r["version"])
    fingerprint = _fingerprint(base)
    roots = [r for r in rows if r["fingerprint"]]
    if not rows or roots[-1]["fingerprint"] != fingerprint:
        note = "as loaded" if not rows else "region data replaced (the region was rebuilt); uploads so far are carried over"
        version = (rows[-1]["version"] + 1) if rows else 1
        state.store.add(db.region_versions, region=region_id, version=version, parent=rows[-1]["version"] if rows else None, note=note,
                        fingerprint=fingerprint, sites=len(base.sites))
        rows = sorted(state.store.rows(db.region_versions, db.region_versions.c.region == region_id, limit=100_000), key=lambda r: r["version"])
    uploads = {u["id"]: u for u in state.store.rows(db.uploads, db.uploads.c.region == region_id, limit=100_000)}
    chain: dict[int, Region] = {}
    current: Region | None = None
    applied: list[int] = []
    for row in rows:
        if row["fingerprint"]:  # a root: the base data, with every upload made so far
            extra = [_upload_sites(uploads[u]) for u in applied if u in uploads]
            same_base = row["fingerprint"] == fingerprint  # versions on replaced base data cannot be rebuilt
            current = _with_sites(base, pd.concat(extra, ignore_index=True) if extra else None, row["version"]) if same_base else None
        elif row["upload_id"] in uploads and current is not None:
            current = _with_sites(current, _upload_sites(uploads[row["upload_id"]]), row["version"])
        if row["upload_id"]:
            applied.append(row["upload_id"])
        if current is not None:
            chain[row["version"]] = current
    state.versions[region_id] = chain


# ---------------------------------------------------------------------------- auth
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (see POST /keys)")


def caller(request: Request, key: Annotated[str | None, Depends(key_header)]) -> Caller:
    """The key's holder; 401 without a valid key."""
    if not key:
        raise HTTPException(401, "missing API key (header X-API-Key)")
    row = request.app.state.planner.store.key_by_secret(key)
    if row is None:
        raise HTTPException(401, "unknown or revoked API key")
    return Caller(row["id"], row["name"], row["role"], row["town"], row["station"])


Who = Annotated[Caller, Depends(caller)]


# ---------------------------------------------------------------------------- app
def create_app(settings: Settings) -> FastAPIOffline:
    """The FastAPI application (docs at /docs work offline)."""
    store = db.Store(settings.db_url)
    failed = store.fail_interrupted_jobs()
    if settings.admin_key and store.key_by_secret(settings.admin_key) is None:
        store.create_key("admin (from settings)", "admin", secret=settings.admin_key)

    def progress(job_id: int, fraction: float, message: str) -> None:
        store.set(db.jobs, job_id, progress=round(min(max(fraction, 0.0), 0.99), 3), message=message)

    state = State(settings, store, JobRunner(settings.workers, progress, grace_s=settings.job_grace_s))
    for region_id in settings.regions:
        _init_versions(state, region_id)

    app = FastAPIOffline(
        title="coverage-planner API · 民政服务设施覆盖规划",
        version=VERSION,
        description="Meal points, home-care centres and street patrols planned on the real road network. "
                    "Send your API key in the `X-API-Key` header.",
    )
    app.state.planner = state
    app.state.interrupted_jobs = failed
    app.router.on_shutdown.append(state.runner.shutdown)  # running solves end with the service
    assets = copy_assets(settings.data_dir)
    app.mount(ASSET_URL, StaticFiles(directory=assets), name="map-assets")

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": getattr(exc, "field", None)}, status_code=422)

    @app.exception_handler(ValueError)
    async def _value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(InfeasibleProblem)
    async def _infeasible(_request: Request, exc: InfeasibleProblem) -> JSONResponse:
        return JSONResponse({"detail": f"infeasible: {exc}"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors), "errors": errors}, status_code=422)

    # ------------------------------------------------------------------ service
    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Liveness: regions loaded and the database reachable."""
        return {"status": "ok", "regions": list(settings.regions), "database": settings.db_url.split(":", 1)[0]}

    @app.get("/version", tags=["service"])
    def version() -> dict:
        """Service version."""
        return {"version": VERSION}

    # ------------------------------------------------------------------ keys
    @app.post("/keys", tags=["keys"], status_code=201)
    def create_key(body: KeyIn, who: Who) -> dict:
        """Admin: a new key; the secret is returned once and stored only as a hash."""
        _require(who, "admin")
        region = next(iter(settings.regions.values()))
        town = station = None
        if body.role == "street_office":
            if not body.town:
                raise ApiError(422, "a street_office key needs its town", "town")
            town = _town_id(region, body.town)
        if body.role == "patrol":
            if not body.station:
                raise ApiError(422, "a patrol key needs its station", "station")
            if body.station not in set(region.sites["name"].astype(str)):
                raise ApiError(422, f"unknown station {body.station!r}: use the name of a facility of the region", "station")
            station = body.station
        key_id, secret = state.store.create_key(body.name, body.role, town=town, station=station)
        return {"id": key_id, "key": secret, "role": body.role, "town": town, "station": station}

    @app.get("/keys", tags=["keys"])
    def list_keys(who: Who) -> list[dict]:
        """Admin: every key (never the secrets)."""
        _require(who, "admin")
        return state.store.list_keys()

    @app.delete("/keys/{key_id}", tags=["keys"])
    def revoke_key(key_id: int, who: Who) -> dict:
        """Admin: revoke a key."""
        _require(who, "admin")
        if not state.store.revoke_key(key_id):
            raise ApiError(404, "no such key")
        return {"revoked": key_id}

    # ------------------------------------------------------------------ regions
    @app.get("/regions", tags=["regions"])
    def regions(who: Who) -> list[dict]:
        """Regions served, with their data labels."""
        return [{"id": rid, "name": r.name, "synthetic": r.is_synthetic, "data": r.data_label, "version": _version_of(_region(state, rid))}
                for rid, r in settings.regions.items()]

    @app.get("/regions/{region_id}/versions", tags=["regions"])
    def region_versions(region_id: str, who: Who) -> list[dict]:
        """Planner: the region's versions, newest first; each upload makes a new one, plans name the version they ran on."""
        _require(who, "planner")
        _region(state, region_id)
        rows = state.store.rows(db.region_versions, db.region_versions.c.region == region_id, limit=1000)
        chain = state.versions[region_id]
        return [{"version": r["version"], "parent": r["parent"], "note": r["note"], "upload_id": r["upload_id"],
                 "sites": len(chain[r["version"]].sites) if r["version"] in chain else r["sites"], "available": r["version"] in chain,
                 "created_at": str(r["created_at"])} for r in rows]

    @app.get("/regions/{region_id}", tags=["regions"])
    def region_summary(region_id: str, who: Who) -> dict:
        """Units, population groups, networks and facilities of a region (its latest version)."""
        region = _region(state, region_id)
        return {**json.loads(json.dumps(region.summary(), default=str, ensure_ascii=False)), "version": _version_of(region)}

    @app.get("/regions/{region_id}/layers/{layer}", tags=["regions"])
    def region_layer(region_id: str, layer: str, who: Who) -> Response:
        """A layer as GeoJSON (``units``, ``demand``, ``sites``, ``patrol_spots``…); a street
        office sees its own town only."""
        region = _region(state, region_id)
        frames = {"units": region.units, "demand": region.demand, "sites": region.sites, **region.layers}
        if layer not in frames:
            raise ApiError(404, f"no layer {layer!r} (layers: {', '.join(frames)})", "layer")
        frame = frames[layer]
        if who.role == "street_office":
            if layer == "units":
                frame = frame[(frame["unit_id"] == who.town) | (frame.get("parent_id") == who.town)]
            elif "town" in frame:
                frame = frame[frame["town"] == who.town]
            else:
                raise ApiError(403, "a street office may read only the layers of its own town")
        return Response(json.dumps(_geojson(frame), ensure_ascii=False), media_type="application/geo+json")

    @app.post("/regions/{region_id}/uploads", tags=["regions"], status_code=201)
    async def upload_sites(
        region_id: str,
        who: Who,
        file: Annotated[UploadFile, File(description="CSV/Excel with lon/lat, or GeoJSON points")],
        coords: Annotated[str, Form(pattern="^(wgs84|gcj02|bd09)$")] = "wgs84",
        kind: Annotated[str, Form(pattern="^(candidates|facilities)$")] = "candidates",
        facility_type: Annotated[str, Form(max_length=40)] = "meal_point",
    ) -> dict:
        """Facilities or candidate sites (WGS-84, GCJ-02 or BD-09 declared), added to the region."""
        _require(who, "planner", "street_office")
        region = _region(state, region_id)
        if facility_type not in FACILITY_TYPES:
            raise ApiError(422, f"unknown facility_type {facility_type!r}", "facility_type")
        filename = Path(file.filename or "upload.csv").name  # never a path
        suffix = Path(filename).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise ApiError(415, f"file type {suffix or '(none)'} not accepted (use {', '.join(sorted(UPLOAD_SUFFIXES))})", "file")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "file")
        if not data:
            raise ApiError(422, "the file is empty", "file")
        status = "candidate" if kind == "candidates" else "existing"
        try:
            sites, issues = read_sites(data, name=filename, coords=coords, default_type=facility_type, default_status=status)
        except (DataError, ValueError):
            raise
        except Exception as exc:  # noqa: BLE001 — a broken file of an accepted type (zip, xml, encoding errors)
            raise ApiError(422, f"cannot read {filename}: {type(exc).__name__}", "file") from exc
        if len(sites) == 0:
            raise ApiError(422, "no usable site in the file" + (f" ({issues[0].message})" if issues else ""), "file")
        inside = sites.intersects(region.boundary.buffer(0.002)).to_numpy()
        if not inside.all():
            bad = sites.loc[~inside, "name"].astype(str).head(5).tolist()
            raise ApiError(422, f"{int((~inside).sum())} site(s) outside region '{region.name}': {', '.join(bad)}", "geometry")
        tags = tag_points(sites, region.units)
        for level in tags:
            sites[level] = tags[level].to_numpy()
        if who.role == "street_office":
            if "town" not in sites or (sites["town"] != who.town).any():
                raise ApiError(403, "a street office may upload sites inside its own town only")
        sites = sites.drop(columns=[c for c in ("declared_town", "declared_community") if c in sites])
        with state.lock:  # one new version at a time per service
            upload_id = state.store.add(db.uploads, region=region_id, town=who.town, kind=kind, filename=filename, geojson="{}", features=len(sites), created_by=who.id)
            sites["site_id"] = [f"upload-{upload_id}-{k + 1}" for k in range(len(sites))]
            sites["source"] = f"upload {upload_id}: {filename}"
            state.store.set(db.uploads, upload_id, geojson=sites.to_json(drop_id=True, default=str))
            latest = _region(state, region_id)
            version = _version_of(latest) + 1
            new_region = _with_sites(latest, sites, version)
            state.store.add(db.region_versions, region=region_id, version=version, parent=_version_of(latest), upload_id=upload_id,
                            note=f"upload {upload_id} ({filename}): {len(sites)} {kind}", sites=len(new_region.sites), created_by=who.id)
            state.store.set(db.uploads, upload_id, region_version=version)
            state.versions[region_id][version] = new_region
            state.suggestion_cache.clear()
        return {"id": upload_id, "features": len(sites), "site_ids": sites["site_id"].tolist(), "skipped": [i.message for i in issues],
                "region_version": version}

    # ------------------------------------------------------------------ scenarios and jobs
    @app.post("/regions/{region_id}/scenarios", tags=["scenarios"], status_code=201)
    def create_scenario(region_id: str, body: ScenarioIn, who: Who) -> dict:
        """Planner: store a scenario (validated against the region)."""
        _require(who, "planner")
        spec = body.model_dump()
        region = _region(state, region_id, spec.pop("region_version"))
        version = _version_of(region)
        if settings.solve_time_cap:
            spec["time_limit"] = min(spec["time_limit"], settings.solve_time_cap)
        if spec.get("town"):
            spec["town"] = _town_id(region, spec["town"])
        scenario = _scenario(spec)
        try:
            scenario.validate(region)
        except (ValueError, KeyError) as exc:
            raise ApiError(422, str(exc)) from exc
        scenario_id = state.store.add(db.scenarios, region=region_id, region_version=version, spec=spec, created_by=who.id)
        return {"id": scenario_id, "region": region_id, "region_version": version, "scenario": spec}

    @app.get("/scenarios/{scenario_id}", tags=["scenarios"])
    def get_scenario(scenario_id: int, who: Who) -> dict:
        """Planner: a stored scenario."""
        _require(who, "planner")
        row = state.store.get(db.scenarios, scenario_id)
        if row is None:
            raise ApiError(404, "no such scenario")
        return {"id": row["id"], "region": row["region"], "region_version": row["region_version"], "scenario": row["spec"],
                "created_at": str(row["created_at"])}

    def _job_ended(job_id: int, outcome: Outcome, scenario_row: dict, caller_id: int) -> None:
        """Store what a job's worker process produced (called once per job)."""
        if outcome.status == "done" and outcome.snapshot is not None:
            try:
                plan = load_plan(outcome.snapshot)
                plan_id = _store_plan(state, plan, kind="scenario", region_id=scenario_row["region"], spec=scenario_row["spec"], caller_id=caller_id,
                                      scenario_id=scenario_row["id"], payload=outcome.payload,
                                      snapshot=str(outcome.snapshot.relative_to(state.snapshots)))
            except Exception as exc:  # noqa: BLE001 - the job fails, the service stays up
                state.store.set(db.jobs, job_id, status="failed", finished_at=db.now(), message=f"the plan could not be stored: {type(exc).__name__}: {exc}")
                return
            state.store.set(db.jobs, job_id, status="done", progress=1.0, plan_id=plan_id, finished_at=db.now(), message="done")
        else:
            state.store.set(db.jobs, job_id, status=outcome.status, finished_at=db.now(), message=outcome.message)

    @app.post("/scenarios/{scenario_id}/run", tags=["scenarios"], status_code=202)
    def run(scenario_id: int, who: Who) -> dict:
        """Planner: run a scenario as a background job; poll ``/jobs/{id}``."""
        _require(who, "planner")
        row = state.store.get(db.scenarios, scenario_id)
        if row is None:
            raise ApiError(404, "no such scenario")
        region = _region(state, row["region"], row["region_version"])
        job_id = state.store.add(db.jobs, scenario_id=scenario_id, status="queued", progress=0.0, message="queued", created_by=who.id)
        folder, _ = _new_snapshot(state, "plans")
        caller_id = who.id

        def ended(jid: int, outcome: Outcome) -> None:
            _job_ended(jid, outcome, row, caller_id)

        def started(jid: int) -> None:
            state.store.set(db.jobs, jid, status="running", started_at=db.now())

        state.runner.submit(job_id, region, _scenario(row["spec"]), folder, ended, started)
        return {"job": job_id, "status": "queued", "poll": f"/jobs/{job_id}"}

    def _job_out(row: dict) -> dict:
        out = {k: (str(v) if k.endswith("_at") and v is not None else v) for k, v in row.items()}
        if row["plan_id"]:
            out["plan"] = f"/plans/{row['plan_id']}"
        return out

    @app.get("/jobs/{job_id}", tags=["scenarios"])
    def job(job_id: int, who: Who) -> dict:
        """Planner: status, progress (0–1), message, and the plan when done."""
        _require(who, "planner")
        row = state.store.get(db.jobs, job_id)
        if row is None:
            raise ApiError(404, "no such job")
        return _job_out(row)

    @app.post("/jobs/{job_id}/cancel", tags=["scenarios"])
    def cancel(job_id: int, who: Who) -> dict:
        """Planner: cancel a queued or running job (a running solve finishes but is discarded)."""
        _require(who, "planner")
        row = state.store.get(db.jobs, job_id)
        if row is None:
            raise ApiError(404, "no such job")
        if row["status"] in ("done", "failed", "cancelled"):
            raise ApiError(409, f"the job is already {row['status']}")
        state.runner.cancel(job_id)  # a running job's worker process is terminated
        state.store.set(db.jobs, job_id, status="cancelled", finished_at=db.now(), message="cancelled by the user")
        return _job_out(state.store.get(db.jobs, job_id) or row)

    # ------------------------------------------------------------------ plans
    def _plan_row(plan_id: int, who: Caller) -> dict:
        return _check_plan_access(who, state.store.get(db.plans, plan_id))

    @app.get("/plans/{plan_id}", tags=["plans"])
    def plan(plan_id: int, who: Who) -> dict:
        """A plan as JSON: summary (solver, bound, gap), compliance, sites, units."""
        row = _plan_row(plan_id, who)
        return {"id": row["id"], "kind": row["kind"], "region": row["region"], **row["payload"],
                "links": {"geojson": f"/plans/{plan_id}/geojson", "map": f"/plans/{plan_id}/map", "excel": f"/plans/{plan_id}/excel"}}

    @app.get("/plans/{plan_id}/geojson", tags=["plans"])
    def plan_geojson(plan_id: int, who: Who) -> Response:
        """The plan's open sites as GeoJSON (WGS-84)."""
        row = _plan_row(plan_id, who)
        return Response(row["geojson"], media_type="application/geo+json")

    @app.get("/plans/{plan_id}/compliance", tags=["plans"])
    def plan_compliance(plan_id: int, who: Who) -> dict:
        """Compliance of the plan with each work-plan target, and the units failing."""
        row = _plan_row(plan_id, who)
        return {"compliant": row["payload"]["summary"].get("compliant"), "targets": row["payload"]["compliance"]}

    @app.get("/plans/{plan_id}/map", tags=["plans"], response_class=HTMLResponse)
    def plan_map(plan_id: int, who: Who, kind: Annotated[str, Query(pattern="^(coverage|compliance|suggestion)$")] = "coverage",
                 lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh") -> HTMLResponse:
        """The plan's map as HTML (assets served by this service; works without internet)."""
        row = _plan_row(plan_id, who)
        region = _region(state, row["region"])
        plan_obj = _plan_object(state, row)
        if kind == "suggestion" or row["kind"] == "suggestion":
            m = suggestion_map(plan_obj, lang=lang)  # type: ignore[arg-type]
        elif kind == "compliance":
            m = compliance_map(plan_obj, lang=lang)  # type: ignore[arg-type]
        else:
            m = coverage_map(plan_obj, lang=lang)  # type: ignore[arg-type]
        return HTMLResponse(render_html(m, ASSET_URL))

    @app.get("/plans/{plan_id}/excel", tags=["plans"])
    def plan_excel(plan_id: int, who: Who, lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
                   coords_out: Annotated[str | None, Query(pattern="^(gcj02|bd09)$", description="add Amap (gcj02) or Baidu (bd09) coordinates")] = None) -> Response:
        """The stored plan's workbook: summary, sites, towns and communities, headers in ``lang``
        with units (人, 分钟), types, statuses and compliance in words; drawn from the stored plan."""
        row = _plan_row(plan_id, who)
        content = excel_bytes(plan_tables(row["payload"], lang, [coords_out] if coords_out else []), percent_columns=PERCENT_HEADERS)
        return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.xlsx"'})

    # ------------------------------------------------------------------ suggestions
    @app.post("/regions/{region_id}/suggestions", tags=["street office"])
    def suggestions(region_id: str, body: SuggestionIn, who: Who) -> dict:
        """Street office: ``k`` more facilities in one town, ranked, with the residents each adds."""
        _require(who, "planner", "street_office")
        region = _region(state, region_id)
        town = _town_id(region, body.town)
        if who.role == "street_office" and town != who.town:
            raise ApiError(403, "a street office may ask about its own town only")
        candidates = None
        if body.upload_id is not None:
            upload = state.store.get(db.uploads, body.upload_id)
            if upload is None or upload["region"] != region_id or (who.role == "street_office" and upload["town"] != who.town):
                raise ApiError(404, "no such upload for this town", "upload_id")
            candidates = [f"upload-{body.upload_id}-{k + 1}" for k in range(upload["features"])]
        key = json.dumps([region_id, town, body.model_dump(), candidates], sort_keys=True, ensure_ascii=False)
        with state.lock:
            cached = state.suggestion_cache.get(key)
        if cached is not None:
            return cached
        spec = {"name": f"{FACILITY_TYPES[body.facility_type]['zh']} · {town}", "facility_type": body.facility_type, "model": "mclp",
                "group": body.group, "mode": "walk", "standard_min": body.standard_min, "n_new": body.k, "town": town,
                "candidate_site_ids": candidates, "time_limit": 20.0}
        plan_obj = run_scenario(region, _scenario(spec))
        plan_id = _store_plan(state, plan_obj, kind="suggestion", region_id=region_id, spec=spec, caller_id=who.id)
        new = plan_obj.sites[plan_obj.sites["plan_status"] == "new"].sort_values("rank")
        answer = {
            "plan": plan_id, "town": town, "town_name": str(region.units.loc[region.units["unit_id"] == town, "name"].iloc[0]),
            "map": f"/plans/{plan_id}/map?kind=suggestion&lang={body.lang}",
            "sites": [{"rank": k + 1, "site_id": r["site_id"], "name": r["name"], "adds_persons": round(float(r["adds_persons"]), 1),
                       "lon": round(r.geometry.x, 7), "lat": round(r.geometry.y, 7)} for k, (_, r) in enumerate(new.iterrows())],
            "covered_share_before": plan_obj.summary["covered_by_existing_share"], "covered_share_after": plan_obj.summary["covered_share"],
            "data": plan_obj.summary["data"],
        }
        with state.lock:
            state.suggestion_cache[key] = answer
            while len(state.suggestion_cache) > settings.suggestion_cache_size:
                state.suggestion_cache.popitem(last=False)
        return answer

    # ------------------------------------------------------------------ patrols
    @app.post("/regions/{region_id}/patrols", tags=["patrols"], status_code=201)
    def create_patrol(region_id: str, body: PatrolIn, who: Who) -> dict:
        """Patrol team: plan a shift (or a heat/cold campaign) from a station over the region's
        highest-priority patrol spots."""
        _require(who, "planner", "patrol")
        region = _region(state, region_id)
        if who.role == "patrol" and body.station != who.station:
            raise ApiError(403, "a patrol key may plan from its own station only")
        depots, stops, teams = _patrol_inputs(region, body)
        try:
            limit = min(body.time_limit, settings.solve_time_cap or body.time_limit)
            patrol = plan_patrols(region, stops, depots, teams, time_limit=limit, seed=body.seed)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from exc
        gpx = gpx_xml(patrol.gpx_tracks()).encode("utf-8")
        payload = json.loads(json.dumps(patrol.to_dict(), ensure_ascii=False, default=str))
        folder, snapshot = _new_snapshot(state, "patrols")
        save_patrol(patrol, folder)
        patrol_id = state.store.add(db.patrols, region=region_id, region_version=_version_of(region), station=body.station, spec=body.model_dump(),
                                    payload=payload, geojson=json.dumps(patrol.to_geojson(), ensure_ascii=False, default=str), gpx=gpx,
                                    snapshot=snapshot, created_by=who.id)
        _remember(state, state.patrol_cache, patrol_id, patrol)
        return {"id": patrol_id, **payload, "links": {"geojson": f"/patrols/{patrol_id}/geojson", "gpx": f"/patrols/{patrol_id}/gpx", "map": f"/patrols/{patrol_id}/map"}}

    def _patrol_row(patrol_id: int, who: Caller) -> dict:
        row = state.store.get(db.patrols, patrol_id)
        if row is None:
            raise ApiError(404, "no such patrol plan")
        if who.role in ("admin", "planner") or (who.role == "patrol" and row["station"] == who.station):
            return row
        raise ApiError(403, "this patrol plan belongs to another station")

    @app.get("/patrols/{patrol_id}", tags=["patrols"])
    def get_patrol(patrol_id: int, who: Who) -> dict:
        """A patrol plan: per team the stops with arrival times; unserved stops with reasons."""
        row = _patrol_row(patrol_id, who)
        return {"id": row["id"], "station": row["station"], **row["payload"]}

    @app.get("/patrols/{patrol_id}/geojson", tags=["patrols"])
    def patrol_geojson(patrol_id: int, who: Who) -> Response:
        """Depot, stops and road legs as GeoJSON."""
        return Response(_patrol_row(patrol_id, who)["geojson"], media_type="application/geo+json")

    @app.get("/patrols/{patrol_id}/gpx", tags=["patrols"])
    def patrol_gpx(patrol_id: int, who: Who) -> Response:
        """Routes for phones (GPX 1.1)."""
        return Response(_patrol_row(patrol_id, who)["gpx"], media_type="application/gpx+xml",
                        headers={"Content-Disposition": f'attachment; filename="patrol-{patrol_id}.gpx"'})

    @app.get("/patrols/{patrol_id}/map", tags=["patrols"], response_class=HTMLResponse)
    def patrol_route_map(patrol_id: int, who: Who, lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh", print_mode: bool = False) -> HTMLResponse:
        """Route map (one colour per team, numbered stops with arrival times); ``print_mode`` for A4."""
        row = _patrol_row(patrol_id, who)
        patrol = _recall(state, state.patrol_cache, patrol_id)
        if patrol is None:  # read from its snapshot, never planned again
            if not row.get("snapshot"):
                raise ApiError(409, "this patrol plan was stored before plans kept snapshots; plan the round again for its map")
            patrol = load_patrol(state.snapshots / row["snapshot"])
            _remember(state, state.patrol_cache, patrol_id, patrol)
        return HTMLResponse(render_html(patrol_map(patrol, lang=lang, print_mode=print_mode), ASSET_URL))  # type: ignore[arg-type]

    return app


def wait_for_job(app: FastAPIOffline, job_id: int, timeout_s: float = 120.0) -> dict:
    """Block until a job leaves queued/running (for tests and scripts)."""
    state: State = app.state.planner
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = state.store.get(db.jobs, job_id)
        if row and row["status"] not in ("queued", "running"):
            return row
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still running after {timeout_s} s")
