"""The store: SQLite through aiosqlite. The only package that holds SQL."""

from bot.merge import StoredPaper
from bot.store.errors import StoreError, explain
from bot.store.migrate import MigrationError
from bot.store.repository import BatchResult, FeedState, SearchHit, Store

__all__ = [
    "BatchResult", "FeedState", "MigrationError", "SearchHit", "Store", "StoreError", "StoredPaper",
    "explain",
]
