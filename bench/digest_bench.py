"""A digest's candidate query on a large store (the no-repeat check included).

Builds a store of N papers announced day by day in two arXiv category feeds (every
paper new in one, about a third cross-listed in the other) plus a Hugging Face day of
50 papers per day, then times `digest_candidates` for the last day of a digest that
follows two categories with cross-lists and Hugging Face (the widest query).

    python bench/digest_bench.py [--papers 100000] [--per-day 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bot.digest.model import DigestConfig
from bot.models import AnnounceType, FeedKind, ParsedFeed
from bot.store import Store


async def main(papers: int, per_day: int, runs: int) -> None:
    corpus = Corpus()
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store(Path(tmp) / "bench.db").open()
        lg = await store.upsert_feed("https://rss.arxiv.org/rss/cs.LG", kind=FeedKind.ARXIV_RSS, name=None)
        ai = await store.upsert_feed("https://rss.arxiv.org/rss/cs.AI", kind=FeedKind.ARXIV_RSS, name=None)
        hf = await store.upsert_feed("https://huggingface.co/api/daily_papers", kind=FeedKind.HF_DAILY,
                                     name=None)
        started = time.perf_counter()
        cursor = 0
        last_day = date.min
        for day, records in corpus.days(papers, per_day, date(2026, 1, 5)):
            cursor = await store.max_sighting_id()
            last_day = day
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            crossed = [replace(r, announce_type=AnnounceType.CROSS) for r in records[::3]]
            daily = [replace(r, source=FeedKind.HF_DAILY, announce_type=None, hf_date=day, hf_upvotes=n)
                     for n, r in enumerate(records[:50])]
            for feed, batch, kind in ((lg, records, FeedKind.ARXIV_RSS), (ai, crossed, FeedKind.ARXIV_RSS),
                                      (hf, daily, FeedKind.HF_DAILY)):
                parsed = ParsedFeed(kind=kind, papers=batch, feed_date=day)
                await store.record_feed_batch(
                    feed.id, at=at, outcome="new", parsed=parsed, fingerprint=parsed.fingerprint(),
                    etag=None, last_modified=None, fresh_until=None, kind=kind)
        built = time.perf_counter() - started
        categories = sorted({c for _, rs in corpus.days(per_day, per_day, date(2026, 1, 5))
                             for r in rs for c in r.categories})[:2]
        config = DigestConfig(guild_id=1, channel_id=2, categories=categories, post_time="09:00",
                              timezone="UTC", include_hf=True, cross_lists=True)
        up_to = await store.max_sighting_id()
        times = []
        found = 0
        for _ in range(runs):
            t = time.perf_counter()
            found = len(await store.digest_candidates(config, after=cursor, up_to=up_to,
                                                      hf_feed_ids=[hf.id]))
            times.append(time.perf_counter() - t)
        sightings = up_to
        await store.close()
    print(f"store: {papers:,} papers, {sightings:,} sightings, built in {built:.1f} s")
    print(f"digest_candidates for {last_day} ({', '.join(categories)} + cross-lists + HF): "
          f"{found} candidates, median {statistics.median(times) * 1000:.1f} ms "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}) over {runs} runs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.papers, args.per_day, args.runs))
