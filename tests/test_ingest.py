"""Ingestion end to end: real captured feeds served over loopback HTTP into a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.fetch import Fetcher
from bot.ingest import Ingestor, backoff_delay
from bot.search import parse_query
from bot.store import Store
from tests.feedserver import FeedServer

CL = "arxiv_rss_cs.CL_2026-08-20_141items.xml"
HOLIDAY = "arxiv_rss_cs.LG_EMPTY_holiday_2025-11-28.xml"
HF = "hf_daily_papers_2026-08-21_indent2.json"


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Harness:
    ingestor: Ingestor
    store: Store
    clock: FakeClock
    server: FeedServer

    async def poll(self, *, force: bool = False):
        outcomes = await self.ingestor.poll_all(force=force)
        return {o.feed.url.rsplit("/", 1)[-1]: o for o in outcomes}


@pytest.fixture
async def harness(feed_server: FeedServer, make_settings: Callable[..., Settings],
                  tmp_path) -> AsyncIterator[Callable[..., Harness]]:
    opened: list[tuple[Store, object]] = []

    async def build(feeds: dict[str, dict], **sections: dict) -> Harness:
        settings = make_settings(
            feeds=[{"url": feed_server.url(path), **options} for path, options in feeds.items()],
            **sections,
        )
        clock = FakeClock(datetime.now(UTC))
        store = await Store(settings.database.path, clock=clock).open()
        session = Fetcher.make_session(settings)
        opened.append((store, session))
        ingestor = Ingestor(store, Fetcher(session, settings, clock=clock), settings, clock=clock)
        await ingestor.sync_feeds()
        return Harness(ingestor, store, clock, feed_server)

    yield build  # type: ignore[misc]
    for store, session in opened:
        await session.close()  # type: ignore[attr-defined]
        await store.close()


async def test_a_real_listing_is_stored_then_revalidated_with_304(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.CL", fixture=CL)
    h = await harness({"/rss/cs.CL": {}})
    first = (await h.poll())["cs.CL"]
    assert first.status == "new"
    assert first.items == 141
    assert first.new == 72 + 27  # new and cross-listed papers
    # replacements of papers a fresh store never had: stored as older papers, neither news
    # nor "updated" (issue 8, item 7)
    assert first.older == 27 + 15
    assert first.updated == 0 and first.unchanged == 0
    assert str(first.feed.kind) == "arxiv-rss"  # detected from the content
    assert await h.store.count_papers() == 141

    second = (await h.poll(force=True))["cs.CL"]
    assert second.status == "not-modified"
    assert feed_server.hits("/rss/cs.CL")[1].headers.get("If-None-Match")
    assert await h.store.count_papers() == 141


async def test_fetch_then_search_finds_a_real_paper(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.CL", fixture=CL)
    h = await harness({"/rss/cs.CL": {}})
    await h.poll()
    hits = await h.store.search(parse_query("hallucination detection long novel summarization"))
    assert hits[0].paper.key == "2608.18082"
    assert hits[0].paper.title.startswith("LongNovel: A Multi-Scale Benchmark")


async def test_an_identical_batch_is_stale_not_new(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.CL", fixture=CL, etag=False)  # a server without validators
    h = await harness({"/rss/cs.CL": {}})
    assert (await h.poll())["cs.CL"].status == "new"
    again = (await h.poll(force=True))["cs.CL"]
    assert again.status == "stale"
    assert again.new == 0


async def test_empty_holiday_feed_is_normal(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.LG", fixture=HOLIDAY)
    h = await harness({"/rss/cs.LG": {}})
    outcome = (await h.poll())["cs.LG"]
    assert outcome.status == "empty"
    assert outcome.ok
    assert outcome.feed_date is not None and outcome.feed_date.isoformat() == "2025-11-28"
    assert not outcome.feed.failing and outcome.feed.consecutive_failures == 0


async def test_error_bodies_are_feed_errors_and_other_feeds_carry_on(harness, feed_server: FeedServer,
                                                                    real_fixture) -> None:
    feed_server.serve("/api/html", fixture="arxiv_api_error_503_2026-01-08.html", content_type="text/html")
    feed_server.serve("/api/rate", fixture="arxiv_api_error_rate_exceeded_2026-01-08.txt",
                      content_type="text/plain")
    feed_server.serve("/rss/cs.CL", fixture=CL)
    h = await harness({"/api/html": {"kind": "arxiv-api"}, "/api/rate": {}, "/rss/cs.CL": {}})
    outcomes = await h.poll()
    assert outcomes["html"].status == "failed"
    assert "not a valid feed" in (outcomes["html"].error or "")
    assert outcomes["rate"].status == "failed"
    assert "Rate exceeded" in (outcomes["rate"].error or "")
    assert outcomes["cs.CL"].status == "new"
    assert await h.store.count_papers() == 141


async def test_retry_after_and_exponential_backoff_then_failing(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/flaky", fixture=CL)
    feed_server.fail_next("/rss/flaky", 503, headers={"Retry-After": "1800"}, times=1)
    feed_server.fail_next("/rss/flaky", 500, times=2)
    h = await harness({"/rss/flaky": {}})

    first = (await h.poll())["flaky"]
    assert first.status == "failed"
    assert first.next_attempt_at == h.clock.now + timedelta(seconds=1800)  # Retry-After beats 5 min

    # Before the next attempt time nothing is requested.
    h.clock.advance(minutes=10)
    waiting = (await h.poll())["flaky"]
    assert waiting.status == "backing-off"
    assert len(feed_server.hits("/rss/flaky")) == 1

    h.clock.advance(minutes=25)
    second = (await h.poll())["flaky"]
    assert second.status == "failed"
    assert second.next_attempt_at == h.clock.now + timedelta(minutes=10)  # 5 min x 2
    assert not second.feed.failing

    h.clock.advance(minutes=11)
    third = (await h.poll())["flaky"]
    assert third.next_attempt_at == h.clock.now + timedelta(minutes=20)
    assert third.feed.failing  # three in a row: marked failing, with the reason
    assert "HTTP 500" in (third.feed.last_error or "")

    h.clock.advance(minutes=21)
    recovered = (await h.poll())["flaky"]
    assert recovered.status == "new"
    assert not recovered.feed.failing and recovered.feed.consecutive_failures == 0


def test_backoff_is_capped(make_settings) -> None:
    settings = make_settings(polling={"backoff_base_minutes": 5, "backoff_max_minutes": 60})
    assert [backoff_delay(n, settings).total_seconds() / 60 for n in (1, 2, 3, 4, 5, 9)] == [
        5, 10, 20, 40, 60, 60]


async def test_cache_control_lifetime_is_honoured(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.CL", fixture=CL, headers={"Cache-Control": "max-age=7200"})
    h = await harness({"/rss/cs.CL": {}})
    await h.poll()
    h.clock.advance(minutes=30)
    cached = (await h.poll())["cs.CL"]
    assert cached.status == "cached"
    assert len(feed_server.hits("/rss/cs.CL")) == 1
    h.clock.advance(hours=2)
    assert (await h.poll())["cs.CL"].status == "not-modified"
    assert len(feed_server.hits("/rss/cs.CL")) == 2


@pytest.mark.parametrize("hf_first", [False, True], ids=["arxiv-then-hf", "hf-then-arxiv"])
async def test_hugging_face_signals_merge_into_the_arxiv_paper(harness, feed_server: FeedServer,
                                                               real_fixture, hf_first: bool) -> None:
    """A real HF item, its id pointed at a paper of the real cs.CL listing (the captures don't overlap).

    Whichever source arrives first, the result is one paper: arXiv's description, HF's signals.
    """
    items = json.loads(real_fixture(HF))
    item = next(i for i in items if i["paper"].get("githubRepo"))
    item["paper"]["id"] = "2608.18082"
    feed_server.serve("/rss/cs.CL", fixture=CL)
    feed_server.serve("/api/daily_papers", json.dumps([item]), content_type="application/json")
    h = await harness({"/rss/cs.CL": {}, "/api/daily_papers": {}})
    feeds = {f.url.rsplit("/", 1)[-1]: f for f in await h.store.list_feeds()}
    order = ["daily_papers", "cs.CL"] if hf_first else ["cs.CL", "daily_papers"]
    outcomes = {name: await h.ingestor.poll_feed(feeds[name]) for name in order}
    assert outcomes["daily_papers"].status == "new"
    # Hugging Face brings news of papers it is first to show; arXiv's listing announces the
    # paper in cs.CL whatever came first, so a digest or subscription following cs.CL hears
    # of it (issue 8, item 2).
    assert outcomes["daily_papers"].new == (1 if hf_first else 0)
    assert outcomes["cs.CL"].new == 72 + 27
    paper = await h.store.get_paper("2608.18082")
    assert paper is not None
    assert paper.title.startswith("LongNovel")  # arXiv stays the authority on the title
    assert paper.categories[0] == "cs.CL"
    assert paper.hf_upvotes == int(item["paper"]["upvotes"])
    assert paper.code_url == item["paper"]["githubRepo"]
    assert await h.store.count_papers() == 141


async def test_new_paper_listeners_hear_about_new_papers_only(harness, feed_server: FeedServer) -> None:
    feed_server.serve("/rss/cs.CL", fixture=CL, etag=False)
    h = await harness({"/rss/cs.CL": {}})
    heard: list[list[int]] = []

    async def listener(ids: list[int]) -> None:
        heard.append(ids)

    h.ingestor.on_new_papers(listener)
    await h.poll()
    await h.poll(force=True)  # stale: nothing new
    assert len(heard) == 1
    assert len(heard[0]) == 99
