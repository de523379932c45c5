"""A parsed query against the index: the best paper ids with their scores, in one pass.

How a `SearchQuery` reads, as one tantivy boolean query:

- A term (a word, a phrase, `word*`) is a disjunction over the fields it may be in
  (title, authors, abstract; one field with `title:` and the like), each field's BM25
  boosted by its weight. Its text goes through the index's own analyzer, so stemming and
  folding are the index's, bit for bit. A prefix matches every indexed stem that starts
  with the stemmed prefix (as FTS5 did).
- Papers with all the words come first, then papers with any of them, in one pass where
  one is enough: the strict reading (every word of one OR-group; an intersection, driven by
  the rarest word) is asked for a page first, and when it fills the page (nearly always at
  arXiv scale) that is the answer. Only a page it cannot fill is completed by the any-word
  reading: a flat OR of the per-field term queries, which tantivy's block-max WAND prunes
  (whole blocks of documents that cannot reach the top k are skipped). A single word is the
  strict reading and is pruned the same way.
- The strict reading's cost is the list entries it visits: its rarest word's documents (an
  intersection is driven by its shortest list) times its words. A query of broad words
  ("data the method") would visit hundreds of thousands, so the engine counts them first
  (document frequencies, microseconds) and, past CANDIDATE_BUDGET, ranks the newest papers
  that fit the budget: every such paper holds the words anyway, and recent ones are what a
  broad query wants. A remembered title is still
  found at any age (the title phrase is asked for on its own, unwindowed).
- A dense word ("the", "model") in an intersection is guided: the rarest word, or the
  category filter when it is smaller, goes inside each of its field queries (see `_guided`),
  because a union over fields would otherwise score its whole lists. Same papers, same scores.
- A query of 3+ plain words first asks for papers whose title holds the words in order (a
  title phrase: short lists, under a millisecond); they come first, with a constant bonus
  above any BM25 sum: a remembered title fragment names its paper.
- Author, categories, since and has-code are required clauses (filters score nothing but
  the author, which ranks like a phrase); exclusions are MUST_NOT.
- Filters without words list the newest papers first (ordered by the `day` fast field).

Pure apart from tantivy: no store, no event loop. Safe to call from worker threads.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import tantivy
from tantivy import Occur, Query

from bot.search.index import FIELD_BOOSTS, FIELDS, SCHEMA, SearchIndex, stems
from bot.search.query import SearchQuery, Term, fts_tokens

TITLE_PHRASE_BONUS = 1_000_000.0  # above any BM25 sum of MAX_TERMS terms over three boosted fields
COMMON_FRACTION = 0.2  # a word in more than this share of the papers is a common word
# List entries the strict reading may visit (each word a union of three fields' lists, about
# 100 ns an entry here, so about 8 ms); past it, the newest papers where it visits about an
# eighth of that (a windowed intersection also checks each candidate's day).
CANDIDATE_BUDGET = 80_000
WINDOW_SHARE = 8
PHRASE_COST = 8  # a phrase also checks positions (in three fields): a candidate costs about eight words'
MAX_PREFIX_STEMS_COUNTED = 64  # a common prefix, in a window: its most frequent stems
DENSE_RATIO = 4  # a term with this many times the rarest term's documents is guided by it
CATEGORY_COST = "cat:"  # the key of the category filter's documents in a query's costs
SINCE_LISTS_SHARE = 0.2  # `since` covering at most this share of the papers reads the days' lists


@dataclass(frozen=True, slots=True)
class ScoredId:
    """One hit: the paper's row id, its score, and whether it has every word (strict reading)."""

    id: int
    score: float
    matched_all: bool


def _field_query(field: str, words: list[str], prefix: bool, expansion: Sequence[str] = (),
                 within: Sequence[Query] = ()) -> Query:
    if within:  # inside each field's query, where the smallest drives the intersection
        return _and([_field_query(field, words, prefix, expansion), *within])
    if prefix and expansion:  # a common prefix: its most frequent stems, as plain terms
        return Query.boolean_query([(Occur.Should, Query.term_query(SCHEMA, field, w)) for w in expansion])
    if prefix:
        return Query.regex_query(SCHEMA, field, re.escape(words[0]) + ".*")
    if len(words) == 1:
        return Query.term_query(SCHEMA, field, words[0])
    return Query.phrase_query(SCHEMA, field, words)


