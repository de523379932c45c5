"""Daily DMs end to end under faults: at most one DM per reader per day, whatever fails when.

The real paperbot (in process, or `paperbot run` as a subprocess) against the fake Discord,
with the listing served over loopback and a real SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.models import AnnounceType
from bot.store import Store
from tests.botharness import World, start_run_process
from tests.fakediscord import FakeDiscord, Message
from tests.test_cli import paperbot_command
from tests.test_digests import CL, _config
from tests.test_readers import Clock
from tests.test_store import arxiv, ingest

pytestmark = pytest.mark.timeout(120)

KEY = re.compile(r"abs/(\d{4}\.\d{4,5})")


def listed_keys(dm: Message) -> list[str]:
    return KEY.findall("\n".join(e.get("description", "") for e in dm.embeds))


def buttons(dm: Message) -> list[dict]:
    return [c for row in dm.components for c in row["components"]]


def dm_posts(fake: FakeDiscord, user: object) -> str:
    channel = fake.dm_channel(user, create=True)
    assert channel is not None
    return f"POST /channels/{channel.id}/messages"


async def subscribe(world: World, **option: str) -> None:
    answer = await world.fake.invoke(world.member, world.guild, world.channel, "subscribe", options=option)
    assert "Subscribed" in answer.all_text()


async def test_a_503_after_the_dm_landed_does_not_send_it_again(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fake = world.fake
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        await subscribe(world, query="hallucination")
        lost = fake.inject(dm_posts(fake, world.member), status=503, after_processing=True)
        await bot.poll_feeds()
        assert lost.hits == 1  # the DM was stored, and its answer was a 503
        [dm] = fake.dm_messages(world.member)
        # Later deliveries the same day (each poll round ends with one) find it and send nothing.
        await bot.poll_feeds(force=True)
        await bot.readers.deliver_all()
        assert fake.dm_messages(world.member) == [dm]
        assert len(fake.requests_matching(dm_posts(fake, world.member))) == 1
        # It counts as sent: the next day's DM does not repeat its papers.
        world.feeds.serve("/rss/cs.CL", fixture="arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml")
        clock.now += timedelta(days=1)
        await bot.poll_feeds(force=True)
        first, second = fake.dm_messages(world.member)
        assert first == dm
        assert listed_keys(first) and listed_keys(second)
        assert not set(listed_keys(first)) & set(listed_keys(second))


async def test_a_dm_whose_answer_never_came_is_looked_for_not_resent_the_next_poll(world: World) -> None:
    """Every send of the DM fails with a lost answer; Discord's history read fails too for a while."""
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fake = world.fake
    fake.nonce_window = 0  # Discord has forgotten the nonce by the next poll: only looking helps
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        await subscribe(world, query="hallucination")
        channel = fake.dm_channel(world.member, create=True)
        assert channel is not None
        fake.inject(dm_posts(fake, world.member), status=503, after_processing=True)
        history = fake.inject(f"GET /channels/{channel.id}/messages", status=503, count=10)
        await bot.poll_feeds()
        [dm] = fake.dm_messages(world.member)
        assert history.hits >= 1  # it tried to look, could not, and so did not send again
        assert len(fake.requests_matching(dm_posts(fake, world.member))) == 1
        history.count = history.hits  # Discord answers history reads again
        clock.now += timedelta(minutes=30)
        await bot.poll_feeds()
        assert fake.dm_messages(world.member) == [dm]
        assert len(fake.requests_matching(dm_posts(fake, world.member))) == 1
        row = await bot.store._fetchone("SELECT status, message_id FROM dm_deliveries")
        assert tuple(row) == ("sent", dm.id)


async def test_closed_then_reopened_dms_get_one_dm_with_what_waited(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fake = world.fake
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    async with world.run_bot(clock=clock) as bot:
        await subscribe(world, query="hallucination")
        fake.close_dms(world.member)
        await bot.poll_feeds()
        await bot.readers.note_for_user(world.member.id)  # they were told; DMs are tried again
        fake.open_dms(world.member)
        await bot.readers.deliver_all()
        await bot.readers.deliver_all()
        [dm] = fake.dm_messages(world.member)
        assert "LongNovel" in dm.embeds[0]["description"]


async def test_a_dm_lists_25_papers_each_with_its_button(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.sections["readers"] = {"dm_max_papers": 25}
    world.rebuild_settings()
    fake = world.fake
    async with world.run_bot(clock=Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))) as bot:
        await subscribe(world, category="cs.CL")  # every paper of the day: far more than 25
        await bot.poll_feeds()
        [dm] = fake.dm_messages(world.member)  # the fake validates component limits: it was accepted
        keys = listed_keys(dm)
        assert len(keys) == 25
        assert [b["custom_id"] for b in buttons(dm)] == [f"pb:save:{k}" for k in keys]
        assert [b["label"] for b in buttons(dm)] == [str(n) for n in range(1, 26)]
        assert [len(row["components"]) for row in dm.components] == [5] * 5
        assert "more matches today" in dm.embeds[-1]["description"]
        saved = await fake.click(world.member, dm, f"pb:save:{keys[24]}")  # the 25th paper's button
        assert "Saved" in saved.all_text()
        assert [p.key for p, _ in await bot.store.list_bookmarks(world.member.id)] == [keys[24]]


