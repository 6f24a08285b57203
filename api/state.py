"""What the service's request handlers share: settings, the store, region versions, caches, limits.

Region versions: a region never changes in place.  Version 1 is the region as loaded; every
approved upload adds a version with its sites, every deletion of an approved upload a version
without them, and a rebuilt region (other base data under the same id) a new root with the
uploads approved so far.  The chain is rebuilt from the store at every start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.exc import IntegrityError
from fastapi.responses import HTMLResponse

from api import store as db
from api.jobs import JobRunner, WorkerTimeout, default_workers, run_in_child
from api.snapshots import load_patrol, load_plan, save_plan
from geodata.basemap import region_basemap
from geodata.errors import DataError
from geodata.region import Region
from maps.base import ASSET_DIR, Basemap, install_basemap
from planner.routing.patrol import PatrolPlan
from planner.scenario import Plan, Scenario

VERSION = "0.1.0"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""Largest upload accepted, bytes."""
MAX_JSON_BYTES = 1024 * 1024
"""Largest request body other than an upload, bytes."""
MAX_UPLOAD_UNZIPPED_BYTES = 50 * 1024 * 1024
"""Largest unzipped size of an uploaded Excel workbook, bytes (a zip bomb is refused)."""
UPLOAD_SUFFIXES = {".csv", ".xlsx", ".xls", ".geojson", ".json"}
ASSET_URL = "/static/maps"
LOG = logging.getLogger("planner.api")
OBJECT_CACHE_SIZE = 32
"""Stored plans and patrols kept in memory after being read from their snapshots."""


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
    workers: int = field(default_factory=default_workers)
    """Scenario jobs solved at the same time, each in its own worker process (default: one per core)."""
    suggestion_cache_size: int = 256
    solve_time_cap: float | None = None
    """Upper bound on any solver time limit, seconds (e.g. for fuzzing); None: as requested."""
    job_grace_s: float = 120.0
    """A job is stopped at its solver time limit plus this many seconds (costs, explanation, writing)."""
    server_timeout_s: float = 30.0
    """A server sharing the database that has not beaten for this many seconds is taken as stopped:
    its running jobs are queued again once, then failed (api.dispatch)."""
    rate_per_minute: float = 120.0
    """Requests a key may make per minute on average (token bucket); beyond: 429 with Retry-After."""
    rate_burst: int = 40
    """Requests a key may make at once before the rate applies."""
    max_pending_jobs: int = 20
    """Scenario jobs queued or running at most (all keys); beyond: 503 with Retry-After."""
    max_pending_jobs_per_key: int = 5
    """Scenario jobs one key may have queued or running; beyond: 429."""
    inline_solves: int = 2
    """Suggestions and patrols solved inside requests at the same time; more wait briefly, then 503."""
    inline_wait_s: float = 5.0
    """How long a request waits for a free inline solve before 503."""
    inline_time_cap_s: float = 20.0
    """Solver time limit of any solve inside a request (suggestions, patrols), seconds."""
    inline_grace_s: float = 30.0
    """A solve inside a request is stopped at its solver time limit plus this (travel costs, the
    explanation), seconds."""
    inline_per_key: int = 1
    """Solves inside requests one key may have running at once; beyond: 429."""
    privacy_min_count: float = 5.0
    """Below planner level, counts of people under this are suppressed (shown as null)."""
    access_log: bool = True
    """Write ``access.log`` (JSON lines: time, key id, method, path, status, duration) in ``data_dir``."""
    basemap_dir: Path | None = None
    """Where the regions' offline basemaps (PMTiles) are kept; None: ``data_dir/basemaps``."""
    tianditu_token: str | None = None
    """A Tianditu (天地图) key: the maps then offer Tianditu beside OSM and Amap (online)."""
    fast_suggestions: bool = True
    """Answer town suggestions from warm models (planner.suggest, in api.solvers' processes), store
    each as its answer and solution, and write its full plan when first read (api.explainer);
    False: solve each in a forked process with its plan (the path before issue 15, kept for
    comparison and for questions too large for the warm path)."""
    solver_processes: int = 2
    """Warm processes answering suggestions beside the service (api.solvers); 0: in the service's process."""
    fast_suggestion_max_pairs: int = 2_000_000
    """Largest question (demand × site pairs within the standard) answered on the fast path."""
    prepare_basemaps: bool = False
    """Make the regions' offline basemaps in the background at start-up (``planner serve`` does);
    otherwise each is made at its region's first map."""


