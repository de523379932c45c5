"""Storage for search by meaning: paper vectors per model, and readers' recommendation setting.

A mixin of `Store` (see repository.py): same connections, same transaction lock. Vectors are
float32 BLOBs keyed by (model, paper): a restart never recomputes them, and a model change
simply finds every paper without a vector for the new model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from bot.timeutil import to_db

if TYPE_CHECKING:
    from bot.store.repository import Store


@dataclass(frozen=True, slots=True)
class PendingPaper:
    """A paper whose vector for the model is missing or older than the paper."""

    id: int
    title: str
    abstract: str
    last_changed: str
    text_hash: str | None  # of the vector held now, if any


@dataclass(frozen=True, slots=True)
class NewVector:
    paper_id: int
    vector: bytes
    text_hash: str
    paper_changed: str


class MeaningStoreMixin:
    async def papers_needing_vectors(self: Store, model: str, *, after_id: int,
                                     limit: int) -> list[PendingPaper]:
        """Papers (by id, after `after_id`) with no vector for `model`, or one older than the paper."""
        rows = await self._fetchall(
            "SELECT p.id, p.title, p.abstract, p.last_changed, v.text_hash FROM papers p"
            " LEFT JOIN paper_vectors v ON v.paper_id = p.id AND v.model = ?"
            " WHERE p.id > ? AND (v.id IS NULL OR v.paper_changed <> p.last_changed)"
            " ORDER BY p.id LIMIT ?",
            (model, after_id, limit),
        )
        return [PendingPaper(*r) for r in rows]

    async def count_papers_needing_vectors(self: Store, model: str) -> int:
        row = await self._fetchone(
            "SELECT COUNT(*) FROM papers p LEFT JOIN paper_vectors v ON v.paper_id = p.id AND v.model = ?"
            " WHERE v.id IS NULL OR v.paper_changed <> p.last_changed",
            (model,),
        )
        return int(row[0])

    async def save_vectors(self: Store, model: str, vectors: Sequence[NewVector]) -> None:
        """Insert or replace; a replaced vector gets a new, higher row id (the index's watermark).
        Delete-then-insert reads the same on SQLite and PostgreSQL."""
        async with self.transaction() as db:
            await db.executemany(
                "DELETE FROM paper_vectors WHERE model = ? AND paper_id = ?",
                [(model, v.paper_id) for v in vectors],
            )
            await db.executemany(
                "INSERT INTO paper_vectors (paper_id, model, vector, text_hash, paper_changed)"
                " VALUES (?, ?, ?, ?, ?)",
                [(v.paper_id, model, v.vector, v.text_hash, v.paper_changed) for v in vectors],
            )

    async def touch_vectors(self: Store, model: str, changed: Sequence[tuple[int, str]]) -> None:
        """The paper changed but not its text (upvotes, a DOI): the vector stays, marked current."""
        async with self.transaction() as db:
            await db.executemany(
                "UPDATE paper_vectors SET paper_changed = ? WHERE model = ? AND paper_id = ?",
                [(stamp, model, paper_id) for paper_id, stamp in changed],
            )

    async def vectors_after(self: Store, model: str, after_row: int,
                            limit: int) -> list[tuple[int, int, bytes]]:
        """(row id, paper id, vector) for the model with row id above `after_row`, in row order."""
        return await self._fetchall(
            "SELECT id, paper_id, vector FROM paper_vectors WHERE model = ? AND id > ? ORDER BY id LIMIT ?",
            (model, after_row, limit),
        )

    async def vectors_for_papers(self: Store, model: str, paper_ids: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        ids = list(paper_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = await self._fetchall(
                f"SELECT paper_id, vector FROM paper_vectors WHERE model = ?"
                f" AND paper_id IN ({','.join('?' * len(chunk))})",
                (model, *chunk),
            )
            found.update((int(r[0]), r[1]) for r in rows)
        return found

    async def vector_models(self: Store) -> dict[str, int]:
        """Every model with stored vectors, and how many."""
        rows = await self._fetchall("SELECT model, COUNT(*) FROM paper_vectors GROUP BY model")
        return {r[0]: int(r[1]) for r in rows}

    async def delete_vectors_except(self: Store, model: str) -> int:
        """Drop vectors of other (older) models once the current one has taken over."""
        async with self.transaction() as db:
            cursor = await db.execute("DELETE FROM paper_vectors WHERE model <> ?", (model,))
            return cursor.rowcount

    async def recent_paper_ids(self: Store, *, days: int, limit: int) -> list[int]:
        """Ids of the papers announced in the last `days` days of the store's newest announcement."""
        newest = await self._fetchone("SELECT MAX(announced) FROM papers WHERE announced IS NOT NULL")
        if not newest or not newest[0]:
            return []
        since = date.fromisoformat(str(newest[0])[:10]) - timedelta(days=max(days - 1, 0))
        rows = await self._fetchall(
            "SELECT id FROM papers WHERE announced >= ? ORDER BY announced DESC, id DESC LIMIT ?",
            (since.isoformat(), limit),
        )
        return [int(r[0]) for r in rows]

    async def bookmarked_paper_ids(self: Store, user_id: int, *, limit: int) -> list[int]:
        """The reader's bookmarked papers, newest bookmark first."""
        rows = await self._fetchall(
            "SELECT paper_id FROM bookmarks WHERE user_id = ?"
            " ORDER BY created_at DESC, paper_id DESC LIMIT ?",
            (user_id, limit),
        )
        return [int(r[0]) for r in rows]

    async def set_dm_recommendations(self: Store, user_id: int, enabled: bool, *, now) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO reader_preferences (user_id, dm_recommendations, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET dm_recommendations = excluded.dm_recommendations,"
                " updated_at = excluded.updated_at",
                (user_id, int(enabled), to_db(now)),
            )

    async def wants_dm_recommendations(self: Store, user_id: int) -> bool:
        row = await self._fetchone(
            "SELECT dm_recommendations FROM reader_preferences WHERE user_id = ?", (user_id,))
        return bool(row and row[0])

    async def papers_titled_like(self: Store, text: str, *, limit: int = 25) -> list[tuple[str, str]]:
        """(key, title) of recent papers whose id or title contains the text: autocomplete."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._fetchall(
            "SELECT key, title FROM papers WHERE key LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\'"
            " ORDER BY id DESC LIMIT ?",
            (pattern, pattern, limit),
        )
        return [(r[0], r[1]) for r in rows]
