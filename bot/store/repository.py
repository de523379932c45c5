"""The repository: every SQL statement paperbot runs lives in this package.

Two connections to one SQLite file in WAL mode: a writer, serialized by a lock
so that transactions of concurrent coroutines never interleave, and a reader
for searches and listings, which WAL lets run while a batch is being written.
aiosqlite runs each connection in its own thread, so a slow query never
blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from bot.merge import MergeResult, StoredPaper, merge
from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
from bot.search.index import SearchIndex
from bot.search.query import SearchQuery
from bot.search.service import IndexRow, SearchHit, SearchService
from bot.store.cluster import ClusterStoreMixin, process_session_name
from bot.store.community import CommunityStoreMixin
from bot.store.dialect import is_postgres_url
from bot.store.digests import DigestStoreMixin
from bot.store.errors import StoreError, explain, is_busy, timed_lock_wait
from bot.store.meaning import MeaningStoreMixin
from bot.store.migrate import (
    MigrationError,
    applied_version,
    bundled_migrations,
    migrate,
    pending_migrations,
)
from bot.store.pg import PgChangeListener, PgConnection, load_identity_tables, migrate_postgres
from bot.store.readers import ReaderStoreMixin
from bot.store.rows import (
    CHUNK,
    SELECT_PAPER,
    WRITE_COLUMNS,
    category_clause,
    paper_from_row,
    paper_values,
)
from bot.timeutil import Clock, date_from_db, date_to_db, from_db, to_db, utcnow

log = logging.getLogger(__name__)

_WAL_SIZE_LIMIT = 64 * 1024 * 1024
_WAL_SWITCH_RETRY_S = 0.01  # between tries to switch a new file to WAL


@dataclass(slots=True)
class FeedState:
    """A feed's row: what was configured and how polling it has gone."""

    id: int
    url: str
    kind: FeedKind | None
    name: str | None
    origin: str
    enabled: bool
    etag: str | None
    last_modified: str | None
    fresh_until: datetime | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    failing: bool
    last_fingerprint: str | None
    last_feed_date: date | None
    created_at: datetime

    @property
    def label(self) -> str:
        return self.name or self.url


_FEED_COLUMNS = (
    "id", "url", "kind", "name", "origin", "enabled", "etag", "last_modified", "fresh_until",
    "next_attempt_at", "last_attempt_at", "last_success_at", "last_error", "last_error_at",
    "consecutive_failures", "failing", "last_fingerprint", "last_feed_date", "created_at",
)


def _feed_from_row(row: Sequence[Any]) -> FeedState:
    d = dict(zip(_FEED_COLUMNS, row, strict=True))
    return FeedState(
        id=d["id"],
        url=d["url"],
        kind=FeedKind(d["kind"]) if d["kind"] else None,
        name=d["name"],
        origin=d["origin"],
        enabled=bool(d["enabled"]),
        etag=d["etag"],
        last_modified=d["last_modified"],
        fresh_until=from_db(d["fresh_until"]),
        next_attempt_at=from_db(d["next_attempt_at"]),
        last_attempt_at=from_db(d["last_attempt_at"]),
        last_success_at=from_db(d["last_success_at"]),
        last_error=d["last_error"],
        last_error_at=from_db(d["last_error_at"]),
        consecutive_failures=d["consecutive_failures"],
        failing=bool(d["failing"]),
        last_fingerprint=d["last_fingerprint"],
        last_feed_date=date_from_db(d["last_feed_date"]),
        created_at=from_db(d["created_at"]) or utcnow(),
    )


@dataclass(slots=True)
class BatchResult:
    """What one ingested listing changed in the store."""

    batch_id: int
    items: int
    new_keys: list[str] = field(default_factory=list)  # newly announced papers we did not have
    updated_keys: list[str] = field(default_factory=list)  # new versions, DOIs, new text
    older_keys: list[str] = field(default_factory=list)  # first met in a replacement listing
    unchanged: int = 0
    skipped: int = 0  # items the parser could not turn into a paper (no usable id)
    new_paper_ids: list[int] = field(default_factory=list)


def _probe(target: str, uri: bool) -> None:
    sqlite3.connect(target, uri=uri).close()


