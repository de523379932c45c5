"""A parsed query against the index: the best paper ids with their scores, in one pass.

How a `SearchQuery` reads, as one tantivy boolean query:

- A term (a word, a phrase, `word*`) is a disjunction over the fields it may be in
  (title, authors, abstract; one field with `title:` and the like), each field's BM25
  boosted by its weight. Its text goes through the index's own analyzer, so stemming and
  folding are the index's, bit for bit. A prefix matches every indexed stem that starts
  with the stemmed prefix (as FTS5 did).
- All-words and any-word in one scored query: every term is an optional clause (any word
  finds a paper, more and rarer words score higher), plus the strict reading (every word
  of one OR-group) as a constant bonus larger than any BM25 sum, so papers with all the
  words always rank first. A query of 3+ plain words also gets a larger bonus for papers
  whose title holds the words in order: a remembered title fragment names its paper.
- A single term (the commonest query) is just that term: tantivy's block-max WAND then
  skips whole blocks of documents that cannot enter the top k, which is what keeps a very
  common word fast.
- Author, categories, since and has-code are required clauses (filters score nothing but
  the author, which ranks like a phrase); exclusions are MUST_NOT.
- Filters without words list the newest papers first (ordered by the `day` fast field).

Pure apart from tantivy: no store, no event loop. Safe to call from worker threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tantivy
from tantivy import Occur, Query

from bot.search.index import FIELD_BOOSTS, FIELDS, SCHEMA, SearchIndex, stems
from bot.search.query import SearchQuery, Term, fts_tokens

ALL_WORDS_BONUS = 100_000.0  # above any BM25 sum of MAX_TERMS terms over three boosted fields
TITLE_PHRASE_BONUS = 1_000_000.0
MAX_PREFIX_EXPANSIONS = 2_000  # a prefix such as `com*` stops growing after this many stems


@dataclass(frozen=True, slots=True)
class ScoredId:
    """One hit: the paper's row id, its score, and whether it has every word (strict reading)."""

    id: int
    score: float
    matched_all: bool


def _field_query(field: str, words: list[str], prefix: bool) -> Query:
    if prefix:
        return Query.regex_query(SCHEMA, field, re.escape(words[0]) + ".*")
    if len(words) == 1:
        return Query.term_query(SCHEMA, field, words[0])
    return Query.phrase_query(SCHEMA, field, words)


def term_query(term: Term) -> Query | None:
    """The term over its fields, BM25-weighted per field; None if it has no indexable word."""
    words = stems(" ".join(term.tokens))
    if not words:
        return None
    prefix = term.prefix and len(words) == 1
    fields = (term.column,) if term.column else FIELDS
    clauses = [
        (Occur.Should, Query.boost_query(_field_query(field, words, prefix), FIELD_BOOSTS[field]))
        for field in fields
    ]
    return clauses[0][1] if len(clauses) == 1 else Query.boolean_query(clauses)


def _author_query(query: SearchQuery) -> Query | None:
    tokens = fts_tokens(query.filters.author or "")
    return term_query(Term(tuple(tokens), column="authors")) if tokens else None


def filter_clauses(query: SearchQuery) -> list[tuple[Occur, Query]]:
    """Categories, since and has-code as required, non-scoring clauses."""
    filters = query.filters
    clauses: list[tuple[Occur, Query]] = []
    if filters.categories:
        clauses.append((Occur.Must, Query.const_score_query(
            Query.term_set_query(SCHEMA, "cat", list(filters.categories)), 0.0)))
    if filters.since:
        clauses.append((Occur.Must, Query.const_score_query(Query.range_query(
            SCHEMA, "day", tantivy.FieldType.Integer, lower_bound=filters.since.toordinal()), 0.0)))
    if filters.has_code:
        clauses.append((Occur.Must, Query.const_score_query(Query.term_query(SCHEMA, "code", 1), 0.0)))
    return clauses


def _and(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Must, q) for q in queries])


def _or(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Should, q) for q in queries])


@dataclass(frozen=True, slots=True)
class Compiled:
    query: Query | None  # None: matches nothing
    ranked: bool  # False: filters only, newest first
    bonus: bool  # the all-words bonus is in the score


