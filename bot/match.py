"""Subscriptions against a day's new papers: which papers each subscription finds. Pure: no shared state.

A subscription matches a paper exactly when `/search` would find that paper with the
strict reading of the same query (`SearchQuery.match_all()` plus its category and
has-code filters). The three kinds compile to a `SearchQuery`: `query` is the search
syntax, `category` is `parse_query("", category=value)` (an arXiv category, or an archive
such as 'cs' that covers every 'cs.*'), and `author` is `parse_query("", author=value)` (the
name's tokens as a phrase in the authors column). `Subscription.has_code` is /search's
has_code option.

Design, and why:

- The search index's own analyzer does all the text analysis (`bot.search.index.stems`,
  tantivy's, in Rust). Each paper's title, authors (joined as the index joins them) and
  abstract are analyzed into stems whose list position is the index's token position.
  Each distinct query term goes through the same analyzer, so a term is exactly the stem
  sequence the search engine looks up. Case folding, accent folding, English stemming and
  the token rules are the index's, bit for bit. There is no Python stemmer.
- The matcher reproduces the search engine's rules on those stems:
  - A word matches the papers that hold its stem, in one column if the term has `title:`
    or another column prefix.
  - A phrase needs its stems at consecutive positions of one column. So 'self-supervised'
    is the phrase 'self supervis' and matches 'self supervised'.
  - A prefix term's token is stemmed too, as the search engine does: `transformers*` is
    `transform*`. It matches every indexed stem that starts with it.
  - A term that tokenizes to nothing matches nothing.
  - A query is `(OR of AND-groups) AND author NOT (excluded)`, as `SearchQuery._wrap`
    builds it.
  tests/test_match.py checks this against the real search engine through `Store.search`,
  on the real fixtures.
- Speed, for 100,000 subscriptions and 2,000 papers (bench/match_bench.py):
  - Subscriptions are grouped first by their text and then by their compiled meaning:
    'Transformers' and 'transformer' are one query. The work is per distinct query and
    per distinct term, not per subscription.
  - Compiling is cached by text: `CompiledSubscriptions(subs, reuse=previous)` parses only
    the texts `previous` did not hold, so a new or changed subscription costs its own
    parse, not everyone's.
  - The day is a reverse index from each stem to a bitset (a Python int, bit i = the i-th
    paper) per column, built once per day. A word is one dict lookup; a prefix ORs the
    bitsets of the day's stems that start with it; a query's AND / OR / NOT, category and
    has-code are int operations on those bitsets, one pass per distinct query.
  - A phrase is first the AND of its stems' bitsets; only those candidate papers are then
    checked for the stems at consecutive positions (a substring test on the column's stems
    joined by NUL, which no stem holds).
  - `CompiledSubscriptions.match_masks` gives one bitset per distinct query, with the
    subscriptions that share it: the notify step folds those per user without ever listing
    every (subscription, paper) pair. `match_groups` lists each query's papers, `match()`
    each subscription's.
- It is safe in `asyncio.to_thread`. A `CompiledSubscriptions` is immutable after it is
  built, and the analyzer holds no state between calls.

What a subscription ignores:
- `since`: a subscription is about each day's new papers.
- arXiv ids in the text: they name an existing paper, not a topic. A query of only ids
  matches nothing. So does a query of ids plus filters, because `/search` then skips its
  filters-only listing.

What matches nothing:
- An empty query: no words, no author, no category and no has-code filter.
- An `author` subscription whose name has no letter or digit. `/search` would drop that
  filter instead.
- A subscription of an unknown kind. Its id is listed in `CompiledSubscriptions.invalid`.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import chain, compress, pairwise, repeat
from operator import itemgetter, or_
from typing import TYPE_CHECKING

from bot.search.index import stems as analyze
from bot.search.query import SearchQuery, Term, fts_tokens, parse_query

if TYPE_CHECKING:
    from bot.merge import StoredPaper

COLUMNS = ("title", "authors", "abstract")
KINDS = ("query", "category", "author")

_ANY_COLUMN = -1
_SEP = "\x00"  # joins a column's stems for the phrase check: no stem holds it


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    kind: str  # "query" | "category" | "author"
    value: str  # the query text, category code ('cs.LG' or archive 'cs'), or author name
    has_code: bool = False  # only papers with a code link, like /search's has_code option


@dataclass(frozen=True, slots=True)
class PaperText:
    id: int
    title: str
    abstract: str
    authors: Sequence[str]
    categories: Sequence[str]
    has_code: bool = False

    @classmethod
    def from_index_row(cls, row: Sequence) -> PaperText:
        """From the store's raw row for the search index (bot.search.service.IndexRow)."""
        paper_id, title, authors, abstract, categories, _announced, has_code = row
        return cls(id=paper_id, title=title, abstract=abstract, authors=tuple(json.loads(authors)),
                   categories=tuple(json.loads(categories)), has_code=bool(has_code))

    @classmethod
    def from_stored(cls, paper: StoredPaper) -> PaperText:
        if paper.id is None:
            raise ValueError(f"paper {paper.key} has no id: store it first")
        return cls(
            id=paper.id,
            title=paper.title,
            abstract=paper.abstract,
            authors=tuple(paper.authors),
            categories=tuple(paper.categories),
            has_code=paper.has_code,
        )


