"""Several paperbot processes sharing one database (issue 10).

- Shard ownership (pure): a guild belongs to shard `(guild_id >> 22) % shard_count`, and only
  the process running that shard schedules and posts the guild's digests. Exactly once still
  rests on the store's claims (one run row per digest and day, one record per planned message).
- The poller: exactly one process polls the feeds (and so matches subscriptions and sends the
  DMs that follow), the holder of the store's poller lock. The others retry every
  HEARTBEAT_SECONDS, so a dead poller is replaced within that, far inside the bound of
  `polling.interval_minutes` + 60 s; the new poller polls at once.
- Heartbeats: each process writes its row (shards, poller or not, last heartbeat) for /status.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.store.cluster import ProcessInfo
from bot.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15
SILENT_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)  # /status calls a process silent after this
FORGET_AFTER = timedelta(days=1)  # rows of processes gone this long are dropped


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's routing: the shard whose gateway session receives a guild's events."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Which guilds this process serves. Unsharded, or all shards in one process: every guild."""

    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @classmethod
    def of(cls, shard_count: int | None, shard_ids: Sequence[int] | None) -> ShardMap:
        return cls(shard_count, tuple(shard_ids) if shard_ids is not None else None)

    def owns(self, guild_id: int | None) -> bool:
        if self.shard_count is None or self.shard_ids is None or guild_id is None:
            return True
        return shard_of(guild_id, self.shard_count) in self.shard_ids

    def describe(self) -> str:
        if self.shard_count is None:
            return "unsharded"
        ids = self.shard_ids if self.shard_ids is not None else tuple(range(self.shard_count))
        return f"shards {', '.join(map(str, ids))} of {self.shard_count}"


class ClusterStore(Protocol):
    async def record_heartbeat(
        self, process_id: str, *, host: str, pid: int, shard_count: int | None,
        shard_ids: list[int] | None, polling: bool, started_at: datetime, now: datetime,
    ) -> None: ...
    async def forget_process(self, process_id: str) -> None: ...
    async def forget_processes_before(self, before: datetime) -> int: ...
    async def list_processes(self) -> list[ProcessInfo]: ...
    async def live_process_count(self) -> int: ...
    async def try_poller_lock(self) -> bool: ...
    async def release_poller_lock(self) -> None: ...


class Coordinator:
    """This process's place among the others: its id, its shards, whether it polls."""

    def __init__(
        self, store: ClusterStore, shards: ShardMap, *, clock: Clock = utcnow,
        on_became_poller: Callable[[], Awaitable[None]] | None = None,
        on_live_processes: Callable[[int], None] | None = None,
    ):
        self.store = store
        self.shards = shards
        self.clock = clock
        self.on_became_poller = on_became_poller
        self.on_live_processes = on_live_processes  # e.g. the REST pacer's share of Discord's limit
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.process_id = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"
        self.started_at = clock()
        self.is_poller = False

    async def check_poller(self) -> bool:
        """Hold (or take) the poller lock; True if this process is the poller now."""
        try:
            held = await self.store.try_poller_lock()
        except Exception:
            log.warning("could not check the poller lock", exc_info=True)
            held = False
        if held != self.is_poller:
            log.info("process %s %s the feed poller", self.process_id, "is now" if held else "is no longer")
        became = held and not self.is_poller
        self.is_poller = held
        if became and self.on_became_poller is not None:
            await self.on_became_poller()
        return held

    async def heartbeat(self) -> None:
        now = self.clock()
        await self.store.record_heartbeat(
            self.process_id, host=self.host, pid=self.pid, shard_count=self.shards.shard_count,
            shard_ids=list(self.shards.shard_ids) if self.shards.shard_ids is not None else None,
            polling=self.is_poller, started_at=self.started_at, now=now,
        )
        await self.store.forget_processes_before(now - FORGET_AFTER)
        if self.on_live_processes is not None:
            self.on_live_processes(await self.store.live_process_count())

    async def tick(self) -> None:
        """Every HEARTBEAT_SECONDS: the lock first (a failover polls at once), then the heartbeat."""
        await self.check_poller()
        await self.heartbeat()

    async def stop(self) -> None:
        """A clean exit: let another process poll at once and drop this process's row."""
        try:
            await self.store.release_poller_lock()
            self.is_poller = False
            await self.store.forget_process(self.process_id)
        except Exception:
            log.warning("could not sign off process %s", self.process_id, exc_info=True)


def process_lines(processes: Sequence[ProcessInfo], now: datetime, *, me: str) -> list[str]:
    """/status lines, one per process: where, which shards, who polls, last heartbeat."""
    lines = []
    for p in processes:
        shards = ShardMap.of(p.shard_count, p.shard_ids).describe()
        role = " · 📡 polls the feeds" if p.polling else ""
        silent = now - p.last_heartbeat > SILENT_AFTER
        mark = "⚠️ silent" if silent else "🟢"
        here = " (this one)" if p.id == me else ""
        lines.append(f"{mark} `{p.host}` pid {p.pid}{here}: {shards}{role}"
                     f" · heartbeat <t:{int(p.last_heartbeat.timestamp())}:R>")
    return lines