async def test_papers_ingested_without_the_matcher_are_matched_at_the_next_round(world: World) -> None:
    """A crash between a batch's commit and its matching (or `paperbot fetch` on the bot's
    database) leaves papers the subscriptions never saw: the next round matches them."""
    world.serve_feed("/rss/cs.CL", fixture=CL)
    config = _config(world, world.tmp_path / "config.toml")
    env = {**os.environ, "DISCORD_TOKEN": world.fake.token, "PAPERBOT_CONFIG": str(config)}
    fetch = await asyncio.create_subprocess_exec(*paperbot_command(), "fetch", env=env,
                                                 stdout=asyncio.subprocess.DEVNULL)
    assert await fetch.wait() == 0
    world.sections["database"] = {"path": str(world.tmp_path / "crash.db")}  # the CLI's database
    world.rebuild_settings()
    async with world.run_bot(clock=Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))) as bot:
        await subscribe(world, query="hallucination")
        await bot.poll_feeds()  # the listing is unchanged: nothing new ingested this round
        [dm] = world.fake.dm_messages(world.member)
        assert "LongNovel" in dm.embeds[0]["description"]


# ---------------------------------------------------------------------- the store, on both backends


async def test_a_day_is_claimed_once_and_finishing_tells_exactly_its_items(store: Store) -> None:
    now = datetime(2026, 8, 21, 6, 0, tzinfo=UTC)
    day = now.date()
    _, first = await ingest(store, "https://rss.arxiv.org/rss/cs.LG",
                            [arxiv("2608.00001", "One"), arxiv("2608.00002", "Two"),
                             arxiv("2608.00003", "Three", kind=AnnounceType.REPLACE)])
    cursor = await store.matched_papers_cursor()
    pending, top = await store.papers_to_match(after=cursor)
    assert len(pending) == 2  # the replacement-only paper is no match
    one, two = pending
    await store.queue_matches([(7, one, 0), (7, two, 0)], unlisted={7: 5}, now=now, matched_up_to=top)
    assert await store.matched_papers_cursor() == top
    assert await store.papers_to_match(after=top) == ([], top)

    claim = await store.claim_dm_delivery(7, day, payload={"embeds": [{"title": "A"}], "buttons": []},
                                          items=[(one, "match", 0)], unlisted=5, now=now)
    again = await store.claim_dm_delivery(7, day, payload={"embeds": [{"title": "B"}], "buttons": []},
                                          items=[(two, "match", 0)], unlisted=0, now=now)
    assert again == claim and claim.payload["embeds"][0]["title"] == "A" and claim.attempts == 0
    await store.note_dm_attempt(claim.id)
    unsent = await store.unsent_dm_delivery(7)
    assert unsent is not None and unsent.attempts == 1
    assert await store.users_with_unsent_dms() == [7]
    await store.queue_matches([], unlisted={7: 2}, now=now)  # counted after the claim: kept
    await store.finish_dm_delivery(unsent, message_id=99, now=now)
    assert await store.unsent_dm_delivery(7) is None
    done = await store.dm_delivery(7, day)
    assert done is not None and (done.status, done.message_id) == ("sent", 99)
    matches, _, unlisted = await store.queued_dm(7)
    assert [m.paper.id for m in matches] == [two] and unlisted == 2
    last, _, _ = await store.dm_state(7)
    assert last == day
    # The next day's claim replaces nothing of today's, and a claim that never landed is dropped.
    later = await store.claim_dm_delivery(7, day + timedelta(days=1), payload={"embeds": [], "buttons": []},
                                          items=[(two, "match", 0)], unlisted=2, now=now)
    await store.drop_dm_delivery(later.id)
    assert await store.dm_delivery(7, day + timedelta(days=1)) is None
    assert first.new_paper_ids



