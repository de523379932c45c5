"""The derived search index: rebuilt by `paperbot reindex`, caught up after a kill -9 at any
point, and kept up by several processes sharing one database."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import signal
import sqlite3
import sys
import textwrap
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
from bot.search import parse_query
from bot.search.index import WATERMARK_FILE
from bot.store import Store
from tests.feedserver import FeedServer
from tests.test_cli import CL, run, write_config
from tests.test_store import ingest

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 5, 4)


def paper(key: str, title: str, abstract: str = "An abstract.") -> PaperRecord:
    return PaperRecord(
        key=key, arxiv_id=key, version=1, title=title, source=FeedKind.ARXIV_RSS,
        authors=["Ada Lovelace"], abstract=abstract, categories=["cs.LG"],
        announce_type=AnnounceType.NEW, announced=DAY,
    )


async def keys(store: Store, text: str) -> list[str]:
    return [h.paper.key for h in await store.search(parse_query(text), limit=50)]


# A child process that ingests one paper and is killed (SIGKILL) at a chosen point of the
# index update: after the store committed, before or during the index's own commit.
CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from datetime import UTC, date, datetime
    sys.path.insert(0, {root!r})
    from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
    from bot.search import index as search_index
    from bot.store import Store

    point = sys.argv[3]
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "before-index-commit":
        search_index.SearchIndex.apply = die
    elif point == "before-watermark":
        search_index.SearchIndex._write_meta = lambda self, watermark: (
            die() if watermark > 0 else None)
    async def main():
        store = await Store(sys.argv[1], index_dir=sys.argv[2]).open()
        feed = await store.upsert_feed("https://feeds.example/child", kind=FeedKind.ARXIV_RSS, name=None)
        record = PaperRecord(
            key="2605.09999", arxiv_id="2605.09999", version=1, title="Zebrafish lattice telemetry",
            source=FeedKind.ARXIV_RSS, authors=["Grace Hopper"], abstract="Written by the child.",
            categories=["cs.LG"], announce_type=AnnounceType.NEW, announced=date(2026, 5, 5))
        parsed = ParsedFeed(kind=FeedKind.ARXIV_RSS, papers=[record], feed_date=date(2026, 5, 5))
        await store.record_feed_batch(
            feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed,
            fingerprint=parsed.fingerprint(), etag=None, last_modified=None, fresh_until=None,
            kind=FeedKind.ARXIV_RSS)
        await store.close()
        print("finished")
    asyncio.run(main())
""")


