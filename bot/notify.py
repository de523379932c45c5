"""Subscriptions at work: match newly ingested papers, then one DM per user per day.

New papers are matched against every subscription when a feed batch brings
them (the matcher runs in a worker thread). Matches, and updates to bookmarked
papers (new version, DOI, journal reference), wait in a queue; each user gets
at most one DM a day listing them, right after the day's ingestion or at a set
hour. What was sent is recorded, so no paper reaches a user twice. A user whose
DMs are closed is not retried every day: the bot notes it and tells them the
next time they use a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import discord

from bot.community import dmtime
from bot.community.alerts import describe_update
from bot.digest.model import Button
from bot.errors import CANNOT_DM, discord_code
from bot.match import CompiledSubscriptions, GroupMatch, PaperText, Subscription
from bot.meaning.answers import for_you_section
from bot.present import escape_markdown, fit_lines, md_link, short_authors, trim
from bot.store.readers import QueuedMatch, QueuedUpdate
from bot.views import build_view, save_custom_id

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)



def render_daily_dm(
    matches: Sequence[QueuedMatch], updates: Sequence[QueuedUpdate], *, day: date, max_papers: int,
    unlisted: int = 0,
) -> tuple[dict[str, Any], list[Button]]:
    """The day's DM: numbered matches with links (a 🔖 button each), then bookmark updates."""
    shown = list(matches[:max_papers])
    lines = []
    for number, item in enumerate(shown, 1):
        paper = item.paper
        why = f" · matched `{trim(item.subscription, 60).replace('`', '')}`" if item.subscription else ""
        lines.append(f"**{number}.** {md_link(trim(paper.title, 150), paper.abs_url or paper.hf_url)}\n"
                     f"{escape_markdown(short_authors(paper.authors, max_names=2))}{why}")
    description, fitted = fit_lines(lines, 3800, separator="\n\n")
    shown = shown[:fitted]  # a button only for a paper the text lists
    more = len(matches) - len(shown) + unlisted
    if more > 0:
        description += f"\n\n…and {more} more {'match' if more == 1 else 'matches'} today."
    embed: dict[str, Any] = {
        "title": f"📬 Your papers · {day.day} {day:%B %Y}",
        "description": description or "No new matches today, but your bookmarks changed:",
        "color": 0x5865F2,
        "fields": [],
    }
    if updates:
        update_lines = []
        for update in updates[:15]:
            update_lines.append(describe_update(update))  # version (+ comment), published, code
        value, listed = fit_lines(update_lines, 980)
        if len(updates) > listed:
            value += f"\n…and {len(updates) - listed} more updates (see /bookmarks list)"
        embed["fields"].append({"name": "Updates to your bookmarks", "value": value, "inline": False})
    embed["footer"] = {"text": "🔖 saves a paper to /bookmarks · /subscriptions to change what you get"}
    buttons = [Button(f"{n}", custom_id=save_custom_id(item.paper.key), emoji="🔖")
               for n, item in enumerate(shown[:20], 1)]
    return embed, buttons


@dataclass(slots=True)
class UserMatches:
    """One user's matches in a batch: the papers to list (batch order), and how many matched."""

    listed: list[tuple[int, int]]  # (paper id, the subscription that found it)
    total: int


