"""Digests end to end: the real discord.py client against the fake Discord, real feeds on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot
from bot.digest.model import BOOKMARK_EMOJI, DigestConfig, RunStatus
from bot.search import parse_query
from bot.sources import parse_feed
from tests.botharness import World, register_commands, start_run_process
from tests.fakediscord import FakeDiscord, Message, NotAvailable, P
from tests.feedserver import REAL
from tests.test_cli import paperbot_command

pytestmark = pytest.mark.timeout(120)

CL = "arxiv_rss_cs.CL_2026-08-20_141items.xml"
BIG = "arxiv_rss_cs.LG_2026-05-12_1101items.xml"
HOLIDAY = "arxiv_rss_cs.LG_EMPTY_holiday_2025-11-28.xml"
MESSAGES = "POST /channels/{channel_id}/messages"


def soon(seconds: float) -> str:
    """A UTC wall-clock time a few seconds ahead, as the /digest time option takes it."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def listing_keys(name: str, *types: str) -> list[str]:
    parsed = parse_feed((REAL / name).read_bytes())
    return [p.key for p in parsed.papers if str(p.announce_type) in types]


def footer(message: Message) -> str:
    return " ".join(e.get("footer", {}).get("text", "") for e in message.embeds)


def paper_key(message: Message) -> str | None:
    for embed in message.embeds:
        url = embed.get("url", "")
        if "/abs/" in url:
            return url.split("/abs/")[1]
    return None


def digest_thread(fake: FakeDiscord, channel: Any) -> list[Message]:
    overviews = [m for m in fake.messages(channel) if m.thread_id]
    assert len(overviews) <= 1, "more than one digest overview"
    return fake.messages(overviews[0].thread_id) if overviews else []


async def add_digest(world: World, **options: Any) -> Any:
    values = {"channel": world.channel, "categories": "cs.CL", "time": soon(3600), "timezone": "UTC"}
    values.update(options)
    return await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="add",
                                   options=values)


async def wait_for_run(bot: PaperBot, digest_id: int, *, within: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        runs = await bot.store.latest_runs([digest_id])
        run = runs.get(digest_id)
        if run is not None and run.status != RunStatus.POSTING:
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"digest {digest_id} did not finish in {within} s")


def fast_sends(fake: FakeDiscord) -> None:
    """Discord's real per-channel bucket is 5 per 5 s; most tests needn't wait that long."""
    fake.rate_limits.set_route(MESSAGES, 5, 0.2)
    fake.rate_limits.set_route("PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                               5, 0.2)


# ---------------------------------------------------------------------- configuring


async def test_an_admin_configures_a_digest_and_a_member_is_refused(running_bot: World) -> None:
    world = running_bot
    added = await add_digest(world, categories="cs.lg, cs.CL", time="09:30", timezone="Europe/Berlin",
                             max_papers=5)
    assert added.ephemeral
    assert "Digest **#1** added" in added.all_text()
    assert "cs.LG · cs.CL" in added.all_text()
    assert "09:30 (Europe/Berlin)" in added.all_text()

    listing = await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="list")
    assert "#1" in listing.all_text()
    assert "next <t:" in listing.all_text()

    # Discord hides /digest from members without Manage Server...
    with pytest.raises(NotAvailable):
        await world.fake.invoke(world.member, world.guild, world.channel, "digest", subcommand="list")
    # ...and if a server admin unhides it in the integration settings, paperbot still refuses.
    unhidden = [{**c, "default_member_permissions": None} for c in world.fake.commands()]
    world.fake.register_commands(unhidden)
    refused = await world.fake.invoke(world.member, world.guild, world.channel, "digest", subcommand="add",
                                      options={"channel": world.channel, "categories": "cs.LG",
                                               "time": "09:00", "timezone": "UTC"})
    assert refused.ephemeral
    assert "Manage Server" in refused.all_text()
    assert len(await world.bot.store.list_digests()) == 1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"categories": "cs.LG quantum-stuff"}, "Not arXiv categories: `quantum-stuff`"),
        ({"time": "25:00"}, "is not a time"),
        ({"timezone": "Mars/Olympus"}, "is not a time zone I know"),
        ({"filter": "🦜🦜"}, "That filter has no words"),
    ],
)
async def test_bad_settings_get_a_clear_message(running_bot: World, options: dict, expected: str) -> None:
    answer = await add_digest(running_bot, **options)
    assert expected in answer.all_text()
    assert await running_bot.bot.store.list_digests() == []


