"""The bot process: builds the resources, loads the cogs, owns start and stop.

Resources (store, HTTP session, feed poller, scheduler, request pacer) are
created here and injected into the cogs through the bot object, RoboDanny
style, so a cog holds no SQL and opens nothing of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pkgutil
import signal
import sqlite3
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import discord
import yarl
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from discord import app_commands
from discord.ext import commands

import cogs
from bot.cluster import HEARTBEAT_SECONDS, Coordinator, ShardMap
from bot.config import Settings
from bot.digest.service import DigestService
from bot.errors import explain_for_user
from bot.fetch import Fetcher
from bot.ingest import Ingestor
from bot.meaning import MeaningService, build_service
from bot.notify import ReaderService
from bot.pacer import RequestPacer
from bot.search.service import CATCH_UP_INTERVAL_SECONDS
from bot.store import MigrationError, Store, StoreError, explain
from bot.timeutil import Clock, utcnow
from bot.views import MoreButton, SaveButton, SaveMenu, SimilarButton

log = logging.getLogger(__name__)

StatusProvider = Callable[[int | None, bool], Awaitable[tuple[list[str], list[str]]]]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_TOKEN = 3


def intents() -> discord.Intents:
    """Only what paperbot uses: guilds (channels, permissions) and reactions. No message content."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_reactions = True
    wanted.dm_reactions = True
    return wanted


def all_extensions() -> list[str]:
    """Every module in the cogs package."""
    return [f"cogs.{m.name}" for m in pkgutil.iter_modules(cogs.__path__) if not m.name.startswith("_")]


