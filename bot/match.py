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
- Speed, for 100,000 subscriptions and 2,000 papers:
  - Subscriptions are grouped first by their text and then by their compiled meaning:
    'Transformers' and 'transformer' are one query. The work is per distinct query and
    per distinct term, not per subscription.
  - The day's postings are built once: for each stem, each occurrence as an int (paper,
    column, offset); the set of papers holding a stem is derived only for stems that
    some term uses.
  - A word's papers come from a set. A phrase starts from its rarest stem's
    occurrences; each step shifts them to the next stem and keeps those that land on it.
    The steps chain `map` and `filter` over sets, so they run in C.
  - A query's AND / OR / NOT / category / has-code are big-int bitsets over the paper
    positions. A query of a single word or phrase, the most common kind, skips the
    bitsets.
  - `CompiledSubscriptions.match_groups` gives one result per distinct query: the
    subscriptions that share it and its papers. Expand it to (subscription, paper) pairs
    only for what gets delivered. `match()` is the simple form, one list per
    subscription. Compile once and reuse the result for as long as the subscriptions
    stay the same.
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
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING

from bot.search.index import stems as analyze
from bot.search.query import SearchQuery, Term, fts_tokens, parse_query

if TYPE_CHECKING:
    from bot.merge import StoredPaper

COLUMNS = ("title", "authors", "abstract")
KINDS = ("query", "category", "author")

# A token occurrence as one int: paper position << 32 | column << 30 | token offset. Offsets
# stay far below 2**30, so `code + 1` is the next token of the same column of the same paper.
_DOC_SHIFT = 32
_COL_SHIFT = 30
_ANY_COLUMN = -1


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


# A compiled term: (column index or _ANY_COLUMN, stems as the index analyzes them, last stem is a prefix).
_Term = tuple[int, tuple[str, ...], bool]


# A parsed query with numbered terms: groups, excluded, author, categories, has_code, has arXiv ids.
_Parsed = tuple[tuple[tuple[int, ...], ...], tuple[int, ...], int | None, tuple[str, ...], bool, bool]


@dataclass(frozen=True, slots=True)
class _Query:
    groups: tuple[tuple[int, ...], ...]  # OR of AND-groups of term indexes; () = no words
    excluded: tuple[int, ...]
    author: int | None  # term index of the author filter
    categories: tuple[str, ...]  # any of these; () = any category
    has_code: bool


def _clean(text: str) -> str:
    """Text SQLite can bind: lone surrogates (which no stored paper can hold) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def tokenize(texts: Sequence[str]) -> list[tuple[str, ...]]:
    """Each text as the search index analyzes it: folded, unaccented, stemmed."""
    return [tuple(analyze(_clean(text))) for text in texts]


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


def _term_key(term: Term) -> tuple[str | None, str, bool]:
    # The text the engine analyzes for this term (bot.search.engine.term_query).
    return (term.column, " ".join(term.tokens), term.prefix)


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


_EMPTY: frozenset[int] = frozenset()
_TO_BINARY = bytes.maketrans(b"\x00\x01", b"01")
_FROM_BINARY = bytes.maketrans(b"01", b"\x00\x01")


class _Day:
    """The day's papers as the search index analyzes them: postings per stem, sets cached."""

    def __init__(self, papers: Sequence[PaperText]):
        self.size = len(papers)
        postings: dict[str, list[int]] = {}
        for position, p in enumerate(papers):
            # authors joined as bot.search.index.IndexDoc joins them
            for column, text in enumerate((p.title, ", ".join(p.authors), p.abstract)):
                base = (position << _DOC_SHIFT) | (column << _COL_SHIFT)
                for offset, stem in enumerate(analyze(_clean(text))):
                    found = postings.get(stem)
                    if found is None:
                        postings[stem] = [base | offset]
                    else:
                        found.append(base | offset)
        self._raw = postings
        self._vocabulary = sorted(self._raw)
        self._codes: dict[tuple[str, bool], frozenset[int]] = {}
        self._docs: dict[tuple[str, bool, int], frozenset[int]] = {}
        self._expansions: dict[str, list[str]] = {}

    def has(self, stem: str) -> bool:
        return stem in self._raw

    def expand(self, prefix: str) -> list[str]:
        """The day's stems that start with prefix (how the engine reads `prefix*`)."""
        stems = self._expansions.get(prefix)
        if stems is None:
            stems = []
            i = bisect_left(self._vocabulary, prefix)
            while i < len(self._vocabulary) and self._vocabulary[i].startswith(prefix):
                stems.append(self._vocabulary[i])
                i += 1
            self._expansions[prefix] = stems
        return stems

    def codes(self, stem: str, prefix: bool) -> frozenset[int]:
        """Every occurrence of the stem (or of the stems it starts)."""
        key = (stem, prefix)
        found = self._codes.get(key)
        if found is None:
            stems = self.expand(stem) if prefix else (stem,) if stem in self._raw else ()
            found = self._codes[key] = frozenset(chain.from_iterable(self._raw[s] for s in stems))
        return found

    def docs(self, stem: str, prefix: bool, column: int) -> frozenset[int]:
        """Positions of the papers holding the stem (or a stem it starts), in one column or any."""
        key = (stem, prefix, column)
        found = self._docs.get(key)
        if found is None:
            if column != _ANY_COLUMN:
                codes = self.codes(stem, prefix)
                found = frozenset(c >> _DOC_SHIFT for c in codes if (c >> _COL_SHIFT) & 3 == column)
            elif prefix:
                found = _EMPTY.union(*(self.docs(full, False, column) for full in self.expand(stem)))
            elif stem in self._raw:
                found = frozenset(map(_DOC_SHIFT.__rrshift__, self._raw[stem]))
            else:
                found = _EMPTY
            self._docs[key] = found
        return found

    def term_docs(self, term: _Term) -> frozenset[int]:
        column, stems, prefix = term
        last = len(stems) - 1
        # A stem absent from the day (or a prefix nothing starts with) rules the term out cheaply.
        present = self.expand(stems[last]) if prefix else self.has(stems[last])
        if not present or not all(map(self.has, stems[:last])):
            return _EMPTY
        if last == 0:
            return self.docs(stems[0], prefix, column)
        # A phrase: positions p with the k-th stem at p + k for every k. Walk from the rarest
        # stem's occurrences, moving each by the distance to the next stem and keeping those
        # that land on it: map and filter run in C. A move that would cross the start of a
        # column lands on no real occurrence, so it is dropped too.
        sets = [self.codes(stem, prefix and k == last) for k, stem in enumerate(stems)]
        order = sorted(range(len(sets)), key=[len(s) for s in sets].__getitem__)
        at = order[0]
        walk: Iterable[int] = sets[at]
        for k in order[1:]:
            walk = filter(sets[k].__contains__, map((k - at).__add__, walk))
            at = k
        if column != _ANY_COLUMN:
            walk = (p for p in walk if (p >> _COL_SHIFT) & 3 == column)
        return frozenset(map(_DOC_SHIFT.__rrshift__, walk))  # p >> _DOC_SHIFT: its paper

    def mask_of(self, positions: Iterable[int]) -> int:
        """A bitset of paper positions (bit i = the i-th paper), built without a Python loop per bit."""
        flags = bytearray(self.size)
        deque(map(flags.__setitem__, positions, repeat(1)), maxlen=0)
        return int(flags.translate(_TO_BINARY)[::-1], 2) if flags else 0