async def test_autocomplete_for_categories_and_time_zones(running_bot: World) -> None:
    world = running_bot
    choices = await world.fake.autocomplete(world.admin, world.guild, world.channel, "digest",
                                            subcommand="add", focused="categories",
                                            options={"categories": "cs.LG cs.c"})
    values = [c["value"] for c in choices]
    assert "cs.LG cs.CL" in values and "cs.LG cs.CV" in values
    zones = await world.fake.autocomplete(world.admin, world.guild, world.channel, "digest",
                                          subcommand="add", focused="timezone",
                                          options={"timezone": "berl"})
    assert zones[0]["value"] == "Europe/Berlin"


async def test_setup_reports_missing_permissions_in_the_channel(running_bot: World) -> None:
    world = running_bot
    world.fake.deny_bot(world.channel, P.EMBED_LINKS, P.CREATE_PUBLIC_THREADS)
    answer = await add_digest(world)
    assert "missing **Embed Links, Create Public Threads**" in answer.all_text()


async def test_a_category_nobody_polls_starts_being_polled(world: World) -> None:
    world.feeds.serve("/rss/cs.CV", fixture=HOLIDAY)
    world.sections["arxiv"] = {"rss_base_url": world.feeds.url("/rss/")}
    world.rebuild_settings()
    async with world.run_bot() as bot:
        await add_digest(world, categories="cs.CV")
        feeds = [f.url for f in await bot.store.list_feeds(enabled_only=True)]
        assert world.feeds.url("/rss/cs.CV") in feeds
        await world.fake.wait_until(lambda: bool(world.feeds.hits("/rss/cs.CV")), timeout=10)


# ---------------------------------------------------------------------- posting


async def test_the_digest_arrives_once_at_its_time_with_the_expected_papers(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        added = await add_digest(world, time=soon(3), max_papers=5)
        assert "#1" in added.all_text()
        run = await wait_for_run(bot, 1)
        assert run.status == RunStatus.DONE

        overviews = [m for m in world.fake.messages(world.channel) if m.author.id == world.fake.bot.id]
        assert len(overviews) == 1
        overview = overviews[0].embeds[0]
        assert "**99 papers** (72 new, 27 cross-listed)" in overview["description"]
        assert "Thursday 20 August 2026" in overview["title"]
        thread = digest_thread(world.fake, world.channel)
        papers = [m for m in thread if paper_key(m)]
        # No upvotes or topics yet: announcement order, new papers first.
        assert [paper_key(m) for m in papers] == listing_keys(CL, "new")[:5]
        assert all(m.reactions.get(BOOKMARK_EMOJI) == [world.fake.bot.id] for m in papers)
        assert "94 more" in thread[-1].content
        assert all(m.allowed_mentions == {"parse": []} or m.allowed_mentions["parse"] == []
                   for m in [*overviews, *thread])

        await asyncio.sleep(2)
        again = await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                        options={"digest": 1})
        assert "already posted" in again.all_text()
        assert len([m for m in world.fake.messages(world.channel) if m.embeds]) == 1


async def test_show_more_pages_ephemerally(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, max_papers=3)
        await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                options={"digest": 1})
        more = digest_thread(world.fake, world.channel)[-1]
        page = await world.fake.click(world.member, more, "pb:more:1:0")
        assert page.ephemeral
        assert page.embeds[0]["title"] == "More papers (1–10 of 96)"
        expected = listing_keys(CL, "new")[3:13]
        assert [k in page.embeds[0]["description"] for k in expected] == [True] * 10
        assert "pb:more:1:10" in json.dumps(page.components)


