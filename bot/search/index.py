"""The derived full-text index: tantivy on disk, holding only what search needs, answering ids.

The store (SQLite) is the source of truth. This index is a copy of the searchable text of
every paper, kept in step with the store's change log (`paper_changes`, migration 006):

- `watermark` is the last change sequence number the index holds. It lives in a small file
  next to the index, written (atomically, by rename) only after the index commit it
  describes. A crash between the two leaves the file behind the index, never ahead: the
  next catch-up re-applies a few changes, and applying a change twice is harmless because a
  change is "drop this paper's document, then add the paper as the store has it now".
- Each process keeps its own index directory, so several processes on one database each
  catch up from the same log at their own pace (the bot catches up every minute, after each
  of its own batches, and at start).
- SQLite serializes writers, so change numbers become visible in order and "everything up
  to the watermark" is exact. On a server database whose sequences can commit out of order
  (PostgreSQL), a catch-up should re-read a short margin below its watermark (or number the
  changes at commit); applying a change twice is harmless, so re-reading costs nothing else.

Calls here block (tantivy does the work in Rust); the service runs them in a worker thread.
Documents: `id` (the papers row id), `title`, `authors`, `abstract` (stemmed text with
positions; title and abstract arrive already analyzed, see `IndexTerms`), `cat` (each category
and its archive, untokenized), `day` (announcement day as a day number, for `since` and
newest-first) and `code` (1 when the paper has a code link).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import tantivy

from bot.timeutil import date_from_db

FIELDS = ("title", "authors", "abstract")
# How much a word found in each field counts (the old FTS5 bm25 weights: title 10, authors 3, abstract 1).
FIELD_BOOSTS = {"title": 10.0, "authors": 3.0, "abstract": 1.0}
ANALYZER = "paper"
# Title and abstract reach tantivy as their index terms joined by spaces (`IndexTerms`); this
# tokenizer only splits them again, so each term keeps its position.
TERMS = "terms"
WATERMARK_FILE = "watermark.json"
# A rebuild's indexing memory (shared by its threads, released when it ends). Each thread
# flushes a segment when its share fills: at 512 MB a million papers make about four
# segments, fewer than tantivy's merge policy merges (8), so no single-threaded merge of the
# whole index is left for the end (it cost 10-13 s at a million, one core idle). A bigger
# heap makes fewer segments but indexing itself slower (2 GB: +20% CPU per paper, measured).
BULK_HEAP_BYTES = 512_000_000
BULK_MAX_THREADS = 8  # tantivy's limit on indexing threads
SCHEMA_VERSION = 2  # bump when the schema or the analyzer changes: the index is rebuilt
# Distinct words an IndexTerms remembers (~145 bytes each): a rebuild's (29 MB at most, freed
# when it ends) and the running bot's catch-ups' (3 MB). Past the limit the cache starts again.
REBUILD_TERMS_CACHE = 200_000
CATCH_UP_TERMS_CACHE = 20_000


def analyzer() -> tantivy.TextAnalyzer:
    """Words as letters and digits, lower-cased, accents folded, English (Snowball) stems."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZER = analyzer()
TERMS_ANALYZER = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


def stems(text: str) -> list[str]:
    """The index terms of a text, exactly as the index makes them."""
    return _ANALYZER.analyze(text)


