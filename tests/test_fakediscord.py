"""Tests of the fake Discord itself, driven by a tiny real discord.py bot defined here.

Each test states what a Discord user (or the bot's operator) would notice; if the fake drifted
from Discord in that respect, the test would fail.
"""

from __future__ import annotations

import asyncio
import collections
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import (
    GUILD_MEMBERS,
    Channel,
    FakeDiscord,
    Guild,
    NotAvailable,
    P,
    User,
    point_discord_py_at,
    running_client,
)

pytestmark = pytest.mark.timeout(60)

FEEDS = ["arxiv:cs.LG", "arxiv:cs.CL", "arxiv:cs.AI", "hf:daily"]


class BookmarkView(discord.ui.View):
    """A persistent view: survives restarts because its custom_id is fixed and timeout=None."""

    def __init__(self, clicks: collections.Counter[str]) -> None:
        super().__init__(timeout=None)
        self.clicks = clicks

    @discord.ui.button(label="Bookmark", custom_id="paperbot:bookmark")
    async def bookmark(self, inter: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.clicks["bookmark"] += 1
        await inter.response.send_message("Saved to your reading list.", ephemeral=True)

    @discord.ui.button(label="Hide", custom_id="paperbot:hide")
    async def hide(self, inter: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await inter.response.edit_message(content="(hidden)", view=None)

    @discord.ui.button(label="Refresh", custom_id="paperbot:refresh")
    async def refresh(self, inter: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await inter.response.defer()
        await inter.edit_original_response(content="refreshed")


class TinyBot(commands.Bot):
    """The smallest bot exercising what paperbot uses: slash commands, a group, autocomplete,
    a persistent button, reactions, DMs. Counts every handler call."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("intents", discord.Intents.default())
        super().__init__(command_prefix="!", guild_ready_timeout=0.1, **kwargs)
        self.calls: collections.Counter[str] = collections.Counter()
        self.errors: list[discord.HTTPException] = []
        self.raw_reactions: list[tuple[str, discord.RawReactionActionEvent]] = []
        self.seen_messages: list[tuple[int, str]] = []
        self.ready_count = 0
        self.resumed_count = 0
        self._define_commands()

    async def setup_hook(self) -> None:
        self.add_view(BookmarkView(self.calls))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before a re-IDENTIFY; skip that to keep tests fast."""

    async def on_ready(self) -> None:
        self.ready_count += 1

    async def on_resumed(self) -> None:
        self.resumed_count += 1

    async def on_message(self, message: discord.Message) -> None:
        self.seen_messages.append((message.author.id, message.content))

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        self.raw_reactions.append(("add", event))

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        self.raw_reactions.append(("remove", event))

    def _define_commands(self) -> None:
        tree = self.tree

        @tree.command(name="ping", description="Answer at once")
        async def ping(inter: discord.Interaction) -> None:
            self.calls["ping"] += 1
            await inter.response.send_message("pong")

        @tree.command(name="slow", description="Think first, then answer")
        async def slow(inter: discord.Interaction) -> None:
            self.calls["slow"] += 1
            await inter.response.defer(thinking=True)
            await asyncio.sleep(0.2)
            await inter.followup.send("done thinking")
            await inter.followup.send("and one more thing", ephemeral=True)

        @tree.command(name="secret", description="Only you can see this")
        async def secret(inter: discord.Interaction) -> None:
            await inter.response.send_message("just for you", ephemeral=True)

        @tree.command(name="edit", description="Reply, then edit the reply")
        async def edit(inter: discord.Interaction) -> None:
            await inter.response.send_message("v1")
            await inter.edit_original_response(content="v2")
            original = await inter.original_response()
            self.calls[f"original:{original.content}"] += 1

        @tree.command(name="progress", description="Follow up, then edit the followup")
        async def progress(inter: discord.Interaction) -> None:
            await inter.response.defer(thinking=True)
            await inter.followup.send("started")
            note = await inter.followup.send("working...", wait=True)
            await note.edit(content="finished")

        @tree.command(name="feedback", description="Opens a form")
        async def feedback(inter: discord.Interaction) -> None:
            modal = discord.ui.Modal(title="Feedback on this digest")
            modal.add_item(discord.ui.TextInput(label="Comment", custom_id="comment"))
            await inter.response.send_modal(modal)

        @tree.command(name="tardy", description="Follows up after the token expired")
        async def tardy(inter: discord.Interaction) -> None:
            await inter.response.defer(thinking=True)
            await asyncio.sleep(0.6)
            try:
                await inter.followup.send("too late for a followup")
            except discord.HTTPException as e:
                self.errors.append(e)

        @tree.command(name="late", description="Misses the 3 s deadline")
        async def late(inter: discord.Interaction) -> None:
            await asyncio.sleep(3.5)
            try:
                await inter.response.send_message("too late")
            except discord.HTTPException as e:
                self.errors.append(e)

        @tree.command(name="answer", description="Answer (run by two bot copies at once)")
        async def answer(inter: discord.Interaction) -> None:
            self.calls["answer"] += 1
            try:
                await inter.response.send_message(f"answer from {id(self)}")
            except discord.HTTPException as e:
                self.errors.append(e)

        digest = app_commands.Group(name="digest", description="Manage paper digests")

        async def feed_choices(inter: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            self.calls["autocomplete"] += 1
            return [app_commands.Choice(name=f, value=f) for f in FEEDS if current in f]

        @digest.command(name="add", description="Post a daily digest of a feed")
        @app_commands.autocomplete(feed=feed_choices)
        async def add(
            inter: discord.Interaction,
            feed: str,
            channel: discord.TextChannel,
            hour: app_commands.Range[int, 0, 23] = 8,
        ) -> None:
            self.calls["digest add"] += 1
            await inter.response.send_message(
                f"{feed} will be posted in #{channel.name} at {hour:02d}:00",
                view=BookmarkView(self.calls),
            )

        settings = app_commands.Group(name="settings", description="Digest settings", parent=digest)

        @settings.command(name="timezone", description="Set the server time zone")
        async def timezone(inter: discord.Interaction, tz: str) -> None:
            await inter.response.send_message(f"time zone is now {tz}", ephemeral=True)

        tree.add_command(digest)


@dataclass
class World:
    fake: FakeDiscord
    guild: Guild
    channel: Channel
    other: Channel
    alice: User
    admin: User
    bots: list[TinyBot] = field(default_factory=list)


@pytest_asyncio.fixture
async def world(discord_py_at_fake: FakeDiscord) -> World:
    """A server with two text channels, a member and an admin; the fake is already pointed at."""
    fake = discord_py_at_fake
    # Discord's message bucket is 5 per 5 s; most tests here post more than 5 messages and are
    # not about pacing, so shorten the window (the burst test sets its own).
    fake.rate_limits.set_route("POST /channels/{channel_id}/messages", 5, 0.2)
    guild = fake.create_guild("Reading Group")
    channel = fake.create_channel(guild, "papers")
    other = fake.create_channel(guild, "off-topic")
    alice = fake.create_user("alice")
    admin = fake.create_user("mod")
    fake.add_member(guild, alice)
    fake.add_member(guild, admin, admin=True)
    return World(fake, guild, channel, other, alice, admin)


@pytest_asyncio.fixture
async def bot(world: World) -> AsyncIterator[TinyBot]:
    """A running TinyBot whose commands were synced through the real sync endpoint."""
    b = TinyBot()
    async with running_client(b, world.fake):
        await b.tree.sync()
        yield b


# -- connection, cache, REST basics ---------------------------------------------------------


async def test_bot_connects_and_sees_the_server(world: World, bot: TinyBot) -> None:
    """on_ready fires once; the server, its channels and the bot's own member are cached."""
    fake = world.fake
    assert bot.ready_count == 1
    assert bot.user is not None and bot.user.id == fake.bot.id
    g = bot.get_guild(world.guild.id)
    assert g is not None and g.name == "Reading Group"
    assert {c.name for c in g.text_channels} == {"papers", "off-topic"}
    assert g.me is not None and g.me.id == fake.bot.id
    assert g.member_count == 4  # owner, alice, mod, bot
    perms = g.get_channel(world.channel.id).permissions_for(g.me)  # type: ignore[union-attr]
    assert perms.send_messages and perms.embed_links and not perms.administrator
    fetched = await g.fetch_member(world.alice.id)
    assert fetched.name == "alice"
    assert (await bot.fetch_user(world.admin.id)).name == "mod"
    assert (await bot.fetch_channel(world.other.id)).name == "off-topic"  # type: ignore[union-attr]
    app = await bot.application_info()
    assert app.id == fake.application_id
    routes = [r.route for r in fake.requests[:2]]
    assert routes == ["/users/@me", "/oauth2/applications/@me"]


async def test_every_json_answer_has_the_exact_content_type(world: World) -> None:
    """discord.py only parses bodies whose Content-Type is exactly application/json."""
    fake = world.fake
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as s:
        for path, headers, status in [
            ("/users/@me", auth, 200),
            ("/gateway/bot", auth, 200),
            ("/users/@me", {"Authorization": "Bot nope"}, 401),
            ("/channels/1234", auth, 404),
        ]:
            async with s.get(fake.api_base_url + path, headers=headers) as r:
                assert r.status == status
                assert r.headers["Content-Type"] == "application/json"
                body = await r.json(content_type=None)
        assert body == {"message": "Unknown Channel", "code": 10003}
        async with s.get(fake.api_base_url + "/users/@me", headers={"Authorization": "x"}) as r:
            assert await r.json(content_type=None) == {"message": "401: Unauthorized", "code": 0}
        async with s.get(fake.api_base_url + "/gateway/bot", headers=auth) as r:
            data = await r.json(content_type=None)
    assert data["url"].startswith("ws://127.0.0.1")
    assert data["shards"] == 1 and data["session_start_limit"]["max_concurrency"] == 1


async def test_point_discord_py_at_restores_the_real_urls(fake_discord: FakeDiscord) -> None:
    """Pointing discord.py at the fake is undone afterwards, so nothing leaks between tests."""
    real = discord.http.Route.BASE
    with point_discord_py_at(fake_discord):
        assert fake_discord.api_base_url == discord.http.Route.BASE
        gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        assert str(gateway) == fake_discord.gateway_url
    assert discord.http.Route.BASE == real == "https://discord.com/api/v10"


async def test_heartbeats_are_acknowledged(world: World) -> None:
    """With a 0.1 s heartbeat interval the client stays on one healthy connection."""
    world.fake.heartbeat_interval = 0.1
    client = TinyBot()
    async with running_client(client, world.fake):
        await asyncio.sleep(0.6)
        assert client.latency < 1.0
    assert world.fake.identify_count == 1 and world.fake.resume_count == 0
    assert [e.kind for e in world.fake.gateway_log].count("connect") == 1


async def test_bad_token_is_a_login_failure(world: World) -> None:
    """A wrong token fails at login (REST 401), before any gateway connection."""
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        async with running_client(client, world.fake, token="not-the-token"):
            pass
    assert world.fake.identify_count == 0


async def test_bad_token_on_the_gateway_closes_4004(world: World) -> None:
    """IDENTIFY with a wrong token: the gateway closes with 4004 and the client gives up."""
    client = discord.Client(intents=discord.Intents.default())
    await client.login(world.fake.token)
    client.http.token = "stolen-and-revoked"
    try:
        with pytest.raises(discord.ConnectionClosed) as err:
            await asyncio.wait_for(client.connect(reconnect=False), 10)
        assert err.value.code == 4004
    finally:
        await client.close()


async def test_privileged_intent_not_enabled_is_refused(world: World) -> None:
    """Asking for the members intent without enabling it in the portal fails with 4014."""
    client = TinyBot(intents=discord.Intents.default() | discord.Intents(members=True))
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(client, world.fake):
            pass
    world.fake.privileged_intents = GUILD_MEMBERS
    client = TinyBot(intents=discord.Intents.default() | discord.Intents(members=True))
    async with running_client(client, world.fake):
        guild = client.get_guild(world.guild.id)
        assert guild is not None
        await world.fake.wait_until(lambda: guild.get_member(world.alice.id) is not None)


# -- slash commands ------------------------------------------------------------------------


async def test_instant_deferred_and_ephemeral_replies(world: World, bot: TinyBot) -> None:
    """What each user sees: a public reply, a 'thinking' reply then its answer, a private one."""
    fake = world.fake
    r = await fake.invoke(world.alice, world.guild, world.channel, "ping")
    assert (r.response_name, r.content, r.ephemeral, r.deadline_missed) == (
        "message",
        "pong",
        False,
        False,
    )
    slow = await fake.invoke(world.alice, world.guild, world.channel, "slow", settle=0.3)
    assert slow.response_name == "deferred"
    assert slow.content == "done thinking" and not slow.ephemeral
    assert [m.content for m in slow.followups] == ["done thinking", "and one more thing"]
    assert slow.followups[1].ephemeral
    secret = await fake.invoke(world.alice, world.guild, world.channel, "secret")
    assert secret.content == "just for you" and secret.ephemeral
    channel_text = [m.content for m in fake.messages(world.channel)]
    assert channel_text == ["pong", "done thinking"]  # ephemeral replies are not in the channel
    assert bot.calls["ping"] == 1 and bot.calls["slow"] == 1


async def test_edits_followups_modals_and_token_expiry(world: World, bot: TinyBot) -> None:
    """Editing the original reply and a followup, opening a modal, and a followup sent after
    the interaction token expired (Discord: 15 min; shortened here) failing with 50027."""
    fake = world.fake
    r = await fake.invoke(world.alice, world.guild, world.channel, "edit", settle=0.3)
    assert r.content == "v2" and r.message is not None and r.message.edited_at is not None
    assert bot.calls["original:v2"] == 1  # GET @original returned the edited reply
    r = await fake.invoke(world.alice, world.guild, world.channel, "progress", settle=0.3)
    assert [m.content for m in r.followups] == ["started", "finished"]
    assert r.followups[0] is r.message  # the first followup replaced the "thinking" message
    r = await fake.invoke(world.alice, world.guild, world.channel, "feedback")
    assert r.response_name == "modal" and r.modal is not None
    assert r.modal["title"] == "Feedback on this digest"
    fake.interaction_token_lifetime = 0.3
    r = await fake.invoke(world.alice, world.guild, world.channel, "tardy", timeout=1.0)
    await fake.wait_until(lambda: bot.errors)
    assert r.response_name == "deferred" and r.followups == []
    assert bot.errors[0].status == 401 and bot.errors[0].code == 50027


async def test_subcommands_options_and_resolved_channel(world: World, bot: TinyBot) -> None:
    """/digest add feed channel hour reaches the handler with a real TextChannel; a group
    subcommand routes too; options a user could not submit are refused by the fake."""
    fake = world.fake
    r = await fake.invoke(
        world.admin,
        world.guild,
        world.channel,
        "digest",
        subcommand="add",
        options={"feed": "arxiv:cs.LG", "channel": world.other, "hour": 7},
    )
    assert r.content == "arxiv:cs.LG will be posted in #off-topic at 07:00"
    r = await fake.invoke(
        world.admin,
        world.guild,
        world.channel,
        "digest",
        group="settings",
        subcommand="timezone",
        options={"tz": "Europe/Berlin"},
    )
    assert r.content == "time zone is now Europe/Berlin" and r.ephemeral
    with pytest.raises(ValueError, match="max_value"):
        await fake.invoke(
            world.admin,
            world.guild,
            world.channel,
            "digest",
            subcommand="add",
            options={"feed": "x", "channel": world.other, "hour": 24},
        )
    with pytest.raises(ValueError, match="required"):
        await fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="add")


async def test_missed_deadline_is_recorded_and_the_bot_gets_10062(world: World, bot: TinyBot) -> None:
    """A reply after 3 s never reaches the user; the bot sees NotFound 10062."""
    r = await world.fake.invoke(world.alice, world.guild, world.channel, "late")
    assert r.deadline_missed and not r.responded and r.late_callbacks == 1
    await world.fake.wait_until(lambda: bot.errors)
    err = bot.errors[0]
    assert isinstance(err, discord.NotFound) and err.code == 10062
    assert world.fake.messages(world.channel) == []


async def test_two_bot_copies_answering_one_command_get_40060(world: World, bot: TinyBot) -> None:
    """Two running copies both receive the interaction; the second answer is rejected."""
    twin = TinyBot()
    async with running_client(twin, world.fake):
        r = await world.fake.invoke(world.alice, world.guild, world.channel, "answer", settle=0.3)
        await world.fake.wait_until(lambda: bot.calls["answer"] + twin.calls["answer"] == 2)
        await world.fake.wait_until(lambda: bot.errors or twin.errors)
    errors = bot.errors + twin.errors
    assert len(errors) == 1 and errors[0].code == 40060 and errors[0].status == 400
    assert r.rejected == [(400, 40060)]
    assert len(world.fake.messages(world.channel)) == 1


async def test_raw_callback_without_with_response_gets_204(world: World) -> None:
    """Callbacks need no bot token; without ?with_response they answer 204 with no body."""
    fake = world.fake
    task = asyncio.create_task(fake.invoke(world.alice, world.guild, world.channel, "anything"))
    fake.require_registered_commands = False  # no bot here, so nothing was synced
    await fake.wait_until(lambda: fake.interactions)
    rec = fake.interactions[0]
    url = f"{fake.api_base_url}/interactions/{rec.id}/{rec.token}/callback"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"type": 4, "data": {"content": "hi"}}) as r:
            assert r.status == 204 and "Content-Type" not in r.headers
        async with s.post(url, json={"type": 4, "data": {"content": "again"}}) as r:
            assert r.status == 400
            assert await r.json() == {
                "message": "Interaction has already been acknowledged.",
                "code": 40060,
            }
    result = await task
    assert result is rec and rec.content == "hi" and not rec.deadline_missed


async def test_unsynced_command_and_hidden_admin_command(world: World, bot: TinyBot) -> None:
    """Discord only offers commands that were synced, and hides ones needing permissions."""
    fake = world.fake
    with pytest.raises(LookupError, match="not registered"):
        await fake.invoke(world.alice, world.guild, world.channel, "nonexistent")
    fake.register_commands(
        [
            {
                "name": "purge",
                "description": "Admins only",
                "default_member_permissions": str(int(P.MANAGE_GUILD)),
            }
        ],
        guild=world.guild,
    )
    with pytest.raises(NotAvailable):
        await fake.invoke(world.alice, world.guild, world.channel, "purge")


async def test_command_sync_is_validated_like_discord(world: World, bot: TinyBot) -> None:
    """Bad names, long descriptions and >100 commands are refused with 50035."""
    route = discord.http.Route
    app = world.fake.application_id
    bad = [{"name": "Digest", "description": "x", "type": 1}]
    with pytest.raises(discord.HTTPException) as err:
        await bot.http.bulk_upsert_global_commands(app, bad)
    assert err.value.status == 400 and err.value.code == 50035 and "0.name" in err.value.text
    long_desc = [{"name": "ok", "description": "d" * 101, "type": 1}]
    with pytest.raises(discord.HTTPException) as err:
        await bot.http.bulk_upsert_guild_commands(app, world.guild.id, long_desc)
    assert "0.description" in err.value.text
    many = [{"name": f"c{i}", "description": "x", "type": 1} for i in range(101)]
    with pytest.raises(discord.HTTPException) as err:
        await bot.http.request(route("PUT", "/applications/{a}/commands", a=app), json=many)
    assert err.value.code == 50035
    synced = world.fake.commands()
    assert {c["name"] for c in synced} >= {"ping", "slow", "late", "digest"}
    ids_before = {c["name"]: c["id"] for c in synced}
    creates = world.fake.command_creates
    await bot.tree.sync()
    assert {c["name"]: c["id"] for c in world.fake.commands()} == ids_before
    assert world.fake.command_creates == creates  # re-syncing the same commands creates none


# -- autocomplete and components -------------------------------------------------------------


async def test_autocomplete_returns_the_bots_choices(world: World, bot: TinyBot) -> None:
    """Typing 'cs.' into the feed option lists the matching feeds."""
    choices = await world.fake.autocomplete(
        world.admin,
        world.guild,
        world.channel,
        "digest",
        subcommand="add",
        focused="feed",
        options={"feed": "cs."},
    )
    assert [c["value"] for c in choices] == ["arxiv:cs.LG", "arxiv:cs.CL", "arxiv:cs.AI"]
    assert bot.calls["digest add"] == 0  # autocomplete does not run the command


async def test_persistent_button_click_round_trip(world: World, bot: TinyBot) -> None:
    """A button posted by the bot and clicked by a user reaches the persistent view."""
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("Today's papers", view=BookmarkView(bot.calls))
    stored = fake.message(sent.id)
    assert stored is not None
    assert stored.custom_ids == ["paperbot:bookmark", "paperbot:hide", "paperbot:refresh"]
    r = await fake.click(world.alice, stored, "paperbot:bookmark")
    assert r.content == "Saved to your reading list." and r.ephemeral
    assert bot.calls["bookmark"] == 1
    r = await fake.click(world.alice, stored, "paperbot:refresh", settle=0.2)
    assert r.response_name == "deferred_update" and stored.content == "refreshed"
    r = await fake.click(world.alice, stored, "paperbot:hide")
    assert r.response_name == "update" and stored.content == "(hidden)"
    assert stored.components == []  # view=None removed the buttons
    with pytest.raises(NotAvailable):
        await fake.click(world.alice, stored, "paperbot:bookmark")


# -- reactions ----------------------------------------------------------------------------------


async def test_user_reactions_reach_raw_reaction_events(world: World, bot: TinyBot) -> None:
    """A reader's 🔖 (and its removal) arrive as raw events with the member attached; the
    bot's own reaction is recorded and echoed as Discord does."""
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    msg = await channel.send("Attention Is All You Need")
    await msg.add_reaction("🔖")
    await fake.react(world.alice, world.channel, msg.id, "🔖")
    await fake.unreact(world.alice, world.channel, msg.id, "🔖")
    await fake.wait_until(lambda: len(bot.raw_reactions) == 3)
    kinds = [(k, e.user_id, str(e.emoji)) for k, e in bot.raw_reactions]
    assert kinds == [
        ("add", fake.bot.id, "🔖"),
        ("add", world.alice.id, "🔖"),
        ("remove", world.alice.id, "🔖"),
    ]
    alice_add = bot.raw_reactions[1][1]
    assert alice_add.member is not None and alice_add.member.name == "alice"
    assert fake.message(msg.id).reaction_users("🔖") == [fake.bot.id]  # type: ignore[union-attr]
    await fake.react(world.admin, world.channel, msg.id, "🔖")
    fetched = await channel.fetch_message(msg.id)
    assert fetched.reactions[0].count == 2 and fetched.reactions[0].me
    reactors = [u.id async for u in fetched.reactions[0].users()]
    assert sorted(reactors) == sorted([fake.bot.id, world.admin.id])
    member = await channel.guild.fetch_member(world.admin.id)
    with pytest.raises(discord.Forbidden):  # removing someone else's needs Manage Messages
        await msg.remove_reaction("🔖", member)
    fake.set_bot_permissions(world.channel, allow=P.MANAGE_MESSAGES)
    await msg.remove_reaction("🔖", member)
    assert fake.message(msg.id).reaction_users("🔖") == [fake.bot.id]  # type: ignore[union-attr]
    with pytest.raises(discord.HTTPException) as err:
        await msg.add_reaction(":bookmark:")
    assert err.value.code == 10014


async def test_user_messages_arrive_without_content_unless_the_intent_is_enabled(
    world: World, bot: TinyBot
) -> None:
    """Without the message content intent, others' messages reach the bot empty, except when
    they mention it; a user cannot post where overwrites forbid it."""
    fake = world.fake
    await fake.post_message(world.alice, world.channel, "interesting paper!")
    await fake.post_message(world.alice, world.channel, f"{fake.bot.mention} help")
    await fake.wait_until(lambda: len(bot.seen_messages) == 2)
    assert bot.seen_messages == [
        (world.alice.id, ""),
        (world.alice.id, f"{fake.bot.mention} help"),
    ]
    announcements = fake.create_channel(
        world.guild,
        "announcements",
        overwrites=[
            fake.overwrite(world.guild, deny=P.SEND_MESSAGES),
            fake.overwrite(fake.bot, allow=P.SEND_MESSAGES),
        ],
    )
    with pytest.raises(NotAvailable):
        await fake.post_message(world.alice, announcements, "can I post here?")
    await fake.wait_until(lambda: bot.get_channel(announcements.id))
    await bot.get_partial_messageable(announcements.id).send("Digest: 12 new papers")
    assert [m.content for m in fake.messages(announcements)] == ["Digest: 12 new papers"]


async def test_reaction_events_respect_intents(world: World, bot: TinyBot) -> None:
    """A client without the reactions intent is not sent reaction events at all."""
    deaf = TinyBot(intents=discord.Intents(guilds=True))
    async with running_client(deaf, world.fake):
        sent = await bot.get_channel(world.channel.id).send("paper")  # type: ignore[union-attr]
        await world.fake.react(world.alice, world.channel, sent.id, "👍")
        await world.fake.wait_until(lambda: bot.raw_reactions)
        await asyncio.sleep(0.1)
    assert deaf.raw_reactions == []


# -- gateway resilience --------------------------------------------------------------------


async def test_dropped_gateway_resumes_and_replays_missed_events(world: World, bot: TinyBot) -> None:
    """A network blip: the client RESUMEs, gets what it missed, and handlers run once each."""
    fake = world.fake
    sent = await bot.get_channel(world.channel.id).send("paper")  # type: ignore[union-attr]
    assert await fake.drop_gateway() == 1
    await fake.react(world.alice, world.channel, sent.id, "🔖")  # while the bot is away
    await fake.wait_until(lambda: bot.resumed_count == 1)
    await fake.wait_until(lambda: bot.raw_reactions)
    assert fake.resume_count == 1 and fake.identify_count == 1
    resumed_on = [e for e in fake.gateway_log if e.kind == "connect"][-1]
    assert resumed_on.detail["path"] == "/resume/"  # used READY's resume_gateway_url
    r = await fake.invoke(world.alice, world.guild, world.channel, "ping")
    assert r.content == "pong" and bot.calls["ping"] == 1
    assert len(bot.raw_reactions) == 1 and bot.ready_count == 1


async def test_unresumable_drop_makes_the_client_identify_again(world: World, bot: TinyBot) -> None:
    """When the session cannot be resumed the client re-IDENTIFYs; commands still run once."""
    fake = world.fake
    await fake.drop_gateway(resumable=False, code=4000)
    await fake.wait_until(lambda: fake.identify_count == 2, timeout=10)
    await fake.wait_until(lambda: bot.ready_count == 2, timeout=10)
    assert [e.kind for e in fake.gateway_log].count("invalid_session") == 1
    r = await fake.invoke(world.alice, world.guild, world.channel, "ping")
    assert r.content == "pong" and bot.calls["ping"] == 1


async def test_shards_receive_only_their_guilds(discord_py_at_fake: FakeDiscord) -> None:
    """guild -> shard (id >> 22) % count: shard 0 of 2 never hears about shard 1's guild."""
    fake = discord_py_at_fake
    fake.interaction_deadline = 0.3  # we only need to see that nobody answers
    g0 = fake.create_guild("even", id=(10 << 22) | 5)
    g1 = fake.create_guild("odd", id=(11 << 22) | 5)
    c1 = fake.create_channel(g1, "odd-papers")
    user = fake.create_user("bob")
    fake.add_member(g1, user)
    client = TinyBot(shard_id=0, shard_count=2)
    async with running_client(client, fake):
        await client.tree.sync()
        assert [g.id for g in client.guilds] == [g0.id]
        r = await fake.invoke(user, g1, c1, "ping", late_grace=0.1)
        assert r.deadline_missed and client.calls["ping"] == 0
    assert fake.gateway.sessions[0].shard == (0, 2)


# -- sending, rate limits, retries -------------------------------------------------------------


async def test_burst_with_buckets_and_injected_429s_delivers_each_message_once(
    world: World, bot: TinyBot
) -> None:
    """60 concurrent posts into one channel: discord.py waits out the 5-per-window bucket and
    retries injected 429s; every post lands exactly once."""
    fake = world.fake
    fake.rate_limits.set_route("POST /channels/{channel_id}/messages", 5, 0.25)
    injected = fake.inject("POST /channels/*/messages", status=429, count=3, retry_after=0.1)
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    started = time.monotonic()
    await asyncio.gather(*(channel.send(f"paper {i}", nonce=f"p{i}") for i in range(60)))
    elapsed = time.monotonic() - started
    contents = [m.content for m in fake.messages(world.channel)]
    assert sorted(contents) == sorted(f"paper {i}" for i in range(60))
    assert len(set(contents)) == 60
    assert injected.hits == 3 and fake.count_429 >= 3
    posts = fake.requests_matching("POST /channels/{channel_id}/messages")
    assert len(posts) == 60 + fake.count_429
    assert elapsed >= 60 / 5 * 0.25 * 0.8  # the bucket really paced the burst
    ok = [r for r in posts if r.status == 200]
    assert len(ok) == 60


async def test_lost_response_is_deduplicated_by_nonce(world: World, bot: TinyBot) -> None:
    """Discord stored the post but the answer was a 502: discord.py retries; with a nonce and
    enforce_nonce the retry returns the same message instead of posting twice. (Costs ~3 s:
    discord.py sleeps 1 s before each 5xx retry.)"""
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    fake.inject("POST /channels/*/messages", status=502, after_processing=True)
    sent = await channel.send("digest 2025-01-01", nonce="digest-1")
    assert [m.content for m in fake.messages(world.channel)] == ["digest 2025-01-01"]
    assert sent.id == fake.messages(world.channel)[0].id and fake.nonce_dedupes == 1
    # discord.py adds a random nonce to every send(), so plain sends are protected too ...
    fake.inject("POST /channels/*/messages", status=502, after_processing=True)
    await channel.send("auto nonce")
    assert [m.content for m in fake.messages(world.channel)][1:] == ["auto nonce"]
    # ... but a raw request without a nonce is posted twice by the same retry.
    fake.inject("POST /channels/*/messages", status=502, after_processing=True)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    await bot.http.request(route, json={"content": "raw"})
    assert [m.content for m in fake.messages(world.channel)][2:] == ["raw", "raw"]


async def test_global_limit_429s_are_retried_and_counted(world: World, bot: TinyBot) -> None:
    """Posting into 20 channels against a 10/s global limit produces global 429s, which
    discord.py honours; nothing is lost."""
    fake = world.fake
    fake.rate_limits.global_limit = 10
    channels = [fake.create_channel(world.guild, f"c{i}") for i in range(20)]
    await fake.wait_until(lambda: all(bot.get_channel(c.id) for c in channels))
    await asyncio.gather(*(bot.get_partial_messageable(c.id).send(f"to {c.name}") for c in channels))
    assert all([m.content for m in fake.messages(c)] == [f"to {c.name}"] for c in channels)
    global_hits = [h for h in fake.rate_limit_hits if h.is_global]
    assert global_hits and all(h.scope == "global" for h in global_hits)


async def test_interaction_endpoints_are_exempt_from_the_global_limit(world: World, bot: TinyBot) -> None:
    """With the bot's global budget spent, it can still answer and follow up a command."""
    fake = world.fake
    fake.rate_limits.global_limit = 2
    fake.rate_limits.global_window = 60.0
    await bot.fetch_user(world.alice.id)
    await bot.fetch_user(world.alice.id)
    r = await fake.invoke(world.alice, world.guild, world.channel, "slow", settle=0.3)
    assert r.content == "done thinking" and len(r.followups) == 2
    assert fake.count_429 == 0


async def test_rate_limit_headers_and_429_shape(world: World) -> None:
    """Buckets answer with Discord's headers; an exhausted bucket answers a 429 with Via."""
    fake = world.fake
    fake.rate_limits.set_route("POST /channels/{channel_id}/messages", 1, 10.0)
    url = f"{fake.api_base_url}/channels/{world.channel.id}/messages"
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"content": "one"}, headers=auth) as r:
            assert r.status == 200
            assert r.headers["X-RateLimit-Limit"] == "1"
            assert r.headers["X-RateLimit-Remaining"] == "0"
            assert float(r.headers["X-RateLimit-Reset-After"]) > 9
            assert r.headers["X-RateLimit-Bucket"]
        async with s.post(url, json={"content": "two"}, headers=auth) as r:
            assert r.status == 429
            assert r.headers["Via"] == "1.1 google" and r.headers["X-RateLimit-Scope"] == "user"
            body = await r.json()
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 9 < body["retry_after"] <= 10
    assert [m.content for m in fake.messages(world.channel)] == ["one"]


