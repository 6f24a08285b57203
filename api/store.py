"""Persistent storage for the HTTP service: API keys, scenarios, jobs, plans, uploads, patrols.

SQLAlchemy Core over SQLite by default (one file, WAL journal so readers never block the job
writer) or any SQLAlchemy URL (``postgresql+psycopg://user@host/db`` for several servers).  The
schema is created and migrated by Alembic (``api/migrations``; :func:`upgrade`, run at every
start).  Every write is its own transaction, so a crash in the middle of a job loses nothing
already stored.  Large data (region networks, plan snapshots) stay in files named by the rows.

The ``jobs`` table is the job queue: a server claims the oldest queued job in one statement
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer otherwise), records itself as
its holder, and ends it only while it still holds it (:meth:`Store.finish_job`), so a job is never
run by two servers at once and ends exactly once.  Servers write a heartbeat; the jobs of a server
that stopped beating are retried once, then failed (:meth:`Store.reap_jobs`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint,
    create_engine, event, func, insert, or_, select, text, update,
)
from sqlalchemy.engine import Engine

ROLES = ("admin", "planner", "street_office", "patrol")
ID_MAX = 2**31 - 1
"""Largest row id (a 32-bit INTEGER on PostgreSQL); a larger id asked for is simply not found."""
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
    Column("server_id", Integer),  # the server holding it while it runs (servers.id)
    Column("attempts", Integer),  # how many times a server claimed it
)
Index("ix_jobs_status", jobs.c.status)
servers = Table(
    "servers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("workers", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("seen_at", DateTime, nullable=False),  # the last heartbeat
    Column("stopped_at", DateTime),
)
batch_results = Table(
    "batch_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("batch", String(200), nullable=False),
    Column("region", String(100), nullable=False),
    Column("scenario", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # done, failed
    Column("plan_id", Integer),
    Column("message", Text),
    Column("seconds", Float),  # the solve's wall time, seconds
    Column("peak_rss_mb", Float),  # the worker process's peak resident memory so far, MB
    Column("worker", String(200)),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("batch", "region", "scenario", name="uq_batch_result"),
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


def safe_url(url: str) -> str:
    """A database URL fit to print: its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: say so rather than echo it
        return "(not a database URL)"


def database_problem(exc: BaseException) -> str:
    """One line saying why a database could not be opened (the driver's own first line)."""
    if isinstance(exc, ImportError):
        return f"its driver is not installed ({exc.name or exc})"
    return " ".join(str(getattr(exc, "orig", None) or exc).split("\n")[0].split())[:300]


def private_file(path: Path) -> Path:
    """Create ``path`` (empty) readable and writable by its owner only, before anything is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # also when it existed with looser permissions
    return path


MIGRATIONS = Path(__file__).with_name("migrations")
"""Alembic's script folder (revisions in ``versions/``)."""
_MIGRATION_LOCK = 7_316_001
"""PostgreSQL advisory lock held while one server migrates (others starting at once wait)."""


def alembic_config(url: str | None = None) -> Any:
    """Alembic's configuration for the planner's migrations (``url``: for the ``alembic`` command)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The schema revision of a database (None: made before migrations, or empty)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as con:
        return MigrationContext.configure(con).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or migrate the schema to the newest revision; returns (revision before, after).

    A database made before migrations (tables, no ``alembic_version``) is taken up in place by
    the baseline revision.  On PostgreSQL an advisory lock makes servers starting together
    migrate one after the other.
    """
    from alembic import command

    with engine.begin() as con:
        if con.dialect.name == "postgresql":
            con.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        from alembic.runtime.migration import MigrationContext

        before = MigrationContext.configure(con).get_current_revision()
        config = alembic_config()
        config.attributes["connection"] = con
        command.upgrade(config, "head")
        after = MigrationContext.configure(con).get_current_revision()
    return before, str(after)


@dataclass(frozen=True)
class Reaped:
    """A job taken back from a server that stopped: ``retried`` (queued again) or failed."""

    job_id: int
    server: str
    retried: bool
    message: str


class JobLost(RuntimeError):
    """A server tried to end a job it no longer holds (cancelled, or taken back after its heartbeat stopped)."""


