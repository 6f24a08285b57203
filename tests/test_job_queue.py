"""The store's schema and job queue on SQLite and PostgreSQL: Alembic migrations (fresh, from a
database made before migrations), claims under contention, ends exactly once, jobs of a stopped
server taken back; and two real ``planner serve`` processes on one PostgreSQL database, one
killed in the middle of a job."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from api import store as db
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[1]


def _queue(store: db.Store, n: int, region: str = "r") -> list[int]:
    key, _ = store.create_key("k", "planner")
    scenario = store.add(db.scenarios, region=region, spec={"name": "饭堂"}, created_by=key)
    return [store.add(db.jobs, scenario_id=scenario, status="queued", progress=0.0, message="queued", created_by=key) for _ in range(n)]


# ---------------------------------------------------------------------------- schema
def test_migrations_build_the_schema_the_code_uses(database_url) -> None:
    """A new database is migrated to the newest revision, and that schema is exactly the tables
    and columns the code declares (Alembic finds nothing to change)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = db.Store(database_url)
    assert db.current_revision(store.engine) == db.head_revision()
    with store.engine.connect() as con:
        assert compare_metadata(MigrationContext.configure(con, opts={"compare_type": True}), db.metadata) == []
    before, after = db.upgrade(store.engine)  # idempotent: a second server starting changes nothing
    assert before == after == db.head_revision()


def test_a_database_from_before_migrations_is_upgraded_in_place(database_url) -> None:
    """A store made by an earlier version (tables from ``create_all``, a column added later
    missing, no Alembic record) keeps its rows and gains what it lacks."""
    engine = sa.create_engine(database_url)
    old = sa.MetaData()
    sa.Table("api_keys", old, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(200), nullable=False),
             sa.Column("prefix", sa.String(16), nullable=False), sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
             sa.Column("role", sa.String(20), nullable=False), sa.Column("revoked", sa.Boolean, nullable=False),
             sa.Column("created_at", sa.DateTime, nullable=False))  # no town, no station: added in later versions
    old.create_all(engine)
    with engine.begin() as con:
        con.execute(sa.text("INSERT INTO api_keys (name, prefix, key_hash, role, revoked, created_at) "
                            "VALUES ('老管理员', 'pk_abcde', :h, 'admin', false, :t)"), {"h": db.hash_key("pk_abcdef"), "t": db.now()})
    engine.dispose()
    store = db.Store(database_url)
    assert db.current_revision(store.engine) == db.head_revision()
    kept = store.key_by_secret("pk_abcdef")
    assert kept is not None and kept["name"] == "老管理员" and kept["town"] is None
    assert store.count(db.jobs) == 0 and store.register_server(1) > 0  # the tables it lacked exist