def term_query(term: Term, expansion: Sequence[str] = (), within: Sequence[Query] = ()) -> Query | None:
    """The term over its fields, BM25-weighted per field; None if it has no indexable word."""
    words = stems(" ".join(term.tokens))
    if not words:
        return None
    prefix = term.prefix and len(words) == 1
    fields = (term.column,) if term.column else FIELDS
    clauses = [
        (Occur.Should,
         Query.boost_query(_field_query(field, words, prefix, expansion, within), FIELD_BOOSTS[field]))
        for field in fields
    ]
    return clauses[0][1] if len(clauses) == 1 else Query.boolean_query(clauses)


def _author_query(query: SearchQuery) -> Query | None:
    tokens = fts_tokens(query.filters.author or "")
    return term_query(Term(tuple(tokens), column="authors")) if tokens else None


def filter_clauses(query: SearchQuery, days: DayCounts | None = None) -> list[tuple[Occur, Query]]:
    """Categories, since and has-code as required, non-scoring clauses."""
    filters = query.filters
    clauses: list[tuple[Occur, Query]] = []
    category = _category_filter(query)
    if category is not None:
        clauses.append((Occur.Must, category))
    if filters.since:
        since = filters.since.toordinal()
        # A short range is a few days' lists (fast); a long one is cheaper read off the day column.
        recent = days is not None and days.papers_since(since) <= SINCE_LISTS_SHARE * days.total
        clauses.append((Occur.Must, Query.const_score_query(Query.range_query(
            SCHEMA, "day", tantivy.FieldType.Integer, lower_bound=since, use_inverted_index=recent), 0.0)))
    if filters.has_code:
        clauses.append((Occur.Must, Query.const_score_query(Query.term_query(SCHEMA, "code", 1), 0.0)))
    return clauses


def _category_filter(query: SearchQuery) -> Query | None:
    categories = list(query.filters.categories)
    if not categories:
        return None
    return Query.const_score_query(Query.term_set_query(SCHEMA, "cat", categories), 0.0)


def _and(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Must, q) for q in queries])


def _or(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Should, q) for q in queries])


def _field_clauses(term: Term, expansion: Sequence[str] = ()) -> list[Query]:
    """The term's per-field queries, boosted, unwrapped: a flat OR of plain term queries is
    what tantivy's block-max WAND prunes."""
    words = stems(" ".join(term.tokens))
    if not words:
        return []
    prefix = term.prefix and len(words) == 1
    fields = (term.column,) if term.column else FIELDS
    return [Query.boost_query(_field_query(field, words, prefix, expansion), FIELD_BOOSTS[field])
            for field in fields]


@dataclass(frozen=True, slots=True)
class Plan:
    """A SearchQuery as tantivy queries. `strict`: every word of some OR-group. `loose`: any
    word, for when the strict reading finds fewer than a page; None when it is the same.
    `title`: the words in order in the title (a remembered title fragment), asked first."""

    strict: Query | None  # None: matches nothing
    loose: Query | None
    ranked: bool  # False: filters only, newest first
    title: Query | None = None  # the remembered title fragment alone (filters applied), if any


