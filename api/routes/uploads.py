"""Uploads of facilities and candidate sites, governed.

A planner's upload joins the region at once (a new region version).  A street office's upload is a
*proposal* for its own town: sites outside the town are refused; it enters no scenario until a
planner approves it (then a new version), though the office may ask for suggestions among its own
proposed candidates.  Uploads are listed and read by role, withdrawn by the office while pending,
rejected or deleted by planners (deleting an approved upload makes a version without its sites).
Every change goes to the audit log with the region's site count before and after.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from api import store as db
from api.deps import StateDep, Who, require
from api.state import (
    MAX_UPLOAD_BYTES, MAX_UPLOAD_UNZIPPED_BYTES, UPLOAD_SUFFIXES, ApiError, Caller, State, audit, outside_region, region_at, sync_versions, upload_sites, version_of, with_sites,
    without_sites,
)
from api.state import new_version as install_version
from geodata.admin import tag_points
from geodata.errors import DataError
from geodata.sites import read_sites
from geodata.vocabulary import FACILITY_TYPES

router = APIRouter(tags=["uploads"])


class DecisionIn(BaseModel):
    """A planner's decision on a proposal."""

    model_config = {"extra": "forbid"}
    note: str = Field("", max_length=500, description="why (shown to the street office)")


def _row(state: State, upload_id: int) -> dict:
    row = state.store.get(db.uploads, upload_id)
    if row is None:
        raise ApiError(404, "no such upload")
    return row


def _visible(who: Caller, row: dict) -> dict:
    if who.role in ("admin", "planner") or (who.role == "street_office" and row["town"] == who.town):
        return row
    raise ApiError(403, "this upload belongs to another town")


def _status(row: dict) -> str:
    return row["status"] or "approved"  # uploads stored before governance were applied at once


def _out(row: dict) -> dict:
    return {"id": row["id"], "region": row["region"], "town": row["town"], "kind": row["kind"], "facility_type": row["facility_type"],
            "filename": row["filename"], "features": row["features"], "status": _status(row), "region_version": row["region_version"],
            "decision_note": row["decision_note"], "created_by": row["created_by"], "created_at": str(row["created_at"]),
            "decided_at": None if row["decided_at"] is None else str(row["decided_at"])}


def _apply(state: State, who: Caller, row: dict, note: str) -> int:
    """Add an upload's sites to its region as a new version (hold ``state.lock``)."""
    sync_versions(state, row["region"])
    latest = region_at(state, row["region"])
    region = with_sites(latest, upload_sites(row), version_of(latest) + 1)
    version = install_version(state, row["region"], region, upload_id=row["id"], change="add", note=note, caller_id=who.id)
    state.store.set(db.uploads, row["id"], region_version=version)
    return version


