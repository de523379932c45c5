"""Numbered SQL migrations (`migrations/NNN_name.sql`), applied in order, each atomically.

The applied versions are recorded in the database itself, so any older file
is brought forward on open and a newer one (from a later paperbot) is refused
rather than misread.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.store.errors import timed_lock_wait

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


class MigrationError(RuntimeError):
    """The database cannot be brought to this version of paperbot's schema."""


def bundled_migrations(directory: Path | None = None) -> list[Migration]:
    """The migrations shipped with the package (or in `directory`), sorted by version."""
    if directory is None:
        root = resources.files("bot.store") / "migrations"
        entries = [(entry.name, entry.read_text(encoding="utf-8")) for entry in root.iterdir()]
    else:
        entries = [(p.name, p.read_text(encoding="utf-8")) for p in directory.iterdir()]
    found: list[Migration] = []
    for filename, sql in entries:
        match = _NAME.match(filename)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), sql))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    # Numbers are assigned to pieces of work in advance, so one may land before a lower one:
    # gaps are allowed (each is applied once whenever it arrives), duplicates are not.
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number: {versions}")
    return found


def statements(sql: str) -> list[str]:
    """Split a migration script into statements (triggers' BEGIN ... END kept whole).

    Python's `executescript` commits any open transaction first, so a script cannot run
    inside the write lock that `migrate` holds; its statements are run one by one instead.
    """
    found: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if not _only_comments(buffer.strip().rstrip(";")):
                found.append(buffer.strip())
            buffer = ""
    if not _only_comments(buffer):
        found.append(buffer.strip())
    return found


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


async def _applied(db: aiosqlite.Connection) -> set[int]:
    """The versions recorded in the file (none for a new one); only reads."""
    async with db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ) as cursor:
        if await cursor.fetchone() is None:
            return set()
    async with db.execute("SELECT version FROM schema_migrations") as cursor:
        return {int(row[0]) for row in await cursor.fetchall()}


async def applied_version(db: aiosqlite.Connection) -> int:
    """The highest schema version recorded in the file (0 for a new one); only reads."""
    return max(await _applied(db), default=0)


async def pending_migrations(db: aiosqlite.Connection, migrations: list[Migration]) -> list[Migration]:
    """The migrations not yet applied to this file; only reads."""
    applied = await _applied(db)
    return [m for m in migrations if m.version not in applied]


async def migrate(db: aiosqlite.Connection, migrations: list[Migration] | None = None) -> int:
    """Apply every pending migration; return the schema version reached.

    The write lock (BEGIN IMMEDIATE) is taken before the applied versions are read, so two
    paperbots starting on one new file cannot both decide to create the tables: the second
    waits (busy timeout), then finds the work done. Each migration is atomic.
    """
    migrations = bundled_migrations() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    # Most opens find nothing to do: look without the write lock first.
    applied = await _applied(db)
    if max(applied, default=0) > latest:
        raise _too_new(max(applied), latest)
    for migration in migrations:
        if migration.version in applied:
            continue
        await timed_lock_wait(db.execute("BEGIN IMMEDIATE"))
        try:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied = await _applied(db)  # again, under the lock: another process may have been first
            if max(applied, default=0) > latest:
                raise _too_new(max(applied), latest)
            if migration.version in applied:
                await db.execute("COMMIT")
                continue
            try:
                for statement in statements(migration.sql):
                    await db.execute(statement)
            except sqlite3.Error as error:
                raise MigrationError(
                    f"migration {migration.version:03d}_{migration.name} failed: {error}"
                ) from error
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            await db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, stamp),
            )
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise
        applied.add(migration.version)
    return max(applied, default=0)


def _too_new(current: int, latest: int) -> MigrationError:
    return MigrationError(
        f"the database is at schema version {current}, newer than this paperbot "
        f"knows ({latest}); upgrade paperbot or restore a backup"
    )


async def _rollback(db: aiosqlite.Connection) -> None:
    if db.in_transaction:
        # The connection is going away with the error anyway.
        with contextlib.suppress(sqlite3.Error):
            await db.execute("ROLLBACK")
