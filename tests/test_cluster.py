"""Several processes on one database: shard ownership, the poller lock, heartbeats."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.cluster import Coordinator, ShardMap, process_lines, shard_of
from bot.fetch import PoliteLimiter
from bot.pacer import RequestPacer
from bot.store import Store
from tests.fakediscord import FakeDiscord


def test_a_guild_belongs_to_the_shard_discord_routes_it_to() -> None:
    fake = FakeDiscord()
    owner = fake.create_user("owner")
    guilds = [fake.create_guild(f"g{i}", owner=owner) for i in range(40)]
    for guild in guilds:
        assert shard_of(guild.id, 2) == (guild.id >> 22) % 2
    one, two = ShardMap.of(2, [0]), ShardMap.of(2, [1])
    for guild in guilds:
        assert one.owns(guild.id) != two.owns(guild.id)  # exactly one process serves each guild
    assert ShardMap.of(None, None).owns(guilds[0].id)
    assert ShardMap.of(2, None).owns(guilds[0].id) and ShardMap.of(2, None).owns(guilds[1].id)
    assert ShardMap.of(4, [1, 3]).describe() == "shards 1, 3 of 4"


async def test_sqlite_has_one_process_which_polls(sqlite_store: Store) -> None:
    coordinator = Coordinator(sqlite_store, ShardMap())
    await coordinator.tick()
    assert coordinator.is_poller
    [row] = await sqlite_store.list_processes()
    assert row.id == coordinator.process_id and row.polling and row.shard_ids is None
    await coordinator.stop()
    assert await sqlite_store.list_processes() == []


async def test_one_poller_at_a_time_and_heartbeats_listed(pg_url: str, tmp_path: Path) -> None:
    became: list[str] = []
    async with (Store(pg_url, index_dir=tmp_path / "a") as a, Store(pg_url, index_dir=tmp_path / "b") as b):
        first = Coordinator(a, ShardMap.of(2, [0]))
        second = Coordinator(b, ShardMap.of(2, [1]))

        async def noted() -> None:
            became.append("second")

        second.on_became_poller = noted
        await first.tick()
        await second.tick()
        assert first.is_poller and not second.is_poller
        await second.tick()
        assert not second.is_poller and became == []

        listed = {p.id: p for p in await b.list_processes()}
        assert set(listed) == {first.process_id, second.process_id}
        assert listed[first.process_id].polling and listed[first.process_id].shard_ids == [0]
        assert listed[second.process_id].shard_ids == [1] and not listed[second.process_id].polling
        lines = process_lines(list(listed.values()), datetime.now(UTC), me=second.process_id)
        assert any("polls the feeds" in line and "shards 0 of 2" in line for line in lines)
        assert any("(this one)" in line and "shards 1 of 2" in line for line in lines)
        silent = process_lines(list(listed.values()), datetime.now(UTC) + timedelta(minutes=5), me="")
        assert all(line.startswith("⚠️ silent") for line in silent)

        # A clean stop lets the other take over at its next tick, and it polls at once.
        await first.stop()
        await second.tick()
        assert second.is_poller and became == ["second"]
        assert [p.id for p in await a.list_processes()] == [second.process_id]


LOCK_HOLDER = """
import asyncio, sys
from bot.store import Store

async def main():
    async with Store(sys.argv[1], index_dir=sys.argv[2], search_catch_up=False) as store:
        assert await store.try_poller_lock()
        print("held", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


async def holding(script: str, pg_url: str, index_dir: Path) -> asyncio.subprocess.Process:
    """A child process on the database running `script`, once it says it holds its lock."""
    root = Path(__file__).parent.parent
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, pg_url, str(index_dir), stdout=asyncio.subprocess.PIPE,
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert holder.stdout is not None
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 60)).strip() == b"held"
    except BaseException:
        holder.kill()
        await holder.wait()
        raise
    return holder