def compile_query(query: SearchQuery, *, strict: bool = False) -> Compiled:
    """The one tantivy query for a SearchQuery. `strict`: only papers with every word of a
    group (what subscriptions and digest filters mean), no any-word reading."""
    compiled_terms: dict[Term, Query | None] = {}

    def q(term: Term) -> Query | None:
        if term not in compiled_terms:
            compiled_terms[term] = term_query(term)
        return compiled_terms[term]

    groups = []
    for group in query.groups:
        parts = [q(t) for t in group]
        if all(p is not None for p in parts):  # a word with nothing indexable matches nothing
            groups.append(_and([p for p in parts if p is not None]))
    author = _author_query(query)
    required = filter_clauses(query)
    if author is not None:
        required.append((Occur.Must, author))
    excluded = [(Occur.MustNot, e) for e in (q(t) for t in query.excluded) if e is not None]

    if not query.groups:
        if author is None and not required:
            return Compiled(None, ranked=True, bonus=False)
        if author is None:
            return Compiled(Query.boolean_query(required), ranked=False, bonus=False)
        return Compiled(Query.boolean_query(required), ranked=True, bonus=False)
    if not groups:
        return Compiled(None, ranked=True, bonus=False)

    all_words = _or(groups)
    distinct = list(dict.fromkeys(t for g in query.groups for t in g))
    scored: Query
    bonus = False
    if strict or len(distinct) == 1:
        scored = all_words
    else:
        should: list[tuple[Occur, Query]] = [
            (Occur.Should, Query.const_score_query(all_words, ALL_WORDS_BONUS))
        ]
        should += [(Occur.Should, tq) for tq in (q(t) for t in distinct) if tq is not None]
        phrase = _title_phrase(query)
        if phrase is not None:
            should.append((Occur.Should, Query.const_score_query(phrase, TITLE_PHRASE_BONUS)))
        scored = Query.boolean_query(should)
        bonus = True
    if not required and not excluded:
        return Compiled(scored, ranked=True, bonus=bonus)
    return Compiled(
        Query.boolean_query([(Occur.Must, scored), *required, *excluded]), ranked=True, bonus=bonus
    )


def _title_phrase(query: SearchQuery) -> Query | None:
    """3+ plain words of one group as one phrase in the title (a remembered title fragment)."""
    if len(query.groups) != 1 or len(query.groups[0]) < 3:
        return None
    terms = query.groups[0]
    if any(t.column or t.prefix for t in terms):
        return None
    words = stems(" ".join(token for t in terms for token in t.tokens))
    return Query.phrase_query(SCHEMA, "title", words) if len(words) > 1 else None


def search_ids(
    index: SearchIndex, query: SearchQuery, *, limit: int, offset: int = 0,
    exclude_ids: frozenset[int] = frozenset(), strict: bool = False,
) -> list[ScoredId]:
    """The best `limit` paper ids for the query (after `offset`), best first. Blocking."""
    compiled = compile_query(query, strict=strict)
    if compiled.query is None or limit <= 0:
        return []
    searcher = index.searcher()
    wanted = limit + len(exclude_ids)
    if compiled.ranked:
        result = searcher.search(compiled.query, wanted, count=False, offset=offset)
    else:
        result = searcher.search(compiled.query, wanted, count=False, offset=offset,
                                 order_by_field="day", order=tantivy.Order.Desc)
    hits = result.hits
    if not hits:
        return []
    ids = searcher.fast_field_values("id", [address for _score, address in hits])
    found = []
    for (score, _address), paper_id in zip(hits, ids, strict=True):
        if paper_id in exclude_ids:
            continue
        score = float(score) if compiled.ranked else 0.0
        matched_all = not compiled.bonus or score >= ALL_WORDS_BONUS
        found.append(ScoredId(int(paper_id), score, matched_all))
    return found[:limit]


def matching_ids(index: SearchIndex, query: SearchQuery, ids: list[int]) -> set[int]:
    """Which of these papers the strict reading of the query matches (a digest's filter)."""
    compiled = compile_query(query, strict=True)
    if compiled.query is None or not ids:
        return set()
    restricted = Query.boolean_query([
        (Occur.Must, compiled.query),
        (Occur.Must, Query.term_set_query(SCHEMA, "id", ids)),
    ])
    searcher = index.searcher()
    hits = searcher.search(restricted, len(ids), count=False).hits
    if not hits:
        return set()
    return set(searcher.fast_field_values("id", [address for _score, address in hits]))

