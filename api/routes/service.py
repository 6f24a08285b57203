"""Liveness and version (no key needed), who the key belongs to, and the browser app at ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import StateDep, Who
from api.state import VERSION, region_at

APP_DIR = Path(__file__).resolve().parents[1] / "app"
"""The browser app's files (index.html, app.js, app.css), served at ``/`` and ``/app/``."""
APP_PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; "
                   "connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'")
"""The app's Content-Security-Policy: its scripts from this service only, requests to this service only.  Inline
scripts are allowed for the map pages it shows in frames (they inherit this policy; their only inline script
draws the map's JSON data)."""

router = APIRouter(tags=["service"])


@router.get("/health")
def health(state: StateDep) -> dict:
    """Liveness: regions loaded, the database reachable, jobs running."""
    return {"status": "ok", "regions": list(state.settings.regions), "database": state.settings.db_url.split(":", 1)[0],
            "jobs_running": state.runner.running()}


@router.get("/version")
def version() -> dict:
    """Service version."""
    return {"version": VERSION}


@router.get("/me")
def me(who: Who, state: StateDep) -> dict:
    """The key's holder: id, name, role, and the town (its id and name) or station it is scoped to
    (the app signs in with this)."""
    names = (region_at(state, region_id).unit_names("town") for region_id in state.settings.regions) if who.town else iter(())
    town_name = next((n[who.town] for n in names if who.town in n), None)
    return {"id": who.id, "name": who.name, "role": who.role, "town": who.town, "town_name": town_name, "station": who.station}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def app_page() -> HTMLResponse:
    """The browser app for planners, street offices and patrol teams (it calls this API with the user's key)."""
    return HTMLResponse((APP_DIR / "index.html").read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": APP_PAGE_POLICY, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})