@dataclass(frozen=True, slots=True)
class GroupMatch:
    """One distinct query's result: every subscription that shares it, and the papers it found."""

    subscription_ids: tuple[int, ...]
    paper_ids: tuple[int, ...]  # in the order the papers were given


# One distinct query's result as a bitset: (every subscription that shares it, bitset over the
# papers given: bit i set = the i-th paper matched). A plain tuple: 40,000 are made per day.
GroupMask = tuple[tuple[int, ...], int]


# A compiled term: (column index or _ANY_COLUMN, stems as the index analyzes them, last stem is a prefix).
_Term = tuple[int, tuple[str, ...], bool]


@dataclass(frozen=True, slots=True)
class _Query:
    groups: tuple[tuple[_Term, ...], ...]  # OR of AND-groups of terms; () = no words
    excluded: tuple[_Term, ...]
    author: _Term | None  # the author filter, a phrase in the authors column
    categories: tuple[str, ...]  # any of these; () = any category
    has_code: bool


_INVALID = "invalid"  # a subscription of an unknown kind (cached like a compiled query)


def _clean(text: str) -> str:
    """Text SQLite can bind: lone surrogates (which no stored paper can hold) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _analyze(text: str) -> list[str]:
    try:
        return analyze(text)
    except UnicodeEncodeError:  # a lone surrogate: rare, so checked only when it fails
        return analyze(_clean(text))


def tokenize(texts: Sequence[str]) -> list[tuple[str, ...]]:
    """Each text as the search index analyzes it: folded, unaccented, stemmed."""
    return [tuple(_analyze(text)) for text in texts]


def _search_query(kind: str, value: str, has_code: bool) -> SearchQuery | None:
    """The query a subscription stands for; None for one that can match nothing."""
    value = value or ""
    if kind == "query":
        return parse_query(value, has_code=has_code)
    if kind == "category":
        query = parse_query("", category=value, has_code=has_code)
        return query if query.filters.categories else None
    if kind == "author":
        # The search's author filter, but a name without a single token matches nothing
        # (the search would drop that filter and list everything).
        return parse_query("", author=value, has_code=has_code) if fts_tokens(value) else None
    return None


def _author_term(query: SearchQuery) -> Term | None:
    """As SearchQuery._author_expr: the author filter is a phrase in the authors column."""
    tokens = fts_tokens(query.filters.author or "")
    return Term(tuple(tokens), column="authors") if tokens else None


class _Compiler:
    """Compiles subscription texts to `_Query`s, each distinct term analyzed once."""

    def __init__(self) -> None:
        self._terms: dict[tuple[str | None, str, bool], _Term | None] = {}
        self.compiled: list[_Query] = []  # every query this compiler made

    def term(self, term: Term) -> _Term | None:
        """The term as the engine reads it (bot.search.engine.term_query); None: no token."""
        key = (term.column, " ".join(term.tokens), term.prefix)
        if key in self._terms:
            return self._terms[key]
        stems = tuple(_analyze(key[1]))
        compiled = (COLUMNS.index(term.column) if term.column else _ANY_COLUMN, stems, term.prefix) \
            if stems else None
        self._terms[key] = compiled
        return compiled

    def query(self, kind: str, value: str, has_code: bool) -> _Query | str | None:
        """The compiled query; None when it matches nothing; _INVALID for an unknown kind."""
        if kind not in KINDS:
            return _INVALID
        query = _search_query(kind, value, has_code)
        if query is None:
            return None
        groups: set[tuple[_Term, ...]] = set()
        for group in query.groups:
            members = [self.term(t) for t in group]
            if None not in members:  # a term with no token matches nothing: so does its group
                groups.add(tuple(sorted(set(members))))  # type: ignore[arg-type]
        if query.groups and not groups:
            return None
        author = None
        author_term = _author_term(query)
        if author_term is not None:
            author = self.term(author_term)
            if author is None:
                return None
        # As SearchQuery._wrap: exclusions apply only to a query with words.
        excluded = {self.term(t) for t in query.excluded} if query.groups else set()
        categories = query.filters.categories
        if not groups and author is None and (query.arxiv_ids or not (categories or query.filters.has_code)):
            return None  # no words and nothing to list: matches nothing (since is ignored)
        compiled = _Query(
            groups=tuple(sorted(groups)),
            excluded=tuple(sorted(t for t in excluded if t is not None)),
            author=author,
            categories=tuple(sorted(set(categories))),
            has_code=query.filters.has_code,
        )
        self.compiled.append(compiled)
        return compiled


def _bits_to_positions(mask: int, size: int) -> list[int]:
    """The set bits of a bitset of `size` papers, ascending."""
    bits = f"{mask:0{size}b}"[::-1]  # bit i at index i
    if mask.bit_count() * 8 > size:  # dense: one pass in C
        return list(compress(range(size), bits.encode("ascii").translate(_FROM_BINARY)))
    positions: list[int] = []
    i = bits.find("1")
    while i >= 0:
        positions.append(i)
        i = bits.find("1", i + 1)
    return positions


_TO_BINARY = bytes.maketrans(b"\x00\x01", b"01")
_ONE = 1
_FROM_BINARY = bytes.maketrans(b"01", b"\x00\x01")


class _Day:
    """The day's papers as the search index analyzes them: per column, each stem's bitset of papers.

    Built once per day; each bitset is made on first use and cached, so a stem no term asks
    for costs only its posting list. `pairs` are the adjacent stem pairs some phrase uses:
    their papers are indexed too, so a two-word phrase is one lookup and a longer one has
    few candidates to check.
    """

    def __init__(self, papers: Sequence[PaperText], pairs: frozenset[tuple[str, str]] = frozenset()):
        self.size = len(papers)
        self.everything = (1 << self.size) - 1
        postings: tuple[dict[str, list[int]], ...] = ({}, {}, {})
        pair_postings: tuple[dict[tuple[str, str], list[int]], ...] = ({}, {}, {})
        joined: list[tuple[str, str, str]] = []  # per paper, per column: NUL + stems joined by NUL + NUL
        for position, p in enumerate(papers):
            # authors joined as bot.search.index.IndexDoc joins them
            columns = [_analyze(text) for text in (p.title, ", ".join(p.authors), p.abstract)]
            joined.append(tuple(f"{_SEP}{_SEP.join(stems)}{_SEP}" for stems in columns))  # type: ignore[arg-type]
            for column, stems in enumerate(columns):
                found = postings[column]
                for stem in set(stems):
                    held = found.get(stem)
                    if held is None:
                        found[stem] = [position]
                    else:
                        held.append(position)
                if pairs and len(stems) > 1:
                    found_pairs = pair_postings[column]
                    for pair in pairs.intersection(pairwise(stems)):  # in C: few pairs left
                        held_pair = found_pairs.get(pair)
                        if held_pair is None:
                            found_pairs[pair] = [position]
                        else:
                            held_pair.append(position)
        self._postings = postings
        self._pair_postings = pair_postings
        self._pairs = pairs
        self._pair_masks: dict[tuple[tuple[str, str], int], int] = {}
        self._joined = joined
        self._vocabulary: list[str] | None = None
        self._stems: dict[tuple[str, bool, int], int] = {}
        self._terms: dict[_Term, int] = {}

    def mask_of(self, positions: Sequence[int]) -> int:
        """A bitset of paper positions (ascending or not), without a Python loop per bit when many."""
        if len(positions) < 48:
            return reduce(or_, map(_ONE.__lshift__, positions), 0)
        flags = bytearray(self.size)
        deque(map(flags.__setitem__, positions, repeat(1)), maxlen=0)
        return int(flags.translate(_TO_BINARY)[::-1], 2)

    def expand(self, prefix: str) -> list[str]:
        """The day's stems that start with prefix (how the engine reads `prefix*`)."""
        if self._vocabulary is None:
            self._vocabulary = sorted(set().union(*self._postings))
        vocabulary = self._vocabulary
        stems = []
        i = bisect_left(vocabulary, prefix)
        while i < len(vocabulary) and vocabulary[i].startswith(prefix):
            stems.append(vocabulary[i])
            i += 1
        return stems

    def stem_mask(self, stem: str, prefix: bool, column: int) -> int:
        """Papers holding the stem (or, for a prefix, any stem it starts) in the column, or in any."""
        key = (stem, prefix, column)
        mask = self._stems.get(key)
        if mask is None:
            if prefix:
                mask = 0
                for full in self.expand(stem):
                    mask |= self.stem_mask(full, False, column)
            elif column == _ANY_COLUMN:
                title, authors, abstract = (found.get(stem) for found in self._postings)
                if title is None and authors is None:
                    mask = self.mask_of(abstract) if abstract else 0
                else:
                    mask = self.mask_of([*(title or ()), *(authors or ()), *(abstract or ())])
            else:
                mask = self._column_mask(stem, column)
            self._stems[key] = mask
        return mask

    def _column_mask(self, stem: str, column: int) -> int:
        key = (stem, False, column)
        mask = self._stems.get(key)
        if mask is None:
            positions = self._postings[column].get(stem)
            mask = self._stems[key] = self.mask_of(positions) if positions else 0
        return mask

    def pair_mask(self, pair: tuple[str, str], column: int) -> int:
        """Papers holding the two stems next to each other in the column (or in one of them)."""
        key = (pair, column)
        mask = self._pair_masks.get(key)
        if mask is None:
            if column == _ANY_COLUMN:
                positions = [*chain.from_iterable(found.get(pair, ()) for found in self._pair_postings)]
            else:
                positions = self._pair_postings[column].get(pair)
            mask = self.mask_of(positions) if positions else 0
            self._pair_masks[key] = mask
        return mask

    def term_mask(self, term: _Term) -> int:
        """Papers the term finds: a word's bitset; a phrase's stems AND-ed, then checked in order."""
        mask = self._terms.get(term)
        if mask is None:
            mask = self._terms[term] = self._term_mask(term)
        return mask

    def _term_mask(self, term: _Term) -> int:
        column, stems, prefix = term
        last = len(stems) - 1
        mask = self.everything
        for k, stem in enumerate(stems):
            mask &= self.stem_mask(stem, prefix and k == last, column)
            if not mask:
                return 0
        if last == 0:
            return mask
        # A phrase: first the indexed pairs of its fixed stems (a prefix's last stem is not
        # fixed). Two fixed stems: the pair is the phrase, nothing to check.
        fixed = stems[:-1] if prefix else stems
        indexed = [pair for pair in pairwise(fixed) if pair in self._pairs]
        for pair in indexed:
            mask &= self.pair_mask(pair, column)
            if not mask:
                return 0
        if len(fixed) == 2 and not prefix and indexed:
            return mask
        # Otherwise keep the candidates holding the stems in a row in one column. A prefix's
        # last stem is the start of a token, so the needle ends without NUL.
        needle = _SEP + _SEP.join(stems) + ("" if prefix else _SEP)
        joined = self._joined
        if column == _ANY_COLUMN:
            kept = [p for p in _bits_to_positions(mask, self.size)
                    if needle in joined[p][2] or needle in joined[p][0] or needle in joined[p][1]]
        else:
            kept = [p for p in _bits_to_positions(mask, self.size) if needle in joined[p][column]]
        return self.mask_of(kept)


