"""/digest: configure scheduled digests (Manage Server only). Thin: validates, calls the service."""

from __future__ import annotations

import zoneinfo
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.digest.model import DigestConfig, EmptyDays, RunStatus, parse_post_time, parse_timezone
from bot.digest.render import embed_length
from bot.digest.service import DigestService, missing_permissions
from bot.errors import UserFacingError, permission_name, require_manage_server
from bot.present import escape_markdown
from bot.search import parse_query
from bot.taxonomy import describe, split_categories, suggest

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

COMMON_ZONES = [
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo",
    "Asia/Singapore", "Australia/Sydney",
]


def _config_line(config: DigestConfig, service: DigestService) -> str:
    when = f"{config.post_time} {config.timezone}"
    if config.weekly:
        when = f"{WEEKDAYS[config.weekday or 0].title()}s {when}"
    parts = [f"**#{config.id}** <#{config.channel_id}>", escape_markdown(config.label), when]
    if not config.weekly:
        parts.append(f"max {config.max_papers}")
    if config.filter_query:
        parts.append(f"filter `{config.filter_query[:60].replace('`', '')}`")
    if not config.cross_lists:
        parts.append("no cross-lists")
    line = " · ".join(parts)
    if config.paused:
        line += f"\n  ⏸️ paused after {config.consecutive_failures} failures"
        if config.last_error:
            line += f": {escape_markdown(config.last_error[:200])}"
        line += " (use `/digest edit paused:False` to resume)"
    else:
        upcoming = service.next_run(config)
        if upcoming:
            line += f"\n  next <t:{int(upcoming.timestamp())}:F> (<t:{int(upcoming.timestamp())}:R>)"
        if config.consecutive_failures and config.last_error:
            line += f"\n  ⚠️ failing: {escape_markdown(config.last_error[:200])}"
    return line


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Digests(commands.GroupCog, group_name="digest", group_description="Scheduled paper digests (admins)"):
    def __init__(self, bot: PaperBot):
        self.bot = bot
        super().__init__()

    @property
    def service(self) -> DigestService:
        return self.bot.digests

    async def cog_load(self) -> None:
        self.bot.status_providers.append(self.status_lines)

    async def cog_unload(self) -> None:
        if self.status_lines in self.bot.status_providers:
            self.bot.status_providers.remove(self.status_lines)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manage_server(interaction)

    async def status_lines(self, guild_id: int | None, admin: bool) -> tuple[list[str], list[str]]:
        if guild_id is None:
            return [], []
        upcoming, problems = [], []
        for config in await self.bot.store.list_digests(guild_id=guild_id):
            when = self.service.next_run(config)
            if when is not None:
                upcoming.append(f"<#{config.channel_id}> {escape_markdown(config.label)}: "
                                f"<t:{int(when.timestamp())}:R>")
            if config.paused or config.consecutive_failures:
                state = "paused" if config.paused else "failing"
                problems.append(f"#{config.id} in <#{config.channel_id}> {state}: "
                                f"{escape_markdown((config.last_error or '?')[:200])}")
        return upcoming, problems

    # ------------------------------------------------------------------ validation

    def _categories(self, text: str) -> list[str]:
        known, unknown = split_categories(text)
        if unknown:
            raise UserFacingError(
                f"Not arXiv categories: {', '.join(f'`{u[:40]}`' for u in unknown[:5])}. "
                "Use codes such as `cs.LG cs.CL` (autocomplete lists them)."
            )
        if not known:
            raise UserFacingError("Give at least one arXiv category, e.g. `cs.LG`.")
        return known

    def _time(self, text: str) -> str:
        try:
            hour, minute, second = parse_post_time(text)
        except ValueError as error:
            raise UserFacingError(str(error)) from None
        return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")

    def _zone(self, text: str) -> str:
        try:
            return parse_timezone(text).key
        except ValueError as error:
            raise UserFacingError(str(error)) from None

    def _filter(self, text: str | None) -> str | None:
        if text is None or not text.strip():
            return None
        query = parse_query(text)
        if query.is_empty:
            raise UserFacingError("That filter has no words to match; leave it empty to keep every paper.")
        return text.strip()[:500]

    async def _get(self, interaction: discord.Interaction, digest_id: int) -> DigestConfig:
        config = await self.bot.store.get_digest(digest_id)
        if config is None or config.guild_id != interaction.guild_id:
            raise UserFacingError(f"There is no digest #{digest_id} on this server (see `/digest list`).")
        return config

    def _permission_warning(self, channel: discord.abc.GuildChannel) -> str:
        missing = missing_permissions(channel)
        if not missing:
            return ""
        names = ", ".join(permission_name(m) for m in missing)
        return (f"\n⚠️ I can't post there yet: I'm missing **{names}** in {channel.mention}. "
                "Grant them before the digest is due.")

    # ------------------------------------------------------------------ commands

    @app_commands.command(name="add", description="Post a daily digest of new papers to a channel")
    @app_commands.describe(
        channel="Where to post", categories="arXiv categories, e.g. cs.LG cs.CL",
        time="Local time to post, HH:MM (24-hour)", timezone="IANA time zone, e.g. Europe/Berlin",
        max_papers="Papers posted in full (1-25); the rest behind a button",
        include_hf="Add the day's Hugging Face Daily Papers", filter="Only papers matching this search",
        cross_lists="Include papers cross-listed into these categories",
        empty_days="What to post when nothing was announced",
        cadence="daily: new papers every day; weekly: a recap of what this server liked that week",
        weekday="For a weekly recap: the day it is posted (default Monday)",
    )
    async def add(
        self, interaction: discord.Interaction, channel: discord.TextChannel, categories: str, time: str,
        timezone: str, max_papers: app_commands.Range[int, 1, 25] = 10, include_hf: bool = False,
        filter: str | None = None, cross_lists: bool = True,
        empty_days: Literal["auto", "never", "always"] = "auto",
        cadence: Literal["daily", "weekly"] = "daily", weekday: Weekday | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        config = DigestConfig(
            guild_id=interaction.guild_id or 0, channel_id=channel.id,
            categories=self._categories(categories), post_time=self._time(time),
            timezone=self._zone(timezone), max_papers=max_papers, include_hf=include_hf,
            filter_query=self._filter(filter), cross_lists=cross_lists, empty_days=EmptyDays(empty_days),
            created_by=interaction.user.id, cadence=cadence,
            weekday=WEEKDAYS.index(weekday or "monday") if cadence == "weekly" else None,
        )
        stored = await self.bot.store.add_digest(config, now=self.bot.clock())
        added_feeds = [] if stored.weekly else await self.service.ensure_feeds(stored.categories)
        self.service.schedule(stored)
        upcoming = self.service.next_run(stored)
        every = f"every {WEEKDAYS[stored.weekday or 0].title()}" if stored.weekly else "every day"
        lines = [f"✅ Digest **#{stored.id}** added: {escape_markdown(stored.label)} in {channel.mention} "
                 f"{every} at {stored.post_time} ({stored.timezone})."]
        if upcoming:
            lines.append(f"First one: <t:{int(upcoming.timestamp())}:F>.")
        if added_feeds:
            lines.append("Now also polling: " + ", ".join(describe(f.name.removeprefix("arXiv ")
                                                                   if f.name else f.url)
                                                          for f in added_feeds) + ".")
        await interaction.followup.send("\n".join(lines) + self._permission_warning(channel), ephemeral=True)

    @app_commands.command(name="list", description="This server's digests, their next run and problems")
    async def list_digests(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        configs = await self.bot.store.list_digests(guild_id=interaction.guild_id)
        if not configs:
            await interaction.followup.send("No digests yet. Add one with `/digest add`.", ephemeral=True)
            return
        runs = await self.bot.store.latest_runs([c.id or 0 for c in configs])
        lines = []
        for config in configs:
            line = _config_line(config, self.service)
            run = runs.get(config.id or 0)
            if run is not None:
                state = {RunStatus.DONE: "posted", RunStatus.EMPTY: "nothing to post",
                         RunStatus.FAILED: "failed", RunStatus.POSTING: "posting"}[run.status]
                line += f"\n  last run {run.run_date:%a %d %b}: {state}"
            lines.append(line)
        embed = discord.Embed(title="Digests on this server", description="\n\n".join(lines)[:4000],
                              colour=discord.Colour.blurple())
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="edit", description="Change a digest's settings (or resume a paused one)")
    async def edit(
        self, interaction: discord.Interaction, digest: int, channel: discord.TextChannel | None = None,
        categories: str | None = None, time: str | None = None, timezone: str | None = None,
        max_papers: app_commands.Range[int, 1, 25] | None = None, include_hf: bool | None = None,
        filter: str | None = None, cross_lists: bool | None = None,
        empty_days: Literal["auto", "never", "always"] | None = None, paused: bool | None = None,
        weekday: Weekday | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        config = await self._get(interaction, digest)
        if weekday is not None:
            if not config.weekly:
                raise UserFacingError("Only a weekly recap has a weekday; this digest is daily.")
            config.weekday = WEEKDAYS.index(weekday)
        if channel is not None:
            config.channel_id = channel.id
        if categories is not None:
            config.categories = self._categories(categories)
        if time is not None:
            config.post_time = self._time(time)
        if timezone is not None:
            config.timezone = self._zone(timezone)
        if max_papers is not None:
            config.max_papers = max_papers
        if include_hf is not None:
            config.include_hf = include_hf
        if filter is not None:
            config.filter_query = self._filter(filter)
        if cross_lists is not None:
            config.cross_lists = cross_lists
        if empty_days is not None:
            config.empty_days = EmptyDays(empty_days)
        if paused is not None:
            config.paused = paused
        stored = await self.bot.store.update_digest(config, now=self.bot.clock())
        if not stored.weekly:
            await self.service.ensure_feeds(stored.categories)
        self.service.schedule(stored)
        warning = ""
        target = interaction.guild.get_channel(stored.channel_id) if interaction.guild else None
        if isinstance(target, discord.abc.GuildChannel):
            warning = self._permission_warning(target)
        await interaction.followup.send(f"✅ Updated:\n{_config_line(stored, self.service)}{warning}",
                                        ephemeral=True)

    @app_commands.command(name="remove", description="Stop and delete a digest")
    async def remove(self, interaction: discord.Interaction, digest: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        config = await self._get(interaction, digest)
        await self.bot.store.remove_digest(config.id or 0, guild_id=config.guild_id)
        self.service.unschedule(config.id or 0)
        await interaction.followup.send(f"🗑️ Digest #{config.id} removed; its past messages stay.",
                                        ephemeral=True)

    @app_commands.command(name="preview", description="See exactly what this digest would post now")
    async def preview(self, interaction: discord.Interaction, digest: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        config = await self._get(interaction, digest)
        today = self.bot.clock().astimezone(config.zone).date()
        plan, _ = await self.service.compose(config, run_id=0, run_date=today)
        if not plan.messages:
            await interaction.followup.send(
                "Nothing would be posted now: no new papers since the last digest, and this digest "
                "posts nothing on such a day.", ephemeral=True)
            return
        batches: list[list[discord.Embed]] = [[]]
        texts: list[str] = []
        size = 0
        for message in plan.messages:
            if message.content:
                texts.append(message.content)
            for data in message.embeds:
                length = embed_length(data)
                if len(batches[-1]) == 10 or size + length > 5800:
                    batches.append([])
                    size = 0
                batches[-1].append(discord.Embed.from_dict(data))
                size += length
        header = (f"Preview of digest #{config.id} ({len(plan.messages)} messages; "
                  f"{plan.paper_count} papers selected). Only you can see this.")
        await interaction.followup.send(header + ("\n" + "\n".join(texts) if texts else "")[:1900],
                                        embeds=batches[0], ephemeral=True)
        for batch in batches[1:3]:
            await interaction.followup.send(embeds=batch, ephemeral=True)
        if len(batches) > 3:
            await interaction.followup.send(f"…and {len(batches) - 3} more pages of cards.", ephemeral=True)

    @app_commands.command(name="now", description="Post this digest now (counts as today's)")
    async def now(self, interaction: discord.Interaction, digest: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        config = await self._get(interaction, digest)
        today = self.bot.clock().astimezone(config.zone).date()
        outcome = await self.service.run(config.id or 0, today, trigger="now")
        messages = {
            "done": "✅ Posted today's digest.",
            "empty": "📭 Nothing new to post today; that counts as today's digest.",
            "already": f"Today's digest ({today:%a %d %b}) was already posted; it is posted once a day. "
                       "Use `/digest preview` to see what the next one holds.",
            "failed": f"⚠️ Could not post: {outcome.detail}",
            "paused": f"⏸️ Could not post, and the digest is now paused: {outcome.detail}",
            "retrying": f"Discord is having trouble ({outcome.detail}); I'll finish posting shortly.",
            "missing": "That digest was just removed.",
        }
        await interaction.followup.send(messages[outcome.status], ephemeral=True)

    # ------------------------------------------------------------------ autocomplete

    @add.autocomplete("categories")
    @edit.autocomplete("categories")
    async def categories_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        head, _, last = current.rpartition(" ")
        head = (head + " ") if head else ""
        choices = []
        for code, name in suggest(last, limit=25):
            value = f"{head}{code}"
            if len(value) <= 100:
                choices.append(app_commands.Choice(name=f"{value} — {name}"[:100], value=value))
        return choices

    @add.autocomplete("timezone")
    @edit.autocomplete("timezone")
    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.strip().lower().replace(" ", "_")
        if not needle:
            zones = COMMON_ZONES
        else:
            zones = sorted(z for z in _all_zones() if needle in z.lower())
            zones.sort(key=lambda z: (not z.lower().startswith(needle), "/" in z and
                                      not z.lower().split("/")[-1].startswith(needle), z))
        return [app_commands.Choice(name=z, value=z) for z in zones[:25]]

    @edit.autocomplete("digest")
    @remove.autocomplete("digest")
    @preview.autocomplete("digest")
    @now.autocomplete("digest")
    async def digest_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        configs = await self.bot.store.list_digests(guild_id=interaction.guild_id)
        choices = []
        for config in configs:
            channel = self.bot.get_channel(config.channel_id)
            where = f"#{channel.name}" if isinstance(channel, discord.abc.GuildChannel) else "channel"
            name = f"#{config.id} · {where} · {config.label} · {config.post_time} {config.timezone}"
            if current.strip().lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=config.id or 0))
        return choices[:25]

    # ------------------------------------------------------------------ events

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.service.start()

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        for config in await self.bot.store.digests_in_channel(channel.id):
            await self.bot.store.fail_run(
                None, config.id or 0, f"the channel #{channel.name} was deleted", now=self.bot.clock(),
                pause_after=self.bot.settings.digest.max_failures_before_pause,
            )


_ZONES: list[str] = []


def _all_zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(zoneinfo.available_timezones()))
    return _ZONES


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Digests(bot))