async def test_matches_queued_as_columns_in_small_chunks_skip_what_was_sent(store: Store) -> None:
    now = datetime(2026, 8, 22, 6, 0, tzinfo=UTC)
    _, batch = await ingest(store, "https://rss.arxiv.org/rss/cs.LG",
                            [arxiv("2608.00011", "Alpha"), arxiv("2608.00012", "Beta"),
                             arxiv("2608.00013", "Gamma")])
    a, b, c = sorted(batch.new_paper_ids)
    sent = await store.claim_dm_delivery(8, now.date() - timedelta(days=1), items=[(b, "match", 0)],
                                         payload={"embeds": [], "buttons": []}, unlisted=0, now=now)
    await store.finish_dm_delivery(sent, message_id=5, now=now)  # user 8 already has Beta
    users, papers, subs = array("q", [7, 7, 7, 8, 8]), array("q", [a, b, c, a, b]), array("q", [0] * 5)
    await store.queue_match_columns(users, papers, subs, unlisted={7: 4}, now=now, chunk=2, matched_up_to=c)
    matches, _, unlisted = await store.queued_dm(7)
    assert sorted(m.paper.id for m in matches) == [a, b, c] and unlisted == 4
    matches, _, unlisted = await store.queued_dm(8)
    assert [m.paper.id for m in matches] == [a] and unlisted == 0  # Beta was sent: never again
    assert await store.matched_papers_cursor() == c
    # Run again (a crash before the cursor moved): nothing is queued twice.
    await store.queue_match_columns(users, papers, subs, now=now, chunk=2)
    matches, _, _ = await store.queued_dm(7)
    assert sorted(m.paper.id for m in matches) == [a, b, c]


async def test_subscriptions_are_read_page_by_page_with_topics_as_their_query(store: Store) -> None:
    now = datetime(2026, 8, 22, 6, 0, tzinfo=UTC)
    topic = await store.add_topic(1, "llm", "large language models", created_by=3, now=now)
    assert topic is not None
    for user, kind, value in [(3, "query", "graphs"), (4, "category", "cs.CL"), (5, "author", "Ada Lovelace"),
                              (6, "query", "diffusion -audio"), (7, "query", "quantum")]:
        assert await store.add_subscription(user, kind, value, now=now, limit=10) == "added"
    assert await store.add_subscription(3, "topic", "llm", topic_id=topic.id, guild_id=1, now=now,
                                        limit=10) == "added"
    seen: list[tuple[int, int, str, str]] = []
    after = -(2**63)
    while page := await store.subscription_page(after=after, limit=2):
        assert len(page) <= 2
        seen += [tuple(row) for row in page]
        after = page[-1][0]
    assert [row[0] for row in seen] == sorted(row[0] for row in seen) and len(seen) == 6
    assert [row[1:] for row in seen] == [(3, "query", "graphs"), (4, "category", "cs.CL"),
                                         (5, "author", "Ada Lovelace"), (6, "query", "diffusion -audio"),
                                         (7, "query", "quantum"), (3, "query", "large language models")]


# ---------------------------------------------------------------------- killed in the retry window


def _delivery_status(db: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT status, message_id FROM dm_deliveries").fetchall()


async def test_killed_in_discord_pys_retry_window_the_restart_sends_no_second_dm(world: World) -> None:
    fake = world.fake
    world.serve_feed("/rss/cs.CL", fixture=CL)
    config = _config(world, world.tmp_path / "config.toml")
    db = world.tmp_path / "crash.db"
    store = await Store(db).open()
    await store.add_subscription(world.member.id, "query", "hallucination", now=datetime.now(UTC),
                                 limit=10)
    await store.close()
    env = {**os.environ, "DISCORD_TOKEN": fake.token, "PAPERBOT_CONFIG": str(config)}

    async def start() -> asyncio.subprocess.Process:
        return await start_run_process(env, world.tmp_path)

    # The DM lands, its answer is a 500: discord.py sleeps 1 s before retrying, and dies meanwhile.
    lost = fake.inject(dm_posts(fake, world.member), status=500, after_processing=True)
    first = await start()
    try:
        await fake.wait_until(lambda: fake.dm_messages(world.member), timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert lost.hits == 1
    [dm] = fake.dm_messages(world.member)
    assert _delivery_status(db) == [("sending", None)]

    fake.nonce_window = 0  # restarted later than Discord remembers nonces: only looking helps
    second = await start()
    try:
        await fake.wait_until(lambda: _delivery_status(db) == [("sent", dm.id)], timeout=60)
        await asyncio.sleep(0.5)
    finally:
        second.terminate()
        _, err = await second.communicate()
    assert second.returncode == 0, err.decode()[-2000:]
    assert fake.dm_messages(world.member) == [dm]
    assert len(fake.requests_matching(dm_posts(fake, world.member))) == 1
