"""Readers end to end: bookmarks by reaction and button, exports, topics, subscriptions and DMs."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import bibtexparser
import pytest

from bot.digest.model import BOOKMARK_EMOJI, SUBSCRIBE_EMOJI
from bot.store import Store
from tests.botharness import World
from tests.fakediscord import Message
from tests.feedserver import REAL
from tests.test_digests import CL, add_digest, digest_thread, fast_sends, listing_keys, paper_key

pytestmark = pytest.mark.timeout(120)


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def until(check: Callable[[], Awaitable[bool]], *, within: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def bookmarks_of(store: Store, user_id: int) -> list[str]:
    return [p.key for p, _ in await store.list_bookmarks(user_id)]


async def post_digest(world: World, **options: object) -> list[Message]:
    await add_digest(world, **options)
    await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                            options={"digest": 1})
    return [m for m in digest_thread(world.fake, world.channel) if paper_key(m)]


# ---------------------------------------------------------------------- bookmarks


async def test_reacting_saves_and_unreacting_removes_a_bookmark(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=3)
        first = cards[0]
        # The bot's own 🔖 on every card is an invitation, not a bookmark for the bot.
        assert await bot.store.count_bookmarks(world.fake.bot.id) == 0
        await world.fake.react(world.member, first.channel_id, first, BOOKMARK_EMOJI)
        await until(lambda: _has(bot.store, world.member.id, paper_key(first)))
        await world.fake.unreact(world.member, first.channel_id, first, BOOKMARK_EMOJI)
        await until(lambda: _lacks(bot.store, world.member.id, paper_key(first)))


async def _has(store: Store, user_id: int, key: str | None) -> bool:
    return key in await bookmarks_of(store, user_id)


async def _lacks(store: Store, user_id: int, key: str | None) -> bool:
    return key not in await bookmarks_of(store, user_id)


async def test_reactions_and_buttons_work_on_messages_from_before_a_restart(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=3)
    async with world.run_bot() as bot:  # a new process: empty message cache
        await world.fake.react(world.member, cards[1].channel_id, cards[1], BOOKMARK_EMOJI)
        await until(lambda: _has(bot.store, world.member.id, paper_key(cards[1])))
        saved = await world.fake.click(world.admin, cards[2], f"pb:save:{paper_key(cards[2])}")
        assert saved.ephemeral
        assert "Saved" in saved.all_text()
        assert await bookmarks_of(bot.store, world.admin.id) == [paper_key(cards[2])]
        again = await world.fake.click(world.admin, cards[2], f"pb:save:{paper_key(cards[2])}")
        assert "already in your bookmarks" in again.all_text()


async def test_bookmarks_are_private_listed_newest_first_and_removable(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    clock = Clock(datetime.now(UTC))
    async with world.run_bot(clock=clock) as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=3)
        for card in cards:
            await world.fake.click(world.member, card, f"pb:save:{paper_key(card)}")
            clock.now += timedelta(minutes=1)
        await world.fake.click(world.admin, cards[0], f"pb:save:{paper_key(cards[0])}")

        mine = await world.fake.invoke(world.member, world.guild, world.channel, "bookmarks",
                                       subcommand="list")
        assert mine.ephemeral
        text = mine.all_text()
        positions = [text.index(paper_key(c) or "") for c in cards]
        assert positions == sorted(positions, reverse=True)  # newest first
        theirs = await world.fake.invoke(world.admin, world.guild, world.channel, "bookmarks",
                                         subcommand="list")
        assert paper_key(cards[0]) in theirs.all_text()
        assert paper_key(cards[1]) not in theirs.all_text()

        choices = await world.fake.autocomplete(world.admin, world.guild, world.channel, "bookmarks",
                                                subcommand="remove", focused="paper")
        assert [c["value"] for c in choices] == [paper_key(cards[0])]
        removed = await world.fake.invoke(world.admin, world.guild, world.channel, "bookmarks",
                                          subcommand="remove", options={"paper": paper_key(cards[0])})
        assert "Removed" in removed.all_text()
        assert await bookmarks_of(bot.store, world.admin.id) == []
        assert len(await bookmarks_of(bot.store, world.member.id)) == 3


async def test_the_bookmark_limit_is_explained(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.sections["readers"] = {"max_bookmarks_per_user": 2}
    world.rebuild_settings()
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=3)
        answers = [await world.fake.click(world.member, c, f"pb:save:{paper_key(c)}") for c in cards]
        assert "limit of 2 bookmarks" in answers[2].all_text()
        assert len(await bookmarks_of(bot.store, world.member.id)) == 2


async def test_export_in_all_three_formats(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=4)
        for card in cards:
            await world.fake.click(world.member, card, f"pb:save:{paper_key(card)}")
        keys = {paper_key(c) for c in cards}
        files = {}
        for fmt in ("bibtex", "csv", "markdown"):
            answer = await world.fake.invoke(world.member, world.guild, world.channel, "bookmarks",
                                             subcommand="export", options={"format": fmt})
            assert answer.ephemeral
            [attachment] = answer.message.attachments
            files[fmt] = (attachment.filename, attachment.data.decode("utf-8"))
    name, bib = files["bibtex"]
    assert name.endswith(".bib")
    library = bibtexparser.parse_string(bib)
    assert not library.failed_blocks
    assert {e.fields_dict["eprint"].value for e in library.entries} == keys
    assert len({e.key for e in library.entries}) == 4
    name, text = files["csv"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert name.endswith(".csv") and {r["id"] for r in rows} == keys
    name, md = files["markdown"]
    assert name.endswith(".md")
    assert all(f"https://arxiv.org/abs/{k}" in md for k in keys)


# ---------------------------------------------------------------------- topics and subscriptions


async def test_topics_group_a_digest_and_the_bell_subscribes(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        added = await world.fake.invoke(world.admin, world.guild, world.channel, "topic", subcommand="add",
                                        options={"name": "Hallucination", "query": "hallucination"})
        assert "Topic **Hallucination** added" in added.all_text()
        await add_digest(world, max_papers=10)
        await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                options={"digest": 1})
        thread = digest_thread(world.fake, world.channel)
        header = thread[0]
        assert "📌 **Hallucination**" in header.content
        assert header.reactions.get(SUBSCRIBE_EMOJI) == [world.fake.bot.id]
        # Papers matching the topic come right under its header, then the others.
        assert "LongNovel" in thread[1].embeds[0]["title"]
        assert any("Other papers" in m.content for m in thread)

        await world.fake.react(world.member, header.channel_id, header, SUBSCRIBE_EMOJI)

        async def subscribed() -> bool:
            subs = await bot.store.list_subscriptions(world.member.id)
            return [(s.kind, s.value) for s in subs] == [("topic", "Hallucination")]

        await until(subscribed)
        await world.fake.unreact(world.member, header.channel_id, header, SUBSCRIBE_EMOJI)

        async def unsubscribed() -> bool:
            return await bot.store.list_subscriptions(world.member.id) == []

        await until(unsubscribed)


async def test_a_new_ingestion_sends_exactly_one_dm_with_the_matches(world: World, real_fixture) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        subscribed = await world.fake.invoke(world.member, world.guild, world.channel, "subscribe",
                                             options={"query": "hallucination"})
        assert "Subscribed" in subscribed.all_text()
        await world.fake.invoke(world.member, world.guild, world.channel, "subscribe",
                                options={"category": "cs.cl"})
        listing = await world.fake.invoke(world.member, world.guild, world.channel, "subscriptions",
                                          subcommand="list")
        assert "search `hallucination`" in listing.all_text()
        assert "category **cs.CL" in listing.all_text()

        await bot.poll_feeds()
        [dm] = world.fake.dm_messages(world.member)
        body = dm.embeds[0]["description"]
        assert "LongNovel" in body
        assert "…and" in body  # cs.CL matches every paper of the day: counted, not all listed
        assert len([c for row in dm.components for c in row["components"]]) == 20

        # Later the same day: new matches wait for tomorrow; nothing is sent twice.
        world.feeds.serve("/rss/cs.CL", fixture="arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml")
        await bot.poll_feeds(force=True)
        assert len(world.fake.dm_messages(world.member)) == 1
        clock.now += timedelta(days=1)
        await bot.poll_feeds(force=True)
        messages = world.fake.dm_messages(world.member)
        assert len(messages) == 2
        first_keys = set(re.findall(r"abs/(\d{4}\.\d{4,5})", messages[0].embeds[0]["description"]))
        second_keys = set(re.findall(r"abs/(\d{4}\.\d{4,5})", messages[1].embeds[0]["description"]))
        assert first_keys and second_keys and not first_keys & second_keys
        # Its 🔖 buttons save to bookmarks.
        button = messages[1].components[0]["components"][0]
        saved = await world.fake.click(world.member, messages[1], button["custom_id"])
        assert "Saved" in saved.all_text()


async def test_closed_dms_are_noted_and_the_user_is_told_at_their_next_command(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        await world.fake.invoke(world.member, world.guild, world.channel, "subscribe",
                                options={"query": "hallucination"})
        world.fake.close_dms(world.member)
        await bot.poll_feeds()
        attempts = len(world.fake.requests_matching("POST /channels/*/messages"))
        clock.now += timedelta(days=1)
        await bot.readers.deliver_all()  # the next day: not retried while the user hasn't been told
        assert len(world.fake.requests_matching("POST /channels/*/messages")) == attempts
        answer = await world.fake.invoke(world.member, world.guild, world.channel, "help")
        await answer.wait_for_followups(1)
        assert answer.followups[0].flags & 64  # ephemeral: only they see it
        assert "DMs are closed" in answer.all_text()
        world.fake.open_dms(world.member)
        await bot.readers.deliver_all()
        [dm] = world.fake.dm_messages(world.member)
        assert "LongNovel" in dm.embeds[0]["description"]


async def test_a_new_version_of_a_bookmarked_paper_is_announced_by_dm(world: World) -> None:
    body = (REAL / CL).read_text()
    key = listing_keys(CL, "new")[0]
    world.serve_feed("/rss/cs.CL", body)
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    fast_sends(world.fake)
    async with world.run_bot(clock=clock) as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=1)
        await world.fake.react(world.member, cards[0].channel_id, cards[0], BOOKMARK_EMOJI)
        await until(lambda: _has(bot.store, world.member.id, key))
        # Next day arXiv lists the paper again as a replacement, v2, now with a DOI.
        replaced = body.replace(f"arXiv:{key}v1 Announce Type: new", f"arXiv:{key}v2 Announce Type: replace")
        replaced = replaced.replace(f"oai:arXiv.org:{key}v1", f"oai:arXiv.org:{key}v2")
        assert replaced != body
        world.feeds.serve("/rss/cs.CL", replaced)
        clock.now += timedelta(days=1)
        await bot.poll_feeds(force=True)
        [dm] = world.fake.dm_messages(world.member)
        field = dm.embeds[0]["fields"][0]
        assert field["name"] == "Updates to your bookmarks"
        assert "new version v1 → v2" in field["value"]
        paper = await bot.store.get_paper(key)
        assert paper is not None and paper.version == 2