def point_discord_py_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic where the settings say (a proxy, or a test fake)."""
    discord.http.Route.BASE = settings.discord.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


class PaperBotMixin:
    """paperbot's behaviour, shared by the plain and the auto-sharded bot classes."""

    settings: Settings
    store: Store
    http_session: aiohttp.ClientSession | None
    fetcher: Fetcher
    ingestor: Ingestor
    scheduler: AsyncIOScheduler
    digests: DigestService
    readers: ReaderService
    meaning: MeaningService
    pacer: RequestPacer
    clock: Clock
    started_at: datetime
    cluster: Coordinator

    def _init_paperbot(
        self, settings: Settings, clock: Clock, sync_only: bool, extensions: Sequence[str] | None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sync_only = sync_only
        self.extensions_to_load = list(extensions) if extensions is not None else all_extensions()
        self.store = Store(settings.database.location, busy_timeout_ms=settings.database.busy_timeout_ms,
                           clock=clock, index_dir=settings.database.search_index_dir)
        self.http_session = None
        self.started_at = clock()
        self._background: set[asyncio.Task[Any]] = set()
        self._resources_open = False
        self._close_task: asyncio.Future[None] | None = None
        # Cogs add what they know to /status: (guild_id, admin) -> (next-run lines, problem lines)
        self.status_providers: list[StatusProvider] = []

    # ------------------------------------------------------------------ lifecycle

    async def setup_hook(self) -> None:
        bot: commands.Bot = self  # type: ignore[assignment]
        if not self.sync_only:
            await self.open_store()
            # Several processes may share a PostgreSQL database: one polls, each serves its shards.
            self.cluster = Coordinator(
                self.store, ShardMap.of(self.settings.discord.shard_count, self.settings.discord.shard_ids),
                clock=self.clock,
                on_live_processes=self.pacer.share_with,  # Discord's REST limit is per bot
            )
            await self.cluster.tick()
            self.cluster.on_became_poller = self._became_poller
            self.http_session = Fetcher.make_session(self.settings)
            # arXiv's pace holds for the whole deployment: every process on the database shares it.
            self.fetcher = Fetcher(self.http_session, self.settings, clock=self.clock,
                                   gate=self.store.polite_gate)
            self.ingestor = Ingestor(self.store, self.fetcher, self.settings, clock=self.clock)
            await self.ingestor.sync_feeds()
            self.scheduler = AsyncIOScheduler(
                event_loop=asyncio.get_running_loop(),
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            )
            self.scheduler.add_job(
                self.run_job,
                IntervalTrigger(minutes=self.settings.polling.interval_minutes),
                args=["poll-feeds", self.poll_feeds],
                id="poll-feeds",
                next_run_time=datetime.now().astimezone() + timedelta(seconds=5),
            )
            self.scheduler.add_job(
                self.run_job, IntervalTrigger(seconds=HEARTBEAT_SECONDS),
                args=["cluster-heartbeat", self.cluster.tick], id="cluster-heartbeat",
            )
            # Papers written by other processes on this database reach this one's index.
            self.scheduler.add_job(
                self.run_job, IntervalTrigger(seconds=CATCH_UP_INTERVAL_SECONDS),
                args=["search-catch-up", self.store.search_service.catch_up], id="search-catch-up",
            )
            self.scheduler.start()
            self.digests = DigestService(self)
            self.readers = ReaderService(self)
            self.ingestor.on_new_papers(self.readers.match_new_papers)
            # Search by meaning: the model loads (and the backlog is embedded) in the background.
            self.meaning = build_service(self.settings, self.store)
            self.spawn(self.start_meaning(), name="meaning-start")
            # Each hour: the DMs due now (readers' own hours and zones, or dm_hour_utc).
            self.scheduler.add_job(
                self.run_job, CronTrigger(minute=0, timezone=UTC),
                args=["daily-dms", self._deliver_dms_if_poller], id="daily-dms",
            )
        bot.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        # Persistent buttons on any message the bot ever posted, across restarts.
        bot.add_dynamic_items(SaveButton, MoreButton, SimilarButton, SaveMenu)
        for extension in self.extensions_to_load:
            await bot.load_extension(extension)
        log.info("loaded %d extensions: %s", len(self.extensions_to_load),
                 ", ".join(self.extensions_to_load))

    async def open_store(self) -> None:
        """Open (and check) the database; `run` does it before logging in, so a broken file
        is reported at once, not after Discord answered. Idempotent."""
        if not self._resources_open:
            await self.store.open(check_integrity=True)
            self._resources_open = True

    async def close(self) -> None:
        """Idempotent: a signal handler and `async with bot` may both call it, concurrently."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._close_task)

    async def __aexit__(self, *exc_info: object) -> None:
        # discord.py skips close() here once the gateway is closed; ours must still finish.
        await self.close()

    async def _close_once(self) -> None:
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await super().close()  # type: ignore[misc]
        if self.http_session is not None:
            await self.http_session.close()
            self.http_session = None
        if self._resources_open:
            cluster = getattr(self, "cluster", None)
            if cluster is not None:
                await cluster.stop()
            await self.store.close()
            self._resources_open = False

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run work in the background, tracked so that close() can end it cleanly."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def run_job(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Scheduler entry point: tracked, and a failure is logged, never lost or fatal."""
        task = self.spawn(job(), name=name)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise
        except Exception:
            log.exception("scheduled job %s failed", name)

    async def start_meaning(self) -> None:
        await self.meaning.start()
        await self.embed_new_papers()

    async def embed_new_papers(self) -> None:
        """Vectors for what was just ingested (worker threads), before DMs that recommend from them."""
        if self.meaning.ready:
            try:
                await self.meaning.embed_pending()
            except Exception:
                log.exception("embedding new papers failed; they are retried after the next poll")

    async def _became_poller(self) -> None:
        """The previous poller is gone (or let go): poll now rather than at the next interval."""
        self.spawn(self.run_job("poll-feeds", self.poll_feeds), name="poll-feeds-failover")

    async def _deliver_dms_if_poller(self) -> None:
        """Daily DMs go out from the poller only, so one process sends them."""
        if await self.cluster.check_poller():
            await self.readers.deliver_all(trigger="hourly")

    async def poll_feeds(self, *, force: bool = False) -> None:
        cluster = getattr(self, "cluster", None)
        if cluster is not None and not await cluster.check_poller():
            log.debug("another process polls the feeds")
            return
        outcomes = await self.ingestor.poll_all(force=force)
        # Match first: subscriptions never wait behind a large backlog's embedding.
        await self.readers.match_new_papers([])
        await self.embed_new_papers()
        await self.readers.after_ingest()
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            log.warning("feeds failing this round: %s",
                        "; ".join(f"{o.feed.label}: {o.error}" for o in failed))

    # ------------------------------------------------------------------ errors

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """One place for command failures: a short ephemeral note for the user, details in the log."""
        message = explain_for_user(error)
        if message is None:
            reference = uuid.uuid4().hex[:8]
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "command /%s failed (ref %s) guild=%s channel=%s user=%s options=%s",
                command, reference, interaction.guild_id, interaction.channel_id,
                interaction.user.id, interaction.namespace.__dict__,
                exc_info=getattr(error, "original", error),
            )
            message = (f"Something went wrong on my side while running `/{command}`. "
                       f"It has been logged (reference `{reference}`); please try again later.")
        else:
            log.info("command refused for user %s: %s", interaction.user.id, message)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell user %s about an error", interaction.user.id, exc_info=True)

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command | app_commands.ContextMenu
    ) -> None:
        """A user whose DMs were found closed hears about it the next time they use a command."""
        readers = getattr(self, "readers", None)
        if readers is None:
            return
        note = await readers.note_for_user(interaction.user.id)
        if note is not None:
            with contextlib.suppress(discord.HTTPException):
                await interaction.followup.send(note, ephemeral=True)

    async def on_error(self, event_method: str, /, *args: object, **kwargs: object) -> None:
        log.exception("unhandled error in event %s", event_method)


