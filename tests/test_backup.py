"""Backups (SQLite's online backup, while another connection writes), restore, and upgrades
from every earlier schema version with data in every table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.search import parse_query
from bot.store import Store
from bot.store.migrate import bundled_migrations, migrate
from tests.feedserver import FeedServer
from tests.test_cli import CL, run, write_config

MIGRATIONS = bundled_migrations()
LATEST = MIGRATIONS[-1].version
DB = "data/paperbot.db"
T0 = "2024-01-08T09:00:00+00:00"

# Realistic rows for the tables each migration creates, written in that version's schema.
# A migration that adds tables may add its rows here; tables without any are filled
# generically (see _fill_generically), so every table carries data through every upgrade.
SEEDS: dict[int, list[str]] = {
    1: [
        "INSERT INTO feeds (id, url, kind, name, origin, enabled, etag, last_success_at,"
        " consecutive_failures, last_feed_date, created_at) VALUES (1, 'https://rss.arxiv.org/rss/cs.CL',"
        " 'arxiv-rss', 'cs.CL', 'config', 1, '\"abc\"', '2024-01-08T05:00:00+00:00', 0, '2024-01-08',"
        " '2024-01-01T00:00:00+00:00')",
        "INSERT INTO feeds (id, url, kind, origin, enabled, consecutive_failures, failing, last_error,"
        " created_at) VALUES (2, 'https://huggingface.co/api/daily_papers', 'hf-daily', 'config', 1, 4, 1,"
        " 'HTTP 503', '2024-01-01T00:00:00+00:00')",
        "INSERT INTO feed_batches (id, feed_id, fetched_at, outcome, feed_date, items, new_papers)"
        " VALUES (1, 1, '2024-01-08T05:00:00+00:00', 'new', '2024-01-08', 2, 2)",
        "INSERT INTO papers (id, key, arxiv_id, version, title, authors, abstract, categories,"
        " primary_category, core_source, announced, abs_url, pdf_url, code_url, hf_upvotes,"
        " first_seen, last_changed) VALUES (1, '2401.01234', '2401.01234', 2,"
        " 'Sparse attention for very long documents', '[\"Ada Lovelace\", \"Alan Turing\"]',"
        " 'We make attention sparse and keep accuracy.', '[\"cs.CL\", \"cs.LG\"]', 'cs.CL', 'arxiv-rss',"
        " '2024-01-08', 'https://arxiv.org/abs/2401.01234', 'https://arxiv.org/pdf/2401.01234',"
        " 'https://github.com/example/sparse', 42, '2024-01-08T05:00:00+00:00', '2024-01-08T05:00:00+00:00')",
        "INSERT INTO papers (id, key, arxiv_id, version, title, authors, abstract, categories,"
        " primary_category, core_source, announced, first_seen, last_changed) VALUES (2, '2401.05678',"
        " '2401.05678', 1, 'Tokenizers that read diacritics', '[\"Grace Hopper\"]',"
        " 'Unicode-aware tokenization for search.', '[\"cs.IR\", \"cs.CL\"]', 'cs.IR', 'arxiv-rss',"
        " '2024-01-08', '2024-01-08T05:00:00+00:00', '2024-01-08T05:00:00+00:00')",
        "INSERT INTO paper_categories (category, paper_id, is_primary) VALUES"
        " ('cs.CL', 1, 1), ('cs.LG', 1, 0), ('cs.IR', 2, 1), ('cs.CL', 2, 0)",
        "INSERT INTO papers_fts (rowid, title, authors, abstract) SELECT id, title, authors, abstract"
        " FROM papers",
        "INSERT INTO sightings (id, paper_id, feed_id, batch_id, position, announce_type, announced,"
        " version, seen_at) VALUES (1, 1, 1, 1, 0, 'new', '2024-01-08', 2, '2024-01-08T05:00:00+00:00'),"
        " (2, 2, 1, 1, 1, 'cross', '2024-01-08', 1, '2024-01-08T05:00:00+00:00')",
        "INSERT INTO paper_updates (id, paper_id, kind, old_value, new_value, at) VALUES"
        " (1, 1, 'version', '1', '2', '2024-01-08T05:00:00+00:00')",
    ],
    2: [
        "INSERT INTO digests (id, guild_id, channel_id, categories, post_time, timezone, max_papers,"
        " include_hf, filter_query, cursor, created_by, created_at, updated_at) VALUES (1, 1001, 2002,"
        " '[\"cs.CL\"]', '09:00', 'Europe/Paris', 8, 1, 'attention', 2, 3003,"
        " '2024-01-02T00:00:00+00:00', '2024-01-02T00:00:00+00:00')",
        "INSERT INTO digest_runs (id, digest_id, run_date, status, trigger, cursor_to, plan, created_at,"
        " finished_at) VALUES (1, 1, '2024-01-08', 'done', 'schedule', 2, '[]',"
        " '2024-01-08T08:00:00+00:00', '2024-01-08T08:00:05+00:00')",
        "INSERT INTO posted_messages (message_id, channel_id, guild_id, kind, paper_id, run_id, seq,"
        " reacted, posted_at) VALUES (900001, 2002, 1001, 'paper', 1, 1, 1, 1, '2024-01-08T08:00:03+00:00')",
    ],
    3: [
        "INSERT INTO bookmarks (user_id, paper_id, created_at, source, guild_id) VALUES"
        " (3003, 1, '2024-01-08T10:00:00+00:00', 'reaction', 1001)",
        "INSERT INTO topics (id, guild_id, name, query, created_by, created_at) VALUES"
        " (1, 1001, 'Attention', 'attention', 3003, '2024-01-03T00:00:00+00:00')",
        "INSERT INTO subscriptions (id, user_id, kind, value, topic_id, guild_id, created_at) VALUES"
        " (1, 3003, 'category', 'cs.CL', NULL, 1001, '2024-01-03T00:00:00+00:00'),"
        " (2, 3003, 'topic', 'Attention', 1, 1001, '2024-01-03T00:00:00+00:00')",
        "INSERT INTO dm_queue (user_id, paper_id, reason, update_id, subscription_id, queued_at) VALUES"
        " (3003, 2, 'match', 0, 1, '2024-01-08T05:00:01+00:00')",
        "INSERT INTO dm_sent (user_id, paper_id, reason, update_id, sent_on) VALUES"
        " (3003, 1, 'match', 0, '2024-01-07')",
        "INSERT INTO dm_users (user_id, last_dm_on) VALUES (3003, '2024-01-07')",
        "INSERT INTO reader_state (name, value) VALUES ('last_matched_paper', 2)",
    ],
}

# Columns a migration rewrites on purpose; every other value must come through unchanged.
REWRITTEN: set[tuple[str, str]] = set()
# Rows a migration adds on purpose (table, key column, key): 005 seeds the matching cursor.
SEEDED_BY_MIGRATIONS: set[tuple[str, str, str]] = {("reader_state", "name", "matched_papers")}


def _without_seeded(
    table: str, before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`after` less the rows a migration seeded that the old database did not have."""
    def seeded(row: dict[str, Any]) -> bool:
        return any(t == table and row.get(c) == k for t, c, k in SEEDED_BY_MIGRATIONS)
    return [row for row in after if not seeded(row) or row in before]


