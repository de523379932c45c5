"""The two store backends side by side on the same data: ingest, search, digest fan-out.

For SQLite (a file) and PostgreSQL (a throwaway local server started like the tests' one: as an
unprivileged user, with fsync and synchronous_commit off, so its write figures are an upper
bound; SQLite runs with paperbot's own WAL settings), the same synthetic corpus (bench/corpus.py) is
ingested in daily listings through `record_feed_batch`, exactly as the poller writes them:

- ingest: papers per second over all batches (merge, write, change log);
- search: the derived index caught up from the store, then queries through `Store.search`
  (engine ids, then rows by id from the store): p50 / p95 latency;
- digest fan-out: D digests in as many servers claim today's run and select their candidates
  at the same time (what the posting processes do at a busy minute): total wall time.

    python bench/scale_bench.py [--papers 20000] [--per-day 2000] [--digests 200] [--queries 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bot.digest.model import DigestConfig
from bot.models import FeedKind, ParsedFeed
from bot.search.query import parse_query
from bot.store import Store
from tests.pgserver import PgServer

AT = datetime(2026, 6, 1, tzinfo=UTC)


async def run_backend(name: str, target: str, workdir: Path, args: argparse.Namespace) -> dict[str, float]:
    corpus = Corpus(seed=7)
    store = await Store(target, index_dir=workdir / f"{name}.search").open()
    try:
        feed = await store.upsert_feed("https://rss.arxiv.org/rss/cs.LG", kind=FeedKind.ARXIV_RSS, name="LG")
        started = time.perf_counter()
        for day, papers in corpus.days(args.papers, args.per_day, date(2026, 1, 5)):
            parsed = ParsedFeed(kind=FeedKind.ARXIV_RSS, papers=papers, feed_date=day)
            await store.record_feed_batch(
                feed.id, at=AT, outcome="new", parsed=parsed, fingerprint=f"{name}-{day}", etag=None,
                last_modified=None, fresh_until=None, kind=FeedKind.ARXIV_RSS,
            )
        ingest = time.perf_counter() - started

        started = time.perf_counter()
        await store.search_service.catch_up()
        catch_up = time.perf_counter() - started

        queries = [" ".join(corpus.words(n)) for n in ([1, 2, 3] * (args.queries // 3 + 1))][:args.queries]
        latencies = []
        for text in queries:
            t0 = time.perf_counter()
            await store.search(parse_query(text), limit=10)
            latencies.append(time.perf_counter() - t0)
        latencies.sort()

        configs = []
        for i in range(args.digests):
            configs.append(await store.add_digest(DigestConfig(
                guild_id=(5000 + i) << 22, channel_id=i + 1, categories=[corpus.categories[i % 5]],
                post_time="09:00", timezone="UTC", max_papers=10), now=AT))
        up_to = await store.max_sighting_id()

        async def one(config: DigestConfig) -> int:
            _run, _ = await store.claim_run(config.id or 0, AT.date(), trigger="schedule", now=AT)
            found = await store.digest_candidates(config, after=0, up_to=up_to, hf_feed_ids=[],
                                                  latest_day_only=True)
            return len(found)

        started = time.perf_counter()
        counts = await asyncio.gather(*(one(c) for c in configs))
        fanout = time.perf_counter() - started
        return {
            "papers": await store.count_papers(),
            "ingest_papers_per_s": args.papers / ingest,
            "index_catch_up_s": catch_up,
            "search_p50_ms": statistics.median(latencies) * 1000,
            "search_p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
            "fanout_s": fanout,
            "fanout_candidates": sum(counts),
        }
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=20000)
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--digests", type=int, default=200)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    server = PgServer()
    if not server.available:
        raise SystemExit("PostgreSQL is not installed (initdb/pg_ctl): apt-get install -y postgresql")
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            results = {
                "SQLite": await run_backend("sqlite", str(workdir / "bench.db"), workdir, args),
                "PostgreSQL": await run_backend("postgres", await server.empty_database(), workdir, args),
            }
    finally:
        server.stop()
    keys = list(next(iter(results.values())))
    print(f"{'':22}" + "".join(f"{name:>14}" for name in results))
    for key in keys:
        print(f"{key:22}" + "".join(f"{r[key]:>14,.1f}" for r in results.values()))


if __name__ == "__main__":
    asyncio.run(main())
