"""/similar, /recommend and the Similar button end to end: real discord.py against the fake Discord,
feeds over loopback HTTP, the real model, a real SQLite file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.botharness import World
from tests.fakediscord import Message
from tests.fakediscord.interactions import Interaction
from tests.test_search_cog import assert_no_failure, card_of, paper

pytestmark = pytest.mark.timeout(180)

FEEDS = {
    "/rss/cs.CL": "arxiv_rss_cs.CL_2026-08-20_141items.xml",
    "/api/daily_papers": "hf_daily_papers_2025-09-30_indent2_50items.json",
}
LONGNOVEL = "2608.18082"  # cs.CL 2026: hallucination detection in long-novel summarization


@pytest.fixture
async def meaningful(world: World, meaning_on: dict[str, Any]) -> AsyncIterator[World]:
    """The bot with search by meaning on, the feeds ingested and (as after every poll) embedded."""
    world.sections["meaning"] = meaning_on
    for path, name in FEEDS.items():
        content_type = "application/json" if name.endswith(".json") else "application/rss+xml"
        world.serve_feed(path, fixture=name, content_type=content_type)
    async with world.run_bot() as bot:
        await bot.meaning.start()
        await bot.poll_feeds()
        assert bot.meaning.ready and await bot.meaning.pending() == 0
        assert len(bot.meaning.index) == await bot.store.count_papers() == 191
        yield world


def menu(message: Message) -> dict[str, Any]:
    for row in message.components:
        for item in row.get("components", []):
            if item.get("type") == 3:
                return item
    raise AssertionError(f"no Save menu on {message!r}")


def listed_keys(message: Message) -> list[str]:
    return re.findall(r"· `([^`]+)`", message.embeds[0]["description"])


def answer_message(answer: Interaction) -> Message:
    message = answer.followups[-1] if answer.followups else answer.message
    assert message is not None
    return message


async def similar(world: World, text: str, user: Any = None) -> Interaction:
    answer = await world.fake.invoke(user or world.member, world.guild, world.channel, "similar",
                                     options={"paper": text})
    assert not answer.deadline_missed and answer.ephemeral
    assert_no_failure(answer)
    return answer


async def test_similar_lists_close_papers_with_why_and_saves_from_its_menu(meaningful: World) -> None:
    world = meaningful
    bot = world.bot
    assert bot is not None
    answer = await similar(world, f"https://arxiv.org/abs/{LONGNOVEL}v1")
    message = answer_message(answer)
    embed = message.embeds[0]
    assert "LongNovel" in embed["title"] or "Papers like" in embed["title"]
    keys = listed_keys(message)
    assert len(keys) == 5 and LONGNOVEL not in keys and len(set(keys)) == 5
    # Each entry says why in one line: shared key terms, or a topic.
    assert len(re.findall(r" — (shares \*|same topic|close in meaning)", embed["description"])) == 5
    # Close in meaning: LongNovel detects hallucinations; most neighbours are about them too.
    related = await bot.store.get_papers(keys)
    about = [k for k, p in related.items() if "hallucinat" in (p.title + " " + p.abstract).lower()]
    assert len(about) >= 3, [p.title for p in related.values()]
    options = [o["value"] for o in menu(message)["options"]]
    assert options == keys
    saved = await world.fake.click(world.member, message, menu(message)["custom_id"], values=[keys[1]])
    assert saved.ephemeral and "Saved" in saved.all_text()
    assert [p.key for p, _ in await bot.store.list_bookmarks(world.member.id)] == [keys[1]]


async def test_similar_autocompletes_from_the_store_and_explains_unknown_papers(meaningful: World) -> None:
    world = meaningful
    choices = await world.fake.autocomplete(world.member, world.guild, world.channel, "similar",
                                            focused="paper", options={"paper": "LongNovel"})
    assert [c["value"] for c in choices] == [LONGNOVEL]
    assert "LongNovel" in choices[0]["name"]
    unknown = await similar(world, "2101.00001")
    assert "no stored paper `2101.00001`" in unknown.all_text()


async def test_the_similar_button_on_a_paper_card_answers_privately_even_after_a_restart(
    meaningful: World
) -> None:
    world = meaningful
    answer = await paper(world, LONGNOVEL)
    card = card_of(answer)
    assert f"pb:similar:{LONGNOVEL}" in card.custom_ids
    clicked = await world.fake.click(world.admin, card, f"pb:similar:{LONGNOVEL}")
    assert clicked.ephemeral
    assert_no_failure(clicked)
    first = listed_keys(answer_message(clicked))
    assert len(first) == 5 and LONGNOVEL not in first

    async with world.run_bot() as bot:  # a restart: the old card's button still works
        await bot.meaning.start()
        again = await world.fake.click(world.member, card, f"pb:similar:{LONGNOVEL}")
        assert again.ephemeral and listed_keys(answer_message(again)) == first


async def test_recommend_explains_each_paper_by_a_bookmark(meaningful: World) -> None:
    world = meaningful
    bot = world.bot
    assert bot is not None
    none_yet = await world.fake.invoke(world.member, world.guild, world.channel, "recommend")
    assert none_yet.ephemeral and "you have none yet" in none_yet.all_text()

    # The reader saves two papers about the same subject as LONGNOVEL's neighbours.
    neighbours = listed_keys(answer_message(await similar(world, LONGNOVEL)))
    saved = [LONGNOVEL, neighbours[0]]
    for key in saved:
        assert await bot.store.add_bookmark(world.member.id, key, source="command", guild_id=None,
                                            now=bot.clock(), limit=100) == "added"
    answer = await world.fake.invoke(world.member, world.guild, world.channel, "recommend",
                                     options={"daily": "on"})
    assert answer.ephemeral and not answer.deadline_missed
    assert_no_failure(answer)
    message = answer_message(answer)
    assert "For you section" in answer.all_text()
    keys = listed_keys(message)
    assert 1 <= len(keys) <= 5 and not set(keys) & set(saved)
    saved_titles = [p.title for p in (await bot.store.get_papers(saved)).values()]
    becauses = re.findall(r"because you saved \*(.+?)\*", message.embeds[0]["description"])
    assert len(becauses) == len(keys)
    assert all(any(t.startswith(b.rstrip("…").replace("\\", "")[:40]) for t in saved_titles)
               for b in becauses)
    assert await bot.store.wants_dm_recommendations(world.member.id)
    assert [o["value"] for o in menu(message)["options"]] == keys


async def test_search_finds_a_described_paper_by_meaning_and_keeps_exact_titles_first(
    meaningful: World
) -> None:
    world = meaningful

    async def keys_for(query: str, **options: Any) -> tuple[list[str], str]:
        answer = await world.fake.invoke(world.member, world.guild, world.channel, "search",
                                         options={"query": query, **options})
        assert answer.ephemeral and not answer.deadline_missed
        assert_no_failure(answer)
        message = answer_message(answer)
        if not message.embeds:
            return [], answer.all_text()
        return [o["value"] for o in menu(message)["options"]], message.embeds[0]["description"]

    # A description in other words than the paper's (LongNovel: hallucinations in long-novel summaries).
    described = "do models make things up when summarising very long books"
    hybrid, text = await keys_for(described)
    assert LONGNOVEL in hybrid[:3], hybrid
    assert "ranked by meaning and words" in text
    meaning_only, text = await keys_for(described, mode="meaning")
    assert LONGNOVEL in meaning_only[:3] and "ranked by meaning." in text
    words_only, _ = await keys_for(described, mode="words")
    assert LONGNOVEL not in words_only[:3]

    # Known items stay exact: a title fragment, and an id, come first in hybrid mode too.
    bot = world.bot
    assert bot is not None
    title = (await bot.store.get_paper(LONGNOVEL)).title
    fragment = " ".join(title.split()[:4])
    assert (await keys_for(fragment))[0][0] == LONGNOVEL
    assert (await keys_for(f"arXiv:{LONGNOVEL} hallucination"))[0][0] == LONGNOVEL

    # Filters apply to what meaning finds: nothing from cs.CL survives a math-only filter.
    filtered, text = await keys_for(described, category="math")
    assert filtered == [] and "No stored paper" in text


async def test_the_daily_dm_has_a_for_you_section_for_readers_who_asked(
    world: World, meaning_on: dict[str, Any]
) -> None:
    world.sections["meaning"] = meaning_on
    world.serve_feed("/rss/cs.CL", fixture="arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml",
                     content_type="application/rss+xml")
    async with world.run_bot() as bot:
        await bot.meaning.start()
        await bot.poll_feeds()
        older = await bot.store.recent_paper_ids(days=1, limit=1)
        [saved] = await bot.store.papers_by_ids(older)
        assert await bot.store.add_bookmark(world.member.id, saved.key, source="command", guild_id=None,
                                            now=bot.clock(), limit=100) == "added"
        for who in (world.member, world.admin):  # both subscribe; only the member opts in
            await world.fake.invoke(who, world.guild, world.channel, "subscribe",
                                    options={"query": "hallucination"})
        opted = await world.fake.invoke(world.member, world.guild, world.channel, "recommend",
                                        options={"daily": "on"})
        assert "For you section" in opted.all_text()
        if await bot.store.bookmarked_paper_ids(world.admin.id, limit=1) == []:
            assert await bot.store.add_bookmark(world.admin.id, saved.key, source="command", guild_id=None,
                                                now=bot.clock(), limit=100) == "added"

        world.feeds.serve("/rss/cs.CL", fixture="arxiv_rss_cs.CL_2026-08-20_141items.xml",
                          content_type="application/rss+xml")
        await bot.poll_feeds(force=True)
        [dm] = world.fake.dm_messages(world.member)
        fields = {f["name"]: f["value"] for f in dm.embeds[0].get("fields", [])}
        assert "✨ For you" in fields
        lines = fields["✨ For you"].splitlines()
        assert 1 <= len(lines) <= 3
        assert all("because you saved" in line and "/abs/2608." in line for line in lines)
        [other] = world.fake.dm_messages(world.admin)  # did not opt in: no section
        assert all(f["name"] != "✨ For you" for f in other.embeds[0].get("fields", []))
