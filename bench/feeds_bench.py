"""Server feeds: what the SSRF guard costs per fetch, and one server's slow feeds vs another's.

1. The same small feed fetched over loopback N times as a configured (trusted) feed, through
   the shared session, and as a feed added from Discord, through the guard (its own pool and
   a resolver that checks every address; 127.0.0.1 allowed for the bench only).
2. Server A follows 20 feeds that answer after 5 s; server B follows one that answers at once.
   One poll round: when B's live post could go out (its poll's end) vs the round's end.

    python bench/feeds_bench.py [--fetches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import parse_settings
from bot.fetch import Fetcher
from bot.ingest import FeedOutcome, Ingestor
from bot.store import Store
from tests.feedserver import FeedServer

RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>'
       + "".join(f"<item><title>t{n}</title><link>https://b.example/{n}</link></item>" for n in range(20))
       + "</channel></rss>")


async def guard_cost(server: FeedServer, fetches: int) -> None:
    settings = parse_settings({"http": {"allowed_private_networks": ["127.0.0.1/32"]}, "feeds": []})
    session = Fetcher.make_session(settings)
    fetcher = Fetcher(session, settings)
    url = server.serve("/small.xml", RSS, etag=False)
    try:
        for label, public_only in (("trusted (shared pool)", False), ("from Discord (guarded)", True)):
            times = []
            for _ in range(fetches):
                started = time.perf_counter()
                await fetcher.get(url, public_only=public_only)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            print(f"{label:24} median {statistics.median(times):5.2f} ms  "
                  f"p95 {times[int(len(times) * 0.95)]:5.2f} ms")
    finally:
        await session.close()


async def isolation(server: FeedServer, directory: Path) -> None:
    settings = parse_settings({"http": {"allowed_private_networks": ["127.0.0.1/32"]}, "feeds": [],
                               "database": {"path": str(directory / "b.db")}})
    store = await Store(directory / "b.db", index_dir=directory / "idx").open()
    session = Fetcher.make_session(settings)
    ingestor = Ingestor(store, Fetcher(session, settings), settings)
    for n in range(20):
        await store.upsert_feed(server.serve(f"/slow{n}.xml", RSS.replace("<title>B", f"<title>S{n}"),
                                             delay=5.0), kind=None, name=None, origin="admin")
    await store.upsert_feed(server.serve("/fast.xml", RSS), kind=None, name=None, origin="admin")
    finished: dict[str, float] = {}
    started = time.perf_counter()

    async def polled(outcome: FeedOutcome) -> None:
        finished[outcome.feed.url.rsplit("/", 1)[-1]] = time.perf_counter() - started

    ingestor.on_feed_polled(polled)
    try:
        await ingestor.poll_all(force=True)
        total = time.perf_counter() - started
        slow = max(v for k, v in finished.items() if k.startswith("slow"))
        print(f"server B's feed polled after {finished['fast.xml'] * 1000:.0f} ms; "
              f"server A's 20 slow feeds after {slow:.2f} s; round {total:.2f} s")
    finally:
        await session.close()
        await store.close()


async def main(fetches: int) -> None:
    server = await FeedServer().start()
    try:
        await guard_cost(server, fetches)
        with tempfile.TemporaryDirectory() as directory:
            await isolation(server, Path(directory))
    finally:
        await server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetches", type=int, default=200)
    asyncio.run(main(parser.parse_args().fetches))