def compile_query(
    query: SearchQuery, *, common: frozenset[Term] = frozenset(),
    expansions: Mapping[Term, Sequence[str]] | None = None, within: Query | None = None,
    costs: Mapping[Term | str, int] | None = None, days: DayCounts | None = None,
) -> Plan:
    """`common`: terms most papers hold, left out of the any-word reading (with one of them,
    any word would mean nearly every paper, ranked at the cost of scanning them all).
    `within`: a non-scoring restriction (the newest papers) put inside every field's query of
    the strict reading, where it drives each intersection (around a union of fields, it would
    not: see `_guided`). The any-word reading is not compiled with it (search_ids puts the
    window around it).
    `costs`: each term's list entries (see `_term_visits`) and the category filter's papers,
    to guide dense terms by the rarest."""
    expansions = expansions or {}
    required = filter_clauses(query, days)
    guides = []  # (documents, query): what may guide a dense term, besides the rarest term
    category = _category_filter(query)
    if category is not None and costs is not None and CATEGORY_COST in costs:
        guides.append((costs[CATEGORY_COST], category))
    groups = []
    for group in query.groups:
        parts = _guided(group, within, guides, expansions, costs or {})
        if parts is not None:  # a word with nothing indexable matches nothing
            groups.append(_and(parts))
    author = _author_query(query)
    if author is not None:
        required.append((Occur.Must, author))
    excluded = [(Occur.MustNot, e) for e in (term_query(t) for t in query.excluded) if e is not None]

    def wrap(core: Query) -> Query:
        if not required and not excluded:
            return core
        return Query.boolean_query([(Occur.Must, core), *required, *excluded])

    if not query.groups:
        if author is None and not required:
            return Plan(None, None, ranked=True)
        return Plan(Query.boolean_query(required), None, ranked=author is not None)
    if not groups:
        return Plan(None, None, ranked=True)

    strict = _or(groups)
    phrase = _title_phrase(query)  # asked for on its own (see search_ids): its papers come first
    distinct = list(dict.fromkeys(t for g in query.groups for t in g))
    loose = None
    if len(distinct) > 1:  # one term: the strict reading is all there is
        kept = [t for t in distinct if t not in common]
        flat = [clause for t in kept for clause in _field_clauses(t, expansions.get(t, ()))]
        if flat:
            loose = wrap(Query.boolean_query([(Occur.Should, c) for c in flat]))
    return Plan(wrap(strict), loose, ranked=True, title=wrap(phrase) if phrase is not None else None)


def _guided(group: Sequence[Term], within: Query | None, guides: list[tuple[int, Query]],
            expansions: Mapping[Term, Sequence[str]], costs: Mapping[Term | str, int]) -> list[Query] | None:
    """The group's terms, each a union over fields, the window inside each field's query.

    Why inside: tantivy scores a union of fields a block of 4,096 documents at a time, every
    document of the block, so a dense term ("the", "model") under an intersection costs its
    whole lists however few candidates there are. Inside each field, the intersection of one
    list with a small restriction steps through skip lists instead. So a term with DENSE_RATIO
    times the documents of the smallest guide (the group's rarest term, or the category filter)
    gets that guide inside too, matching only, no score: the result and its scores are
    unchanged, since the guide was required anyway."""
    candidates = list(guides)
    rarest = min(group, key=lambda t: costs.get(t, 0)) if costs and len(group) > 1 else None
    if rarest is not None and not (rarest.prefix and not expansions.get(rarest)):
        # (a prefix's query collects all its documents up front: no cheaper guide)
        rarest_query = term_query(rarest, expansions.get(rarest, ()))
        if rarest_query is None:
            return None
        candidates.append((costs[rarest], Query.const_score_query(rarest_query, 0.0)))
    guide_cost, guide = min(candidates, key=lambda c: c[0]) if candidates else (0, None)
    parts = []
    for term in group:
        inside = [within] if within is not None else []
        if guide is not None and costs.get(term, 0) > DENSE_RATIO * guide_cost:
            inside.append(guide)
        part = term_query(term, expansions.get(term, ()), inside)
        if part is None:
            return None
        parts.append(part)
    return parts


def _title_phrase(query: SearchQuery) -> Query | None:
    """3+ plain words of one group as one phrase in the title (a remembered title fragment)."""
    if len(query.groups) != 1 or len(query.groups[0]) < 3:
        return None
    terms = query.groups[0]
    if any(t.column or t.prefix for t in terms):
        return None
    words = stems(" ".join(token for t in terms for token in t.tokens))
    return Query.phrase_query(SCHEMA, "title", words) if len(words) > 1 else None


def _run(searcher: tantivy.Searcher, query: Query, count: int, ranked: bool) -> list[tuple[float, int]]:
    if ranked:
        hits = searcher.search(query, count, count=False).hits
    else:
        hits = searcher.search(query, count, count=False, order_by_field="day",
                               order=tantivy.Order.Desc).hits
    if not hits:
        return []
    ids = searcher.fast_field_values("id", [address for _score, address in hits])
    return [(float(score) if ranked else 0.0, int(i)) for (score, _a), i in zip(hits, ids, strict=True)]


def _is_common(searcher: tantivy.Searcher, term: Term, threshold: float,
               expansions: dict[Term, Sequence[str]]) -> bool:
    """A term most papers hold: every stem of it in more than `threshold` abstracts (a prefix:
    the stems it covers, together; then its most frequent stems go in `expansions`)."""
    words = stems(" ".join(term.tokens))
    if not words:
        return False
    if term.prefix and len(words) == 1:
        covered = searcher.terms_with_prefix("abstract", words[0], limit=MAX_PREFIX_STEMS_COUNTED)
        if sum(count for _term, count in covered) <= threshold:
            return False
        expansions[term] = [stem for stem, _count in covered]
        return True
    return min(searcher.doc_freq("abstract", w) for w in words) > threshold