@router.post("/regions/{region_id}/uploads", status_code=201)
async def upload_sites_endpoint(
    region_id: str,
    who: Who,
    state: StateDep,
    file: Annotated[UploadFile, File(description="CSV/Excel with lon/lat, or GeoJSON points")],
    coords: Annotated[str, Form(pattern="^(wgs84|gcj02|bd09)$")] = "wgs84",
    kind: Annotated[str, Form(pattern="^(candidates|facilities)$")] = "candidates",
    facility_type: Annotated[str, Form(max_length=40)] = "meal_point",
) -> dict:
    """Facilities or candidate sites (WGS-84, GCJ-02 or BD-09 declared). A planner's join the region
    at once; a street office's wait as a proposal for its own town."""
    require(who, "planner", "street_office")
    region = region_at(state, region_id)
    if facility_type not in FACILITY_TYPES:
        raise ApiError(422, f"unknown facility_type {facility_type!r}", "facility_type")
    filename = Path(file.filename or "upload.csv").name  # never a path
    suffix = Path(filename).suffix.lower()
    if len(filename) > 255:  # the column's width: the name's end (its type) kept
        filename = filename[:255 - len(suffix)] + filename[len(filename) - len(suffix):]
    if suffix not in UPLOAD_SUFFIXES:
        raise ApiError(415, f"file type {suffix or '(none)'} not accepted (use {', '.join(sorted(UPLOAD_SUFFIXES))})", "file")
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "file")
    if not data:
        raise ApiError(422, "the file is empty", "file")
    status = "candidate" if kind == "candidates" else "existing"
    try:
        sites, issues = read_sites(data, name=filename, coords=coords, default_type=facility_type, default_status=status,
                                   max_unzipped_bytes=MAX_UPLOAD_UNZIPPED_BYTES)
    except (DataError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 — a broken file of an accepted type (zip, xml, encoding errors)
        raise ApiError(422, f"cannot read {filename}: {type(exc).__name__}", "file") from exc
    if len(sites) == 0:
        raise ApiError(422, "no usable site in the file" + (f" ({issues[0].message})" if issues else ""), "file")
    outside = outside_region(region, sites).to_numpy()
    if outside.any():
        bad = sites.loc[outside, "name"].astype(str).head(5).tolist()
        raise ApiError(422, f"{int(outside.sum())} site(s) outside region '{region.name}': {', '.join(bad)}", "geometry")
    tags = tag_points(sites, region.units)
    for level in tags:
        sites[level] = tags[level].to_numpy()
    if who.role == "street_office":
        outside = sites["town"] != who.town if "town" in sites else sites.index == sites.index
        if outside.any():
            bad = sites.loc[outside, "name"].astype(str).head(5).tolist()
            raise ApiError(403, f"a street office proposes sites inside its own town only; {int(outside.sum())} lie outside it: {', '.join(bad)}")
    sites = sites.drop(columns=[c for c in ("declared_town", "declared_community") if c in sites])
    proposal = who.role == "street_office"
    with state.lock:  # one change of the shared region at a time
        upload_id = state.store.add(db.uploads, region=region_id, town=who.town, kind=kind, facility_type=facility_type, filename=filename,
                                    geojson="{}", features=len(sites), status="proposed" if proposal else "approved", created_by=who.id)
        sites["site_id"] = [f"upload-{upload_id}-{k + 1}" for k in range(len(sites))]
        sites["source"] = f"upload {upload_id}: {filename}"
        state.store.set(db.uploads, upload_id, geojson=sites.to_json(drop_id=True, default=str))
        before = len(region.sites)
        version = None
        if not proposal:
            version = _apply(state, who, _row(state, upload_id), f"upload {upload_id} ({filename}): {len(sites)} {kind}")
        after = len(region_at(state, region_id).sites)
    audit(state, who, "upload.propose" if proposal else "upload.add", "upload", upload_id, region=region_id, kind=kind,
          features=len(sites), filename=filename, region_sites_before=before, region_sites_after=after, region_version=version)
    return {"id": upload_id, "status": "proposed" if proposal else "approved", "features": len(sites), "site_ids": sites["site_id"].tolist(),
            "skipped": [i.message for i in issues], "region_version": version}


@router.get("/regions/{region_id}/uploads")
def list_uploads(region_id: str, who: Who, state: StateDep, status: str | None = None) -> list[dict]:
    """Uploads of a region, newest first: a planner sees all, a street office its own town's."""
    require(who, "planner", "street_office")
    region_at(state, region_id)
    where = [db.uploads.c.region == region_id]
    if who.role == "street_office":
        where.append(db.uploads.c.town == who.town)
    rows = [_out(r) for r in state.store.rows(db.uploads, *where, limit=1000)]
    return [r for r in rows if status is None or r["status"] == status]


@router.get("/uploads/{upload_id}")
def get_upload(upload_id: int, who: Who, state: StateDep) -> dict:
    """One upload with its sites (GeoJSON)."""
    require(who, "planner", "street_office")
    row = _visible(who, _row(state, upload_id))
    return {**_out(row), "sites": json.loads(row["geojson"])}


@router.post("/uploads/{upload_id}/approve")
def approve(upload_id: int, who: Who, state: StateDep, body: DecisionIn | None = None) -> dict:
    """Planner: accept a street office's proposal; its sites join the region as a new version."""
    require(who, "planner")
    with state.lock:
        row = _row(state, upload_id)
        if _status(row) != "proposed":
            raise ApiError(409, f"upload {upload_id} is {_status(row)}, not a pending proposal")
        before = len(region_at(state, row["region"]).sites)
        version = _apply(state, who, row, f"upload {upload_id} ({row['filename']}) approved: {row['features']} {row['kind']} from {row['town']}")
        state.store.set(db.uploads, upload_id, status="approved", decided_by=who.id, decided_at=db.now(), decision_note=body.note if body else "")
        after = len(region_at(state, row["region"]).sites)
    audit(state, who, "upload.approve", "upload", upload_id, region=row["region"], town=row["town"], features=row["features"],
          region_sites_before=before, region_sites_after=after, region_version=version)
    return _out(_row(state, upload_id))


@router.post("/uploads/{upload_id}/reject")
def reject(upload_id: int, who: Who, state: StateDep, body: DecisionIn | None = None) -> dict:
    """Planner: turn a proposal down (it never enters a scenario); the note tells the office why."""
    require(who, "planner")
    with state.lock:
        row = _row(state, upload_id)
        if _status(row) != "proposed":
            raise ApiError(409, f"upload {upload_id} is {_status(row)}, not a pending proposal")
        state.store.set(db.uploads, upload_id, status="rejected", decided_by=who.id, decided_at=db.now(), decision_note=body.note if body else "")
    audit(state, who, "upload.reject", "upload", upload_id, region=row["region"], town=row["town"], features=row["features"])
    return _out(_row(state, upload_id))


@router.delete("/uploads/{upload_id}")
def delete_upload(upload_id: int, who: Who, state: StateDep) -> dict:
    """A street office withdraws its own pending proposal; a planner withdraws a proposal or deletes
    an approved upload (a new region version without its sites; plans made before keep theirs)."""
    require(who, "planner", "street_office")
    with state.lock:
        row = _visible(who, _row(state, upload_id))
        status = _status(row)
        if who.role == "street_office" and status != "proposed":
            raise ApiError(409, f"upload {upload_id} is {status}: only a planner can remove it now")
        if status in ("rejected", "withdrawn", "deleted"):
            raise ApiError(409, f"upload {upload_id} is already {status}")
        region_id = row["region"]
        before = len(region_at(state, region_id).sites)
        version = None
        if status == "approved":
            sync_versions(state, region_id)
            latest = region_at(state, region_id)
            ids = set(upload_sites(row)["site_id"].astype(str))
            region = without_sites(latest, ids, version_of(latest) + 1)
            version = install_version(state, region_id, region, upload_id=upload_id, change="remove",
                                      note=f"upload {upload_id} ({row['filename']}) deleted: {row['features']} sites removed", caller_id=who.id)
        new_status = "deleted" if status == "approved" else "withdrawn"
        state.store.set(db.uploads, upload_id, status=new_status, decided_by=who.id, decided_at=db.now())
        after = len(region_at(state, region_id).sites)
    audit(state, who, f"upload.{'delete' if new_status == 'deleted' else 'withdraw'}", "upload", upload_id, region=region_id,
          features=row["features"], region_sites_before=before, region_sites_after=after, region_version=version)
    return _out(_row(state, upload_id))
