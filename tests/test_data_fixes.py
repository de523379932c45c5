"""Issue 8, data items 1-7: each quirk met on real feeds, in the captures' own shapes,
served over loopback HTTP into a real SQLite file."""

from __future__ import annotations

import copy
import itertools
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.digest.model import DigestConfig
from bot.models import FeedKind
from bot.search import parse_query
from bot.sources import parse_feed
from bot.store import Store
from bot.store.migrate import bundled_migrations, migrate
from tests import test_ingest
from tests.botharness import World
from tests.feedserver import FeedServer
from tests.listings import REAL, Item, PreprintItem, arxiv_rss, biorxiv_rss, hf_body, hf_items
from tests.test_cli import run, write_config
from tests.test_ingest import Harness

harness = test_ingest.harness  # the ingestion harness fixture: real HTTP, real SQLite

CL = "arxiv_rss_cs.CL_2026-08-20_141items.xml"
HF_DAY = date(2025, 9, 30)


async def sightings(store: Store) -> list[tuple]:
    async with aiosqlite.connect(store.path) as db, db.execute(
        "SELECT f.url, p.key, s.announce_type, s.announced FROM sightings s"
        " JOIN papers p ON p.id = s.paper_id JOIN feeds f ON f.id = s.feed_id"
    ) as cur:
        return [tuple(r) for r in await cur.fetchall()]


def reserved_day(items: list[dict]) -> list[dict]:
    """The same Daily Papers day fetched the next morning: upvotes moved, two more papers."""
    later = copy.deepcopy(items)
    for n, item in enumerate(later):
        item["paper"]["upvotes"] = int(item["paper"].get("upvotes") or 0) + 5 + n
    for extra, new_id in zip(copy.deepcopy(items[:2]), ("2509.99901", "2509.99902"), strict=True):
        extra["paper"]["id"] = new_id
        extra["paper"]["title"] = f"A paper added late {new_id}"
        extra["title"] = extra["paper"]["title"]
        later.append(extra)
    return later


# ---------------------------------------------------------------- 1. a re-served HF day


async def test_a_reserved_hugging_face_day_is_announced_once(harness, feed_server: FeedServer) -> None:
    items = hf_items()
    feed_server.serve("/api/daily_papers", hf_body(items), content_type="application/json")
    h: Harness = await harness({"/api/daily_papers": {}})
    first = (await h.poll())["daily_papers"]
    assert (first.status, first.new) == ("new", 50)
    cursor = await h.store.max_sighting_id()

    later = reserved_day(items)
    feed_server.serve("/api/daily_papers", hf_body(later), content_type="application/json")
    h.clock.advance(hours=15)
    second = (await h.poll())["daily_papers"]
    assert (second.status, second.new) == ("new", 2)
    assert second.updated == 0  # upvotes moved: signals, not an update worth telling about

    seen = await sightings(h.store)
    assert len(seen) == 52  # one sighting per paper, not 50 + 52
    assert len({key for _, key, _, _ in seen}) == 52
    top = later[0]["paper"]
    paper = await h.store.get_paper(top["id"])
    assert paper is not None and paper.hf_upvotes == top["upvotes"]  # the re-served day updated it

    feeds = await h.store.list_feeds()
    digest = DigestConfig(guild_id=1, channel_id=2, categories=[], post_time="09:00", timezone="UTC",
                          include_hf=True)
    fresh = await h.store.digest_candidates(digest, after=cursor, up_to=await h.store.max_sighting_id(),
                                            hf_feed_ids=[feeds[0].id])
    assert sorted(c.paper.key for c in fresh) == ["2509.99901", "2509.99902"]