async def test_the_1101_item_day_posts_a_capped_digest_discord_accepts(world: World) -> None:
    world.serve_feed("/rss/cs.LG", fixture=BIG)
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, categories="cs.LG", max_papers=25)
        answer = await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                         options={"digest": 1}, timeout=60)
        assert "Posted today's digest" in answer.all_text()
        thread = digest_thread(world.fake, world.channel)
        assert len([m for m in thread if paper_key(m)]) == 25
        assert "708 more" in thread[-1].content
        assert not [r for r in world.fake.requests if r.status == 400]


async def test_preview_shows_what_would_be_posted_without_posting(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, max_papers=4)
        preview = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                          subcommand="preview", options={"digest": 1})
        assert preview.ephemeral
        assert "99 papers selected" in preview.all_text()
        assert len(preview.embeds) == 5  # the overview and the four cards
        assert world.fake.messages(world.channel) == []


async def test_filter_and_hugging_face_papers(world: World, real_fixture) -> None:
    items = json.loads(real_fixture("hf_daily_papers_2026-08-21_indent2.json"))
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.serve_feed("/api/daily_papers", json.dumps(items), content_type="application/json")
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, include_hf=True, filter="agent", max_papers=25)
        await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                options={"digest": 1})
        thread = digest_thread(world.fake, world.channel)
        keys = [paper_key(m) for m in thread if paper_key(m)]
        assert keys, "the filter kept nothing"
        hf_keys = {i["paper"]["id"] for i in items}
        # Hugging Face papers carry upvotes, so they rank first.
        assert keys[0] in hf_keys
        # Exactly the day's papers (arXiv new/cross-listed and HF) that the search "agent" finds.
        found = {h.paper.key for h in await bot.store.search(parse_query("agent"), limit=1000)}
        day = set(listing_keys(CL, "new", "cross")) | hf_keys
        assert set(keys) == found & day
        assert len(keys) == len(set(keys))


async def test_empty_holiday_posts_a_line_and_a_weekend_posts_nothing(world: World) -> None:
    world.serve_feed("/rss/cs.LG", fixture=HOLIDAY)
    thanksgiving = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    async with world.run_bot(clock=lambda: thanksgiving) as bot:
        await bot.poll_feeds()
        await add_digest(world, categories="cs.LG")
        answer = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                         subcommand="now", options={"digest": 1})
        assert "Nothing new to post today" in answer.all_text()
        [line] = world.fake.messages(world.channel)
        assert "No new papers in cs.LG today" in line.content
    saturday = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    other = world.fake.create_channel(world.guild, "weekend")
    async with world.run_bot(clock=lambda: saturday):
        await add_digest(world, categories="cs.LG", channel=other)
        answer = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                         subcommand="now", options={"digest": 2})
        assert "Nothing new" in answer.all_text()
        assert world.fake.messages(other) == []


async def test_a_failing_source_is_named_instead_of_silently_posting_less(world: World) -> None:
    world.serve_feed("/rss/cs.LG", fixture="arxiv_api_error_rate_exceeded_2026-01-08.txt",
                     content_type="text/plain")
    world.sections["polling"] = {"failing_after": 1}
    world.rebuild_settings()
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, categories="cs.LG")
        await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                options={"digest": 1})
        [notice] = world.fake.messages(world.channel)
        assert "could not be fetched" in notice.content
        assert "Rate exceeded" in notice.content


# ---------------------------------------------------------------------- exactly once


async def test_gateway_drop_429_storm_and_5xx_still_post_exactly_once(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fake = world.fake
    fake.rate_limits.set_route(MESSAGES, 2, 0.5)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, max_papers=10)
        fake.inject("POST /channels/*/messages", status=429, count=6, retry_after=0.3)
        fake.inject("POST /channels/*/messages", status=429, count=2, retry_after=0.2, is_global=True)
        # A post that Discord stores but whose answer is lost: the retry must not duplicate it.
        fake.inject("POST /channels/*/messages", status=502, count=1, after_processing=True)
        fake.inject("POST /channels/*/messages", status=503, count=1)
        task = asyncio.create_task(fake.invoke(world.admin, world.guild, world.channel, "digest",
                                               subcommand="now", options={"digest": 1}, timeout=90))
        await fake.wait_until(lambda: len(digest_thread(fake, world.channel)) >= 2, timeout=30)
        await fake.drop_gateway(resumable=True)
        answer = await task
        assert "Posted today's digest" in answer.all_text()
        thread = digest_thread(fake, world.channel)
        keys = [paper_key(m) for m in thread if paper_key(m)]
        assert keys == listing_keys(CL, "new")[:10]
        assert len(thread) == 11  # ten cards and the "more" message, each once
        assert Counter(footer(m) for m in thread).most_common(1)[0][1] == 1
        assert fake.count_429 >= 8


