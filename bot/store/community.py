"""Community storage: server feeds and their live posts, what a server saved, DM settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.merge import StoredPaper
from bot.store.rows import SELECT_PAPER, category_clause, paper_from_row
from bot.timeutil import from_db, to_db

if TYPE_CHECKING:
    from bot.store.repository import FeedState, Store


@dataclass(slots=True)
class ServerFeed:
    """A channel following a feed, with the feed's polling state."""

    id: int
    guild_id: int
    channel_id: int
    feed_id: int
    mode: str  # live | digest
    filter_query: str | None
    cursor: int
    disabled_at: datetime | None
    disabled_reason: str | None
    told_disabled: bool
    created_at: datetime | None
    feed: FeedState | None = None


@dataclass(slots=True)
class LivePost:
    id: int
    server_feed_id: int
    channel_id: int
    paper_ids: list[int]
    status: str
    message_id: int | None


@dataclass(frozen=True, slots=True)
class DmSettings:
    hour: int | None
    timezone: str
    off: bool


_SF_COLUMNS = ("id", "guild_id", "channel_id", "feed_id", "mode", "filter_query", "cursor",
               "disabled_at", "disabled_reason", "told_disabled", "created_at")
_SELECT_SF = "SELECT " + ", ".join(f"sf.{c}" for c in _SF_COLUMNS) + " FROM server_feeds sf"


def _server_feed(row: Sequence[Any]) -> ServerFeed:
    d = dict(zip(_SF_COLUMNS, row, strict=True))
    return ServerFeed(
        id=d["id"], guild_id=d["guild_id"], channel_id=d["channel_id"], feed_id=d["feed_id"],
        mode=d["mode"], filter_query=d["filter_query"], cursor=d["cursor"],
        disabled_at=from_db(d["disabled_at"]), disabled_reason=d["disabled_reason"],
        told_disabled=bool(d["told_disabled"]), created_at=from_db(d["created_at"]),
    )


def _live_post(row: Sequence[Any]) -> LivePost:
    return LivePost(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])


_LIVE_COLUMNS = "id, server_feed_id, channel_id, paper_ids, status, message_id"


