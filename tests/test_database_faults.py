"""The database under faults, as a user meets them: every command a subprocess with a timeout.

A file that is not a database, a damaged one, a folder, a read-only file or folder, a locked
or full database, two first starts at once: each command exits promptly with one line that
names the file and what is wrong, and never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiosqlite
import pytest

from bot.config import Settings
from bot.fetch import Fetcher
from bot.ingest import Ingestor
from bot.store import Store, explain
from bot.store.errors import timed_lock_wait
from bot.store.migrate import bundled_migrations
from tests.feedserver import FeedServer
from tests.test_cli import CL, Result, paperbot_command, write_config

DB = "data/paperbot.db"
# Where `run` would find Discord: nothing listens there, and the store must fail first anyway.
NOWHERE = '[discord]\napi_base_url = "http://127.0.0.1:9/api/v10"\ngateway_url = "ws://127.0.0.1:9/"\n'


async def run(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
              within: float = 30) -> Result:
    """Like tests.test_cli.run, with a hard timeout: a hang fails the test instead of blocking it."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOT_CONFIG")}
    environment.update({"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        *paperbot_command(), *args, cwd=cwd, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"paperbot {' '.join(args)} still running after {within} s (hung)")
    return Result(process.returncode or 0, out.decode(), err.decode())


def one_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert "Traceback" not in result.err, result.err
    assert len(lines) == 1, result.err
    return lines[0]


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make a file or folder unwritable even for root (immutable), else by its mode; else skip."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make {path} immutable here: {made.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


async def filled_store(feed_server: FeedServer, tmp_path: Path, extra: str = "") -> Path:
    """A real store: the 141-paper cs.CL listing fetched by `paperbot fetch`. Returns the config."""
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url], extra=NOWHERE + extra)
    fetched = await run(["--config", str(config), "fetch"], tmp_path)
    assert fetched.code == 0, fetched.err
    return config


def papers_in(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]


COMMANDS = {
    "fetch": ["fetch"],
    "feeds": ["feeds"],
    "search": ["search", "attention"],
    "preview": ["preview"],
    "backup": ["backup", "copy.db"],
    "run": ["run"],
}


def _not_sqlite(db: Path) -> None:
    db.write_text("These are my notes, not a database.\n" * 40)


def _bad_header(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 50)
        connection.commit()
    with db.open("r+b") as handle:
        handle.write(b"SQLite formatXXX")  # the 16-byte magic string, damaged


def _folder(db: Path) -> None:
    db.mkdir()