# -- validation and permissions -------------------------------------------------------------


async def test_oversized_and_empty_messages_are_refused(world: World, bot: TinyBot) -> None:
    """Too long content, oversized embeds and empty posts fail like on Discord."""
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as err:
        await channel.send("x" * 2001)
    assert (err.value.status, err.value.code) == (400, 50035)
    assert "content: Must be 2000 or fewer in length." in err.value.text
    await channel.send("x" * 2000)
    big = [discord.Embed(description="d" * 4000) for _ in range(2)]
    with pytest.raises(discord.HTTPException) as err:
        await channel.send(embeds=big)
    assert "embeds" in err.value.text and "6000" in err.value.text
    with pytest.raises(discord.HTTPException) as err:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert "embeds.0.title" in err.value.text
    with pytest.raises(discord.HTTPException) as err:
        await channel.send()
    assert err.value.code == 50006
    assert len(world.fake.messages(world.channel)) == 1


async def test_component_limits(world: World, bot: TinyBot) -> None:
    """Component rules discord.py leaves to Discord: rows, row width, custom_id, labels."""
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=world.channel.id)

    def button(cid: str, label: str = "ok") -> dict[str, Any]:
        return {"type": 2, "style": 1, "custom_id": cid, "label": label}

    cases = {
        "components: Must be 5 or fewer": [{"type": 1, "components": [button(f"r{i}")]} for i in range(6)],
        "components.0.components": [{"type": 1, "components": [button(f"b{i}") for i in range(6)]}],
        "components.0.components.0.custom_id": [{"type": 1, "components": [button("c" * 101)]}],
        "components.0.components.0.label": [{"type": 1, "components": [button("x", "l" * 81)]}],
        "duplicated": [{"type": 1, "components": [button("same"), button("same")]}],
    }
    for expected, components in cases.items():
        with pytest.raises(discord.HTTPException) as err:
            await bot.http.request(route, json={"content": "c", "components": components})
        assert err.value.code == 50035 and expected in err.value.text, expected
    assert world.fake.messages(world.channel) == []


