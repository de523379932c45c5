"""`paperbot copy-store`: an SQLite store copied into an empty PostgreSQL one, table by table.

Both databases are at the same schema version (the target is migrated by opening it), so the
copy is generic: every table the two share, parents before children (SQLite's own foreign-key
list gives the order), the columns they share, in chunks through COPY. Derived data is not
copied: the PostgreSQL trigger numbers every copied paper as a change, so each process's search
index builds itself from the copy. Counts are compared at the end.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.pg import _coerce

# Per-process or derived rows: rebuilt on the target, never copied.
SKIP_TABLES = {"schema_migrations", "paper_changes", "processes"}
CHUNK_ROWS = 5000
# Tables a migration seeds with state of its own (005: the matching cursor). A fresh database has
# these rows, so they do not make it "not empty"; the copy replaces them with the source's.
MIGRATION_SEEDED_TABLES = frozenset({"reader_state"})


class CopyError(RuntimeError):
    """The copy cannot start or did not verify (a message for the operator)."""


@dataclass(slots=True)
class TableCopy:
    name: str
    source_rows: int
    copied: int = 0
    target_rows: int = 0


def _sqlite_tables(db: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
    )]
    # Shadow tables of virtual tables (FTS) have names like x_data, x_idx: skip any left.
    virtual = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")]
    return [n for n in names if not any(n.startswith(v + "_") for v in virtual)]


def _parents_first(db: sqlite3.Connection, tables: list[str]) -> list[str]:
    parents = {t: {r[2] for r in db.execute(f"PRAGMA foreign_key_list('{t}')")} & set(tables) - {t}
               for t in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in ordered and parents[t] <= set(ordered))
        if not ready:  # a cycle: keep the rest in name order (none in paperbot's schema)
            ready = sorted(t for t in tables if t not in ordered)
        ordered.extend(ready)
    return ordered


async def copy_store(
    sqlite_path: Path, url: str, *, progress: Callable[[str, int, int], Any] | None = None,
) -> list[TableCopy]:
    """Copy every shared table; raise CopyError when the target is not empty or counts differ."""
    from bot.store.repository import Store

    if not await asyncio.to_thread(sqlite_path.is_file):
        raise CopyError(f"{sqlite_path}: no such SQLite database")
    # Bring both to this paperbot's schema first (the source too, as `paperbot run` would).
    async with Store(sqlite_path, search_catch_up=False, index_dir=sqlite_path.with_suffix(".copy-index")):
        pass
    target = await Store(url, search_catch_up=False,
                         index_dir=sqlite_path.with_suffix(".copy-pg-index")).open()
    await target.close()

    conn = await asyncpg.connect(url)
    try:
        with closing(sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True,
                                     check_same_thread=False)) as db:
            pg_tables = {r[0] for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
            tables = [t for t in _sqlite_tables(db) if t in pg_tables and t not in SKIP_TABLES]
            tables = _parents_first(db, tables)
            for table in tables:
                if table in MIGRATION_SEEDED_TABLES:
                    continue
                if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                    raise CopyError(
                        f"the PostgreSQL database is not empty (table {table} has rows): copy-store "
                        "only fills an empty database, so nothing is overwritten")
            plan = [TableCopy(t, db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables]
            async with conn.transaction():
                for item in plan:
                    if item.name in MIGRATION_SEEDED_TABLES:
                        await conn.execute(f'DELETE FROM "{item.name}"')
                    await _copy_table(db, conn, item, progress)
                for item in plan:
                    columns = await _columns(conn, item.name)
                    if "id" in columns and columns["id"] in ("int8", "int4"):
                        identity = await conn.fetchval(
                            "SELECT is_identity FROM information_schema.columns WHERE"
                            " table_schema = current_schema() AND table_name = $1 AND column_name = 'id'",
                            item.name)
                        if identity == "YES":
                            await conn.execute(
                                f"SELECT setval(pg_get_serial_sequence('{item.name}', 'id'),"
                                f" GREATEST((SELECT MAX(id) FROM \"{item.name}\"), 1))")
                for item in plan:
                    item.target_rows = int(await conn.fetchval(f'SELECT COUNT(*) FROM "{item.name}"'))
                wrong = [i for i in plan if i.target_rows != i.source_rows]
                if wrong:
                    raise CopyError("counts differ after the copy (nothing was kept): " + ", ".join(
                        f"{i.name} {i.source_rows} -> {i.target_rows}" for i in wrong))
    finally:
        await conn.close()
    return plan


async def _columns(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1", table)
    return {r[0]: r[1] for r in rows}


async def _copy_table(
    db: sqlite3.Connection, conn: asyncpg.Connection, item: TableCopy,
    progress: Callable[[str, int, int], Any] | None,
) -> None:
    target_columns = await _columns(conn, item.name)
    source_columns = [r[1] for r in db.execute(f"PRAGMA table_info('{item.name}')")]
    columns = [c for c in source_columns if c in target_columns]
    types = [target_columns[c] for c in columns]
    cursor = db.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{item.name}"')
    while True:
        rows = await asyncio.to_thread(cursor.fetchmany, CHUNK_ROWS)  # the loop stays free
        if not rows:
            break
        records = [tuple(_coerce(v, t) for v, t in zip(row, types, strict=True)) for row in rows]
        await conn.copy_records_to_table(item.name, records=records, columns=columns)
        item.copied += len(records)
        if progress is not None:
            progress(item.name, item.copied, item.source_rows)
    if progress is not None:
        progress(item.name, item.copied, item.source_rows)
