"""Digest storage: settings, the daily claim that makes a run happen once, posted messages.

A mixin of `Store` (see repository.py): same connections, same transaction lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.digest.model import DigestConfig, DigestPlan, DigestRun, EmptyDays, RunStatus
from bot.merge import StoredPaper
from bot.models import AnnounceType
from bot.search.query import SearchQuery
from bot.store.rows import CHUNK, SELECT_PAPER, category_clause, paper_from_row
from bot.timeutil import date_from_db, from_db, to_db

if TYPE_CHECKING:
    from bot.store.repository import Store

_DIGEST_COLUMNS = (
    "id", "guild_id", "channel_id", "categories", "post_time", "timezone", "max_papers",
    "include_hf", "filter_query", "cross_lists", "empty_days", "cursor", "paused",
    "consecutive_failures", "last_error", "last_error_at", "created_by", "cadence", "weekday",
)
_RUN_COLUMNS = (
    "id", "digest_id", "run_date", "status", "trigger", "cursor_to", "plan", "thread_id", "error",
    "created_at", "finished_at",
)


def _digest_from_row(row: Sequence[Any]) -> DigestConfig:
    d = dict(zip(_DIGEST_COLUMNS, row, strict=True))
    return DigestConfig(
        id=d["id"], guild_id=d["guild_id"], channel_id=d["channel_id"],
        categories=json.loads(d["categories"]), post_time=d["post_time"], timezone=d["timezone"],
        max_papers=d["max_papers"], include_hf=bool(d["include_hf"]), filter_query=d["filter_query"],
        cross_lists=bool(d["cross_lists"]), empty_days=EmptyDays(d["empty_days"]), cursor=d["cursor"],
        paused=bool(d["paused"]), consecutive_failures=d["consecutive_failures"],
        last_error=d["last_error"], last_error_at=from_db(d["last_error_at"]), created_by=d["created_by"],
        cadence=d["cadence"], weekday=d["weekday"],
    )


def _run_from_row(row: Sequence[Any]) -> DigestRun:
    d = dict(zip(_RUN_COLUMNS, row, strict=True))
    return DigestRun(
        id=d["id"], digest_id=d["digest_id"], run_date=date.fromisoformat(d["run_date"]),
        status=RunStatus(d["status"]), trigger=d["trigger"], cursor_to=d["cursor_to"],
        plan=DigestPlan.from_json(d["plan"]) if d["plan"] else None, thread_id=d["thread_id"],
        error=d["error"], created_at=from_db(d["created_at"]) or datetime.min,
        finished_at=from_db(d["finished_at"]),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sighting that may go into a digest."""

    sighting_id: int
    paper: StoredPaper
    announce_type: AnnounceType | None
    announced: date