async def test_missing_permissions_and_missing_access(world: World, bot: TinyBot) -> None:
    """Overwrites decide what the bot may do, per channel, as Discord computes it."""
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    fake.deny_bot(world.channel, P.EMBED_LINKS)
    await channel.send("plain text still works")
    with pytest.raises(discord.Forbidden) as err:
        await channel.send(embed=discord.Embed(title="needs Embed Links"))
    assert err.value.code == 50013
    # @everyone denied, but a role the bot has allows: the role overwrite wins.
    reader = fake.create_role(world.guild, "readers")
    fake.guilds[world.guild.id].members[fake.bot.id].roles.append(reader.id)
    fake.set_permissions(world.other, world.guild, deny=P.SEND_MESSAGES)
    with pytest.raises(discord.Forbidden) as err:
        await bot.get_partial_messageable(world.other.id).send("muted")
    assert err.value.code == 50013
    fake.set_permissions(world.other, reader, allow=P.SEND_MESSAGES)
    await bot.get_partial_messageable(world.other.id).send("allowed via role")
    fake.set_permissions(world.other, world.guild, deny=P.VIEW_CHANNEL)
    fake.set_permissions(world.other, reader)
    with pytest.raises(discord.Forbidden) as err:
        await bot.get_partial_messageable(world.other.id).send("hidden")
    assert err.value.code == 50001
    assert [m.content for m in fake.messages(world.other)] == ["allowed via role"]


