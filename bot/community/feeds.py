"""Server feeds: any RSS/Atom/JSON feed a server's admins add from Discord.

- Adding checks the feed first (public addresses only unless the operator allows more, a
  real feed, within the server's limit) and saves nothing when it fails. Items the feed
  holds when it is added are its backlog: only later items are posted.
- `live` follows post each poll's new items as one message, at most `live_items_per_post`
  listed and the rest counted and paged behind a button. The message is claimed in the
  database (with the cursor move) before it is sent, sent with a nonce, and looked for in
  the channel after a restart: posted once.
- `digest` follows put their new items into the channel's daily digest (DigestService asks
  `digest_feed_cursors`).
- A failing feed is retried with the ingestor's backoff, shown in /feed list and /status,
  and disabled after `disable_feed_after_failures` polls in a row, with one message to each
  channel that followed it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import discord

from bot.community.render import live_marker, live_post
from bot.config import Settings
from bot.errors import MISSING_ACCESS, MISSING_PERMISSIONS, UNKNOWN_CHANNEL, discord_code
from bot.fetch import Fetcher, FetchError
from bot.ingest import FeedOutcome, Ingestor
from bot.models import FeedFormatError, ParsedFeed
from bot.present import escape_markdown, trim
from bot.search import parse_query
from bot.sources import detect_kind, parse_feed
from bot.store import Store
from bot.store.community import ServerFeed
from bot.timeutil import Clock
from bot.views import build_view

log = logging.getLogger(__name__)

MAX_URL = 2000
SEND_ATTEMPTS = 3


class FeedRefused(Exception):
    """The feed cannot be added or tested; the reason is for the admin."""


@dataclass(frozen=True, slots=True)
class Added:
    follow: ServerFeed
    created: bool
    title: str
    items: int


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL:
        raise FeedRefused(f"That URL is longer than {MAX_URL} characters.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FeedRefused("Give the feed's full address, starting with `https://` (or `http://`).")
    if parts.username or parts.password:
        raise FeedRefused("Feed URLs with a user name or password are not accepted.")
    return url


def check_filter(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if parse_query(text).is_empty:
        raise FeedRefused("That filter has no words to match; leave it empty to keep every item.")
    return text.strip()[:500]


def _parse(body: bytes, content_type: str | None, url: str) -> ParsedFeed:
    """Worker thread: detection and parsing are CPU work."""
    return parse_feed(body, detect_kind(body, content_type, url), content_type=content_type, url=url)


class FeedService:
    """Owns server feeds. Takes the few things it uses: store, fetcher, ingestor, Discord client."""

    def __init__(
        self, *, store: Store, fetcher: Fetcher, ingestor: Ingestor, settings: Settings, clock: Clock,
        client: discord.Client, spawn: Callable[..., Any],
    ):
        self.store = store
        self.fetcher = fetcher
        self.ingestor = ingestor
        self.settings = settings
        self.clock = clock
        self.client = client
        self.spawn = spawn
        self._locks: dict[int, asyncio.Lock] = {}

    # ------------------------------------------------------------------ admin actions

    async def read(self, url: str) -> ParsedFeed:
        """Fetch and parse as a server feed is (public addresses only): for /feed test and add."""
        url = check_url(url)
        try:
            response = await self.fetcher.get(url, public_only=True)
        except FetchError as error:
            raise FeedRefused(f"I can't use that feed: {error.reason}") from None
        try:
            return await asyncio.to_thread(_parse, response.body, response.content_type, response.url)
        except FeedFormatError as error:
            raise FeedRefused(f"That address did not give me a feed: {error}") from None

    async def add(
        self, *, guild_id: int, channel_id: int, url: str, mode: str, filter_text: str | None,
        user_id: int,
    ) -> Added:
        url = check_url(url)
        filter_query = check_filter(filter_text)
        existing = [f for f in await self.store.list_server_feeds(guild_id=guild_id)
                    if f.feed and f.feed.url == url and f.channel_id == channel_id]
        limit = self.settings.community.max_feeds_per_server
        if not existing and await self.store.count_server_feeds(guild_id) >= limit:
            raise FeedRefused(f"This server already follows {limit} feeds, its limit. "
                              "Remove one with `/feed remove` first.")
        parsed = await self.read(url)  # refuses private addresses, non-feeds: nothing saved yet
        known = await self.store.feed_by_url(url)
        feed = await self.store.upsert_feed(
            url, kind=None, name=(known.name if known and known.name else trim(parsed.title or url, 200)),
            origin="admin",
        )
        if feed.consecutive_failures or not feed.last_success_at:
            # First poll now: what the feed holds today is its backlog, not news.
            outcome = await self.ingestor.poll_feed(feed, force=True)
            if outcome.status == "failed":
                raise FeedRefused(f"I can't use that feed: {outcome.error}")
        cursor = await self.store.max_sighting_of_feed(feed.id)
        follow, created = await self.store.add_server_feed(
            guild_id=guild_id, channel_id=channel_id, feed_id=feed.id, mode=mode,
            filter_query=filter_query, created_by=user_id, cursor=cursor, now=self.clock(),
        )
        return Added(follow, created, feed.label, len(parsed.papers))

    async def remove(self, guild_id: int, follow_id: int) -> ServerFeed | None:
        return await self.store.remove_server_feed(guild_id, follow_id)

    # ------------------------------------------------------------------ after each poll

    async def feed_polled(self, outcome: FeedOutcome) -> None:
        """Ingestor listener: post live items, or disable a feed that keeps failing."""
        feed = outcome.feed
        if outcome.status == "failed":
            if feed.origin == "admin" and \
                    feed.consecutive_failures >= self.settings.community.disable_feed_after_failures:
                await self._disable(feed.id, feed.label, outcome.error or "unknown error",
                                    feed.consecutive_failures)
            return
        follows = [f for f in await self.store.list_server_feeds(feed_id=feed.id, mode="live")
                   if f.disabled_at is None]
        # A post Discord kept refusing (5xx) last time is finished first, found in the channel
        # if it landed after all.
        ids = {f.id for f in follows}
        for post in await self.store.unfinished_live_posts():
            if post.server_feed_id in ids:
                await self._send_live(post.id, post.channel_id, feed.label, resuming=True)
        if outcome.status != "new":  # stale, empty, not modified, cached: no new sightings
            return
        for follow in follows:
            await self.post_live(follow)

    async def post_live(self, follow: ServerFeed) -> int | None:
        """Claim and post the follow's new items. Returns the live post id (None: nothing new)."""
        lock = self._locks.setdefault(follow.id, asyncio.Lock())
        async with lock:
            current = await self.store.get_server_feed(follow.id)
            if current is None:
                return None
            items = await self.store.feed_items_after(current.feed_id, current.cursor)
            if not items:
                return None
            cursor_to = max(s for s, _ in items)
            paper_ids = list(dict.fromkeys(p for _, p in items))
            if current.filter_query:
                keep = await self.store.papers_matching(parse_query(current.filter_query), paper_ids)
                paper_ids = [p for p in paper_ids if p in keep]
            post_id = await self.store.claim_live_post(
                current.id, channel_id=current.channel_id, paper_ids=paper_ids, cursor_to=cursor_to,
                now=self.clock(),
            )
            if not post_id:
                return None
            label = current.feed.label if current.feed else "feed"
            await self._send_live(post_id, current.channel_id, label, resuming=False)
            return post_id

    async def resume(self) -> None:
        """At start: finish live posts a crash interrupted (found in the channel, or sent now)."""
        for post in await self.store.unfinished_live_posts():
            follow = await self.store.get_server_feed(post.server_feed_id)
            label = follow.feed.label if follow and follow.feed else "feed"
            await self._send_live(post.id, post.channel_id, label, resuming=True)

    async def _send_live(self, post_id: int, channel_id: int, label: str, *, resuming: bool) -> None:
        post = await self.store.get_live_post(post_id)
        if post is None:
            return
        papers = await self.store.papers_by_ids(post.paper_ids)
        by_id = {p.id: p for p in papers}
        ordered = [by_id[i] for i in post.paper_ids if i in by_id]
        content, embed, buttons = live_post(label, ordered, post_id=post_id,
                                            cap=self.settings.community.live_items_per_post)
        channel = self.client.get_partial_messageable(channel_id)
        if resuming:
            found = await self._find(channel, live_marker(post_id))
            if found is not None:
                await self.store.finish_live_post(post_id, message_id=found)
                return
        for attempt in range(SEND_ATTEMPTS):
            try:
                sent = await channel.send(
                    content=content, embed=discord.Embed.from_dict(embed),
                    view=build_view(buttons) or discord.utils.MISSING,
                    nonce=f"pbl{post_id}", allowed_mentions=discord.AllowedMentions.none(),
                )
                await self.store.finish_live_post(post_id, message_id=sent.id)
                return
            except discord.HTTPException as error:
                if discord_code(error) in (UNKNOWN_CHANNEL, MISSING_ACCESS, MISSING_PERMISSIONS) \
                        or error.status in (400, 403, 404) or attempt == SEND_ATTEMPTS - 1:
                    log.warning("live post %s to channel %s failed: %s", post_id, channel_id, error)
                    if error.status < 500:
                        await self.store.finish_live_post(post_id, message_id=None,
                                                          error=f"{error.status} {error.text}"[:300])
                    return  # a 5xx stays 'posting' and is finished at the next start
                await asyncio.sleep(2 ** attempt)

    async def _find(self, channel: discord.PartialMessageable, marker: str) -> int | None:
        me = self.client.user.id if self.client.user else None
        try:
            async for message in channel.history(limit=50):
                if message.author.id == me and any(
                        marker == (e.footer.text or "") for e in message.embeds if e.footer):
                    return message.id
        except discord.HTTPException as error:
            log.warning("could not look for live post %s: %s", marker, error)
        return None

    async def _disable(self, feed_id: int, label: str, reason: str, failures: int) -> None:
        for follow in await self.store.disable_server_feeds(feed_id, reason, now=self.clock()):
            channel = self.client.get_partial_messageable(follow.channel_id)
            text = (f"⛔ I stopped checking the feed **{escape_markdown(trim(label, 200))}**: it failed "
                    f"{failures} times in a row (last: {escape_markdown(trim(reason, 300))}). "
                    "A server admin can add it again with `/feed add` once it works.")
            try:
                await channel.send(text, allowed_mentions=discord.AllowedMentions.none(),
                                   nonce=f"pbd{follow.id}")
            except discord.HTTPException as error:
                log.warning("could not tell channel %s that feed %s was disabled: %s",
                            follow.channel_id, feed_id, error)
            await self.store.mark_told_disabled(follow.id)

    def listener(self) -> Callable[[FeedOutcome], Coroutine[Any, Any, None]]:
        return self.feed_polled