class Store(
    DigestStoreMixin, ReaderStoreMixin, CommunityStoreMixin, MeaningStoreMixin, ClusterStoreMixin
):
    """paperbot's repository. Open once, share everywhere, close at shutdown."""

    def __init__(
        self, path: Path | str, *, busy_timeout_ms: int = 5000, clock: Clock = utcnow,
        index_dir: Path | str | None = None, search_catch_up: bool = True,
    ):
        # A postgresql:// URL selects the PostgreSQL backend; anything else is an SQLite file.
        self.url: str | None = str(path) if is_postgres_url(path) else None
        self.dialect = "postgres" if self.url else "sqlite"
        self.path = Path("data/postgresql") if self.url else Path(path)
        # The search index is derived from this database: one directory per process (beside the
        # SQLite file; data/postgresql.search/ for PostgreSQL unless configured).
        self.index_dir = Path(index_dir) if index_dir else default_index_dir(self.path)
        self._search: SearchService | None = None
        self._listener: PgChangeListener | None = None  # PostgreSQL: catch up at once on a change
        self._search_catch_up = search_catch_up
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock
        self._writer: Any = None  # aiosqlite.Connection, or PgConnection of the same shape
        self._reader: Any = None
        self._write_lock = asyncio.Lock()
        self.schema_version = 0

    # ------------------------------------------------------------------ lifecycle

    async def _connect(self, *, read_only: bool = False) -> aiosqlite.Connection:
        target = f"{self.path.resolve().as_uri()}?mode=ro" if read_only else str(self.path)
        # Try the file with plain sqlite3 first: when aiosqlite fails to connect, its worker
        # thread outlives the failure and dies noisily once the event loop is closed.
        await asyncio.to_thread(_probe, target, read_only)
        pending = aiosqlite.connect(target, isolation_level=None, uri=read_only)
        try:
            db = await pending
        except BaseException:
            thread = getattr(pending, "_thread", None)
            if thread is not None:
                await asyncio.to_thread(thread.join, 5)
            raise
        # Any failure from here on must close the connection: its thread would keep the process alive.
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await db.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                await db.execute("PRAGMA synchronous = NORMAL")
                # After a checkpoint, give back the space a huge (or failed) transaction took.
                await db.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        except BaseException:
            await db.close()
            raise
        return db

    async def _open_postgres(self) -> None:
        assert self.url is not None
        # Each process's sessions carry its name, so the server itself tells which processes
        # are alive (a killed one's sessions end with it): see `live_process_count`.
        settings = {"application_name": process_session_name()}
        conn = await asyncpg.connect(self.url, server_settings=settings)
        try:
            self.schema_version = await migrate_postgres(conn)
            await load_identity_tables(conn)
        except BaseException:
            await conn.close()
            raise
        self._writer = PgConnection(conn)
        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4, server_settings=settings)
        self._reader = PgConnection(pool, query_only=True)

    async def open(self, *, read_only: bool = False, check_integrity: bool = False) -> Store:
        """Open (creating and migrating unless `read_only`); any problem is a one-line `StoreError`.

        `read_only` opens the SQLite file without writing to it at all (searches, listings): it
        works on a read-only file and never migrates; a file that needs migrating is refused
        (kind "outdated"), since only a writing command may change it. `check_integrity` runs
        SQLite's quick_check first. Both are SQLite's: PostgreSQL ignores them.
        """
        if self._writer is not None:
            return self
        if self.url is not None:
            try:
                await self._open_postgres()
                self._search = await SearchService(self, SearchIndex(self.index_dir)).open(
                    catch_up=self._search_catch_up)
                if self._search_catch_up:
                    self._listener = await PgChangeListener(self.url or "", self._search.catch_up).start()
            except BaseException:
                await self.close()
                raise
            return self
        try:
            if read_only:
                await self._open_read_only()
            else:
                await self._open_read_write()
            if check_integrity:
                await self._quick_check()
            self._search = await SearchService(self, SearchIndex(self.index_dir)).open(
                catch_up=self._search_catch_up)
        except BaseException as error:
            await self.close()
            if isinstance(error, (sqlite3.Error, OSError)):
                raise explain(error, self.path, busy_timeout_ms=self._busy_timeout_ms) from error
            raise
        return self

    async def _open_read_write(self) -> None:
        if str(self.path) != ":memory:":
            if self.path.is_dir():
                raise explain(sqlite3.OperationalError("unable to open database file"), self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await timed_lock_wait(self._enter_wal())
        self.schema_version = await migrate(self._writer)
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only = ON")

    async def _enter_wal(self) -> None:
        """Switch the file to WAL. Two connections switching a new file at once get SQLITE_BUSY
        at once, without SQLite's busy wait (several paperbots starting together on a new file):
        retry within the busy timeout, as the wait would have."""
        started = time.monotonic()
        while True:
            try:
                cursor = await self._writer.execute("PRAGMA journal_mode = WAL")
                await cursor.fetchone()
                await cursor.close()
                return
            except sqlite3.OperationalError as error:
                if not is_busy(error) or time.monotonic() - started >= self._busy_timeout_ms / 1000:
                    raise
            await asyncio.sleep(_WAL_SWITCH_RETRY_S)

    async def _open_read_only(self) -> None:
        if not self.path.exists():
            raise StoreError(f"{self.path} does not exist yet: the store is empty "
                             "(run `paperbot fetch` first)", path=self.path, kind="missing")
        if self.path.is_dir():
            raise explain(sqlite3.OperationalError("unable to open database file"), self.path)
        db = await self._connect(read_only=True)
        # One connection serves both roles: anything that tries to write fails, loudly.
        self._writer = self._reader = db
        self.schema_version = await applied_version(db)
        migrations = bundled_migrations()
        latest = migrations[-1].version if migrations else 0
        if self.schema_version > latest:
            raise MigrationError(
                f"the database is at schema version {self.schema_version}, newer than this "
                f"paperbot knows ({latest}); upgrade paperbot or restore a backup"
            )
        if await pending_migrations(db, migrations):
            raise StoreError(
                f"{self.path} is at schema version {self.schema_version} and needs upgrading: "
                "run a command that writes (`paperbot fetch`) or start the bot once",
                path=self.path, kind="outdated",
            )

    async def _quick_check(self) -> None:
        """A damaged file is said so at start, not halfway through a digest."""
        async with self.reader.execute("PRAGMA quick_check(1)") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] != "ok":
            raise explain(sqlite3.DatabaseError(
                f"database disk image is malformed: {row[0] if row else 'no answer'}"), self.path)

    async def close(self) -> None:
        await self.release_poller_lock()
        await self.release_polite_gates()
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        search, self._search = self._search, None
        if search is not None:
            await search.close()
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if reader is not None and reader is not writer:
            with contextlib.suppress(sqlite3.Error):
                await reader.close()
        if writer is not None:
            if reader is not writer and self.dialect == "sqlite":
                # Leave no big WAL behind (after a failed huge write, say, on a full disk).
                with contextlib.suppress(sqlite3.Error):
                    await writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with contextlib.suppress(sqlite3.Error):
                await writer.close()

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def writer(self) -> Any:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        return self._writer

    @property
    def search_service(self) -> SearchService:
        if self._search is None:
            raise RuntimeError("the store is not open")
        return self._search

    @property
    def reader(self) -> Any:
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """One write transaction at a time; rolled back on any error."""
        async with self._write_lock:
            db = self.writer
            await timed_lock_wait(db.execute("BEGIN IMMEDIATE"))
            try:
                yield db
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk): keep the
                # original error, not "cannot rollback - no transaction is active".
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")

    async def _fetchall(self, sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list:
        db = self.writer if write else self.reader
        # One trip to the connection's thread, not three (execute, fetch, close): a search's
        # page of rows is on the /search path.
        return list(await db.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    # ------------------------------------------------------------------ feeds

    async def upsert_feed(
        self, url: str, *, kind: FeedKind | None, name: str | None, origin: str = "config",
        enabled: bool = True,
    ) -> FeedState:
        now = to_db(self._clock())
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO feeds (url, kind, name, origin, enabled, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET"
                "  kind = COALESCE(excluded.kind, feeds.kind), name = excluded.name,"
                "  enabled = excluded.enabled,"
                "  origin = CASE WHEN excluded.origin = 'config' THEN 'config' ELSE feeds.origin END",
                (url, str(kind) if kind else None, name, origin, int(enabled), now),
            )
        feed = await self.feed_by_url(url)
        assert feed is not None
        return feed

    async def sync_config_feeds(self, feeds: Iterable[Any]) -> list[FeedState]:
        """Make the configured feeds the enabled config feeds; others added from config are disabled."""
        urls = []
        for feed in feeds:
            await self.upsert_feed(feed.url, kind=feed.kind, name=feed.name, enabled=feed.enabled)
            urls.append(feed.url)
        async with self.transaction() as db:
            placeholders = ",".join("?" * len(urls)) or "NULL"
            await db.execute(
                f"UPDATE feeds SET enabled = 0 WHERE origin = 'config' AND url NOT IN ({placeholders})",
                urls,
            )
        return await self.list_feeds()

    async def list_feeds(self, *, enabled_only: bool = False) -> list[FeedState]:
        where = " WHERE enabled = 1" if enabled_only else ""
        rows = await self._fetchall(
            f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds{where} ORDER BY id", write=True
        )
        return [_feed_from_row(r) for r in rows]

    async def feed_by_url(self, url: str) -> FeedState | None:
        rows = await self._fetchall(
            f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds WHERE url = ?", (url,), write=True
        )
        return _feed_from_row(rows[0]) if rows else None

    async def feed_by_id(self, feed_id: int) -> FeedState | None:
        rows = await self._fetchall(
            f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds WHERE id = ?", (feed_id,), write=True
        )
        return _feed_from_row(rows[0]) if rows else None

    async def record_feed_not_modified(
        self, feed_id: int, *, at: datetime, fresh_until: datetime | None,
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE feeds SET last_attempt_at = ?, last_success_at = ?, fresh_until = ?,"
                " next_attempt_at = NULL, consecutive_failures = 0, failing = 0 WHERE id = ?",
                (to_db(at), to_db(at), to_db(fresh_until), feed_id),
            )
            await db.execute(
                "INSERT INTO feed_batches (feed_id, fetched_at, outcome) VALUES (?, ?, 'not-modified')",
                (feed_id, to_db(at)),
            )

    async def record_feed_failure(
        self, feed_id: int, *, at: datetime, error: str, next_attempt_at: datetime,
        failing_after: int,
    ) -> FeedState:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE feeds SET last_attempt_at = ?, last_error = ?, last_error_at = ?,"
                " consecutive_failures = consecutive_failures + 1, next_attempt_at = ?,"
                " failing = CASE WHEN consecutive_failures + 1 >= ? THEN 1 ELSE 0 END WHERE id = ?",
                (to_db(at), error, to_db(at), to_db(next_attempt_at), failing_after, feed_id),
            )
            await db.execute(
                "INSERT INTO feed_batches (feed_id, fetched_at, outcome, error)"
                " VALUES (?, ?, 'failed', ?)",
                (feed_id, to_db(at), error),
            )
        feed = await self.feed_by_id(feed_id)
        assert feed is not None
        return feed

    async def record_feed_batch(
        self,
        feed_id: int,
        *,
        at: datetime,
        outcome: str,
        parsed: ParsedFeed,
        fingerprint: str,
        etag: str | None,
        last_modified: str | None,
        fresh_until: datetime | None,
        kind: FeedKind,
    ) -> BatchResult:
        """Store a successfully fetched listing: its papers (unless stale) and the feed's state.

        `outcome` is `new`, `empty` or `stale`; a stale batch stores no sightings,
        because its papers were already announced by the identical batch before it.
        """
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO feed_batches"
                " (feed_id, fetched_at, outcome, feed_date, items, fingerprint, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (feed_id, to_db(at), outcome, date_to_db(parsed.feed_date), len(parsed.papers),
                 fingerprint, "; ".join(parsed.notes) or None),
            )
            batch_id = cursor.lastrowid
            assert batch_id is not None
            result = BatchResult(batch_id=batch_id, items=len(parsed.papers),
                                 skipped=parsed.skipped_items)
            if outcome == "new" and parsed.papers:
                await self._store_papers(db, feed_id, batch_id, parsed, at, result)
                await db.execute(
                    "UPDATE feed_batches SET new_papers = ?, updated_papers = ? WHERE id = ?",
                    (len(result.new_keys), len(result.updated_keys), batch_id),
                )
            await db.execute(
                "UPDATE feeds SET kind = ?, etag = ?, last_modified = ?, fresh_until = ?,"
                " next_attempt_at = NULL, last_attempt_at = ?, last_success_at = ?,"
                " consecutive_failures = 0, failing = 0, last_fingerprint = ?,"
                " last_feed_date = COALESCE(?, last_feed_date) WHERE id = ?",
                (str(kind), etag, last_modified, to_db(fresh_until), to_db(at), to_db(at),
                 fingerprint, date_to_db(parsed.feed_date), feed_id),
            )
        if outcome == "new" and parsed.papers:
            await self.search_service.catch_up()  # the index follows in the same step
        return result

    async def record_api_results(self, api_url: str, parsed: ParsedFeed, *, at: datetime) -> BatchResult:
        """Store arXiv API results (backfill, /paper look-ups) under the API's own feed row,
        which the poller never polls: the papers get sightings like any listing's."""
        feed = await self.upsert_feed(
            api_url, kind=FeedKind.ARXIV_API, name="arXiv API (backfill and look-ups)",
            origin="backfill", enabled=False,
        )
        return await self.record_feed_batch(
            feed.id, at=at, outcome="new", parsed=parsed, fingerprint=parsed.fingerprint(),
            etag=None, last_modified=None, fresh_until=None, kind=FeedKind.ARXIV_API,
        )

    # ------------------------------------------------------------------ papers: writes

    async def _rows_by_key(self, db: aiosqlite.Connection, keys: Sequence[str]) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            sql = f"{SELECT_PAPER} WHERE p.key IN ({','.join('?' * len(chunk))})"
            async with db.execute(sql, chunk) as cursor:
                rows.extend(await cursor.fetchall())
        return rows

    async def _store_papers(
        self,
        db: aiosqlite.Connection,
        feed_id: int,
        batch_id: int,
        parsed: ParsedFeed,
        at: datetime,
        result: BatchResult,
    ) -> None:
        keys = list(dict.fromkeys(r.key for r in parsed.papers))
        rows = await self._rows_by_key(db, keys)
        # Merging a day's listing is a few tens of ms of Python: keep it off the event loop.
        plan = await asyncio.to_thread(_plan_batch, parsed.papers, rows, at)

        if plan.new:
            cols = [c for c in WRITE_COLUMNS if c != "id"] + ["first_seen", "primary_category"]
            await db.executemany(
                f"INSERT INTO papers ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})",
                plan.new_rows,
            )
            new_keys = [m.paper.key for m in plan.new]
            ids: dict[str, int] = {}
            for start in range(0, len(new_keys), CHUNK):
                chunk = new_keys[start:start + CHUNK]
                marks = ",".join("?" * len(chunk))
                async with db.execute(f"SELECT key, id FROM papers WHERE key IN ({marks})", chunk) as cur:
                    ids.update(dict(await cur.fetchall()))
            for m in plan.new:
                m.paper.id = ids[m.paper.key]
            await db.executemany(
                "INSERT OR IGNORE INTO paper_categories (category, paper_id, is_primary)"
                " VALUES (?, ?, ?)",
                [(c, m.paper.id, int(i == 0)) for m in plan.new for i, c in enumerate(m.paper.categories)],
            )

        if plan.changed:
            assignments = ", ".join(f"{c} = :{c}" for c in WRITE_COLUMNS if c != "key")
            await db.executemany(
                f"UPDATE papers SET {assignments}, primary_category = :primary_category WHERE id = :id",
                plan.changed_rows,
            )
            await db.executemany(
                "DELETE FROM paper_categories WHERE paper_id = ?",
                [(paper_id,) for paper_id, _ in plan.recategorized],
            )
            await db.executemany(
                "INSERT OR IGNORE INTO paper_categories (category, paper_id, is_primary)"
                " VALUES (?, ?, ?)",
                [(c, paper_id, int(i == 0))
                 for paper_id, categories in plan.recategorized for i, c in enumerate(categories)],
            )
            await db.executemany(
                "INSERT INTO paper_updates (paper_id, kind, old_value, new_value, at)"
                " VALUES (?, ?, ?, ?, ?)",
                plan.update_rows,
            )

        fallback_day = parsed.feed_date or at.date()
        seen_at = to_db(at)
        await db.executemany(
            "INSERT OR IGNORE INTO sightings"
            " (paper_id, feed_id, batch_id, position, announce_type, announced, version, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    plan.merges[record.key].paper.id, feed_id, batch_id, position,
                    str(record.announce_type) if record.announce_type else None,
                    date_to_db(record.announced or record.hf_date or fallback_day),
                    record.version, seen_at,
                )
                for position, record in enumerate(parsed.papers)
            ],
        )

        for key in keys:
            m = plan.merges[key]
            record = plan.records[key]
            is_replacement = record.announce_type is not None and record.announce_type.is_update
            if m.is_new and is_replacement:
                result.older_keys.append(key)  # an earlier paper's new version: stored, not news
            elif m.is_new or key in plan.first_announced:
                result.new_keys.append(key)
                result.new_paper_ids.append(m.paper.id or 0)
            elif m.changes or m.reindex:
                result.updated_keys.append(key)
            else:
                result.unchanged += 1

    # ------------------------------------------------------------------ papers: reads

    async def get_paper(self, key: str) -> StoredPaper | None:
        row = await self._fetchone(f"{SELECT_PAPER} WHERE p.key = ?", (key,))
        return paper_from_row(row) if row else None

    async def get_papers(self, keys: Sequence[str]) -> dict[str, StoredPaper]:
        found: dict[str, StoredPaper] = {}
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start:start + CHUNK])
            rows = await self._fetchall(
                f"{SELECT_PAPER} WHERE p.key IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update({p.key: p for p in map(paper_from_row, rows)})
        return found

    async def papers_by_ids(self, ids: Sequence[int]) -> list[StoredPaper]:
        """Papers by row id, in the order given (missing ids skipped)."""
        found: dict[int, StoredPaper] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start:start + CHUNK])
            rows = await self._fetchall(
                f"{SELECT_PAPER} WHERE p.id IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update({p.id or 0: p for p in map(paper_from_row, rows)})
        return [found[i] for i in ids if i in found]

    async def paper_updates(self, key: str) -> list[tuple[str, str | None, str | None]]:
        rows = await self._fetchall(
            "SELECT u.kind, u.old_value, u.new_value FROM paper_updates u"
            " JOIN papers p ON p.id = u.paper_id WHERE p.key = ? ORDER BY u.id",
            (key,),
        )
        return [tuple(r) for r in rows]

    async def count_papers(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM papers")
        return int(row[0])

    async def count_papers_seen_since(self, since: datetime) -> int:
        row = await self._fetchone(
            "SELECT COUNT(*) FROM papers WHERE first_seen >= ?", (to_db(since),)
        )
        return int(row[0])

    async def database_size_bytes(self) -> int:
        if self.dialect == "postgres":
            row = await self._fetchone("SELECT pg_database_size(current_database())")
            return int(row[0])
        row = await self._fetchone(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        )
        return int(row[0])

    async def latest_listing(
        self, categories: Sequence[str] = ()
    ) -> tuple[date | None, list[tuple[StoredPaper, AnnounceType | None]]]:
        """The most recent announcement day's arXiv papers in these categories, in listing order.

        Each paper appears once (its first sighting that day); new before cross.
        """
        cat_clause, cat_params = category_clause(categories)
        types = ("new", "cross")  # announcements; replacements are updates, not news
        type_marks = ",".join("?" * len(types))
        # Walks the (announced, announce_type) index from the newest day; stops at the first match.
        row = await self._fetchone(
            "SELECT s.announced FROM sightings s JOIN papers p ON p.id = s.paper_id"
            f" WHERE s.announce_type IN ({type_marks}){cat_clause}"
            " ORDER BY s.announced DESC LIMIT 1",
            (*types, *cat_params),
        )
        day = date_from_db(row[0]) if row and row[0] else None
        if day is None:
            return None, []
        # Each paper's first sighting that day (written without SQLite's bare-column MIN so
        # that PostgreSQL runs the same statement).
        rows = await self._fetchall(
            f"{SELECT_PAPER.replace('SELECT ', 'SELECT s.announce_type, s.id AS first, ', 1)}"
            " JOIN sightings s ON s.paper_id = p.id"
            " WHERE s.id IN (SELECT MIN(s.id) FROM sightings s JOIN papers p ON p.id = s.paper_id"
            f"  WHERE s.announced = ? AND s.announce_type IN ({type_marks}){cat_clause}"
            "  GROUP BY s.paper_id)"
            " ORDER BY CASE s.announce_type WHEN 'new' THEN 0 WHEN 'cross' THEN 1"
            "  WHEN 'replace' THEN 2 ELSE 3 END, first",
            (date_to_db(day), *types, *cat_params),
        )
        return day, [(paper_from_row(r[2:]), AnnounceType(r[0]) if r[0] else None) for r in rows]

    async def latest_hf_day(self, *, limit: int = 50) -> tuple[date | None, list[StoredPaper]]:
        """The most recent Hugging Face Daily Papers day, most upvoted first."""
        row = await self._fetchone("SELECT MAX(hf_date) FROM papers WHERE hf_date IS NOT NULL")
        day = date_from_db(row[0]) if row and row[0] else None
        if day is None:
            return None, []
        rows = await self._fetchall(
            f"{SELECT_PAPER} WHERE p.hf_date = ? ORDER BY p.hf_upvotes DESC, p.id LIMIT ?",
            (date_to_db(day), limit),
        )
        return day, [paper_from_row(r) for r in rows]

    async def search(self, query: SearchQuery, *, limit: int = 10) -> list[SearchHit]:
        """Best matches first (see bot.search.service): the derived index ranks, the store
        supplies the rows."""
        return await self.search_service.search(query, limit=limit)

    # ------------------------------------------------------------------ the search index's feed

    async def paper_changes_after(self, seq: int, limit: int) -> list[tuple[int, int]]:
        """(seq, paper id) of the changes after a watermark, oldest first (migration 006)."""
        rows = await self._fetchall(
            "SELECT seq, paper_id FROM paper_changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [(r[0], r[1]) for r in rows]

    async def last_paper_change(self) -> int:
        row = await self._fetchone("SELECT COALESCE(MAX(seq), 0) FROM paper_changes")
        return int(row[0])

    async def index_rows(self, ids: Sequence[int]) -> list[IndexRow]:
        """What the search index holds of these papers (ids no longer stored are left out)."""
        rows: list[IndexRow] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start:start + CHUNK])
            rows += await self._fetchall(
                f"{_INDEX_ROW} WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )
        return rows

    async def index_rows_after(self, after_id: int, limit: int) -> list[IndexRow]:
        """The next papers by id, for a rebuild."""
        return await self._fetchall(f"{_INDEX_ROW} WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))


_INDEX_ROW = (
    "SELECT id, title, authors, abstract, categories, announced, code_url IS NOT NULL FROM papers"
)


def default_index_dir(database: Path) -> Path:
    """`data/paperbot.db` -> `data/paperbot.search/`."""
    return database.with_name(database.stem + ".search")


@dataclass(slots=True)
class _BatchPlan:
    """Everything a batch will write, computed away from the event loop."""

    records: dict[str, PaperRecord]
    merges: dict[str, MergeResult]
    new: list[MergeResult]
    new_rows: list[dict[str, Any]]
    changed: list[MergeResult]
    changed_rows: list[dict[str, Any]]
    recategorized: list[tuple[int, list[str]]]
    update_rows: list[tuple[Any, ...]]
    # Stored papers this listing announces in a category for the first time (a paper first
    # seen on Hugging Face, or cross-listed later): news for digests and subscriptions.
    first_announced: set[str] = field(default_factory=set)


def _plan_batch(papers: Sequence[PaperRecord], rows: Sequence[Any], at: datetime) -> _BatchPlan:
    """Merge a listing into what is stored. Pure; runs in a worker thread."""
    # One record per key: a listing may repeat a paper; keep its newest version.
    records: dict[str, PaperRecord] = {}
    for record in papers:
        kept = records.get(record.key)
        if kept is None or (record.version or 0) > (kept.version or 0):
            records[record.key] = record
    existing: dict[str, StoredPaper] = {}
    for row in rows:
        paper = paper_from_row(row)
        existing[paper.key] = paper
    merges = {key: merge(existing.get(key), record) for key, record in records.items()}
    new = [m for m in merges.values() if m.is_new]
    changed = [m for m in merges.values() if not m.is_new and m.changed]
    changed_rows = []
    for m in changed:
        values = paper_values(m.paper, at)
        values["id"] = m.paper.id
        changed_rows.append(values)
    stamp = to_db(at)
    first_announced = set()
    for key, m in merges.items():
        record = records[key]
        if m.is_new or record.announce_type not in (AnnounceType.NEW, AnnounceType.CROSS):
            continue
        before = existing[key]
        if before.arxiv_announced is None or set(m.paper.categories) - set(before.categories):
            first_announced.add(key)
    return _BatchPlan(
        records=records,
        merges=merges,
        new=new,
        new_rows=[paper_values(m.paper, at) for m in new],
        changed=changed,
        changed_rows=changed_rows,
        recategorized=[
            (m.paper.id or 0, list(m.paper.categories))
            for m in changed if m.paper.categories != existing[m.paper.key].categories
        ],
        update_rows=[(m.paper.id, c.kind, c.old, c.new, stamp) for m in changed for c in m.changes],
        first_announced=first_announced,
    )
