"""Backups with SQLite's online backup API, and putting one back.

A backup reads one consistent snapshot (a single read transaction: in WAL mode the
running bot keeps writing meanwhile), writes it to a temporary file next to the
target, checks it, and only then renames it into place: a backup interrupted half
way never looks like a good one. Blocking sqlite3 calls: run these in a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.store.errors import StoreError, explain
from bot.store.migrate import bundled_migrations

# In a WAL database's -shm file, every open connection holds a shared lock on this byte
# (SQLite's "DMS" lock: WALINDEX_LOCK_OFFSET 120 + 8 lock slots).
_SHM_DMS_BYTE = 128


@dataclass(frozen=True, slots=True)
class Snapshot:
    path: Path
    papers: int
    schema_version: int
    size: int


def _open_read_only(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    if not path.exists():
        raise StoreError(f"{path} does not exist", path=path, kind="missing")
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file", path=path, kind="folder")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                         timeout=busy_timeout_ms / 1000, isolation_level=None)
    return db


def _describe(db: sqlite3.Connection, path: Path) -> Snapshot:
    """Check a copy and say what it holds; a damaged or foreign file is a StoreError."""
    verdict = db.execute("PRAGMA quick_check(1)").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise StoreError(f"{path} is damaged (quick_check: {verdict[0] if verdict else '?'})",
                         path=path, kind="corrupt")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"schema_migrations", "papers"} <= tables:
        raise StoreError(f"{path} is an SQLite file but not a paperbot database", path=path, kind="notadb")
    version = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    papers = db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
    return Snapshot(path, int(papers), int(version), path.stat().st_size)


def _copy(source: sqlite3.Connection, target: Path, *, journal_mode: str) -> None:
    """The online backup into `target` (a fresh file), in one step: one consistent snapshot."""
    target.unlink(missing_ok=True)
    destination = sqlite3.connect(target, isolation_level=None)
    try:
        source.backup(destination)  # pages=-1: a single read transaction, never restarted
        destination.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()
    finally:
        destination.close()
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


def backup(source: Path, target: Path, *, busy_timeout_ms: int = 5000, replace: bool = False) -> Snapshot:
    """Copy the database at `source` to `target` (a file, or a folder to put a dated file in)."""
    if target.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = target / f"{source.stem}-{stamp}.db"
    if target.exists() and not replace:
        raise StoreError(f"{target} already exists (use --force to replace it)", path=target,
                         kind="exists")
    if target.resolve() == source.resolve():
        raise StoreError(f"{target} is the database itself", path=target, kind="exists")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        db = _open_read_only(source, busy_timeout_ms)
        try:
            # The one-file copy needs no -wal next to it: DELETE journal mode.
            _copy(db, partial, journal_mode="DELETE")
        finally:
            db.close()
        check = sqlite3.connect(partial, isolation_level=None)
        try:
            snapshot = _describe(check, partial)
        except StoreError as error:
            raise StoreError(f"{source} is damaged, its copy fails the check ({error}); "
                             "keep your older backups", path=source, kind=error.kind) from error
        finally:
            check.close()
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise explain(error, source, busy_timeout_ms=busy_timeout_ms) from error
    finally:
        partial.unlink(missing_ok=True)
    return Snapshot(target, snapshot.papers, snapshot.schema_version, target.stat().st_size)


def in_use(database: Path) -> bool:
    """Whether another process has the (WAL) database open: it holds a lock in the -shm file."""
    shm = database.with_name(database.name + "-shm")
    try:
        handle = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
        except OSError:
            return True
        fcntl.lockf(handle, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(handle)


@dataclass(frozen=True, slots=True)
class Restored:
    snapshot: Snapshot
    set_aside: Path | None


def restore(backup_file: Path, database: Path) -> Restored:
    """Put `backup_file` in place of `database`, which is kept as NAME.replaced-STAMP.

    Refused while another process has the database open, or if the backup is damaged,
    not paperbot's, or from a newer paperbot. An older schema is migrated at next start.
    """
    try:
        source = _open_read_only(backup_file, 5000)
        try:
            snapshot = _describe(source, backup_file)
            latest = bundled_migrations()[-1].version
            if snapshot.schema_version > latest:
                raise StoreError(f"{backup_file} is at schema version {snapshot.schema_version}, "
                                 f"newer than this paperbot knows ({latest})", path=backup_file,
                                 kind="newer")
            if in_use(database):
                raise StoreError(f"{database} is in use by another process (a running paperbot?): "
                                 "stop it, then restore", path=database, kind="locked")
            database.parent.mkdir(parents=True, exist_ok=True)
            incoming = database.with_name(f".{database.name}.restoring-{os.getpid()}")
            try:
                _copy(source, incoming, journal_mode="WAL")
                set_aside = _set_aside(database)
                os.replace(incoming, database)
            finally:
                incoming.unlink(missing_ok=True)
                for suffix in ("-wal", "-shm"):
                    Path(f"{incoming}{suffix}").unlink(missing_ok=True)
        finally:
            source.close()
    except sqlite3.Error as error:
        raise explain(error, backup_file) from error
    return Restored(snapshot, set_aside)


def _set_aside(database: Path) -> Path | None:
    """Rename the database with its -wal (they belong together); the -shm is rebuilt by SQLite."""
    if not database.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    aside = database.with_name(f"{database.name}.replaced-{stamp}")
    os.replace(database, aside)
    wal = database.with_name(database.name + "-wal")
    if wal.exists():
        os.replace(wal, aside.with_name(aside.name + "-wal"))
    with contextlib.suppress(FileNotFoundError):
        database.with_name(database.name + "-shm").unlink()
    return aside
