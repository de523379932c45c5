"""/help: every command with one line each, generated from the command tree so it never drifts."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot


def command_lines(tree: app_commands.CommandTree) -> list[str]:
    lines: list[str] = []

    def walk(command: app_commands.Command | app_commands.Group) -> None:
        if isinstance(command, app_commands.Group):
            for child in command.commands:
                walk(child)
        else:
            lines.append(f"`/{command.qualified_name}`: {command.description}")

    for command in sorted(tree.get_commands(), key=lambda c: c.name):
        if isinstance(command, app_commands.Command | app_commands.Group):
            walk(command)
    return lines


class Help(commands.Cog):
    def __init__(self, bot: PaperBot):
        self.bot = bot

    @app_commands.command(name="help", description="What paperbot can do: every command in one line")
    async def help(self, interaction: discord.Interaction) -> None:
        lines = command_lines(self.bot.tree)
        embed = discord.Embed(
            title="paperbot commands",
            description="\n".join(lines)[:4000],
            colour=discord.Colour.blurple(),
        )
        embed.set_footer(text="React 🔖 to a paper to bookmark it · commands marked admin need Manage Server")
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Help(bot))
