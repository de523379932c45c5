"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, listening on 127.0.0.1 and a
free port with its socket in the temp dir, run as an unprivileged user (PostgreSQL refuses root),
stopped at the end of the session. Each test gets its own database, copied from a migrated template.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg

INSTALL_HINT = "install it with `apt-get install -y postgresql` (.ci/run does this on a fresh machine)"


def find_bin(name: str) -> str | None:
    """initdb/pg_ctl on PATH, else the Debian package's versioned directory (not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server for a test session; `new_database()` hands each test an empty migrated database."""

    def __init__(self, keep: Path | None = None) -> None:
        """`keep`: a directory that outlives the server (a benchmark's big database, reused by
        later runs); by default a temporary one, removed at stop."""
        self.keep = keep
        self.initdb = find_bin("initdb")
        self.pg_ctl = find_bin("pg_ctl")
        self.dir: Path | None = None
        self.port = 0
        self._count = 0
        self._template_ready = False
        self._as: list[str] = []

    @property
    def available(self) -> bool:
        return bool(self.initdb and self.pg_ctl)

    def _user_prefix(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        for user in ("postgres", "nobody"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                continue
            return ["runuser", "-u", user, "--"]
        raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")

    def start(self) -> PgServer:
        assert self.initdb and self.pg_ctl
        self._as = self._user_prefix()
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            self.dir = self.keep
        else:
            self.dir = Path(tempfile.mkdtemp(prefix="paperbot-pg-"))
        if self._as:
            shutil.chown(self.dir, user=self._as[2])
        data = self.dir / "data"
        if not (data / "PG_VERSION").exists():
            subprocess.run(
                [*self._as, self.initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--locale=C", "--no-sync"],
                check=True, capture_output=True,
            )
        self.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*self._as, self.pg_ctl, "-D", str(data), "-o", options, "-l", str(self.dir / "log"),
             "-w", "-t", "60", "start"],
            check=True, capture_output=True,
        )
        return self

    def stop(self) -> None:
        if self.dir is None:
            return
        with contextlib.suppress(Exception):
            subprocess.run(
                [*self._as, self.pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop"],
                check=False, capture_output=True, timeout=60,
            )
        if self.keep is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def new_database(self) -> str:
        """An empty database with paperbot's schema (a copy of a migrated template): its URL."""
        from bot.store import Store

        admin = await asyncpg.connect(self.url())
        try:
            if not self._template_ready:
                await admin.execute("DROP DATABASE IF EXISTS paperbot_template")
                await admin.execute("CREATE DATABASE paperbot_template")
                async with Store(self.url("paperbot_template"), index_dir=self.dir / "template-index"):
                    pass
                self._template_ready = True
            self._count += 1
            name = f"t{os.getpid()}_{self._count}"
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE paperbot_template")
        finally:
            await admin.close()
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        """Drop a test's database at its end, so the server stays small (and quick to remove)."""
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    async def empty_database(self) -> str:
        """A database with no tables at all (copy-store targets, migration tests)."""
        admin = await asyncpg.connect(self.url())
        try:
            self._count += 1
            name = f"e{os.getpid()}_{self._count}"
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        return self.url(name)
