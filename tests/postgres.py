"""A throw-away PostgreSQL server for the tests (standard library only, so `.ci/run` can use it
before anything is installed).

    python3 tests/postgres.py start FOLDER   # prints the server's SQLAlchemy URL
    python3 tests/postgres.py stop FOLDER

It runs Debian's ``postgresql`` binaries (``/usr/lib/postgresql/<version>/bin``) on a free
loopback port with trust authentication, its data in FOLDER; as root the server runs as the
``postgres`` user (PostgreSQL refuses root).  Durability is switched off (``fsync=off``): the data
are thrown away after the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """The command as the ``postgres`` user when run as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str]) -> None:
    """Run a PostgreSQL tool; its own words when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[-1] if command[-1] == 'start' else command[4]).name} failed: {(done.stderr or done.stdout).strip()[-1000:]}")


def start(folder: Path) -> str:
    """Initialise and start a server with its data in ``folder``; returns its SQLAlchemy URL
    (database ``postgres``, user ``postgres``)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    if not (data / "PG_VERSION").exists():
        _run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]))
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off " \
              "-c max_connections=200"
    _run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"]))
    (folder / "port").write_text(str(port))
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def stop(folder: Path) -> None:
    """Stop the server started in ``folder`` (fast shutdown)."""
    bin_dir = binaries()
    data = folder.resolve() / "data"
    if bin_dir is not None and (data / "postmaster.pid").exists():
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python3 tests/postgres.py start|stop FOLDER")
    if sys.argv[1] == "start":
        print(start(Path(sys.argv[2])))
    else:
        stop(Path(sys.argv[2]))
