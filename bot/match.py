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
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import accumulate, chain, compress, pairwise, repeat
from operator import or_
from typing import TYPE_CHECKING

from bot.search.index import IndexTerms
from bot.search.index import stems as analyze
from bot.search.query import SearchQuery, Term, fts_tokens, parse_query

if TYPE_CHECKING:
    from bot.merge import StoredPaper

COLUMNS = ("title", "authors", "abstract")
KINDS = ("query", "category", "author")

_ANY_COLUMN = -1
_SEP = "\x00"  # joins a column's stems for the phrase check: no stem holds it
DAY_WORDS = 50_000  # distinct words a day's analysis remembers (~145 bytes each; past it, starts again)


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


def _words(terms: IndexTerms, text: str) -> list[str]:
    """`_analyze(text)`, each distinct word analyzed once (as the search index is fed)."""
    try:
        return terms(text).split()
    except UnicodeEncodeError:
        return _analyze(text)


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


# Compiled forms are strings, and a day's program is one int array: the compiled subscriptions
# stay alive for the process's life, and strings, bytes and flat arrays are nothing (or one
# object) for the garbage collector to walk, where 45,000 query objects with their tuples are
# 260,000 objects that every full collection walks again (a stall of the loop, whichever
# thread it runs on).
#
# A term code: its column + 1 (0 = any), 1 if its last stem is a prefix, then its stems joined by NUL.
# A query code: groups (terms joined by _AND, groups by _OR), excluded terms (joined by _AND), the
# author term, categories (joined by _AND) and "1" for has-code, joined by _PART.
_PART, _OR, _AND = "\x02", "\x03", "\x04"


def _term_code(column: int, stems: Sequence[str], prefix: bool) -> str:
    return f"{column + 1}{prefix:d}{_SEP.join(stems)}"


def _decode_term(code: str) -> _Term:
    return (int(code[0]) - 1, tuple(code[2:].split(_SEP)), code[1] == "1")


class _Compiler:
    """Compiles subscription texts to query codes, each distinct term analyzed once."""

    def __init__(self) -> None:
        self._terms: dict[tuple[str | None, str, bool], str | None] = {}

    def term(self, term: Term) -> str | None:
        """The term's code as the engine reads it (bot.search.engine.term_query); None: no token."""
        key = (term.column, " ".join(term.tokens), term.prefix)
        if key in self._terms:
            return self._terms[key]
        stems = _analyze(key[1])
        code = _term_code(COLUMNS.index(term.column) if term.column else _ANY_COLUMN, stems, term.prefix) \
            if stems else None
        self._terms[key] = code
        return code

    def query(self, kind: str, value: str, has_code: bool) -> str | None:
        """The query's code; None when it matches nothing; _INVALID for an unknown kind."""
        if kind not in KINDS:
            return _INVALID
        query = _search_query(kind, value, has_code)
        if query is None:
            return None
        groups: set[str] = set()
        for group in query.groups:
            members = [self.term(t) for t in group]
            if None not in members:  # a term with no token matches nothing: so does its group
                groups.add(_AND.join(sorted(set(members))))  # type: ignore[arg-type]
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
        return _PART.join((
            _OR.join(sorted(groups)),
            _AND.join(sorted(t for t in excluded if t is not None)),
            author or "",
            _AND.join(sorted(set(categories))),
            "1" if query.filters.has_code else "",
        ))


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
        terms = IndexTerms(DAY_WORDS)  # a day's abstracts share most of their words
        for position, p in enumerate(papers):
            # authors joined as bot.search.index.IndexDoc joins them
            columns = [_words(terms, p.title), _analyze(", ".join(p.authors)), _words(terms, p.abstract)]
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


