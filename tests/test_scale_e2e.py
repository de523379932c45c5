"""Two `paperbot run` processes (shards 0 and 1 of 2) on one PostgreSQL database, against the fake
Discord and loopback feeds, killed with SIGKILL at random points and restarted, round after round.

What a user would notice, checked after every round: each digest posted exactly once (one
overview, its cards never repeated), feeds polled by one process (every poll is the poller's
first after it took the lock), a dead poller replaced well within `interval_minutes` + 60 s, and a
bookmark made through one process listed through the other.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cluster import HEARTBEAT_SECONDS
from bot.digest.model import BOOKMARK_EMOJI, RunStatus
from bot.store import Store
from tests.botharness import bot_settings, register_commands
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.test_cli import paperbot_command
from tests.test_digests import CL, MESSAGES, paper_key, soon

pytestmark = pytest.mark.timeout(900)

ROUNDS = int(os.environ.get("PAPERBOT_SCALE_ROUNDS", "10"))
MAX_PAPERS = 3


class Process:
    """One `paperbot run` with its own config (shard, search index) and a log file."""

    def __init__(self, index: int, config: Path, log: Path):
        self.index = index
        self.config = config
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, token: str) -> None:
        env = {**os.environ, "DISCORD_TOKEN": token, "PAPERBOT_CONFIG": str(self.config)}
        env.pop("PAPERBOT_DATABASE_URL", None)
        self.starts += 1
        handle = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *paperbot_command(), "run", env=env, cwd=self.config.parent,
            stdout=asyncio.subprocess.DEVNULL, stderr=handle,
        )
        handle.close()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.proc = None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


def _config(path: Path, fake: FakeDiscord, url: str, feed: str, shard: int) -> Path:
    path.write_text(
        "[database]\n"
        f'url = "{url}"\n'
        f'search_index_dir = "{path.parent / f"index{shard}"}"\n'
        "[discord]\n"
        f'api_base_url = "{fake.api_base_url}"\ngateway_url = "{fake.gateway_url}"\n'
        f"guild_ready_timeout = 0.1\nshard_count = 2\nshard_ids = [{shard}]\n"
        "[polling]\ninterval_minutes = 60\n"
        "[logging]\nlevel = \"INFO\"\n"
        f'[[feeds]]\nurl = "{feed}"\n'
    )
    return path


async def _poller_pid(store: Store, since: datetime | None = None) -> int | None:
    """The pid of the process whose latest heartbeat (after `since`) says it polls."""
    polling = [p for p in await store.list_processes()
               if p.polling and (since is None or p.last_heartbeat > since)]
    return max(polling, key=lambda p: p.last_heartbeat).pid if polling else None


async def test_two_shard_processes_killed_at_random_points_post_every_digest_once(
    fake_discord: FakeDiscord, feed_server: FeedServer, pg_url: str, tmp_path: Path
) -> None:
    fake = fake_discord
    rng = random.Random(10)
    feed = feed_server.serve("/rss/cs.CL", fixture=CL)
    fake.rate_limits.set_route(MESSAGES, 5, 0.2)
    fake.rate_limits.set_route(
        "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", 5, 0.2)

    admin = fake.create_user("alice")
    reader = fake.create_user("bob")
    guilds, channels = [], []
    for shard in (0, 1):
        guild = fake.create_guild(f"Shard {shard}", owner=admin, id=(1000 + shard) << 22)
        assert (guild.id >> 22) % 2 == shard
        fake.add_member(guild, admin, admin=True)
        fake.add_member(guild, reader)
        guilds.append(guild)
        channels.append(fake.create_channel(guild, "papers"))

    # Register the commands as `paperbot sync` would.
    await register_commands(fake, bot_settings(fake, tmp_path))

    processes = [
        Process(i, _config(tmp_path / f"p{i}" / "config.toml", fake, pg_url, feed, i),
                tmp_path / f"p{i}.log")
        for i in (0, 1)
        if (tmp_path / f"p{i}").mkdir() is None
    ]
    observer = await Store(pg_url, index_dir=tmp_path / "observer", search_catch_up=False).open()
    loop = asyncio.get_running_loop()
    failovers: list[float] = []
    digests: list[tuple[int, int]] = []  # (guild index, digest id)

    async def both_connected() -> None:
        await fake.wait_until(lambda: len([
            s for s in fake.gateway.sessions if s.alive and s.conn is not None]) >= 2, timeout=60)

    try:
        for process in processes:
            await process.start(fake.token)
        await both_connected()
        await fake.wait_until(lambda: len(feed_server.hits("/rss/cs.CL")) >= 1, timeout=60)
        deadline = loop.time() + 60
        while await observer.count_papers() == 0:
            assert loop.time() < deadline, "the poller never stored the feed's papers"
            await asyncio.sleep(0.2)

        for round_no in range(ROUNDS):
            # Both servers' digests due the same second, far enough ahead that a loaded machine
            # has registered them before then (a time already past is tomorrow's).
            due = soon(12)
            for g, (guild, channel) in enumerate(zip(guilds, channels, strict=True)):
                added = await fake.invoke(
                    admin, guild, channel, "digest", subcommand="add", timeout=20,
                    options={"channel": channel, "categories": "cs.CL", "time": due,
                             "timezone": "UTC", "max_papers": MAX_PAPERS})
                match = re.search(r"#(\d+)", added.all_text())
                assert match, added.all_text()
                digests.append((g, int(match.group(1))))

            victim = processes[rng.randrange(2)]
            other = processes[1 - victim.index]
            await asyncio.sleep(rng.uniform(2, 16))  # before, at, or in the middle of posting
            was_poller = await _poller_pid(observer) == victim.pid
            await victim.kill()
            killed_at, killed_at_wall = loop.time(), datetime.now(UTC)
            if was_poller and round_no % 3 == 0:
                # Leave it dead a while: the survivor must take the poller lock (and then polls
                # whatever feeds are due; these were polled moments ago, so none yet).
                while await _poller_pid(observer, since=killed_at_wall) != other.pid:
                    assert loop.time() - killed_at < 2 * HEARTBEAT_SECONDS + 30, "no failover"
                    await asyncio.sleep(0.2)
                failovers.append(loop.time() - killed_at)
            else:
                await asyncio.sleep(rng.uniform(0, 2))
            await victim.start(fake.token)
            await both_connected()

            # Every digest so far finished, each exactly once.
            ids = [d for _, d in digests]
            deadline = loop.time() + 120
            while True:
                runs = await observer.latest_runs(ids)
                if all(d in runs and runs[d].status != RunStatus.POSTING for d in ids):
                    break
                assert loop.time() < deadline, f"round {round_no}: digests unfinished: {runs}"
                await asyncio.sleep(0.3)
            assert all(runs[d].status == RunStatus.DONE for d in ids), runs
            for g, channel in enumerate(channels):
                overviews = [m for m in fake.messages(channel) if m.thread_id]
                mine = [d for gg, d in digests if gg == g]
                assert len(overviews) == len(mine), f"round {round_no}: overviews {len(overviews)}"
                for overview in overviews:
                    thread = fake.messages(overview.thread_id)
                    keys = [paper_key(m) for m in thread if paper_key(m)]
                    assert len(keys) == MAX_PAPERS and len(set(keys)) == MAX_PAPERS, keys
                    contents = Counter((m.content, str(m.embeds)) for m in thread)
                    assert max(contents.values()) == 1, "a message was posted twice"

        # Polling: every request to the feed was the first poll of a poller's tenure (the poll
        # interval is an hour), so no two processes ever polled in the same round.
        became = sum(p.log.read_text().count("is now the feed poller") for p in processes)
        polls = len(feed_server.hits("/rss/cs.CL"))
        assert 1 <= polls <= became, (polls, became)
        assert failovers, "the poller was never left dead long enough to test a failover"
        assert max(failovers) < 60 * 60 + 60  # the bound: interval_minutes + 60 s
        assert max(failovers) < 2 * HEARTBEAT_SECONDS + 30

        # A bookmark made through shard 0's process is listed by shard 1's.
        thread = fake.messages(next(m for m in fake.messages(channels[0]) if m.thread_id).thread_id)
        card = next(m for m in thread if paper_key(m))
        await fake.react(reader, card.channel_id, card, BOOKMARK_EMOJI)
        deadline = loop.time() + 30
        while await observer.count_bookmarks(reader.id) == 0:
            assert loop.time() < deadline, "the reaction never became a bookmark"
            await asyncio.sleep(0.2)
        listed = await fake.invoke(reader, guilds[1], channels[1], "bookmarks", subcommand="list",
                                   timeout=20)
        assert paper_key(card) in listed.all_text()

        # /status through either process shows both processes, their shards and the poller.
        status = await fake.invoke(admin, guilds[1], channels[1], "status", timeout=20)
        text = status.all_text()
        assert "shards 0 of 2" in text and "shards 1 of 2" in text and "polls the feeds" in text
    finally:
        for process in processes:
            await process.stop()
        await observer.close()
    report: dict[str, Any] = {"rounds": ROUNDS, "failover_seconds": [round(f, 1) for f in failovers]}
    print(report)
