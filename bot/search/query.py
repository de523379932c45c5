"""User text -> a safe full-text query. Pure: no I/O.

Any text is a valid query. Words are reduced to the characters SQLite's
`unicode61` tokenizer keeps (letters and digits), then quoted, so FTS5
operators typed by a user (`AND`, `NEAR(`, `*`, `:`, brackets) are read as
words and never as syntax. A small, forgiving syntax sits on top:

- `"exact phrase"`, `word*` (prefix, 3+ letters), `-word` or `-"phrase"` (exclude),
  `a OR b`;
- `title:`, `author:` / `au:`, `abstract:` / `abs:` limit a word or phrase to a field;
  `cat:cs.LG` filters by category;
- arXiv ids (`2405.12345`, `arXiv:2405.12345v2`, abstract or PDF URLs) find that paper;
- hyphenated words (`self-supervised`) match with or without the hyphen.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

MAX_TERMS = 24  # enough for a half-remembered title; bounds the work a query can cause
MAX_QUERY_CHARS = 1000
MIN_PREFIX_CHARS = 3

_ARXIV_ID = re.compile(
    r"(?:arxiv:|(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/)?"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?(?:\.pdf)?",
    re.IGNORECASE,
)
_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z\-]*(?:\.[A-Za-z\-]{2,})?$")
_FIELD_ALIASES = {
    "title": "title",
    "ti": "title",
    "author": "authors",
    "authors": "authors",
    "au": "authors",
    "by": "authors",
    "abstract": "abstract",
    "abs": "abstract",
}
_CATEGORY_FIELDS = {"cat", "category"}


def fts_tokens(text: str) -> list[str]:
    """Split like SQLite's unicode61 tokenizer: runs of letters, digits (and private-use
    characters), lower-cased; everything else, combining marks included, separates. The text
    is NFC-normalized first, as the stored papers are, so a decomposed 'ö' stays one letter."""
    tokens: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category[0] in "LN" or category == "Co":
            current.append(char)
        elif current:
            tokens.append("".join(current).lower())
            current = []
    if current:
        tokens.append("".join(current).lower())
    return tokens


@dataclass(frozen=True, slots=True)
class SearchFilters:
    categories: tuple[str, ...] = ()  # any of these; an archive ('cs') means all of it
    author: str | None = None
    since: date | None = None
    has_code: bool = False


@dataclass(frozen=True, slots=True)
class Term:
    tokens: tuple[str, ...]  # one token, or several for a phrase
    column: str | None = None
    prefix: bool = False
    negated: bool = False

    def fts(self) -> str:
        body = " ".join(self.tokens).replace('"', '""')
        expr = f'"{body}"' + ("*" if self.prefix else "")
        return f"{self.column} : {expr}" if self.column else expr

    def display(self) -> str:
        text = " ".join(self.tokens)
        text = f'"{text}"' if len(self.tokens) > 1 else text
        return ("-" if self.negated else "") + text + ("*" if self.prefix else "")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query: FTS expressions that are always valid, plus filters."""

    text: str
    groups: tuple[tuple[Term, ...], ...] = ()  # OR of AND-groups of positive terms
    excluded: tuple[Term, ...] = ()
    arxiv_ids: tuple[str, ...] = ()
    filters: SearchFilters = field(default_factory=SearchFilters)
    notes: tuple[str, ...] = ()
    category_like_words: tuple[str, ...] = ()  # bare words that look like arXiv categories

    @property
    def has_text(self) -> bool:
        return bool(self.groups) or self.filters.author is not None

    @property
    def is_empty(self) -> bool:
        return not self.has_text and not self.arxiv_ids and self.filters == SearchFilters()

    def _author_expr(self) -> str | None:
        if not self.filters.author:
            return None
        tokens = fts_tokens(self.filters.author)
        if not tokens:
            return None
        return Term(tuple(tokens), column="authors").fts()

    def _wrap(self, core: str | None) -> str | None:
        parts = [p for p in (core, self._author_expr()) if p]
        if not parts:
            return None
        expr = parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)
        if self.excluded:
            expr = f"({expr}) NOT ({' OR '.join(t.fts() for t in self.excluded)})"
        return expr

    def match_all(self) -> str | None:
        """FTS5 expression: every word of some OR-group (the strict reading)."""
        if not self.groups:
            return self._wrap(None)
        ors = [" AND ".join(t.fts() for t in group) for group in self.groups]
        if len(ors) == 1:
            return self._wrap(ors[0])
        return self._wrap(" OR ".join(f"({o})" for o in ors))

    def title_phrase(self) -> str | None:
        """The words as one phrase in the title, for a query of 3+ plain words in one group."""
        if len(self.groups) != 1 or len(self.groups[0]) < 3:
            return None
        terms = self.groups[0]
        if any(t.column or t.prefix for t in terms):
            return None
        tokens = tuple(token for t in terms for token in t.tokens)
        return self._wrap(Term(tokens, column="title").fts())

    def match_any(self) -> str | None:
        """FTS5 expression: any word at all, for when the strict reading finds too little."""
        terms = [t for group in self.groups for t in group]
        if len(terms) < 2:
            return None
        return self._wrap(" OR ".join(t.fts() for t in terms))

    def describe(self) -> str:
        words = " OR ".join(" ".join(t.display() for t in g) for g in self.groups)
        bits = [words] if words else []
        bits += [t.display() for t in self.excluded]
        if self.filters.author:
            bits.append(f"author:{self.filters.author}")
        bits += [f"cat:{c}" for c in self.filters.categories]
        if self.filters.since:
            bits.append(f"since {self.filters.since.isoformat()}")
        if self.filters.has_code:
            bits.append("with code")
        bits += list(self.arxiv_ids)
        return " ".join(bits)


