"""Server topics (Manage Server) and personal subscriptions delivered by DM. Thin."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.community.dmsettings import dm_settings_answer, zone_choices
from bot.errors import UserFacingError, require_manage_server
from bot.present import escape_markdown, trim
from bot.search import parse_query
from bot.store.readers import SubscriptionRow
from bot.taxonomy import canonical, describe, suggest


def _subscription_text(sub: SubscriptionRow) -> str:
    if sub.kind == "category":
        return f"category **{describe(sub.value)}**"
    if sub.kind == "author":
        return f"author **{escape_markdown(sub.value)}**"
    if sub.kind == "topic":
        return f"topic **{escape_markdown(sub.value)}**" + (
            f" (`{trim(sub.query, 80).replace('`', '')}`)" if sub.query else "")
    return f"search `{trim(sub.value, 100).replace('`', '')}`"


def _check_query(text: str, what: str) -> str:
    query = parse_query(text)
    if query.is_empty or not (query.groups or query.filters.author or query.filters.categories):
        raise UserFacingError(f"That {what} has no words to match. Try a few keywords, or "
                              '"a phrase in quotes".')
    return text.strip()[:500]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Topics(commands.GroupCog, group_name="topic", group_description="Server topics (admins)"):
    """Topics group a digest's papers under headers; 🔔 on a header subscribes a member."""

    def __init__(self, bot: PaperBot):
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return require_manage_server(interaction)

    @app_commands.command(name="add", description="Add a topic: digests group matching papers under it")
    @app_commands.describe(name="A short name, e.g. Graph learning", query="A search, e.g. \"graph neural\"")
    async def add(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 60],
                  query: str) -> None:
        topic = await self.bot.store.add_topic(
            interaction.guild_id or 0, name.strip(), _check_query(query, "query"),
            created_by=interaction.user.id, now=self.bot.clock())
        if topic is None:
            raise UserFacingError(f"This server already has a topic named **{escape_markdown(name)}**.")
        await interaction.response.send_message(
            f"📌 Topic **{escape_markdown(topic.name)}** added. Digests will group matching papers "
            "under it; members react 🔔 on its header to get its papers by DM.", ephemeral=True)

    @app_commands.command(name="list", description="This server's topics")
    async def list_topics(self, interaction: discord.Interaction) -> None:
        topics = await self.bot.store.list_topics(interaction.guild_id or 0)
        if not topics:
            await interaction.response.send_message("No topics yet: `/topic add`.", ephemeral=True)
            return
        lines = [f"**{escape_markdown(t.name)}**: `{trim(t.query, 100).replace('`', '')}`" for t in topics]
        await interaction.response.send_message("\n".join(lines)[:1900], ephemeral=True)

    @app_commands.command(name="remove", description="Remove a topic (its subscribers stop getting it)")
    async def remove(self, interaction: discord.Interaction, topic: int) -> None:
        found = await self.bot.store.get_topic(topic)
        if found is None or found.guild_id != interaction.guild_id:
            raise UserFacingError("There is no such topic on this server (see `/topic list`).")
        await self.bot.store.remove_topic(found.guild_id, found.id)
        await interaction.response.send_message(f"Topic **{escape_markdown(found.name)}** removed.",
                                                ephemeral=True)

    @remove.autocomplete("topic")
    async def topic_autocomplete(self, interaction: discord.Interaction,
                                 current: str) -> list[app_commands.Choice[int]]:
        topics = await self.bot.store.list_topics(interaction.guild_id or 0)
        return [app_commands.Choice(name=trim(t.name, 100), value=t.id) for t in topics
                if current.lower() in t.name.lower()][:25]