async def test_a_killed_poller_is_replaced(pg_url: str, tmp_path: Path) -> None:
    """kill -9 of the process holding the lock: the server drops its session, the lock is free."""
    holder = await holding(LOCK_HOLDER, pg_url, tmp_path / "holder")
    try:
        async with Store(pg_url, index_dir=tmp_path / "other") as other:
            assert not await other.try_poller_lock()
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not await other.try_poller_lock():
                assert loop.time() < deadline, "the lock of a killed process was never released"
                await asyncio.sleep(0.2)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_arxiv_requests_are_one_at_a_time_and_spaced_across_processes(
        pg_url: str, tmp_path: Path) -> None:
    """Two processes on one database each look papers up on arXiv at once: the server sees one
    request at a time, each starting at least the gap after the previous one ended."""
    served: list[tuple[float, float]] = []

    async def slow_answer(request: web.Request) -> web.Response:
        started = time.monotonic()
        await asyncio.sleep(0.2)
        served.append((started, time.monotonic()))
        return web.Response(text="<feed/>")

    app = web.Application()
    app.router.add_get("/api/query", slow_answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gap = 0.5
    try:
        async with (Store(pg_url, index_dir=tmp_path / "a") as a,
                    Store(pg_url, index_dir=tmp_path / "b") as b, aiohttp.ClientSession() as session):
            limiters = [PoliteLimiter(["127.0.0.1"], gap, gate=store.polite_gate) for store in (a, b)]

            async def look_up(limiter: PoliteLimiter) -> None:
                async with limiter.slot(), session.get(f"http://127.0.0.1:{port}/api/query") as answer:
                    await answer.read()

            await asyncio.gather(*(look_up(limiter) for limiter in limiters for _ in range(3)))
    finally:
        await runner.cleanup()
    served.sort()
    assert len(served) == 6
    for (_, ended), (started, _) in itertools.pairwise(served):
        assert started - ended >= gap - 0.02, served


GATE_HOLDER = """
import asyncio, sys
from bot.store import Store

async def main():
    async with Store(sys.argv[1], index_dir=sys.argv[2], search_catch_up=False) as store:
        async with store.polite_gate(3600):
            print("held", flush=True)
            await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_a_process_killed_during_an_arxiv_request_frees_the_gate(pg_url: str, tmp_path: Path) -> None:
    holder = await holding(GATE_HOLDER, pg_url, tmp_path / "holder")
    try:
        async with Store(pg_url, index_dir=tmp_path / "other") as other:
            waiting = asyncio.ensure_future(other.polite_gate(0).__aenter__())
            await asyncio.sleep(1)
            assert not waiting.done()  # the holder's request is still under way
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            await asyncio.wait_for(waiting, 30)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


STORE_HOLDER = """
import asyncio, sys
from bot.store import Store

async def main():
    async with Store(sys.argv[1], index_dir=sys.argv[2], search_catch_up=False):
        print("held", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_processes_share_discords_global_rate(pg_url: str, tmp_path: Path) -> None:
    """Discord's 50 requests/s is per bot: with a second process on the database each paces at
    half the rate, and alone again at the whole rate the moment the other is killed."""
    async with Store(pg_url, index_dir=tmp_path / "a") as store:
        pacer = RequestPacer(40.0)
        coordinator = Coordinator(store, ShardMap.of(2, [0]), on_live_processes=pacer.share_with)
        await coordinator.tick()
        assert pacer.interval == 1 / 40
        other = await holding(STORE_HOLDER, pg_url, tmp_path / "b")
        try:
            await coordinator.tick()
            assert pacer.interval == 2 / 40
        finally:
            other.send_signal(signal.SIGKILL)
            await other.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:  # the server ends a killed process's sessions as soon as it sees them closed
            await coordinator.tick()
            if pacer.interval == 1 / 40:
                break
            assert loop.time() < deadline, "a killed process still counted as a peer"
            await asyncio.sleep(0.2)