async def test_dms_open_and_closed(world: World, bot: TinyBot) -> None:
    """The bot can DM a member; one who closed DMs makes the send fail with 50007; a slash
    command works in the DM too."""
    fake = world.fake
    r = await fake.invoke(world.alice, None, None, "ping")
    assert r.content == "pong" and r.guild_id is None
    alice = await bot.fetch_user(world.alice.id)
    await alice.send("Your weekly digest is ready")
    dms = [m.content for m in fake.dm_messages(world.alice)]
    assert dms == ["pong", "Your weekly digest is ready"]
    fake.close_dms(world.admin)
    admin = await bot.fetch_user(world.admin.id)
    with pytest.raises(discord.Forbidden) as err:
        await admin.send("hello?")
    assert err.value.code == 50007 and err.value.text == "Cannot send messages to this user"
    assert fake.dm_messages(world.admin) == []


async def test_deleted_channel_is_gone_for_the_bot(world: World, bot: TinyBot) -> None:
    """CHANNEL_DELETE removes it from the cache; posting there later is 10003."""
    fake = world.fake
    await fake.delete_channel(world.other)
    await fake.wait_until(lambda: bot.get_channel(world.other.id) is None)
    with pytest.raises(discord.NotFound) as err:
        await bot.get_partial_messageable(world.other.id).send("digest")
    assert err.value.code == 10003
    with pytest.raises(discord.NotFound):
        await bot.fetch_channel(world.other.id)


