"""Persistent buttons shared by every place that shows a paper (digests, /paper cards, DMs).

Their custom_id carries all they need (the paper's key), and they are registered
as dynamic items at start, so a button on a week-old digest still works after a
restart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.digest.model import Button
from bot.digest.render import MORE_PAGE, more_custom_id, more_page

if TYPE_CHECKING:
    from bot.app import PaperBot

SAVE_PREFIX = "pb:save:"
SIMILAR_PREFIX = "pb:similar:"
SAVE_MENU_ID = "pb:savemenu"
_MORE = re.compile(r"pb:more:(?P<run>\d+):(?P<offset>\d+)")


def save_custom_id(paper_key: str) -> str:
    return SAVE_PREFIX + paper_key


async def save_for_user(bot: PaperBot, user_id: int, paper_key: str, *, source: str,
                        guild_id: int | None) -> str:
    """Bookmark a paper for a user; the sentence to tell them."""
    result = await bot.store.add_bookmark(
        user_id, paper_key, source=source, guild_id=guild_id, now=bot.clock(),
        limit=bot.settings.readers.max_bookmarks_per_user,
    )
    return bookmark_result_text(bot, result, paper_key)


def bookmark_result_text(bot: PaperBot, result: str, paper_key: str) -> str:
    if result == "added":
        return f"🔖 Saved `{paper_key}` to your bookmarks (`/bookmarks list`)."
    if result == "exists":
        return f"`{paper_key}` is already in your bookmarks."
    if result == "limit":
        limit = bot.settings.readers.max_bookmarks_per_user
        return (f"You have reached the limit of {limit:,} bookmarks. Remove some with "
                "`/bookmarks remove` (or export them first with `/bookmarks export`).")
    return "That paper is no longer stored."


class SaveButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pb:save:(?P<key>\S{1,90})"):
    """🔖 Save: bookmarks the paper for whoever clicks, and tells only them."""

    def __init__(self, paper_key: str, label: str = "Save"):
        # A DM's buttons are numbered after the papers it lists; cards say "Save".
        super().__init__(discord.ui.Button(label=label, custom_id=save_custom_id(paper_key), emoji="🔖",
                                           style=discord.ButtonStyle.secondary))
        self.paper_key = paper_key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> SaveButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        text = await save_for_user(bot, interaction.user.id, self.paper_key, source="button",
                                   guild_id=interaction.guild_id)
        await interaction.response.send_message(text, ephemeral=True)


class MoreButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pb:more:(?P<run>\d+):(?P<offset>\d+)"):
    """'Show more' under a digest, and 'Next' on the ephemeral pages it opens. Persistent:
    works after restarts, because everything it needs is in its custom_id and the database."""

    def __init__(self, run_id: int, offset: int, label: str = "Show more"):
        super().__init__(discord.ui.Button(label=label, custom_id=more_custom_id(run_id, offset),
                                           style=discord.ButtonStyle.secondary, emoji="📜"))
        self.run_id = run_id
        self.offset = offset

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> MoreButton:
        return cls(int(match["run"]), int(match["offset"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        run = await bot.store.get_run(self.run_id)
        if run is None or run.plan is None or not run.plan.extra_keys:
            await interaction.response.send_message("That digest is no longer stored.", ephemeral=True)
            return
        keys = run.plan.extra_keys
        page_keys = keys[self.offset:self.offset + MORE_PAGE]
        papers = await bot.store.papers_by_keys_in_order(page_keys)
        embed = discord.Embed.from_dict(more_page(papers, offset=self.offset, total=len(keys)))
        view = discord.ui.View(timeout=None)
        if self.offset + MORE_PAGE < len(keys):
            view.add_item(MoreButton(self.run_id, self.offset + MORE_PAGE, label="Next"))
        if self.offset == 0 or interaction.message is None or not interaction.message.flags.ephemeral:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)
        else:
            await interaction.response.edit_message(embed=embed, view=view)


class SaveMenu(discord.ui.DynamicItem[discord.ui.Select], template=r"pb:savemenu(?::(?P<tag>\w{1,40}))?"):
    """🔖 Save menu under a list of papers (/similar, /recommend): the options' values are paper
    keys, so it needs no state and works on any such message, however old."""

    def __init__(self, options: Sequence[tuple[str, str, str]] = (), tag: str = ""):
        select: discord.ui.Select = discord.ui.Select(
            custom_id=f"{SAVE_MENU_ID}:{tag}" if tag else SAVE_MENU_ID,
            placeholder="🔖 Save one to your bookmarks…", min_values=1, max_values=1,
            options=[discord.SelectOption(label=label, value=value, description=description)
                     for label, value, description in options] or [discord.SelectOption(label="-")],
        )
        super().__init__(select)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Select,
                             match: re.Match[str]) -> SaveMenu:
        return cls(tag=match["tag"] or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        values = self.item.values
        if not values:
            await interaction.response.send_message("Pick a paper in the menu to save it.", ephemeral=True)
            return
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        text = await save_for_user(bot, interaction.user.id, values[0], source="menu",
                                   guild_id=interaction.guild_id)
        await interaction.response.send_message(text, ephemeral=True)


class SimilarButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pb:similar:(?P<key>\S{1,90})"):
    """🧭 Similar: the papers closest in meaning to this one, privately, with a Save menu."""

    def __init__(self, paper_key: str):
        super().__init__(discord.ui.Button(label="Similar", custom_id=SIMILAR_PREFIX + paper_key, emoji="🧭",
                                           style=discord.ButtonStyle.secondary))
        self.paper_key = paper_key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> SimilarButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        from bot.meaning.answers import similar_answer

        await interaction.response.defer(ephemeral=True, thinking=True)
        bot: PaperBot = interaction.client  # type: ignore[assignment]
        text, embed, view = await similar_answer(bot, self.paper_key)
        await interaction.followup.send(text or discord.utils.MISSING, embed=embed or discord.utils.MISSING,
                                        view=view or discord.utils.MISSING, ephemeral=True)


def build_view(buttons: Sequence[Button]) -> discord.ui.View | None:
    """A View from button specs: link buttons, and persistent ones the bot handles."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for spec in buttons:
        if spec.url:
            view.add_item(discord.ui.Button(label=spec.label, url=spec.url, emoji=spec.emoji))
        elif spec.custom_id and spec.custom_id.startswith(SAVE_PREFIX):
            view.add_item(SaveButton(spec.custom_id.removeprefix(SAVE_PREFIX), label=spec.label))
        elif spec.custom_id and spec.custom_id.startswith(SIMILAR_PREFIX):
            view.add_item(SimilarButton(spec.custom_id.removeprefix(SIMILAR_PREFIX)))
        elif spec.custom_id and (more := _MORE.fullmatch(spec.custom_id)):
            view.add_item(MoreButton(int(more["run"]), int(more["offset"]), label=spec.label))
        else:
            view.add_item(discord.ui.Button(label=spec.label, custom_id=spec.custom_id, emoji=spec.emoji,
                                            style=discord.ButtonStyle.secondary))
    return view