async def run_child(db: Path, index_dir: Path, point: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD.format(root=str(ROOT)), str(db), str(index_dir), point,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode() + err.decode()


@pytest.mark.parametrize("point", ["before-index-commit", "before-watermark"])
async def test_a_kill_9_during_the_index_update_is_caught_up_at_start(tmp_path: Path, point: str) -> None:
    db, index_dir = tmp_path / "store.db", tmp_path / "store.search"
    async with Store(db, index_dir=index_dir) as store:
        await ingest(store, "https://feeds.example/a", [paper("2605.00001", "Graph lattice models")])
        watermark_before = store.search_service.index.watermark

    code, output = await run_child(db, index_dir, point)
    assert code == -signal.SIGKILL, output
    assert "finished" not in output
    with closing(sqlite3.connect(db)) as conn:  # the store committed the paper before the kill
        assert conn.execute("SELECT COUNT(*) FROM papers WHERE key = '2605.09999'").fetchone()[0] == 1
    meta = json.loads((index_dir / WATERMARK_FILE).read_text())
    assert meta["watermark"] == watermark_before  # the index's watermark never ran ahead

    async with Store(db, index_dir=index_dir) as store:  # start: caught up
        assert await keys(store, "zebrafish telemetry") == ["2605.09999"]
        assert sorted(await keys(store, "lattice")) == ["2605.00001", "2605.09999"]
        assert store.search_service.index.num_docs() == 2  # applied twice is still one document
        assert store.search_service.index.watermark == await store.last_paper_change()


async def test_two_processes_on_one_database_each_catch_up(tmp_path: Path) -> None:
    """A paper ingested by another process is searchable here after a catch-up (the bot runs
    one every minute), each process with its own index directory."""
    db = tmp_path / "shared.db"
    async with Store(db, index_dir=tmp_path / "mine.search") as mine:
        await ingest(mine, "https://feeds.example/a", [paper("2605.00001", "Graph lattice models")])
        code, output = await run_child(db, tmp_path / "theirs.search", "finish")
        assert code == 0 and "finished" in output, output
        assert await keys(mine, "zebrafish") == []  # not yet: another process wrote it
        assert await mine.search_service.catch_up() == 1
        assert await keys(mine, "zebrafish") == ["2605.09999"]
    async with Store(db, index_dir=tmp_path / "theirs.search") as theirs:
        assert await keys(theirs, "graph") == ["2605.00001"]  # and the other way round


async def test_an_index_in_use_by_another_process_is_searched_as_it_is(tmp_path: Path) -> None:
    db, shared = tmp_path / "store.db", tmp_path / "one.search"
    async with Store(db, index_dir=shared) as first:
        await ingest(first, "https://feeds.example/a", [paper("2605.00001", "Graph lattice models")])
        async with Store(db, index_dir=shared) as second:  # the same directory: no writer for it
            await ingest(second, "https://feeds.example/b", [paper("2605.00002", "Quantum walks")])
            assert await keys(second, "graph") == ["2605.00001"]
        await first.search_service.catch_up()
        assert await keys(first, "quantum walks") == ["2605.00002"]


async def test_changed_papers_are_searched_by_their_new_text(tmp_path: Path) -> None:
    async with Store(tmp_path / "store.db") as store:
        await ingest(store, "https://feeds.example/a", [paper("2605.00001", "Old title words")])
        replaced = dataclasses.replace(paper("2605.00001", "Brand new heading"), version=2)
        await ingest(store, "https://feeds.example/b", [replaced])
        assert await keys(store, "brand heading") == ["2605.00001"]
        assert await keys(store, '"old title words"') == []


async def test_the_index_lives_beside_the_database_and_is_rebuilt_if_lost(tmp_path: Path) -> None:
    db = tmp_path / "data" / "paperbot.db"
    async with Store(db) as store:
        await ingest(store, "https://feeds.example/a", [paper("2605.00001", "Graph lattice models")])
    index_dir = tmp_path / "data" / "paperbot.search"
    assert (index_dir / WATERMARK_FILE).exists()
    shutil.rmtree(index_dir)
    async with Store(db) as store:
        assert await keys(store, "graph lattice") == ["2605.00001"]


async def test_paperbot_reindex_rebuilds_the_index(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])
    fetched = await run(["--config", str(config), "fetch"], tmp_path)
    assert fetched.code == 0, fetched.err
    index_dir = tmp_path / "data" / "paperbot.search"
    # A damaged index: its files gone but the watermark claiming everything.
    for entry in index_dir.iterdir():
        if entry.name != WATERMARK_FILE:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    broken = await run(["--config", str(config), "search", "entity tracking narratives", "--json"], tmp_path)
    assert broken.code == 0 and json.loads(broken.out) == []

    result = await run(["--config", str(config), "reindex"], tmp_path)
    assert result.code == 0, result.err
    with closing(sqlite3.connect(tmp_path / "data" / "paperbot.db")) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
    assert f"Indexed {stored:,} papers" in result.out
    found = await run(["--config", str(config), "search", "entity tracking narratives", "--json"], tmp_path)
    assert json.loads(found.out)[0]["title"].startswith("Entity tracking emerges")


