"""The weekly recap: a digest with cadence weekly, posted once on its weekday, across restarts."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.digest.model import DigestConfig
from bot.digest.schedule import last_fire_at_or_before, next_fire_after, run_date_for
from bot.store import Store
from tests.botharness import World, register_commands, start_run_process
from tests.test_digests import (
    CL,
    MESSAGES,
    add_digest,
    digest_thread,
    fast_sends,
    fetched_by_a_process,
    paper_key,
)
from tests.test_readers import Clock, post_digest

pytestmark = pytest.mark.timeout(150)

HF = "hf_daily_papers_2026-08-21_indent2.json"


def test_a_weekly_recap_fires_on_its_weekday_only() -> None:
    config = DigestConfig(guild_id=1, channel_id=2, categories=["cs"], post_time="18:00",
                          timezone="Europe/Berlin", cadence="weekly", weekday=4)  # Fridays
    wednesday = datetime(2026, 8, 19, 12, 0, tzinfo=UTC)
    upcoming = next_fire_after(config, wednesday)
    assert upcoming.date() == date(2026, 8, 21) and upcoming.hour == 18
    assert last_fire_at_or_before(config, wednesday).date() == date(2026, 8, 14)
    assert run_date_for(config, datetime(2026, 8, 21, 16, 0, 5, tzinfo=UTC)) == date(2026, 8, 21)
    daily = DigestConfig(guild_id=1, channel_id=2, categories=["cs"], post_time="18:00", timezone="UTC")
    assert next_fire_after(daily, wednesday).date() == date(2026, 8, 19)


def evening_away_from_now() -> str:
    """A daily digest's time that the restart on the test's Monday 08:00 does not owe (so only
    the recap is checked) and that the real clock does not reach while the test runs (the
    scheduler fires on real time). An hour from now, the usual choice, is before 08:00 in the
    night (UTC) and made this test fail then."""
    return "23:00" if 19 <= datetime.now(UTC).hour <= 20 else "20:00"


async def test_the_weekly_recap_shows_saves_hf_and_topics_once(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.serve_feed("/api/daily_papers", fixture=HF, content_type="application/json")
    fast_sends(world.fake)
    clock = Clock(datetime(2026, 8, 21, 9, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        await bot.poll_feeds()
        await world.fake.invoke(world.admin, world.guild, world.channel, "topic", subcommand="add",
                                options={"name": "Hallucination", "query": "hallucination"})
        cards = await post_digest(world, max_papers=3, time=evening_away_from_now())
        for user in (world.member, world.admin):
            await world.fake.click(user, cards[1], f"pb:save:{paper_key(cards[1])}")
        await world.fake.click(world.member, cards[2], f"pb:save:{paper_key(cards[2])}")
        clock.now = datetime(2026, 8, 24, 8, 0, tzinfo=UTC)  # the following Monday
        added = await add_digest(world, categories="cs", time="10:00", cadence="weekly", weekday="monday")
        assert "Weekly recap" in added.all_text() and "every Monday at 10:00" in added.all_text()
        listing = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                          subcommand="list")
        assert "Mondays 10:00 UTC" in listing.all_text()
        before = len(world.fake.messages(world.channel))
        now = await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                      options={"digest": 2})
        assert "Posted" in now.all_text()
        new = world.fake.messages(world.channel)[before:]
        [overview] = [m for m in new if m.thread_id]
        assert "Weekly recap" in overview.embeds[0]["title"]
        assert "17 Aug – 24 Aug 2026" in overview.embeds[0]["title"]
        thread = world.fake.messages(overview.thread_id)
        assert [m.embeds[0]["title"] for m in thread] == [
            "🔖 Most saved in this server this week", "🤗 Top on Hugging Face this week",
            "📌 Most active topics"]
        saved = thread[0].embeds[0]["description"]
        assert saved.index(paper_key(cards[1]) or "") < saved.index(paper_key(cards[2]) or "")
        assert "🔖 **2** saves" in saved and "🔖 **1** save" in saved
        assert "upvotes" in thread[1].embeds[0]["description"]
        assert "Hallucination" in thread[2].embeds[0]["description"]
        again = await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                        options={"digest": 2})
        assert "already posted" in again.all_text()
    count = len(world.fake.messages(world.channel)), len(thread)
    async with world.run_bot(clock=clock):  # a restart: the catch-up sees today's recap is done
        await asyncio.sleep(1.5)
    assert (len(world.fake.messages(world.channel)), len(world.fake.messages(overview.thread_id))) == count


async def test_killed_mid_recap_and_restarted_the_recap_completes_once(world: World) -> None:
    fake = world.fake
    env = await fetched_by_a_process(world)
    async with Store(world.tmp_path / "crash.db") as store:
        keys = [p.key for p in (await store.papers_by_ids(list(range(1, 6))))]
        for n, key in enumerate(keys):
            for user in range(n + 1):
                await store.add_bookmark(1000 + user, key, source="button", guild_id=world.guild.id,
                                         now=datetime.now(UTC), limit=100)
    await register_commands(fake, world.settings)

    async def start() -> asyncio.subprocess.Process:
        return await start_run_process(env, world.tmp_path)

    def overviews() -> list:
        return [m for m in fake.messages(world.channel) if m.thread_id]

    fake.rate_limits.set_route(MESSAGES, 1, 1.0)  # one message a second, so the kill lands mid-way
    today = datetime.now(UTC) + timedelta(seconds=2)
    first = await start()
    try:
        await fake.wait_until(lambda: fake.connected, timeout=30)
        await add_digest(world, categories="cs", time=today.strftime("%H:%M:%S"), cadence="weekly",
                         weekday=today.strftime("%A").lower())
        await fake.wait_until(lambda: len(overviews()) == 1, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert len(digest_thread(fake, world.channel)) < 3

    second = await start()
    try:
        await fake.wait_until(lambda: len(digest_thread(fake, world.channel)) == 3, timeout=60)
        await asyncio.sleep(1.5)
    finally:
        second.terminate()
        _, err = await second.communicate()
    assert second.returncode == 0, err.decode()[-2000:]
    assert len(overviews()) == 1
    thread = digest_thread(fake, world.channel)
    assert len(thread) == 3
    saved = thread[0].embeds[0]["description"]
    assert saved.index(keys[4]) < saved.index(keys[0])  # five saves before one
    assert "🔖 **5** saves" in saved
