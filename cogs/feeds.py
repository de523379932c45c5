"""/feed: server feeds (Manage Server only). Thin: validates options, calls FeedService, renders."""

from __future__ import annotations

import re
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.community.feeds import FeedRefused, FeedService
from bot.community.render import FEED_MORE, feed_page, feed_test_report
from bot.errors import UserFacingError, require_manage_server
from bot.present import escape_markdown, trim
from bot.store.community import ServerFeed


class FeedMoreButton(discord.ui.DynamicItem[discord.ui.Button],
                     template=FEED_MORE + r":(?P<post>\d+):(?P<offset>\d+)"):
    """'Show N more' under a live post, and 'Next' on the private pages it opens. Persistent."""

    def __init__(self, post_id: int, offset: int, label: str = "Next"):
        super().__init__(discord.ui.Button(label=label, custom_id=f"{FEED_MORE}:{post_id}:{offset}",
                                           style=discord.ButtonStyle.secondary, emoji="📜"))
        self.post_id, self.offset = post_id, offset

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> FeedMoreButton:
        return cls(int(match["post"]), int(match["offset"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        post = await bot.store.get_live_post(self.post_id)
        if post is None:
            await interaction.response.send_message("Those items are no longer stored.", ephemeral=True)
            return
        page_size = bot.settings.community.live_items_per_post
        ids = post.paper_ids[self.offset:self.offset + page_size]
        papers = {p.id: p for p in await bot.store.papers_by_ids(ids)}
        follow = await bot.store.get_server_feed(post.server_feed_id)
        label = follow.feed.label if follow and follow.feed else "Feed"
        embed = feed_page([papers[i] for i in ids if i in papers], offset=self.offset,
                          total=len(post.paper_ids), feed_label=label)
        view = discord.ui.View(timeout=None)
        if self.offset + page_size < len(post.paper_ids):
            view.add_item(FeedMoreButton(self.post_id, self.offset + page_size))
        if interaction.message is not None and interaction.message.flags.ephemeral:
            await interaction.response.edit_message(embed=discord.Embed.from_dict(embed), view=view)
        else:
            await interaction.response.send_message(embed=discord.Embed.from_dict(embed), view=view,
                                                    ephemeral=True)


def follow_line(follow: ServerFeed, now_ts: float) -> str:
    feed = follow.feed
    label = escape_markdown(trim(feed.label if feed else "?", 120))
    url = trim(feed.url, 200) if feed else "?"
    line = f"**#{follow.id}** <#{follow.channel_id}> · {follow.mode} · {label}\n  <{url}>"
    if follow.filter_query:
        line += f"\n  filter `{trim(follow.filter_query, 80).replace('`', '')}`"
    if follow.disabled_at is not None:
        line += (f"\n  ⛔ disabled: {escape_markdown(trim(follow.disabled_reason or '?', 200))} "
                 "(add it again with `/feed add` to retry)")
    elif feed and feed.consecutive_failures:
        retry = f", next try <t:{int(feed.next_attempt_at.timestamp())}:R>" if feed.next_attempt_at else ""
        line += (f"\n  ⚠️ failing ({feed.consecutive_failures} in a row{retry}): "
                 f"{escape_markdown(trim(feed.last_error or '?', 200))}")
    elif feed and feed.last_success_at:
        line += f"\n  ✅ checked <t:{int(feed.last_success_at.timestamp())}:R>"
    return line


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Feeds(commands.GroupCog, group_name="feed",
            group_description="Server feeds: any RSS/Atom/JSON feed (admins)"):
    def __init__(self, bot: PaperBot):
        self.bot = bot
        super().__init__()
        self.service: FeedService | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(FeedMoreButton)
        if getattr(self.bot, "ingestor", None) is None:  # `paperbot sync`: commands only
            return
        self.service = FeedService(
            store=self.bot.store, fetcher=self.bot.fetcher, ingestor=self.bot.ingestor,
            settings=self.bot.settings, clock=self.bot.clock, client=self.bot, spawn=self.bot.spawn,
        )
        self.bot.community_feeds = self.service  # type: ignore[attr-defined]
        self.bot.ingestor.on_feed_polled(self.service.feed_polled)
        self.bot.status_providers.append(self.status_lines)

    async def cog_unload(self) -> None:
        if self.status_lines in self.bot.status_providers:
            self.bot.status_providers.remove(self.status_lines)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manage_server(interaction)

    def _service(self) -> FeedService:
        if self.service is None:
            raise UserFacingError("Feeds are not available in this process.")
        return self.service

    async def status_lines(self, guild_id: int | None, admin: bool) -> tuple[list[str], list[str]]:
        if guild_id is None:
            return [], []
        problems = []
        for follow in await self.bot.store.list_server_feeds(guild_id=guild_id):
            feed = follow.feed
            name = escape_markdown(trim(feed.label if feed else "?", 80))
            if follow.disabled_at is not None:
                problems.append(f"feed #{follow.id} {name} disabled: "
                                f"{escape_markdown(trim(follow.disabled_reason or '?', 150))}")
            elif feed and feed.consecutive_failures:
                problems.append(f"feed #{follow.id} {name} failing ({feed.consecutive_failures}×): "
                                f"{escape_markdown(trim(feed.last_error or '?', 150))}")
        return [], problems

    # ------------------------------------------------------------------ commands

    @app_commands.command(name="add", description="Follow an RSS/Atom/JSON feed in a channel")
    @app_commands.describe(
        url="The feed's address (https://...)", channel="Where its items go (default: here)",
        mode="live: post new items as they arrive; digest: add them to this channel's daily digest",
        filter="Only items matching this search (same syntax as /search)",
    )
    async def add(self, interaction: discord.Interaction, url: str,
                  channel: discord.TextChannel | None = None,
                  mode: Literal["live", "digest"] = "live", filter: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = channel.id if channel else interaction.channel_id or 0
        try:
            added = await self._service().add(
                guild_id=interaction.guild_id or 0, channel_id=target, url=url, mode=mode,
                filter_text=filter, user_id=interaction.user.id)
        except FeedRefused as refused:
            await interaction.followup.send(f"❌ {refused}", ephemeral=True)
            return
        verb = "Following" if added.created else "Updated"
        lines = [f"✅ {verb} **{escape_markdown(trim(added.title, 200))}** in <#{target}> "
                 f"(feed #{added.follow.id}, {mode}). It holds {added.items} items now; only new ones "
                 "will be " + ("posted as they arrive, up to "
                               f"{self.bot.settings.community.live_items_per_post} listed per check."
                               if mode == "live" else "added to this channel's daily digest.")]
        digests = await self.bot.store.list_digests(guild_id=interaction.guild_id)
        if mode == "digest" and not [d for d in digests if d.channel_id == target]:
            lines.append("⚠️ There is no digest in that channel yet: add one with `/digest add`.")
        await interaction.followup.send("\n".join(lines), ephemeral=True)

    @app_commands.command(name="test", description="See how I read a feed right now (nothing is saved)")
    async def test(self, interaction: discord.Interaction, url: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            parsed = await self._service().read(url)
        except FeedRefused as refused:
            await interaction.followup.send(f"❌ {refused}", ephemeral=True)
            return
        text, embeds = feed_test_report(url.strip(), parsed)
        await interaction.followup.send(text, embeds=[discord.Embed.from_dict(e) for e in embeds],
                                        ephemeral=True)

    @app_commands.command(name="list", description="This server's feeds and how each is doing")
    async def list_feeds(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        follows = await self.bot.store.list_server_feeds(guild_id=interaction.guild_id)
        if not follows:
            await interaction.followup.send("No feeds yet. Add one with `/feed add`.", ephemeral=True)
            return
        now = self.bot.clock().timestamp()
        text = "\n\n".join(follow_line(f, now) for f in follows)
        limit = self.bot.settings.community.max_feeds_per_server
        embed = discord.Embed(title=f"Feeds on this server ({len(follows)} of {limit})",
                              description=text[:4000], colour=discord.Colour.orange())
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="remove", description="Stop following a feed")
    async def remove(self, interaction: discord.Interaction, feed: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self._service().remove(interaction.guild_id or 0, feed)
        if removed is None:
            await interaction.followup.send(f"There is no feed #{feed} on this server (see `/feed list`).",
                                            ephemeral=True)
            return
        await interaction.followup.send(f"🗑️ Feed #{feed} removed; its past posts stay.", ephemeral=True)

    @remove.autocomplete("feed")
    async def feed_autocomplete(self, interaction: discord.Interaction,
                                current: str) -> list[app_commands.Choice[int]]:
        choices = []
        for follow in await self.bot.store.list_server_feeds(guild_id=interaction.guild_id):
            name = f"#{follow.id} · {follow.mode} · {follow.feed.label if follow.feed else '?'}"
            if current.strip().lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=follow.id))
        return choices[:25]

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self.service is not None:
            await self.service.resume()


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Feeds(bot))
