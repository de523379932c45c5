"""Fan-out: many digests due at the same minute, against the fake Discord's real limits.

N channels each get a digest of P papers (the real cs.CL listing), all due at
once. The fake enforces Discord's global limit (50 requests/s) and per-channel
buckets (5 messages per 5 s). Reported: wall time, requests, 429s (global and
per route), and whether every message arrived exactly once. Run with the shared
pacer at its default (45/s) and, for comparison, effectively off.

    python bench/fanout_bench.py [--channels 100] [--papers 3] [--pace 45 --pace 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.digest.model import DigestConfig
from tests.botharness import make_world
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer

CL = "arxiv_rss_cs.CL_2026-08-20_141items.xml"


async def one(channels: int, papers: int, pace: float) -> None:
    fake = FakeDiscord()
    await fake.start()
    feeds = await FeedServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        world = make_world(fake, feeds, Path(tmp))
        world.serve_feed("/rss/cs.CL", fixture=CL)
        targets = [fake.create_channel(world.guild, f"lab-{i}") for i in range(channels)]
        async with world.run_bot() as bot:
            bot.pacer.interval = 1 / pace  # past the config's 50/s cap, to show what pacing prevents
            await bot.poll_feeds()
            now = datetime.now(UTC)
            due = (now + timedelta(seconds=5)).strftime("%H:%M:%S")
            for channel in targets:
                config = await bot.store.add_digest(DigestConfig(
                    guild_id=world.guild.id, channel_id=channel.id, categories=["cs.CL"], post_time=due,
                    timezone="UTC", max_papers=papers), now=now)
                bot.digests.schedule(config)
            requests_before = len(fake.requests)
            await fake.wait_until(lambda: any(r.method == "POST" and "/messages" in r.path
                                              for r in fake.requests[requests_before:]), timeout=30)
            started = time.monotonic()
            expected = papers + 2  # overview, cards, "more"
            done = 0
            while time.monotonic() - started < 900:
                runs = await bot.store.latest_runs(list(range(1, channels + 1)))
                done = sum(1 for r in runs.values() if r.status != "posting")
                if done == channels:
                    break
                await asyncio.sleep(0.2)
            elapsed = time.monotonic() - started
            delivered = Counter()
            for channel in targets:
                overview = [m for m in fake.messages(channel) if m.thread_id]
                thread = fake.messages(overview[0].thread_id) if overview else []
                delivered[len(overview) + len(thread)] += 1
        hits = Counter("global" if h.is_global else "route" for h in fake.rate_limit_hits)
        sent = len(fake.requests) - requests_before
        print(f"pace {pace:>6.0f}/s  {channels} digests x {papers} papers: {elapsed:6.1f} s,"
              f" {sent} requests ({sent / elapsed:.1f}/s), 429s global {hits['global']},"
              f" per-route {hits['route']}; finished {done}/{channels};"
              f" complete digests {delivered[expected]}/{channels}")
    await feeds.stop()
    await fake.stop()


async def main(channels: int, papers: int, paces: list[float]) -> None:
    for pace in paces:
        await one(channels, papers, pace)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--papers", type=int, default=3)
    parser.add_argument("--pace", type=float, action="append")
    args = parser.parse_args()
    asyncio.run(main(args.channels, args.papers, args.pace or [45.0]))