@dataclass
class Caller:
    """The authenticated key."""

    id: int
    name: str
    role: str
    town: str | None = None
    station: str | None = None


class ApiError(Exception):
    """A 4xx/5xx answer with a reason (and, for 429/503, when to retry)."""

    def __init__(self, status: int, message: str, field: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.retry_after = status, message, field, retry_after


class RateLimiter:
    """A token bucket per key (any hashable, e.g. a key's hash): ``burst`` requests at once,
    refilled at ``per_minute`` a minute."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: object) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > 100_000:  # forget full buckets of keys not seen for a while
                    self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / max(self.rate, 1e-9)}
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


@dataclass
class State:
    """Everything the request handlers share."""

    settings: Settings
    store: db.Store
    runner: JobRunner
    limiter: RateLimiter
    inline: threading.BoundedSemaphore
    inline_by_key: dict[int, int] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)
    """Key hash → key id, for the access log of requests refused before authentication."""
    versions: dict[str, dict[int, Region]] = field(default_factory=dict)
    plan_cache: "OrderedDict[int, Plan]" = field(default_factory=OrderedDict)
    patrol_cache: "OrderedDict[int, PatrolPlan]" = field(default_factory=OrderedDict)
    suggestion_cache: "OrderedDict[str, dict]" = field(default_factory=OrderedDict)
    basemaps: dict[str, Basemap] = field(default_factory=dict)
    engines: dict[tuple[str, int], Any] = field(default_factory=dict)
    """(region id, version) → its planner.suggest.SuggestionEngine (the latest versions only)."""
    explainer: Any = None
    """The api.explainer.Explainer writing suggestions' full plans (made at start-up)."""
    solvers: Any = None
    """The api.solvers.SolverPool of warm processes answering suggestions (made at start-up)."""
    dispatcher: Any = None
    """The api.dispatch.JobDispatcher claiming this server's jobs from the store (made at start-up)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    basemap_lock: threading.Lock = field(default_factory=threading.Lock)

    def remember_key(self, key_hash: str, key_id: int) -> None:
        """Note a valid key's id under its hash (bounded; the oldest forgotten first)."""
        with self.lock:
            self.key_ids[key_hash] = key_id
            while len(self.key_ids) > 10_000:
                self.key_ids.pop(next(iter(self.key_ids)))

    @property
    def snapshots(self) -> Path:
        """Folder of the plan and patrol snapshots."""
        return self.settings.data_dir / "snapshots"


# ---------------------------------------------------------------------------- basemaps
def basemap_for(state: State, region_id: str) -> Basemap:
    """The region's offline basemap for its maps: made on first use (one at a time) from the
    region's own data, kept in ``basemap_dir`` and served with the map assets.  A region whose
    basemap cannot be made gets plain maps rather than an error (the reason is logged)."""
    with state.basemap_lock:
        if region_id not in state.basemaps:
            folder = state.settings.basemap_dir or state.settings.data_dir / "basemaps"
            try:
                archive = region_basemap(region_at(state, region_id), folder)
                install_basemap(state.settings.data_dir / ASSET_DIR, archive)
                state.basemaps[region_id] = Basemap.offline(archive, tianditu_token=state.settings.tianditu_token)
            except DataError as exc:
                LOG.warning("no offline basemap for region %s: %s", region_id, public_message(str(exc)))
                state.basemaps[region_id] = Basemap()
        return state.basemaps[region_id]


# ---------------------------------------------------------------------------- regions and versions
def region_at(state: State, region_id: str, version: int | None = None) -> Region:
    """A region as of ``version`` (default: its latest version); 404 naming what exists."""
    chain = state.versions.get(region_id)
    if chain is None:
        raise ApiError(404, f"no region {region_id!r} (known: {', '.join(state.settings.regions)})", "region")
    if version is None:
        return chain[max(chain)]
    if version not in chain:
        raise ApiError(404, f"region {region_id!r} has no version {version} (versions: {', '.join(map(str, sorted(chain)))})", "region_version")
    return chain[version]


def version_of(region: Region) -> int:
    """The version number of a region object."""
    return int(region.provenance.get("version", 1))


def town_id(region: Region, town: str) -> str:
    """The id of a town given by id or name; 422 naming it when unknown."""
    names = region.unit_names("town")
    if town in names:
        return town
    for unit_id, name in names.items():  # the first town of that name, as the region lists them
        if name == town:
            return unit_id
    raise ApiError(422, f"unknown town {town!r} in region '{region.name}'", "town")


def fingerprint(region: Region) -> str:
    """What identifies a region's base data: its name, cache key and sites."""
    sites = ",".join(map(str, region.sites["site_id"])) if len(region.sites) else ""
    text = json.dumps([region.name, region.provenance.get("cache_key"), len(region.demand), sites], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_sites(region: Region, extra: gpd.GeoDataFrame | None, version: int) -> Region:
    """A version of ``region``: its sites plus ``extra`` (networks and layers shared, never changed)."""
    sites = region.sites
    if extra is not None and len(extra):
        sites = gpd.GeoDataFrame(pd.concat([region.sites, extra], ignore_index=True), geometry="geometry", crs=region.sites.crs)
    return dataclasses.replace(region, sites=sites, provenance={**region.provenance, "version": version})


def without_sites(region: Region, site_ids: set[str], version: int) -> Region:
    """A version of ``region`` without the given sites."""
    sites = region.sites[~region.sites["site_id"].astype(str).isin(site_ids)].reset_index(drop=True)
    return dataclasses.replace(region, sites=sites, provenance={**region.provenance, "version": version})


REGION_MARGIN_DEG = 0.002
"""How far outside a region's boundary (degrees, ≈ 200 m) a point given by a user still counts as in it."""


def outside_region(region: Region, points: gpd.GeoDataFrame) -> "pd.Series":
    """Which of ``points`` (WGS-84) lie outside the region (beyond REGION_MARGIN_DEG)."""
    return ~points.intersects(region.boundary.buffer(REGION_MARGIN_DEG))


def upload_sites(row: dict) -> gpd.GeoDataFrame:
    """The sites of a stored upload (WGS-84)."""
    return gpd.read_file(io.StringIO(row["geojson"]))


def init_versions(state: State, region_id: str) -> None:
    """Rebuild a region's version chain from the store; a first start (or new base data) makes a version."""
    base = state.settings.regions[region_id]
    rows = sorted(state.store.rows(db.region_versions, db.region_versions.c.region == region_id, limit=100_000), key=lambda r: r["version"])
    current_fp = fingerprint(base)
    roots = [r for r in rows if r["fingerprint"]]
    if not rows or roots[-1]["fingerprint"] != current_fp:
        note = "as loaded" if not rows else "region data replaced (the region was rebuilt); the uploads approved so far are carried over"
        version = (rows[-1]["version"] + 1) if rows else 1
        try:
            state.store.add(db.region_versions, region=region_id, version=version, parent=rows[-1]["version"] if rows else None, note=note,
                            fingerprint=current_fp, sites=len(base.sites))
        except IntegrityError:  # another server sharing the database recorded it at the same moment
            pass
        rows = sorted(state.store.rows(db.region_versions, db.region_versions.c.region == region_id, limit=100_000), key=lambda r: r["version"])
    uploads = {u["id"]: u for u in state.store.rows(db.uploads, db.uploads.c.region == region_id, limit=100_000)}
    chain: dict[int, Region] = {}
    current: Region | None = None
    applied: list[int] = []
    for row in rows:
        upload = uploads.get(row["upload_id"]) if row["upload_id"] else None
        if row["fingerprint"]:  # a root: the base data, with every upload approved so far
            extra = [upload_sites(uploads[u]) for u in applied if u in uploads]
            same_base = row["fingerprint"] == current_fp  # versions on replaced base data cannot be rebuilt
            current = with_sites(base, pd.concat(extra, ignore_index=True) if extra else None, row["version"]) if same_base else None
        elif upload is not None and row["change"] == "remove":
            applied = [u for u in applied if u != upload["id"]]
            if current is not None:
                current = without_sites(current, set(upload_sites(upload)["site_id"].astype(str)), row["version"])
        elif upload is not None:
            applied.append(upload["id"])
            if current is not None:
                current = with_sites(current, upload_sites(upload), row["version"])
        if current is not None:
            chain[row["version"]] = current
    state.versions[region_id] = chain


def sync_versions(state: State, region_id: str) -> bool:
    """Read the versions other servers sharing the database made since this one last looked
    (hold ``state.lock``); True when there were any."""
    newest = state.store.newest_version(region_id)
    chain = state.versions.get(region_id)
    if chain is None or newest is None or newest <= max(chain, default=0):
        return False
    init_versions(state, region_id)
    state.suggestion_cache.clear()
    return True


def new_version(state: State, region_id: str, region: Region, *, upload_id: int, change: str, note: str, caller_id: int | None) -> int:
    """Record and install ``region`` as the region's next version (hold ``state.lock``, and
    :func:`sync_versions` first); 409 when another server recorded that version first."""
    version = version_of(region)
    try:
        state.store.add(db.region_versions, region=region_id, version=version, parent=version - 1, upload_id=upload_id, change=change,
                        note=note, sites=len(region.sites), created_by=caller_id)
    except IntegrityError:
        sync_versions(state, region_id)
        raise ApiError(409, f"region {region_id!r} gained version {version} on another server at the same moment; try again") from None
    state.versions[region_id][version] = region
    state.suggestion_cache.clear()
    return version


# ---------------------------------------------------------------------------- plans, patrols, caches
def recall(state: State, cache: OrderedDict, key: int) -> object | None:
    """An object from a bounded cache (and mark it recently used)."""
    with state.lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    return None


def remember(state: State, cache: OrderedDict, key: int, value: object) -> None:
    """Put an object in a bounded cache."""
    with state.lock:
        cache[key] = value
        while len(cache) > OBJECT_CACHE_SIZE:
            cache.popitem(last=False)


def new_snapshot(state: State, kind: str) -> tuple[Path, str]:
    """A fresh snapshot folder (not created yet) and its name relative to the snapshot root."""
    name = f"{kind}/{uuid.uuid4().hex}"
    return state.snapshots / name, name


def geojson_of(frame: gpd.GeoDataFrame) -> dict:
    """A layer as a GeoJSON dictionary (empty collection for an empty layer)."""
    return json.loads(frame.to_json(drop_id=True, default=str)) if len(frame) else {"type": "FeatureCollection", "features": []}


def scenario_of(spec: dict) -> Scenario:
    """A Scenario from a stored spec (unknown keys ignored)."""
    names = {f.name for f in dataclasses.fields(Scenario)}
    return Scenario(**{k: v for k, v in spec.items() if k in names})


def plan_documents(plan: Plan) -> tuple[dict, str]:
    """A plan's JSON payload (plain data) and its sites as GeoJSON text (run where the plan was solved)."""
    payload = json.loads(json.dumps(plan.to_dict(), ensure_ascii=False, default=str))
    return payload, json.dumps(geojson_of(plan.sites), ensure_ascii=False)


def plan_row(state: State, plan: Plan, *, kind: str, region_id: str, spec: dict, caller_id: int | None, scenario_id: int | None = None,
             payload: dict | None = None, snapshot: str | None = None, geojson: str | None = None) -> dict:
    """A plan's row for the ``plans`` table; its snapshot is written here unless given."""
    if snapshot is None:
        folder, snapshot = new_snapshot(state, "plans")
        save_plan(plan, folder)
    payload = json.loads(json.dumps(payload if payload is not None else plan.to_dict(), ensure_ascii=False, default=str))
    geojson = geojson if geojson is not None else json.dumps(geojson_of(plan.sites), ensure_ascii=False)
    return dict(kind=kind, scenario_id=scenario_id, region=region_id, region_version=plan.summary.get("region_version"), town=spec.get("town"),
                spec=spec, payload=payload, geojson=geojson, snapshot=snapshot, created_by=caller_id)


def store_plan(state: State, plan: Plan, *, kind: str, region_id: str, spec: dict, caller_id: int | None, scenario_id: int | None = None,
               payload: dict | None = None, snapshot: str | None = None, geojson: str | None = None) -> int:
    """Store a plan: its snapshot (written here unless given) and its row."""
    row = plan_row(state, plan, kind=kind, region_id=region_id, spec=spec, caller_id=caller_id, scenario_id=scenario_id, payload=payload,
                   snapshot=snapshot, geojson=geojson)
    plan_id = state.store.add(db.plans, **row)
    remember(state, state.plan_cache, plan_id, plan)
    return plan_id


def suggestion_engine(state: State, region_id: str, region: Region) -> Any:
    """The warm :class:`planner.suggest.SuggestionEngine` of a region's latest version (engines of
    older versions are dropped when a newer one is first asked about)."""
    from planner.suggest import SuggestionEngine

    key = (region_id, version_of(region))
    with state.lock:
        engine = state.engines.get(key)
        if engine is None or engine.region is not region:
            for old in [k for k in state.engines if k[0] == region_id and k != key]:
                del state.engines[old]
            engine = state.engines[key] = SuggestionEngine(region)
        return engine


WRITE_WAIT_S = 30.0
"""How long a read of a suggestion waits for its full plan to be written, seconds."""


def written_plan(state: State, row: dict | None) -> dict | None:
    """A plan row with its full plan: a suggestion stored as its answer has its plan written first
    (waited for; 503 after WRITE_WAIT_S), one whose plan could not be written says so (410)."""
    if row is None or not isinstance(row.get("payload"), dict) or "status" not in row["payload"]:
        return row
    if row["payload"]["status"] == "answered":
        _write_suggestion_plan(state, row)
        if state.explainer is None or not state.explainer.wait(row["id"], WRITE_WAIT_S):
            raise ApiError(503, "this suggestion's plan is being written; try again in a few seconds", retry_after=5)
        row = state.store.get(db.plans, row["id"])
        if row is None or row["payload"].get("status") == "answered":
            raise ApiError(503, "this suggestion's plan is being written; try again in a few seconds", retry_after=5)
    if row["payload"].get("status") == "lost":
        raise ApiError(410, "this suggestion's plan could not be written; ask for the suggestion again")
    return row


def _write_suggestion_plan(state: State, row: dict) -> None:
    """Queue the writing of a stored suggestion's full plan (once)."""
    from api.explainer import MAX_PENDING, Task
    from planner.suggest import SuggestionEngine, suggestion_from_record

    if state.explainer.queued(row["id"]):
        return
    if state.explainer.pending() >= MAX_PENDING:
        raise ApiError(503, f"{MAX_PENDING} plans are waiting to be written; try again shortly", retry_after=10)
    region = region_at(state, row["region"], row["region_version"])
    latest = region_at(state, row["region"])
    engine = suggestion_engine(state, row["region"], region) if region is latest else SuggestionEngine(region)
    spec = {k: v for k, v in row["spec"].items() if k != "upload_id"}
    folder, snapshot = new_snapshot(state, "plans")
    state.explainer.submit(Task(row["id"], folder, snapshot, engine, suggestion_from_record(scenario_of(spec), row["payload"]["answer"])))


def plan_object(state: State, plan_row: dict) -> Plan:
    """The Plan behind a stored plan, read from its snapshot (never solved again)."""
    plan = recall(state, state.plan_cache, plan_row["id"])
    if plan is None:
        if not plan_row.get("snapshot"):
            raise ApiError(409, "this plan was stored before plans kept snapshots; its map cannot be drawn without solving it again "
                                "(run its scenario again for a new plan)")
        plan = load_plan(state.snapshots / plan_row["snapshot"])
        remember(state, state.plan_cache, plan_row["id"], plan)
    return plan  # type: ignore[return-value]


def patrol_object(state: State, row: dict) -> PatrolPlan:
    """The PatrolPlan behind a stored patrol, read from its snapshot (never planned again)."""
    patrol = recall(state, state.patrol_cache, row["id"])
    if patrol is None:
        if not row.get("snapshot"):
            raise ApiError(409, "this patrol plan was stored before plans kept snapshots; plan the round again for its map")
        patrol = load_patrol(state.snapshots / row["snapshot"])
        remember(state, state.patrol_cache, row["id"], patrol)
    return patrol  # type: ignore[return-value]


# ---------------------------------------------------------------------------- pages
MAP_PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
                   "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
"""Content-Security-Policy of map pages: scripts only from this service (the page's own data
drawer inline), tiles from online basemaps allowed as images, nothing else from elsewhere."""


def map_page(html: str) -> HTMLResponse:
    """A map page with a strict Content-Security-Policy (defence in depth: the page carries user
    text only as JSON data anyway)."""
    return HTMLResponse(html, headers={"Content-Security-Policy": MAP_PAGE_POLICY, "Referrer-Policy": "no-referrer"})


# ---------------------------------------------------------------------------- audit and messages
def audit(state: State, who: Caller | None, action: str, target: str, target_id: object = None, *, region: str | None = None,
          **detail: Any) -> None:
    """Record a change to shared data: who (key id and name, never the key), what, and its counts."""
    state.store.add(db.audit, key_id=who.id if who else None, key_name=who.name if who else "service", role=who.role if who else None,
                    action=action, target=target, target_id=None if target_id is None else str(target_id), region=region,
                    detail=json.loads(json.dumps(detail, ensure_ascii=False, default=str)))


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:)?[/\\](?:[^\s/\\'\"(),;]+[/\\])+[^\s/\\'\"(),;]*")
"""An absolute file path on the server (two or more segments, POSIX or Windows)."""


def public_message(text: str) -> str:
    """A message safe to send: absolute server paths reduced to their file name."""
    return _ABSOLUTE_PATH.sub(lambda m: re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1] or "…", text)


def public_data(value: Any) -> Any:
    """JSON data safe to send: :func:`public_message` applied to every text in it."""
    if isinstance(value, str):
        return public_message(value)
    if isinstance(value, dict):
        return {k: public_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public_data(v) for v in value]
    return value


# ---------------------------------------------------------------------------- limits
class inline_slot:  # noqa: N801 - used as ``with inline_slot(state, who):``
    """One of the service's few slots for a solve inside a request (suggestions, patrols).

    A key may hold ``inline_per_key`` slots at once (429 beyond: wait for your answer); when all
    ``inline_solves`` slots are busy for ``inline_wait_s`` the answer is 503; both say when to retry."""

    def __init__(self, state: State, who: Caller) -> None:
        self.state, self.key_id = state, who.id

    def __enter__(self) -> "inline_slot":
        settings = self.state.settings
        with self.state.lock:
            mine = self.state.inline_by_key.get(self.key_id, 0)
            if mine >= settings.inline_per_key:
                raise ApiError(429, f"this key is already waiting for {mine} answer(s); send the next question when one has come",
                               retry_after=max(1.0, settings.inline_time_cap_s / 4))
            self.state.inline_by_key[self.key_id] = mine + 1
        if not self.state.inline.acquire(timeout=settings.inline_wait_s):
            self._release_key()
            raise ApiError(503, f"the service is solving {settings.inline_solves} request(s) already; try again in a few seconds",
                           retry_after=max(1.0, settings.inline_time_cap_s / 2))
        return self

    def _release_key(self) -> None:
        with self.state.lock:
            left = self.state.inline_by_key.get(self.key_id, 1) - 1
            if left > 0:
                self.state.inline_by_key[self.key_id] = left
            else:
                self.state.inline_by_key.pop(self.key_id, None)

    def __exit__(self, *_exc: object) -> None:
        self.state.inline.release()
        self._release_key()


def solve_inline(state: State, function: Callable[..., Any], *args: Any, time_limit_s: float) -> Any:
    """``function(*args)`` in a worker process (see :func:`api.jobs.run_in_child`), stopped at
    ``time_limit_s`` plus ``inline_grace_s`` (503 then, saying so)."""
    limit = time_limit_s + state.settings.inline_grace_s
    try:
        return run_in_child(function, *args, time_limit_s=limit)
    except WorkerTimeout:
        raise ApiError(503, f"the solve did not finish within {limit:g} s and was stopped; ask a smaller question or try later",
                       retry_after=30) from None


def inline_time_limit(state: State, requested: float) -> float:
    """The solver time limit of a solve inside a request: ``requested`` capped by the settings, seconds."""
    caps = [requested, state.settings.inline_time_cap_s]
    if state.settings.solve_time_cap:
        caps.append(state.settings.solve_time_cap)
    return float(min(caps))
