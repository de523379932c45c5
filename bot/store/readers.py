"""Readers' storage: bookmarks, topics, subscriptions, and the queue behind the daily DMs.

A mixin of `Store` (see repository.py): same connections, same transaction lock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.merge import StoredPaper
from bot.store.rows import SELECT_PAPER, paper_from_row
from bot.timeutil import from_db, to_db

if TYPE_CHECKING:
    from bot.store.repository import Store


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    guild_id: int
    name: str
    query: str


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: int
    user_id: int
    kind: str  # query | category | author | topic
    value: str
    topic_id: int | None
    guild_id: int | None
    query: str | None = None  # for topic subscriptions: the topic's query

    @property
    def match_kind(self) -> str:
        return "query" if self.kind == "topic" else self.kind

    @property
    def match_value(self) -> str:
        return self.query if self.kind == "topic" and self.query else self.value


@dataclass(frozen=True, slots=True)
class QueuedUpdate:
    paper: StoredPaper
    kind: str  # version | doi | journal_ref
    old: str | None
    new: str | None
    update_id: int


DmItem = tuple[int, str, int]  # (paper id, reason: match | update, paper_updates id or 0)


@dataclass(frozen=True, slots=True)
class DmDelivery:
    """One user's DM of one day, claimed before sending (see migration 005)."""

    id: int
    user_id: int
    day: date
    status: str  # sending | sent
    payload: dict[str, Any]  # {"embeds": [{...}], "buttons": [{label, custom_id, url, emoji}, ...]}
    items: list[DmItem]
    unlisted: int
    attempts: int
    message_id: int | None


_SELECT_DELIVERY = ("SELECT id, user_id, day, status, payload, items, unlisted, attempts, message_id"
                    " FROM dm_deliveries")


def _delivery_from_row(row: Sequence[Any]) -> DmDelivery:
    return DmDelivery(
        id=row[0], user_id=row[1], day=date.fromisoformat(row[2]), status=row[3],
        payload=json.loads(row[4]), items=[(int(p), str(r), int(u)) for p, r, u in json.loads(row[5])],
        unlisted=row[6], attempts=row[7], message_id=row[8],
    )


@dataclass(frozen=True, slots=True)
class QueuedMatch:
    paper: StoredPaper
    subscription: str | None  # what matched, for the DM ("cat:cs.LG", "graph neural networks")