class _AnalyzedWords(dict[str, str]):
    """Whitespace-separated word -> its index terms joined by spaces; analyzed on first use."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, word: str) -> str:
        if len(self) >= self.limit:
            self.clear()
        terms = self[word] = " ".join(_ANALYZER.analyze(word))
        return terms


class IndexTerms:
    """A text's index terms, space-separated, for the fields tantivy only splits again (`TERMS`).

    Stemming every token was 35-40% of a rebuild's CPU time (Snowball, in tantivy's threads),
    and most words of a million abstracts are words already seen: here each distinct word is
    analyzed once, and a repeated one costs a dictionary look-up. The terms and their positions
    are those of analyzing the whole text (`stems`): the analyzer works token by token, and a
    split at whitespace never splits a token, whitespace being neither letter nor digit; no
    term is empty or holds a space (tests check every code point). Not thread-safe for
    sharing: give each thread its own."""

    def __init__(self, limit: int) -> None:
        self._words = _AnalyzedWords(limit)
        self._terms_of_word = self._words.__getitem__

    def __call__(self, text: str) -> str:
        return " ".join(map(self._terms_of_word, text.split()))

    def __len__(self) -> int:
        return len(self._words)


def index_terms(text: str) -> str:
    """The reference for `IndexTerms`: the whole text analyzed at once."""
    return " ".join(_ANALYZER.analyze(text))


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", indexed=True, fast=True)
    for name in FIELDS:
        tokenizer = ANALYZER if name == "authors" else TERMS  # names rarely repeat: analyzed there
        builder.add_text_field(name, tokenizer_name=tokenizer, index_option="position")
    builder.add_text_field("cat", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("day", indexed=True, fast=True)
    builder.add_integer_field("code", indexed=True)
    return builder.build()


SCHEMA = build_schema()


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """What the index holds of one paper."""

    id: int
    title: str
    authors: Sequence[str]
    abstract: str
    categories: Sequence[str]
    announced: date | None
    has_code: bool

    def to_document(self) -> tantivy.Document:
        return tantivy.Document(
            id=self.id,
            title=index_terms(self.title),
            authors=", ".join(self.authors),
            abstract=index_terms(self.abstract),
            cat=category_terms(self.categories),
            day=self.announced.toordinal() if self.announced else 0,
            code=int(self.has_code),
        )


def category_terms(categories: Iterable[str]) -> list[str]:
    """The `cat` values of a paper: each category and its archive ('cs' finds every cs.* paper)."""
    terms: list[str] = []
    for category in categories:
        terms.append(category)
        archive = category.split(".", 1)[0]
        if archive != category:
            terms.append(archive)
    return list(dict.fromkeys(terms))


# A paper as the store reads it for the index: id, title, authors (JSON array), abstract,
# categories (JSON array), announced (ISO date text or None), has code (0/1).
IndexRow = tuple[int, str, str, str, str, str | None, int]

_CACHE_LIMIT = 50_000  # distinct category lists / days remembered by a RowDocuments


class RowDocuments:
    """The documents of store rows, with as little Python work per paper as a rebuild can afford.

    The same documents as `IndexDoc.to_document` gives for the decoded rows (a test holds
    them equal), built for a million papers without an IndexDoc, a date or two JSON decodes
    each:
    - title and abstract: their index terms through `IndexTerms` (each distinct word stemmed
      once per instance; keep one instance for many calls).
    - authors: the stored JSON array text itself. The tokenizer splits on everything that is
      not a letter or digit, so `["Ada Lovelace", "Bob"]` gives the words of "Ada Lovelace,
      Bob" at the same positions; only text with a JSON escape (a backslash) is decoded.
    - category lists and announcement days repeat from paper to paper: each distinct value
      is converted once (the caches are bounded)."""

    def __init__(self, terms_cache: int = CATCH_UP_TERMS_CACHE) -> None:
        self._categories: dict[str, list[str]] = {}
        self._days: dict[str | None, int] = {}
        self._terms = IndexTerms(terms_cache)

    def __call__(self, rows: Iterable[IndexRow]) -> list[tantivy.Document]:
        categories_cache, days_cache = self._categories, self._days
        if len(categories_cache) > _CACHE_LIMIT:
            categories_cache.clear()
        if len(days_cache) > _CACHE_LIMIT:
            days_cache.clear()
        from_dict, terms = tantivy.Document.from_dict, self._terms
        documents = []
        for paper_id, title, authors, abstract, categories, announced, has_code in rows:
            cats = categories_cache.get(categories)
            if cats is None:
                cats = categories_cache[categories] = category_terms(json.loads(categories))
            day = days_cache.get(announced)
            if day is None:
                announced_day = date_from_db(announced)
                day = days_cache[announced] = announced_day.toordinal() if announced_day else 0
            if "\\" in authors:
                authors = ", ".join(json.loads(authors))
            documents.append(from_dict(
                {"id": paper_id, "title": terms(title), "authors": authors, "abstract": terms(abstract),
                 "cat": cats, "day": day, "code": int(has_code)},
                SCHEMA,
            ))
        return documents


class IndexLockedError(RuntimeError):
    """Another process writes this index directory: each process needs its own."""


class SearchIndex:
    """One tantivy index directory with its watermark. Thread-safe for one writer at a time."""

    def __init__(self, path: Path | str, *, heap_bytes: int = 32_000_000, threads: int = 1):
        self.path = Path(path)
        self._heap = heap_bytes
        self._threads = threads
        self._lock = threading.Lock()
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self.watermark = 0

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> SearchIndex:
        """Open (or create) the index; an index of another schema version is started afresh.

        Processes starting together on one directory (two first starts, a `search` beside the
        bot) take turns here, so none wipes or half-writes what another is creating."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f".{self.path.name}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            meta = self._read_meta()
            if meta.get("schema") != SCHEMA_VERSION:
                self._wipe()
                meta = {"schema": SCHEMA_VERSION, "watermark": 0}
                self._write_meta(0)
            self._index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        self._index.register_tokenizer(ANALYZER, _ANALYZER)
        self._index.register_tokenizer(TERMS, TERMS_ANALYZER)
        self.watermark = int(meta.get("watermark", 0))
        return self

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.rollback()
                with contextlib.suppress(Exception):
                    writer.wait_merging_threads()
            self._index = None

    @property
    def index(self) -> tantivy.Index:
        if self._index is None:
            raise RuntimeError("the search index is not open")
        return self._index

    def _writer_handle(self, *, bulk: bool = False) -> tantivy.IndexWriter:
        if self._writer is None:
            # A rebuild gets a big heap and a thread per core; catch-ups a small one (memory).
            heap, threads = ((BULK_HEAP_BYTES, min(os.cpu_count() or 1, BULK_MAX_THREADS)) if bulk
                             else (self._heap, self._threads))
            try:
                self._writer = self.index.writer(heap, threads)
            except ValueError as error:
                if "lock" in str(error).lower():
                    raise IndexLockedError(
                        f"the search index {self.path} is in use by another process; give each "
                        "process its own [search] index_dir"
                    ) from error
                raise
        return self._writer

    def _read_meta(self) -> dict:
        try:
            return json.loads((self.path / WATERMARK_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _write_meta(self, watermark: int) -> None:
        """After the index commit it describes; rename makes it all-or-nothing."""
        temp = self.path / f"{WATERMARK_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temp, "w") as handle:
            json.dump({"schema": SCHEMA_VERSION, "watermark": watermark}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path / WATERMARK_FILE)

    def _wipe(self) -> None:
        for entry in self.path.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    # ------------------------------------------------------------------ writes

    def apply(
        self, documents: Iterable[tantivy.Document], changed_ids: Iterable[int], watermark: int,
        *, fresh: bool = False,
    ) -> int:
        """Replace the papers `changed_ids` by `documents` (those still in the store), commit, and
        move the watermark. `fresh`: the index holds none of them (a rebuild), skip the deletes."""
        with self._lock:
            writer = self._writer_handle()
            if not fresh:
                for paper_id in changed_ids:
                    writer.delete_documents_by_term("id", paper_id)
            added = 0
            for document in documents:
                writer.add_document(document)
                added += 1
            writer.commit()
            self.index.reload()
            self._write_meta(watermark)
            self.watermark = watermark
            return added

    def add_uncommitted(self, documents: Iterable[tantivy.Document]) -> int:
        """Add documents without committing (a rebuild commits once at the end)."""
        with self._lock:
            writer = self._writer_handle()
            added = 0
            for document in documents:
                writer.add_document(document)
                added += 1
            return added

    def commit(self, watermark: int) -> None:
        with self._lock:
            self._writer_handle().commit()
            self.index.reload()
            self._write_meta(watermark)
            self.watermark = watermark

    def clear(self) -> None:
        """Drop every document (committed) and reset the watermark: the start of a rebuild."""
        with self._lock:
            if self._writer is not None:  # the small catch-up writer: swap it for a bulk one
                self._writer.wait_merging_threads()
                self._writer = None
            writer = self._writer_handle(bulk=True)
            writer.delete_all_documents()
            writer.commit()
            self._write_meta(0)
            self.watermark = 0

    def wait_merges(self) -> None:
        """Let background merges finish, if any (a rebuild leaves a few large segments)."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()
            self.index.reload()

    # ------------------------------------------------------------------ reads

    def searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    def num_docs(self) -> int:
        return self.searcher().num_docs

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