class CompiledSubscriptions:
    """Subscriptions parsed, tokenized and grouped once; match them against any day's papers."""

    def __init__(self, subscriptions: Iterable[Subscription]):
        by_text: dict[tuple[str, str, bool], list[int]] = {}
        for sub in subscriptions:
            by_text.setdefault((sub.kind, sub.value, sub.has_code), []).append(sub.id)

        # Each query parsed, its terms replaced by numbers into term_keys: plain tuples, so the
        # tens of thousands of parsed queries do not stay alive (nor keep the GC busy).
        parsed: list[tuple[_Parsed, list[int]]] = []
        invalid: list[int] = []
        term_keys: dict[tuple[str | None, str, bool], int] = {}

        def number(term: Term) -> int:
            return term_keys.setdefault(_term_key(term), len(term_keys))

        for (kind, value, has_code), ids in by_text.items():
            if kind not in KINDS:
                invalid += ids
                continue
            query = _search_query(kind, value, has_code)
            if query is None:
                continue
            author = _author_term(query)
            parsed.append(((
                tuple(tuple(map(number, group)) for group in query.groups),
                tuple(map(number, query.excluded)),
                number(author) if author else None,
                query.filters.categories,
                query.filters.has_code,
                bool(query.arxiv_ids),
            ), ids))

        stems_of = tokenize([text for _column, text, _prefix in term_keys])
        terms: dict[_Term, int] = {}
        term_index: list[int | None] = []  # term number -> compiled term, None when it has no token
        for (column, _text, prefix), stems in zip(term_keys, stems_of, strict=True):
            if not stems:
                term_index.append(None)
                continue
            compiled = (COLUMNS.index(column) if column else _ANY_COLUMN, stems, prefix)
            term_index.append(terms.setdefault(compiled, len(terms)))

        queries: dict[_Query, list[int]] = {}
        for raw, ids in parsed:
            compiled = self._compile(raw, term_index)
            if compiled is not None:
                queries.setdefault(compiled, []).extend(ids)

        self._terms: tuple[_Term, ...] = tuple(terms)
        self._queries: tuple[_Query, ...] = tuple(queries)
        self._subscribers: tuple[tuple[int, ...], ...] = tuple(tuple(ids) for ids in queries.values())
        seen: dict[int, list[int]] = {}
        for q, ids in enumerate(self._subscribers):
            for sub_id in ids:
                seen.setdefault(sub_id, []).append(q)
        # An id given more than once (with different values) gets the union of its queries.
        self._repeated: dict[int, tuple[int, ...]] = {i: tuple(qs) for i, qs in seen.items() if len(qs) > 1}
        self.invalid: tuple[int, ...] = tuple(invalid)

    @staticmethod
    def _compile(raw: _Parsed, term_index: list[int | None]) -> _Query | None:
        raw_groups, raw_excluded, raw_author, categories, has_code, has_ids = raw
        groups: set[tuple[int, ...]] = set()
        for group in raw_groups:
            members = {term_index[t] for t in group}
            if None not in members:  # a term with no token matches nothing: so does its group
                groups.add(tuple(sorted(t for t in members if t is not None)))
        if raw_groups and not groups:
            return None
        author = None
        if raw_author is not None:
            author = term_index[raw_author]
            if author is None:
                return None
        # As SearchQuery._wrap: exclusions apply only to a query with words.
        excluded = {term_index[t] for t in raw_excluded} if raw_groups else set()
        if not groups and author is None and (has_ids or not (categories or has_code)):
            return None  # no words and nothing to list: matches nothing (since is ignored)
        return _Query(
            groups=tuple(sorted(groups)),
            excluded=tuple(sorted(t for t in excluded if t is not None)),
            author=author,
            categories=tuple(sorted(set(categories))),
            has_code=has_code,
        )

    @property
    def subscription_count(self) -> int:
        return sum(len(ids) for ids in self._subscribers)

    @property
    def query_count(self) -> int:
        """Distinct compiled queries: the unit of matching work."""
        return len(self._queries)

    @property
    def term_count(self) -> int:
        return len(self._terms)

    def _query_positions(self, papers: Sequence[PaperText]) -> list[Sequence[int]]:
        """For each distinct query, the positions of the papers it finds, ascending."""
        if not papers or not self._queries:
            return [()] * len(self._queries)
        day = _Day(papers)
        term_docs = [day.term_docs(term) for term in self._terms]
        term_masks: list[int | None] = [None] * len(self._terms)

        def term_mask(t: int) -> int:
            mask = term_masks[t]
            if mask is None:
                mask = term_masks[t] = day.mask_of(term_docs[t])
            return mask

        everything = (1 << len(papers)) - 1
        code_mask = day.mask_of(i for i, paper in enumerate(papers) if paper.has_code)
        by_category: dict[str, list[int]] = {}
        for position, paper in enumerate(papers):
            for category in paper.categories:
                by_category.setdefault(category, []).append(position)
        filter_masks: dict[tuple[str, ...], int] = {}

        def category_mask(wanted: tuple[str, ...]) -> int:
            mask = filter_masks.get(wanted)
            if mask is None:
                # 'cs' covers 'cs' and every 'cs.*', as the store's category clause does.
                mask = filter_masks[wanted] = day.mask_of(chain.from_iterable(
                    positions for category, positions in by_category.items()
                    if any(category == want or ("." not in want and category.startswith(want + "."))
                           for want in wanted)
                ))
            return mask

        results: list[Sequence[int]] = []
        for query in self._queries:
            groups = query.groups
            if not query.excluded and not query.categories and not query.has_code:
                # One word, one phrase or one author: most queries, and no bitsets needed.
                if len(groups) == 1 and len(groups[0]) == 1 and query.author is None:
                    results.append(sorted(term_docs[groups[0][0]]))
                    continue
                if not groups and query.author is not None:
                    results.append(sorted(term_docs[query.author]))
                    continue
            mask = 0
            for group in groups:
                if all(term_docs[t] for t in group):
                    found = everything
                    for t in group:
                        found &= term_mask(t)
                    mask |= found
            if query.author is not None:
                mask = (mask if groups else everything) & term_mask(query.author)
            elif not groups:
                mask = everything  # filters only
            if mask and query.excluded:
                for t in query.excluded:
                    if term_docs[t]:
                        mask &= ~term_mask(t)
            if mask and query.categories:
                mask &= category_mask(query.categories)
            if mask and query.has_code:
                mask &= code_mask
            results.append(_bits_to_positions(mask, len(papers)) if mask else ())
        return results

    def match_groups(self, papers: Sequence[PaperText]) -> list[GroupMatch]:
        """One entry per distinct query that found at least one paper (papers in the given order)."""
        ids = [p.id for p in papers]
        return [
            GroupMatch(self._subscribers[q], tuple(map(ids.__getitem__, positions)))
            for q, positions in enumerate(self._query_positions(papers))
            if positions
        ]

    def match(self, papers: Sequence[PaperText]) -> dict[int, list[int]]:
        """Subscription id -> ids of the papers it matches, in the given order; no entry if none."""
        ids = [p.id for p in papers]
        found = self._query_positions(papers)
        result: dict[int, list[int]] = {}
        for q, positions in enumerate(found):
            if positions:
                paper_ids = list(map(ids.__getitem__, positions))
                for sub_id in self._subscribers[q]:
                    result[sub_id] = paper_ids.copy()
        for sub_id, qs in self._repeated.items():
            union = sorted(set(chain.from_iterable(found[q] for q in qs)))
            if union:
                result[sub_id] = list(map(ids.__getitem__, union))
        return result


def match(subscriptions: Iterable[Subscription], papers: Sequence[PaperText]) -> dict[int, list[int]]:
    """subscription id -> ids of the papers it matches (papers in the given order)."""
    return CompiledSubscriptions(subscriptions).match(papers)
