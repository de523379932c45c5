"""PostgreSQL through asyncpg, behind the same small connection surface the repository uses
with aiosqlite (`execute` -> cursor, `executemany`, `fetchone`/`fetchall`, `lastrowid`,
`rowcount`), so every named store method runs unchanged on both backends.

Two things make SQLite's semantics hold across processes:
- every write transaction takes one transaction-scoped advisory lock first, so write
  transactions of all processes are serialized exactly like SQLite's single writer
  (`BEGIN IMMEDIATE`); claims, plans and counters keep their exactly-once reasoning;
- parameters are coerced to the types the server inferred (SQLite accepts an int for a
  text column, asyncpg does not), once per statement text.
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import re
import sqlite3
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import asyncpg

from bot.store.dialect import to_postgres
from bot.store.migrate import Migration, MigrationError

WRITE_LOCK_KEY = 0x70617065  # 'pape': serializes write transactions like SQLite's writer lock
MIGRATION_LOCK_KEY = 0x6D696772  # 'migr'

_TEXT = {"text", "varchar", "bpchar", "name", "unknown", "json", "jsonb"}
_INT = {"int2", "int4", "int8"}
_FLOAT = {"float4", "float8"}
_IDENTITY_TABLES: set[str] = set()


def _coerce(value: Any, type_name: str) -> Any:
    if value is None:
        return None
    if type_name in _TEXT:
        if isinstance(value, bool):
            return str(int(value))
        return value if isinstance(value, str) else str(value)
    if type_name in _INT:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str | float | decimal.Decimal):
            return int(value)
        return value
    if type_name in _FLOAT:
        return float(value)
    if type_name == "bool":
        return bool(int(value)) if isinstance(value, str) else bool(value)
    if type_name == "numeric" and isinstance(value, str):
        return decimal.Decimal(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _row(record: asyncpg.Record) -> tuple[Any, ...]:
    return tuple(_plain(v) for v in record)


class PgCursor:
    """The rows of one statement, fetched eagerly (the connection is free again at once)."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None):
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    async def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    async def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows[self._next:]
        self._next = len(self._rows)
        return rows

    async def fetchmany(self, size: int = 100) -> list[tuple[Any, ...]]:
        rows = self._rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    async def close(self) -> None:
        return None

    def __aiter__(self) -> PgCursor:
        return self

    async def __anext__(self) -> tuple[Any, ...]:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class _Pending:
    """What `execute` returns: awaitable (a cursor) and an async context manager (aiosqlite's shape)."""

    def __init__(self, coro: Any):
        self._coro = coro

    def __await__(self) -> Any:
        return self._coro.__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._coro

    async def __aexit__(self, *exc: object) -> None:
        return None


_STATUS_COUNT = re.compile(r"(\d+)\s*$")
_DML = re.compile(r"^\s*(WITH\b.*?\)\s*)?(INSERT|UPDATE|DELETE)\b", re.IGNORECASE | re.DOTALL)
_XACT_CHANGES = (
    "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
)
_INSERT_TABLE = re.compile(r"^\s*INSERT\s+INTO\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES|SHOW)\b|\bRETURNING\b", re.IGNORECASE)


class PgConnection:
    """One asyncpg connection (the writer, or a dedicated one) or a pool (readers), looking like
    an aiosqlite connection. Operations on one connection are queued, as aiosqlite's thread does."""

    def __init__(self, target: asyncpg.Connection | asyncpg.Pool, *, query_only: bool = False):
        self._target = target
        self._lock = asyncio.Lock()
        self._param_types: dict[str, tuple[str, ...]] = {}
        self.query_only = query_only
        self.in_transaction = False
        # Rows inserted, updated or deleted through this connection (SQLite's total_changes).
        self.total_changes = 0

    @property
    def raw(self) -> asyncpg.Connection | asyncpg.Pool:
        return self._target

    async def _types(self, conn: asyncpg.Connection, sql: str) -> tuple[str, ...]:
        types = self._param_types.get(sql)
        if types is None:
            statement = await conn.prepare(sql)
            types = tuple(t.name for t in statement.get_parameters())
            self._param_types[sql] = types
        return types

    @staticmethod
    def _args(params: Any, names: tuple[str, ...] | None) -> list[Any]:
        if names is not None:
            if isinstance(params, dict):
                return [params[n] for n in names]
            return list(params)
        if isinstance(params, dict):
            raise TypeError("named parameters given for a statement with ? placeholders")
        return list(params or ())

    async def _run(self, sql: str, params: Any) -> PgCursor:
        translated, names = to_postgres(sql)
        if translated == "BEGIN":
            await self._raw_execute("BEGIN")
            self.in_transaction = True
            if not self.query_only:
                await self._raw_execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
            return PgCursor([], -1, None)
        if translated.upper() in ("COMMIT", "ROLLBACK", "END"):
            self.in_transaction = False
            await self._raw_execute(translated)
            return PgCursor([], -1, None)
        if translated.upper().startswith("PRAGMA"):
            return PgCursor([], -1, None)
        args = self._args(params, names)
        wants_id = False
        insert = _INSERT_TABLE.match(translated)
        if insert and insert.group(1).lower() in _IDENTITY_TABLES and not re.search(
            r"\bRETURNING\b", translated, re.IGNORECASE
        ):
            translated += " RETURNING id"
            wants_id = True
        async with self._lock:
            conn_cm = self._acquire()
            conn = await conn_cm.__aenter__()
            try:
                types = await self._types(conn, translated)
                args = [_coerce(v, t) for v, t in zip(args, types, strict=False)]
                if _RETURNS_ROWS.search(translated):
                    records = await conn.fetch(translated, *args)
                    rows = [_row(r) for r in records]
                    if _DML.match(translated):
                        self.total_changes += len(rows)
                    lastrowid = None
                    if wants_id:
                        lastrowid = rows[-1][0] if rows else None
                        count, rows = len(rows), []
                    else:
                        count = len(rows) if insert or "RETURNING" in translated.upper() else -1
                    return PgCursor(rows, count, lastrowid)
                status = await conn.execute(translated, *args)
                match = _STATUS_COUNT.search(status or "")
                count = int(match.group(1)) if match else -1
                if count > 0 and _DML.match(translated):
                    self.total_changes += count
                return PgCursor([], count, None)
            except asyncpg.IntegrityConstraintViolationError as error:
                raise sqlite3.IntegrityError(str(error)) from error
            finally:
                await conn_cm.__aexit__(None, None, None)

    def _acquire(self) -> Any:
        if isinstance(self._target, asyncpg.Pool):
            return self._target.acquire()
        return _Same(self._target)

    async def _raw_execute(self, sql: str) -> None:
        async with self._lock:
            cm = self._acquire()
            conn = await cm.__aenter__()
            try:
                await conn.execute(sql)
            finally:
                await cm.__aexit__(None, None, None)

    def execute(self, sql: str, params: Any = ()) -> _Pending:
        return _Pending(self._run(sql, params))

    async def execute_fetchall(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return await (await self._run(sql, params)).fetchall()

    async def executemany(self, sql: str, seq: Iterable[Any]) -> None:
        translated, names = to_postgres(sql)
        rows = [self._args(p, names) for p in seq]
        if not rows:
            return
        async with self._lock:
            cm = self._acquire()
            conn = await cm.__aenter__()
            try:
                types = await self._types(conn, translated)
                coerced = [[_coerce(v, t) for v, t in zip(r, types, strict=False)] for r in rows]
                if self.in_transaction:
                    # asyncpg reports no counts for a batch: the transaction's own statistics do.
                    before = await conn.fetchval(_XACT_CHANGES)
                    await conn.executemany(translated, coerced)
                    self.total_changes += int(await conn.fetchval(_XACT_CHANGES)) - int(before)
                else:
                    await conn.executemany(translated, coerced)
                    self.total_changes += len(coerced)
            except asyncpg.IntegrityConstraintViolationError as error:
                raise sqlite3.IntegrityError(str(error)) from error
            finally:
                await cm.__aexit__(None, None, None)

    async def executescript(self, sql: str) -> None:
        await self._raw_execute(sql)

    async def commit(self) -> None:
        if self.in_transaction:
            await self._run("COMMIT", ())

    async def rollback(self) -> None:
        if self.in_transaction:
            await self._run("ROLLBACK", ())

    async def close(self) -> None:
        await self._target.close()


class _Same:
    def __init__(self, conn: asyncpg.Connection):
        self._conn = conn

    async def __aenter__(self) -> asyncpg.Connection:
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgChangeListener:
    """LISTEN for the papers trigger's notice (migration 006): when any process commits new or
    changed papers, this process's search index catches up at once instead of at its next
    minute. Notices arriving during a catch-up fold into one more catch-up."""

    CHANNEL = "paperbot_paper_changes"

    def __init__(self, url: str, catch_up: Any):
        self.url = url
        self.catch_up = catch_up
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    async def start(self) -> PgChangeListener:
        self._conn = await asyncpg.connect(self.url)
        await self._conn.add_listener(self.CHANNEL, self._notified)
        return self

    def _notified(self, *_: Any) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.catch_up()
            except Exception:  # the minute timer will try again; never kill the listener
                import logging

                logging.getLogger(__name__).warning("search catch-up on notice failed", exc_info=True)
            if not self._again:
                return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
            self._conn = None


# ---------------------------------------------------------------------------- migrations


def postgres_migrations() -> list[Migration]:
    """The PostgreSQL twins of the numbered migrations (`migrations_postgres/NNN_name.sql`)."""
    root = resources.files("bot.store") / "migrations_postgres"
    found = []
    for entry in root.iterdir():
        match = re.match(r"^(\d{3})_([a-z0-9_]+)\.sql$", entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


async def migrate_postgres(conn: asyncpg.Connection, migrations: Sequence[Migration] | None = None) -> int:
    """Apply pending PostgreSQL migrations, each in one transaction. Several processes starting
    at once queue on an advisory lock: the first migrates, the others find it done."""
    migrations = postgres_migrations() if migrations is None else list(migrations)
    latest = migrations[-1].version if migrations else 0
    await conn.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
        if current > latest:
            raise MigrationError(
                f"the database is at schema version {current}, newer than this paperbot "
                f"knows ({latest}); upgrade paperbot or restore a backup"
            )
        applied = {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations:
            if migration.version in applied:  # gaps allowed: each applied once, whenever it arrives
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2,"
                        " to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00'))",
                        migration.version, migration.name,
                    )
            except asyncpg.PostgresError as error:
                raise MigrationError(
                    f"migration {migration.version:03d}_{migration.name} failed: {error}"
                ) from error
            current = max(current, migration.version)
        return current
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")


async def load_identity_tables(conn: asyncpg.Connection) -> None:
    """Tables whose `id` the server assigns: an INSERT into them reports it as `lastrowid`."""
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'"
    )
    _IDENTITY_TABLES.update(r[0] for r in rows)