async def test_the_next_digest_holds_only_really_new_papers(world: World) -> None:
    """End to end: yesterday's digest took the day; the re-served day brings two papers."""
    items = hf_items()
    world.serve_feed("/api/daily_papers", hf_body(items), content_type="application/json")
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        config = await bot.store.add_digest(DigestConfig(
            guild_id=world.guild.id, channel_id=world.channel.id, categories=["cs.CL"],
            post_time="09:00", timezone="UTC", max_papers=25, include_hf=True), now=datetime.now(UTC))
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        run, _ = await bot.store.claim_run(config.id or 0, yesterday, trigger="schedule",
                                           now=datetime.now(UTC))
        plan, cursor_to = await bot.digests.compose(config, run_id=run.id, run_date=yesterday)
        assert plan.paper_count == 50
        await bot.store.save_plan(run.id, plan, cursor_to=cursor_to)

        world.feeds.serve("/api/daily_papers", hf_body(reserved_day(items)),
                          content_type="application/json")
        await bot.poll_feeds(force=True)
        today, _ = await bot.digests.compose(config, run_id=0, run_date=yesterday + timedelta(days=1))
        assert today.paper_count == 2


async def test_migration_004_removes_existing_duplicate_sightings(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, bundled_migrations()[:3]) == 3
        now = "2026-08-21T09:00:00+00:00"
        await db.execute("INSERT INTO feeds (id, url, kind, created_at) VALUES"
                         " (1, 'https://huggingface.co/api/daily_papers', 'hf-daily', ?),"
                         " (2, 'https://rss.arxiv.org/rss/cs.CL', 'arxiv-rss', ?)", (now, now))
        await db.execute(
            "INSERT INTO papers (id, key, title, core_source, announced, first_seen, last_changed)"
            " VALUES (1, '2608.00001', 'T', 'hf-daily', '2026-08-18', ?, ?)", (now, now))
        await db.execute("INSERT INTO feed_batches (id, feed_id, fetched_at, outcome) VALUES"
                         " (1, 1, ?, 'new'), (2, 1, ?, 'new'), (3, 2, ?, 'new')", (now, now, now))
        await db.executemany(
            "INSERT INTO sightings (paper_id, feed_id, batch_id, position, announce_type, announced,"
            " seen_at) VALUES (1, ?, ?, 0, ?, ?, ?)",
            [(1, 1, None, "2026-08-21", now), (1, 2, None, "2026-08-21", now),  # the duplicate
             (2, 3, "cross", "2026-08-20", now)],
        )
    store = await Store(path).open()
    try:
        assert store.schema_version >= 4
        seen = await sightings(store)
        assert sorted(seen) == [
            ("https://huggingface.co/api/daily_papers", "2608.00001", None, "2026-08-21"),
            ("https://rss.arxiv.org/rss/cs.CL", "2608.00001", "cross", "2026-08-20"),
        ]
        paper = await store.get_paper("2608.00001")
        assert paper is not None
        assert paper.arxiv_announced == date(2026, 8, 20)  # arXiv's listing decides the date
        assert paper.announced == date(2026, 8, 20)
    finally:
        await store.close()
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO sightings (paper_id, feed_id, batch_id, position, announce_type,"
                   " announced, seen_at) VALUES (1, 1, 2, 0, NULL, '2026-08-21', 'x')")


# ---------------------------------------------------------------- 2. order-independent dates


def _hf_overlapping_cl() -> list[dict]:
    """A Daily Papers day (HF's publishedAt days before arXiv's listing) holding three cs.CL
    papers of the real listing, and others arXiv never lists."""
    items = hf_items("hf_daily_papers_2026-08-21_indent2.json")[:6]
    for item, key in zip(items, ("2608.18082", "2608.17939", "2608.18124"), strict=False):
        item["paper"]["id"] = key
        item["paper"]["publishedAt"] = "2026-08-17T17:59:00.000Z"  # HF dates it earlier
    return items


def _cross_into_ai() -> bytes:
    """cs.AI's listing four days later cross-lists one cs.CL paper (and announces one of its own)."""
    real = next(p for p in parse_feed((REAL / CL).read_bytes()).papers if p.key == "2608.18082")
    return arxiv_rss("cs.AI", date(2026, 8, 24), [
        Item(real.key, real.title, "cross", categories=["cs.CL", "cs.AI"],
             creator=", ".join(real.authors), abstract=real.abstract),
        Item("2608.20001", "An agent of its own", "new", categories=["cs.AI"]),
    ])