def _tables(db: sqlite3.Connection) -> list[str]:
    """Ordinary tables holding data (not FTS shadow tables, not the migrations' own)."""
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
        " AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name")]
    shadows = {r[0] for r in db.execute(
        "SELECT m.name FROM sqlite_master v JOIN sqlite_master m ON m.name LIKE v.name || '_%'"
        " WHERE v.sql LIKE 'CREATE VIRTUAL%'")}
    return [n for n in names if n not in shadows]


def _parents_first(db: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Tables ordered so that a referenced table comes before the tables that point at it."""
    parents = {t: {r[2] for r in db.execute(f"PRAGMA foreign_key_list({t})")} - {t} for t in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and parents[t] <= set(ordered)]
        assert ready, f"foreign keys form a cycle among {set(tables) - set(ordered)}"
        ordered.extend(ready)
    return ordered


def _fill_generically(db: sqlite3.Connection, table: str) -> None:
    """One plausible row for a table no seed covers: every column without a default gets a value
    of its declared type; a reference points at an existing row."""
    references = {r[3]: (r[2], r[4]) for r in db.execute(f"PRAGMA foreign_key_list({table})")}
    columns, values = [], []
    for _, name, declared, _notnull, default, pk in db.execute(f"PRAGMA table_info({table})"):
        if name in references:
            parent, key = references[name]
            row = db.execute(f"SELECT {key or 'rowid'} FROM {parent} LIMIT 1").fetchone()
            value: Any = row[0] if row else None
        elif default is not None or (pk and "INT" in declared.upper()):
            continue
        elif "INT" in declared.upper():
            value = 7
        elif "REAL" in declared.upper():
            value = 0.5
        elif name.endswith(("_at", "_on")):
            value = T0
        else:
            value = f"{table}.{name}"
        columns.append(name)
        values.append(value)
    db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(values))})",
               values)


async def _build_at(path: Path, version: int) -> dict[str, list[dict[str, Any]]]:
    """A database at schema `version` (the migrations up to it, as shipped), with data in every
    table. Returns every table's rows."""
    applied = [m for m in MIGRATIONS if m.version <= version]
    async with aiosqlite.connect(path, isolation_level=None) as adb:
        # Each migration's rows are written right after it, in the schema of that moment.
        for done, migration in enumerate(applied, 1):
            assert await migrate(adb, applied[:done]) == migration.version
            for statement in SEEDS.get(migration.version, []):
                await adb.execute(statement)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        for table in _parents_first(db, _tables(db)):
            if db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0:
                _fill_generically(db, table)
        return {table: _rows(db, table) for table in _tables(db)}


def _rows(db: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    cursor = db.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


@pytest.mark.parametrize("version", [m.version for m in MIGRATIONS[:-1]], ids=lambda v: f"from-{v:03d}")
async def test_every_earlier_schema_upgrades_with_its_data(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    before = await _build_at(path, version)
    assert all(before.values()), {t: len(r) for t, r in before.items()}

    async with Store(path) as store:
        assert store.schema_version == LATEST
        paper = await store.get_paper("2401.01234")
        assert paper is not None
        assert paper.title == "Sparse attention for very long documents"
        assert paper.authors == ["Ada Lovelace", "Alan Turing"]
        assert paper.code_url == "https://github.com/example/sparse"
        hits = await store.search(parse_query("sparse attention"))
        assert [h.paper.key for h in hits] == ["2401.01234"]
        feeds = {f.url: f for f in await store.list_feeds()}
        assert feeds["https://huggingface.co/api/daily_papers"].failing
        assert feeds["https://rss.arxiv.org/rss/cs.CL"].etag == '"abc"'
        if version >= 2:
            (digest,) = await store.list_digests(guild_id=1001)
            assert digest.channel_id == 2002 and digest.filter_query == "attention"
        if version >= 3:
            assert await store.count_bookmarks(3003) == 1
            assert [t.name for t in await store.list_topics(1001)] == ["Attention"]
            assert len(await store.list_subscriptions(3003)) == 2

    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        for table, rows in before.items():
            after = _without_seeded(table, rows, _rows(db, table))
            assert len(after) == len(rows), table
            for old, new in zip(rows, after, strict=True):
                for column, value in old.items():
                    if column in new and (table, column) not in REWRITTEN:
                        assert new[column] == value, (table, column)


# ---------------------------------------------------------------------- backup and restore


async def _store_with_papers(feed_server: FeedServer, tmp_path: Path) -> Path:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])
    result = await run(["--config", str(config), "fetch"], tmp_path)
    assert result.code == 0, result.err
    return config


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def _count(path: Path, sql: str = "SELECT COUNT(*) FROM papers") -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchone()[0]


async def test_backup_while_another_connection_writes(feed_server: FeedServer, tmp_path: Path) -> None:
    config = await _store_with_papers(feed_server, tmp_path)
    live = tmp_path / DB
    stop = threading.Event()
    written: list[int] = []

    def wait_for(count: int) -> None:
        while len(written) < count and thread.is_alive():
            time.sleep(0.01)

    def writer() -> None:
        """Another process's worth of writes: a paper and its category, one transaction each."""
        db = sqlite3.connect(live, isolation_level=None, timeout=10)
        number = 0
        while not stop.is_set():
            number += 1
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "INSERT INTO papers (key, title, core_source, first_seen, last_changed)"
                " VALUES (?, ?, 'rss', ?, ?)", (f"w-{number}", f"written {number}", T0, T0))
            db.execute("INSERT INTO paper_categories (category, paper_id, is_primary) VALUES"
                       " ('test.WRITE', ?, 1)", (cursor.lastrowid,))
            db.execute("COMMIT")
            written.append(number)
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = []
        for n in range(4):
            await asyncio.to_thread(wait_for, 20 * (n + 1))
            target = tmp_path / f"copy{n}.db"
            result = await run(["--config", str(config), "backup", str(target)], tmp_path)
            assert result.code == 0, result.err
            assert f"to {target}" in " ".join(result.out.split())
            copies.append(target)
    finally:
        stop.set()
        thread.join()
    assert len(written) >= 80
    previous = 0
    for copy in copies:
        with contextlib.closing(sqlite3.connect(copy)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
            papers = db.execute("SELECT COUNT(*) FROM papers WHERE key LIKE 'w-%'").fetchone()[0]
            categories = db.execute(
                "SELECT COUNT(*) FROM paper_categories WHERE category = 'test.WRITE'").fetchone()[0]
        assert papers == categories  # one snapshot: never half a transaction
        assert papers >= previous and papers > 0
        previous = papers
    assert not _partials(tmp_path)
    assert _count(copies[0], "SELECT COUNT(*) FROM papers WHERE key NOT LIKE 'w-%'") == 141


async def test_backup_refuses_to_overwrite_and_makes_dated_files_in_a_folder(
        feed_server: FeedServer, tmp_path: Path) -> None:
    config = await _store_with_papers(feed_server, tmp_path)
    target = tmp_path / "copy.db"
    target.write_text("precious")
    refused = await run(["--config", str(config), "backup", str(target)], tmp_path)
    assert refused.code == 1
    assert f"{target} already exists (use --force to replace it)" in " ".join(refused.err.split())
    assert target.read_text() == "precious"
    forced = await run(["--config", str(config), "backup", str(target), "--force"], tmp_path)
    assert forced.code == 0 and _count(target) == 141
    folder = tmp_path / "backups"
    folder.mkdir()
    dated = await run(["--config", str(config), "backup", str(folder)], tmp_path)
    assert dated.code == 0
    (made,) = folder.glob("paperbot-*.db")
    assert _count(made) == 141


async def test_restore_puts_a_backup_back_and_keeps_what_it_replaced(
        feed_server: FeedServer, tmp_path: Path) -> None:
    config = await _store_with_papers(feed_server, tmp_path)
    live = tmp_path / DB
    backup = tmp_path / "good.db"
    assert (await run(["--config", str(config), "backup", str(backup)], tmp_path)).code == 0
    # Then the live file is ruined.
    live.write_bytes(b"\0" * 4096)

    damaged = tmp_path / "bad.db"
    damaged.write_bytes(b"not a backup")
    bad = await run(["--config", str(config), "restore", str(damaged)], tmp_path)
    assert bad.code == 1 and "Traceback" not in bad.err
    assert f"{damaged} is not a paperbot database" in " ".join(bad.err.split())

    restored = await run(["--config", str(config), "restore", str(backup)], tmp_path)
    assert restored.code == 0, restored.err
    text = " ".join(restored.out.split())
    assert "Restored 141 papers" in text and "the previous database is kept as" in text
    (kept,) = (p for p in live.parent.glob("paperbot.db.replaced-*") if not p.name.endswith("-wal"))
    assert kept.read_bytes() == b"\0" * 4096
    found = await run(["--config", str(config), "search", "entity tracking narratives", "--json"],
                      tmp_path)
    assert found.code == 0
    assert json.loads(found.out)[0]["title"].startswith("Entity tracking emerges")


async def test_restore_refuses_while_the_database_is_in_use(feed_server: FeedServer, tmp_path: Path) -> None:
    config = await _store_with_papers(feed_server, tmp_path)
    live = tmp_path / DB
    backup = tmp_path / "good.db"
    assert (await run(["--config", str(config), "backup", str(backup)], tmp_path)).code == 0
    async with Store(live):  # a running paperbot, as far as the file can tell
        refused = await run(["--config", str(config), "restore", str(backup)], tmp_path)
    assert refused.code == 1
    assert "is in use by another process (a running paperbot?): stop it, then restore" in \
        " ".join(refused.err.split())
    assert not list(live.parent.glob("paperbot.db.replaced-*"))


async def test_an_older_backup_is_restored_then_brought_forward(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    await _build_at(old, 1)
    config = write_config(tmp_path / "config.toml", [])
    restored = await run(["--config", str(config), "restore", str(old)], tmp_path)
    assert restored.code == 0, restored.err
    assert "schema version 1" in restored.out
    found = await run(["--config", str(config), "search", "sparse attention", "--json"], tmp_path)
    assert found.code == 0, found.err
    assert [h["id"] for h in json.loads(found.out)] == ["2401.01234"]
    assert _count(tmp_path / DB, "SELECT MAX(version) FROM schema_migrations") == LATEST
