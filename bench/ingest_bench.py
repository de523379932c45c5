"""Ingesting the largest real listing: wall time per stage, and the longest event-loop stall.

The 1,101-item cs.LG listing of 12 May 2026 (2.2 MB) is served over loopback
HTTP and ingested into a fresh SQLite file, exactly as the bot does it, while a
ticker task measures how late the event loop runs it (what Discord's gateway
heartbeat and interactions would feel).

    python bench/ingest_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import parse_settings
from bot.fetch import Fetcher
from bot.ingest import Ingestor
from bot.store import Store
from tests.feedserver import FeedServer

LISTING = "arxiv_rss_cs.LG_2026-05-12_1101items.xml"
TICK = 0.001


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    """Sleeps 1 ms at a time; any extra delay is time the loop was blocked."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(TICK)
        stalls.append(loop.time() - before - TICK)


async def one_run(server: FeedServer, workdir: Path, index: int) -> dict[str, float]:
    url = server.serve(f"/rss/cs.LG-{index}", fixture=LISTING)
    settings = parse_settings({
        "database": {"path": str(workdir / f"bench-{index}.db")},
        "feeds": [{"url": url}],
    })
    store = await Store(settings.database.path).open()
    session = Fetcher.make_session(settings)
    ingestor = Ingestor(store, Fetcher(session, settings), settings)
    await ingestor.sync_feeds()
    stalls: list[float] = []
    stop = asyncio.Event()
    tick_task = asyncio.create_task(ticker(stalls, stop))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    [outcome] = await ingestor.poll_all()
    total = time.perf_counter() - started
    stop.set()
    await tick_task
    await session.close()
    await store.close()
    assert outcome.status == "new" and outcome.items == 1101, outcome
    return {
        "total": total,
        "fetch": outcome.fetch_seconds,
        "parse": outcome.parse_seconds,
        "store": outcome.store_seconds,
        "max_stall": max(stalls),
        "p99_stall": sorted(stalls)[int(len(stalls) * 0.99)],
    }


def serve_in_thread() -> tuple[FeedServer, asyncio.AbstractEventLoop]:
    """The feed server gets its own thread and loop, so its work is not counted as our stall."""
    loop = asyncio.new_event_loop()
    server = FeedServer()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return server, loop


async def main(runs: int) -> None:
    server, server_loop = serve_in_thread()
    with tempfile.TemporaryDirectory() as tmp:
        results = [await one_run(server, Path(tmp), i) for i in range(runs)]
    asyncio.run_coroutine_threadsafe(server.stop(), server_loop).result()
    server_loop.call_soon_threadsafe(server_loop.stop)
    print(f"ingest of {LISTING} (1,101 items, 2.2 MB), {runs} runs, fresh database each run;"
          f" {1101 / statistics.median(r['total'] for r in results):,.0f} papers/s end to end (median)")
    for key in ("total", "fetch", "parse", "store", "max_stall", "p99_stall"):
        values = [r[key] * 1000 for r in results]
        print(f"  {key:10s} median {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
