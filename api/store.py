"""Persistent storage for the HTTP service: API keys, scenarios, jobs, plans, uploads, patrols.

SQLAlchemy Core over SQLite by default (one file, WAL journal so readers never block the job
writer) or any SQLAlchemy URL (e.g. ``postgresql+psycopg://…``).  Every write is its own
transaction, so a crash in the middle of a job loses nothing already stored; on start,
:meth:`Store.fail_interrupted_jobs` marks jobs that were running as failed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint,
    create_engine, event, func, inspect, insert, select, text, update,
)
from sqlalchemy.engine import Engine

ROLES = ("admin", "planner", "street_office", "patrol")
metadata = MetaData()

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("town", String(200)),
    Column("station", String(200)),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)
region_versions = Table(
    "region_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("region", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("parent", Integer),
    Column("note", Text, nullable=False),
    Column("fingerprint", String(64)),
    Column("upload_id", Integer),
    Column("change", String(10)),  # add (the upload's sites join) or remove (they leave)
    Column("sites", Integer),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("region", "version", name="uq_region_version"),
)
scenarios = Table(
    "scenarios", metadata,
    Column("id", Integer, primary_key=True),
    Column("region", String(100), nullable=False),
    Column("region_version", Integer),
    Column("spec", JSON, nullable=False),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
)
jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("scenario_id", Integer, ForeignKey("scenarios.id"), nullable=False),
    Column("status", String(20), nullable=False),  # queued, running, done, failed, cancelled
    Column("progress", Float, nullable=False, default=0.0),
    Column("message", Text),
    Column("plan_id", Integer),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
)
plans = Table(
    "plans", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),  # scenario, suggestion
    Column("scenario_id", Integer, ForeignKey("scenarios.id")),
    Column("region", String(100), nullable=False),
    Column("region_version", Integer),
    Column("town", String(200)),
    Column("spec", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("geojson", Text, nullable=False),
    Column("snapshot", String(300)),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
)
uploads = Table(
    "uploads", metadata,
    Column("id", Integer, primary_key=True),
    Column("region", String(100), nullable=False),
    Column("town", String(200)),
    Column("kind", String(20), nullable=False),
    Column("region_version", Integer),
    Column("filename", String(255), nullable=False),
    Column("geojson", Text, nullable=False),
    Column("features", Integer, nullable=False),
    Column("facility_type", String(40)),
    Column("status", String(20)),  # proposed, approved, rejected, withdrawn, deleted (None: approved, from before governance)
    Column("decided_by", Integer, ForeignKey("api_keys.id")),
    Column("decided_at", DateTime),
    Column("decision_note", Text),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
)
audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("key_id", Integer),
    Column("key_name", String(200)),
    Column("role", String(20)),
    Column("action", String(40), nullable=False),
    Column("target", String(40), nullable=False),
    Column("target_id", String(100)),
    Column("region", String(100)),
    Column("detail", JSON),
    Column("created_at", DateTime, nullable=False),
)
patrols = Table(
    "patrols", metadata,
    Column("id", Integer, primary_key=True),
    Column("region", String(100), nullable=False),
    Column("region_version", Integer),
    Column("station", String(200), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("geojson", Text, nullable=False),
    Column("gpx", LargeBinary, nullable=False),
    Column("snapshot", String(300)),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
)

visits = Table(
    "visits", metadata,
    Column("id", Integer, primary_key=True),
    Column("region", String(100), nullable=False),
    Column("region_version", Integer),
    Column("town", String(200)),
    Column("spec", JSON, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("calendar", JSON, nullable=False),
    Column("created_by", Integer, ForeignKey("api_keys.id")),
    Column("created_at", DateTime, nullable=False),
)


def now() -> dt.datetime:
    """UTC now, without tzinfo (portable across databases)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def hash_key(key: str) -> str:
    """SHA-256 of an API key (keys are long random strings, so a fast hash is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def default_db_url(folder: Path) -> str:
    """SQLite file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'planner.db').resolve()}"


