"""Hybrid ranking rules (pure) and the hybrid search path: meaning first, word evidence by how much
of the query it covers."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from bot.meaning.fuse import (
    DEFAULT_WEIGHTS,
    Weights,
    content_stems,
    evidence,
    fuse,
    held_stems,
    paper_stems,
    passes_filters,
    title_fragment,
    weigh,
)
from bot.meaning.hybrid import hybrid_hits
from bot.meaning.index import Neighbour
from bot.merge import StoredPaper
from bot.models import FeedKind


def paper(pid: int, title: str, abstract: str = "", authors: list[str] | None = None,
          categories: list[str] | None = None, **extra) -> StoredPaper:
    return StoredPaper(key=f"2401.{pid:05d}", title=title, core_source=FeedKind.ARXIV_RSS, abstract=abstract,
                       authors=authors or ["A. Author"], categories=categories or ["cs.LG"], id=pid, **extra)


PAPERS = {
    1: paper(1, "Machine Unlearning for Language Models", "Removing the influence of private training data."),
    2: paper(2, "Private Data Release with Language", "Synthetic tables that protect privacy."),
    3: paper(3, "Robots Learning from Human Videos", "Manipulation skills from watching people."),
    4: paper(4, "A Survey of Models", "Models of language, data and learning in general."),
}


def test_meaning_outranks_weak_partial_word_matches() -> None:
    # The word engine liked the paper holding "private", "data" and "language" best; meaning knows better.
    sims = {1: 0.62, 2: 0.35, 3: 0.05, 4: 0.30}
    ranked = fuse("making language models forget private data", PAPERS, sims, [2, 4, 1], limit=4)
    assert [f.paper_id for f in ranked][:2] == [1, 2]


def test_a_paper_with_every_typed_word_rises_over_a_slightly_closer_one() -> None:
    sims = {3: 0.50, 1: 0.55}
    ranked = fuse("robots human videos", {1: PAPERS[1], 3: PAPERS[3]}, sims, [3], limit=2)
    assert ranked[0].paper_id == 3 and ranked[0].coverage == 1.0


def test_rare_words_weigh_more_than_common_ones() -> None:
    papers = {i: paper(i, f"Paper {i}", "learning methods for models") for i in range(1, 6)}
    papers[6] = paper(6, "Paper six", "zebrafish")
    sims = dict.fromkeys(papers, 0.3)
    ranked = fuse("zebrafish learning", papers, sims, [], limit=6)
    assert ranked[0].paper_id == 6  # holds the rare word; the others hold only the common one


def test_a_title_fragment_comes_first_even_when_meaning_prefers_another() -> None:
    ranked = fuse("Learning from Human Videos", {1: PAPERS[1], 3: PAPERS[3]}, {1: 0.9, 3: 0.2}, [3], limit=2)
    assert ranked[0].paper_id == 3 and ranked[0].pinned
    assert not title_fragment("videos", PAPERS[3].title)  # one word is not a fragment
    assert title_fragment("robots learning", PAPERS[3].title) and not title_fragment("learning robots",
                                                                                     PAPERS[3].title)


def test_author_only_searches_keep_the_word_engines_order() -> None:
    ranked = fuse("", PAPERS, {1: 0.9}, [4, 2], limit=5, author_only=True)
    assert [f.paper_id for f in ranked] == [4, 2]


def test_stop_words_are_not_query_words_unless_nothing_else_is_left() -> None:
    assert content_stems("the training of models for the robots") == ["train", "robot"]
    assert content_stems("the of") == ["the", "of"]


def test_filters_apply_to_papers_found_by_meaning() -> None:
    p = paper(9, "T", categories=["cs.CL", "cs.LG"], authors=["Jörg Müller"], announced=date(2026, 5, 1),
              code_url="https://github.com/x/y")
    assert passes_filters(p, categories=["cs"], author="muller", since=date(2026, 4, 1), has_code=True)
    assert not passes_filters(p, categories=["math"])
    assert not passes_filters(p, since=date(2026, 6, 1))
    assert not passes_filters(p, author="Smith")
    assert not passes_filters(paper(10, "T"), has_code=True)


def test_the_fast_word_check_agrees_with_stemming_every_word_of_real_abstracts() -> None:
    from bot.sources import parse_feed

    real = Path(__file__).parent / "fixtures" / "real"
    records = []
    for name in ("arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml",
                 "hf_daily_papers_2025-09-30_indent2_50items.json"):
        records += parse_feed((real / name).read_bytes()).papers
    papers = [paper(i, r.title, r.abstract, list(r.authors) or None) for i, r in enumerate(records)]
    papers.append(paper(999, "Études of naïve Bayes", "Rényi entropies; policies, studies and modeling"))
    queries = ["language models", "studies of policy", "naive etude renyi", "the model was trained",
               "benchmarks evaluating reasoning", "modeled entropy", "x-ray cross-lingual", "日本語 models"]
    checked = 0
    for q in queries:
        stems = content_stems(q)
        for p in papers:
            assert held_stems(stems, p) == paper_stems(p) & set(stems), (q, p.title)
            checked += bool(held_stems(stems, p))
    assert checked > 50  # the words were found often, not only absent
    assert held_stems(content_stems("policy entropies"), papers[-1]) == {"policy", "entropy"}
    assert held_stems(content_stems("bayes"), paper(5, "Bayesian nets")) == set()  # whole words only


def test_weights_change_the_order_and_the_defaults_are_the_shipped_fusion() -> None:
    sims = {1: 0.50, 3: 0.45}
    found = evidence("robots human videos", {1: PAPERS[1], 3: PAPERS[3]}, sims, [])
    assert [f.paper_id for f in weigh(found, limit=2, weights=Weights(coverage=0.0))] == [1, 3]
    assert [f.paper_id for f in weigh(found, limit=2, weights=Weights(coverage=0.3))] == [3, 1]
    assert weigh(found, limit=2) == fuse("robots human videos", {1: PAPERS[1], 3: PAPERS[3]}, sims, [],
                                         limit=2, weights=DEFAULT_WEIGHTS)


class _Meaning:
    """The two calls hybrid search makes of the meaning service; records when it was asked."""

    ready = True

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    def check_ready(self) -> None:
        return None

    async def nearest_to_text(self, text: str, k: int, *, exclude: frozenset[int] = frozenset()):
        self.asked.set()
        await asyncio.sleep(0)
        return np.zeros(3, dtype=np.float32), [Neighbour(1, 0.6), Neighbour(3, 0.2)]

    async def similarities(self, vec, ids):
        return dict.fromkeys(ids, 0.1)


async def _load(ids):
    return [PAPERS[i] for i in ids if i in PAPERS]


async def test_meaning_is_asked_while_the_word_engine_searches() -> None:
    from bot.search import parse_query
    from bot.search.service import SearchHit

    meaning = _Meaning()

    async def word_search(query, *, limit):
        # Answers only once meaning was asked: were the two run one after the other, this would hang.
        await asyncio.wait_for(meaning.asked.wait(), 5)
        return [SearchHit(PAPERS[2], 1.0, False)]

    hits = await hybrid_hits(parse_query("forget private data"), limit=3, mode="hybrid",
                             word_search=word_search, meaning=meaning, load=_load)
    assert [h.paper.id for h in hits][:1] == [1] and {h.paper.id for h in hits} == {1, 2, 3}


async def test_a_word_engine_error_reaches_the_caller_and_meaning_is_not_left_pending() -> None:
    from bot.search import parse_query

    meaning = _Meaning()

    async def word_search(query, *, limit):
        raise ValueError("bad query")

    with pytest.raises(ValueError, match="bad query"):
        await hybrid_hits(parse_query("forget private data"), limit=3, mode="hybrid",
                          word_search=word_search, meaning=meaning, load=_load)
    await asyncio.sleep(0.01)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []
