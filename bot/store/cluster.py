"""Named queries for several processes on one database: heartbeats, the poller lock, and the
gate that spaces requests to arXiv across every process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from bot.timeutil import from_db, to_db, utcnow

if TYPE_CHECKING:
    from bot.store.repository import Store

POLLER_LOCK_KEY = 0x706F6C6C  # 'poll': held by the one process that polls the feeds
POLITE_LOCK_KEY = 0x61727876  # 'arxv': held during each request to arXiv, and its gap after
SESSION_PREFIX = "paperbot "


def process_session_name() -> str:
    """PostgreSQL's application_name for this process's sessions (at most 63 bytes)."""
    return f"{SESSION_PREFIX}{socket.gethostname()}:{os.getpid()}"[:63]


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    id: str
    host: str
    pid: int
    shard_count: int | None
    shard_ids: list[int] | None
    polling: bool
    started_at: datetime
    last_heartbeat: datetime


class ClusterStoreMixin:
    """Heartbeats (a `processes` row per running process) and the poller lock."""

    _leader_conn: asyncpg.Connection | None = None
    _gate_releases: set[asyncio.Task[None]] | None = None

    async def record_heartbeat(
        self: Store, process_id: str, *, host: str, pid: int, shard_count: int | None,
        shard_ids: list[int] | None, polling: bool, started_at: datetime, now: datetime,
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO processes (id, host, pid, shard_count, shard_ids, polling, started_at,"
                " last_heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET polling = excluded.polling,"
                " last_heartbeat = excluded.last_heartbeat",
                (process_id, host, pid, shard_count,
                 json.dumps(shard_ids) if shard_ids is not None else None, int(polling),
                 to_db(started_at), to_db(now)),
            )

    async def forget_process(self: Store, process_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM processes WHERE id = ?", (process_id,))

    async def forget_processes_before(self: Store, before: datetime) -> int:
        async with self.transaction() as db:
            cursor = await db.execute("DELETE FROM processes WHERE last_heartbeat < ?", (to_db(before),))
        return max(cursor.rowcount, 0)

    async def list_processes(self: Store) -> list[ProcessInfo]:
        rows = await self._fetchall(
            "SELECT id, host, pid, shard_count, shard_ids, polling, started_at, last_heartbeat"
            " FROM processes ORDER BY started_at, id"
        )
        return [
            ProcessInfo(
                id=r[0], host=r[1], pid=int(r[2]), shard_count=r[3],
                shard_ids=json.loads(r[4]) if r[4] else None, polling=bool(r[5]),
                started_at=from_db(r[6]) or utcnow(), last_heartbeat=from_db(r[7]) or utcnow(),
            )
            for r in rows
        ]

    async def live_process_count(self: Store) -> int:
        """How many paperbot processes are connected to this database now (at least 1).

        PostgreSQL: the distinct session names in pg_stat_activity, so a process killed a second
        ago no longer counts (its heartbeat row would for a while). SQLite: one process."""
        if self.dialect != "postgres":
            return 1
        count = await self._fetchone(
            "SELECT COUNT(DISTINCT application_name) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE ?", (SESSION_PREFIX + "%",))
        return max(1, int(count[0]))

    async def try_poller_lock(self: Store) -> bool:
        """True while this process holds the poller lock; takes it when it is free.

        PostgreSQL: a session advisory lock on a connection of its own, so it is released when
        the process dies (kill -9, lost network) and another process takes it over. SQLite:
        always true (one process per database file)."""
        if self.dialect != "postgres":
            return True
        conn = self._leader_conn
        if conn is not None:
            try:
                await conn.fetchval("SELECT 1")  # the session, and so the lock, is still there
                return True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._leader_conn = None
                await self._drop_leader_conn(conn)
        assert self.url is not None
        conn = await asyncpg.connect(self.url)
        try:
            held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", POLLER_LOCK_KEY))
        except BaseException:
            await self._drop_leader_conn(conn)
            raise
        if not held:
            await self._drop_leader_conn(conn)
            return False
        self._leader_conn = conn
        return True

    async def release_poller_lock(self: Store) -> None:
        conn, self._leader_conn = self._leader_conn, None
        if conn is not None:
            await self._drop_leader_conn(conn)

    @staticmethod
    async def _drop_leader_conn(conn: asyncpg.Connection) -> None:
        try:
            await conn.close(timeout=5)
        except Exception:
            conn.terminate()

    @contextlib.asynccontextmanager
    async def polite_gate(self: Store, gap_seconds: float) -> AsyncIterator[None]:
        """One request to arXiv at a time across every process on this database, each starting
        at least `gap_seconds` after the previous one ended, whichever process made it.

        PostgreSQL: a session advisory lock on a connection of its own, taken before the
        request and released `gap_seconds` after it ends (by closing that connection, so a
        process that dies mid-request frees it too). Waiters queue on the lock in the database.
        SQLite: nothing to do (one process per database file; the process's own limiter paces)."""
        if self.dialect != "postgres":
            yield
            return
        assert self.url is not None
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", POLITE_LOCK_KEY)
        except BaseException:
            await self._drop_leader_conn(conn)
            raise
        try:
            yield
        finally:
            if self._gate_releases is None:
                self._gate_releases = set()
            task = asyncio.get_running_loop().create_task(self._release_gate_later(conn, gap_seconds))
            self._gate_releases.add(task)
            task.add_done_callback(self._gate_releases.discard)

    async def _release_gate_later(self: Store, conn: asyncpg.Connection, gap_seconds: float) -> None:
        try:
            await asyncio.sleep(gap_seconds)
        finally:
            await self._drop_leader_conn(conn)

    async def release_polite_gates(self: Store) -> None:
        """At close: let pending gaps run out (closing their connections), at most a few seconds."""
        pending = list(self._gate_releases or ())
        if pending:
            await asyncio.wait(pending, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