class CompiledSubscriptions:
    """Subscriptions parsed, tokenized and grouped once; match them against any day's papers.

    `reuse`: an earlier CompiledSubscriptions whose compiled texts are taken as they are, so
    only texts it did not hold are parsed (`parsed_now` says how many).

    Held as strings and flat arrays (see _PART): the program is, per distinct query, its
    number of groups, then each group's length and term numbers, the number of excluded
    terms and theirs, the author term (-1: none), the category set (-1: any), and 1 for has-code.
    """

    def __init__(self, subscriptions: Iterable[Subscription], *, reuse: CompiledSubscriptions | None = None):
        # Keyed by one string per text: strings are not tracked by the garbage collector.
        by_text: dict[str, list[int]] = {}
        for sub in subscriptions:
            by_text.setdefault(f"{sub.has_code:d}{sub.kind}{_SEP}{sub.value}", []).append(sub.id)

        known = reuse._texts if reuse is not None else {}
        compiler = _Compiler()
        texts: dict[str, str | None] = {}
        parsed_now = 0
        queries: dict[str, list[int]] = {}
        invalid: list[int] = []
        for key, ids in by_text.items():
            if key in known:
                code = known[key]
            else:
                kind, value = key[1:].split(_SEP, 1)
                code = compiler.query(kind, value, key[0] == "1")
                parsed_now += 1
            texts[key] = code
            if code is None:
                continue
            if code == _INVALID:
                invalid += ids
            else:
                queries.setdefault(code, []).extend(ids)
        del by_text

        # Term numbers and category sets carry over from `reuse` (so do the programs of its
        # queries) unless most texts are new: then everything starts afresh.
        reused = reuse is not None and parsed_now * 4 < len(texts)
        if reused:
            terms, term_numbers = list(reuse._terms), dict(reuse._term_numbers)  # type: ignore[union-attr]
            filters, filter_numbers = list(reuse._filters), dict(reuse._filter_numbers)  # type: ignore[union-attr]
            known_programs = reuse._programs  # type: ignore[union-attr]
        else:
            terms, term_numbers, filters, filter_numbers, known_programs = [], {}, [], {}, {}
        first_new_term = len(terms)

        def term_number(code: str) -> int:
            number = term_numbers.get(code)
            if number is None:
                number = term_numbers[code] = len(terms)
                terms.append(code)
            return number

        programs: dict[str, bytes] = {}
        for code in queries:
            program = known_programs.get(code)
            if program is None:
                groups, excluded, author, categories, has_code = code.split(_PART)
                ints = [groups.count(_OR) + 1 if groups else 0]
                for group in groups.split(_OR) if groups else ():
                    members = group.split(_AND)
                    ints.append(len(members))
                    ints += map(term_number, members)
                excluded_terms = excluded.split(_AND) if excluded else []
                ints.append(len(excluded_terms))
                ints += map(term_number, excluded_terms)
                ints.append(term_number(author) if author else -1)
                if categories:
                    number = filter_numbers.get(categories)
                    if number is None:
                        number = filter_numbers[categories] = len(filters)
                        filters.append(categories)
                    ints.append(number)
                else:
                    ints.append(-1)
                ints.append(1 if has_code else 0)
                program = array("i", ints).tobytes()
            programs[code] = program

        self._texts = texts
        self.parsed_now = parsed_now
        self._terms, self._term_numbers = terms, term_numbers
        self._filters, self._filter_numbers = filters, filter_numbers
        self._programs = programs
        self._program = array("i")
        self._program.frombytes(b"".join(programs.values()))
        self._query_total = len(programs)
        self._ids = array("q", chain.from_iterable(queries.values()))
        self._starts = array("q", accumulate(map(len, queries.values()), initial=0))
        del queries

        # The stem pairs of every phrase, indexed for the day. Reused ones are kept (a pair no
        # longer used costs only its lookups).
        pairs: set[tuple[str, str]] = set()
        for code in terms[first_new_term:]:
            _column, stems, prefix = _decode_term(code)
            if len(stems) > 1:
                fixed = stems[:-1] if prefix else stems
                pairs.update(pairwise(fixed))
        self._pairs = reuse._pairs.union(pairs) if reused else frozenset(pairs)  # type: ignore[union-attr]

        # An id given more than once (with different values) gets the union of its queries.
        self._repeated: dict[int, list[int]] = {}
        if len(set(self._ids)) < len(self._ids):
            seen: dict[int, list[int]] = {}
            starts = self._starts
            for q in range(self._query_total):
                for sub_id in self._ids[starts[q]:starts[q + 1]]:
                    seen.setdefault(sub_id, []).append(q)
            self._repeated = {i: qs for i, qs in seen.items() if len(qs) > 1}
        self.invalid: tuple[int, ...] = tuple(invalid)

    def _subscribers(self, q: int) -> tuple[int, ...]:
        return tuple(self._ids[self._starts[q]:self._starts[q + 1]])

    @property
    def subscription_count(self) -> int:
        return len(self._ids)

    @property
    def query_count(self) -> int:
        """Distinct compiled queries: the unit of matching work."""
        return self._query_total

    @property
    def term_count(self) -> int:
        """Distinct terms of the current queries."""
        used: set[int] = set()
        program, i = self._program.tolist(), 0
        for _ in range(self._query_total):
            groups = program[i]
            i += 1
            for _group in range(groups):
                size = program[i]
                used.update(program[i + 1:i + 1 + size])
                i += size + 1
            excluded = program[i]
            used.update(program[i + 1:i + 1 + excluded])
            i += excluded + 1
            if program[i] >= 0:
                used.add(program[i])
            i += 3
        return len(used)

    def _query_masks(self, papers: Sequence[PaperText]) -> list[int]:
        """For each distinct query, the bitset of the papers it finds (bit i = papers[i])."""
        if not papers or not self._query_total:
            return [0] * self._query_total
        day = _Day(papers, self._pairs)
        everything = day.everything
        terms = self._terms
        term_masks: list[int | None] = [None] * len(terms)

        def term_mask(number: int) -> int:
            mask = term_masks[number]
            if mask is None:
                mask = term_masks[number] = day.term_mask(_decode_term(terms[number]))
            return mask

        code_mask = day.mask_of([i for i, paper in enumerate(papers) if paper.has_code])
        by_category: dict[str, list[int]] = {}
        for position, paper in enumerate(papers):
            for category in paper.categories:
                by_category.setdefault(category, []).append(position)
        filter_masks: list[int | None] = [None] * len(self._filters)

        def category_mask(number: int) -> int:
            mask = filter_masks[number]
            if mask is None:
                wanted = self._filters[number].split(_AND)
                # 'cs' covers 'cs' and every 'cs.*', as the store's category clause does.
                mask = filter_masks[number] = day.mask_of(list(set(chain.from_iterable(
                    positions for category, positions in by_category.items()
                    if any(category == want or ("." not in want and category.startswith(want + "."))
                           for want in wanted)
                ))))
            return mask

        program, i = self._program.tolist(), 0
        results: list[int] = []
        for _ in range(self._query_total):
            groups = program[i]
            i += 1
            if groups == 1 and program[i] == 1:
                mask = term_mask(program[i + 1])  # one word or one phrase: most queries
                i += 2
            else:
                mask = 0
                for _group in range(groups):
                    size = program[i]
                    found = everything
                    for number in program[i + 1:i + 1 + size]:
                        found &= term_mask(number)
                        if not found:
                            break
                    mask |= found
                    i += size + 1
            excluded = program[i]
            first_excluded = i + 1
            i += excluded + 1
            author, categories, has_code = program[i], program[i + 1], program[i + 2]
            i += 3
            if author >= 0:
                mask = (mask if groups else everything) & term_mask(author)
            elif not groups:
                mask = everything  # filters only
            if mask and excluded:
                for number in program[first_excluded:first_excluded + excluded]:
                    mask &= ~term_mask(number)
            if mask and categories >= 0:
                mask &= category_mask(categories)
            if mask and has_code:
                mask &= code_mask
            results.append(mask)
        return results

    def match_masks(self, papers: Sequence[PaperText]) -> list[GroupMask]:
        """One entry per distinct query that found at least one paper: its subscriptions and a
        bitset over `papers` (bit i = papers[i]). The cheapest form: nothing is listed."""
        return [(self._subscribers(q), mask) for q, mask in enumerate(self._query_masks(papers)) if mask]

    def match_groups(self, papers: Sequence[PaperText]) -> list[GroupMatch]:
        """One entry per distinct query that found at least one paper (papers in the given order)."""
        ids = [p.id for p in papers]
        size = len(papers)
        return [
            GroupMatch(self._subscribers(q), tuple(map(ids.__getitem__, _bits_to_positions(mask, size))))
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
                for sub_id in self._ids[self._starts[q]:self._starts[q + 1]]:
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
