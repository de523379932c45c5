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
positions), `cat` (each category and its archive, untokenized), `day` (announcement day as
a day number, for `since` and newest-first) and `code` (1 when the paper has a code link).
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

FIELDS = ("title", "authors", "abstract")
# How much a word found in each field counts (the old FTS5 bm25 weights: title 10, authors 3, abstract 1).
FIELD_BOOSTS = {"title": 10.0, "authors": 3.0, "abstract": 1.0}
ANALYZER = "paper"
WATERMARK_FILE = "watermark.json"
BULK_HEAP_BYTES = 256_000_000  # a rebuild's indexing memory, released when it ends
SCHEMA_VERSION = 1  # bump when the schema or the analyzer changes: the index is rebuilt


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


def stems(text: str) -> list[str]:
    """The index terms of a text, exactly as the index makes them."""
    return _ANALYZER.analyze(text)


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", indexed=True, fast=True)
    for name in FIELDS:
        builder.add_text_field(name, tokenizer_name=ANALYZER, index_option="position")
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
        cats: list[str] = []
        for category in self.categories:
            cats.append(category)
            archive = category.split(".", 1)[0]
            if archive != category:
                cats.append(archive)  # 'cs' finds every cs.* paper
        return tantivy.Document(
            id=self.id,
            title=self.title,
            authors=", ".join(self.authors),
            abstract=self.abstract,
            cat=list(dict.fromkeys(cats)),
            day=self.announced.toordinal() if self.announced else 0,
            code=int(self.has_code),
        )


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
            heap, threads = (BULK_HEAP_BYTES, os.cpu_count() or 1) if bulk else (self._heap, self._threads)
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
        self, docs: Iterable[IndexDoc], changed_ids: Iterable[int], watermark: int,
        *, fresh: bool = False,
    ) -> int:
        """Replace the papers `changed_ids` by `docs` (those still in the store), commit, and
        move the watermark. `fresh`: the index holds none of them (a rebuild), skip the deletes."""
        with self._lock:
            writer = self._writer_handle()
            if not fresh:
                for paper_id in changed_ids:
                    writer.delete_documents_by_term("id", paper_id)
            added = 0
            for doc in docs:
                writer.add_document(doc.to_document())
                added += 1
            writer.commit()
            self.index.reload()
            self._write_meta(watermark)
            self.watermark = watermark
            return added

    def add_uncommitted(self, docs: Iterable[IndexDoc]) -> int:
        """Add documents without committing (a rebuild commits once at the end)."""
        with self._lock:
            writer = self._writer_handle()
            added = 0
            for doc in docs:
                writer.add_document(doc.to_document())
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
        """Let background merges finish (a rebuild leaves few, large segments)."""
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
