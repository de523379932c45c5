"""Hybrid ranking rules (pure): meaning first, word evidence by how much of the query it covers."""

from __future__ import annotations

from datetime import date

from bot.meaning.fuse import content_stems, fuse, passes_filters, title_fragment
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
