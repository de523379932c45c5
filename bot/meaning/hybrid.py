"""Search modes over words and meaning: `words`, `meaning`, and `hybrid` (the default).

Takes the word engine as a function (query -> papers in its order, filters applied), the meaning
service, and the store's row loader; so it fits whichever word engine the store uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bot.meaning.fuse import fuse, passes_filters
from bot.meaning.service import MeaningService
from bot.merge import StoredPaper

Mode = Literal["hybrid", "words", "meaning"]
MODES: tuple[Mode, ...] = ("hybrid", "words", "meaning")
WORD_CANDIDATES = 50
MEANING_CANDIDATES = 100


@dataclass(frozen=True, slots=True)
class Filters:
    categories: tuple[str, ...] = ()
    author: str | None = None
    since: date | None = None
    has_code: bool = False

    def check(self, paper: StoredPaper) -> bool:
        return passes_filters(paper, categories=self.categories, author=self.author, since=self.since,
                              has_code=self.has_code)


@dataclass(frozen=True, slots=True)
class Ranked:
    paper: StoredPaper
    score: float
    similarity: float | None = None  # to the query, when meaning took part
    coverage: float | None = None


@dataclass(slots=True)
class HybridRequest:
    text: str  # the free text meaning reads (no syntax such as author: or cat:)
    limit: int
    filters: Filters = field(default_factory=Filters)
    author_only: bool = False  # only an author: nothing for meaning to read
    exclude: frozenset[int] = frozenset()


async def ranked_search(
    request: HybridRequest, mode: Mode, *, words: Callable[[int], Awaitable[Sequence[StoredPaper]]],
    meaning: MeaningService | None, load: Callable[[Sequence[int]], Awaitable[Sequence[StoredPaper]]],
) -> list[Ranked]:
    """The best `request.limit` papers, best first. Without meaning (off or still loading) hybrid
    falls back to words."""
    use_meaning = (mode != "words" and meaning is not None and meaning.ready and bool(request.text.strip())
                   and not request.author_only)
    if not use_meaning:
        if mode == "meaning" and meaning is not None and not request.author_only:
            meaning.check_ready()  # raises, saying why meaning cannot answer
        found = await words(request.limit)
        return [Ranked(p, 1.0 / (i + 1)) for i, p in enumerate(found) if p.id not in request.exclude]
    assert meaning is not None
    vec, near = await meaning.nearest_to_text(request.text, MEANING_CANDIDATES, exclude=request.exclude)
    if mode == "meaning":
        papers = {p.id: p for p in await load([n.paper_id for n in near])}
        return [Ranked(papers[n.paper_id], n.similarity, n.similarity) for n in near
                if n.paper_id in papers and request.filters.check(papers[n.paper_id])][: request.limit]
    by_words = [p for p in await words(WORD_CANDIDATES) if p.id is not None and p.id not in request.exclude]
    candidates: dict[int, StoredPaper] = {p.id: p for p in by_words if p.id is not None}
    missing = [n.paper_id for n in near if n.paper_id not in candidates]
    for paper in await load(missing):
        if paper.id is not None and request.filters.check(paper):
            candidates[paper.id] = paper
    sims = {n.paper_id: n.similarity for n in near}
    unknown = [pid for pid in candidates if pid not in sims]
    if unknown:
        sims.update(await meaning.similarities(vec, unknown))
    fused = await asyncio.to_thread(fuse, request.text, candidates, sims,
                                    [p.id for p in by_words if p.id is not None], limit=request.limit)
    return [Ranked(candidates[f.paper_id], f.score, f.similarity, f.coverage) for f in fused]