class Store:
    """Tables over one engine; every method is one short transaction."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
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
        else:
            kwargs["pool_pre_ping"] = True  # a database restarted under the service: reconnect, not fail
        self.engine: Engine = create_engine(url, json_serializer=lambda o: json.dumps(o, ensure_ascii=False, default=str), **kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        if self.dialect != "sqlite":
            _FORKABLE.add(self.engine)
        if migrate:
            upgrade(self.engine)

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
        if not 0 < key_id <= ID_MAX:
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
        """One row by id, or None (also for ids beyond :data:`ID_MAX`)."""
        if not 0 < row_id <= ID_MAX:
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

    def newest_version(self, region: str) -> int | None:
        """The highest version number recorded for a region (by any server), or None."""
        with self.engine.connect() as con:
            return con.execute(select(func.max(region_versions.c.version)).where(region_versions.c.region == region)).scalar_one_or_none()

    def record_batch_result(self, **values: Any) -> int:
        """Store one (batch, region, scenario) outcome, replacing an earlier one (a failure run again)."""
        with self.engine.begin() as con:
            con.execute(batch_results.delete().where(batch_results.c.batch == values["batch"], batch_results.c.region == values["region"],
                                                     batch_results.c.scenario == values["scenario"]))
            return int(con.execute(insert(batch_results).values(created_at=now(), **values)).inserted_primary_key[0])

    # ------------------------------------------------------------------ servers and the job queue
    def register_server(self, workers: int, name: str | None = None) -> int:
        """Record this process as a server that runs jobs; returns its id (for :meth:`claim_job`)."""
        host = socket.gethostname()[:200]
        at = now()
        with self.engine.begin() as con:
            return int(con.execute(insert(servers).values(name=(name or f"{host}:{os.getpid()}")[:200], host=host, pid=os.getpid(),
                                                          workers=int(workers), started_at=at, seen_at=at)).inserted_primary_key[0])

    def heartbeat(self, server_id: int) -> None:
        """The server is alive (its jobs are its own while it beats)."""
        self.set(servers, server_id, seen_at=now())

    def stop_server(self, server_id: int, *, requeue: bool = True) -> int:
        """The server stops: its running jobs are queued again (the attempt not counted: no job
        failed) for another server or its next start; returns how many."""
        with self.engine.begin() as con:
            con.execute(update(servers).where(servers.c.id == server_id).values(stopped_at=now()))
            if not requeue:
                return 0
            name = con.execute(select(servers.c.name).where(servers.c.id == server_id)).scalar_one_or_none()
            return con.execute(
                update(jobs).where(jobs.c.server_id == server_id, jobs.c.status == "running")
                .values(status="queued", server_id=None, progress=0.0, attempts=func.coalesce(jobs.c.attempts, 1) - 1,
                        message=f"server {name} was stopped while running it; queued again")
            ).rowcount

    def claim_job(self, server_id: int, regions: list[str]) -> dict | None:
        """Take the oldest queued job on one of ``regions`` for this server, or None.

        One statement: the job is picked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: a job another
        server is claiming is skipped, never waited for or taken twice) and marked running, held by
        ``server_id``, its attempts counted."""
        with self.engine.connect() as con:  # a read first: an idle queue costs no write transaction
            if con.execute(select(jobs.c.id).where(jobs.c.status == "queued").limit(1)).first() is None:
                return None
        oldest = (select(jobs.c.id).join(scenarios, scenarios.c.id == jobs.c.scenario_id)
                  .where(jobs.c.status == "queued", scenarios.c.region.in_(regions))
                  .order_by(jobs.c.id).limit(1))
        if self.dialect == "postgresql":  # SQLite has one writer at a time already
            oldest = oldest.with_for_update(skip_locked=True, of=jobs)
        oldest = oldest.scalar_subquery()
        claim = (update(jobs).where(jobs.c.id == oldest, jobs.c.status == "queued")
                 .values(status="running", server_id=server_id, attempts=func.coalesce(jobs.c.attempts, 0) + 1, started_at=now(),
                         progress=0.0, message="claimed by a server")
                 .returning(*jobs.c))
        with self.engine.begin() as con:
            row = con.execute(claim).mappings().first()
            return dict(row) if row else None

    def holds(self, job_id: int, server_id: int) -> bool:
        """Whether the server still holds the job (running, not cancelled or taken back)."""
        with self.engine.connect() as con:
            row = con.execute(select(jobs.c.status, jobs.c.server_id).where(jobs.c.id == job_id)).first()
        return row is not None and row.status == "running" and row.server_id == server_id

    def report_progress(self, job_id: int, server_id: int, progress: float, message: str) -> None:
        """A running job's progress, written only while the server holds it."""
        with self.engine.begin() as con:
            con.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.server_id == server_id, jobs.c.status == "running")
                        .values(progress=progress, message=message))

    def finish_job(self, job_id: int, server_id: int, *, status: str, message: str, plan: dict | None = None) -> int | None:
        """End a job the server holds, with its plan row (one transaction); returns the plan id.

        Raises :class:`JobLost` when the server no longer holds it: nothing is written, so a job
        ends exactly once whatever its servers did."""
        with self.engine.begin() as con:
            ended = con.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.server_id == server_id, jobs.c.status == "running")
                                .values(status=status, message=message, finished_at=now(), progress=1.0 if status == "done" else jobs.c.progress))
            if ended.rowcount != 1:
                raise JobLost(f"job {job_id} is no longer held by server {server_id}")
            if plan is None:
                return None
            plan_id = int(con.execute(insert(plans).values(created_at=now(), **plan)).inserted_primary_key[0])
            con.execute(update(jobs).where(jobs.c.id == job_id).values(plan_id=plan_id))
            return plan_id

    def cancel_job(self, job_id: int) -> bool:
        """Cancel a queued or running job; False when it had ended already.  Its server sees that
        it no longer holds the job and stops the solve."""
        with self.engine.begin() as con:
            return con.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(["queued", "running"]))
                               .values(status="cancelled", finished_at=now(), message="cancelled by the user")).rowcount > 0

    def reap_jobs(self, *, stale_s: float, max_attempts: int = 2) -> list[Reaped]:
        """Take back the running jobs of servers that stopped: stopped cleanly, silent for
        ``stale_s`` seconds, or (same host) whose process is gone.  A job is queued again while
        it has been claimed fewer than ``max_attempts`` times, else failed; each says which."""
        host = socket.gethostname()[:200]
        cutoff = now() - dt.timedelta(seconds=stale_s)
        with self.engine.begin() as con:
            live = con.execute(select(servers).where(servers.c.stopped_at.is_(None))).mappings().all()
            gone = [s["id"] for s in live if s["host"] == host and not _process_alive(s["pid"])]
            if gone:
                con.execute(update(servers).where(servers.c.id.in_(gone)).values(stopped_at=now()))
            dead = or_(jobs.c.server_id.is_(None), servers.c.id.is_(None), servers.c.stopped_at.is_not(None), servers.c.seen_at < cutoff)
            orphans = select(jobs.c.id, jobs.c.attempts, jobs.c.server_id, servers.c.name).select_from(
                jobs.outerjoin(servers, servers.c.id == jobs.c.server_id)).where(jobs.c.status == "running", dead).order_by(jobs.c.id)
            if self.dialect == "postgresql":
                orphans = orphans.with_for_update(skip_locked=True, of=jobs)
            reaped: list[Reaped] = []
            for row in con.execute(orphans).all():
                server = row.name or "(unknown: a version before the job queue)"
                attempts = row.attempts or 1
                retried = attempts < max_attempts
                if retried:
                    message = f"server {server} stopped while running it (attempt {attempts} of {max_attempts}); queued again"
                    values: dict[str, Any] = {"status": "queued", "server_id": None, "progress": 0.0, "attempts": attempts}
                else:
                    message = (f"server {server} stopped while running it (attempt {attempts} of {max_attempts}); "
                               "not retried again: run it again")
                    values = {"status": "failed", "finished_at": now()}
                taken = con.execute(update(jobs).where(jobs.c.id == row.id, jobs.c.status == "running",
                                                       _same(jobs.c.server_id, row.server_id)).values(message=message, **values))
                if taken.rowcount == 1:
                    reaped.append(Reaped(int(row.id), server, retried, message))
            return reaped


_INHERITED_POOLS: list[Any] = []
"""Connection pools a forked process inherited: kept referenced, never closed nor collected."""
_FORKABLE: "weakref.WeakSet[Engine]" = weakref.WeakSet()
"""Engines on a database server (not SQLite) whose pools a forked process must not share."""


def _fresh_pools_in_child() -> None:
    """In a forked process: give each server-database engine an empty pool of its own.  The
    parent's connections must never be used there (a socket shared by two processes) nor closed
    (that would end the parent's session), so the inherited pools stay referenced for the
    child's whole life.  SQLite engines are left as they are: their processes open a Store of
    their own (``api.explainer``) or none."""
    for engine in list(_FORKABLE):
        _INHERITED_POOLS.append(engine.pool)
        engine.pool = engine.pool.recreate()


os.register_at_fork(after_in_child=_fresh_pools_in_child)


def _same(column: Any, value: int | None) -> Any:
    """``column = value``, or ``column IS NULL`` for None."""
    return column.is_(None) if value is None else column == value


def _process_alive(pid: int) -> bool:
    """Whether a process of this host is running (signal 0 probes without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