async def test_batches_are_searchable_as_soon_as_they_are_ingested(tmp_path: Path) -> None:
    async with Store(tmp_path / "store.db") as store:
        for number in range(3):
            key = f"2605.0000{number}"
            feed = await store.upsert_feed(f"https://feeds.example/{number}", kind=FeedKind.ARXIV_RSS,
                                           name=None)
            parsed = ParsedFeed(kind=FeedKind.ARXIV_RSS, papers=[paper(key, f"Topic{number} study")],
                                feed_date=DAY)
            await store.record_feed_batch(
                feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed,
                fingerprint=parsed.fingerprint(), etag=None, last_modified=None, fresh_until=None,
                kind=FeedKind.ARXIV_RSS,
            )
            assert await keys(store, f"topic{number}") == [key]
        assert store.search_service.index.watermark == await store.last_paper_change()


async def test_a_query_of_only_common_words_is_answered_from_the_newest_papers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its cost has a bound: a word or phrase nearly every paper holds is not ranked over all
    of them; any query with a rarer word still searches everything."""
    import bot.search.engine

    monkeypatch.setattr(bot.search.engine, "CANDIDATE_BUDGET", 10)
    async with Store(tmp_path / "store.db") as store:
        records = [
            dataclasses.replace(
                paper(f"2605.{n:05d}", f"Study {n} of the sea",
                      "Most of the work is in the sea." + (" Whales." if n % 10 == 0 else "")),
                announced=date.fromordinal(DAY.toordinal() + n),
            )
            for n in range(30)
        ]
        await ingest(store, "https://feeds.example/a", records)
        newest = {f"2605.{n:05d}" for n in range(20, 30)}
        for common in ('"of the"', "sea", "the sea", "wor*"):
            found = await keys(store, common)
            assert found and set(found) <= newest, common
        assert sorted(await keys(store, "whales")) == ["2605.00000", "2605.00010", "2605.00020"]
        # All words first; the any-word reading leaves out the common ones (any paper would do).
        assert sorted(await keys(store, '"of the" whales')) == ["2605.00000", "2605.00010", "2605.00020"]
        assert sorted(await keys(store, "whales ocean")) == ["2605.00000", "2605.00010", "2605.00020"]


async def test_a_broad_query_ranks_the_newest_papers_it_can_afford_and_still_finds_an_old_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No word here is common, but the rarest one's papers are more than the budget: the strict
    reading ranks the newest papers that fit it, and a remembered title is found at any age."""
    import bot.search.engine

    async with Store(tmp_path / "store.db") as store:
        records = [
            dataclasses.replace(
                paper(f"2605.{n:05d}",
                      "Waves of the lattice sea" if n == 3
                      else f"Report {n} on lattice sea" if n % 5 == 0 else f"Report {n} on a harbour",
                      "Notes on the sea and of the shore."),
                announced=date.fromordinal(DAY.toordinal() + n),
            )
            for n in range(100)
        ]
        await ingest(store, "https://feeds.example/a", records)
        lattice = {f"2605.{n:05d}" for n in range(100) if n % 5 == 0 or n == 3}
        assert set(await keys(store, "lattice sea")) == lattice  # within the budget: everything

        monkeypatch.setattr(bot.search.engine, "CANDIDATE_BUDGET", 10)
        monkeypatch.setattr(bot.search.engine, "WINDOW_SHARE", 1)
        found = await keys(store, "lattice sea")
        newest_half = {f"2605.{n:05d}" for n in range(50, 100)}
        assert found and set(found) <= lattice & newest_half
        assert "2605.00095" in found
        remembered = await keys(store, "of the lattice sea")
        assert remembered[0] == "2605.00003"
        assert set(remembered[1:]) <= newest_half


async def test_reindex_refuses_an_index_a_running_bot_writes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", [])
    async with Store(tmp_path / "data" / "paperbot.db") as running:
        await ingest(running, "https://feeds.example/a", [paper("2605.00001", "Graph lattice models")])
        result = await run(["--config", str(config), "reindex"], tmp_path)
        assert result.code == 1
        assert "in use by another process" in result.out and "Traceback" not in result.err
        assert await keys(running, "lattice") == ["2605.00001"]  # the running index is untouched