async def test_a_missed_digest_is_posted_once_on_start(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fast_sends(world.fake)
    ten_minutes_ago = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%H:%M")
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await bot.store.add_digest(DigestConfig(
            guild_id=world.guild.id, channel_id=world.channel.id, categories=["cs.CL"],
            post_time=ten_minutes_ago, timezone="UTC", max_papers=3), now=datetime.now(UTC))
    async with world.run_bot() as bot:  # started after the digest's time: catches up
        run = await wait_for_run(bot, 1)
        assert run.trigger == "catch-up" and run.status == RunStatus.DONE
    async with world.run_bot() as bot:  # and a second restart does not post it again
        await asyncio.sleep(1.5)
    overviews = [m for m in world.fake.messages(world.channel) if m.thread_id]
    assert len(overviews) == 1


async def test_missing_permission_fails_with_the_reason_then_pauses(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.sections["digest"] = {"max_failures_before_pause": 2}
    world.rebuild_settings()
    fast_sends(world.fake)
    other_guild = world.fake.create_guild("Other Lab", owner=world.admin)
    other_channel = world.fake.create_channel(other_guild, "papers")
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world)
        await world.fake.invoke(world.admin, other_guild, other_channel, "digest", subcommand="add",
                                options={"channel": other_channel, "categories": "cs.CL",
                                         "time": "09:00", "timezone": "UTC", "max_papers": 2})
        world.fake.deny_bot(world.channel, P.SEND_MESSAGES)
        first = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                        subcommand="now", options={"digest": 1})
        assert "Could not post: missing permissions in #papers: Send Messages" in first.all_text()
        listing = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                          subcommand="list")
        assert "failing: missing permissions" in listing.all_text()
        status = await world.fake.invoke(world.admin, world.guild, world.channel, "status")
        assert "Digest problems" in status.all_text()

        second = await world.fake.invoke(world.admin, world.guild, world.channel, "digest",
                                         subcommand="now", options={"digest": 1})
        assert "now paused" in second.all_text()
        assert bot.scheduler.get_job("digest-1") is None
        # Another server's digest is unaffected.
        other = await world.fake.invoke(world.admin, other_guild, other_channel, "digest",
                                        subcommand="now", options={"digest": 2})
        assert "Posted today's digest" in other.all_text()
        assert world.fake.messages(world.channel) == []


async def test_a_deleted_channel_marks_the_digest_failing(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world)
        await world.fake.delete_channel(world.channel)
        await world.fake.wait_until(lambda: True, timeout=1)
        for _ in range(50):
            digest = await bot.store.get_digest(1)
            if digest and digest.consecutive_failures:
                break
            await asyncio.sleep(0.1)
        assert digest is not None and "was deleted" in (digest.last_error or "")
        elsewhere = world.fake.create_channel(world.guild, "general")
        answer = await world.fake.invoke(world.admin, world.guild, elsewhere, "digest", subcommand="now",
                                         options={"digest": 1})
        assert "no longer exists" in answer.all_text()


