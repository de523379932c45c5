"""Subscriptions at work: match newly ingested papers, then one DM per user per day.

New papers are matched against every subscription when a feed batch brings
them (the matcher runs in a worker thread). Matches, and updates to bookmarked
papers (new version, DOI, journal reference), wait in a queue; each user gets
at most one DM a day listing them, right after the day's ingestion or at a set
hour. What was sent is recorded, so no paper reaches a user twice. A user whose
DMs are closed is not retried every day: the bot notes it and tells them the
next time they use a command.

At most one DM per user and day, whatever fails when (as digests, see
bot/digest/service.py): the day's DM is claimed in the database, with exactly
what it says, before it is sent; every send of it carries the same nonce with
enforce_nonce, so Discord drops a retry whose first answer was lost; and after
a failed or interrupted send the DM channel's latest messages are read before
anything is sent again. A claim that never landed by the next day is dropped and
its papers go into that day's DM. Matching keeps a cursor over stored papers, so
papers ingested just before a crash are still matched after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import discord

from bot.community import dmtime
from bot.community.alerts import describe_update
from bot.digest.model import Button
from bot.digest.render import limit_problems
from bot.errors import CANNOT_DM, discord_code
from bot.match import CompiledSubscriptions, GroupMask, GroupMatch, PaperText, Subscription
from bot.meaning.answers import for_you_section
from bot.present import escape_markdown, fit_lines, md_link, short_authors, text_length, trim
from bot.store.readers import DmDelivery, DmItem, QueuedMatch, QueuedUpdate
from bot.views import build_view, save_custom_id

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

MAX_DM_BUTTONS = 25  # 5 action rows of 5 buttons
DM_TEXT_BUDGET = 5800  # of Discord's 6,000 characters per message's embeds; the rest for "…and N more"
DESCRIPTION_BUDGET = 3900  # of 4,096 per embed description
DM_COLOR = 0x5865F2
TITLE_WIDTHS = (150, 110, 80)  # titles are trimmed further when a long list would not fit whole
SEND_ATTEMPTS = 3  # within one delivery; then the DM waits for the next one (history looked at first)
SUBSCRIPTION_PAGE = 5000  # subscriptions read per query when (re)compiling
HISTORY_LOOKBACK = 25  # a DM channel's latest messages searched for a DM whose answer was lost


def render_daily_dm(
    matches: Sequence[QueuedMatch], updates: Sequence[QueuedUpdate], *, day: date, max_papers: int,
    unlisted: int = 0, extra_fields: Sequence[dict[str, Any]] = (),
) -> tuple[list[dict[str, Any]], list[Button]]:
    """The day's DM: numbered matches with links (a 🔖 button each), then bookmark updates.

    The list runs over two embeds when one description cannot hold it, so that up to 25
    papers (dm_max_papers' ceiling) are listed; a paper that does not fit is only counted,
    and every listed paper has its numbered button (5 rows of 5: Discord's limit, also 25).
    """
    shown = list(matches[:min(max_papers, MAX_DM_BUTTONS)])
    title = f"📬 Your papers · {day.day} {day:%B %Y}"
    footer = "🔖 saves a paper to /bookmarks · /subscriptions to change what you get"
    fields = []
    if updates:
        update_lines = []
        for update in updates[:15]:
            update_lines.append(describe_update(update))  # version (+ comment), published, code
        value, listed = fit_lines(update_lines, 980)
        if len(updates) > listed:
            value += f"\n…and {len(updates) - listed} more updates (see /bookmarks list)"
        fields.append({"name": "Updates to your bookmarks", "value": value, "inline": False})
    fields += extra_fields  # e.g. "For you" recommendations: the list makes room for them
    # Discord allows 6,000 characters over a message's embeds, 4,096 per description.
    budget = DM_TEXT_BUDGET - text_length(title + footer) - sum(
        text_length(f["name"] + f["value"]) for f in fields)
    for title_width in TITLE_WIDTHS:  # shorter titles before fewer papers
        lines = [_dm_line(number, item, title_width) for number, item in enumerate(shown, 1)]
        first, in_first = fit_lines(lines, min(DESCRIPTION_BUDGET, budget), separator="\n\n")
        second, in_second = fit_lines(lines[in_first:], min(DESCRIPTION_BUDGET, budget - text_length(first)),
                                      separator="\n\n")
        if in_first + in_second == len(lines):
            break
    shown = shown[:in_first + in_second]  # a button only for a paper the text lists
    more = len(matches) - len(shown) + unlisted
    if more > 0:
        tail = f"\n\n…and {more} more {'match' if more == 1 else 'matches'} today."
        if second:
            second += tail
        else:
            first += tail
    embeds: list[dict[str, Any]] = [{
        "title": title,
        "description": first or "No new matches today, but your bookmarks changed:",
        "color": DM_COLOR,
    }]
    if second:
        embeds.append({"description": second, "color": DM_COLOR})
    embeds[-1]["fields"] = fields
    embeds[-1]["footer"] = {"text": footer}
    buttons = [Button(f"{n}", custom_id=save_custom_id(item.paper.key), emoji="🔖")
               for n, item in enumerate(shown, 1)]
    return embeds, buttons


def _dm_line(number: int, item: QueuedMatch, title_width: int) -> str:
    paper = item.paper
    why = f" · matched `{trim(item.subscription, 60).replace('`', '')}`" if item.subscription else ""
    return (f"**{number}.** {md_link(trim(paper.title, title_width), paper.abs_url or paper.hf_url)}\n"
            f"{escape_markdown(short_authors(paper.authors, max_names=2))}{why}")


@dataclass(slots=True)
class UserMatches:
    """One user's matches in a batch: the papers to list (batch order), and how many matched."""

    listed: list[tuple[int, int]]  # (paper id, the subscription that found it)
    total: int


@dataclass(slots=True)
class FoldedMatches:
    """Every user's matches of a batch, as flat columns: row i lists paper `papers[i]` for user
    `users[i]`, found by subscription `subscriptions[i]`; users ascending, each user's papers in
    batch order. Flat int arrays, so a million rows are three objects, not a million tuples
    for the garbage collector to walk (on whichever thread, the event loop's included)."""

    users: array[int]
    papers: array[int]
    subscriptions: array[int]
    totals: dict[int, int]  # user -> papers matched in the batch, listed or not

    def rows(self) -> Iterator[tuple[int, int, int]]:
        return zip(self.users, self.papers, self.subscriptions, strict=True)

    def unlisted(self) -> dict[int, int]:
        """user -> matches only counted (beyond the cap)."""
        listed: dict[int, int] = {}
        for user in self.users:
            listed[user] = listed.get(user, 0) + 1
        return {user: total - listed.get(user, 0) for user, total in self.totals.items()
                if total > listed.get(user, 0)}


def _first_bits(mask: int, cap: int) -> list[int]:
    """Positions of the lowest `cap` set bits, ascending."""
    positions = []
    while mask and len(positions) < cap:
        low = mask & -mask
        positions.append(low.bit_length() - 1)
        mask ^= low
    return positions


def fold_per_user(groups: Sequence[GroupMask], owners: Mapping[int, int], paper_order: Sequence[int],
                  *, cap: int) -> FoldedMatches:
    """Fold per-query bitsets (CompiledSubscriptions.match_masks) into per-user rows.

    A category subscription can match 1,500 papers a day; a DM lists `cap` of them and counts the
    rest. A user's bitsets are OR-ed and only their first `cap` bits are listed; each listed paper
    is credited to the user's first subscription (in the given order) that found it. A user with
    one matching query, the common case, shares that query's listing with everyone who has it.
    """
    first: dict[int, int] = {}  # user -> index of their first group
    first_sub: dict[int, int] = {}  # user -> their subscription in it
    more: dict[int, list[int]] = {}  # user -> [group, subscription, group, subscription, ...] after the first
    for g, (subscription_ids, _mask) in enumerate(groups):
        for sub_id in subscription_ids:
            user = owners[sub_id]
            if user not in first:
                first[user] = g
                first_sub[user] = sub_id
            elif user in more:
                more[user] += (g, sub_id)
            else:
                more[user] = [g, sub_id]
    listings: dict[int, list[int]] = {}  # group -> its first `cap` positions
    users, positions, subs = array("q"), array("q"), array("q")
    totals: dict[int, int] = {}
    for user in sorted(first):
        g = first[user]
        extra = more.get(user)
        if extra is None:
            listed = listings.get(g)
            if listed is None:
                listed = listings[g] = _first_bits(groups[g][1], cap)
            users.extend(repeat(user, len(listed)))
            positions.extend(listed)
            subs.extend(repeat(first_sub[user], len(listed)))
            totals[user] = groups[g][1].bit_count()
            continue
        found = [(groups[g][1], first_sub[user])]
        found += [(groups[extra[i]][1], extra[i + 1]) for i in range(0, len(extra), 2)]
        mask = 0
        for group_mask, _sub in found:
            mask |= group_mask
        for position in _first_bits(mask, cap):
            bit = 1 << position
            users.append(user)
            positions.append(position)
            subs.append(next(sub for group_mask, sub in found if group_mask & bit))
        totals[user] = mask.bit_count()
    papers = array("q")
    for start in range(0, len(positions), 50_000):  # in steps: one long C call would hold the GIL
        papers.extend(map(paper_order.__getitem__, positions[start:start + 50_000]))
    return FoldedMatches(users, papers, subs, totals)


def matches_per_user(
    groups: Sequence[GroupMatch], owners: Mapping[int, int], paper_order: Sequence[int], *, cap: int
) -> dict[int, UserMatches]:
    """`fold_per_user` for results with their papers listed (GroupMatch), as one object per user."""
    position = {paper_id: i for i, paper_id in enumerate(paper_order)}
    masks: list[GroupMask] = []
    for group in groups:
        mask = 0
        for paper_id in group.paper_ids:
            mask |= 1 << position[paper_id]
        masks.append((group.subscription_ids, mask))
    folded = fold_per_user(masks, owners, paper_order, cap=cap)
    result = {user: UserMatches([], total) for user, total in folded.totals.items()}
    for user, paper, sub in folded.rows():
        result[user].listed.append((paper, sub))
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
        self._match_lock = asyncio.Lock()
        # Papers matched above the cursor before their own batch called: that call skips them.
        self._matched_early: set[int] = set()
        self._compiled: tuple[tuple[int, int, int], CompiledSubscriptions, dict[int, int]] | None = None

    async def _subscriptions(self) -> tuple[CompiledSubscriptions, dict[int, int]] | None:
        """Compiled subscriptions, rebuilt only when they changed (compiling 100,000 takes ~1.5 s)."""
        signature = await self.store.subscriptions_signature()
        if signature[0] == 0:
            return None
        if self._compiled is None or self._compiled[0] != signature:
            # Read as flat columns a page at a time: no 100,000 row objects held at once.
            ids, users = array("q"), array("q")
            kinds: list[str] = []
            values: list[str] = []
            after = -(2**63)  # ids are 64-bit integers
            while page := await self.store.subscription_page(after=after, limit=SUBSCRIPTION_PAGE):
                ids.extend(map(itemgetter(0), page))
                users.extend(map(itemgetter(1), page))
                kinds += map(itemgetter(2), page)
                values += map(itemgetter(3), page)
                after = page[-1][0]
            previous = self._compiled[1] if self._compiled else None

            def compile_all() -> tuple[CompiledSubscriptions, dict[int, int]]:
                # Only texts the previous compilation did not hold are parsed again. The specs
                # are made one at a time and dropped: only the compiled result outlives this.
                with gc_paused():
                    compiled = CompiledSubscriptions(map(Subscription, ids, kinds, values), reuse=previous)
                    return compiled, dict(zip(ids, users, strict=True))

            compiled, owners = await asyncio.to_thread(compile_all)
            self._compiled = (signature, compiled, owners)
        return self._compiled[1], self._compiled[2]

    async def match_new_papers(self, paper_ids: list[int]) -> int:
        """Queue each subscriber's matches among papers not matched yet. Returns papers queued.

        Called with a fresh batch's papers; also matches any paper above the matcher's cursor,
        which is what a crash between a batch's commit and its matching leaves behind.
        """
        async with self._match_lock:
            cursor = await self.store.matched_papers_cursor()
            pending, top = await self.store.papers_to_match(after=cursor)
            # A batch's papers may have been matched already, above the cursor, by another feed's
            # round (concurrent polls): matching them twice would count unlisted matches twice.
            # Papers announced again (e.g. arXiv cross-lists a paper Hugging Face showed first)
            # lie below the cursor and are matched as given.
            again = [i for i in paper_ids if i <= cursor and i not in self._matched_early]
            self._matched_early.difference_update(paper_ids)
            ids = list(dict.fromkeys([*again, *pending]))
            if len(self._matched_early) > 200_000:
                self._matched_early.clear()
            self._matched_early.update(set(pending) - set(paper_ids))
            loaded = await self._subscriptions()
            if loaded is None or not ids:
                if top > cursor:
                    await self.store.queue_matches([], now=self.bot.clock(), matched_up_to=top)
                return 0
            return await self._match(loaded, ids, top)

    async def _match(self, loaded: tuple[CompiledSubscriptions, dict[int, int]], paper_ids: list[int],
                     top: int) -> int:
        compiled, owners = loaded
        # Raw rows: turning 2,000 rows into objects is tens of ms, done in the worker below.
        rows_by_id = {row[0]: row for row in await self.store.index_rows(paper_ids)}
        order = [paper_id for paper_id in paper_ids if paper_id in rows_by_id]
        cap = self.settings.readers.dm_max_papers

        def work() -> tuple[FoldedMatches, dict[int, int]]:
            # Matching, folding and the rows to write: all in this thread, none on the loop. The
            # result is a few flat arrays, so no pile of objects is left for a collection to walk.
            with gc_paused():
                texts = [PaperText.from_index_row(rows_by_id[paper_id]) for paper_id in order]
                folded = fold_per_user(compiled.match_masks(texts), owners, order, cap=cap)
                del texts
                return folded, folded.unlisted()

        folded, unlisted = await asyncio.to_thread(work)
        queued = await self.store.queue_match_columns(
            folded.users, folded.papers, folded.subscriptions, unlisted=unlisted, now=self.bot.clock(),
            matched_up_to=top)
        log.info("matched %d new papers against %d subscriptions: %d papers queued",
                 len(order), compiled.subscription_count, queued)
        return queued

    async def after_ingest(self) -> None:
        """After a poll round: match what a crash left unmatched, queue bookmark updates, and
        deliver now unless DMs have a set hour."""
        await self.match_new_papers([])
        await self.store.queue_bookmark_updates(now=self.bot.clock())
        await self.deliver_all(trigger=dmtime.INGEST)  # those whose DM goes out after ingestion

    async def deliver_all(self, *, trigger: str | None = None) -> dict[str, int]:
        """Deliver every due DM. `trigger` (ingest | hourly) picks those due then, by each reader's
        own hour and time zone (/subscriptions settings); None: everyone not switched off."""
        async with self._deliver_lock:
            counts = {"sent": 0, "closed": 0, "skipped": 0}
            unsent = set(await self.store.users_with_unsent_dms())  # claimed earlier: finish them
            users = sorted(set(await self.store.users_with_queued_dms()) | unsent)
            chosen = await self.store.dm_settings_of(users)
            now = self.bot.clock()
            default = self.settings.readers.dm_hour_utc
            users = [u for u in users if (not chosen[u].off if u in chosen else True) and (
                trigger is None or u in unsent or dmtime.is_due(chosen.get(u), now, trigger=trigger,
                                                                default_hour_utc=default))]
            for user_id in users:
                outcome = await self.deliver(user_id)
                counts[outcome] = counts.get(outcome, 0) + 1
            return counts

    async def deliver(self, user_id: int) -> str:
        """Send one user their DM for today, at most once: sent | closed | skipped."""
        today = self.bot.clock().date()
        last, closed_at, _ = await self.store.dm_state(user_id)
        if closed_at is not None:
            return "skipped"
        delivery = await self.store.unsent_dm_delivery(user_id)
        if delivery is not None and delivery.attempts:
            # A send was tried: the DM may be there though its answer never came back.
            try:
                channel = await self._dm_channel(user_id)
                landed = await self._find_landed(channel, delivery)
            except (discord.HTTPException, OSError, TimeoutError) as error:
                log.warning("cannot check %s's DMs for an unconfirmed DM (%s); will look again "
                            "at the next delivery", user_id, error)
                return "skipped"
            if landed is not None:
                await self.store.finish_dm_delivery(delivery, message_id=landed, now=self.bot.clock())
                log.info("daily DM to %s of %s had landed; recorded", user_id, delivery.day)
                return "sent"
        if delivery is not None and delivery.day != today:
            await self.store.drop_dm_delivery(delivery.id)  # it never landed: today's DM carries it
            delivery = None
        if delivery is None:
            if last == today or await self.store.dm_delivery(user_id, today) is not None:
                return "skipped"
            delivery = await self._claim(user_id, today)
            if delivery is None:
                return "skipped"
        return await self._send(delivery)

    async def _claim(self, user_id: int, day: date) -> DmDelivery | None:
        """Compose the day's DM from the queue and claim it, before anything is sent."""
        matches, updates, unlisted = await self.store.queued_dm(user_id)
        if not matches and not updates:
            return None
        # Opt-in "For you" recommendations (bot/meaning/, /recommend daily:on).
        for_you = await for_you_section(getattr(self.bot, "meaning", None), self.store, user_id,
                                        days=self.settings.meaning.recommend_days)
        embeds, buttons = render_daily_dm(matches, updates, day=day, unlisted=unlisted,
                                          max_papers=self.settings.readers.dm_max_papers,
                                          extra_fields=[for_you] if for_you else [])
        # Listed or counted, every queued item is told by this DM: none comes again.
        items: list[DmItem] = [(m.paper.id or 0, "match", 0) for m in matches]
        items += [(u.paper.id or 0, "update", u.update_id) for u in updates]
        problems = limit_problems(None, embeds, buttons)
        if problems:  # a renderer bug: never claim a DM Discord would refuse
            raise AssertionError(f"daily DM breaks limits: {problems}")
        payload = {"embeds": embeds, "buttons": [dataclasses.asdict(b) for b in buttons]}
        return await self.store.claim_dm_delivery(user_id, day, payload=payload, items=items,
                                                  unlisted=unlisted, now=self.bot.clock())

    async def _dm_channel(self, user_id: int) -> discord.abc.Messageable:
        user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
        return user.dm_channel or await user.create_dm()

    async def _find_landed(self, channel: discord.abc.Messageable, delivery: DmDelivery) -> int | None:
        """The id of our DM of that day among the channel's latest messages, if it is there."""
        me = self.bot.user.id if self.bot.user else None
        title = delivery.payload["embeds"][0].get("title")
        async for message in channel.history(limit=HISTORY_LOOKBACK):
            if message.author.id == me and any(e.title == title for e in message.embeds):
                return message.id
        return None

    async def _send(self, delivery: DmDelivery) -> str:
        """Send the claimed DM; retried sends carry the same nonce and look for the DM first."""
        user_id = delivery.user_id
        embeds = [discord.Embed.from_dict(e) for e in delivery.payload["embeds"]]
        view = build_view([Button(**b) for b in delivery.payload["buttons"]])
        nonce = f"pbdm{delivery.id}"  # deterministic: Discord drops a second send of the same DM
        for attempt in range(SEND_ATTEMPTS):
            try:
                channel = await self._dm_channel(user_id)
                if attempt:
                    landed = await self._find_landed(channel, delivery)
                    if landed is not None:
                        await self.store.finish_dm_delivery(delivery, message_id=landed,
                                                            now=self.bot.clock())
                        return "sent"
                await self.store.note_dm_attempt(delivery.id)
                message = await channel.send(embeds=embeds, view=view or discord.utils.MISSING, nonce=nonce,
                                             allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as error:
                if discord_code(error) == CANNOT_DM:
                    await self.store.note_dms_closed(user_id, now=self.bot.clock())
                    log.info("user %s does not accept DMs; noted, will tell them", user_id)
                    return "closed"
                if error.status < 500 and error.status != 429:
                    log.warning("Discord refused the daily DM to %s (%s); will try again at the "
                                "next delivery", user_id, error)
                    return "skipped"
                failure: Exception = error
            except (OSError, TimeoutError) as error:
                failure = error
            else:
                await self.store.finish_dm_delivery(delivery, message_id=message.id, now=self.bot.clock())
                return "sent"
            if attempt < SEND_ATTEMPTS - 1:
                await asyncio.sleep(2**attempt)
        log.warning("daily DM to %s failed (%s); it is claimed, and will be looked for before it is "
                    "sent again at the next delivery", user_id, failure)
        return "skipped"

    async def note_for_user(self, user_id: int) -> str | None:
        """If the user's DMs were found closed, what to tell them now (once); None otherwise."""
        _, closed_at, told = await self.store.dm_state(user_id)
        if closed_at is None or told:
            return None
        await self.store.clear_dms_closed(user_id, told=True)
        return ("📪 I couldn't send you your daily paper matches: your DMs are closed to me. "
                "Allow direct messages from this server's members (Privacy Settings) and I'll "
                "deliver them with the next batch.")
