"""/top end to end: saves in this server counted (🔖 and Save), then Hugging Face upvotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.model import BOOKMARK_EMOJI
from tests.botharness import World
from tests.test_digests import CL, fast_sends, paper_key
from tests.test_readers import Clock, post_digest, until

pytestmark = pytest.mark.timeout(120)

HF = "hf_daily_papers_2026-08-21_indent2.json"


async def top(world: World, user=None, **options: object):
    return await world.fake.invoke(user or world.member, world.guild, world.channel, "top", options=options)


async def test_top_counts_this_servers_saves_then_hugging_face_upvotes(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.serve_feed("/api/daily_papers", fixture=HF, content_type="application/json")
    fast_sends(world.fake)
    carol = world.fake.create_user("carol")
    world.fake.add_member(world.guild, carol)
    clock = Clock(datetime(2026, 8, 21, 9, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=3)
        a, b = paper_key(cards[0]), paper_key(cards[1])
        # b saved by three people (reaction and buttons), a by one.
        for user in (world.member, world.admin):
            await world.fake.click(user, cards[1], f"pb:save:{b}")
        await world.fake.react(carol, cards[1].channel_id, cards[1], BOOKMARK_EMOJI)
        await world.fake.click(world.member, cards[0], f"pb:save:{a}")

        async def four_saves() -> bool:  # the reaction arrives through the gateway, a moment later
            found = await bot.store.top_saved(world.guild.id, since=clock.now - timedelta(days=1))
            return sum(count for _, count in found) == 4

        await until(four_saves)
        answer = await top(world)
        assert answer.ephemeral
        text = answer.message.embeds[0]["description"]
        assert text.index(f"abs/{b}") < text.index(f"abs/{a}")
        assert "🔖 **3** saves" in text and "🔖 **1** save" in text
        assert "Top on Hugging Face" in text and "upvotes" in text
        upvotes = [int(x) for x in __import__("re").findall(r"▲ \*\*(\d+)\*\* upvotes", text)]
        assert upvotes == sorted(upvotes, reverse=True) and len(upvotes) >= 3

        # Another server's saves do not count here.
        other = world.fake.create_guild("Elsewhere", owner=world.admin)
        world.fake.add_member(other, world.admin, admin=True)
        other_channel = world.fake.create_channel(other, "general")
        elsewhere = await world.fake.invoke(world.admin, other, other_channel, "top")
        assert "Nobody saved a paper" in elsewhere.message.embeds[0]["description"]

        # A category that none of them is in, and a period they fall out of.
        maths = await top(world, category="math.AG")
        assert "Nobody saved a paper" in maths.message.embeds[0]["description"]
        assert "not an arXiv category" in (await top(world, category="nonsense")).all_text()
        clock.now += timedelta(days=2)
        assert "Nobody saved" in (await top(world, period="day")).message.embeds[0]["description"]
        week = (await top(world, period="week", public=True))
        assert not week.ephemeral
        assert "🔖 **3** saves" in week.message.embeds[0]["description"]