async def test_many_digests_due_together_post_concurrently_without_429s(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    fake = world.fake
    channels = [fake.create_channel(world.guild, f"lab-{i}") for i in range(20)]
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        when = soon(4)
        for channel in channels:
            await add_digest(world, channel=channel, time=when, max_papers=2)
        started = asyncio.get_running_loop().time()
        for digest_id in range(1, 21):
            await wait_for_run(bot, digest_id, within=60)
        elapsed = asyncio.get_running_loop().time() - started
        for channel in channels:
            thread = digest_thread(fake, channel)
            assert len([m for m in thread if paper_key(m)]) == 2
        # 20 digests x ~7 requests: one after another they would take > 20 x 5 s per-channel waits.
        assert elapsed < 40
        assert not [h for h in fake.rate_limit_hits if h.is_global]


# ---------------------------------------------------------------------- a crash mid-digest


def _config(world: World, path: Path) -> Path:
    feeds = "".join(f'\n[[feeds]]\nurl = "{f["url"]}"\n' for f in world.feed_config)
    path.write_text(
        f'[database]\npath = "{world.tmp_path / "crash.db"}"\n'
        f'[discord]\napi_base_url = "{world.fake.api_base_url}"\ngateway_url = "{world.fake.gateway_url}"\n'
        "guild_ready_timeout = 0.1\n" + feeds
    )
    return path


async def fetched_by_a_process(world: World) -> dict[str, str]:
    """cs.CL served and fetched by `paperbot fetch` into the store at tmp_path/crash.db; the
    environment a `paperbot run` process then needs."""
    world.serve_feed("/rss/cs.CL", fixture=CL)
    config = _config(world, world.tmp_path / "config.toml")
    env = {**os.environ, "DISCORD_TOKEN": world.fake.token, "PAPERBOT_CONFIG": str(config)}
    fetch = await asyncio.create_subprocess_exec(*paperbot_command(), "fetch", env=env,
                                                 stdout=asyncio.subprocess.DEVNULL)
    assert await fetch.wait() == 0
    return env


async def test_killed_mid_digest_and_restarted_the_digest_completes_without_repeats(world: World) -> None:
    fake = world.fake
    env = await fetched_by_a_process(world)
    await register_commands(fake, world.settings)

    async def start() -> asyncio.subprocess.Process:
        return await start_run_process(env, world.tmp_path)

    fake.rate_limits.set_route(MESSAGES, 1, 0.6)  # one card at a time, so the crash lands mid-way
    first = await start()
    try:
        await fake.wait_until(lambda: fake.connected, timeout=30)
        await add_digest(world, time=soon(2), max_papers=10)
        await fake.wait_until(
            lambda: len([m for m in digest_thread(fake, world.channel) if paper_key(m)]) >= 2, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    posted_before = len([m for m in digest_thread(fake, world.channel) if paper_key(m)])
    assert posted_before < 10

    second = await start()
    try:
        await fake.wait_until(lambda: len(digest_thread(fake, world.channel)) == 11, timeout=60)
        await asyncio.sleep(1)
    finally:
        second.terminate()
        _, err = await second.communicate()
    assert second.returncode == 0, err.decode()[-2000:]
    thread = digest_thread(fake, world.channel)
    keys = [paper_key(m) for m in thread if paper_key(m)]
    assert keys == listing_keys(CL, "new")[:10]
    assert len(thread) == 11
    assert len([m for m in fake.messages(world.channel) if m.thread_id]) == 1
    assert all(BOOKMARK_EMOJI in m.reactions for m in thread if paper_key(m))


async def test_a_new_day_never_repeats_a_run_still_being_finished(world: World) -> None:
    """Yesterday's run is still posting (Discord trouble); today's digest starts after it."""
    world.serve_feed("/rss/cs.CL", fixture=CL)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        config = await bot.store.add_digest(DigestConfig(
            guild_id=world.guild.id, channel_id=world.channel.id, categories=["cs.CL"],
            post_time="09:00", timezone="UTC", max_papers=3), now=datetime.now(UTC))
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        run, _ = await bot.store.claim_run(config.id or 0, yesterday, trigger="schedule",
                                           now=datetime.now(UTC))
        plan, cursor_to = await bot.digests.compose(config, run_id=run.id, run_date=yesterday)
        assert plan.paper_count == 99
        await bot.store.save_plan(run.id, plan, cursor_to=cursor_to)
        today, _ = await bot.digests.compose(config, run_id=0, run_date=yesterday + timedelta(days=1))
        assert today.paper_count == 0
