"""Running the real paperbot (discord.py unmodified) against the fake Discord and loopback feeds."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from bot.app import PaperBot, ShardedPaperBot, create_bot
from bot.config import Settings, parse_settings
from tests.fakediscord import Channel, FakeDiscord, Guild, User, running_client
from tests.feedserver import FeedServer


def bot_settings(fake: FakeDiscord, tmp_path: Path, *, feeds: list[dict[str, Any]] | None = None,
                 **sections: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {
        "database": {"path": str(tmp_path / "paperbot.db")},
        "feeds": feeds or [],
        "http": {"contact": "tests@example.invalid"},
        "discord": {
            "api_base_url": fake.api_base_url,
            "gateway_url": fake.gateway_url,
            "guild_ready_timeout": 0.1,
        },
        # Search by meaning loads a model: off unless a test turns it on (tests/meaning_support.py).
        "meaning": {"enabled": False},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_settings(data, "test settings")


async def _no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py waits 5 s before each re-IDENTIFY (Discord's identify rate); tests need not."""


@contextlib.asynccontextmanager
async def running_paperbot(
    settings: Settings, fake: FakeDiscord, **kwargs: Any
) -> AsyncIterator[PaperBot | ShardedPaperBot]:
    """Start paperbot against the fake, register its commands as `paperbot sync` would, stop it after."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    bot = create_bot(settings, **kwargs)
    bot.before_identify_hook = _no_identify_wait  # type: ignore[method-assign]
    try:
        async with running_client(bot, fake):
            fake.register_tree(bot.tree)
            yield bot
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@dataclass
class World:
    """A server with a channel, an admin and a member, paperbot's settings, and a feed server."""

    fake: FakeDiscord
    feeds: FeedServer
    tmp_path: Path
    guild: Guild
    channel: Channel
    admin: User
    member: User
    settings: Settings = field(init=False)
    feed_config: list[dict[str, Any]] = field(default_factory=list)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    bot: PaperBot | ShardedPaperBot | None = None  # set while run_bot() is active

    def __post_init__(self) -> None:
        self.rebuild_settings()

    def rebuild_settings(self) -> Settings:
        self.settings = bot_settings(self.fake, self.tmp_path, feeds=self.feed_config, **self.sections)
        return self.settings

    def serve_feed(self, path: str, body: bytes | str | None = None, **options: Any) -> str:
        url = self.feeds.serve(path, body, **options)
        self.feed_config.append({"url": url})
        self.rebuild_settings()
        return url

    @contextlib.asynccontextmanager
    async def run_bot(self, **kwargs: Any) -> AsyncIterator[PaperBot | ShardedPaperBot]:
        async with running_paperbot(self.settings, self.fake, **kwargs) as bot:
            self.bot = bot
            try:
                yield bot
            finally:
                self.bot = None


def make_world(fake: FakeDiscord, feeds: FeedServer, tmp_path: Path) -> World:
    admin = fake.create_user("alice")
    member = fake.create_user("bob")
    guild = fake.create_guild("Reading Group", owner=admin)
    fake.add_member(guild, admin, admin=True)
    fake.add_member(guild, member)
    channel = fake.create_channel(guild, "papers")
    return World(fake, feeds, tmp_path, guild, channel, admin, member)


async def register_commands(fake: FakeDiscord, settings: Settings) -> None:
    """Tell the fake Discord the bot's command tree, as `paperbot sync` would (`run` never syncs)."""
    probe = PaperBot(settings, sync_only=True)
    for extension in probe.extensions_to_load:
        await probe.load_extension(extension)
    fake.register_tree(probe.tree)
    await probe.close()


async def start_run_process(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """`paperbot run` as a child process; its stderr is kept for a failing test's message."""
    from tests.test_cli import paperbot_command

    return await asyncio.create_subprocess_exec(
        *paperbot_command(), "run", env={**os.environ, **env}, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)

