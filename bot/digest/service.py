"""Digest delivery: select, plan and post each digest exactly once per day.

Exactly once, whatever happens:
- the database claims the (digest, local day) run before anything is posted;
- the run's plan (every message, in order) is stored with the claim, so a restart
  finishes the same digest;
- each posted message is recorded as it lands; a restarted run skips those, and
  first looks in the channel for the one message that may have landed unrecorded
  (every message carries a marker in its footer);
- every send carries a deterministic nonce with enforce_nonce, so a retried send
  whose first answer was lost is not duplicated by Discord.
Failures: a missing permission or a deleted channel fails the day (the digest is
marked failing with the reason, retried on its next run, paused after repeated
failures); Discord 5xx and 429s are retried, then the run is resumed later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from apscheduler.triggers.date import DateTrigger

from bot.community.recap import build_recap_plan
from bot.community.week import week_facts
from bot.digest.model import (
    DigestConfig,
    DigestPlan,
    DigestRun,
    PlannedMessage,
    RunStatus,
)
from bot.digest.render import SourceProblem, TopicGroup, build_plan, limit_problems
from bot.digest.schedule import (
    local_fire_time,
    missed_run_date,
    next_fire_after,
    run_date_for,
    trigger_for,
)
from bot.digest.select import DigestEntry, rank_entries
from bot.errors import MISSING_ACCESS, MISSING_PERMISSIONS, UNKNOWN_CHANNEL, discord_code
from bot.models import AnnounceType, FeedKind
from bot.search import parse_query
from bot.store import FeedState
from bot.store.community import ServerFeed
from bot.store.digests import Candidate
from bot.taxonomy import categories_of_rss_url, rss_url
from bot.views import build_view

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

THREAD_EXISTS = 160004
SEND_ATTEMPTS = 4
RESUME_DELAY = timedelta(minutes=5)

REQUIRED_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "embed_links",
    "add_reactions",
    "read_message_history",
    "create_public_threads",
    "send_messages_in_threads",
)


class RunFailed(Exception):
    """The day's digest cannot be posted (permission, deleted channel): a reason for the admin."""


