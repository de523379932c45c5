"""The repository on a real SQLite file: migrations, merging sources, full-text search."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
from bot.search import parse_query
from bot.store import MigrationError, Store
from bot.store.migrate import bundled_migrations, migrate
from tests.test_search_query import HOSTILE

NOW = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)
DAY = date(2026, 5, 12)


def arxiv(key: str, title: str, *, version: int = 1, kind: AnnounceType = AnnounceType.NEW,
          categories: tuple[str, ...] = ("cs.LG",), authors: tuple[str, ...] = ("Ada Lovelace",),
          abstract: str = "An abstract.", day: date = DAY, **extra: object) -> PaperRecord:
    return PaperRecord(
        key=key, arxiv_id=key, version=version, title=title, source=FeedKind.ARXIV_RSS,
        authors=list(authors), abstract=abstract, categories=list(categories), announce_type=kind,
        announced=day, abs_url=f"https://arxiv.org/abs/{key}", pdf_url=f"https://arxiv.org/pdf/{key}",
        **extra,  # type: ignore[arg-type]
    )


async def ingest(store: Store, feed_url: str, records: list[PaperRecord], *,
                 kind: FeedKind = FeedKind.ARXIV_RSS, at: datetime = NOW, day: date | None = DAY):
    feed = await store.upsert_feed(feed_url, kind=kind, name=None)
    parsed = ParsedFeed(kind=kind, papers=records, feed_date=day)
    fingerprint = parsed.fingerprint()
    outcome = "empty" if not records else (
        "stale" if fingerprint == feed.last_fingerprint else "new")
    result = await store.record_feed_batch(
        feed.id, at=at, outcome=outcome, parsed=parsed, fingerprint=fingerprint, etag=None,
        last_modified=None, fresh_until=None, kind=kind,
    )
    return outcome, result


async def test_migrations_from_an_empty_file_reach_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    async with Store(path) as store:
        assert store.schema_version == bundled_migrations()[-1].version
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"papers", "feeds", "sightings", "feed_batches", "paper_changes", "paper_updates"} <= tables
        assert "papers_fts" not in tables  # search reads its own index (migration 006)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("start_at", range(len(bundled_migrations())))
async def test_migrations_from_each_earlier_version(tmp_path: Path, start_at: int) -> None:
    """A database left at any earlier schema version is brought forward, data intact."""
    migrations = bundled_migrations()
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, migrations[: start_at + 1]) == migrations[start_at].version
        if start_at == 0:
            await db.execute(
                "INSERT INTO papers (key, title, core_source, first_seen, last_changed)"
                " VALUES ('2401.00001', 'Kept across upgrades', 'arxiv-rss',"
                " '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')"
            )
    async with Store(path) as store:
        assert store.schema_version == migrations[-1].version
        if start_at == 0:
            paper = await store.get_paper("2401.00001")
            assert paper is not None and paper.title == "Kept across upgrades"
            # Papers stored before the search index existed are in it after the upgrade.
            assert [h.paper.key for h in await store.search(parse_query("upgrades kept"))] == ["2401.00001"]


async def test_a_database_from_a_newer_paperbot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    async with Store(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    with pytest.raises(MigrationError, match="newer"):
        await Store(path).open()


async def test_a_lower_numbered_migration_arriving_later_is_still_applied(tmp_path: Path) -> None:
    """Numbers are reserved per piece of work: 008 may ship before 005. Each applies once."""
    from bot.store.migrate import Migration

    first = [Migration(1, "a", "CREATE TABLE a (x);"), Migration(8, "h", "CREATE TABLE h (x);")]
    later = [*first[:1], Migration(5, "e", "CREATE TABLE e (x);"), first[1]]
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as db:
        assert await migrate(db, first) == 8
        assert await migrate(db, later) == 8
        async with db.execute("SELECT version FROM schema_migrations ORDER BY version") as cur:
            assert [r[0] for r in await cur.fetchall()] == [1, 5, 8]
        async with db.execute("SELECT name FROM sqlite_master WHERE name IN ('a', 'e', 'h')") as cur:
            assert sorted(r[0] for r in await cur.fetchall()) == ["a", "e", "h"]
    names = tmp_path / "dup"
    names.mkdir()
    (names / "001_a.sql").write_text("SELECT 1;")
    (names / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share a number"):
        bundled_migrations(names)


async def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path) -> None:
    from bot.store.migrate import Migration

    bad = [Migration(1, "ok", "CREATE TABLE a (x);"),
           Migration(2, "broken", "CREATE TABLE b (y); INSERT INTO nope VALUES (1);")]
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as db:
        with pytest.raises(MigrationError, match="002_broken"):
            await migrate(db, bad)
        async with db.execute("SELECT name FROM sqlite_master WHERE name IN ('a', 'b')") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["a"]
        async with db.execute("SELECT MAX(version) FROM schema_migrations") as cur:
            assert (await cur.fetchone())[0] == 1


async def test_new_papers_are_stored_and_searchable(store: Store) -> None:
    outcome, result = await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [
        arxiv("2605.00001", "Sparse Attention for Long Documents", authors=("Grace Hopper",)),
        arxiv("2605.00002", "Diffusion Models Beat GANs", kind=AnnounceType.CROSS,
              categories=("cs.CV", "cs.LG")),
    ])
    assert outcome == "new"
    assert result.new_keys == ["2605.00001", "2605.00002"]
    hits = await store.search(parse_query("sparse attention"))
    assert [h.paper.key for h in hits] == ["2605.00001"]
    assert hits[0].paper.authors == ["Grace Hopper"]
    by_author = await store.search(parse_query("", author="hopper"))
    assert [h.paper.key for h in by_author] == ["2605.00001"]
    cv = await store.search(parse_query("", category="cs.CV"))
    assert [h.paper.key for h in cv] == ["2605.00002"]
    whole_archive = await store.search(parse_query("", category="cs"))
    assert {h.paper.key for h in whole_archive} == {"2605.00001", "2605.00002"}


async def test_a_replacement_updates_the_paper_and_is_not_new(store: Store) -> None:
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [arxiv("2605.00001", "Old Title Words")])
    outcome, result = await ingest(
        store, "https://rss.arxiv.org/rss/cs.LG",
        [arxiv("2605.00001", "Brand New Title", version=2, kind=AnnounceType.REPLACE,
               day=DAY + timedelta(days=1), doi="10.1000/xyz")],
        day=DAY + timedelta(days=1),
    )
    assert outcome == "new"
    assert result.new_keys == [] and result.updated_keys == ["2605.00001"]
    paper = await store.get_paper("2605.00001")
    assert paper is not None and paper.version == 2 and paper.title == "Brand New Title"
    assert paper.announced == DAY  # first announcement date is kept
    assert await store.paper_updates("2605.00001") == [("version", "v1", "v2"), ("doi", None, "10.1000/xyz")]
    assert [h.paper.key for h in await store.search(parse_query("brand new"))] == ["2605.00001"]
    assert await store.search(parse_query('"old title words"')) == []
    assert await store.count_papers() == 1


async def test_an_older_version_never_overwrites_a_newer_one(store: Store) -> None:
    await ingest(store, "https://a.example/feed", [arxiv("2605.00001", "Version Two", version=2)])
    await ingest(store, "https://b.example/feed", [arxiv("2605.00001", "Version One", version=1)])
    paper = await store.get_paper("2605.00001")
    assert paper is not None and (paper.version, paper.title) == (2, "Version Two")


async def test_hugging_face_signals_attach_to_the_arxiv_paper(store: Store) -> None:
    await ingest(store, "https://rss.arxiv.org/rss/cs.CL", [arxiv("2605.00003", "Tiny Reasoners")])
    hf = PaperRecord(
        key="2605.00003", arxiv_id="2605.00003", title="tiny reasoners (HF spelling)",
        source=FeedKind.HF_DAILY, authors=["A. Lovelace"], abstract="HF copy",
        hf_upvotes=87, hf_ai_summary="Small models reason.", github_repo="https://github.com/x/y",
        github_stars=12, hf_url="https://huggingface.co/papers/2605.00003", hf_date=DAY,
    )
    _, result = await ingest(store, "https://huggingface.co/api/daily_papers", [hf], kind=FeedKind.HF_DAILY)
    assert result.new_keys == []
    paper = await store.get_paper("2605.00003")
    assert paper is not None
    assert paper.title == "Tiny Reasoners" and paper.authors == ["Ada Lovelace"]
    assert (paper.hf_upvotes, paper.hf_ai_summary, paper.code_url) == (
        87, "Small models reason.", "https://github.com/x/y")
    assert await store.count_papers() == 1
    with_code = await store.search(parse_query("reasoners", has_code=True))
    assert [h.paper.key for h in with_code] == ["2605.00003"]


async def test_a_stale_batch_adds_no_sightings(store: Store, tmp_path: Path) -> None:
    records = [arxiv("2605.00004", "Same Listing")]
    first, _ = await ingest(store, "https://rss.arxiv.org/rss/cs.LG", records)
    second, result = await ingest(store, "https://rss.arxiv.org/rss/cs.LG", records,
                                  at=NOW + timedelta(days=1))
    assert (first, second) == ("new", "stale")
    assert result.new_keys == []
    assert (await store._fetchall("SELECT COUNT(*) FROM sightings"))[0][0] == 1
    outcomes = [r[0] for r in await store._fetchall("SELECT outcome FROM feed_batches ORDER BY id")]
    assert outcomes == ["new", "stale"]


async def test_feed_failures_count_up_and_mark_failing(store: Store) -> None:
    feed = await store.upsert_feed("https://x.example/rss", kind=None, name="X")
    for n in range(1, 4):
        feed = await store.record_feed_failure(
            feed.id, at=NOW, error=f"HTTP 503 #{n}", next_attempt_at=NOW + timedelta(minutes=5 * n),
            failing_after=3,
        )
        assert feed.consecutive_failures == n
        assert feed.failing == (n >= 3)
    assert feed.last_error == "HTTP 503 #3"
    await store.record_feed_not_modified(feed.id, at=NOW, fresh_until=None)
    recovered = await store.feed_by_id(feed.id)
    assert recovered is not None and not recovered.failing and recovered.consecutive_failures == 0


async def test_papers_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "persist.db"
    async with Store(path) as store:
        await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [arxiv("2605.00005", "Durable Things")])
    async with Store(path) as store:
        hits = await store.search(parse_query("durable"))
        assert [h.paper.key for h in hits] == ["2605.00005"]


async def test_hostile_queries_on_a_real_store_never_raise(store: Store) -> None:
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [arxiv("2605.00006", "Robust Search")])
    for text in HOSTILE:
        await store.search(parse_query(text), limit=5)


async def test_strict_matches_rank_before_partial_ones(store: Store) -> None:
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [
        arxiv("2605.00010", "Graph Transformers for Molecules"),
        arxiv("2605.00011", "Graph Kernels Revisited"),
        arxiv("2605.00012", "Unrelated Topic Entirely"),
    ])
    hits = await store.search(parse_query("graph transformers molecules proteins"))
    # No paper has all four words; the forgiving reading still finds the best one first.
    assert [h.paper.key for h in hits][:2] == ["2605.00010", "2605.00011"]
    assert not hits[0].matched_all
    exact = await store.search(parse_query("graph molecules"))
    assert exact[0].paper.key == "2605.00010" and exact[0].matched_all


async def test_title_outweighs_abstract(store: Store) -> None:
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [
        arxiv("2605.00020", "Something Else", abstract="We mention quantization in passing here."),
        arxiv("2605.00021", "Quantization at Scale", abstract="A study."),
    ])
    hits = await store.search(parse_query("quantization"))
    assert [h.paper.key for h in hits] == ["2605.00021", "2605.00020"]


async def test_latest_listing_is_the_newest_day_each_paper_once(store: Store) -> None:
    monday = DAY - timedelta(days=1)
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [arxiv("2605.00030", "Monday Paper", day=monday)],
                 day=monday)
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [
        arxiv("2605.00031", "Tuesday New"),
        arxiv("2605.00032", "Tuesday Cross", kind=AnnounceType.CROSS, categories=("stat.ML", "cs.LG")),
        arxiv("2604.00001", "Old Paper Revised", version=3, kind=AnnounceType.REPLACE),
    ])
    await ingest(store, "https://rss.arxiv.org/rss/stat.ML", [
        arxiv("2605.00032", "Tuesday Cross", categories=("stat.ML", "cs.LG")),
    ])
    day, listing = await store.latest_listing(["cs.LG"])
    assert day == DAY
    # Each paper once, new before cross-listed, the replacement left out.
    assert [(p.key, t) for p, t in listing] == [
        ("2605.00031", AnnounceType.NEW), ("2605.00032", AnnounceType.CROSS)
    ]


async def test_a_remembered_title_fragment_ranks_its_paper_first(store: Store) -> None:
    filler = [arxiv(f"2605.01{i:03d}", f"Unrelated Study Number {i}", abstract="Nothing to see.")
              for i in range(40)]  # bm25 needs a corpus: with two papers every word is everywhere
    wanted = ("On Learning Graph Models for Ranking in Large Heterogeneous Information Networks with "
              "Noisy Labels, Sparse Features and Other Practical Complications of Real Deployments")
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG", [
        *filler,
        # Short, and every word often, but not the run of words the reader remembers: bm25 alone
        # would put it first.
        arxiv("2605.00040", "Ranking Models for Graph Ranking: Graph Models",
              abstract="ranking graph models for " * 8),
        arxiv("2605.00041", wanted, abstract="A study."),
    ])
    hits = await store.search(parse_query("graph models for ranking"))
    assert [h.paper.key for h in hits] == ["2605.00041", "2605.00040"]
