"""/similar and /recommend. Thin: parse, ask the meaning service (bot/meaning/), answer privately."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.meaning.answers import recommend_answer, similar_answer
from bot.present import trim

MISSING = discord.utils.MISSING


async def _send(interaction: discord.Interaction, text: str | None, embed: discord.Embed | None,
                view: discord.ui.View | None) -> None:
    await interaction.followup.send(text or MISSING, embed=embed or MISSING, view=view or MISSING,
                                    ephemeral=True, allowed_mentions=discord.AllowedMentions.none())


class MeaningCog(commands.Cog):
    def __init__(self, bot: PaperBot):
        self.bot = bot

    @app_commands.command(name="similar", description="Papers closest in meaning to one paper")
    @app_commands.describe(paper="arXiv id or URL, or start typing a title")
    async def similar(self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 300]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await _send(interaction, *await similar_answer(self.bot, paper))

    @similar.autocomplete("paper")
    async def similar_autocomplete(self, interaction: discord.Interaction, current: str
                                   ) -> list[app_commands.Choice[str]]:
        text = current.strip()
        if len(text) < 2:
            return []
        found = await self.bot.store.papers_titled_like(text[:100], limit=25)
        return [app_commands.Choice(name=trim(f"{title} ({key})", 100), value=key[:100])
                for key, title in found]

    @app_commands.command(name="recommend",
                          description="New papers like the ones you saved (only you see them)")
    @app_commands.describe(daily="also add a 'For you' section to your daily DM (on) or stop it (off)")
    @app_commands.choices(daily=[app_commands.Choice(name="on", value="on"),
                                 app_commands.Choice(name="off", value="off")])
    async def recommend(self, interaction: discord.Interaction, daily: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        note = None
        if daily is not None:
            await self.bot.store.set_dm_recommendations(interaction.user.id, daily == "on",
                                                        now=self.bot.clock())
            note = ("✅ Your daily DM will include a ✨ For you section." if daily == "on"
                    else "✅ No more ✨ For you section in your daily DM.")
        text, embed, view = await recommend_answer(self.bot, interaction.user.id)
        await _send(interaction, "\n".join(t for t in (note, text) if t) or None, embed, view)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(MeaningCog(bot))
