"""/top: what this server saved most (🔖 and Save), then Hugging Face's most upvoted. Thin."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.community.render import top_embed
from bot.errors import UserFacingError
from bot.taxonomy import split_categories

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
SHOWN = 10


class Top(commands.Cog):
    def __init__(self, bot: PaperBot):
        self.bot = bot

    @app_commands.command(name="top",
                          description="The papers this server saved most, then Hugging Face's top")
    @app_commands.describe(period="How far back (default: week)",
                           category="Only this arXiv category, e.g. cs.LG",
                           public="Post the answer in the channel (default: only you see it)")
    @app_commands.guild_only()
    async def top(self, interaction: discord.Interaction, period: Literal["day", "week", "month"] = "week",
                  category: str | None = None, public: bool = False) -> None:
        await interaction.response.defer(ephemeral=not public, thinking=True)
        categories: list[str] = []
        if category:
            categories, unknown = split_categories(category)
            if unknown or not categories:
                raise UserFacingError(f"`{category[:40]}` is not an arXiv category (try `cs.LG`).")
        since = self.bot.clock() - PERIODS[period]
        store = self.bot.store
        saved = await store.top_saved(interaction.guild_id or 0, since=since, categories=categories,
                                      limit=SHOWN)
        upvoted = await store.top_upvoted(since=since, categories=categories, limit=SHOWN,
                                          exclude=[p.id or 0 for p, _ in saved])
        scope = f" in {', '.join(categories)}" if categories else ""
        embed = top_embed(f"🏆 Top papers of the last {period}{scope}", saved, upvoted, since=since,
                          footer=f"Since {since:%d %b %Y %H:%M} UTC · 🔖 on any card or Save to count")
        await interaction.followup.send(embed=discord.Embed.from_dict(embed), ephemeral=not public)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Top(bot))