def _common_terms(
    searcher: tantivy.Searcher, query: SearchQuery
) -> tuple[frozenset[Term], dict[Term, Sequence[str]]]:
    threshold = COMMON_FRACTION * searcher.num_docs
    expansions: dict[Term, Sequence[str]] = {}
    common = frozenset(t for group in query.groups for t in group
                       if _is_common(searcher, t, threshold, expansions))
    return common, expansions


@dataclass(frozen=True, slots=True)
class DayCounts:
    """How many papers the index holds per announcement day, newest first: where the newest
    n papers start. Computed from the index (a fast-field histogram) after each catch-up."""

    days: tuple[int, ...]  # day numbers, newest first
    cumulative: tuple[int, ...]  # papers from that day on
    total: int

    def start_of_newest(self, n: int) -> int | None:
        """The first day of the newest (about) n papers; None when that is every paper."""
        at = bisect_left(self.cumulative, n)
        return None if at >= len(self.days) - 1 else self.days[at]

    def papers_since(self, day: int) -> int:
        at = bisect_left([-d for d in self.days], -day + 1)  # days newer than or on `day`
        return self.cumulative[at - 1] if at else 0


def day_counts(index: SearchIndex) -> DayCounts:
    """Blocking (about 10 ms at a million papers)."""
    searcher = index.searcher()
    if not searcher.num_docs:
        return DayCounts((), (), 0)
    found = searcher.aggregate(Query.all_query(), {"days": {"terms": {"field": "day", "size": 1_000_000}}})
    buckets = sorted(((int(b["key"]), int(b["doc_count"])) for b in found["days"]["buckets"]), reverse=True)
    cumulative, running = [], 0
    for _day, count in buckets:
        running += count
        cumulative.append(running)
    return DayCounts(tuple(d for d, _c in buckets), tuple(cumulative), searcher.num_docs)


def _term_visits(searcher: tantivy.Searcher, term: Term, expansions: Mapping[Term, Sequence[str]]) -> int:
    """About how many documents matching this term costs: its fields' lists (a phrase: its
    rarest word's, times the cost of checking positions)."""
    words = stems(" ".join(term.tokens))
    if not words:
        return 0
    fields = (term.column,) if term.column else FIELDS
    if term.prefix and len(words) == 1:
        stems_of = list(expansions.get(term, ()))
        return sum(searcher.doc_freq(f, w) for f in fields for w in stems_of) if stems_of else sum(
            count for f in fields
            for _t, count in searcher.terms_with_prefix(f, words[0], limit=MAX_PREFIX_STEMS_COUNTED))
    per_word = [sum(searcher.doc_freq(f, w) for f in fields) for w in words]
    return min(per_word) * (PHRASE_COST if len(words) > 1 else 1)


def _field_lists(searcher: tantivy.Searcher, term: Term) -> int:
    """The field lists a candidate is checked in for this term (a phrase's count more)."""
    words = stems(" ".join(term.tokens))
    if not words:
        return 0
    fields = (term.column,) if term.column else FIELDS
    if term.prefix and len(words) == 1:
        return sum(1 for f in fields if searcher.terms_with_prefix(f, words[0], limit=1))
    present = sum(1 for f in fields if all(searcher.doc_freq(f, w) for w in words))
    return present * (PHRASE_COST if len(words) > 1 else 1)


def visits(searcher: tantivy.Searcher, query: SearchQuery, days: DayCounts | None,
           expansions: Mapping[Term, Sequence[str]] | None = None, *, only_common: bool = False) -> int:
    """About how many list entries the strict reading visits: per OR-group, its rarest term's
    documents (an intersection is driven by its shortest list) times its terms (each is
    stepped to each of them), cut by the filters' own sizes.

    With only common words, a category's papers are each checked in every field list of every
    word (the category guides them, see `_guided`), and that is what is counted: such a query
    ("the method" in a category) ranks nothing worth its cost, so it gets the newest papers
    like any common-word query. A query with a rarer word is ranked over the whole category."""
    expansions = expansions or {}
    total = sum(min(_term_visits(searcher, t, expansions) for t in group) * len(group)
                for group in query.groups if group)
    filters = query.filters
    if filters.categories:
        lists = 1
        if only_common:
            lists += sum(_field_lists(searcher, t) for group in query.groups for t in group)
        total = min(total, lists * sum(searcher.doc_freq("cat", c) for c in filters.categories))
    if filters.since and days is not None:
        total = min(total, days.papers_since(filters.since.toordinal()))
    return total


