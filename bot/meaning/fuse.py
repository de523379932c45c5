"""Hybrid ranking: meaning first, word evidence weighed by how much of the query it covers (pure).

Plain reciprocal-rank fusion with an any-word match lets weak partial word matches outvote the
meaning ranking (MRR@10 0.32 on paraphrases, measured for issue 11). Here a paper's score is

    cosine(query, paper) + COVERAGE_WEIGHT * covered + RANK_WEIGHT / (RANK_K + word rank)

where `covered` is the share of the query's content words the paper contains (title, authors,
abstract), each word weighted by its rarity among the candidates (a paper holding the rare typed
word counts more than one holding "learning"), and the last term a small reward for the word
engine's own top places (absent when the word engine did not find the paper). So a description
finds the right paper through meaning, and a paper holding the typed words still rises. Two
rules keep known-item searches exact: a title that contains the typed words in order (a title
fragment, or the whole title) comes first, and an author-only search keeps the word engine's
order. The weights are those bench/relevance_bench.py's grid picks on all its labelled queries;
the same tuning, scored 5-fold on queries it did not see, is the figure in docs/benchmarks.md
(held out, the fusion scores 0.02-0.03 below its in-sample figure).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from bot.meaning.explain import STOPWORDS
from bot.merge import StoredPaper

COVERAGE_WEIGHT = 0.3  # the bonus for a paper holding every query word (cosine is ~0.1-0.7 here)
COVERAGE_POWER = 1.0  # the bonus grows with the share of the query's (weighted) words held
RANK_WEIGHT = 0.1  # the word engine's first place earns 0.1 / 5 = 0.02, its tenth 0.007
RANK_K = 5
TITLE_FRAGMENT_MIN_WORDS = 2

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case word tokens without diacritics, as a reader would type them."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _TOKEN.findall(text.lower())


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A light English stem, enough to let 'transformers' meet 'transformer'."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


def content_stems(text: str) -> list[str]:
    """The query's content words (stop words dropped unless nothing else is left), stemmed."""
    tokens = words(text)
    kept = [w for w in tokens if w not in STOPWORDS and len(w) > 1] or tokens
    return list(dict.fromkeys(_stem(w) for w in kept))


def paper_stems(paper: StoredPaper) -> set[str]:
    return {_stem(w) for w in set(words(" ".join((paper.title, " ".join(paper.authors), paper.abstract))))}


_SUFFIXES = ("", "s", "es", "ed", "ing")


@functools.lru_cache(maxsize=4096)
def _forms(stem: str) -> tuple[str, ...]:
    """Every word `_stem` maps to `stem` (it strips one suffix, so the list is short and complete)."""
    forms = [stem + suffix for suffix in _SUFFIXES]
    if stem.endswith("y"):
        forms.append(stem[:-1] + "ies")
    return tuple(f for f in forms if _stem(f) == stem)


@functools.lru_cache(maxsize=4096)
def _form_pattern(stem: str) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(f) for f in sorted(_forms(stem), key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])")  # a whole word, as `words` cuts them


