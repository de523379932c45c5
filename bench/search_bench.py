"""/search latency on a large store, and ingest throughput while building it.

Builds a store of N papers (default 100,000) in daily batches of 2,000 through
the same `record_feed_batch` path the bot uses, then times the search engine on
known-item queries (a title fragment of a stored paper), short topical queries,
one very common word, author filters, category and date filters, and hostile text.

    python bench/search_bench.py [--papers 100000] [--db PATH] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bot.models import FeedKind, ParsedFeed
from bot.search import parse_query
from bot.store import Store


async def build(store: Store, corpus: Corpus, papers: int) -> tuple[float, list]:
    feed = await store.upsert_feed("https://rss.arxiv.org/rss/bench", kind=FeedKind.ARXIV_RSS, name="bench")
    kept = []
    started = time.perf_counter()
    for day, batch in corpus.days(papers, 2000, date(2024, 1, 1)):
        parsed = ParsedFeed(kind=FeedKind.ARXIV_RSS, papers=batch, feed_date=day)
        await store.record_feed_batch(
            feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed,
            fingerprint=parsed.fingerprint(), etag=None, last_modified=None, fresh_until=None,
            kind=FeedKind.ARXIV_RSS,
        )
        kept += corpus.rng.sample(batch, 3)
    return time.perf_counter() - started, kept


async def timed(store: Store, text: str, **options) -> tuple[float, list]:
    query = parse_query(text, **options)
    started = time.perf_counter()
    hits = await store.search(query, limit=50)
    return time.perf_counter() - started, hits


def report(name: str, seconds: list[float], extra: str = "") -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"  {name:34s} n={len(ms):4d}  p50 {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms"
          f"  max {ms[-1]:7.1f} ms {extra}")


async def main(papers: int, db: Path, queries: int) -> None:
    corpus = Corpus()
    fresh = not db.exists()
    store = await Store(db).open()
    if fresh:
        seconds, kept = await build(store, corpus, papers)
        print(f"built {papers:,} papers in {seconds:.1f} s ({papers / seconds:,.0f} papers/s), "
              f"database {db.stat().st_size / 1e6:.0f} MB")
    else:
        print(f"reusing {db} ({await store.count_papers():,} papers)")
        hits = await store.search(parse_query("", category="cs"), limit=600)
        kept = [h.paper for h in hits]
    rng = corpus.rng
    sample = rng.sample(kept, min(queries, len(kept)))

    known, rank1 = [], 0
    for paper in sample:
        words = paper.title.split()
        start = rng.randint(0, max(0, len(words) - 4))
        seconds, hits = await timed(store, " ".join(words[start:start + 4]))
        known.append(seconds)
        rank1 += bool(hits) and hits[0].paper.key == paper.key
    report("known item (4 title words)", known, f"rank-1 {rank1}/{len(sample)}")

    topical = [(await timed(store, " ".join(corpus.words(rng.randint(2, 3)))))[0] for _ in range(queries)]
    report("2-3 random words (frequency-weighted)", topical)

    common = corpus.vocabulary[0]
    report(f"one very common word ({common!r})", [(await timed(store, common))[0] for _ in range(10)])
    authors = [(await timed(store, "", author=rng.choice(corpus.authors)))[0] for _ in range(queries // 2)]
    report("author only", authors)
    filtered = [
        (await timed(store, " ".join(corpus.words(2)), category=rng.choice(corpus.categories),
                     since_days=30, has_code=True))[0]
        for _ in range(queries // 2)
    ]
    report("2 words + category + since + code", filtered)
    hostile = ['"unbalanced', "NEAR( a b", "*", "🦜 AND OR -", "x" * 10_000, "a " * 5_000]
    report("hostile text", [(await timed(store, t))[0] for t in hostile])
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/paperbot-bench-search.db"))
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.papers, args.db, args.queries))