def _window(searcher: tantivy.Searcher, query: SearchQuery, days: DayCounts | None,
            expansions: Mapping[Term, Sequence[str]], *, only_common: bool) -> Query | None:
    """The newest papers the strict reading can afford, when it cannot afford them all."""
    if days is None or not days.total:
        return None
    cost = visits(searcher, query, days, expansions, only_common=only_common)
    if cost <= CANDIDATE_BUDGET:
        return None
    start = days.start_of_newest(max(1, days.total * CANDIDATE_BUDGET // (WINDOW_SHARE * cost)))
    if start is None:
        return None
    return Query.const_score_query(Query.range_query(
        SCHEMA, "day", tantivy.FieldType.Integer, lower_bound=start, use_inverted_index=True), 0.0)


def search_ids(
    index: SearchIndex, query: SearchQuery, *, limit: int, offset: int = 0,
    exclude_ids: frozenset[int] = frozenset(), days: DayCounts | None = None,
) -> list[ScoredId]:
    """The best `limit` paper ids for the query (after `offset`), best first. Blocking.
    `days`: the index's papers per day (see DayCounts), for the candidate budget.

    One pass when the strict reading fills the page (the usual case, and always for one
    word); only then the any-word reading fills the rest, pruned by block-max WAND."""
    if limit <= 0:
        return []
    searcher = index.searcher()
    common, expansions = _common_terms(searcher, query)
    terms = [t for group in query.groups for t in group]
    only_common = bool(terms) and all(t in common for t in terms)
    window = (_window(searcher, query, days, expansions if only_common else {}, only_common=only_common)
              if terms else None)
    # A common prefix stands for its most frequent stems only where the budget cuts it anyway.
    used = expansions if only_common and window is not None else {}
    costs: dict[Term | str, int] = {t: _term_visits(searcher, t, used) for t in terms}
    if query.filters.categories:
        costs[CATEGORY_COST] = sum(searcher.doc_freq("cat", c) for c in query.filters.categories)
    plan = compile_query(query, common=common, expansions=used, within=window, costs=costs, days=days)
    if plan.strict is None:
        return []
    wanted = offset + limit + len(exclude_ids)
    found: list[ScoredId] = []
    if plan.title is not None:  # a remembered title fragment names its paper, at any age
        found = [ScoredId(i, score + TITLE_PHRASE_BONUS, True)
                 for score, i in _run(searcher, plan.title, wanted, True)]
    if window is not None and plan.loose is not None:  # the same newest papers, around the whole
        plan = Plan(plan.strict, _and([plan.loose, window]), plan.ranked, plan.title)
    seen = {s.id for s in found}
    found += [ScoredId(i, score, True) for score, i in _run(searcher, plan.strict, wanted, plan.ranked)
              if i not in seen]
    found.sort(key=lambda s: -s.score)
    found = found[:wanted]
    if plan.loose is not None and len(found) < wanted:
        seen = {s.id for s in found}  # every strict match: fewer than asked for
        found += [ScoredId(i, score, False) for score, i in _run(searcher, plan.loose, wanted, True)
                  if i not in seen][: wanted - len(found)]
    return [s for s in found if s.id not in exclude_ids][offset:offset + limit]


def matching_ids(index: SearchIndex, query: SearchQuery, ids: list[int]) -> set[int]:
    """Which of these papers the strict reading of the query matches (a digest's filter)."""
    plan = compile_query(query)
    if plan.strict is None or not ids:
        return set()
    restricted = Query.boolean_query([
        (Occur.Must, plan.strict),
        (Occur.Must, Query.term_set_query(SCHEMA, "id", ids)),
    ])
    searcher = index.searcher()
    hits = searcher.search(restricted, len(ids), count=False).hits
    if not hits:
        return set()
    return set(searcher.fast_field_values("id", [address for _score, address in hits]))