# -- threads, attachments, history --------------------------------------------------------


async def test_threads_attachments_and_history(world: World, bot: TinyBot) -> None:
    """A digest thread off a message, an exported file in it, and reading history back."""
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    head = await channel.send("Digest for 2025-01-01")
    thread = await head.create_thread(name="cs.LG 2025-01-01")
    assert thread.id == head.id  # Discord gives a thread its starter message's id
    await fake.wait_until(lambda: bot.get_channel(thread.id) is not None)
    bib = b"@article{vaswani2017, title={Attention Is All You Need}}\n"
    await thread.send("export", file=discord.File(io.BytesIO(bib), filename="papers.bib"))
    stored = fake.messages(thread)[0]
    assert stored.attachments[0].filename == "papers.bib" and stored.attachments[0].data == bib
    fetched = await thread.fetch_message(stored.id)
    assert await fetched.attachments[0].read() == bib
    for i in range(5):
        await thread.send(f"paper {i}")
    newest = [m.content async for m in thread.history(limit=3)]
    assert newest == ["paper 4", "paper 3", "paper 2"]
    oldest = [m.content async for m in thread.history(limit=2, oldest_first=True)]
    assert oldest == ["export", "paper 0"]
    with pytest.raises(discord.HTTPException) as err:
        await head.create_thread(name="again")
    assert err.value.code == 160004
    fake.deny_bot(world.channel, P.SEND_MESSAGES_IN_THREADS)
    with pytest.raises(discord.Forbidden):
        await thread.send("blocked in threads")
    await channel.send("but the channel itself is fine")