def matches_per_user(
    groups: Sequence[GroupMatch], owners: Mapping[int, int], paper_order: Sequence[int], *, cap: int
) -> dict[int, UserMatches]:
    """Fold per-query results into per-user results without building every (user, paper) pair.

    A category subscription can match 1,500 papers a day; a DM lists `cap` of them and counts the
    rest. Each query's papers become a bitset over the batch, a user's bitsets are OR-ed, and
    only the first `cap` bits of each user are expanded.
    """
    position = {paper_id: i for i, paper_id in enumerate(paper_order)}
    masks: dict[int, int] = {}
    firsts: dict[int, list[tuple[int, int]]] = {}  # user -> [(group mask, subscription id)]
    for group in groups:
        mask = 0
        for paper_id in group.paper_ids:
            mask |= 1 << position[paper_id]
        for sub_id in group.subscription_ids:
            user = owners[sub_id]
            masks[user] = masks.get(user, 0) | mask
            firsts.setdefault(user, []).append((mask, sub_id))
    result: dict[int, UserMatches] = {}
    for user, mask in masks.items():
        listed = []
        remaining = mask
        while remaining and len(listed) < cap:
            low = remaining & -remaining
            remaining ^= low
            sub_id = next(s for m, s in firsts[user] if m & low)
            listed.append((paper_order[low.bit_length() - 1], sub_id))
        result[user] = UserMatches(listed, mask.bit_count())
    return result


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector around a burst of allocation in a worker thread.

    Compiling and matching 100,000 subscriptions allocates millions of short-lived objects;
    each full collection then walks them all while holding the GIL, stalling the event loop
    (Discord's gateway) for 100 ms and more. Reference counting still frees them; the
    collector resumes right after, so only cyclic garbage waits a few seconds.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ReaderService:
    def __init__(self, bot: PaperBot):
        self.bot = bot
        self.store = bot.store
        self.settings = bot.settings
        self._deliver_lock = asyncio.Lock()
        self._compiled: tuple[tuple[int, int, int], CompiledSubscriptions, dict[int, int]] | None = None

    async def _subscriptions(self) -> tuple[CompiledSubscriptions, dict[int, int]] | None:
        """Compiled subscriptions, rebuilt only when they changed (compiling 100,000 takes ~1.5 s)."""
        signature = await self.store.subscriptions_signature()
        if signature[0] == 0:
            return None
        if self._compiled is None or self._compiled[0] != signature:
            rows = await self.store.all_subscriptions()

            def compile_all() -> tuple[CompiledSubscriptions, dict[int, int]]:
                with gc_paused():
                    specs = [Subscription(r.id, r.match_kind, r.match_value) for r in rows]
                    return CompiledSubscriptions(specs), {r.id: r.user_id for r in rows}

            compiled, owners = await asyncio.to_thread(compile_all)
            self._compiled = (signature, compiled, owners)
        return self._compiled[1], self._compiled[2]

    async def match_new_papers(self, paper_ids: list[int]) -> int:
        """Queue each subscriber's matches among freshly ingested papers. Returns papers queued."""
        loaded = await self._subscriptions()
        if loaded is None or not paper_ids:
            return 0
        compiled, owners = loaded
        # Raw rows: turning 2,000 rows into objects is tens of ms, done in the worker below.
        rows_by_id = {row[0]: row for row in await self.store.index_rows(paper_ids)}
        order = [paper_id for paper_id in paper_ids if paper_id in rows_by_id]
        cap = self.settings.readers.dm_max_papers

        def work() -> tuple[list[tuple[int, int, int]], dict[int, int]]:
            with gc_paused():
                return _work()

        def _work() -> tuple[list[tuple[int, int, int]], dict[int, int]]:
            texts = [PaperText.from_index_row(rows_by_id[paper_id]) for paper_id in order]
            per_user = matches_per_user(compiled.match_groups(texts), owners, order, cap=cap)
            rows = [(user, paper, sub) for user, found in per_user.items() for paper, sub in found.listed]
            unlisted = {user: found.total - len(found.listed) for user, found in per_user.items()
                        if found.total > len(found.listed)}
            return rows, unlisted

        rows, unlisted = await asyncio.to_thread(work)
        queued = await self.store.queue_matches(rows, unlisted=unlisted, now=self.bot.clock())
        log.info("matched %d new papers against %d subscriptions: %d papers queued",
                 len(order), compiled.subscription_count, queued)
        return queued

    async def after_ingest(self) -> None:
        """After a poll round: queue bookmark updates; deliver now unless DMs have a set hour."""
        await self.store.queue_bookmark_updates(now=self.bot.clock())
        await self.deliver_all(trigger=dmtime.INGEST)  # those whose DM goes out after ingestion

    async def deliver_all(self, *, trigger: str | None = None) -> dict[str, int]:
        """Deliver every due DM. `trigger` (ingest | hourly) picks those due then, by each reader's
        own hour and time zone (/subscriptions settings); None: everyone not switched off."""
        async with self._deliver_lock:
            counts = {"sent": 0, "closed": 0, "skipped": 0}
            users = await self.store.users_with_queued_dms()
            chosen = await self.store.dm_settings_of(users)
            now = self.bot.clock()
            default = self.settings.readers.dm_hour_utc
            users = [u for u in users if (not chosen[u].off if u in chosen else True) and (
                trigger is None or dmtime.is_due(chosen.get(u), now, trigger=trigger,
                                                 default_hour_utc=default))]
            for user_id in users:
                outcome = await self.deliver(user_id)
                counts[outcome] = counts.get(outcome, 0) + 1
            return counts

    async def deliver(self, user_id: int) -> str:
        """Send one user their DM for today, if they have not had one: sent | closed | skipped."""
        today = self.bot.clock().date()
        last, closed_at, _ = await self.store.dm_state(user_id)
        if last == today or closed_at is not None:
            return "skipped"
        matches, updates, unlisted = await self.store.queued_dm(user_id)
        if not matches and not updates:
            return "skipped"
        embed, buttons = render_daily_dm(matches, updates, day=today, unlisted=unlisted,
                                         max_papers=self.settings.readers.dm_max_papers)
        # Opt-in "For you" recommendations (bot/meaning/, /recommend daily:on).
        if for_you := await for_you_section(getattr(self.bot, "meaning", None), self.store, user_id,
                                            days=self.settings.meaning.recommend_days):
            embed["fields"].append(for_you)
        try:
            user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
            channel = user.dm_channel or await user.create_dm()
            await channel.send(embed=discord.Embed.from_dict(embed), view=build_view(buttons) or
                               discord.utils.MISSING, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            if discord_code(error) == CANNOT_DM:
                await self.store.note_dms_closed(user_id, now=self.bot.clock())
                log.info("user %s does not accept DMs; noted, will tell them", user_id)
                return "closed"
            log.warning("daily DM to %s failed (%s); will retry with the next delivery", user_id, error)
            return "skipped"
        # Listed or counted, every queued item has now been told: none comes again.
        await self.store.mark_dm_sent(user_id, matches, updates, day=today)
        return "sent"

    async def note_for_user(self, user_id: int) -> str | None:
        """If the user's DMs were found closed, what to tell them now (once); None otherwise."""
        _, closed_at, told = await self.store.dm_state(user_id)
        if closed_at is None or told:
            return None
        await self.store.clear_dms_closed(user_id, told=True)
        return ("📪 I couldn't send you your daily paper matches: your DMs are closed to me. "
                "Allow direct messages from this server's members (Privacy Settings) and I'll "
                "deliver them with the next batch.")