async def _store_snapshot(store: Store) -> tuple[dict, set]:
    async with aiosqlite.connect(store.path) as db, db.execute("SELECT * FROM papers") as cur:
        names = [d[0] for d in cur.description]
        rows = await cur.fetchall()
    skip = {"id", "first_seen", "last_changed"}
    papers = {row[1]: {n: v for n, v in zip(names, row, strict=True) if n not in skip} for row in rows}
    return papers, set(await sightings(store))


async def test_the_same_feeds_in_any_order_give_the_same_store(harness, feed_server: FeedServer,
                                                               real_fixture, tmp_path: Path) -> None:
    feed_server.serve("/rss/cs.CL", real_fixture(CL))
    feed_server.serve("/rss/cs.AI", _cross_into_ai())
    feed_server.serve("/api/daily_papers", hf_body(_hf_overlapping_cl()), content_type="application/json")
    names = ("cs.CL", "cs.AI", "daily_papers")
    snapshots = []
    for attempt, order in enumerate(itertools.permutations(names)):
        h: Harness = await harness({f"/rss/{n}" if n != "daily_papers" else "/api/daily_papers": {}
                                    for n in names}, database={"path": str(tmp_path / f"{attempt}.db")})
        feeds = {f.url.rsplit("/", 1)[-1]: f for f in await h.store.list_feeds()}
        for name in order:
            assert (await h.ingestor.poll_feed(feeds[name], force=True)).status == "new"
        snapshots.append(await _store_snapshot(h.store))
        await h.store.close()
    first_papers, first_sightings = snapshots[0]
    for papers, seen in snapshots[1:]:
        for key, paper in papers.items():
            assert {k: v for k, v in paper.items() if v != first_papers[key][k]} == {}, key
        assert papers == first_papers
        assert seen == first_sightings
    longnovel = first_papers["2608.18082"]
    # arXiv announced it on 08-20 (cs.CL) and 08-24 (cs.AI); HF dated it 08-17
    assert (longnovel["announced"], longnovel["arxiv_announced"]) == ("2026-08-20", "2026-08-20")
    hf_only = next(p for k, p in first_papers.items() if p["core_source"] == "hf-daily")
    assert hf_only["announced"] == hf_only["other_announced"] is not None


async def test_a_paper_first_seen_on_hugging_face_is_news_where_arxiv_announces_it(
    harness, feed_server: FeedServer
) -> None:
    feed_server.serve("/api/daily_papers", hf_body(_hf_overlapping_cl()), content_type="application/json")
    feed_server.serve("/rss/cs.AI", _cross_into_ai())
    h: Harness = await harness({"/api/daily_papers": {}, "/rss/cs.AI": {}})
    heard: list[int] = []

    async def listener(ids: list[int]) -> None:  # subscriptions are matched on these
        heard.extend(ids)

    h.ingestor.on_new_papers(listener)
    feeds = {f.url.rsplit("/", 1)[-1]: f for f in await h.store.list_feeds()}
    await h.ingestor.poll_feed(feeds["daily_papers"])
    cursor = await h.store.max_sighting_id()
    paper = await h.store.get_paper("2608.18082")
    assert paper is not None and paper.announced == date(2026, 8, 17) and paper.id in heard
    heard.clear()

    outcome = await h.ingestor.poll_feed(feeds["cs.AI"])
    assert outcome.new == 2  # the cross-list and cs.AI's own paper
    assert paper.id in heard
    paper = await h.store.get_paper("2608.18082")
    assert paper is not None and paper.announced == date(2026, 8, 24)  # arXiv's date now
    assert "cs.AI" in paper.categories

    follows_ai = DigestConfig(guild_id=1, channel_id=2, categories=["cs.AI"], post_time="09:00",
                              timezone="UTC", include_hf=True)
    found = await h.store.digest_candidates(follows_ai, after=cursor,
                                            up_to=await h.store.max_sighting_id(),
                                            hf_feed_ids=[feeds["daily_papers"].id])
    assert "2608.20001" in [c.paper.key for c in found]
    # this digest already showed it as a Hugging Face paper: not repeated
    assert "2608.18082" not in [c.paper.key for c in found]
    without_hf = DigestConfig(guild_id=1, channel_id=2, categories=["cs.AI"], post_time="09:00",
                              timezone="UTC", include_hf=False)
    found = await h.store.digest_candidates(without_hf, after=cursor,
                                            up_to=await h.store.max_sighting_id(),
                                            hf_feed_ids=[feeds["daily_papers"].id])
    assert sorted(c.paper.key for c in found) == ["2608.18082", "2608.20001"]


