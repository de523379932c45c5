"""Backfill a category from the arXiv API: paged, inside arXiv's rate rule (the shared limiter)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bot.fetch import FetchError
from bot.models import FeedFormatError, FeedKind
from bot.sources import parse_feed

if TYPE_CHECKING:
    from bot.cli import Core

log = logging.getLogger(__name__)

MAX_RESULTS_PER_QUERY = 30_000  # arXiv's ceiling for one query, paged
RETRIES = 3

Progress = Callable[[int, int | None, str], None]


@dataclass(slots=True)
class BackfillSummary:
    fetched: int = 0
    pages: int = 0
    new: int = 0
    updated: int = 0
    error: str | None = None


def backfill_url(api_url: str, category: str, start_at: str, end_at: str, start: int, size: int) -> str:
    query = {
        "search_query": f"cat:{category} AND submittedDate:[{start_at} TO {end_at}]",
        "start": start,
        "max_results": size,
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }
    return f"{api_url}?{urlencode(query)}"


async def backfill(
    core: Core, category: str, *, days: int, progress: Progress | None = None
) -> BackfillSummary:
    """Fetch every paper of `category` submitted in the last `days` days into the store."""
    settings = core.settings
    now = core.ingestor.clock()
    start_at = f"{now - timedelta(days=days):%Y%m%d%H%M}"
    end_at = f"{now:%Y%m%d%H%M}"
    size = settings.arxiv.backfill_page_size
    summary = BackfillSummary()
    total: int | None = None
    start = 0
    while start < MAX_RESULTS_PER_QUERY and (total is None or start < total):
        url = backfill_url(settings.arxiv.api_url, category, start_at, end_at, start, size)
        parsed = None
        for attempt in range(RETRIES + 1):
            try:
                response = await core.fetcher.get(url)
                parsed = await asyncio.to_thread(parse_feed, response.body, FeedKind.ARXIV_API)
                if parsed.papers or (parsed.total_results or 0) <= start:
                    break
                # arXiv sometimes answers an empty page mid-way; the limiter spaces the retry.
                note = "empty page, retrying"
            except (FetchError, FeedFormatError) as error:
                note = f"{error}; retrying"
                if attempt == RETRIES:
                    summary.error = f"page at offset {start}: {error}"
                    return summary
                retry_after = getattr(error, "retry_after", None)
                await asyncio.sleep(min(retry_after or 3.0 * 2**attempt, 60.0))
            if progress:
                progress(summary.fetched, total, note)
        if parsed is None or not parsed.papers:
            break
        total = parsed.total_results if parsed.total_results is not None else total
        result = await core.store.record_api_results(
            settings.arxiv.api_url, parsed, at=core.ingestor.clock()
        )
        summary.pages += 1
        summary.fetched += len(parsed.papers)
        summary.new += len(result.new_keys)
        summary.updated += len(result.updated_keys)
        start += len(parsed.papers) + parsed.skipped_items
        if progress:
            progress(summary.fetched, min(total or summary.fetched, MAX_RESULTS_PER_QUERY), "")
    return summary