class PaperBot(PaperBotMixin, commands.Bot):
    def __init__(self, settings: Settings, *, clock: Clock = utcnow, sync_only: bool = False,
                 extensions: Sequence[str] | None = None, **options: Any):
        self._init_paperbot(settings, clock, sync_only, extensions)
        self.pacer = RequestPacer(settings.discord.rest_requests_per_second)
        super().__init__(**_client_options(settings, self.pacer), **options)


class ShardedPaperBot(PaperBotMixin, commands.AutoShardedBot):
    def __init__(self, settings: Settings, *, clock: Clock = utcnow, sync_only: bool = False,
                 extensions: Sequence[str] | None = None, **options: Any):
        self._init_paperbot(settings, clock, sync_only, extensions)
        self.pacer = RequestPacer(settings.discord.rest_requests_per_second)
        super().__init__(
            **_client_options(settings, self.pacer),
            shard_count=settings.discord.shard_count,
            shard_ids=settings.discord.shard_ids,
            **options,
        )


def _client_options(settings: Settings, pacer: RequestPacer) -> dict[str, Any]:
    # paperbot never joins voice: spare operators discord.py's warnings about voice libraries.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    return {
        "command_prefix": commands.when_mentioned,
        "help_command": None,
        "intents": intents(),
        # Nothing the bot posts pings anyone unless a message opts in explicitly.
        "allowed_mentions": discord.AllowedMentions.none(),
        "http_trace": pacer.trace_config(settings.discord.api_base_url),
        "guild_ready_timeout": settings.discord.guild_ready_timeout,
        "max_messages": 1000,
    }


def create_bot(settings: Settings, **kwargs: Any) -> PaperBot | ShardedPaperBot:
    point_discord_py_at(settings)
    if settings.discord.shard_count is not None:
        return ShardedPaperBot(settings, **kwargs)
    return PaperBot(settings, **kwargs)


def run_bot(settings: Settings, token: str) -> int:
    """`paperbot run`: connect and serve until stopped. Returns the process exit code."""

    async def main() -> None:
        bot = create_bot(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # non-POSIX
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
        async with bot:
            await bot.open_store()
            await bot.start(token)

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        print(
            "Discord rejected the token in DISCORD_TOKEN (401 Unauthorized).\n"
            "Copy the token again from https://discord.com/developers/applications "
            "(your application -> Bot -> Reset Token) and set DISCORD_TOKEN to it.",
            file=sys.stderr,
        )
        return EXIT_BAD_TOKEN
    except discord.PrivilegedIntentsRequired as error:
        print(f"Discord refused the gateway intents: {error}", file=sys.stderr)
        return EXIT_FAILED
    except aiohttp.ClientError as error:
        print(f"Cannot reach Discord at {settings.discord.api_base_url}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (StoreError, MigrationError) as error:
        print(f"paperbot could not start: {error}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as error:
        print(f"paperbot stopped: {explain(error, settings.database.path)}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, asyncpg.PostgresError) as error:
        print(f"paperbot could not start: {error} (database: {settings.database.display})", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def sync_commands(settings: Settings, token: str, *, guild_id: int | None, console: Any) -> int:
    """`paperbot sync`: register the slash commands, globally or for one server."""

    async def main() -> int:
        bot = create_bot(settings, sync_only=True)
        async with bot:
            await bot.login(token)
            guild = discord.Object(id=guild_id) if guild_id else None
            if guild is not None:
                bot.tree.copy_global_to(guild=guild)
            synced = await bot.tree.sync(guild=guild)
        where = f"server {guild_id}" if guild_id else "every server (global; may take up to an hour)"
        console.print(f"Registered {len(synced)} slash commands for {where}.")
        return EXIT_OK

    try:
        return asyncio.run(main())
    except discord.LoginFailure:
        console.print("Discord rejected the token in DISCORD_TOKEN.")
        return EXIT_BAD_TOKEN
    except discord.HTTPException as error:
        console.print(f"Discord refused the commands: {error}")
        return EXIT_FAILED
