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

import numpy as np

from bot.meaning.fuse import fuse, passes_filters, words
from bot.meaning.index import Neighbour
from bot.meaning.service import MeaningService
from bot.merge import StoredPaper
from bot.search.query import SearchQuery
from bot.search.service import SearchHit

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
    request: HybridRequest, mode: Mode, *, words_fn: Callable[[int], Awaitable[Sequence[StoredPaper]]],
    meaning: MeaningService | None, load: Callable[[Sequence[int]], Awaitable[Sequence[StoredPaper]]],
    nearest: tuple[np.ndarray, list[Neighbour]] | None = None,
) -> list[Ranked]:
    """The best `request.limit` papers, best first. Without meaning (off or still loading) hybrid
    falls back to words. nearest: the query's vector and its MEANING_CANDIDATES nearest papers,
    when the caller already asked for them (while the word engine ran)."""
    use_meaning = (mode != "words" and meaning is not None and meaning.ready
                   and bool(request.text.strip()) and not request.author_only)
    if not use_meaning:
        if mode == "meaning" and meaning is not None and not request.author_only:
            meaning.check_ready()  # raises, saying why meaning cannot answer
        found = await words_fn(request.limit)
        return [Ranked(p, 1.0 / (i + 1)) for i, p in enumerate(found) if p.id not in request.exclude]
    assert meaning is not None
    if nearest is None:
        vec, near = await meaning.nearest_to_text(request.text, MEANING_CANDIDATES, exclude=request.exclude)
    else:
        vec, near = nearest[0], [n for n in nearest[1] if n.paper_id not in request.exclude]
    if mode == "meaning":
        papers = {p.id: p for p in await load([n.paper_id for n in near])}
        return [Ranked(papers[n.paper_id], n.similarity, n.similarity) for n in near
                if n.paper_id in papers and request.filters.check(papers[n.paper_id])][: request.limit]
    by_words = [p for p in await words_fn(WORD_CANDIDATES)
                if p.id is not None and p.id not in request.exclude]
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


# ---------------------------------------------------------------------- /search and `paperbot search`


def meaning_text(query: SearchQuery) -> str:
    """What meaning reads of a parsed query: its positive words, not author names or categories."""
    parts: list[str] = []
    for group in query.groups:
        for term in group:
            if term.column not in ("authors",) and not term.negated:
                parts.append(" ".join(term.tokens))
    return " ".join(dict.fromkeys(parts))


def _excluded(paper: StoredPaper, query: SearchQuery) -> bool:
    if not query.excluded:
        return False
    have = " ".join(words(" ".join((paper.title, " ".join(paper.authors), paper.abstract))))
    return any(f" {' '.join(t.tokens)} " in f" {have} " for t in query.excluded)


async def hybrid_hits(query: SearchQuery, *, limit: int, mode: Mode,
                      word_search: Callable[..., Awaitable[Sequence[SearchHit]]],
                      meaning: MeaningService | None,
                      load: Callable[[Sequence[int]], Awaitable[Sequence[StoredPaper]]]) -> list[SearchHit]:
    """/search's hits in the chosen mode. Exact arXiv ids stay first in every mode; the word
    engine's filters apply to papers found by meaning too; exclusions (-word) as well."""
    text = meaning_text(query)
    if mode == "meaning" and text and meaning is not None:
        meaning.check_ready()  # raises MeaningUnavailable, saying why
    if mode == "words" or not text or meaning is None or not meaning.ready:
        return list(await word_search(query, limit=limit))  # also hybrid while meaning is off
    # The query's embedding and nearest papers are found while the word engine searches (both in
    # worker threads: on two cores the slower of the two sets the pace, not their sum).
    near_task = asyncio.ensure_future(meaning.nearest_to_text(text, MEANING_CANDIDATES))
    try:
        word_hits = list(await word_search(query, limit=WORD_CANDIDATES))
    except BaseException:
        near_task.cancel()
        near_task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved, not logged
        raise
    nearest = await near_task
    by_id = {h.paper.id: h for h in word_hits}
    exact = [h for h in word_hits if h.rank == float("inf")]  # arXiv ids typed in the query

    async def words_fn(n: int) -> list[StoredPaper]:
        return [h.paper for h in word_hits[:n] if h.rank != float("inf")]

    filters = Filters(tuple(query.filters.categories), query.filters.author, query.filters.since,
                      query.filters.has_code)
    request = HybridRequest(text, limit, filters,
                            exclude=frozenset(h.paper.id for h in exact if h.paper.id is not None))
    ranked = await ranked_search(request, mode, words_fn=words_fn, meaning=meaning, load=load,
                                 nearest=nearest)
    hits = list(exact)
    for r in ranked:
        if _excluded(r.paper, query):
            continue
        known = by_id.get(r.paper.id)
        hits.append(SearchHit(r.paper, r.score, known.matched_all if known else False))
    return hits[:limit]


def ranking_label(mode: Mode, query: SearchQuery, meaning: MeaningService | None) -> str | None:
    """How a result list was ranked, for its summary line; None: the word engine's own order."""
    if mode == "words" or not meaning_text(query) or meaning is None or not meaning.ready:
        return None
    return "meaning" if mode == "meaning" else "meaning and words"