class TransientError(Exception):
    """Discord kept failing (5xx, 429): the run stays open and is resumed later."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    status: str  # done | empty | already | failed | retrying | paused | missing
    run: DigestRun | None = None
    detail: str | None = None


def missing_permissions(channel: discord.abc.GuildChannel) -> list[str]:
    """The permissions paperbot needs in a digest channel that it lacks there."""
    me = channel.guild.me
    perms = channel.permissions_for(me)
    return [name for name in REQUIRED_PERMISSIONS if not getattr(perms, name)]


class DigestService:
    """Owns digest jobs and runs. One per bot; cogs call it, it calls the store and Discord."""

    def __init__(self, bot: PaperBot):
        self.bot = bot
        self.store = bot.store
        self.settings = bot.settings
        self._locks: dict[int, asyncio.Lock] = {}
        self.started = False

    async def ensure_feeds(self, categories: Sequence[str]) -> list[FeedState]:
        """Start polling the arXiv listing of each category no enabled feed covers yet."""
        feeds = await self.store.list_feeds(enabled_only=True)
        served = [c for feed in feeds for c in categories_of_rss_url(feed.url)]
        added = []
        for category in categories:
            if not any(_covers(s, category) for s in served):
                url = rss_url(category, self.settings.arxiv.rss_base_url)
                added.append(await self.store.upsert_feed(
                    url, kind=FeedKind.ARXIV_RSS, name=f"arXiv {category}", origin="digest"))
        for feed in added:
            log.info("now polling %s for a digest", feed.url)
            self.bot.spawn(self.bot.ingestor.poll_feed(feed), name=f"first-poll-{feed.id}")
        return added

    # ------------------------------------------------------------------ scheduling

    def job_id(self, digest_id: int) -> str:
        return f"digest-{digest_id}"

    def owns(self, config: DigestConfig) -> bool:
        """This process runs the guild's shard (with several processes, only that one posts)."""
        cluster = getattr(self.bot, "cluster", None)
        return cluster is None or cluster.shards.owns(config.guild_id)

    def schedule(self, config: DigestConfig) -> None:
        """(Re)create the digest's cron job; a paused digest, or another process's, has none."""
        self.unschedule(config.id or 0)
        if config.paused or not self.owns(config):
            return
        self.bot.scheduler.add_job(
            self.bot.run_job, trigger_for(config), args=[self.job_id(config.id or 0),
                                                        lambda: self.run_scheduled(config.id or 0)],
            id=self.job_id(config.id or 0), replace_existing=True,
        )

    def unschedule(self, digest_id: int) -> None:
        job = self.bot.scheduler.get_job(self.job_id(digest_id))
        if job is not None:
            job.remove()

    async def start(self) -> None:
        """At start: rebuild jobs from the database, finish half-posted runs, post missed ones."""
        if self.started:
            return
        self.started = True
        digests = [c for c in await self.store.list_digests() if self.owns(c)]
        owned = {c.id for c in digests}
        for config in digests:
            self.schedule(config)
        for run in await self.store.unfinished_runs():
            if run.digest_id not in owned:
                continue  # another process's shard: it finishes its own runs
            log.info("resuming unfinished digest run %s (digest %s, %s)", run.id, run.digest_id,
                     run.run_date)
            self.bot.spawn(self.run(run.digest_id, run.run_date, trigger="resume"),
                           name=f"digest-resume-{run.id}")
        grace = timedelta(minutes=self.settings.digest.grace_minutes)
        now = self.bot.clock()
        for config in digests:
            if config.paused:
                continue
            day = missed_run_date(config, now, grace)
            if day is not None and await self.store.get_run_for(config.id or 0, day) is None:
                log.info("digest %s missed its run of %s while down: posting it now", config.id, day)
                self.bot.spawn(self.run(config.id or 0, day, trigger="catch-up"),
                               name=f"digest-catch-up-{config.id}")

    async def run_scheduled(self, digest_id: int) -> None:
        config = await self.store.get_digest(digest_id)
        if config is None or config.paused:
            return
        await self.run(digest_id, run_date_for(config, self.bot.clock()), trigger="schedule")

    def next_run(self, config: DigestConfig) -> datetime | None:
        if config.paused:
            return None
        return next_fire_after(config, self.bot.clock())

    # ------------------------------------------------------------------ composing

    async def relevant_feeds(self, config: DigestConfig) -> tuple[list[FeedState], list[int]]:
        """The feeds a digest relies on, and the ids of its Hugging Face feeds."""
        feeds = await self.store.list_feeds(enabled_only=True)
        relevant: list[FeedState] = []
        hf_ids: list[int] = []
        for feed in feeds:
            if feed.kind == FeedKind.HF_DAILY or (feed.kind is None and "daily_papers" in feed.url):
                if config.include_hf:
                    relevant.append(feed)
                    hf_ids.append(feed.id)
                continue
            served = categories_of_rss_url(feed.url)
            if any(_covers(c, d) or _covers(d, c) for c in served for d in config.categories):
                relevant.append(feed)
        return relevant, hf_ids

    async def compose(
        self, config: DigestConfig, *, run_id: int, run_date: date, up_to: int | None = None
    ) -> tuple[DigestPlan, int]:
        """The digest as it would be posted now: (plan, the sightings cursor it covers up to)."""
        up_to = up_to if up_to is not None else await self.store.max_sighting_id()
        if config.weekly:  # a weekly recap: what the server liked this week (bot/community/recap.py)
            end = local_fire_time(config, run_date).astimezone(UTC)
            facts = await week_facts(self.store, config.guild_id, config.categories, end)
            return build_recap_plan(config, run_date=run_date, facts=facts), up_to
        feeds, hf_ids = await self.relevant_feeds(config)
        after = max(config.cursor or 0, await self.store.covered_cursor(config.id or 0))
        follows = await self.store.list_server_feeds(channel_id=config.channel_id, mode="digest")
        follows = [f for f in follows if f.disabled_at is None]
        candidates = await self.store.digest_candidates(
            config, after=after, up_to=up_to, hf_feed_ids=hf_ids, latest_day_only=after == 0,
            feed_cursors=[(f.feed_id, f.cursor) for f in follows],
        )
        candidates = await self._filter_server_feed_items(candidates, follows)
        entries: list[DigestEntry] = []
        for position, candidate in enumerate(candidates):
            kind = candidate.announce_type
            if kind is not None:
                primary = candidate.paper.primary_category
                in_scope = primary is not None and any(_covers(c, primary) for c in config.categories)
                kind = AnnounceType.NEW if in_scope else AnnounceType.CROSS
            entries.append(DigestEntry(candidate.paper, kind, position))
        if config.filter_query:
            query = parse_query(config.filter_query)
            keep = await self.store.papers_matching(query, [e.paper.id or 0 for e in entries])
            entries = [e for e in entries if e.paper.id in keep]
        topics = await self.topic_groups(config, entries)
        hits = {e.paper.key: sum(e.paper.key in t.keys for t in topics) for e in entries}
        ranked = rank_entries(entries, hits)
        arxiv_days = [c.announced for c in candidates if c.announce_type is not None]
        day = max(arxiv_days) if arxiv_days else (max((c.announced for c in candidates), default=None))
        problems = [
            SourceProblem(feed.label, feed.last_success_at or feed.last_error_at, feed.last_error)
            for feed in feeds if feed.failing
        ]
        plan = build_plan(config, run_id=run_id, run_date=run_date, ranked=ranked, day=day,
                          problems=problems, topics=topics)
        for message in plan.messages:
            problems_found = limit_problems(message.content, message.embeds, message.buttons)
            if problems_found:  # a renderer bug: never send what Discord would refuse
                raise AssertionError(f"digest message {message.seq} breaks limits: {problems_found}")
        return plan, up_to

    async def _filter_server_feed_items(self, candidates: list[Candidate],
                                        follows: Sequence[ServerFeed]) -> list[Candidate]:
        """Apply each digest-mode server feed's own filter to the items only it brought."""
        drop: set[int] = set()
        for follow in follows:
            if not follow.filter_query:
                continue
            ids = [p for _, p in await self.store.feed_items_after(follow.feed_id, follow.cursor)]
            keep = await self.store.papers_matching(parse_query(follow.filter_query), ids)
            drop |= set(ids) - keep
        return [c for c in candidates if c.announce_type is not None or c.paper.id not in drop]

    async def topic_groups(self, config: DigestConfig, entries: Sequence[DigestEntry]) -> list[TopicGroup]:
        """The server's topics, each with the digest's papers it matches (same engine as /search)."""
        groups = []
        ids = [e.paper.id or 0 for e in entries]
        key_of = {e.paper.id: e.paper.key for e in entries}
        for topic in await self.store.list_topics(config.guild_id):
            matched = await self.store.papers_matching(parse_query(topic.query), ids) if ids else set()
            groups.append(TopicGroup(topic.id, topic.name, frozenset(key_of[i] for i in matched)))
        return groups

    # ------------------------------------------------------------------ running

    async def run(self, digest_id: int, run_date: date, *, trigger: str) -> RunOutcome:
        """Claim the day's run and post it; finishes a half-posted run instead of starting over."""
        lock = self._locks.setdefault(digest_id, asyncio.Lock())
        async with lock:  # one coroutine per digest at a time in this process
            config = await self.store.get_digest(digest_id)
            if config is None:
                return RunOutcome("missing")
            now = self.bot.clock()
            run, created = await self.store.claim_run(digest_id, run_date, trigger=trigger, now=now)
            if not created:
                if run.status.finished:
                    return RunOutcome("already", run)
                if run.status == RunStatus.FAILED:
                    if trigger != "now":
                        return RunOutcome("already", run)
                    await self.store.restart_failed_run(run.id, trigger=trigger)
                    run = await self.store.get_run(run.id) or run
            if run.plan is None:
                plan, cursor_to = await self.compose(config, run_id=run.id, run_date=run_date)
                await self.store.save_plan(run.id, plan, cursor_to=cursor_to)
                run = await self.store.get_run(run.id) or run
            return await self._post(config, run, resuming=not created)

    async def _post(self, config: DigestConfig, run: DigestRun, *, resuming: bool) -> RunOutcome:
        plan = run.plan
        assert plan is not None
        try:
            await self._preflight(config)
            first_unrecorded = True
            for message in plan.messages:
                if message.seq in run.posted:
                    if message.reaction and message.seq not in run.reacted:
                        await self._react(run.posted[message.seq], self._target(config, run, message),
                                          message.reaction)
                    continue
                target = await self._target_for_send(config, run, plan, message)
                message_id = None
                if resuming and first_unrecorded:
                    # The one message that may have landed before a crash could record it.
                    message_id = await self._find_posted(target, message.marker)
                first_unrecorded = False
                if message_id is None:
                    message_id = await self._send(target, message, nonce=f"pb{run.id}-{message.seq}")
                await self.store.record_posted(
                    run_id=run.id, seq=message.seq, message_id=message_id, channel_id=target,
                    guild_id=config.guild_id, kind=message.kind, paper_key=message.paper_key,
                    topic_id=message.topic_id, now=self.bot.clock(),
                )
                run.posted[message.seq] = message_id
                if message.reaction:
                    await self._react(message_id, target, message.reaction)
        except RunFailed as failure:
            reason = str(failure)
            updated = await self.store.fail_run(
                run, config.id or 0, reason, now=self.bot.clock(),
                pause_after=self.settings.digest.max_failures_before_pause,
            )
            if updated.paused:
                self.unschedule(config.id or 0)
                log.warning("digest %s paused after %d failures: %s", config.id,
                            updated.consecutive_failures, reason)
            else:
                log.warning("digest %s failed today: %s", config.id, reason)
            return RunOutcome("paused" if updated.paused else "failed", run, reason)
        except TransientError as error:
            await self.store.note_run_error(run.id, str(error))
            when = self.bot.clock() + RESUME_DELAY
            self.bot.scheduler.add_job(
                self.bot.run_job, DateTrigger(run_date=when),
                args=[f"digest-resume-{run.id}",
                      lambda: self.run(run.digest_id, run.run_date, trigger="resume")],
                id=f"digest-resume-{run.id}", replace_existing=True,
            )
            log.warning("digest %s: Discord kept failing (%s); resuming at %s", config.id, error, when)
            return RunOutcome("retrying", run, str(error))
        status = RunStatus.EMPTY if plan.is_empty else RunStatus.DONE
        await self.store.finish_run(run, status, now=self.bot.clock())
        log.info("digest %s for %s posted: %d papers, %d messages", config.id, run.run_date,
                 plan.paper_count, len(plan.messages))
        return RunOutcome(str(status), run)

    # ------------------------------------------------------------------ Discord

    async def _preflight(self, config: DigestConfig) -> None:
        channel = self.bot.get_channel(config.channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(config.channel_id)
            except discord.NotFound:
                raise RunFailed("the channel no longer exists (deleted?)") from None
            except discord.Forbidden:
                raise RunFailed("I cannot see the channel any more (missing access)") from None
            except discord.HTTPException as error:
                raise TransientError(f"Discord error {error.status} looking up the channel") from None
        if isinstance(channel, discord.abc.GuildChannel) and channel.guild.me is not None:
            missing = missing_permissions(channel)
            if missing:
                names = ", ".join(m.replace("_", " ").title() for m in missing)
                raise RunFailed(f"missing permissions in #{channel.name}: {names}")

    def _target(self, config: DigestConfig, run: DigestRun, message: PlannedMessage) -> int:
        return config.channel_id if message.target == "channel" else (run.thread_id or config.channel_id)

    async def _target_for_send(
        self, config: DigestConfig, run: DigestRun, plan: DigestPlan, message: PlannedMessage
    ) -> int:
        if message.target == "channel":
            return config.channel_id
        if run.thread_id is None:
            overview_id = run.posted.get(0)
            if overview_id is None:
                raise RuntimeError("thread message planned before the overview was posted")
            channel = self.bot.get_partial_messageable(config.channel_id, guild_id=config.guild_id)
            try:
                thread = await channel.get_partial_message(overview_id).create_thread(
                    name=plan.thread_name or "papers", auto_archive_duration=1440,
                )
                thread_id = thread.id
            except discord.HTTPException as error:
                if error.code == THREAD_EXISTS:  # created before a crash: a message's thread has its id
                    thread_id = overview_id
                else:
                    raise self._classify(error, "starting the thread") from None
            await self.store.set_run_thread(run.id, thread_id)
            run.thread_id = thread_id
        return run.thread_id

    async def _find_posted(self, channel_id: int, marker: str) -> int | None:
        """A message of ours carrying `marker`, among the channel's latest messages."""
        channel = self.bot.get_partial_messageable(channel_id)
        me = self.bot.user.id if self.bot.user else None
        try:
            async for message in channel.history(limit=50):
                if message.author.id != me:
                    continue
                texts = [message.content or ""]
                texts += [e.footer.text or "" for e in message.embeds if e.footer]
                if any(marker in text for text in texts):
                    return message.id
        except discord.HTTPException as error:
            if discord_code(error) in (UNKNOWN_CHANNEL, MISSING_ACCESS, MISSING_PERMISSIONS):
                raise self._classify(error, "reading the channel") from None
            log.warning("could not check channel %s for an unrecorded message: %s", channel_id, error)
        return None

    async def _send(self, channel_id: int, message: PlannedMessage, *, nonce: str) -> int:
        channel = self.bot.get_partial_messageable(channel_id)
        embeds = [discord.Embed.from_dict(e) for e in message.embeds]
        view = build_view(message.buttons)
        for attempt in range(SEND_ATTEMPTS):
            try:
                sent = await channel.send(
                    content=message.content, embeds=embeds, view=view or discord.utils.MISSING,
                    nonce=nonce, allowed_mentions=discord.AllowedMentions.none(),
                )
                return sent.id
            except discord.HTTPException as error:
                failure = self._classify(error, "posting")
                if isinstance(failure, RunFailed) or attempt == SEND_ATTEMPTS - 1:
                    raise failure from None
                await asyncio.sleep(2**attempt)
            except (TimeoutError, OSError) as error:
                if attempt == SEND_ATTEMPTS - 1:
                    raise TransientError(f"network error posting: {error!r}") from None
                await asyncio.sleep(2**attempt)
        raise TransientError("unreachable")  # pragma: no cover

    async def _react(self, message_id: int, channel_id: int, emoji: str) -> None:
        channel = self.bot.get_partial_messageable(channel_id)
        try:
            await channel.get_partial_message(message_id).add_reaction(emoji)
            await self.store.mark_reacted(message_id)
        except discord.HTTPException as error:
            failure = self._classify(error, "adding a reaction")
            if isinstance(failure, RunFailed):
                raise failure from None
            # A missing reaction is cosmetic: the message is posted; don't hold the digest up.
            log.warning("could not react to message %s: %s", message_id, error)

    def _classify(self, error: discord.HTTPException, doing: str) -> Exception:
        code = discord_code(error)
        if code == UNKNOWN_CHANNEL:
            return RunFailed("the channel no longer exists (deleted?)")
        if code in (MISSING_PERMISSIONS, MISSING_ACCESS) or error.status == 403:
            return RunFailed(f"Discord refused {doing}: {error.text or 'missing permissions'}")
        if error.status == 400:
            return RunFailed(f"Discord rejected a message while {doing}: {error.text}")
        return TransientError(f"Discord error {error.status} while {doing}")


def _covers(scope: str, category: str) -> bool:
    """'cs' covers 'cs.LG'; 'cs.LG' covers only itself."""
    return category == scope or category.startswith(scope + ".")
