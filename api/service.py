"""The HTTP service (FastAPI): a thin layer over ``planner``, ``geodata`` and ``maps``.

Users and what they may do (API key in the ``X-API-Key`` header; no key → 401, wrong role or
another town's / station's data → 403):

* **admin** — keys, regions, everything a planner may do;
* **planner** — all towns: scenarios run as background jobs, plans, maps, Excel, compliance,
  approving street offices' proposals, the audit log;
* **street_office** — bound to one town: site suggestions and proposals for that town only, people
  only as counts per community with small counts suppressed;
* **patrol** — bound to one station: patrol routes from that station only, no personal data.

The routers live in :mod:`api.routes` (one per resource), their shared dependencies in
:mod:`api.deps`, the shared state and limits in :mod:`api.state`, what each role may read in
:mod:`api.privacy`.  Create the app with :func:`create_app`; ``planner serve`` runs it with uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import store as db
from api.dispatch import JobDispatcher
from api.explainer import Explainer
from api.jobs import JobRunner
from api.solvers import SolverPool
from api.routes import audit, keys, patrols, plans, regions, scenarios, service, suggestions, uploads, visits
from api.state import (
    ASSET_URL, MAX_JSON_BYTES, MAX_UPLOAD_BYTES, VERSION, ApiError, Caller, RateLimiter, Settings, State, basemap_for, init_versions, public_message,
)
from geodata.errors import DataError
from maps.base import TIANDITU_TOKEN, copy_assets
from planner.location.problem import InfeasibleProblem

__all__ = ["Caller", "Settings", "StartupError", "create_app", "wait_for_job"]

log = logging.getLogger("planner.api")

TARPIT_MAX_S = 1.0
"""Longest pause before a 429 answer, seconds."""
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for the form fields and boundaries of an upload beyond the file itself, bytes."""


class StartupError(ValueError):
    """The service cannot start with this configuration (the message says what to change)."""


