"""/status: what an operator needs at a glance. Thin: gathers from the bot's resources, renders."""

from __future__ import annotations

from datetime import datetime, time

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.cluster import process_lines
from bot.status import StatusReport, render_status


class Status(commands.Cog):
    def __init__(self, bot: PaperBot):
        self.bot = bot

    @app_commands.command(name="status", description="Bot health: uptime, papers, feeds, next digests")
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        admin = interaction.guild is not None and interaction.permissions.manage_guild
        now = self.bot.clock()
        store = self.bot.store
        midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
        report = StatusReport(
            now=now,
            started_at=self.bot.started_at,
            latency_seconds=self.bot.latency,
            papers_total=await store.count_papers(),
            papers_today=await store.count_papers_seen_since(midnight),
            database_bytes=await store.database_size_bytes(),
            # Feeds a server added are that server's business: shown by its own provider (/feed).
            feeds=[f for f in await store.list_feeds(enabled_only=True) if f.origin != "admin"],
        )
        cluster = getattr(self.bot, "cluster", None)
        if cluster is not None:
            report.processes = process_lines(await store.list_processes(), now, me=cluster.process_id)
        for provider in self.bot.status_providers:
            upcoming, problems = await provider(interaction.guild_id, admin)
            report.next_digests += upcoming
            report.digest_problems += problems
        await interaction.followup.send(embed=render_status(report, admin=admin), ephemeral=True)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Status(bot))
