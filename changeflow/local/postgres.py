"""A private PostgreSQL on loopback, for the distributed tests and ``bench/scale.py``.

Debian's ``postgresql`` package (``make`` installs it with apt-get when it can). ``initdb`` refuses to
run as root, so as root the data folder is handed to the ``postgres`` user and the server runs as it
(measured recipe: ``runuser -u postgres -- initdb -A trust``, then ``pg_ctl start`` with a private
socket folder and ``listen_addresses=127.0.0.1``). Stopped and removed on exit; nothing is left in /tmp.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from changeflow.exceptions import LocalServerError
from changeflow.local.processes import free_port


def postgres_bin() -> Path | None:
    """The newest installed server's ``bin`` folder, or None when PostgreSQL is not installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def missing_reason() -> str | None:
    """Why a private PostgreSQL cannot start here, or None when it can."""
    if postgres_bin() is None:
        return (
            "PostgreSQL server is not installed (Debian package `postgresql`; `make test` installs it when apt-get can)"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without `runuser`: initdb refuses root"
    return None


class LocalPostgres:
    """``with LocalPostgres() as pg: pg.url("changeflow_records")``; ``create_database(name)`` first. Migrate
    with ``url`` (the schema owner), then run the application with ``app_url`` (a member of the writer group)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="changeflow-postgres-"))
        self.bin = postgres_bin()

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(prefix + list(argv), capture_output=True, text=True, check=check, timeout=120)

    def __enter__(self) -> LocalPostgres:
        if (reason := missing_reason()) is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise LocalServerError(reason)
        try:
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres")
            self._run(
                str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"
            )
            options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
            self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.dir / "data"),
                "-o",
                options,
                "-l",
                str(self.dir / "log"),
                "-w",
                "-t",
                "60",
                "start",
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = (self.dir / "log").read_text()[-1500:] if (self.dir / "log").exists() else ""
            self.__exit__(None, None, None)
            raise LocalServerError(f"PostgreSQL did not start: {getattr(exc, 'stderr', '') or exc} {log}") from None
        return self

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return name

    def url(self, database: str, driver: str = "psycopg", role: str = "postgres") -> str:
        """As the superuser ``postgres`` (who owns what it migrates), or as ``role``."""
        return f"postgresql+{driver}://{role}@127.0.0.1:{self.port}/{database}"

    def app_url(self, database: str, role: str = "changeflow_app", driver: str = "psycopg") -> str:
        """The URL of an application login role ``role`` (created when missing; trust auth, no password)
        in the writer group ``changeflow_writer`` (created when missing; revision 0005 grants it its
        rights when the schema owner migrates ``database``). Roles are the cluster's, not the database's."""
        if not role.isidentifier() or not role.islower():
            raise ValueError(f"role {role!r}: use lowercase letters, digits and underscores")
        from changeflow.adapters.sql_migrate import WRITER_ROLE

        sql = f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN CREATE ROLE {WRITER_ROLE} NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; END IF;
END $$; GRANT {WRITER_ROLE} TO {role};"""
        self._run(
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        )
        return self.url(database, driver, role)

    def __exit__(self, *exc) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.dir / "data"),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
                check=False,
            )
            deadline = time.monotonic() + 10
            while (self.dir / "data" / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)