class Subscriptions(commands.Cog):
    def __init__(self, bot: PaperBot):
        self.bot = bot

    @app_commands.command(name="subscribe", description="Get new papers matching a search, category or "
                                                        "author by DM (at most one DM a day)")
    @app_commands.describe(query="A search, e.g. \"diffusion models\" -survey", category="An arXiv category",
                           author="An author's name")
    async def subscribe(self, interaction: discord.Interaction, query: str | None = None,
                        category: str | None = None, author: str | None = None) -> None:
        given = [(k, v) for k, v in (("query", query), ("category", category), ("author", author)) if v]
        if len(given) != 1:
            raise UserFacingError("Give exactly one of `query`, `category` or `author`.")
        kind, value = given[0]
        if kind == "query":
            value = _check_query(value, "search")
        elif kind == "category":
            code = canonical(value)
            if code is None:
                raise UserFacingError(f"`{escape_markdown(value[:40])}` is not an arXiv category.")
            value = code
        else:
            value = " ".join(value.split())[:100]
            if not parse_query("", author=value).filters.author:
                raise UserFacingError("That author name has no letters to match.")
        result = await self.bot.store.add_subscription(
            interaction.user.id, kind, value, guild_id=interaction.guild_id, now=self.bot.clock(),
            limit=self.bot.settings.readers.max_subscriptions_per_user)
        if result == "limit":
            limit = self.bot.settings.readers.max_subscriptions_per_user
            raise UserFacingError(f"You have {limit} subscriptions, the limit. Remove one with "
                                  "`/unsubscribe` first.")
        shown = _subscription_text(SubscriptionRow(0, 0, kind, value, None, None))
        if result == "exists":
            await interaction.response.send_message(f"You already follow {shown}.", ephemeral=True)
            return
        await interaction.response.send_message(
            f"🔔 Subscribed to {shown}. New matching papers come by DM, at most once a day.",
            ephemeral=True)

    @subscribe.autocomplete("category")
    async def category_autocomplete(self, interaction: discord.Interaction,
                                    current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{code} — {name}"[:100], value=code)
                for code, name in suggest(current)]

    subscriptions = app_commands.Group(name="subscriptions",
                                       description="What you follow, and when your daily DM comes")

    @subscriptions.command(name="list", description="What you follow (topics, searches, categories, authors)")
    async def list_subscriptions(self, interaction: discord.Interaction) -> None:
        subs = await self.bot.store.list_subscriptions(interaction.user.id)
        if not subs:
            await interaction.response.send_message(
                "You follow nothing yet: `/subscribe`, or react 🔔 on a topic in a digest.", ephemeral=True)
            return
        lines = [f"• {_subscription_text(s)}" for s in subs]
        await interaction.response.send_message("You follow:\n" + "\n".join(lines)[:1900], ephemeral=True)

    @subscriptions.command(name="settings",
                           description="When your daily DM comes: your hour and time zone, or off")
    @app_commands.describe(hour="Hour of the day (0-23) in your time zone", timezone="e.g. Europe/Berlin",
                           off="True: no daily DM at all; False: DMs again",
                           default="True: back to the server's default time")
    async def settings(self, interaction: discord.Interaction,
                       hour: app_commands.Range[int, 0, 23] | None = None, timezone: str | None = None,
                       off: bool | None = None, default: bool = False) -> None:
        text = await dm_settings_answer(self.bot, interaction.user.id, hour=hour, timezone=timezone, off=off,
                                        reset=default)
        await interaction.response.send_message(text, ephemeral=True)

    @settings.autocomplete("timezone")
    async def settings_timezone(self, interaction: discord.Interaction,
                                current: str) -> list[app_commands.Choice[str]]:
        return zone_choices(current)

    @app_commands.command(name="unsubscribe", description="Stop following something")
    async def unsubscribe(self, interaction: discord.Interaction, subscription: int) -> None:
        removed = await self.bot.store.remove_subscription(interaction.user.id, subscription)
        text = ("Unsubscribed." if removed
                else "That is not one of your subscriptions (see `/subscriptions list`).")
        await interaction.response.send_message(text, ephemeral=True)

    @unsubscribe.autocomplete("subscription")
    async def unsubscribe_autocomplete(self, interaction: discord.Interaction,
                                       current: str) -> list[app_commands.Choice[int]]:
        subs = await self.bot.store.list_subscriptions(interaction.user.id)
        choices = []
        for sub in subs:
            label = "search" if sub.kind == "query" else sub.kind
            name = trim(f"{label}: {sub.value}", 100)
            if current.lower() in name.lower():
                choices.append(app_commands.Choice(name=name, value=sub.id))
        return choices[:25]


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Topics(bot))
    await bot.add_cog(Subscriptions(bot))