async def test_edit_and_delete_reach_the_fake_and_the_cache(world: World, bot: TinyBot) -> None:
    """Edits and deletes change what users see; the bot's cache follows the gateway echoes."""
    fake = world.fake
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    msg = await channel.send("draft")

    def cached(mid: int) -> discord.Message | None:
        return discord.utils.get(bot.cached_messages, id=mid)

    await fake.wait_until(lambda: cached(msg.id) is not None)
    await msg.edit(content="final", embed=discord.Embed(title="Paper"))
    stored = fake.message(msg.id)
    assert stored is not None and stored.content == "final"
    assert stored.embeds[0]["title"] == "Paper" and stored.edited_at is not None
    await fake.wait_until(lambda: cached(msg.id).content == "final")  # type: ignore[union-attr]
    reply = await msg.reply(
        f"{world.alice.mention} see above",
        mention_author=False,
        allowed_mentions=discord.AllowedMentions(users=False),
    )
    stored_reply = fake.message(reply.id)
    assert stored_reply is not None and stored_reply.type == 19
    assert stored_reply.message_reference is not None
    assert stored_reply.message_reference["message_id"] == str(msg.id)
    assert stored_reply.allowed_mentions is not None and stored_reply.mentions == []
    await reply.delete()
    await msg.delete()
    assert fake.messages(world.channel) == []
    await fake.wait_until(lambda: cached(msg.id) is None)
    with pytest.raises(discord.NotFound) as err:
        await channel.fetch_message(msg.id)
    assert err.value.code == 10008