# ---------------------------------------------------------------- 3. one HF file is one day


def _date_form_file() -> list[dict]:
    """The `?date=` form without `submittedOnDailyAt`: top-level publishedAt is arXiv's time,
    which for some items falls on the day before."""
    items = hf_items()
    for n, item in enumerate(items):
        item["paper"].pop("submittedOnDailyAt", None)
        item["publishedAt"] = "2025-09-29T22:10:00.000Z" if n % 4 == 0 else "2025-09-30T08:00:00.000Z"
    return items


def test_a_date_form_file_is_one_day() -> None:
    body = hf_body(_date_form_file())
    asked = parse_feed(body, FeedKind.HF_DAILY,
                       url="https://huggingface.co/api/daily_papers?date=2025-09-30")
    assert {p.hf_date for p in asked.papers} == {HF_DAY} and asked.feed_date == HF_DAY
    unnamed = parse_feed(body, FeedKind.HF_DAILY, url="https://huggingface.co/api/daily_papers")
    assert {p.hf_date for p in unnamed.papers} == {HF_DAY}


async def test_a_date_form_file_is_sighted_on_one_day(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/api/daily_papers", hf_body(_date_form_file()), content_type="application/json")
    h: Harness = await harness({"/api/daily_papers?date=2025-09-30": {}})
    await h.poll()
    assert {day for *_, day in await sightings(h.store)} == {"2025-09-30"}
    day, papers = await h.store.latest_hf_day()
    assert day == HF_DAY and len(papers) == 50


# ---------------------------------------------------------------- 4. authors


def _pairs(n: int) -> str:
    return ", ".join(f"Surname{chr(65 + i % 26)}{i}, {chr(65 + i % 26)}." for i in range(n))


async def test_biorxiv_surname_initials_pairs_are_people(harness, feed_server: FeedServer) -> None:
    creator = "Kaur, M., Shukla, A., Li, J.-P., " + _pairs(255)
    feed_server.serve("/biorxiv/bioinformatics", biorxiv_rss([
        PreprintItem("743294", 1, "Mapping gut microbes", creator, date(2019, 8, 22))]))
    feed_server.serve("/medrxiv/epidemiology", biorxiv_rss([
        PreprintItem("19004549", 1, "Cohort follow-up", "Nguyen, T. H., Smith, K.", date(2019, 8, 23))],
        server="medrxiv"))
    h: Harness = await harness({"/biorxiv/bioinformatics": {}, "/medrxiv/epidemiology": {}})
    await h.poll()
    paper = await h.store.get_paper("doi:10.1101/743294")
    assert paper is not None
    assert len(paper.authors) == 258  # not 516 names
    assert paper.authors[:3] == ["M. Kaur", "A. Shukla", "J.-P. Li"]
    med = await h.store.get_paper("doi:10.1101/19004549")
    assert med is not None and med.authors == ["T. H. Nguyen", "K. Smith"]


async def test_arxiv_author_lists_joined_with_and(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.CV", arxiv_rss("cs.CV", date(2026, 8, 20), [
        Item("2608.30001", "Medical segmentation", creator="Van Tuan Pham, Thi Ai Thao Nguyen, "
             "and Le Hong Trang", categories=["cs.CV"]),
        Item("2608.30002", "Radiomics", creator="Donald Johann Jr. and Fred Prior", categories=["cs.CV"]),
        Item("2608.30003", "A detector", creator="ATLAS Collaboration and CMS Collaboration",
             categories=["cs.CV"]),
    ]))
    h: Harness = await harness({"/rss/cs.CV": {}})
    await h.poll()
    papers = await h.store.get_papers(["2608.30001", "2608.30002", "2608.30003"])
    assert papers["2608.30001"].authors == ["Van Tuan Pham", "Thi Ai Thao Nguyen", "Le Hong Trang"]
    assert papers["2608.30002"].authors == ["Donald Johann Jr.", "Fred Prior"]
    assert papers["2608.30003"].authors == ["ATLAS Collaboration and CMS Collaboration"]