_LEXER = re.compile(
    r'(?P<neg>-)?(?:(?P<field>[A-Za-z]+):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+))'
)


def _normalize_category(value: str) -> str | None:
    value = value.strip()
    if not _CATEGORY.match(value):
        return None
    archive, _, subject = value.partition(".")
    archive = archive.lower()
    if not subject:
        return archive
    # cs.LG, math.AG... keep arXiv's casing: archive lower, subject as arXiv writes it
    return f"{archive}.{subject.upper() if len(subject) == 2 else subject}"


def parse_query(
    text: str,
    *,
    category: str | list[str] | None = None,
    author: str | None = None,
    since_days: int | None = None,
    has_code: bool = False,
    today: date | None = None,
) -> SearchQuery:
    """Read free text (and the slash-command options) into a SearchQuery. Never raises."""
    notes: list[str] = []
    text = text or ""
    if len(text) > MAX_QUERY_CHARS:
        notes.append(f"only the first {MAX_QUERY_CHARS:,} characters of the query were used")
    body = text[:MAX_QUERY_CHARS]

    categories: list[str] = []
    for value in [category] if isinstance(category, str) else (category or []):
        normalized = _normalize_category(value) if value else None
        if normalized:
            categories.append(normalized)
        elif value:
            notes.append(f"{value!r} is not an arXiv category; ignored")
    author_filter = " ".join(author.split()) if author else None
    if author_filter is not None and not fts_tokens(author_filter):
        notes.append(f"{author_filter[:40]!r} has no letters or digits to match an author; ignored")
        author_filter = None

    groups: list[list[Term]] = [[]]
    excluded: list[Term] = []
    arxiv_ids: list[str] = []
    category_like: list[str] = []
    count = 0
    dropped = 0

    for match in _LEXER.finditer(body):
        negated = bool(match.group("neg"))
        field_name = (match.group("field") or "").lower()
        phrase = match.group("phrase")
        word = match.group("word")
        raw = phrase if phrase is not None else word or ""

        if field_name in _CATEGORY_FIELDS:
            normalized = _normalize_category(raw)
            if normalized:
                categories.append(normalized)
            else:
                notes.append(f"{raw!r} is not an arXiv category; ignored")
            continue
        column = _FIELD_ALIASES.get(field_name)
        if field_name and column is None:
            # `foo:bar` where foo is no field we know: both are plain words
            raw = f"{field_name} {raw}"

        if phrase is None and not negated:
            id_match = _ARXIV_ID.fullmatch(match.group(0).rstrip(".,;)"))
            if id_match:
                arxiv_ids.append(id_match.group("id"))
                continue
        if phrase is None and word is not None and not field_name:
            if word == "OR" and not negated:
                if groups[-1]:
                    groups.append([])
                continue
            if _CATEGORY.match(word) and "." in word and _normalize_category(word):
                category_like.append(word)

        prefix = phrase is None and raw.endswith("*")
        tokens = fts_tokens(raw)
        if not tokens:
            continue
        if prefix and (len(tokens) > 1 or len(tokens[-1]) < MIN_PREFIX_CHARS):
            prefix = False
        if count >= MAX_TERMS:
            dropped += 1
            continue
        count += 1
        term = Term(tuple(tokens), column=column, prefix=prefix, negated=negated)
        (excluded if negated else groups[-1]).append(term)

    if dropped:
        notes.append(f"only the first {MAX_TERMS} words were searched")
    clean_groups = tuple(tuple(g) for g in groups if g)
    if excluded and not clean_groups and author_filter is None:
        notes.append("a query of only excluded words matches nothing to exclude from; ignored them")
        excluded = []

    since = None
    if since_days is not None and since_days > 0:
        since = (today or date.today()) - timedelta(days=since_days)

    return SearchQuery(
        text=text,
        groups=clean_groups,
        excluded=tuple(excluded),
        arxiv_ids=tuple(dict.fromkeys(arxiv_ids)),
        filters=SearchFilters(
            categories=tuple(dict.fromkeys(categories)),
            author=author_filter,
            since=since,
            has_code=has_code,
        ),
        notes=tuple(notes),
        category_like_words=tuple(category_like),
    )