async def test_guiding_dense_words_by_the_rarest_word_or_category_changes_no_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine puts the rarest word (or the category filter) inside each field's query of a
    dense word, for speed only: the papers found and their scores must be those of the plain
    intersection, for every kind of term and filter."""
    import bot.search.engine as engine

    words = ["lattice", "harbour", "whale", "quantum", "graph", "sea", "shore", "model"]
    records = []
    for n in range(240):
        picked = [words[(n * k) % len(words)] for k in (1, 3, 5)]
        records.append(dataclasses.replace(
            paper(f"2605.{n:05d}", f"The {picked[0]} of the {picked[1]} {n}",
                  f"We model the {picked[2]} and the {picked[0]} of a sea. " * (1 + n % 3)),
            categories=["cs.LG"] if n % 4 else ["physics.ao-ph", "cs.LG"],
            authors=["Ada Lovelace" if n % 2 else "Model Whale"],
            announced=date.fromordinal(DAY.toordinal() + n % 40)))
    async with Store(tmp_path / "store.db") as store:
        await ingest(store, "https://feeds.example/a", records)
        service = store.search_service
        queries = [
            ("the model sea", {}), ("the whale", {}), ("model of the lattice", {}),
            ('"the sea" whale', {}), ("the model", {"category": "physics.ao-ph"}),
            ("sea lattice", {"category": "physics"}), ("the mod* whale", {}),
            ("title:harbour the", {}), ("the sea -whale", {}), ("model OR quantum the", {}),
            ("the shore", {"since_days": 10, "today": date.fromordinal(DAY.toordinal() + 39)}),
        ]
        for text, options in queries:
            query = parse_query(text, **options)

            def ranked(ratio: float, query=query) -> list[tuple[int, float]]:
                monkeypatch.setattr(engine, "DENSE_RATIO", ratio)
                return [(s.id, round(s.score, 4)) for s in
                        engine.search_ids(service.index, query, limit=200, days=service._days)]

            plain = ranked(1e18)  # nothing is guided
            assert plain, text
            assert ranked(0) == plain, text  # everything that can be guided is


async def test_since_finds_exactly_the_papers_from_that_day_on_for_short_and_long_ranges(
    tmp_path: Path,
) -> None:
    """A few recent days are read from the days' own lists, a long range from the day column:
    both must find the same papers the filter names."""
    records = [dataclasses.replace(paper(f"2605.{n:05d}", f"Sea report {n}", "The sea and the shore."),
                                   announced=date.fromordinal(DAY.toordinal() + n // 5))
               for n in range(200)]  # 40 days, 5 papers a day
    today = date.fromordinal(DAY.toordinal() + 39)
    async with Store(tmp_path / "store.db") as store:
        await ingest(store, "https://feeds.example/a", records)
        for days in (1, 3, 30, 40):
            query = parse_query("the sea", since_days=days, today=today)
            found = {h.paper.key for h in await store.search(query, limit=200)}
            expected = {r.key for r in records if r.announced >= query.filters.since}
            assert found == expected, days
            assert 0 < len(found) <= 200


async def test_common_words_in_a_category_get_the_newest_papers_and_a_rarer_word_the_whole_category(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A category guides each word's field lists; with only common words that costs the
    category's papers times those lists, so past the budget the newest papers are ranked. A
    rarer word keeps the whole category ranked."""
    import bot.search.engine

    monkeypatch.setattr(bot.search.engine, "CANDIDATE_BUDGET", 40)
    records = [dataclasses.replace(
        paper(f"2605.{n:05d}", f"Study {n} of the sea",
              "Most of the work is in the sea." + (" Whales." if n % 10 == 0 else "")),
        announced=date.fromordinal(DAY.toordinal() + n)) for n in range(30)]
    async with Store(tmp_path / "store.db") as store:
        await ingest(store, "https://feeds.example/a", records)
        newest = {f"2605.{n:05d}" for n in range(20, 30)}
        in_category = [parse_query(text, category="cs.LG") for text in ("the sea", "whales sea")]
        common = {h.paper.key for h in await store.search(in_category[0], limit=50)}
        assert common and common <= newest
        rare = {h.paper.key for h in await store.search(in_category[1], limit=50)}
        assert rare == {"2605.00000", "2605.00010", "2605.00020"}
