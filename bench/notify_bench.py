"""Matching a day's ingestion to 100,000 subscriptions, end to end on a real store.

The same papers and subscriptions as bench/match_bench.py (2,000 papers built
from the real feeds; 100,000 subscriptions: queries, categories, authors, one per
user), stored in a real SQLite file. Timed: ReaderService.match_new_papers as the
bot runs it after a batch (load + compile subscriptions, match in a worker thread,
fold per user, queue the DM rows), a second batch with the compiled subscriptions
cached, and the longest event-loop stall meanwhile.

    python bench/notify_bench.py [--subscriptions 100000] [--papers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bench.match_bench import build_papers, build_subscriptions
from bot.config import parse_settings
from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
from bot.notify import ReaderService
from bot.store import Store


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.001)
        stalls.append(loop.time() - before - 0.001)


async def main(subscription_count: int, paper_count: int) -> None:
    corpus = Corpus()
    texts = build_papers(corpus, paper_count)
    subs = build_subscriptions(corpus, subscription_count, 33_000)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store(Path(tmp) / "notify.db").open()
        feed = await store.upsert_feed("https://rss.arxiv.org/rss/bench", kind=FeedKind.ARXIV_RSS, name="b")
        records = [
            PaperRecord(key=f"2605.{i:05d}", arxiv_id=f"2605.{i:05d}", title=t.title, abstract=t.abstract,
                        authors=list(t.authors), categories=list(t.categories), source=FeedKind.ARXIV_RSS,
                        announce_type=AnnounceType.NEW, announced=date(2026, 5, 12),
                        code_url="https://github.com/x/y" if t.has_code else None)
            for i, t in enumerate(texts)
        ]
        parsed = ParsedFeed(FeedKind.ARXIV_RSS, records, feed_date=date(2026, 5, 12))
        result = await store.record_feed_batch(
            feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed, fingerprint=parsed.fingerprint(),
            etag=None, last_modified=None, fresh_until=None, kind=FeedKind.ARXIV_RSS)
        started = time.perf_counter()
        now = datetime.now(UTC)
        # One user per subscription (the worst case for the queue), written in bulk: the bot's
        # add_subscription is one transaction per user command, far too slow for 100,000 here.
        async with store.transaction() as db:
            await db.executemany(
                "INSERT INTO subscriptions (id, user_id, kind, value, created_at) VALUES (?, ?, ?, ?, ?)",
                [(s.id, s.id, s.kind, s.value, now.isoformat()) for s in subs])
        print(f"{len(result.new_paper_ids):,} papers and {len(subs):,} subscriptions stored "
              f"({time.perf_counter() - started:.0f} s to store the subscriptions)")

        # The bench's own inputs (100,000 subscription objects, the corpus) are no part of a bot:
        # dropped, so the collector's full passes walk what the notify step keeps, not them.
        new_paper_ids = result.new_paper_ids
        del corpus, texts, subs, records, parsed, result
        gc.collect()
        settings = parse_settings({"readers": {"dm_max_papers": 20}})
        bot = SimpleNamespace(store=store, settings=settings, clock=lambda: datetime.now(UTC))
        service = ReaderService(bot)  # type: ignore[arg-type]
        for label in ("first batch (compile + match + queue)", "second batch (compiled, cached)"):
            stalls: list[float] = []
            stop = asyncio.Event()
            tick = asyncio.create_task(ticker(stalls, stop))
            started = time.perf_counter()
            queued = await service.match_new_papers(new_paper_ids)
            elapsed = time.perf_counter() - started
            stop.set()
            await tick
            print(f"  {label:40s} {elapsed:6.2f} s, {queued:,} DM rows queued,"
                  f" longest loop stall {max(stalls) * 1000:.0f} ms")
        users = await store.users_with_queued_dms()
        print(f"  users with a DM waiting: {len(users):,}")
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(main(args.subscriptions, args.papers))