_Compiled = _Query | str | None


class CompiledSubscriptions:
    """Subscriptions parsed, tokenized and grouped once; match them against any day's papers.

    `reuse`: an earlier CompiledSubscriptions whose compiled texts are taken as they are, so
    only texts it did not hold are parsed (`parsed_now` says how many).
    """

    def __init__(self, subscriptions: Iterable[Subscription], *, reuse: CompiledSubscriptions | None = None):
        # Keyed by one string per text, not a tuple: strings are not tracked by the garbage
        # collector, so a cache of 45,000 texts adds nothing for a collection to walk.
        by_text: dict[str, list[int]] = {}
        for sub in subscriptions:
            by_text.setdefault(f"{sub.has_code:d}{sub.kind}{_SEP}{sub.value}", []).append(sub.id)

        known = reuse._by_text if reuse is not None else {}
        compiler = _Compiler()
        texts: dict[str, _Compiled] = {}
        parsed_now = 0
        queries: dict[_Query, list[int]] = {}
        invalid: list[int] = []
        for key, ids in by_text.items():
            if key in known:
                compiled = known[key]
            else:
                kind, value = key[1:].split(_SEP, 1)
                compiled = compiler.query(kind, value, key[0] == "1")
                parsed_now += 1
            texts[key] = compiled
            if compiled is None:
                continue
            if compiled is _INVALID:
                invalid += ids
            else:
                queries.setdefault(compiled, []).extend(ids)  # type: ignore[arg-type]

        self._by_text = texts
        self.parsed_now = parsed_now
        self._queries: tuple[_Query, ...] = tuple(queries)
        # The stem pairs of every phrase, indexed for the day. Reused ones are kept (a pair no
        # longer used costs only its lookups) unless most texts are new: then start afresh.
        pairs: set[tuple[str, str]] = set()
        reused = reuse is not None and parsed_now * 4 < len(texts)
        for query in (compiler.compiled if reused else self._queries):
            for _column, stems, prefix in self._terms_of(query):
                if len(stems) > 1:
                    fixed = stems[:-1] if prefix else stems
                    pairs.update(pairwise(fixed))
        self._pairs = reuse._pairs.union(pairs) if reused else frozenset(pairs)  # type: ignore[union-attr]
        self._subscribers: tuple[tuple[int, ...], ...] = tuple(tuple(ids) for ids in queries.values())
        # An id given more than once (with different values) gets the union of its queries.
        self._repeated: dict[int, tuple[int, ...]] = {}
        every_id = list(chain.from_iterable(self._subscribers))
        if len(set(every_id)) < len(every_id):
            seen: dict[int, list[int]] = {}
            for q, ids in enumerate(self._subscribers):
                for sub_id in ids:
                    seen.setdefault(sub_id, []).append(q)
            self._repeated = {i: tuple(qs) for i, qs in seen.items() if len(qs) > 1}
        self.invalid: tuple[int, ...] = tuple(invalid)

    @property
    def subscription_count(self) -> int:
        return sum(len(ids) for ids in self._subscribers)

    @property
    def query_count(self) -> int:
        """Distinct compiled queries: the unit of matching work."""
        return len(self._queries)

    @staticmethod
    def _terms_of(query: _Query) -> Iterable[_Term]:
        yield from chain.from_iterable(query.groups)
        yield from query.excluded
        if query.author is not None:
            yield query.author

    @property
    def term_count(self) -> int:
        return len(set(chain.from_iterable(map(self._terms_of, self._queries))))

    def _query_masks(self, papers: Sequence[PaperText]) -> list[int]:
        """For each distinct query, the bitset of the papers it finds (bit i = papers[i])."""
        if not papers or not self._queries:
            return [0] * len(self._queries)
        day = _Day(papers, self._pairs)
        everything = day.everything
        term_mask = day.term_mask
        code_mask = day.mask_of([i for i, paper in enumerate(papers) if paper.has_code])
        by_category: dict[str, list[int]] = {}
        for position, paper in enumerate(papers):
            for category in paper.categories:
                by_category.setdefault(category, []).append(position)
        filter_masks: dict[tuple[str, ...], int] = {}

        def category_mask(wanted: tuple[str, ...]) -> int:
            mask = filter_masks.get(wanted)
            if mask is None:
                # 'cs' covers 'cs' and every 'cs.*', as the store's category clause does.
                mask = filter_masks[wanted] = day.mask_of(list(set(chain.from_iterable(
                    positions for category, positions in by_category.items()
                    if any(category == want or ("." not in want and category.startswith(want + "."))
                           for want in wanted)
                ))))
            return mask

        results: list[int] = []
        for query in self._queries:
            groups = query.groups
            if len(groups) == 1 and len(groups[0]) == 1:
                mask = term_mask(groups[0][0])  # one word or one phrase: most queries
            else:
                mask = 0
                for group in groups:
                    found = everything
                    for term in group:
                        found &= term_mask(term)
                        if not found:
                            break
                    mask |= found
            if query.author is not None:
                mask = (mask if groups else everything) & term_mask(query.author)
            elif not groups:
                mask = everything  # filters only
            if mask and query.excluded:
                for term in query.excluded:
                    mask &= ~term_mask(term)
            if mask and query.categories:
                mask &= category_mask(query.categories)
            if mask and query.has_code:
                mask &= code_mask
            results.append(mask)
        return results

    def match_masks(self, papers: Sequence[PaperText]) -> list[GroupMask]:
        """One entry per distinct query that found at least one paper: its subscriptions and a
        bitset over `papers` (bit i = papers[i]). The cheapest form: nothing is listed."""
        return list(filter(itemgetter(1), zip(self._subscribers, self._query_masks(papers), strict=True)))

    def match_groups(self, papers: Sequence[PaperText]) -> list[GroupMatch]:
        """One entry per distinct query that found at least one paper (papers in the given order)."""
        ids = [p.id for p in papers]
        size = len(papers)
        return [
            GroupMatch(self._subscribers[q], tuple(map(ids.__getitem__, _bits_to_positions(mask, size))))
            for q, mask in enumerate(self._query_masks(papers))
            if mask
        ]

    def match(self, papers: Sequence[PaperText]) -> dict[int, list[int]]:
        """Subscription id -> ids of the papers it matches, in the given order; no entry if none."""
        ids = [p.id for p in papers]
        size = len(papers)
        found = self._query_masks(papers)
        result: dict[int, list[int]] = {}
        for q, mask in enumerate(found):
            if mask:
                paper_ids = list(map(ids.__getitem__, _bits_to_positions(mask, size)))
                for sub_id in self._subscribers[q]:
                    result[sub_id] = paper_ids.copy()
        for sub_id, qs in self._repeated.items():
            union = 0
            for q in qs:
                union |= found[q]
            if union:
                result[sub_id] = list(map(ids.__getitem__, _bits_to_positions(union, size)))
        return result


def match(subscriptions: Iterable[Subscription], papers: Sequence[PaperText]) -> dict[int, list[int]]:
    """subscription id -> ids of the papers it matches (papers in the given order)."""
    return CompiledSubscriptions(subscriptions).match(papers)
