"""Bookmarks: 🔖 reactions and Save buttons save papers; /bookmarks lists, removes, exports.

Reactions are read from raw gateway events and mapped to papers through the
database, never the message cache, so a reaction on a digest posted before a
restart still works. 🔔 on a topic header (re)subscribes the reactor to it.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.digest.model import BOOKMARK_EMOJI, SUBSCRIBE_EMOJI
from bot.export import FORMATS, ExportItem, export_filename
from bot.present import escape_markdown, md_link, short_authors, trim
from bot.views import bookmark_result_text

log = logging.getLogger(__name__)

PAGE = 10


def bookmarks_page_embed(items: list, *, page: int, total: int) -> discord.Embed:
    pages = max(1, -(-total // PAGE))
    lines = []
    for number, (paper, saved_at) in enumerate(items, page * PAGE + 1):
        link = md_link(trim(paper.title, 150), paper.abs_url or paper.hf_url)
        lines.append(f"**{number}.** {link} `{paper.key}`\n"
                     f"{escape_markdown(short_authors(paper.authors, max_names=2))} · saved "
                     f"<t:{int(saved_at.timestamp())}:R>")
    embed = discord.Embed(title=f"Your bookmarks ({total})", description="\n\n".join(lines)[:4000],
                          colour=discord.Colour.blurple())
    embed.set_footer(text=f"Page {page + 1} of {pages} · newest first · /bookmarks export for a file")
    return embed


class BookmarkPageButton(discord.ui.DynamicItem[discord.ui.Button],
                         template=r"pb:bm:(?P<user>\d+):(?P<page>\d+):(?P<dir>[pn])"):
    """Previous/Next on /bookmarks list. Only the owner can page their own list."""

    def __init__(self, user_id: int, page: int, direction: str):
        label = "Previous" if direction == "p" else "Next"
        super().__init__(discord.ui.Button(label=label, custom_id=f"pb:bm:{user_id}:{page}:{direction}",
                                           style=discord.ButtonStyle.secondary))
        self.user_id, self.page, self.direction = user_id, page, direction

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> BookmarkPageButton:
        return cls(int(match["user"]), int(match["page"]), match["dir"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.user_id:
            await interaction.response.send_message("These are someone else's bookmarks.", ephemeral=True)
            return
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        embed, view = await render_bookmarks(bot, self.user_id, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


async def render_bookmarks(bot: PaperBot, user_id: int, page: int) -> tuple[discord.Embed, discord.ui.View]:
    total = await bot.store.count_bookmarks(user_id)
    pages = max(1, -(-total // PAGE))
    page = min(max(page, 0), pages - 1)
    items = await bot.store.list_bookmarks(user_id, offset=page * PAGE, limit=PAGE)
    view = discord.ui.View(timeout=None)
    if page > 0:
        view.add_item(BookmarkPageButton(user_id, page - 1, "p"))
    if page + 1 < pages:
        view.add_item(BookmarkPageButton(user_id, page + 1, "n"))
    return bookmarks_page_embed(items, page=page, total=total), view


class Bookmarks(commands.GroupCog, group_name="bookmarks", group_description="Your saved papers"):
    def __init__(self, bot: PaperBot):
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(BookmarkPageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(BookmarkPageButton)

    # ------------------------------------------------------------------ reactions

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        emoji = str(payload.emoji)
        if emoji not in (BOOKMARK_EMOJI, SUBSCRIBE_EMOJI):
            return
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return  # the bot's own reactions are the invitation, not a request
        if payload.member is not None and payload.member.bot:
            return
        try:
            if emoji == BOOKMARK_EMOJI:
                await self._bookmark(payload, added=added)
            else:
                await self._subscribe(payload, added=added)
        except Exception:
            log.exception("handling %s on message %s by user %s failed", emoji, payload.message_id,
                          payload.user_id)

    async def _bookmark(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        paper, _ = await self.bot.store.paper_for_message(payload.message_id)
        if paper is None:
            return  # not one of our paper messages
        if not added:
            await self.bot.store.remove_bookmark(payload.user_id, paper.key)
            return
        result = await self.bot.store.add_bookmark(
            payload.user_id, paper.key, source="reaction", guild_id=payload.guild_id, now=self.bot.clock(),
            limit=self.bot.settings.readers.max_bookmarks_per_user,
        )
        if result == "limit":
            # A reaction has no reply: tell them by DM (best effort; the log keeps it too).
            await self._tell(payload.user_id, bookmark_result_text(self.bot, result, paper.key))

    async def _subscribe(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        topic = await self.bot.store.topic_for_message(payload.message_id)
        if topic is None:
            return
        if not added:
            await self.bot.store.remove_topic_subscription(payload.user_id, topic.id)
            return
        result = await self.bot.store.add_subscription(
            payload.user_id, "topic", topic.name, topic_id=topic.id, guild_id=topic.guild_id,
            now=self.bot.clock(), limit=self.bot.settings.readers.max_subscriptions_per_user,
        )
        if result == "limit":
            await self._tell(payload.user_id, (
                f"You have {self.bot.settings.readers.max_subscriptions_per_user} subscriptions, the "
                f"limit; remove one with `/unsubscribe` to follow **{escape_markdown(topic.name)}**."))

    async def _tell(self, user_id: int, text: str) -> None:
        try:
            user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
            await user.send(text)
        except discord.HTTPException as error:
            log.info("could not DM user %s (%s): %s", user_id, error.status, text)

    # ------------------------------------------------------------------ commands

    @app_commands.command(name="list", description="Your bookmarks, newest first (only you see them)")
    async def list_bookmarks(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if await self.bot.store.count_bookmarks(interaction.user.id) == 0:
            await interaction.followup.send(
                "No bookmarks yet. React 🔖 to a paper (or press its Save button) to keep it here.",
                ephemeral=True)
            return
        embed, view = await render_bookmarks(self.bot, interaction.user.id, 0)
        await interaction.followup.send(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="remove", description="Remove a paper from your bookmarks")
    @app_commands.describe(paper="The paper's arXiv id (autocomplete lists your bookmarks)")
    async def remove(self, interaction: discord.Interaction, paper: str) -> None:
        key = paper.strip()
        removed = await self.bot.store.remove_bookmark(interaction.user.id, key)
        text = (f"Removed `{escape_markdown(key)}` from your bookmarks." if removed
                else f"`{escape_markdown(key[:60])}` is not in your bookmarks.")
        await interaction.response.send_message(text, ephemeral=True)

    @remove.autocomplete("paper")
    async def remove_autocomplete(self, interaction: discord.Interaction,
                                  current: str) -> list[app_commands.Choice[str]]:
        papers = await self.bot.store.bookmark_choices(interaction.user.id, current)
        return [app_commands.Choice(name=trim(f"{p.key} · {p.title}", 100), value=p.key) for p in papers]

    @app_commands.command(name="export", description="Download your bookmarks as BibTeX, CSV or Markdown")
    async def export(self, interaction: discord.Interaction,
                     format: Literal["bibtex", "csv", "markdown"] = "bibtex") -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        items = [ExportItem(paper, saved_at)
                 for paper, saved_at in await self.bot.store.list_bookmarks(interaction.user.id)]
        render, _extension, _mime = FORMATS[format]
        text = render(items)
        name = export_filename(format, self.bot.clock().date())
        file = discord.File(io.BytesIO(text.encode("utf-8")), filename=name)
        await interaction.followup.send(f"{len(items)} bookmarks as {format}.", file=file, ephemeral=True)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Bookmarks(bot))