CASES = {
    "not-sqlite": (_not_sqlite, "is not a paperbot database"),
    "bad-header": (_bad_header, "is not a paperbot database"),
    "folder": (_folder, "is a folder, not a database file"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", list(COMMANDS))
async def test_a_database_that_cannot_be_opened_is_one_line_and_a_prompt_exit(
        tmp_path: Path, case: str, command: str) -> None:
    config = write_config(tmp_path / "config.toml", ["http://127.0.0.1:9/feed"], extra=NOWHERE)
    db = tmp_path / DB
    db.parent.mkdir()
    prepare, expected = CASES[case]
    prepare(db)
    started = time.monotonic()
    result = await run(["--config", str(config), *COMMANDS[command]], tmp_path,
                       env={"DISCORD_TOKEN": "x" * 59})
    assert time.monotonic() - started < 20
    assert result.code == 1, result
    line = one_line(result)
    assert DB in line and expected in line, line


@pytest.mark.parametrize("command", ["fetch", "run", "search"])
async def test_an_unwritable_folder_is_named(tmp_path: Path, command: str) -> None:
    config = write_config(tmp_path / "config.toml", ["http://127.0.0.1:9/feed"], extra=NOWHERE)
    folder = tmp_path / "data"
    folder.mkdir()
    with unwritable(folder):
        result = await run(["--config", str(config), *COMMANDS[command]], tmp_path,
                           env={"DISCORD_TOKEN": "x" * 59})
    assert result.code == 1
    if command == "search":  # nothing to read: an empty store, said so
        assert "The store is empty" in result.err and "Traceback" not in result.err
    else:
        line = one_line(result)
        assert f"cannot create {DB}: the folder data is not writable" in line, line
    assert not (folder / "paperbot.db").exists()


async def test_reading_commands_never_write(feed_server: FeedServer, tmp_path: Path) -> None:
    config = await filled_store(feed_server, tmp_path)
    db = tmp_path / DB
    before = hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns
    for command in (["search", "language models", "--json"], ["feeds", "--json"], ["preview"]):
        result = await run(["--config", str(config), *command], tmp_path)
        assert result.code == 0, result.err
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before


async def test_a_read_only_database_is_read_and_not_written(feed_server: FeedServer, tmp_path: Path) -> None:
    config = await filled_store(feed_server, tmp_path)
    db = tmp_path / DB
    with unwritable(db):
        found = await run(["--config", str(config), "search", "language models", "--json"], tmp_path)
        assert found.code == 0, found.err
        assert '"title"' in found.out
        listed = await run(["--config", str(config), "feeds"], tmp_path)
        assert listed.code == 0, listed.err
        assert "/rss/cs.CL" in listed.out
        fetched = await run(["--config", str(config), "fetch", "--force"], tmp_path)
        assert fetched.code == 1
        line = one_line(fetched)
        assert f"cannot write to {DB}: the file or its folder is read-only" in line


def _damage_pages(db: Path) -> None:
    """Overwrite the b-tree header of every page but the first (the schema stays readable)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with db.open("r+b") as handle:
        for offset in range(page_size * 2, size, page_size):
            handle.seek(offset)
            handle.write(b"\x0d\xff\xff\xff\xff\xff\xff\xff")


async def test_a_damaged_database_is_said_so_with_the_way_out(
        feed_server: FeedServer, tmp_path: Path) -> None:
    config = await filled_store(feed_server, tmp_path)
    db = tmp_path / DB
    _damage_pages(db)
    for command in (["run"], ["fetch"]):
        result = await run(["--config", str(config), *command], tmp_path, env={"DISCORD_TOKEN": "x" * 59})
        assert result.code == 1, result
        line = one_line(result)
        assert f"{DB} is damaged (database disk image is malformed)" in line
        assert "paperbot restore" in line and "Backup and restore" in line
    searched = await run(["--config", str(config), "search", "language"], tmp_path)
    assert "Traceback" not in searched.err
    if searched.code != 0:
        assert "malformed" in one_line(searched)


async def test_a_locked_database_waits_then_names_the_other_writer(
        feed_server: FeedServer, tmp_path: Path) -> None:
    config = await filled_store(feed_server, tmp_path)
    text = config.read_text().replace('path = "data/paperbot.db"',
                                      'path = "data/paperbot.db"\nbusy_timeout_ms = 1500')
    config.write_text(text)
    holder = sqlite3.connect(tmp_path / DB, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
        started = time.monotonic()
        result = await run(["--config", str(config), "fetch", "--force"], tmp_path)
        waited = time.monotonic() - started
        assert result.code == 1
        line = one_line(result)
        assert f"{DB} is locked: another paperbot is writing to it (waited 1.5 s)" in line
        assert waited >= 1.5
        # Readers are not blocked by a writer (WAL).
        found = await run(["--config", str(config), "search", "language", "--json"], tmp_path)
        assert found.code == 0 and '"title"' in found.out
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_lock_sqlite_refuses_at_once_is_told_apart_from_a_full_wait(tmp_path: Path) -> None:
    """SQLite answers some lock conflicts without its busy wait; the line must not claim a
    full wait then, but name SQLite's code, so a flaky "locked" can be traced to its kind."""
    path = tmp_path / "paperbot.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (x INTEGER)")
    async with aiosqlite.connect(path, isolation_level=None, timeout=5) as db:
        await db.execute("BEGIN")
        await db.execute_fetchall("SELECT * FROM t")  # a read snapshot ...
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("INSERT INTO t VALUES (1)")  # ... that another writer makes stale
        with pytest.raises(sqlite3.OperationalError) as caught:
            await timed_lock_wait(db.execute("INSERT INTO t VALUES (2)"))
        await db.execute("ROLLBACK")
    line = str(explain(caught.value, path, busy_timeout_ms=5000))
    assert line.startswith(f"{path} is locked: another paperbot is writing to it "
                           "(SQLITE_BUSY_SNAPSHOT after 0.")
    assert "waited" not in line
    # The same error after a full wait says so (the busy timeout, as configured).
    caught.value.paperbot_waited_s = 5.0  # type: ignore[attr-defined]
    assert "(waited 5 s)" in str(explain(caught.value, path, busy_timeout_ms=5000))


def _big_feed(items: int) -> str:
    entries = "".join(
        f"<item><title>Bulk paper {i} on sparse attention</title>"
        f"<link>https://example.org/papers/{i}</link><guid>https://example.org/papers/{i}</guid>"
        f"<description>{'An abstract long enough to take room on disk. ' * 20}</description></item>"
        for i in range(items)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bulk</title>'
            f"<link>https://example.org/</link><description>bulk</description>{entries}</channel></rss>")


async def test_a_full_database_is_said_so_and_leaves_no_wal(
        feed_server: FeedServer, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """SQLite's own ceiling (max_page_count) gives the very error a full disk gives."""
    small = feed_server.serve("/rss/cs.CL", fixture=CL)
    bulk = feed_server.serve("/bulk.xml", _big_feed(3000))
    settings = make_settings([{"url": small}])
    db = Path(settings.database.path)
    store = await Store(db).open()
    session = Fetcher.make_session(settings)
    try:
        ingestor = Ingestor(store, Fetcher(session, settings), settings)
        await ingestor.sync_feeds()
        assert all(o.ok for o in await ingestor.poll_all())
        await store.sync_config_feeds(make_settings([{"url": small}, {"url": bulk}]).feeds)
        async with store.writer.execute("PRAGMA page_count") as cursor:
            pages = (await cursor.fetchone())[0]
        await store.writer.execute(f"PRAGMA max_page_count = {pages + 40}")
        with pytest.raises(sqlite3.OperationalError) as raised:
            await ingestor.poll_all(force=True)
    finally:
        await session.close()
        await store.close()
    problem = explain(raised.value, db)
    assert problem.kind == "full"
    assert str(problem) == (f"cannot write to {db}: the disk is full (database or disk is full); "
                            "free some space")
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with contextlib.closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert papers_in(db) == 141


@contextlib.contextmanager
def small_disk(folder: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes: a disk that really fills up (ENOSPC). Needs root; else skip."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


async def test_a_full_disk_is_one_line_and_its_wal_is_given_back(
        feed_server: FeedServer, tmp_path: Path) -> None:
    config = await filled_store(feed_server, tmp_path)
    built = tmp_path / DB
    size = built.stat().st_size
    with small_disk(tmp_path / "disk", size + 512 * 1024) as disk:
        db = disk / "paperbot.db"
        db.write_bytes(built.read_bytes())
        bulk = feed_server.serve("/bulk.xml", _big_feed(3000))
        text = config.read_text().replace(f'path = "{DB}"', f'path = "{db}"')
        config.write_text(text + f'\n[[feeds]]\nurl = "{bulk}"\n')
        result = await run(["--config", str(config), "fetch"], tmp_path)
        assert result.code == 1, result
        line = one_line(result)
        assert f"cannot write to {db}: the disk is full (database or disk is full)" in line
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        free = os.statvfs(disk)
        assert free.f_bavail * free.f_frsize > 256 * 1024  # the failed write's space is back
        with contextlib.closing(sqlite3.connect(db)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert papers_in(db) == 141


async def test_stores_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    """Two connections switching a new file to WAL at once: SQLite answers one SQLITE_BUSY
    without waiting. Here 4 opens race on each of 60 new files (in one process, so they start
    within a millisecond, which separate processes rarely do); every open must succeed."""
    for round_number in range(60):
        path = tmp_path / f"r{round_number}" / "paperbot.db"
        stores = [Store(path) for _ in range(4)]
        try:
            opened = await asyncio.gather(*(store.open() for store in stores), return_exceptions=True)
            failures = [str(result) for result in opened if isinstance(result, BaseException)]
            assert not failures, f"new file {round_number}: {failures}"
        finally:
            for store in stores:
                await store.close()
        with contextlib.closing(sqlite3.connect(path)) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_first_starts_racing_on_a_new_file_all_succeed(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    for attempt in range(3):
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        config = write_config(folder / "config.toml", [url])
        results = await asyncio.gather(*(
            run(["--config", str(config), "fetch", "--force"], folder) for _ in range(4)
        ))
        for result in results:
            assert result.code == 0, result.err
            assert "failed" not in result.err and "Traceback" not in result.err
        db = folder / DB
        with contextlib.closing(sqlite3.connect(db)) as connection:
            versions = [r[0] for r in connection.execute(
                "SELECT version FROM schema_migrations ORDER BY version")]
            assert versions == [m.version for m in bundled_migrations()]
        assert papers_in(db) == 141