def private_file(path: Path) -> Path:
    """Create ``path`` (empty) readable and writable by its owner only, before anything is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # also when it existed with looser permissions
    return path


class Store:
    """Tables over one engine; every method is one short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///") and ":memory:" not in url:
            database = Path(url[len("sqlite:///"):])
            private_file(database)  # the key hashes and plans are nobody else's business
            for extra in ("-wal", "-shm"):  # SQLite creates these with the database's permissions; make sure
                side = database.with_name(database.name + extra)
                if side.exists():
                    os.chmod(side, 0o600)
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, json_serializer=lambda o: json.dumps(o, ensure_ascii=False, default=str), **kwargs)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a database made by an earlier version up to date: add the (nullable) columns it
        lacks, so that nothing already stored is lost."""
        inspector = inspect(self.engine)
        with self.engine.begin() as con:
            for table in metadata.sorted_tables:
                present = {c["name"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present and column.nullable:
                        kind = column.type.compile(dialect=self.engine.dialect)
                        con.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))

    # ------------------------------------------------------------------ keys
    def create_key(self, name: str, role: str, *, town: str | None = None, station: str | None = None, secret: str | None = None) -> tuple[int, str]:
        """A new key: returns its id and the secret (shown once; only the hash is stored)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        secret = secret or "pk_" + secrets.token_urlsafe(24)
        with self.engine.begin() as con:
            row = con.execute(insert(api_keys).values(name=name, prefix=secret[:8], key_hash=hash_key(secret), role=role, town=town,
                                                      station=station, revoked=False, created_at=now()))
            return int(row.inserted_primary_key[0]), secret

    def any_key_by_secret(self, secret: str) -> dict | None:
        """The key with this secret, revoked or not, or None."""
        with self.engine.connect() as con:
            row = con.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(secret))).mappings().first()
            return dict(row) if row else None

    def key_by_secret(self, secret: str) -> dict | None:
        """The active key with this secret, or None."""
        with self.engine.connect() as con:
            row = con.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked.is_(False))).mappings().first()
            return dict(row) if row else None

    def list_keys(self) -> list[dict]:
        """Every key without its hash."""
        with self.engine.connect() as con:
            rows = con.execute(select(api_keys).order_by(api_keys.c.id)).mappings().all()
        return [{k: v for k, v in r.items() if k != "key_hash"} for r in rows]

    def revoke_key(self, key_id: int) -> bool:
        """Revoke; False if no such key."""
        if not 0 < key_id < 2**63:
            return False
        with self.engine.begin() as con:
            return con.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked=True)).rowcount > 0

    def count_active_keys(self) -> int:
        """Number of keys not revoked."""
        with self.engine.connect() as con:
            return len(con.execute(select(api_keys.c.id).where(api_keys.c.revoked.is_(False))).all())

    def count_keys(self) -> int:
        """Number of keys (revoked included)."""
        with self.engine.connect() as con:
            return len(con.execute(select(api_keys.c.id)).all())

    # ------------------------------------------------------------------ generic rows
    def add(self, table: Table, **values: Any) -> int:
        """Insert a row (``created_at`` set) and return its id."""
        values.setdefault("created_at", now())
        with self.engine.begin() as con:
            return int(con.execute(insert(table).values(**values)).inserted_primary_key[0])

    def get(self, table: Table, row_id: int) -> dict | None:
        """One row by id, or None (also for ids no database integer can hold)."""
        if not 0 < row_id < 2**63:
            return None
        with self.engine.connect() as con:
            row = con.execute(select(table).where(table.c.id == row_id)).mappings().first()
            return dict(row) if row else None

    def rows(self, table: Table, *where: Any, limit: int = 200, offset: int = 0, columns: list[str] | None = None) -> list[dict]:
        """Rows matching the conditions, newest first (``offset`` rows skipped); only ``columns`` if given."""
        chosen = [table.c[name] for name in columns] if columns else [table]
        with self.engine.connect() as con:
            query = select(*chosen).where(*where).order_by(table.c.id.desc()).limit(limit).offset(offset)
            return [dict(r) for r in con.execute(query).mappings().all()]

    def count(self, table: Table, *where: Any) -> int:
        """How many rows match the conditions."""
        with self.engine.connect() as con:
            return int(con.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    def set(self, table: Table, row_id: int, **values: Any) -> None:
        """Update one row."""
        with self.engine.begin() as con:
            con.execute(update(table).where(table.c.id == row_id).values(**values))

    def fail_interrupted_jobs(self) -> int:
        """Mark queued/running jobs failed (the service stopped under them); returns how many."""
        with self.engine.begin() as con:
            return con.execute(
                update(jobs).where(jobs.c.status.in_(["queued", "running"]))
                .values(status="failed", message="the service stopped while the job was running; run it again", finished_at=now())
            ).rowcount
