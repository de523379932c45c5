"""Search as a service: query -> index ids -> store rows, and keeping the index caught up.

The seam: `ids()` returns scored paper ids from the engine; `search()` turns them into
`SearchHit`s with the rows the store holds. A later ranker (e.g. hybrid fusion with
semantic search) can take `ids()` and re-rank before `hits_for()`.

The service takes the few store reads it needs (`SearchSource`), not the store: it never
writes the store, and the index is only ever a derived copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.merge import StoredPaper
from bot.search import engine
from bot.search.engine import ScoredId
from bot.search.index import (
    CATCH_UP_TERMS_CACHE,
    REBUILD_TERMS_CACHE,
    IndexLockedError,
    IndexRow,
    RowDocuments,
    SearchIndex,
)
from bot.search.query import SearchQuery

log = logging.getLogger(__name__)

CATCH_UP_BATCH = 5_000  # changes applied per index commit
REBUILD_CHUNK = 10_000  # papers read per step of a rebuild
CATCH_UP_INTERVAL_SECONDS = 60  # the bot's periodic catch-up, for writes by other processes


@dataclass(frozen=True, slots=True)
class SearchHit:
    paper: StoredPaper
    rank: float
    matched_all: bool  # False: found by the forgiving any-word reading


class SearchSource(Protocol):
    """What the service reads from the store."""

    async def paper_changes_after(self, seq: int, limit: int) -> list[tuple[int, int]]: ...
    async def last_paper_change(self) -> int: ...
    async def index_rows(self, ids: Sequence[int]) -> list[IndexRow]: ...
    async def index_rows_after(self, after_id: int, limit: int) -> list[IndexRow]: ...
    async def count_papers(self) -> int: ...
    async def papers_by_ids(self, ids: Sequence[int]) -> list[StoredPaper]: ...
    async def get_papers(self, keys: Sequence[str]) -> dict[str, StoredPaper]: ...


class SearchService:
    def __init__(self, source: SearchSource, index: SearchIndex):
        self.source = source
        self.index = index
        self._lock = asyncio.Lock()  # one catch-up or rebuild at a time
        self._warned_locked = False
        self._days: engine.DayCounts | None = None  # papers per day, for the engine's candidate budget
        # Catch-ups run one at a time (the lock), so they share one builder and its word cache.
        self._catch_up_documents = RowDocuments(CATCH_UP_TERMS_CACHE)

    async def open(self, *, catch_up: bool = True) -> SearchService:
        """Open the index and bring it up to the store (after a crash, or writes by others)."""
        await asyncio.to_thread(self.index.open)
        if catch_up:
            await self.catch_up()
        else:
            await self._refresh_window()
        return self

    async def close(self) -> None:
        await asyncio.to_thread(self.index.close)

    # ------------------------------------------------------------------ reading

    async def ids(
        self, query: SearchQuery, *, limit: int, offset: int = 0,
        exclude_ids: frozenset[int] = frozenset(),
    ) -> list[ScoredId]:
        """The engine's best paper ids for the query, best first (in a worker thread)."""
        return await asyncio.to_thread(
            engine.search_ids, self.index, query, limit=limit, offset=offset, exclude_ids=exclude_ids,
            days=self._days,
        )

    async def hits_for(self, scored: Sequence[ScoredId]) -> list[SearchHit]:
        papers = {p.id: p for p in await self.source.papers_by_ids([s.id for s in scored])}
        return [SearchHit(papers[s.id], s.score, s.matched_all) for s in scored if s.id in papers]

    async def search(self, query: SearchQuery, *, limit: int = 10) -> list[SearchHit]:
        """Best matches first: exact arXiv ids, then the engine's ranking (title fragment,
        all words, any word, or newest first for filters alone)."""
        hits: list[SearchHit] = []
        if query.arxiv_ids:
            found = await self.source.get_papers(list(query.arxiv_ids))
            for key in query.arxiv_ids:
                paper = found.get(key)
                if paper and all(h.paper.id != paper.id for h in hits):
                    hits.append(SearchHit(paper, rank=float("inf"), matched_all=True))
            if not query.has_text:
                return hits[:limit]  # ids with filters only: the ids, not a filtered listing
        remaining = limit - len(hits)
        if remaining > 0:
            seen = frozenset(h.paper.id or 0 for h in hits)
            hits += await self.hits_for(await self.ids(query, limit=remaining, exclude_ids=seen))
        return hits[:limit]

    async def matching(self, query: SearchQuery, paper_ids: Sequence[int]) -> set[int]:
        """Which of these papers the strict reading of the query matches (a digest's filter)."""
        if query.match_all() is None and not query.filters.categories and not query.filters.has_code:
            return set(paper_ids)
        return await asyncio.to_thread(engine.matching_ids, self.index, query, list(paper_ids))

    # ------------------------------------------------------------------ keeping up

    async def catch_up(self) -> int:
        """Apply every store change after the index's watermark; return how many papers.
        An index another process writes is searched as it is (that process keeps it up)."""
        try:
            return await self._catch_up()
        except IndexLockedError as error:
            await self._refresh_window()
            if not self._warned_locked:
                log.warning("%s", error)
                self._warned_locked = True
            return 0

    async def _catch_up(self) -> int:
        async with self._lock:
            # A new or wiped index: one bulk build is far faster than replaying the log.
            if (self.index.watermark == 0 and await asyncio.to_thread(self.index.num_docs) == 0
                    and await self.source.count_papers() > CATCH_UP_BATCH):
                return await self._rebuild(None)
            applied = 0
            while True:
                changes = await self.source.paper_changes_after(self.index.watermark, CATCH_UP_BATCH)
                if not changes:
                    if applied or self._days is None:
                        await self._refresh_window()
                    return applied
                ids = list(dict.fromkeys(paper_id for _seq, paper_id in changes))
                await self._apply(ids, changes[-1][0])
                applied += len(ids)

    async def _apply(self, ids: list[int], watermark: int) -> None:
        rows = await self.source.index_rows(ids)
        await asyncio.to_thread(lambda: self.index.apply(self._catch_up_documents(rows), ids, watermark))

    async def _refresh_window(self) -> None:
        self._days = await asyncio.to_thread(engine.day_counts, self.index)

    async def rebuild(self, progress: Callable[[int, int], Any] | None = None) -> int:
        """Drop the index and build it again from the store (`paperbot reindex`)."""
        async with self._lock:
            return await self._rebuild(progress)

    async def _rebuild(self, progress: Callable[[int, int], Any] | None) -> int:
        started = time.perf_counter()
        # Changes after this point are applied again by the next catch-up: harmless.
        watermark = await self.source.last_paper_change()
        total = await self.source.count_papers()
        await asyncio.to_thread(self.index.clear)
        documents = RowDocuments(REBUILD_TERMS_CACHE)
        done = 0
        rows = await self.source.index_rows_after(0, REBUILD_CHUNK)
        while rows:
            # The store reads the next chunk (its own thread) while this one is indexed.
            reading = asyncio.ensure_future(self.source.index_rows_after(rows[-1][0], REBUILD_CHUNK))
            try:
                done += await asyncio.to_thread(
                    lambda rows=rows: self.index.add_uncommitted(documents(rows)))
            except BaseException:
                reading.cancel()
                with contextlib.suppress(BaseException):
                    await reading
                raise
            if progress:
                progress(done, total)
            rows = await reading
        await asyncio.to_thread(self.index.commit, watermark)
        await asyncio.to_thread(self.index.wait_merges)
        log.info("search index rebuilt: %d papers in %.1f s", done, time.perf_counter() - started)
        await self._refresh_window()
        # Anything written while the rebuild ran.
        while changes := await self.source.paper_changes_after(self.index.watermark, CATCH_UP_BATCH):
            await self._apply(list(dict.fromkeys(paper_id for _seq, paper_id in changes)), changes[-1][0])
        return done