def _in_categories(column: str, categories: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL: `column` is one of the categories (an archive such as 'cs' covers 'cs.*')."""
    parts, params = [], []
    for category in categories:
        if "." in category:
            parts.append(f"{column} = ?")
            params.append(category)
        else:
            parts.append(f"({column} = ? OR ({column} >= ? AND {column} < ?))")
            params += [category, category + ".", category + "/"]
    return "(" + (" OR ".join(parts) or "1 = 0") + ")", params


class DigestStoreMixin:
    """Named queries for digests. Relies on Store's connections and transaction()."""

    # ------------------------------------------------------------------ settings

    async def add_digest(self: Store, config: DigestConfig, *, now: datetime) -> DigestConfig:
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO digests (guild_id, channel_id, categories, post_time, timezone, max_papers,"
                " include_hf, filter_query, cross_lists, empty_days, created_by, created_at, updated_at,"
                " cadence, weekday)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (config.guild_id, config.channel_id, json.dumps(config.categories), config.post_time,
                 config.timezone, config.max_papers, int(config.include_hf), config.filter_query,
                 int(config.cross_lists), str(config.empty_days), config.created_by, to_db(now),
                 to_db(now), config.cadence, config.weekday),
            )
        stored = await self.get_digest(cursor.lastrowid or 0)
        assert stored is not None
        return stored

    async def update_digest(self: Store, config: DigestConfig, *, now: datetime) -> DigestConfig:
        """Save edited settings. Resuming a paused digest also forgets its failure count."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE digests SET channel_id = ?, categories = ?, post_time = ?, timezone = ?,"
                " max_papers = ?, include_hf = ?, filter_query = ?, cross_lists = ?, empty_days = ?,"
                " paused = ?, consecutive_failures = CASE WHEN ? THEN consecutive_failures ELSE 0 END,"
                " updated_at = ?, cadence = ?, weekday = ? WHERE id = ?",
                (config.channel_id, json.dumps(config.categories), config.post_time, config.timezone,
                 config.max_papers, int(config.include_hf), config.filter_query, int(config.cross_lists),
                 str(config.empty_days), int(config.paused), int(config.paused), to_db(now),
                 config.cadence, config.weekday, config.id),
            )
        stored = await self.get_digest(config.id or 0)
        assert stored is not None
        return stored

    async def remove_digest(self: Store, digest_id: int, *, guild_id: int) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM digests WHERE id = ? AND guild_id = ?", (digest_id, guild_id)
            )
        return cursor.rowcount > 0

    async def get_digest(self: Store, digest_id: int) -> DigestConfig | None:
        rows = await self._fetchall(
            f"SELECT {', '.join(_DIGEST_COLUMNS)} FROM digests WHERE id = ?", (digest_id,), write=True
        )
        return _digest_from_row(rows[0]) if rows else None

    async def list_digests(self: Store, *, guild_id: int | None = None) -> list[DigestConfig]:
        where, params = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        rows = await self._fetchall(
            f"SELECT {', '.join(_DIGEST_COLUMNS)} FROM digests {where} ORDER BY id", params, write=True
        )
        return [_digest_from_row(r) for r in rows]

    async def digests_in_channel(self: Store, channel_id: int) -> list[DigestConfig]:
        rows = await self._fetchall(
            f"SELECT {', '.join(_DIGEST_COLUMNS)} FROM digests WHERE channel_id = ?", (channel_id,),
            write=True,
        )
        return [_digest_from_row(r) for r in rows]

    # ------------------------------------------------------------------ runs: the daily claim

    async def claim_run(
        self: Store, digest_id: int, run_date: date, *, trigger: str, now: datetime
    ) -> tuple[DigestRun, bool]:
        """The day's run of a digest: (run, True) if this call created it, else the existing one.

        The UNIQUE (digest_id, run_date) row is the claim: only one caller can create it.
        """
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO digest_runs (digest_id, run_date, status, trigger, created_at)"
                " VALUES (?, ?, 'posting', ?, ?) ON CONFLICT (digest_id, run_date) DO NOTHING",
                (digest_id, run_date.isoformat(), trigger, to_db(now)),
            )
            created = cursor.rowcount == 1
        run = await self.get_run_for(digest_id, run_date)
        assert run is not None
        return run, created

    async def restart_failed_run(self: Store, run_id: int, *, trigger: str) -> None:
        """A failed day may be tried again (by /digest now): it gets a fresh plan."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE digest_runs SET status = 'posting', trigger = ?, plan = NULL, cursor_to = NULL,"
                " error = NULL WHERE id = ? AND status = 'failed'",
                (trigger, run_id),
            )

    async def save_plan(self: Store, run_id: int, plan: DigestPlan, *, cursor_to: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE digest_runs SET plan = ?, cursor_to = ? WHERE id = ? AND plan IS NULL",
                (plan.to_json(), cursor_to, run_id),
            )

    async def _load_run(self: Store, where: str, params: Sequence[Any]) -> DigestRun | None:
        rows = await self._fetchall(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM digest_runs WHERE {where}", params, write=True
        )
        if not rows:
            return None
        run = _run_from_row(rows[0])
        posted = await self._fetchall(
            "SELECT seq, message_id, reacted FROM posted_messages WHERE run_id = ? ORDER BY seq",
            (run.id,), write=True,
        )
        run.posted = {seq: message_id for seq, message_id, _ in posted}
        run.reacted = {seq for seq, _, reacted in posted if reacted}
        return run

    async def get_run(self: Store, run_id: int) -> DigestRun | None:
        return await self._load_run("id = ?", (run_id,))

    async def get_run_for(self: Store, digest_id: int, run_date: date) -> DigestRun | None:
        return await self._load_run("digest_id = ? AND run_date = ?", (digest_id, run_date.isoformat()))

    async def latest_runs(self: Store, digest_ids: Sequence[int]) -> dict[int, DigestRun]:
        """Each digest's most recent run, in one query (for listings: posted messages not loaded)."""
        found: dict[int, DigestRun] = {}
        for start in range(0, len(digest_ids), CHUNK):
            chunk = list(digest_ids[start:start + CHUNK])
            rows = await self._fetchall(
                f"SELECT {', '.join(_RUN_COLUMNS)} FROM ("
                f" SELECT {', '.join(_RUN_COLUMNS)}, ROW_NUMBER() OVER"
                "  (PARTITION BY digest_id ORDER BY run_date DESC, id DESC) AS newest"
                f" FROM digest_runs WHERE digest_id IN ({','.join('?' * len(chunk))})"
                ") AS runs WHERE newest = 1",
                chunk, write=True,
            )
            found.update({run.digest_id: run for run in map(_run_from_row, rows)})
        return found

    async def unfinished_runs(self: Store) -> list[DigestRun]:
        rows = await self._fetchall(
            "SELECT id FROM digest_runs WHERE status = 'posting' ORDER BY id", write=True
        )
        runs = [await self.get_run(r[0]) for r in rows]
        return [r for r in runs if r is not None]

    async def record_posted(
        self: Store, *, run_id: int | None, seq: int | None, message_id: int, channel_id: int,
        guild_id: int | None, kind: str, paper_key: str | None = None, topic_id: int | None = None,
        reacted: bool = False, now: datetime,
    ) -> None:
        """Remember a posted message: its place in a run (exactly once) and the paper it shows."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO posted_messages"
                " (message_id, channel_id, guild_id, kind, paper_id, topic_id, run_id, seq, reacted,"
                "  posted_at)"
                " VALUES (?, ?, ?, ?, (SELECT id FROM papers WHERE key = ?), ?, ?, ?, ?, ?)"
                " ON CONFLICT (message_id) DO NOTHING",
                (message_id, channel_id, guild_id, kind, paper_key, topic_id, run_id, seq, int(reacted),
                 to_db(now)),
            )

    async def mark_reacted(self: Store, message_id: int) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE posted_messages SET reacted = 1 WHERE message_id = ?", (message_id,))

    async def set_run_thread(self: Store, run_id: int, thread_id: int) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE digest_runs SET thread_id = ? WHERE id = ?", (thread_id, run_id))

    async def finish_run(self: Store, run: DigestRun, status: RunStatus, *, now: datetime) -> None:
        """A run completed: the digest's cursor moves past what it covered; failures are forgotten."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE digest_runs SET status = ?, finished_at = ?, error = NULL WHERE id = ?",
                (str(status), to_db(now), run.id),
            )
            await db.execute(
                "UPDATE digests SET cursor = MAX(COALESCE(cursor, 0), COALESCE(?, 0)),"
                " consecutive_failures = 0, last_error = NULL WHERE id = ?",
                (run.cursor_to, run.digest_id),
            )

    async def note_run_error(self: Store, run_id: int, error: str) -> None:
        """A transient problem (Discord 5xx): the run stays open to be finished later."""
        async with self.transaction() as db:
            await db.execute("UPDATE digest_runs SET error = ? WHERE id = ?", (error, run_id))

    async def fail_run(
        self: Store, run: DigestRun | None, digest_id: int, error: str, *, now: datetime,
        pause_after: int,
    ) -> DigestConfig:
        """Give up for today; the digest is marked failing, and paused after repeated failures."""
        async with self.transaction() as db:
            if run is not None:
                await db.execute(
                    "UPDATE digest_runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                    (error, to_db(now), run.id),
                )
            await db.execute(
                "UPDATE digests SET consecutive_failures = consecutive_failures + 1, last_error = ?,"
                " last_error_at = ?,"
                " paused = CASE WHEN paused <> 0 OR consecutive_failures + 1 >= ? THEN 1 ELSE 0 END"
                " WHERE id = ?",
                (error, to_db(now), pause_after, digest_id),
            )
        digest = await self.get_digest(digest_id)
        assert digest is not None
        return digest

    # ------------------------------------------------------------------ what goes in a digest

    async def covered_cursor(self: Store, digest_id: int) -> int:
        """The furthest sighting a digest's runs already took (finished or still posting), so a
        new day never repeats papers of a run that is being finished late."""
        row = await self._fetchone(
            "SELECT COALESCE(MAX(cursor_to), 0) FROM digest_runs"
            " WHERE digest_id = ? AND status != 'failed'",
            (digest_id,),
        )
        return int(row[0])

    async def max_sighting_id(self: Store) -> int:
        row = await self._fetchone("SELECT COALESCE(MAX(id), 0) FROM sightings")
        return int(row[0])

    async def digest_candidates(
        self: Store, config: DigestConfig, *, after: int, up_to: int, hf_feed_ids: Sequence[int],
        latest_day_only: bool = False, feed_cursors: Sequence[tuple[int, int]] = (),
    ) -> list[Candidate]:
        """Announcements (new, cross) in the digest's categories, plus Hugging Face papers when
        asked, with sightings.id in (after, up_to], in announcement order. `latest_day_only`: the
        most recent announcement day (and the most recent HF day) only, for a first digest."""
        cats = config.categories

        def criteria(s: str) -> tuple[str, list[Any], str, list[Any]]:
            """(arXiv part, params, Hugging Face part, params) for sightings aliased `s`."""
            primary_sql, primary_params = _in_categories("p.primary_category", cats)
            any_cat_sql, any_cat_params = category_clause(cats)
            arxiv_types = "('new', 'cross')" if config.cross_lists else "('new')"
            arxiv_sql = f"{s}.announce_type IN {arxiv_types} AND ({primary_sql}"
            arxiv_params: list[Any] = list(primary_params)
            if config.cross_lists and cats:
                arxiv_sql += f" OR 1 = 1{any_cat_sql}"
                arxiv_params += any_cat_params
            arxiv_sql += ")"
            hf_sql = "1 = 0"
            hf_params: list[Any] = []
            if config.include_hf and hf_feed_ids:
                hf_sql = (f"{s}.announce_type IS NULL"
                          f" AND {s}.feed_id IN ({','.join('?' * len(hf_feed_ids))})")
                hf_params = list(hf_feed_ids)
            return arxiv_sql, arxiv_params, hf_sql, hf_params

        arxiv_sql, arxiv_params, hf_sql, hf_params = criteria("s")
        # A paper this digest already covered (another feed announced it before the cursor:
        # Hugging Face, then arXiv; two category feeds polled apart) is not news again.
        seen_arxiv, seen_arxiv_params, seen_hf, seen_hf_params = criteria("e")
        not_seen = (
            " AND NOT EXISTS (SELECT 1 FROM sightings e WHERE e.paper_id = s.paper_id"
            f" AND e.id <= ? AND (({seen_arxiv}) OR ({seen_hf})))"
        )
        not_seen_params: list[Any] = [after, *seen_arxiv_params, *seen_hf_params]

        if latest_day_only:
            day_row = await self._fetchone(
                f"SELECT s.announced FROM sightings s JOIN papers p ON p.id = s.paper_id"
                f" WHERE s.id <= ? AND {arxiv_sql} ORDER BY s.announced DESC LIMIT 1",
                (up_to, *arxiv_params),
            ) if cats else None
            hf_row = await self._fetchone(
                f"SELECT s.announced FROM sightings s WHERE s.id <= ? AND {hf_sql}"
                " ORDER BY s.announced DESC LIMIT 1",
                (up_to, *hf_params),
            ) if hf_params else None
            arxiv_sql = f"({arxiv_sql}) AND s.announced = ?"
            arxiv_params.append(day_row[0] if day_row else "")
            hf_sql = f"({hf_sql}) AND s.announced = ?"
            hf_params.append(hf_row[0] if hf_row else "")

        # Server feeds followed in digest mode (/feed add mode:digest): their items first seen
        # after the follow's cursor (what the feed held when it was added is not news).
        feeds_sql = " OR ".join(
            "(s.feed_id = ? AND s.id > ? AND NOT EXISTS (SELECT 1 FROM sightings o WHERE"
            " o.paper_id = s.paper_id AND o.feed_id = s.feed_id AND o.id <= ?))" for _ in feed_cursors
        ) or "1 = 0"
        feeds_params = [v for feed_id, cursor in feed_cursors for v in (feed_id, cursor, cursor)]
        rows = await self._fetchall(
            f"{SELECT_PAPER.replace('SELECT ', 'SELECT s.id, s.announce_type, s.announced, ', 1)}"
            " JOIN sightings s ON s.paper_id = p.id"
            f" WHERE s.id > ? AND s.id <= ?"
            f" AND (((({arxiv_sql}) OR ({hf_sql})){not_seen}) OR ({feeds_sql}))"
            " ORDER BY s.id",
            (after, up_to, *arxiv_params, *hf_params, *not_seen_params, *feeds_params),
        )
        return [
            Candidate(r[0], paper_from_row(r[3:]), AnnounceType(r[1]) if r[1] else None,
                      date_from_db(r[2]) or date.min)
            for r in rows
        ]

    async def papers_matching(self: Store, query: SearchQuery, paper_ids: Sequence[int]) -> set[int]:
        """Which of these papers a /search query matches (a digest's filter)."""
        return await self.search_service.matching(query, paper_ids)

    async def papers_by_keys_in_order(self: Store, keys: Sequence[str]) -> list[StoredPaper]:
        found = await self.get_papers(keys)
        return [found[k] for k in keys if k in found]

    async def paper_for_message(self: Store, message_id: int) -> tuple[StoredPaper | None, str | None]:
        """The paper a posted message shows (for reactions and buttons), and the message's kind."""
        rows = await self._fetchall(
            f"{SELECT_PAPER.replace('SELECT ', 'SELECT m.kind, ', 1)}"
            " JOIN posted_messages m ON m.paper_id = p.id WHERE m.message_id = ?",
            (message_id,),
        )
        if rows:
            return paper_from_row(rows[0][1:]), rows[0][0]
        kind_row = await self._fetchone(
            "SELECT kind FROM posted_messages WHERE message_id = ?", (message_id,)
        )
        return None, kind_row[0] if kind_row else None

