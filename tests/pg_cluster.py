"""A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, started with pg_ctl.

It listens on a Unix socket in its own directory only (no TCP port to collide with), runs without
fsync (a test database is thrown away), and serves one database per test, copied from a migrated
template (CREATE DATABASE ... TEMPLATE is a file copy: far faster than migrating every time).
As root, the cluster runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TEMPLATE = "cost_template"


def _bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout first, then PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class Cluster:
    """A running throwaway cluster; :meth:`new_database` gives each test its own database URL."""

    def __init__(self, *, durable: bool = False, settings: Sequence[str] = ()) -> None:
        """Start the cluster; ``durable`` keeps PostgreSQL's default fsync (benchmarks), tests turn it off.
        ``settings`` are ``name=value`` server settings added last (a benchmark's ``--pg-setting``)."""
        bindir = _bin_dir()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
                "apt-get install postgresql (.ci/run does this)"
            )
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="cost-mcp-pg-"))
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root and there is no postgres user to run the server as"
                ) from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._user = "postgres"
        self.data = self.dir / "data"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-k {self.dir} -c listen_addresses='' -c max_connections=300 -c shared_buffers=128MB"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for setting in settings:
            name, _, value = setting.partition("=")
            if not name or not value or not name.replace("_", "").replace(".", "").isalnum():
                raise ValueError(f"a server setting is name=value, not {setting!r}")
            options += f" -c {name}={shlex.quote(value)}"
        self._options = options
        self.running = False
        self._admin: Any = None
        self.resume()
        self._names = itertools.count()
        self.base = f"postgresql://postgres@/{{db}}?host={self.dir}"
        self._admin_conn()
        self.exec(f"CREATE DATABASE {TEMPLATE}")
        from cost_mcp.store import connect

        connect(self.url(TEMPLATE)).close()  # the schema, migrated once

    def resume(self) -> None:
        """Start the server (again, after :meth:`halt`)."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", self._options, "-l", str(self.dir / "log"), "-w", "start"
        )
        self.running = True

    def halt(self) -> None:
        """Stop the server, keeping its files (a database server that is down; :meth:`resume`)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def _run(self, program: str, *args: str) -> None:
        cmd = [str(self.bindir / program), *args]
        if self._user is not None:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")

    def _admin_conn(self) -> Any:
        import psycopg

        if self._admin is None:
            self._admin = psycopg.connect(self.url("postgres"), autocommit=True)
        return self._admin

    def url(self, db: str) -> str:
        """The URL of database ``db`` in this cluster."""
        return self.base.format(db=db)

    def exec(self, sql: str) -> None:
        """Run one statement as the superuser, outside any transaction."""
        self._admin_conn().execute(sql)

    def new_database(self) -> str:
        """A fresh, migrated, empty database; returns its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.exec(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a test's database, disconnecting whoever is still in it (a killed server's pool)."""
        self.exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        if self._admin is not None:
            self._admin.close()
        try:
            if self.running:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
