"""The PostgreSQL backend: the dialect layer, configuration, migrations, and several stores
(processes) on one database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import parse_settings
from bot.models import FeedKind, PaperRecord, ParsedFeed
from bot.search.query import parse_query
from bot.store import Store
from bot.store.dialect import mask_url, to_postgres
from bot.store.migrate import bundled_migrations
from bot.store.pg import postgres_migrations
from tests.pgserver import PgServer


def test_placeholders_and_sqlite_words_are_translated() -> None:
    sql, names = to_postgres("SELECT a FROM t WHERE b = ? AND c LIKE ? AND d = 'x?y' AND e = IFNULL(?, 0)")
    assert sql == "SELECT a FROM t WHERE b = $1 AND c ILIKE $2 AND d = 'x?y' AND e = COALESCE($3, 0)"
    assert names is None
    sql, names = to_postgres("INSERT INTO t (a, b) VALUES (:a, :b) -- a :comment?")
    assert sql.startswith("INSERT INTO t (a, b) VALUES ($1, $2)")
    assert names == ("a", "b")
    sql, _ = to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)")
    assert sql == "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
    sql, _ = to_postgres("UPDATE d SET c = MAX(COALESCE(c, 0), COALESCE(?, 0)), m = (SELECT MAX(x) FROM y)")
    assert sql == "UPDATE d SET c = GREATEST(COALESCE(c, 0), COALESCE($1, 0)), m = (SELECT MAX(x) FROM y)"
    assert to_postgres("BEGIN IMMEDIATE")[0] == "BEGIN"
    assert to_postgres("SELECT x::text FROM t")[0] == "SELECT x::text FROM t"


def test_every_sqlite_migration_has_a_postgresql_twin() -> None:
    sqlite = [(m.version, m.name) for m in bundled_migrations()]
    postgres = [(m.version, m.name) for m in postgres_migrations()]
    assert postgres == sqlite


def test_a_database_url_selects_postgresql_and_its_password_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = parse_settings({"database": {"url": "postgresql://bot:s3cret@db:5432/paperbot"}})
    assert settings.database.location == "postgresql://bot:s3cret@db:5432/paperbot"
    assert "s3cret" not in settings.database.display
    assert mask_url("postgresql://bot:s3cret@db/x") == "postgresql://bot:***@db/x"
    assert parse_settings({}).database.location == Path("data/paperbot.db")

    config = tmp_path / "config.toml"
    config.write_text('[database]\npath = "x.db"\n', encoding="utf-8")
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", "postgresql://bot:hunter2@db:5432/paperbot")
    assert main(["--config", str(config), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "postgresql://bot:***@db:5432/paperbot" in out

    with pytest.raises(Exception, match="postgresql://"):
        parse_settings({"database": {"url": "mysql://x@y/z"}})


async def test_migrations_bring_an_empty_database_to_the_latest_version(
    pg_server: PgServer, tmp_path: Path
) -> None:
    url = await pg_server.empty_database()
    # Two processes starting at once: one migrates, the other waits and finds it done.
    first, second = Store(url, index_dir=tmp_path / "i1"), Store(url, index_dir=tmp_path / "i2")
    await asyncio.gather(first.open(), second.open())
    try:
        versions = [m.version for m in bundled_migrations()]
        assert first.schema_version == second.schema_version == versions[-1]
        rows = await first._fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == versions
    finally:
        await first.close()
        await second.close()


async def test_two_stores_on_one_database_see_each_others_writes(pg_url: str, tmp_path: Path) -> None:
    """What one process writes, another reads at once; concurrent writers are serialized (one
    bookmark, not two); Discord ids are 64-bit."""
    user = 987654321098765432
    at = datetime(2026, 5, 1, tzinfo=UTC)
    async with (Store(pg_url, index_dir=tmp_path / "i1") as one,
                Store(pg_url, index_dir=tmp_path / "i2") as two):
        feed = await one.upsert_feed("https://x.example/rss", kind=FeedKind.RSS, name="X")
        parsed = ParsedFeed(kind=FeedKind.RSS, papers=[
            PaperRecord(key="2605.00001", arxiv_id="2605.00001", version=1, title="Shared paper",
                        source=FeedKind.RSS),
        ])
        await one.record_feed_batch(
            feed.id, at=at, outcome="new", parsed=parsed, fingerprint="f", etag=None,
            last_modified=None, fresh_until=None, kind=FeedKind.RSS,
        )
        results = await asyncio.gather(*(
            store.add_bookmark(user, "2605.00001", source="reaction", guild_id=None, now=at, limit=100)
            for store in (one, two, one, two)
        ))
        assert sorted(results) == ["added", "exists", "exists", "exists"]
        listed = await two.list_bookmarks(user)
        assert [paper.key for paper, _ in listed] == ["2605.00001"]
        assert await one.count_bookmarks(user) == 1
        # A paper one process ingested is found by the other's search: its index catches up at
        # once on PostgreSQL's change notice (the bot's minute timer is not running here).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while [h.paper.key for h in await two.search(parse_query("shared paper"))] != ["2605.00001"]:
            assert loop.time() < deadline, "the other process's index never caught up"
            await asyncio.sleep(0.1)


async def test_copy_store_moves_an_sqlite_store_into_an_empty_postgresql_one(
    pg_server: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Papers, bookmarks, digests and subscriptions arrive; counts verified; ids keep counting."""
    from bot.digest.model import DigestConfig

    source = tmp_path / "old.db"
    at = datetime(2026, 5, 1, tzinfo=UTC)
    user = 987654321098765432
    async with Store(source, index_dir=tmp_path / "old.search") as old:
        feed = await old.upsert_feed("https://x.example/rss", kind=FeedKind.RSS, name="X")
        parsed = ParsedFeed(kind=FeedKind.RSS, papers=[
            PaperRecord(key=f"2605.{i:05d}", arxiv_id=f"2605.{i:05d}", version=1,
                        title=f"Moved paper {i}", source=FeedKind.RSS, categories=["cs.LG"])
            for i in range(1, 31)
        ])
        await old.record_feed_batch(feed.id, at=at, outcome="new", parsed=parsed, fingerprint="f",
                                    etag=None, last_modified=None, fresh_until=None, kind=FeedKind.RSS)
        assert await old.add_bookmark(user, "2605.00007", source="reaction", guild_id=None, now=at,
                                      limit=100) == "added"
        await old.add_digest(DigestConfig(guild_id=(1000 << 22), channel_id=5, categories=["cs.LG"],
                                          post_time="09:00", timezone="UTC"), now=at)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{source}"\n', encoding="utf-8")
    url = await pg_server.empty_database()

    assert await asyncio.to_thread(main, ["--config", str(config), "copy-store", "--to", url]) == 0
    out = capsys.readouterr().out
    assert "Copied and verified" in out and "papers" in out

    async with Store(url, index_dir=tmp_path / "new.search") as new:
        assert await new.count_papers() == 30
        assert [p.key for p, _ in await new.list_bookmarks(user)] == ["2605.00007"]
        [digest] = await new.list_digests()
        assert digest.guild_id == 1000 << 22
        assert [h.paper.key for h in await new.search(parse_query("moved paper 12"))][:1] == ["2605.00012"]
        # Identity sequences continue after the copied ids.
        more = await new.add_digest(DigestConfig(guild_id=1, channel_id=6, categories=["cs.LG"],
                                                 post_time="10:00", timezone="UTC"), now=at)
        assert more.id == (digest.id or 0) + 1

    # A second copy into the now non-empty database is refused, and says why.
    assert await asyncio.to_thread(main, ["--config", str(config), "copy-store", "--to", url]) == 1
    assert "not empty" in capsys.readouterr().out
