"""The search paperbot had before issue 9 (SQLite FTS5), kept only as the benchmark's reference.

Migration 006 dropped `papers_fts`; `ensure_fts` builds the same table (external content over
`papers`, the tokenizer of migration 001) in a benchmark's database, and `FtsReference.search`
is the old `Store.search`: up to three passes (title phrase, all words, any word), bm25 with
title 10x / authors 3x, each match joined to its row before sorting.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite

from bot.search.query import SearchFilters, SearchQuery
from bot.search.service import SearchHit
from bot.store.rows import SELECT_PAPER, category_clause, paper_from_row

TOKENIZE = "porter unicode61 remove_diacritics 2"


def ensure_fts(db_path: Path) -> bool:
    """Create and fill the old full-text table if the database lacks it (or holds an empty one
    left by an interrupted build); True if it was built. One transaction: all or nothing."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'papers_fts'").fetchone():
            filled = db.execute("SELECT EXISTS (SELECT 1 FROM papers_fts_docsize)").fetchone()[0]
            empty_store = not db.execute("SELECT EXISTS (SELECT 1 FROM papers)").fetchone()[0]
            if filled or empty_store:
                return False
        db.execute("BEGIN")
        db.execute("DROP TABLE IF EXISTS papers_fts")
        db.execute(
            "CREATE VIRTUAL TABLE papers_fts USING fts5 (title, authors, abstract,"
            f" content = 'papers', content_rowid = 'id', tokenize = '{TOKENIZE}')"
        )
        db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('rebuild')")
        db.execute("COMMIT")
        return True
    finally:
        db.close()


def _filter_clause(query: SearchQuery) -> tuple[str, list[Any]]:
    filters = query.filters
    sql, params = category_clause(filters.categories)
    if filters.since:
        sql += " AND p.announced >= ?"
        params.append(filters.since.isoformat())
    if filters.has_code:
        sql += " AND p.code_url IS NOT NULL"
    return sql, params


class FtsReference:
    """The old engine on its own read connection (aiosqlite's thread, as the old Store did)."""

    def __init__(self, db_path: Path):
        self.path = db_path
        self.db: aiosqlite.Connection | None = None

    async def open(self) -> FtsReference:
        self.db = await aiosqlite.connect(self.path)
        await self.db.execute("PRAGMA query_only = ON")
        return self

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()

    async def _fetchall(self, sql: str, params: list[Any]) -> list:
        assert self.db is not None
        async with self.db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def search(self, query: SearchQuery, *, limit: int = 10) -> list[SearchHit]:
        hits: list[SearchHit] = []
        seen: set[int] = set()
        filters_sql, filter_params = _filter_clause(query)
        if query.arxiv_ids:
            marks = ",".join("?" * len(query.arxiv_ids))
            for row in await self._fetchall(f"{SELECT_PAPER} WHERE p.key IN ({marks})",
                                            list(query.arxiv_ids)):
                paper = paper_from_row(row)
                hits.append(SearchHit(paper, rank=float("-inf"), matched_all=True))
                seen.add(paper.id or 0)

        async def run(match: str, matched_all: bool) -> None:
            remaining = limit - len(hits)
            if remaining <= 0:
                return
            exclude = ""
            params: list[Any] = [match, *filter_params]
            if seen:
                exclude = f" AND p.id NOT IN ({','.join('?' * len(seen))})"
                params += list(seen)
            sql = (
                f"{SELECT_PAPER.replace('SELECT ', 'SELECT bm25(papers_fts, 10.0, 3.0, 1.0) AS rank, ', 1)}"
                " JOIN papers_fts ON papers_fts.rowid = p.id"
                f" WHERE papers_fts MATCH ?{filters_sql}{exclude}"
                " ORDER BY rank, p.announced DESC LIMIT ?"
            )
            for row in await self._fetchall(sql, [*params, remaining]):
                paper = paper_from_row(row[1:])
                seen.add(paper.id or 0)
                hits.append(SearchHit(paper, rank=row[0], matched_all=matched_all))

        strict = query.match_all()
        if strict:
            phrase = query.title_phrase()
            if phrase:
                await run(phrase, True)
            await run(strict, True)
            loose = query.match_any()
            if loose:
                await run(loose, False)
        elif not query.arxiv_ids and query.filters != SearchFilters():
            remaining = limit - len(hits)
            sql = f"{SELECT_PAPER} WHERE 1 = 1{filters_sql} ORDER BY p.announced DESC, p.id DESC LIMIT ?"
            for row in await self._fetchall(sql, [*filter_params, remaining]):
                hits.append(SearchHit(paper_from_row(row), rank=0.0, matched_all=True))
        return hits[:limit]