def _plain(text: str) -> str:
    """Lower case without diacritics, as `words` sees the text."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.lower()


def held_stems(query_stems: Sequence[str], paper: StoredPaper) -> set[str]:
    """The query stems found among the paper's words (title, authors, abstract): the same answer
    as `paper_stems(paper) & set(query_stems)`, without stemming every word of the abstract (a
    substring test first, a whole-word check only on a hit: a query's ~130 candidates took p50
    115 ms before, 23 ms after, on the same captured queries of the loaded 2-core machine)."""
    text = _plain(" ".join((paper.title, " ".join(paper.authors), paper.abstract)))
    return {stem for stem in query_stems
            if any(f in text for f in _forms(stem)) and _form_pattern(stem).search(text)}


def rarity_weights(query_stems: Sequence[str], docs: Sequence[set[str]]) -> list[float]:
    """log(1 + N / (1 + df)) of each query word over the candidate papers: rare words weigh more."""
    n = len(docs)
    return [math.log(1 + n / (1 + sum(1 for d in docs if s in d))) for s in query_stems]


def coverage(query_stems: Sequence[str], have: set[str], weights: Sequence[float] | None = None) -> float:
    """Share of the query's content words (weighted) found in the paper's words."""
    if not query_stems:
        return 0.0
    weights = weights or [1.0] * len(query_stems)
    total = sum(weights) or 1.0
    return sum(w for s, w in zip(query_stems, weights, strict=True) if s in have) / total


def title_fragment(query: str, title: str) -> bool:
    """The typed words appear in the title, in order and adjacent (or are the whole title)."""
    q = words(query)
    if len(q) < TITLE_FRAGMENT_MIN_WORDS:
        return False
    t = words(title)
    n = len(q)
    return any(t[i:i + n] == q for i in range(len(t) - n + 1))


@dataclass(frozen=True, slots=True)
class Weights:
    """The fusion's weights (the module doc's formula); bench/relevance_bench.py tunes them on
    part of its labelled queries and scores them on the rest."""

    coverage: float = COVERAGE_WEIGHT
    power: float = COVERAGE_POWER
    rank: float = RANK_WEIGHT
    rank_k: float = RANK_K


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class Fused:
    paper_id: int
    score: float
    similarity: float
    coverage: float
    pinned: bool  # a title fragment: first whatever the scores


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the fusion knows of one candidate, before weighing it."""

    paper_id: int
    similarity: float
    coverage: float
    word_rank: int | None  # place in the word engine's order, None: not found by words
    pinned: bool


def evidence(query: str, papers: Mapping[int, StoredPaper], similarity: Mapping[int, float],
             word_rank: Sequence[int]) -> list[Evidence]:
    """Each candidate's similarity, query-word coverage, word rank and title-fragment flag."""
    stems = content_stems(query)
    order = {pid: i for i, pid in enumerate(word_rank)}
    docs = {pid: held_stems(stems, paper) for pid, paper in papers.items()}
    rarity = rarity_weights(stems, list(docs.values()))
    return [Evidence(pid, similarity.get(pid, 0.0), coverage(stems, docs[pid], rarity), order.get(pid),
                     title_fragment(query, paper.title)) for pid, paper in papers.items()]


def weigh(found: Sequence[Evidence], *, limit: int, weights: Weights = DEFAULT_WEIGHTS) -> list[Fused]:
    """Score and order the candidates: pinned titles first (in the word engine's order), then by
    similarity + coverage bonus + word-rank bonus."""
    w = weights
    out = [Fused(e.paper_id,
                 e.similarity + w.coverage * e.coverage ** w.power
                 + (w.rank / (w.rank_k + e.word_rank) if e.word_rank is not None else 0.0),
                 e.similarity, e.coverage, e.pinned) for e in found]
    rank_of = {e.paper_id: e.word_rank for e in found}
    last = len(found)

    def key(f: Fused) -> tuple[bool, int, float]:
        r = rank_of[f.paper_id]
        return (not f.pinned, (r if r is not None else last) if f.pinned else 0, -f.score)

    out.sort(key=key)
    return out[:limit]


def fuse(query: str, papers: Mapping[int, StoredPaper], similarity: Mapping[int, float],
         word_rank: Sequence[int], *, limit: int, author_only: bool = False,
         weights: Weights = DEFAULT_WEIGHTS) -> list[Fused]:
    """Rank the union of word and meaning candidates.

    papers: every candidate's row; similarity: cosine to the query (missing: 0); word_rank: the
    word engine's order (used for pinned titles and author-only searches).
    """
    if author_only:
        return [Fused(pid, 1.0 / (i + 1), similarity.get(pid, 0.0), 1.0, True)
                for i, pid in enumerate(word_rank[:limit]) if pid in papers]
    return weigh(evidence(query, papers, similarity, word_rank), limit=limit, weights=weights)


def passes_filters(paper: StoredPaper, *, categories: Iterable[str] = (), author: str | None = None,
                   since: date | None = None, has_code: bool = False) -> bool:
    """The word engine's filters, applied to a paper found by meaning."""
    wanted = list(categories)
    if wanted and not any(c == w or (("." not in w) and (c.split(".")[0] == w)) for c in paper.categories
                          for w in wanted):
        return False
    if since is not None and (paper.announced is None or paper.announced < since):
        return False
    if has_code and not paper.has_code:
        return False
    if author:
        names = {_stem(w) for w in words(" ".join(paper.authors))}
        if not all(_stem(w) in names for w in words(author)):
            return False
    return True