class ReaderStoreMixin:
    """Named queries for bookmarks, topics, subscriptions and DM deliveries."""

    # ------------------------------------------------------------------ bookmarks

    async def add_bookmark(
        self: Store, user_id: int, paper_key: str, *, source: str, guild_id: int | None,
        now: datetime, limit: int,
    ) -> str:
        """'added', 'exists', 'limit' (the user's bookmarks are full) or 'missing' (no such paper)."""
        async with self.transaction() as db:
            async with db.execute("SELECT id FROM papers WHERE key = ?", (paper_key,)) as cur:
                row = await cur.fetchone()
            if row is None:
                return "missing"
            paper_id = row[0]
            async with db.execute(
                "SELECT 1 FROM bookmarks WHERE user_id = ? AND paper_id = ?", (user_id, paper_id)
            ) as cur:
                if await cur.fetchone():
                    return "exists"
            async with db.execute("SELECT COUNT(*) FROM bookmarks WHERE user_id = ?", (user_id,)) as cur:
                count = (await cur.fetchone())[0]
            if count >= limit:
                return "limit"
            await db.execute(
                "INSERT INTO bookmarks (user_id, paper_id, created_at, source, guild_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (user_id, paper_id, to_db(now), source, guild_id),
            )
        return "added"

    async def remove_bookmark(self: Store, user_id: int, paper_key: str) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM bookmarks WHERE user_id = ?"
                " AND paper_id = (SELECT id FROM papers WHERE key = ?)",
                (user_id, paper_key),
            )
        return cursor.rowcount > 0

    async def count_bookmarks(self: Store, user_id: int) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM bookmarks WHERE user_id = ?", (user_id,))
        return int(row[0])

    async def list_bookmarks(
        self: Store, user_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[tuple[StoredPaper, datetime]]:
        """The user's bookmarks, newest first."""
        sql = (f"{SELECT_PAPER.replace('SELECT ', 'SELECT b.created_at, ', 1)}"
               " JOIN bookmarks b ON b.paper_id = p.id WHERE b.user_id = ?"
               " ORDER BY b.created_at DESC, p.id DESC")
        params: list[Any] = [user_id]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        rows = await self._fetchall(sql, params)
        return [(paper_from_row(r[1:]), from_db(r[0]) or datetime.min) for r in rows]

    async def bookmark_choices(self: Store, user_id: int, text: str, *, limit: int = 25) -> list[StoredPaper]:
        """The user's own bookmarks whose id or title contains `text` (autocomplete)."""
        like = f"%{text.strip()}%"
        rows = await self._fetchall(
            f"{SELECT_PAPER} JOIN bookmarks b ON b.paper_id = p.id WHERE b.user_id = ?"
            " AND (p.key LIKE ? OR p.title LIKE ?) ORDER BY b.created_at DESC LIMIT ?",
            (user_id, like, like, limit),
        )
        return [paper_from_row(r) for r in rows]

    # ------------------------------------------------------------------ topics

    async def add_topic(
        self: Store, guild_id: int, name: str, query: str, *, created_by: int, now: datetime
    ) -> Topic | None:
        """None when the server already has a topic of that name."""
        try:
            async with self.transaction() as db:
                cursor = await db.execute(
                    "INSERT INTO topics (guild_id, name, query, created_by, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (guild_id, name, query, created_by, to_db(now)),
                )
        except sqlite3.IntegrityError:
            return None
        return Topic(cursor.lastrowid or 0, guild_id, name, query)

    async def list_topics(self: Store, guild_id: int) -> list[Topic]:
        rows = await self._fetchall(
            "SELECT id, guild_id, name, query FROM topics WHERE guild_id = ? ORDER BY id", (guild_id,)
        )
        return [Topic(*r) for r in rows]

    async def get_topic(self: Store, topic_id: int) -> Topic | None:
        row = await self._fetchone("SELECT id, guild_id, name, query FROM topics WHERE id = ?", (topic_id,))
        return Topic(*row) if row else None

    async def remove_topic(self: Store, guild_id: int, topic_id: int) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM topics WHERE id = ? AND guild_id = ?", (topic_id, guild_id)
            )
        return cursor.rowcount > 0

    async def topic_for_message(self: Store, message_id: int) -> Topic | None:
        row = await self._fetchone(
            "SELECT t.id, t.guild_id, t.name, t.query FROM posted_messages m"
            " JOIN topics t ON t.id = m.topic_id WHERE m.message_id = ? AND m.kind = 'topic'",
            (message_id,),
        )
        return Topic(*row) if row else None

    # ------------------------------------------------------------------ subscriptions

    async def add_subscription(
        self: Store, user_id: int, kind: str, value: str, *, topic_id: int | None = None,
        guild_id: int | None = None, now: datetime, limit: int,
    ) -> str:
        """'added', 'exists' or 'limit'."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT 1 FROM subscriptions WHERE user_id = ? AND kind = ? AND lower(value) = lower(?)"
                " AND COALESCE(topic_id, 0) = ?",
                (user_id, kind, value, topic_id or 0),
            ) as cur:
                if await cur.fetchone():
                    return "exists"
            async with db.execute("SELECT COUNT(*) FROM subscriptions WHERE user_id = ?", (user_id,)) as cur:
                if (await cur.fetchone())[0] >= limit:
                    return "limit"
            await db.execute(
                "INSERT INTO subscriptions (user_id, kind, value, topic_id, guild_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, kind, value, topic_id, guild_id, to_db(now)),
            )
        return "added"

    async def remove_subscription(self: Store, user_id: int, subscription_id: int) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM subscriptions WHERE id = ? AND user_id = ?", (subscription_id, user_id)
            )
        return cursor.rowcount > 0

    async def remove_topic_subscription(self: Store, user_id: int, topic_id: int) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM subscriptions WHERE user_id = ? AND kind = 'topic' AND topic_id = ?",
                (user_id, topic_id),
            )
        return cursor.rowcount > 0

    async def list_subscriptions(self: Store, user_id: int) -> list[SubscriptionRow]:
        rows = await self._fetchall(
            "SELECT s.id, s.user_id, s.kind, s.value, s.topic_id, s.guild_id, t.query"
            " FROM subscriptions s LEFT JOIN topics t ON t.id = s.topic_id"
            " WHERE s.user_id = ? ORDER BY s.id",
            (user_id,),
        )
        return [SubscriptionRow(*r) for r in rows]

    async def all_subscriptions(self: Store) -> list[SubscriptionRow]:
        rows = await self._fetchall(
            "SELECT s.id, s.user_id, s.kind, s.value, s.topic_id, s.guild_id, t.query"
            " FROM subscriptions s LEFT JOIN topics t ON t.id = s.topic_id ORDER BY s.id"
        )
        # 100,000 of them take ~0.1 s to build: not on the event loop.
        return await asyncio.to_thread(lambda: [SubscriptionRow(*r) for r in rows])

    async def subscription_page(self: Store, *, after: int, limit: int) -> list[tuple[int, int, str, str]]:
        """(id, user, kind, value) as matched, for ids above `after`, in id order; topics as their
        query. Read a page at a time: 100,000 rows at once pile up objects on the loop's side."""
        return await self._fetchall(
            "SELECT s.id, s.user_id, CASE WHEN s.kind = 'topic' THEN 'query' ELSE s.kind END,"
            " CASE WHEN s.kind = 'topic' AND COALESCE(t.query, '') <> '' THEN t.query ELSE s.value END"
            " FROM subscriptions s LEFT JOIN topics t ON t.id = s.topic_id"
            " WHERE s.id > ? ORDER BY s.id LIMIT ?",
            (after, limit),
        )

    # ------------------------------------------------------------------ the DM queue

    async def subscriptions_signature(self: Store) -> tuple[int, int, int]:
        """Changes whenever a subscription is added or removed (to know when to recompile)."""
        row = await self._fetchone(
            "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(id), 0) FROM subscriptions"
        )
        return int(row[0]), int(row[1]), int(row[2])

    async def matched_papers_cursor(self: Store) -> int:
        """Papers up to this id have been matched against the subscriptions."""
        rows = await self._fetchall("SELECT value FROM reader_state WHERE name = 'matched_papers'")
        return int(rows[0][0]) if rows else 0

    async def papers_to_match(self: Store, *, after: int) -> tuple[list[int], int]:
        """Committed papers stored after the matcher's cursor and announced as new (not only as a
        replacement), and the highest paper id now stored (the cursor once they are matched)."""
        # The top first: a batch committed meanwhile lies above it and is matched next time.
        top = int((await self._fetchall("SELECT COALESCE(MAX(id), 0) FROM papers"))[0][0])
        rows = await self._fetchall(
            "SELECT p.id FROM papers p WHERE p.id > ? AND p.id <= ? AND EXISTS (SELECT 1 FROM sightings s"
            " WHERE s.paper_id = p.id AND (s.announce_type IS NULL OR s.announce_type IN ('new', 'cross')))"
            " ORDER BY p.id",
            (after, top),
        )
        return [r[0] for r in rows], top

    async def queue_matches(
        self: Store, rows: Iterable[tuple[int, int, int]], *, unlisted: dict[int, int] | None = None,
        now: datetime, chunk: int = 5000, matched_up_to: int | None = None,
    ) -> int:
        """Queue (user, paper, subscription) matches; papers already sent to the user are skipped.

        See `queue_match_columns`, which this calls with the rows as columns.
        """
        users, papers, subs = array("q"), array("q"), array("q")
        for user, paper, sub in rows:
            users.append(user)
            papers.append(paper)
            subs.append(sub)
        return await self.queue_match_columns(users, papers, subs, unlisted=unlisted, now=now, chunk=chunk,
                                              matched_up_to=matched_up_to)

    async def queue_match_columns(
        self: Store, users: array[int], papers: array[int], subs: array[int], *,
        unlisted: dict[int, int] | None = None, now: datetime, chunk: int = 5000,
        matched_up_to: int | None = None,
    ) -> int:
        """Queue matches given as columns: row i is (users[i], papers[i], subs[i]).

        Written in chunks, one transaction each, so a huge day never holds the writer for long
        and the event loop runs between chunks. The columns are flat arrays and each row's
        parameters are made as the driver reads them (SQLite: in its own thread), so a million
        rows leave no million objects behind for the garbage collector to walk on the loop.
        Rows sorted by user write fastest (the queue's key starts with the user).
        The counts of unlisted matches and the matcher's cursor (`matched_up_to`) are written
        together last: a run cut short is simply run again (queueing is idempotent), and nothing
        is counted twice or skipped.
        """
        stamp = to_db(now)
        added = 0
        for start in range(0, len(users), chunk):
            batch = zip(users[start:start + chunk], papers[start:start + chunk], subs[start:start + chunk],
                        strict=True)
            async with self.transaction() as db:
                before = _total_changes(db)
                await db.executemany(
                    "INSERT OR IGNORE INTO dm_queue (user_id, paper_id, reason, update_id, subscription_id,"
                    " queued_at) SELECT ?, ?, 'match', 0, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM dm_sent WHERE user_id = ? AND paper_id = ?"
                    "                   AND reason = 'match')",
                    ((user, paper, sub, stamp, user, paper) for user, paper, sub in batch),
                )
                after = _total_changes(db)
                # PostgreSQL's driver reports no count for a batch: there, the rows offered.
                offered = min(chunk, len(users) - start)
                added += offered if before is None or after is None else after - before
        if unlisted or matched_up_to is not None:
            async with self.transaction() as db:
                await db.executemany(
                    "INSERT INTO dm_users (user_id, unlisted_matches) VALUES (?, ?)"
                    " ON CONFLICT (user_id) DO UPDATE SET"
                    " unlisted_matches = dm_users.unlisted_matches + excluded.unlisted_matches",
                    ((user, count) for user, count in (unlisted or {}).items()),
                )
                if matched_up_to is not None:
                    await db.execute(
                        "INSERT INTO reader_state (name, value) VALUES ('matched_papers', ?)"
                        " ON CONFLICT (name) DO UPDATE SET value = MAX(reader_state.value, excluded.value)",
                        (matched_up_to,),
                    )
        return added

    async def queue_bookmark_updates(self: Store, *, now: datetime) -> int:
        """Queue, for every bookmarker, the paper updates (version, DOI, journal) not seen yet."""
        async with self.transaction() as db:
            async with db.execute("SELECT value FROM reader_state WHERE name = 'updates_seen'") as cur:
                row = await cur.fetchone()
            seen = row[0] if row else 0
            async with db.execute("SELECT COALESCE(MAX(id), 0) FROM paper_updates") as cur:
                latest = (await cur.fetchone())[0]
            if latest <= seen:
                return 0
            cursor = await db.execute(
                "INSERT OR IGNORE INTO dm_queue (user_id, paper_id, reason, update_id, queued_at)"
                " SELECT b.user_id, u.paper_id, 'update', u.id, ? FROM paper_updates u"
                " JOIN bookmarks b ON b.paper_id = u.paper_id WHERE u.id > ? AND u.id <= ?",
                (to_db(now), seen, latest),
            )
            added = max(cursor.rowcount, 0)
            await db.execute(
                "INSERT INTO reader_state (name, value) VALUES ('updates_seen', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (latest,),
            )
        return added

    async def users_with_queued_dms(self: Store) -> list[int]:
        rows = await self._fetchall("SELECT DISTINCT user_id FROM dm_queue ORDER BY user_id", write=True)
        return [r[0] for r in rows]

    async def users_with_unsent_dms(self: Store) -> list[int]:
        """Users whose claimed DM is not known to have landed (to be looked for, then finished)."""
        rows = await self._fetchall(
            "SELECT DISTINCT user_id FROM dm_deliveries WHERE status = 'sending' ORDER BY user_id",
            write=True,
        )
        return [r[0] for r in rows]

    async def queued_dm(
        self: Store, user_id: int
    ) -> tuple[list[QueuedMatch], list[QueuedUpdate], int]:
        """What the user's next DM holds: matches, bookmark updates, and matches only counted."""
        match_rows = await self._fetchall(
            f"{SELECT_PAPER.replace('SELECT ', 'SELECT s.kind, s.value, ', 1)}"
            " JOIN dm_queue q ON q.paper_id = p.id"
            " LEFT JOIN subscriptions s ON s.id = q.subscription_id"
            " WHERE q.user_id = ? AND q.reason = 'match' ORDER BY p.announced DESC, p.id",
            (user_id,), write=True,
        )
        matches = [
            QueuedMatch(paper_from_row(r[2:]), _describe_subscription(r[0], r[1])) for r in match_rows
        ]
        update_rows = await self._fetchall(
            f"{SELECT_PAPER.replace('SELECT ', 'SELECT u.id, u.kind, u.old_value, u.new_value, ', 1)}"
            " JOIN dm_queue q ON q.paper_id = p.id AND q.reason = 'update'"
            " JOIN paper_updates u ON u.id = q.update_id WHERE q.user_id = ? ORDER BY u.id",
            (user_id,), write=True,
        )
        updates = [QueuedUpdate(paper_from_row(r[4:]), r[1], r[2], r[3], r[0]) for r in update_rows]
        row = await self._fetchone("SELECT unlisted_matches FROM dm_users WHERE user_id = ?", (user_id,))
        return matches, updates, int(row[0]) if row else 0

    # ------------------------------------------------------------------ DM deliveries (at most once)

    async def dm_delivery(self: Store, user_id: int, day: date) -> DmDelivery | None:
        """The user's DM claimed for `day`, sent or not."""
        rows = await self._fetchall(
            f"{_SELECT_DELIVERY} WHERE user_id = ? AND day = ?", (user_id, day.isoformat()), write=True
        )
        return _delivery_from_row(rows[0]) if rows else None

    async def unsent_dm_delivery(self: Store, user_id: int) -> DmDelivery | None:
        """A DM claimed but not known to have landed (a lost answer, a crash), the latest first."""
        rows = await self._fetchall(
            f"{_SELECT_DELIVERY} WHERE user_id = ? AND status = 'sending' ORDER BY day DESC LIMIT 1",
            (user_id,), write=True,
        )
        return _delivery_from_row(rows[0]) if rows else None

    async def claim_dm_delivery(
        self: Store, user_id: int, day: date, *, payload: dict[str, Any],
        items: Sequence[DmItem], unlisted: int, now: datetime,
    ) -> DmDelivery:
        """Claim the user's DM of `day` with what it says, before anything is sent.

        If the day's DM was already claimed (by an earlier attempt), that claim is returned
        unchanged: a day never gets a second, different DM.
        """
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO dm_deliveries (user_id, day, payload, items, unlisted, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, day.isoformat(), json.dumps(payload), json.dumps([list(i) for i in items]),
                 unlisted, to_db(now)),
            )
            async with db.execute(f"{_SELECT_DELIVERY} WHERE user_id = ? AND day = ?",
                                  (user_id, day.isoformat())) as cur:
                row = await cur.fetchone()
        return _delivery_from_row(row)

    async def note_dm_attempt(self: Store, delivery_id: int) -> None:
        """Recorded before a send: from now on the message may exist, so look before re-sending."""
        async with self.transaction() as db:
            await db.execute("UPDATE dm_deliveries SET attempts = attempts + 1 WHERE id = ?", (delivery_id,))

    async def finish_dm_delivery(
        self: Store, delivery: DmDelivery, *, message_id: int, now: datetime
    ) -> None:
        """The DM landed: what it carried is never sent again, the queue is emptied of it."""
        rows = [(delivery.user_id, *item) for item in delivery.items]
        async with self.transaction() as db:
            await db.executemany(
                "INSERT OR IGNORE INTO dm_sent (user_id, paper_id, reason, update_id, sent_on)"
                " VALUES (?, ?, ?, ?, ?)",
                [(*r, delivery.day.isoformat()) for r in rows],
            )
            await db.executemany(
                "DELETE FROM dm_queue WHERE user_id = ? AND paper_id = ? AND reason = ? AND update_id = ?",
                rows,
            )
            # Matches counted after the claim stay counted for the next DM.
            await db.execute(
                "INSERT INTO dm_users (user_id, last_dm_on) VALUES (?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET last_dm_on ="
                " MAX(COALESCE(dm_users.last_dm_on, excluded.last_dm_on), excluded.last_dm_on),"
                " unlisted_matches = MAX(0, dm_users.unlisted_matches - ?)",
                (delivery.user_id, delivery.day.isoformat(), delivery.unlisted),
            )
            # Once sent, only the (user, day) claim matters: the text is not kept, older days go.
            await db.execute(
                "UPDATE dm_deliveries SET status = 'sent', message_id = ?, sent_at = ?, payload = '{}',"
                " items = '[]' WHERE id = ?",
                (message_id, to_db(now), delivery.id),
            )
            await db.execute(
                "DELETE FROM dm_deliveries WHERE user_id = ? AND status = 'sent' AND day < ?",
                (delivery.user_id, delivery.day.isoformat()),
            )

    async def drop_dm_delivery(self: Store, delivery_id: int) -> None:
        """A claim from an earlier day that never landed: its items go into today's DM instead."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM dm_deliveries WHERE id = ? AND status = 'sending'", (delivery_id,))

    async def dm_state(self: Store, user_id: int) -> tuple[date | None, datetime | None, bool]:
        """(last daily DM date, when DMs were found closed, whether the user was told)."""
        row = await self._fetchone(
            "SELECT last_dm_on, dms_closed_at, told_closed FROM dm_users WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return None, None, False
        return (date.fromisoformat(row[0]) if row[0] else None, from_db(row[1]), bool(row[2]))

    async def note_dms_closed(self: Store, user_id: int, *, now: datetime) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO dm_users (user_id, dms_closed_at, told_closed) VALUES (?, ?, 0)"
                " ON CONFLICT (user_id) DO UPDATE SET dms_closed_at = excluded.dms_closed_at,"
                " told_closed = 0",
                (user_id, to_db(now)),
            )

    async def clear_dms_closed(self: Store, user_id: int, *, told: bool) -> None:
        """The user was told (or DMs work again): try DMs again from the next delivery."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE dm_users SET dms_closed_at = NULL, told_closed = ? WHERE user_id = ?",
                (int(told), user_id),
            )


def _total_changes(db: Any) -> int | None:
    """SQLite's running count of changed rows; None on PostgreSQL, whose driver has none."""
    return getattr(db, "total_changes", None)


def _describe_subscription(kind: str | None, value: str | None) -> str | None:
    if kind is None or value is None:
        return None
    return {"category": f"cat:{value}", "author": f"author:{value}", "topic": f"topic {value}"}.get(
        kind, value
    )