# ---------------------------------------------------------------------------- the queue
def test_concurrent_claims_take_every_job_exactly_once(database_url) -> None:
    """Eight threads (eight connections) claim from 120 queued jobs at once: every job is claimed
    once, by one server, and nothing else."""
    store = db.Store(database_url)
    ids = _queue(store, 120)
    servers = [store.register_server(1) for _ in range(8)]
    claimed: dict[int, list[int]] = collections.defaultdict(list)
    lock = threading.Lock()

    def claimer(server_id: int) -> None:
        while (row := store.claim_job(server_id, ["r"])) is not None:
            with lock:
                claimed[row["id"]].append(server_id)

    threads = [threading.Thread(target=claimer, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids and all(len(holders) == 1 for holders in claimed.values())
    rows = {r["id"]: r for r in store.rows(db.jobs, limit=1000)}
    assert all(rows[j]["status"] == "running" and rows[j]["attempts"] == 1 and rows[j]["server_id"] == claimed[j][0] for j in ids)
    assert len({h[0] for h in claimed.values()}) > 1  # the work was shared


def test_a_job_ends_once_and_only_by_its_holder(database_url) -> None:
    store = db.Store(database_url)
    (job,) = _queue(store, 1)
    a, b = store.register_server(1), store.register_server(1)
    assert store.claim_job(b, ["elsewhere"]) is None  # a server claims only jobs of regions it has
    assert store.claim_job(a, ["r"])["id"] == job and store.claim_job(b, ["r"]) is None
    with pytest.raises(db.JobLost):
        store.finish_job(job, b, status="done", message="done")
    plan = dict(kind="scenario", region="r", spec={}, payload={"名": "计划"}, geojson="{}")
    plan_id = store.finish_job(job, a, status="done", message="done", plan=plan)
    assert store.get(db.jobs, job)["plan_id"] == plan_id and store.get(db.plans, plan_id)["payload"] == {"名": "计划"}
    with pytest.raises(db.JobLost):  # a second end is refused, no second plan written
        store.finish_job(job, a, status="done", message="done", plan=plan)
    assert store.count(db.plans) == 1
    # a cancelled job is no longer its server's: its outcome is dropped
    (other,) = _queue(store, 1)
    store.claim_job(a, ["r"])
    assert store.cancel_job(other) and not store.holds(other, a) and not store.cancel_job(other)
    with pytest.raises(db.JobLost):
        store.finish_job(other, a, status="done", message="done", plan=plan)
    assert store.get(db.jobs, other)["status"] == "cancelled" and store.count(db.plans) == 1


def test_jobs_of_a_silent_server_are_retried_once_then_failed(database_url) -> None:
    store = db.Store(database_url)
    (job,) = _queue(store, 1)
    a = store.register_server(1, name="机房-A")
    store.claim_job(a, ["r"])
    assert store.reap_jobs(stale_s=60) == []  # alive (beat just now)
    store.set(db.servers, a, seen_at=db.now() - __import__("datetime").timedelta(seconds=61))
    (taken,) = store.reap_jobs(stale_s=60)
    assert taken.retried and taken.server == "机房-A" and "attempt 1 of 2" in taken.message
    row = store.get(db.jobs, job)
    assert row["status"] == "queued" and row["server_id"] is None and "queued again" in row["message"]
    b = store.register_server(1, name="机房-B")
    assert store.claim_job(b, ["r"])["attempts"] == 2
    store.stop_server(b, requeue=False)  # stopped without handing its job back (as if killed)
    (taken,) = store.reap_jobs(stale_s=60)
    assert not taken.retried and "attempt 2 of 2" in taken.message and "not retried" in taken.message
    row = store.get(db.jobs, job)
    assert row["status"] == "failed" and row["finished_at"] is not None
    with pytest.raises(db.JobLost):
        store.finish_job(job, b, status="done", message="done")


def test_a_server_stopped_cleanly_hands_its_jobs_back(database_url) -> None:
    store = db.Store(database_url)
    (job,) = _queue(store, 1)
    a = store.register_server(1)
    store.claim_job(a, ["r"])
    assert store.stop_server(a) == 1
    row = store.get(db.jobs, job)
    assert row["status"] == "queued" and row["attempts"] == 0 and "stopped" in row["message"]  # no attempt spent: nothing failed


# ---------------------------------------------------------------------------- two servers, one killed
ADMIN = "pk_admin_for_queue_tests_0123"


def _serve(url: str, data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PLANNER_ADMIN_KEY": ADMIN, "PLANNER_FAST_SUGGESTIONS": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "api.entry", "serve", "--db", url, "--data-dir", str(data_dir), "--port", str(port),
                             "--workers", "2", "--server-timeout", "4", "--max-jobs", "100"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def test_two_servers_one_killed_mid_job_every_job_ends_exactly_once(request, tmp_path, cache_dir) -> None:
    """Two ``planner serve`` processes share one PostgreSQL database and data folder; 20 jobs are
    queued; one server is killed (SIGKILL) while it holds a running job.  Every job ends exactly
    once (one plan each, done), the killed server's jobs are retried by the other (attempt 2, the
    audit log says so), and no other job ran twice."""
    import httpx

    from tests.conftest import fresh_database
    from tests.live import wait_for_service

    url = fresh_database(request, "postgresql", tmp_path)
    db.Store(url)  # migrated once before both start
    data = tmp_path / "shared-data"
    ports = [free_port(), free_port()]
    servers = [_serve(url, data, port, tmp_path / f"server-{i}.log") for i, port in enumerate(ports)]
    try:
        for port, proc in zip(ports, servers):
            wait_for_service(f"http://127.0.0.1:{port}", proc, timeout_s=240, log=tmp_path / f"server-{ports.index(port)}.log")
        a, b = (httpx.Client(base_url=f"http://127.0.0.1:{p}", headers={"X-API-Key": ADMIN}, timeout=60) for p in ports)
        # an upload applied on one server (an admin's needs no approval) is a region version the other reads at its next heartbeat
        csv = "name,lon,lat\n新饭堂,24.9443,60.1734\n".encode("utf-8")
        upload = b.post("/regions/sample/uploads", files={"file": ("饭堂.csv", csv, "text/csv")}, data={"kind": "candidates"})
        assert upload.status_code == 201 and upload.json()["status"] == "approved", upload.text
        version = upload.json()["region_version"]
        assert version == 2
        deadline = time.monotonic() + 15
        while a.get("/regions").json()[0]["version"] != version and time.monotonic() < deadline:
            time.sleep(0.2)
        assert a.get("/regions").json()[0]["version"] == version
        jobs = []
        for i in range(20):  # a planner key each (a key may have 5 jobs waiting), sent to either server
            client = (a, b)[i % 2]
            planner = {"X-API-Key": client.post("/keys", json={"name": f"规划 {i}", "role": "planner"}).json()["key"]}
            sid = client.post("/regions/sample/scenarios", json={"name": f"方案 {i}", "n_new": 2 + i % 3}, headers=planner).json()["id"]
            answer = client.post(f"/scenarios/{sid}/run", headers=planner)
            assert answer.status_code == 202, answer.text
            jobs.append(answer.json()["job"])
        store = db.Store(url, migrate=False)
        killed_server = store.rows(db.servers, db.servers.c.pid == servers[0].pid)[0]["id"]
        deadline = time.monotonic() + 120
        held: list[int] = []
        while not held and time.monotonic() < deadline:
            held = [r["id"] for r in store.rows(db.jobs, db.jobs.c.status == "running", db.jobs.c.server_id == killed_server)]
            time.sleep(0.02)
        assert held, "the first server never held a running job"
        os.killpg(servers[0].pid, signal.SIGKILL)  # the server and its job processes, mid-job
        servers[0].wait(timeout=10)
        killed_name = store.get(db.servers, killed_server)["name"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            rows = {r["id"]: r for r in store.rows(db.jobs, db.jobs.c.id.in_(jobs))}
            if all(r["status"] in ("done", "failed", "cancelled") for r in rows.values()):
                break
            time.sleep(0.5)
        rows = {r["id"]: r for r in store.rows(db.jobs, db.jobs.c.id.in_(jobs))}
        statuses = collections.Counter(r["status"] for r in rows.values())
        assert statuses == {"done": 20}, (statuses, {j: r["message"] for j, r in rows.items() if r["status"] != "done"})
        plans = store.rows(db.plans, db.plans.c.kind == "scenario", limit=1000)
        by_scenario = collections.Counter(p["scenario_id"] for p in plans)
        assert len(plans) == 20 and set(by_scenario.values()) == {1}  # one plan per job: none ended twice
        assert {rows[j]["plan_id"] for j in jobs} == {p["id"] for p in plans}
        retried = {j for j in jobs if rows[j]["attempts"] == 2}
        assert retried and all(rows[j]["attempts"] == 1 for j in jobs if j not in retried)  # the others ran once
        audit = {int(r["target_id"]): r["detail"] for r in store.rows(db.audit, db.audit.c.action == "job.retry", limit=1000)}
        assert set(audit) == retried and all(detail["server"] == killed_name for detail in audit.values())
        assert all(rows[j]["server_id"] != killed_server for j in jobs)
        survivor = store.rows(db.servers, db.servers.c.pid == servers[1].pid)[0]
        assert survivor["stopped_at"] is None
        # a plan made by either server opens on the other (snapshots on the shared folder)
        done_on_b = next(rows[j]["plan_id"] for j in jobs if rows[j]["server_id"] == survivor["id"])
        assert b.get(f"/plans/{done_on_b}/map").status_code == 200
        print(f"killed server held jobs {held} a moment before; retried {sorted(retried)}; statuses {dict(statuses)}")
    finally:
        for proc in servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


def _write_in_child(store: db.Store, conn) -> None:  # noqa: ANN001
    import gc

    gc.collect()  # whatever the child inherited and let go of is collected here
    store.add(db.audit, key_id=None, key_name="child", role=None, action="test", target="fork")
    conn.send("ok")


def test_a_forked_process_leaves_the_parents_connections_alone(database_url) -> None:
    """Job, solver and explainer processes are forked from the service: they open connections of
    their own and never close the parent's (on SQLite, closing them in a child would checkpoint
    and delete the parent's write-ahead log: "disk I/O error" in the parent)."""
    import multiprocessing as mp

    store = db.Store(database_url)
    store.add(db.audit, key_id=None, key_name="parent", role=None, action="test", target="fork")  # a pooled connection now exists
    parent, child = mp.get_context("fork").Pipe()
    for _ in range(3):
        proc = mp.get_context("fork").Process(target=_write_in_child, args=(store, child))
        proc.start()
        assert parent.recv() == "ok"
        proc.join(10)
        assert proc.exitcode == 0
        store.add(db.audit, key_id=None, key_name="parent", role=None, action="test", target="fork")
    assert [r["key_name"] for r in store.rows(db.audit, db.audit.c.target == "fork")].count("child") == 3
    assert store.count(db.audit, db.audit.c.target == "fork") == 7