class CommunityStoreMixin:
    """Mixed into Store: SQL for /feed, live posts, /top, recaps and DM settings."""

    # ------------------------------------------------------------------ server feeds

    async def add_server_feed(
        self: Store, *, guild_id: int, channel_id: int, feed_id: int, mode: str,
        filter_query: str | None, created_by: int | None, cursor: int, now: datetime,
    ) -> tuple[ServerFeed, bool]:
        """Follow a feed in a channel (or change how it is followed). Returns (row, created)."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT id FROM server_feeds WHERE guild_id = ? AND channel_id = ? AND feed_id = ?",
                (guild_id, channel_id, feed_id),
            ) as cursor_:
                existing = await cursor_.fetchone()
            if existing:
                await db.execute(
                    "UPDATE server_feeds SET mode = ?, filter_query = ?, disabled_at = NULL,"
                    " disabled_reason = NULL, told_disabled = 0 WHERE id = ?",
                    (mode, filter_query, existing[0]),
                )
                row_id = existing[0]
            else:
                async with db.execute(
                    "INSERT INTO server_feeds (guild_id, channel_id, feed_id, mode, filter_query,"
                    " cursor, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (guild_id, channel_id, feed_id, mode, filter_query, cursor, created_by, to_db(now)),
                ) as inserted:
                    row_id = inserted.lastrowid
        found = await self.get_server_feed(int(row_id or 0))
        assert found is not None
        return found, not existing

    async def get_server_feed(self: Store, server_feed_id: int) -> ServerFeed | None:
        rows = await self._fetchall(f"{_SELECT_SF} WHERE sf.id = ?", (server_feed_id,), write=True)
        if not rows:
            return None
        item = _server_feed(rows[0])
        item.feed = await self.feed_by_id(item.feed_id)
        return item

    async def list_server_feeds(
        self: Store, *, guild_id: int | None = None, feed_id: int | None = None,
        mode: str | None = None, channel_id: int | None = None,
    ) -> list[ServerFeed]:
        where, params = [], []
        for column, value in (("guild_id", guild_id), ("feed_id", feed_id), ("mode", mode),
                              ("channel_id", channel_id)):
            if value is not None:
                where.append(f"sf.{column} = ?")
                params.append(value)
        sql = _SELECT_SF + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY sf.id"
        items = [_server_feed(r) for r in await self._fetchall(sql, params, write=True)]
        feeds = {f.id: f for f in await self.list_feeds()}
        for item in items:
            item.feed = feeds.get(item.feed_id)
        return items

    async def count_server_feeds(self: Store, guild_id: int) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM server_feeds WHERE guild_id = ?", (guild_id,))
        return int(row[0])

    async def remove_server_feed(self: Store, guild_id: int, server_feed_id: int) -> ServerFeed | None:
        """Stop following; a feed no channel follows any more stops being polled."""
        found = await self.get_server_feed(server_feed_id)
        if found is None or found.guild_id != guild_id:
            return None
        async with self.transaction() as db:
            await db.execute("DELETE FROM server_feeds WHERE id = ?", (server_feed_id,))
            await db.execute(
                "UPDATE feeds SET enabled = 0 WHERE id = ? AND origin = 'admin'"
                " AND NOT EXISTS (SELECT 1 FROM server_feeds WHERE feed_id = ?)",
                (found.feed_id, found.feed_id),
            )
        return found

    async def max_sighting_of_feed(self: Store, feed_id: int) -> int:
        row = await self._fetchone("SELECT COALESCE(MAX(id), 0) FROM sightings WHERE feed_id = ?",
                                   (feed_id,))
        return int(row[0])

    async def feed_items_after(self: Store, feed_id: int, after: int) -> list[tuple[int, int]]:
        """(sighting id, paper id) of a feed's items first seen after `after`, in listing order.
        An item the feed served before (a feed re-serves its last N items every poll) is not new."""
        rows = await self._fetchall(
            "SELECT s.id, s.paper_id FROM sightings s WHERE s.feed_id = ? AND s.id > ?"
            " AND NOT EXISTS (SELECT 1 FROM sightings o WHERE o.paper_id = s.paper_id"
            "                 AND o.feed_id = s.feed_id AND o.id <= ?)"
            " ORDER BY s.batch_id, s.position",
            (feed_id, after, after), write=True,
        )
        return [(r[0], r[1]) for r in rows]

    async def disable_server_feeds(
        self: Store, feed_id: int, reason: str, *, now: datetime
    ) -> list[ServerFeed]:
        """Stop polling a feed that keeps failing. Returns the follows whose channel is still to be told."""
        async with self.transaction() as db:
            await db.execute("UPDATE feeds SET enabled = 0 WHERE id = ? AND origin = 'admin'", (feed_id,))
            await db.execute(
                "UPDATE server_feeds SET disabled_at = COALESCE(disabled_at, ?), disabled_reason = ?"
                " WHERE feed_id = ?",
                (to_db(now), reason, feed_id),
            )
        return [sf for sf in await self.list_server_feeds(feed_id=feed_id) if not sf.told_disabled]

    async def mark_told_disabled(self: Store, server_feed_id: int) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE server_feeds SET told_disabled = 1 WHERE id = ?", (server_feed_id,))

    async def digest_feed_cursors(self: Store, channel_id: int) -> list[tuple[int, int]]:
        """(feed id, cursor) of the feeds that put their items into this channel's digest."""
        rows = await self._fetchall(
            "SELECT feed_id, cursor FROM server_feeds WHERE channel_id = ? AND mode = 'digest'"
            " AND disabled_at IS NULL", (channel_id,),
        )
        return [(r[0], r[1]) for r in rows]

    # ------------------------------------------------------------------ live posts

    async def claim_live_post(
        self: Store, server_feed_id: int, *, channel_id: int, paper_ids: Sequence[int],
        cursor_to: int, now: datetime,
    ) -> int | None:
        """Move the follow's cursor and record the post to make, atomically; None when another
        coroutine already took these items (the cursor moved)."""
        async with self.transaction() as db:
            async with db.execute(
                "UPDATE server_feeds SET cursor = ? WHERE id = ? AND cursor < ?",
                (cursor_to, server_feed_id, cursor_to),
            ) as moved:
                if moved.rowcount == 0:
                    return None
            if not paper_ids:
                return 0
            async with db.execute(
                "INSERT INTO live_posts (server_feed_id, channel_id, paper_ids, status, created_at)"
                " VALUES (?, ?, ?, 'posting', ?)",
                (server_feed_id, channel_id, json.dumps(list(paper_ids)), to_db(now)),
            ) as inserted:
                return int(inserted.lastrowid or 0)

    async def get_live_post(self: Store, post_id: int) -> LivePost | None:
        rows = await self._fetchall(f"SELECT {_LIVE_COLUMNS} FROM live_posts WHERE id = ?", (post_id,))
        return _live_post(rows[0]) if rows else None

    async def unfinished_live_posts(self: Store) -> list[LivePost]:
        rows = await self._fetchall(
            f"SELECT {_LIVE_COLUMNS} FROM live_posts WHERE status = 'posting' ORDER BY id", write=True)
        return [_live_post(r) for r in rows]

    async def finish_live_post(
        self: Store, post_id: int, *, message_id: int | None, error: str | None = None
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE live_posts SET status = ?, message_id = ?, error = ? WHERE id = ?",
                ("failed" if error else "done", message_id, error, post_id),
            )

    # ------------------------------------------------------------------ what a server liked

    async def top_saved(
        self: Store, guild_id: int, *, since: datetime, categories: Sequence[str] = (), limit: int = 10,
    ) -> list[tuple[StoredPaper, int]]:
        """Papers most saved (🔖 and Save) in this server since `since`, with their save counts;
        ties go to Hugging Face upvotes."""
        cat_sql, cat_params = category_clause(list(categories))
        rows = await self._fetchall(
            f"{SELECT_PAPER.replace('SELECT ', 'SELECT t.saves, ', 1)}"
            " JOIN (SELECT paper_id, COUNT(*) AS saves FROM bookmarks"
            "       WHERE guild_id = ? AND created_at >= ? GROUP BY paper_id) t ON t.paper_id = p.id"
            f" WHERE 1 = 1{cat_sql}"
            " ORDER BY t.saves DESC, COALESCE(p.hf_upvotes, 0) DESC, p.id DESC LIMIT ?",
            (guild_id, to_db(since), *cat_params, limit),
        )
        return [(paper_from_row(r[1:]), int(r[0])) for r in rows]

    async def top_upvoted(
        self: Store, *, since: datetime, categories: Sequence[str] = (), limit: int = 10,
        exclude: Sequence[int] = (),
    ) -> list[StoredPaper]:
        """Hugging Face's most upvoted papers of their daily lists since `since`. A category
        filter keeps papers whose categories are not known yet (Hugging Face does not say)."""
        cat_sql, cat_params = category_clause(list(categories))
        if cat_sql:
            cat_sql = f" AND (p.categories = '[]' OR (1 = 1{cat_sql}))"
        skip = ""
        if exclude:
            skip = f" AND p.id NOT IN ({','.join('?' * len(exclude))})"
        rows = await self._fetchall(
            f"{SELECT_PAPER} WHERE p.hf_date >= ? AND p.hf_upvotes > 0{cat_sql}{skip}"
            " ORDER BY p.hf_upvotes DESC, p.id DESC LIMIT ?",
            (since.date().isoformat(), *cat_params, *exclude, limit),
        )
        return [paper_from_row(r) for r in rows]

    async def papers_first_seen_since(self: Store, since: datetime, *, limit: int = 20000) -> list[int]:
        rows = await self._fetchall(
            "SELECT id FROM papers WHERE first_seen >= ? ORDER BY id DESC LIMIT ?", (to_db(since), limit))
        return [r[0] for r in rows]

    async def topic_saves_since(self: Store, guild_id: int, since: datetime) -> dict[int, int]:
        """Subscribers each topic gained since `since` (🔔), per topic id."""
        rows = await self._fetchall(
            "SELECT topic_id, COUNT(*) FROM subscriptions WHERE guild_id = ? AND topic_id IS NOT NULL"
            " AND created_at >= ? GROUP BY topic_id", (guild_id, to_db(since)))
        return {r[0]: r[1] for r in rows}

    # ------------------------------------------------------------------ DM settings

    async def set_dm_settings(
        self: Store, user_id: int, *, hour: int | None, timezone: str, off: bool
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO dm_settings (user_id, hour, timezone, off) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET hour = excluded.hour,"
                " timezone = excluded.timezone, off = excluded.off",
                (user_id, hour, timezone, int(off)),
            )

    async def clear_dm_settings(self: Store, user_id: int) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM dm_settings WHERE user_id = ?", (user_id,))

    async def dm_settings_of(self: Store, user_ids: Sequence[int]) -> dict[int, DmSettings]:
        found: dict[int, DmSettings] = {}
        for start in range(0, len(user_ids), 500):
            chunk = list(user_ids[start:start + 500])
            rows = await self._fetchall(
                f"SELECT user_id, hour, timezone, off FROM dm_settings WHERE user_id IN"
                f" ({','.join('?' * len(chunk))})", chunk)
            found.update({r[0]: DmSettings(r[1], r[2], bool(r[3])) for r in rows})
        return found
