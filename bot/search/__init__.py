"""Search: user text -> parsed query (pure) -> the derived index's scored ids -> the store's rows.

- `query`: the forgiving query syntax, parsed into a `SearchQuery` (no I/O).
- `index`: the tantivy index directory beside the database, with its watermark.
- `engine`: a `SearchQuery` as one scored tantivy query; returns `ScoredId`s.
- `service`: `SearchService`, the one interface the rest of paperbot uses: `search()`,
  `ids()` (the seam for re-rankers), `matching()`, `catch_up()`, `rebuild()`.
- `render`: /search results as Discord data (pure).
"""

from bot.search.query import (
    MAX_TERMS,
    SearchFilters,
    SearchQuery,
    Term,
    fts_tokens,
    parse_query,
)

__all__ = ["MAX_TERMS", "SearchFilters", "SearchQuery", "Term", "fts_tokens", "parse_query"]
