"""Numbered SQL migrations (`migrations/NNN_name.sql`), applied in order, each atomically.

The applied versions are recorded in the database itself, so any older file
is brought forward on open and a newer one (from a later paperbot) is refused
rather than misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

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


async def applied_version(db: aiosqlite.Connection) -> int:
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection, migrations: list[Migration] | None = None) -> int:
    """Apply every pending migration; return the schema version reached."""
    migrations = bundled_migrations() if migrations is None else migrations
    current = await applied_version(db)
    await db.commit()
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this paperbot "
            f"knows ({latest}); upgrade paperbot or restore a backup"
        )
    async with db.execute("SELECT version FROM schema_migrations") as cursor:
        applied = {int(row[0]) for row in await cursor.fetchall()}
    for migration in migrations:
        if migration.version in applied:
            continue
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        # One script, one transaction: a failing migration leaves nothing half-applied.
        script = (
            "BEGIN;\n"
            f"{migration.sql}\n;"
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', '{stamp}');\n"
            "COMMIT;"
        )
        try:
            await db.executescript(script)
        except Exception as error:
            await db.rollback()
            raise MigrationError(
                f"migration {migration.version:03d}_{migration.name} failed: {error}"
            ) from error
        current = max(current, migration.version)
    return current
