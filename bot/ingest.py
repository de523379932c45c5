"""fetch -> parse (in a worker thread) -> store: the one ingestion path for bot and CLI.

Each feed is independent: a failure is recorded on that feed (with exponential
backoff and, after repeated failures, a `failing` mark with the reason) and
never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.config import Settings
from bot.fetch import Fetcher, FetchError
from bot.models import FeedFormatError, FeedKind, ParsedFeed
from bot.sources import detect_kind, parse_feed
from bot.sources.common import distrust_future_dates
from bot.store import FeedState, Store
from bot.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FeedOutcome:
    """What polling one feed did, for the CLI, /status and the logs."""

    feed: FeedState
    status: str  # new | stale | empty | not-modified | cached | backing-off | failed
    items: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0  # earlier papers first met in a replacement listing: stored, not news
    skipped: int = 0  # items without a usable id: counted, never dropped silently
    notes: list[str] = field(default_factory=list)  # what was repaired (invalid UTF-8...)
    feed_date: date | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    fresh_until: datetime | None = None
    new_paper_ids: list[int] = field(default_factory=list)
    fetch_seconds: float = 0.0
    parse_seconds: float = 0.0
    store_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "backing-off")

    def as_dict(self) -> dict[str, object]:
        return {
            "feed": self.feed.url,
            "name": self.feed.label,
            "kind": str(self.feed.kind) if self.feed.kind else None,
            "status": self.status,
            "items": self.items,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "older": self.older,
            "skipped": self.skipped,
            "notes": list(self.notes),
            "feed_date": self.feed_date.isoformat() if self.feed_date else None,
            "error": self.error,
            "failing": self.feed.failing,
            "consecutive_failures": self.feed.consecutive_failures,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "fresh_until": self.fresh_until.isoformat() if self.fresh_until else None,
        }


def empty_feed_text(kind: FeedKind | None) -> str:
    """What an answer without items means, by kind: only an arXiv listing has weekends."""
    if kind is FeedKind.ARXIV_RSS:
        return "no announcements (weekend or holiday)"
    if kind is FeedKind.ARXIV_API:
        return "the arXiv API answered no results (nothing matches, or arXiv returned an empty page)"
    if kind is FeedKind.HF_DAILY:
        return "no Daily Papers for that day"
    return "the feed holds no items"


def backoff_delay(failures: int, settings: Settings) -> timedelta:
    """5 min x 2^(n-1) after the n-th consecutive failure, capped."""
    base = settings.polling.backoff_base_minutes
    minutes = min(base * (2 ** max(0, failures - 1)), settings.polling.backoff_max_minutes)
    return timedelta(minutes=minutes)


NewPapersListener = Callable[[list[int]], Awaitable[None]]
FeedListener = Callable[[FeedOutcome], Awaitable[None]]
# Called as a poll moves on: (feed, "downloading" | "parsing" | "storing", bytes or items or None).
ProgressHook = Callable[[FeedState, str, int | None], None]


def _no_progress(feed: FeedState, stage: str, amount: int | None) -> None:
    return None


class Ingestor:
    """Polls feeds into the store. One per process, shared by the bot and the CLI."""

    def __init__(self, store: Store, fetcher: Fetcher, settings: Settings, *, clock: Clock = utcnow):
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self._listeners: list[NewPapersListener] = []
        self._feed_listeners: list[FeedListener] = []
        self._poll_lock = asyncio.Lock()

    def on_new_papers(self, listener: NewPapersListener) -> None:
        """Call `listener(paper_ids)` after a batch brings newly announced papers."""
        self._listeners.append(listener)

    def on_feed_polled(self, listener: FeedListener) -> None:
        """Call `listener(outcome)` as soon as each feed's poll ends (ok or failed), so one slow
        feed never delays what follows another's poll (live posts, disabling)."""
        self._feed_listeners.append(listener)

    async def sync_feeds(self) -> list[FeedState]:
        """Make the store's feed list match the configuration."""
        return await self.store.sync_config_feeds(self.settings.feeds)

    async def poll_all(
        self, *, force: bool = False, backoff: bool = True, progress: ProgressHook | None = None
    ) -> list[FeedOutcome]:
        """Poll every enabled feed once, concurrently (arXiv hosts still one at a time).

        `force` ignores cache lifetimes and backoff; `backoff=False` ignores only the backoff
        (a person asked for this poll now), still honouring the servers' cache lifetimes.
        """
        async with self._poll_lock:
            feeds = await self.store.list_feeds(enabled_only=True)
            results = await asyncio.gather(
                *(self.poll_feed(feed, force=force, backoff=backoff, progress=progress)
                  for feed in feeds),
                return_exceptions=True,
            )
        outcomes: list[FeedOutcome] = []
        for feed, result in zip(feeds, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception) or isinstance(result, sqlite3.Error):
                    # A store problem (disk full, locked, damaged) is not this feed's: stop and say so.
                    raise result
                # A bug, not a feed problem: keep the other feeds' results and say so loudly.
                log.error("polling %s crashed", feed.url, exc_info=result)
                outcomes.append(await self._fail(feed, f"internal error: {result!r}", None))
            else:
                outcomes.append(result)
        return outcomes

    async def poll_feed(
        self, feed: FeedState, *, force: bool = False, backoff: bool = True,
        progress: ProgressHook | None = None,
    ) -> FeedOutcome:
        outcome = await self._poll_feed(feed, force=force, backoff=backoff, progress=progress)
        for listener in self._feed_listeners:
            try:
                await listener(outcome)
            except Exception:
                log.exception("a feed listener failed for %s", feed.url)
        return outcome

    async def _poll_feed(
        self, feed: FeedState, *, force: bool, backoff: bool, progress: ProgressHook | None,
    ) -> FeedOutcome:
        report = progress or _no_progress
        now = self.clock()
        if not force:
            if backoff and feed.next_attempt_at and feed.next_attempt_at > now:
                return FeedOutcome(
                    feed, "backing-off", error=feed.last_error, next_attempt_at=feed.next_attempt_at
                )
            if feed.fresh_until and feed.fresh_until > now:
                return FeedOutcome(feed, "cached", fresh_until=feed.fresh_until,
                                   feed_date=feed.last_feed_date)

        started = time.perf_counter()
        report(feed, "downloading", None)
        try:
            response = await self.fetcher.get(
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                public_only=feed.origin == "admin",  # the fetcher applies http.allow_private_*
            )
        except FetchError as error:
            return await self._fail(feed, error.reason, error.retry_after)
        fetch_seconds = time.perf_counter() - started

        if response.not_modified:
            await self.store.record_feed_not_modified(
                feed.id, at=self.clock(), fresh_until=response.fresh_until
            )
            refreshed = await self.store.feed_by_id(feed.id) or feed
            return FeedOutcome(refreshed, "not-modified", fresh_until=response.fresh_until,
                               feed_date=feed.last_feed_date, fetch_seconds=fetch_seconds)

        started = time.perf_counter()
        report(feed, "parsing", len(response.body))
        try:
            parsed = await asyncio.to_thread(
                _parse, response.body, self._kind_to_parse(feed), response.content_type,
                response.url, self.clock().date(),
            )
        except FeedFormatError as error:
            return await self._fail(feed, f"not a valid feed: {error}", None)
        parse_seconds = time.perf_counter() - started
        if not parsed.papers and parsed.skipped_items:
            # Items, none usable: a broken feed, never an empty day.
            return await self._fail(
                feed, f"not a valid feed: none of its {parsed.skipped_items} items has a usable id",
                None)

        fingerprint = parsed.fingerprint()
        if not parsed.papers:
            outcome = "empty"
        elif fingerprint == feed.last_fingerprint:
            outcome = "stale"
        else:
            outcome = "new"

        started = time.perf_counter()
        report(feed, "storing", len(parsed.papers))
        result = await self.store.record_feed_batch(
            feed.id,
            at=self.clock(),
            outcome=outcome,
            parsed=parsed,
            fingerprint=fingerprint,
            etag=response.etag,
            last_modified=response.last_modified,
            fresh_until=response.fresh_until,
            kind=parsed.kind,
        )
        store_seconds = time.perf_counter() - started
        refreshed = await self.store.feed_by_id(feed.id) or feed
        log.info(
            "feed %s: %s (%d items, %d new, %d updated, %d older, %d skipped)",
            feed.label, outcome, result.items, len(result.new_keys), len(result.updated_keys),
            len(result.older_keys), parsed.skipped_items,
        )
        if parsed.skipped_items:
            log.warning("feed %s: %d item(s) skipped (no usable id)", feed.label, parsed.skipped_items)
        for note in parsed.notes:
            log.warning("feed %s: %s", feed.label, note)
        if result.new_paper_ids:
            await self._notify(result.new_paper_ids)
        return FeedOutcome(
            refreshed,
            outcome,
            items=result.items,
            new=len(result.new_keys),
            updated=len(result.updated_keys),
            unchanged=result.unchanged,
            older=len(result.older_keys),
            skipped=parsed.skipped_items,
            notes=list(parsed.notes),
            feed_date=parsed.feed_date,
            fresh_until=response.fresh_until,
            new_paper_ids=result.new_paper_ids,
            fetch_seconds=fetch_seconds,
            parse_seconds=parse_seconds,
            store_seconds=store_seconds,
        )

    def _kind_to_parse(self, feed: FeedState) -> FeedKind | None:
        """The configured kind; None (detect from the body every time) for a configured feed
        without one, so a feed that changes kind is read as what it now is. Feeds added by
        digests keep the kind they were added with."""
        if feed.origin == "config":
            configured = {f.url: f.kind for f in self.settings.feeds}
            if feed.url in configured:
                return configured[feed.url]
        return feed.kind

    async def _fail(self, feed: FeedState, reason: str, retry_after: float | None) -> FeedOutcome:
        now = self.clock()
        delay = backoff_delay(feed.consecutive_failures + 1, self.settings)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        updated = await self.store.record_feed_failure(
            feed.id,
            at=now,
            error=reason,
            next_attempt_at=now + delay,
            failing_after=self.settings.polling.failing_after,
        )
        level = logging.WARNING if updated.failing else logging.INFO
        log.log(level, "feed %s failed (%d in a row): %s", feed.label,
                updated.consecutive_failures, reason)
        return FeedOutcome(updated, "failed", error=reason, next_attempt_at=now + delay)

    async def _notify(self, paper_ids: Sequence[int]) -> None:
        for listener in self._listeners:
            try:
                await listener(list(paper_ids))
            except Exception:
                log.exception("a new-papers listener failed")


def _parse(
    body: bytes, kind: FeedKind | None, content_type: str | None, url: str, today: date
) -> ParsedFeed:
    """Runs in a worker thread: detection and parsing are CPU work."""
    kind = kind or detect_kind(body, content_type, url)
    parsed = parse_feed(body, kind, content_type=content_type, url=url)
    distrust_future_dates(parsed, today)
    return parsed