# ---------------------------------------------------------------------------- middleware
class Guard:
    """ASGI middleware in front of every route.

    * **Rate limit per key**, before any routing or database work: a request whose key has used
      its budget is answered 429 with Retry-After, after a pause of up to ``TARPIT_MAX_S`` (a
      client that ignores Retry-After slows itself down instead of the service).
    * **Body limit**: a body over the limit is refused with 413 before the app reads it.
    * **Access log**: JSON lines (time, key id — never the key —, method, path, status,
      duration in milliseconds) in a file created private (0600).
    """

    def __init__(self, app: ASGIApp, *, state: State, access_log: Path | None) -> None:
        self.app = app
        self.state = state
        self._log = open(db.private_file(access_log), "a", encoding="utf-8", buffering=1) if access_log else None  # noqa: SIM115
        self._lock = threading.Lock()

    @staticmethod
    def body_limit(scope: Scope) -> int:
        """Largest body accepted for this request, bytes."""
        if scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/uploads"):
            return MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
        return MAX_JSON_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}
        scope.setdefault("state", {})  # the caller dependency notes the key id here

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]}
            await send(message)

        key = _header(scope, b"x-api-key")
        try:
            if key:
                digest = db.hash_key(key)
                scope["state"]["key_id"] = self.state.key_ids.get(digest)  # known once the key has been seen valid
                wait = self.state.limiter.take(digest)
                if wait > 0:
                    pause = min(wait, TARPIT_MAX_S)
                    await asyncio.sleep(pause)
                    left = max(wait - pause, 1.0)
                    await _error(429, f"too many requests from this key: try again in {round(left)} s", retry_after=left)(scope, _no_body, send_logged)
                    return
            try:
                replay = await self._bounded_body(scope, receive)
            except Exception:  # noqa: BLE001 - a body that cannot be received is the client's fault
                await JSONResponse({"detail": "the request body could not be read", "field": "body"}, status_code=400)(scope, _no_body, send_logged)
                return
            if replay is None:
                await self._too_large(scope, send_logged)
            else:
                await self.app(scope, replay, send_logged)
        finally:
            self._write(scope, status["code"] or 500, started)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """The request's body read up to the limit, replayed to the app; None when it is larger."""
        limit = self.body_limit(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return None
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for a disconnect

        return replay

    async def _too_large(self, scope: Scope, send: Send) -> None:
        limit = self.body_limit(scope)
        text = f"request body larger than {limit // 1024} KB" if limit < 1024 * 1024 else f"request body larger than {limit / 1024 / 1024:.1f} MB"
        response = JSONResponse({"detail": text, "field": "body"}, status_code=413, headers={"Connection": "close"})
        await response(scope, _no_body, send)

    def _write(self, scope: Scope, status: int, started: float) -> None:
        if self._log is None:
            return
        entry = {"time": db.now().isoformat(timespec="milliseconds") + "Z", "key_id": scope["state"].get("key_id"),
                 "method": scope["method"], "path": scope["path"], "status": status,
                 "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
        with self._lock:
            self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (the first), or None."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


# ---------------------------------------------------------------------------- errors
def _error(status: int, message: str, field: str | None = None, retry_after: float | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"detail": public_message(message)}
    if field:
        body["field"] = field
    body.update(extra)
    headers = {"Retry-After": str(max(1, int(round(retry_after))))} if retry_after is not None else None
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPIOffline) -> None:
    """Every error answers with a reason naming the field, never a server path or a traceback."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.field, exc.retry_after)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        return _error(422, str(exc), getattr(exc, "field", None))

    @app.exception_handler(ValueError)
    async def _value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(InfeasibleProblem)
    async def _infeasible(_request: Request, exc: InfeasibleProblem) -> JSONResponse:
        return _error(422, f"infeasible: {exc}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg")} for e in exc.errors()]
        return _error(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)

    @app.exception_handler(sqlalchemy.exc.DataError)
    async def _refused_value(_request: Request, exc: sqlalchemy.exc.DataError) -> JSONResponse:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]  # the database's own words, e.g. "value too long for type …"
        return _error(422, f"the database refused a value: {reason}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the service logged it and stays up")


# ---------------------------------------------------------------------------- app
def _admin_key(store: db.Store, secret: str | None) -> None:
    """Make sure the configured admin key exists and is an active admin key."""
    if not secret:
        return
    row = store.any_key_by_secret(secret)
    if row is None:
        key_id, _ = store.create_key("admin (from settings)", "admin", secret=secret)
        store.add(db.audit, key_id=None, key_name="service", role=None, action="key.create", target="key", target_id=str(key_id),
                  detail={"role_created": "admin", "source": "PLANNER_ADMIN_KEY / settings"})
        return
    if row["revoked"]:
        raise StartupError(f"PLANNER_ADMIN_KEY is the secret of key {row['id']} ('{row['name']}'), which was revoked; "
                           "set PLANNER_ADMIN_KEY to an active admin key, or unset it and use an admin key you hold")
    if row["role"] != "admin":
        raise StartupError(f"PLANNER_ADMIN_KEY is the secret of key {row['id']} ('{row['name']}'), a {row['role']} key, not an admin key")


def _private_folder(path: Path) -> Path:
    """A folder only its owner may enter (plan snapshots hold per-point counts of people)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def create_app(settings: Settings) -> FastAPIOffline:
    """The FastAPI application (docs at /docs work offline).

    Raises :class:`StartupError` when ``settings.admin_key`` is a revoked key or not an admin's.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = db.Store(settings.db_url)
    _admin_key(store, settings.admin_key)
    if settings.tianditu_token is not None and not TIANDITU_TOKEN.match(settings.tianditu_token):
        raise StartupError("PLANNER_TIANDITU_TOKEN is not a Tianditu key (32 hexadecimal characters)")

    def progress(job_id: int, fraction: float, message: str) -> None:
        state.dispatcher.progress(job_id, fraction, message)

    state = State(settings, store, JobRunner(settings.workers, progress, grace_s=settings.job_grace_s),
                  RateLimiter(settings.rate_per_minute, settings.rate_burst), threading.BoundedSemaphore(max(1, settings.inline_solves)))
    _private_folder(state.snapshots)
    for region_id in settings.regions:
        init_versions(state, region_id)
    state.dispatcher = JobDispatcher(state, stale_s=settings.server_timeout_s)
    state.explainer = Explainer(store)
    if settings.fast_suggestions and settings.solver_processes > 0:
        state.solvers = SolverPool(lambda: {(rid, v): region for rid, chain in state.versions.items() for v, region in chain.items()},
                                   size=settings.solver_processes)
        state.solvers.start()

    app = FastAPIOffline(
        title="coverage-planner API · 民政服务设施覆盖规划",
        version=VERSION,
        description="Meal points, home-care centres and street patrols planned on the real road network. "
                    "Send your API key in the `X-API-Key` header. Limits: see docs/API.md (429/503 answers carry Retry-After).",
    )
    app.state.planner = state
    state.dispatcher.start()  # claims queued jobs, those left by a stopped server included
    app.router.on_shutdown.append(state.dispatcher.stop)  # running solves end with the service; their jobs queued again
    if state.solvers is not None:
        app.router.on_shutdown.append(state.solvers.shutdown)
    app.mount(ASSET_URL, StaticFiles(directory=copy_assets(settings.data_dir)), name="map-assets")
    app.mount("/app", StaticFiles(directory=service.APP_DIR), name="app")
    _install_error_handlers(app)
    for module in (service, keys, regions, uploads, scenarios, plans, suggestions, patrols, visits, audit):
        app.include_router(module.router)
    app.add_middleware(Guard, state=state, access_log=settings.data_dir / "access.log" if settings.access_log else None)
    if settings.prepare_basemaps:  # made (or found in the cache) while the service starts answering, not at the first map
        threading.Thread(target=lambda: [basemap_for(state, region_id) for region_id in settings.regions], daemon=True,
                         name="basemaps").start()
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