ATOM_BLOG = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>A research blog</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-08-20T10:00:00Z</updated>
  <author><name>Jane Roe</name></author>
  <entry>
    <title>Notes on scaling</title><id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <link href="https://blog.example.org/scaling"/><updated>2026-08-20T10:00:00Z</updated>
    <summary>What we learned.</summary>
  </entry>
  <entry>
    <title>A guest post</title><id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6b</id>
    <link href="https://blog.example.org/guest"/><updated>2026-08-19T10:00:00Z</updated>
    <author><name>John Doe</name></author>
    <summary>A visitor writes.</summary>
  </entry>
</feed>
"""


def test_an_atom_feeds_author_stands_for_entries_without_one() -> None:
    feed = parse_feed(ATOM_BLOG, url="https://blog.example.org/atom.xml")
    assert [p.authors for p in feed.papers] == [["Jane Roe"], ["John Doe"]]


# ---------------------------------------------------------------- 5. TeX outside math


LG = ["cs.LG"]


async def test_tex_symbols_outside_math_read_as_text(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.LG", arxiv_rss("cs.LG", date(2026, 8, 20), [
        Item("2608.40001", r"{\lambda}Split: Splitting Learning with $\lambda$-Weights", categories=LG),
        Item("2608.40002", r"{\alpha}Depth: Monocular Depth with $\alpha$ Blending", categories=LG),
        Item("2608.40003", r"Med-URWKV{\dag}: Medical Segmentation", categories=LG),
    ]))
    h: Harness = await harness({"/rss/cs.LG": {}})
    await h.poll()
    papers = await h.store.get_papers(["2608.40001", "2608.40002", "2608.40003"])
    assert papers["2608.40001"].title == r"λSplit: Splitting Learning with $\lambda$-Weights"
    assert papers["2608.40002"].title == r"αDepth: Monocular Depth with $\alpha$ Blending"
    assert papers["2608.40003"].title == "Med-URWKV†: Medical Segmentation"
    hits = await h.store.search(parse_query("λSplit"))
    assert hits and hits[0].paper.key == "2608.40001"


# ---------------------------------------------------------------- 6. bioRxiv identity


async def test_a_biorxiv_v2_updates_its_v1(harness, feed_server: FeedServer) -> None:
    v1 = PreprintItem("743294", 1, "Mapping gut microbes", "Kaur, M., Shukla, A.", date(2019, 8, 22))
    feed_server.serve("/biorxiv/bioinformatics", biorxiv_rss([v1]))
    h: Harness = await harness({"/biorxiv/bioinformatics": {}})
    first = (await h.poll())["bioinformatics"]
    assert first.new == 1
    v2 = PreprintItem("743294", 2, "Mapping gut microbes, revised", "Kaur, M., Shukla, A.",
                      date(2019, 9, 30))
    feed_server.serve("/biorxiv/bioinformatics", biorxiv_rss([v2]))
    second = (await h.poll(force=True))["bioinformatics"]
    assert (second.new, second.updated) == (0, 1)
    assert await h.store.count_papers() == 1
    paper = await h.store.get_paper("doi:10.1101/743294")
    assert paper is not None
    assert (paper.doi, paper.version, paper.title) == ("10.1101/743294", 2, "Mapping gut microbes, revised")
    assert await h.store.paper_updates("doi:10.1101/743294") == [("version", "v1", "v2")]


# ---------------------------------------------------------------- 7. nothing dropped silently


def _with_unparseable_item(listing: bytes) -> bytes:
    broken = (b"    <item>\n      <title>An item whose id is garbled</title>\n"
              b"      <link>https://arxiv.org/abs/not-an-id</link>\n"
              b"      <description>arXiv:garbled Announce Type: new \nAbstract: x</description>\n"
              b'      <guid isPermaLink="false">oai:arXiv.org:garbled</guid>\n    </item>\n')
    return listing.replace(b"  </channel>", broken + b"  </channel>")


async def test_fetch_counts_items_skipped_for_an_unparseable_id(feed_server: FeedServer,
                                                                tmp_path: Path) -> None:
    listing = arxiv_rss("cs.CV", date(2026, 8, 20), [Item("2608.30001", "Fine", categories=["cs.CV"])])
    url = feed_server.serve("/rss/cs.CV", _with_unparseable_item(listing))
    config = write_config(tmp_path / "config.toml", [url])
    fetched = await run(["--config", str(config), "fetch", "--json"], tmp_path)
    assert fetched.code == 0, fetched.err
    summary = json.loads(fetched.out)[0]
    assert (summary["items"], summary["new"], summary["skipped"]) == (1, 1, 1)
    text_dir = tmp_path / "text"
    text_dir.mkdir()
    config = write_config(text_dir / "config.toml", [url])
    shown = await run(["--config", str(config), "fetch"], text_dir)
    line = " ".join(shown.out.split())  # the console wraps long lines
    assert "1 new" in line and "1 skipped (no usable id)" in line


async def test_one_invalid_utf8_byte_does_not_reject_a_listing(harness, feed_server: FeedServer,
                                                               real_fixture, caplog) -> None:
    body = real_fixture(CL)
    at = body.index(b"LongNovel")
    feed_server.serve("/rss/cs.CL", body[:at] + b"\xe9" + body[at:])
    h: Harness = await harness({"/rss/cs.CL": {}})
    outcome = (await h.poll())["cs.CL"]
    assert outcome.status == "new" and outcome.items == 141
    assert outcome.notes == ["1 invalid UTF-8 byte(s) replaced with U+FFFD"]
    assert outcome.as_dict()["notes"] == outcome.notes
    assert "invalid UTF-8" in caplog.text
    paper = await h.store.get_paper("2608.18082")
    assert paper is not None and paper.title.startswith("\ufffdLongNovel")


async def test_an_empty_arxiv_api_answer_is_not_a_weekend(feed_server: FeedServer, tmp_path: Path,
                                                          real_fixture) -> None:
    no_results = real_fixture("arxiv_api_NEWformat_id_list_nonexistent_2025-11-11.xml")
    url = feed_server.serve("/api/query", no_results, content_type="application/atom+xml")
    config = write_config(tmp_path / "config.toml", [url])
    fetched = await run(["--config", str(config), "fetch"], tmp_path)
    assert fetched.code == 0, fetched.err
    assert "weekend" not in fetched.out and "holiday" not in fetched.out
    assert "no results" in fetched.out


async def test_a_feed_whose_items_all_lack_ids_fails_clearly(harness, feed_server: FeedServer) -> None:
    empty_listing = arxiv_rss("cs.CV", date(2026, 8, 20), [])
    feed_server.serve("/rss/cs.CV", _with_unparseable_item(empty_listing))
    h: Harness = await harness({"/rss/cs.CV": {}})
    outcome = (await h.poll())["cs.CV"]
    assert outcome.status == "failed"
    assert "none of its 1 items has a usable id" in (outcome.error or "")


async def test_a_subscription_to_a_category_hears_of_a_paper_hugging_face_showed_first(
    world: World,
) -> None:
    """End to end through /subscribe and a DM: HF shows the paper on Monday (no category);
    arXiv cross-lists it into cs.AI on Thursday; the cs.AI subscriber gets it then."""
    world.serve_feed("/api/daily_papers", hf_body(_hf_overlapping_cl()), content_type="application/json")
    world.serve_feed("/rss/cs.AI", arxiv_rss("cs.AI", date(2026, 8, 21), []))  # nothing yet
    async with world.run_bot() as bot:
        subscribed = await world.fake.invoke(world.member, world.guild, world.channel, "subscribe",
                                             options={"category": "cs.ai"})
        assert "Subscribed" in subscribed.all_text()
        await bot.poll_feeds()
        assert world.fake.dm_messages(world.member) == []  # HF gives no category to match
        world.feeds.serve("/rss/cs.AI", _cross_into_ai())
        await bot.poll_feeds(force=True)
        [dm] = world.fake.dm_messages(world.member)
        body = dm.embeds[0]["description"]
        assert "2608.18082" in body and "2608.20001" in body
