"""paperbot itself, end to end: the real discord.py client against the fake Discord."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.app import intents
from tests.botharness import World, register_commands
from tests.fakediscord import FakeDiscord
from tests.test_cli import paperbot_command

pytestmark = pytest.mark.timeout(90)

CL = "arxiv_rss_cs.CL_2026-08-20_141items.xml"


async def test_the_bot_connects_and_answers_status_and_help(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        status = await world.fake.invoke(world.member, world.guild, world.channel, "status")
        assert not status.deadline_missed
        assert status.ephemeral
        text = status.all_text()
        assert "141 stored" in text
        assert "127.0.0.1" in text  # the feed, by host (members do not see full URLs)
        assert "Database" not in text  # operator details are for admins

        admin_view = await world.fake.invoke(world.admin, world.guild, world.channel, "status")
        assert "Database" in admin_view.all_text()
        assert "/rss/cs.CL" in admin_view.all_text()

        help_answer = await world.fake.invoke(world.member, world.guild, world.channel, "help")
        assert help_answer.ephemeral
        assert "`/status`" in help_answer.all_text()
        assert "`/help`" in help_answer.all_text()


async def test_status_shows_a_failing_feed_and_its_reason_to_admins(world: World) -> None:
    world.serve_feed("/rss/broken", fixture="arxiv_api_error_503_2026-01-08.html", content_type="text/html")
    world.sections["polling"] = {"failing_after": 1}
    world.rebuild_settings()
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        admin_view = await world.fake.invoke(world.admin, world.guild, world.channel, "status")
        text = admin_view.all_text()
        assert "failing" in text
        assert "not a valid feed" in text
        member_view = await world.fake.invoke(world.member, world.guild, world.channel, "status")
        assert "failing" in member_view.all_text()
        assert "not a valid feed" not in member_view.all_text()


async def test_minimal_intents_and_no_mentions_by_default(running_bot: World) -> None:
    bot = running_bot.bot
    assert bot is not None
    assert bot.intents == intents()
    assert not bot.intents.message_content and not bot.intents.members
    assert bot.intents.guild_reactions and bot.intents.dm_reactions
    mentions = bot.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles) == (False, False, False)


async def test_a_dropped_gateway_resumes_and_handlers_are_not_doubled(running_bot: World) -> None:
    fake = running_bot.fake
    bot = running_bot.bot
    assert bot is not None
    before = len(bot.tree.get_commands()), len(bot.extra_events.get("on_raw_reaction_add", []))
    await fake.drop_gateway(resumable=True)
    await fake.wait_until(lambda: fake.resume_count >= 1 and fake.connected, timeout=15)
    answer = await fake.invoke(running_bot.member, running_bot.guild, running_bot.channel, "help")
    assert "`/status`" in answer.all_text()
    assert len([i for i in fake.interactions if i.id == answer.id]) == 1

    await fake.drop_gateway(resumable=False)
    await fake.wait_until(lambda: fake.identify_count >= 2 and fake.connected, timeout=15)
    again = await fake.invoke(running_bot.member, running_bot.guild, running_bot.channel, "help")
    assert "`/status`" in again.all_text()
    after = len(bot.tree.get_commands()), len(bot.extra_events.get("on_raw_reaction_add", []))
    assert after == before


class SlowCog(commands.Cog):
    """Test-only commands: one that forgets to defer, one that crashes."""

    @app_commands.command(name="slow-undeferred", description="sleeps 3.5 s before answering")
    async def slow(self, interaction: discord.Interaction) -> None:
        await asyncio.sleep(3.5)
        await interaction.response.send_message("too late")

    @app_commands.command(name="crash", description="raises")
    async def crash(self, interaction: discord.Interaction) -> None:
        raise RuntimeError("secret internal detail")


async def test_the_fake_catches_a_missed_3_second_deadline(running_bot: World) -> None:
    bot = running_bot.bot
    assert bot is not None
    await bot.add_cog(SlowCog())
    running_bot.fake.register_tree(bot.tree)
    answer = await running_bot.fake.invoke(running_bot.member, running_bot.guild, running_bot.channel,
                                           "slow-undeferred", late_grace=2)
    assert answer.deadline_missed


async def test_status_defers_so_slow_work_never_misses_the_deadline(running_bot: World,
                                                                     monkeypatch) -> None:
    bot = running_bot.bot
    assert bot is not None
    original = bot.store.count_papers

    async def slow_count() -> int:
        await asyncio.sleep(3.5)
        return await original()

    monkeypatch.setattr(bot.store, "count_papers", slow_count)
    answer = await running_bot.fake.invoke(running_bot.member, running_bot.guild, running_bot.channel,
                                           "status", timeout=10)
    assert not answer.deadline_missed
    assert "stored" in answer.all_text()


async def test_an_unexpected_error_gets_a_short_note_and_a_logged_reference(
    running_bot: World, caplog: pytest.LogCaptureFixture
) -> None:
    bot = running_bot.bot
    assert bot is not None
    await bot.add_cog(SlowCog())
    running_bot.fake.register_tree(bot.tree)
    with caplog.at_level(logging.ERROR, logger="bot.app"):
        answer = await running_bot.fake.invoke(running_bot.member, running_bot.guild,
                                               running_bot.channel, "crash")
    assert answer.ephemeral
    assert "Something went wrong" in answer.all_text()
    assert "secret internal detail" not in answer.all_text()
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    reference = answer.all_text().split("reference `")[1].split("`")[0]
    assert reference in logged
    assert any(r.exc_info for r in caplog.records)


async def test_a_burst_of_sends_through_429s_is_delivered_exactly_once(running_bot: World) -> None:
    """60 messages to 3 channels at once, while the fake answers 429 to some of them."""
    fake = running_bot.fake
    bot = running_bot.bot
    assert bot is not None
    channels = [running_bot.channel, fake.create_channel(running_bot.guild, "b"),
                fake.create_channel(running_bot.guild, "c")]
    for key in ("POST /channels/{channel_id}/messages",):
        fake.rate_limits.set_route(key, 5, 0.5)
    fake.inject("POST /channels/*/messages", status=429, count=8, retry_after=0.3)
    fake.inject("POST /channels/*/messages", status=429, count=2, retry_after=0.2, is_global=True)

    async def send(channel_id: int, n: int) -> None:
        await bot.get_partial_messageable(channel_id).send(f"message {n}")

    await asyncio.gather(*(send(channels[n % 3].id, n) for n in range(60)))
    delivered = sorted(m.content for ch in channels for m in fake.messages(ch))
    assert delivered == sorted(f"message {n}" for n in range(60))
    assert fake.count_429 >= 10
    assert bot.pacer.paced >= 60


async def test_close_shuts_everything_down(world: World) -> None:
    async with world.run_bot() as bot:
        store = bot.store
        scheduler = bot.scheduler
    assert bot.is_closed()
    assert not scheduler.running
    with pytest.raises(RuntimeError, match="not open"):
        await store.count_papers()


def _write_config(world: World, path: Path) -> Path:
    lines = [
        "[database]", f'path = "{world.tmp_path / "sub.db"}"',
        "[discord]", f'api_base_url = "{world.fake.api_base_url}"',
        f'gateway_url = "{world.fake.gateway_url}"', "guild_ready_timeout = 0.1",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def _start(world: World, token: str) -> asyncio.subprocess.Process:
    config = _write_config(world, world.tmp_path / "config.toml")
    env = {**os.environ, "DISCORD_TOKEN": token, "PAPERBOT_CONFIG": str(config)}
    return await asyncio.create_subprocess_exec(
        *paperbot_command(), "run", env=env, cwd=world.tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_paperbot_run_as_a_process_serves_commands(world: World) -> None:

    fake: FakeDiscord = world.fake
    # Register the bot's commands as `paperbot sync` would (the process does not sync on start).
    await register_commands(fake, world.settings)
    registered = fake.command_creates

    process = await _start(world, fake.token)
    try:
        await fake.wait_until(lambda: fake.connected and fake.identify_count >= 1, timeout=30)
        answer = await fake.invoke(world.member, world.guild, world.channel, "help", timeout=15)
        assert "`/status`" in answer.all_text()
        assert fake.command_creates == registered  # starting did not re-register commands
    finally:
        process.terminate()
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert fake.token not in (out + err).decode()


async def test_a_bad_token_gives_a_clear_error_and_exit_code(world: World) -> None:
    process = await _start(world, "not-the-token")
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 3
    assert "Discord rejected the token in DISCORD_TOKEN" in err.decode()
    assert "Traceback" not in err.decode()
    assert "not-the-token" not in (out + err).decode()



async def test_the_feed_poller_runs_inside_the_bot(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    async with world.run_bot() as bot:
        for _ in range(100):  # the first scheduled poll comes a few seconds after start
            if await bot.store.count_papers() == 141:
                break
            await asyncio.sleep(0.2)
        assert await bot.store.count_papers() == 141
        answer = await world.fake.invoke(world.member, world.guild, world.channel, "help")
        assert not answer.deadline_missed


async def test_sharded_bot_serves_the_guilds_of_its_shards(world: World) -> None:
    fake = world.fake
    odd = fake.create_guild("Odd Lab", id=(11 << 22) | 5, owner=world.admin)
    fake.add_member(odd, world.member)
    odd_channel = fake.create_channel(odd, "papers")
    world.sections["discord"] = {"shard_count": 2}
    world.rebuild_settings()
    async with world.run_bot() as bot:
        assert isinstance(bot, commands.AutoShardedBot)
        assert bot.shard_count == 2
        answer = await fake.invoke(world.member, odd, odd_channel, "help")
        assert "`/status`" in answer.all_text()
    assert sorted(s.shard for s in fake.gateway.sessions) == [(0, 2), (1, 2)]


async def test_paperbot_sync_registers_the_commands_for_one_guild(world: World) -> None:
    config = _write_config(world, world.tmp_path / "config.toml")
    env = {**os.environ, "DISCORD_TOKEN": world.fake.token, "PAPERBOT_CONFIG": str(config)}
    process = await asyncio.create_subprocess_exec(
        *paperbot_command(), "sync", "--guild", str(world.guild.id), env=env, cwd=world.tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    names = {c["name"] for c in world.fake.commands(world.guild)}
    assert {"status", "help"} <= names
    assert f"Registered {len(names)} slash commands for server {world.guild.id}" in out.decode()
    assert not world.fake.connected  # syncing needs no gateway session


async def test_an_unusable_database_path_is_a_clear_start_error(world: World) -> None:
    blocker = world.tmp_path / "not-a-directory"
    blocker.write_text("a file where the database folder should be")
    config = world.tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{blocker / "paperbot.db"}"\n'
        f'[discord]\napi_base_url = "{world.fake.api_base_url}"\ngateway_url = "{world.fake.gateway_url}"\n'
    )
    env = {**os.environ, "DISCORD_TOKEN": world.fake.token, "PAPERBOT_CONFIG": str(config)}
    process = await asyncio.create_subprocess_exec(
        *paperbot_command(), "run", env=env, cwd=world.tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert "paperbot could not start" in err.decode()
    assert "Traceback" not in err.decode()
