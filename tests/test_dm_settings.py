"""/subscriptions settings: each reader's DM hour and time zone, or off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.community.dmtime import HOURLY, INGEST, is_due
from bot.store.community import DmSettings
from tests.botharness import World
from tests.test_digests import CL
from tests.test_readers import Clock

pytestmark = pytest.mark.timeout(120)


def test_due_by_the_readers_own_hour_and_zone() -> None:
    berlin_eight = DmSettings(8, "Europe/Berlin", False)
    summer_6_utc = datetime(2026, 8, 21, 6, 0, tzinfo=UTC)  # 08:00 in Berlin (CEST)
    assert is_due(berlin_eight, summer_6_utc, trigger=HOURLY, default_hour_utc=None)
    assert not is_due(berlin_eight, summer_6_utc, trigger=INGEST, default_hour_utc=None)
    assert not is_due(berlin_eight, summer_6_utc + timedelta(hours=1), trigger=HOURLY, default_hour_utc=None)
    winter_7_utc = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)  # 08:00 in Berlin (CET)
    assert is_due(berlin_eight, winter_7_utc, trigger=HOURLY, default_hour_utc=None)
    assert not is_due(DmSettings(8, "UTC", True), datetime(2026, 8, 21, 8, tzinfo=UTC), trigger=HOURLY,
                      default_hour_utc=None)
    # No settings: the operator's default.
    assert is_due(None, summer_6_utc, trigger=INGEST, default_hour_utc=None)
    assert not is_due(None, summer_6_utc, trigger=HOURLY, default_hour_utc=None)
    assert is_due(None, summer_6_utc, trigger=HOURLY, default_hour_utc=6)
    assert not is_due(None, summer_6_utc, trigger=INGEST, default_hour_utc=6)


async def settings(world: World, user, **options: object):
    return await world.fake.invoke(user, world.guild, world.channel, "subscriptions", subcommand="settings",
                                   options=options)


async def test_each_reader_gets_the_dm_at_their_hour_or_not_at_all(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    carol = world.fake.create_user("carol")
    world.fake.add_member(world.guild, carol)
    clock = Clock(datetime(2026, 8, 21, 5, 0, tzinfo=UTC))  # 07:00 in Berlin
    async with world.run_bot(clock=clock) as bot:
        assert str(bot.scheduler.get_job("daily-dms").trigger.fields[6]) == "0"  # every hour at :00
        for user in (world.member, world.admin, carol):
            await world.fake.invoke(user, world.guild, world.channel, "subscribe",
                                    options={"query": "hallucination"})
        shown = await settings(world, world.member)
        assert "right after the day's papers arrive" in shown.all_text()
        chosen = await settings(world, world.member, hour=8, timezone="Europe/Berlin")
        assert chosen.ephemeral
        assert "08:00 Europe/Berlin" in chosen.all_text() and "<t:" in chosen.all_text()
        assert "is **off**" in (await settings(world, carol, off=True)).all_text()
        assert "not a time zone" in (await settings(world, carol, hour=3, timezone="Mars/Olympus")).all_text()
        assert "Give an `hour`" in (await settings(world, world.admin, timezone="Asia/Tokyo")).all_text()

        await bot.poll_feeds()  # ingestion: only the reader on the default gets the DM now
        assert len(world.fake.dm_messages(world.admin)) == 1
        assert world.fake.dm_messages(world.member) == []
        await bot.readers.deliver_all(trigger="hourly")  # 07:00 Berlin: not yet
        assert world.fake.dm_messages(world.member) == []
        clock.now += timedelta(hours=1)  # 08:00 Berlin
        await bot.readers.deliver_all(trigger="hourly")
        [dm] = world.fake.dm_messages(world.member)
        assert "LongNovel" in dm.embeds[0]["description"]
        clock.now += timedelta(hours=1)
        await bot.readers.deliver_all(trigger="hourly")
        await bot.readers.deliver_all()
        assert len(world.fake.dm_messages(world.member)) == 1  # once a day
        assert world.fake.dm_messages(carol) == []  # off: never, whatever the round
        back = await settings(world, carol, default=True)
        assert "server's default" in back.all_text()
        await bot.readers.deliver_all(trigger="ingest")
        assert len(world.fake.dm_messages(carol)) == 1
