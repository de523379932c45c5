"""The `paperbot` command: the same core the bot uses, from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any, NoReturn

import asyncpg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot import __version__
from bot.cli_copy import cmd_copy_store
from bot.config import (
    TOKEN_ENV,
    ConfigError,
    LoadedSettings,
    Settings,
    discord_token,
    load_settings,
    mask_secret,
)
from bot.digest.select import DigestEntry, rank_entries
from bot.fetch import Fetcher
from bot.ingest import FeedOutcome, Ingestor, empty_feed_text
from bot.meaning import cli as meaning_cli
from bot.models import FeedKind
from bot.present import short_authors, trim
from bot.search import parse_query
from bot.search.index import IndexLockedError
from bot.store import FeedState, MigrationError, Store, StoreError, explain
from bot.taxonomy import categories_of_rss_url, split_categories

# Exit codes (README, "Exit codes"): 3 is `run`'s rejected token (bot.app), 130 an interrupt.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Beyond these, numbers are typing mistakes (and overflow dates or SQLite integers).
MAX_DAYS = 36_500  # a century
MAX_LIMIT = 10_000

log = logging.getLogger("paperbot")


def _configure_logging(settings: Settings, verbose: bool, command: str) -> None:
    level = logging.DEBUG if verbose else getattr(logging, settings.logging.level)
    if command not in ("run", "sync") and not verbose:
        # The terminal commands report what happened themselves; the log is for problems.
        level = max(level, logging.WARNING)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # discord.py and aiohttp are chatty at DEBUG; keep their noise at INFO unless asked.
    if not verbose:
        logging.getLogger("discord").setLevel(max(level, logging.INFO))


@dataclass(slots=True)
class Core:
    """The resources a command needs, opened and closed together."""

    settings: Settings
    store: Store
    fetcher: Fetcher
    ingestor: Ingestor


@asynccontextmanager
async def open_core(settings: Settings, *, read_only: bool = False) -> AsyncIterator[Core]:
    """`read_only` commands (search, feeds) open the file without writing to it at all, so they
    work on a read-only copy and never race a running bot for the write lock."""
    store = Store(settings.database.location, busy_timeout_ms=settings.database.busy_timeout_ms,
                  index_dir=settings.database.search_index_dir)
    if read_only:
        try:
            await store.open(read_only=True)
        except StoreError as error:
            if error.kind != "outdated":
                raise
            await store.open()  # the first command after an upgrade brings the schema forward
    else:
        await store.open()
    session = None
    try:
        session = Fetcher.make_session(settings)
        fetcher = Fetcher(session, settings, gate=store.polite_gate)  # paced with any running bot
        ingestor = Ingestor(store, fetcher, settings)
        if not read_only:
            await ingestor.sync_feeds()
        yield Core(settings, store, fetcher, ingestor)
    finally:
        if session is not None:
            await session.close()
        await store.close()


class FeedProgress:
    """What a poll is doing, on stderr: a live line on a terminal, plain lines with --progress.

    A 50,000-item feed takes seconds to download, parse and store; silence looks like a hang.
    """

    def __init__(self, err: Console, *, plain: bool, live: bool, heartbeat: float = 2.0):
        self.err = err
        self.plain = plain
        self.live = live and not plain
        self.heartbeat = heartbeat
        self._current: dict[int, tuple[str, str, float]] = {}
        self._status: Any = None
        self._ticker: asyncio.Task[None] | None = None

    @classmethod
    def for_command(cls, err: Console, asked: bool) -> FeedProgress | None:
        if asked:
            return cls(err, plain=True, live=False)
        if err.is_terminal:
            return cls(err, plain=False, live=True)
        return None

    def __call__(self, feed: FeedState, stage: str, amount: int | None) -> None:
        what = stage
        if stage == "parsing" and amount is not None:
            what = f"parsing {amount / 1_000_000:.1f} MB"
        elif stage == "storing" and amount is not None:
            what = f"storing {amount:,} items"
        self._current[feed.id] = (feed.label, what, time.monotonic())
        if self.plain:
            self.err.print(f"… {escape(feed.label)}: {what}", highlight=False, soft_wrap=True)
        self._refresh()

    def _refresh(self) -> None:
        if self._status is not None and self._current:
            label, what, since = list(self._current.values())[-1]
            others = len(self._current) - 1
            more = f" (+{others} more feeds)" if others > 0 else ""
            self._status.update(f"{escape(label)}: {what} ({time.monotonic() - since:.0f} s){more}")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            now = time.monotonic()
            for label, what, since in list(self._current.values()):
                if self.plain and now - since >= self.heartbeat:
                    self.err.print(f"… {escape(label)}: still {what} ({now - since:.0f} s)",
                                   highlight=False, soft_wrap=True)
            self._refresh()

    async def __aenter__(self) -> FeedProgress:
        if self.live:
            self._status = self.err.status("polling feeds…")
            self._status.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._status is not None:
            self._status.stop()


async def _poll_all(core: Core, args: argparse.Namespace, **options: Any) -> list[FeedOutcome]:
    progress = FeedProgress.for_command(Console(stderr=True, highlight=False),
                                        getattr(args, "progress", False))
    if progress is None:
        return await core.ingestor.poll_all(backoff=False, **options)
    async with progress:
        return await core.ingestor.poll_all(backoff=False, progress=progress, **options)


# ---------------------------------------------------------------------- fetch


def _outcome_line(outcome: FeedOutcome) -> str:
    name = escape(outcome.feed.label)
    status = outcome.status
    extra = "".join(
        [f", [yellow]{outcome.skipped} skipped (no usable id)[/]" if outcome.skipped else ""]
        + [f"; [yellow]{escape(note)}[/]" for note in outcome.notes]
    )
    if status == "new":
        return (
            f"[green]✓[/] {name}: {outcome.items} items, [bold]{outcome.new} new[/], "
            f"{outcome.updated} updated, {outcome.unchanged} unchanged"
            + (f", {outcome.older} older papers stored" if outcome.older else "")
            + (f" (listing of {outcome.feed_date:%a %d %b %Y})" if outcome.feed_date else "")
            + extra
        )
    if status == "stale":
        return f"[yellow]=[/] {name}: stale batch, identical to the previous one; nothing new{extra}"
    if status == "empty":
        day = f" for {outcome.feed_date:%a %d %b %Y}" if outcome.feed_date else ""
        return f"[green]✓[/] {name}: {empty_feed_text(outcome.feed.kind)}{day}{extra}"
    if status == "not-modified":
        return f"[green]=[/] {name}: unchanged (304 Not Modified)"
    if status == "cached":
        until = outcome.fresh_until.astimezone(UTC) if outcome.fresh_until else None
        when = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        return f"[green]=[/] {name}: unchanged, cached{when} as the server asked"
    if status == "backing-off":
        when = outcome.next_attempt_at.astimezone(UTC) if outcome.next_attempt_at else None
        return (
            f"[red]…[/] {name}: backing off after failures, next try "
            f"{when:%Y-%m-%d %H:%M} UTC; last error: {escape(outcome.error or '?')}"
            if when else f"[red]…[/] {name}: backing off"
        )
    failing = " [bold red](marked failing)[/]" if outcome.feed.failing else ""
    return f"[red]✗[/] {name}: failed: {escape(outcome.error or 'unknown error')}{failing}"


async def cmd_fetch(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    async with open_core(settings) as core:
        outcomes = await _poll_all(core, args, force=args.force)
        embedded = await meaning_cli.embed_after_fetch(settings, core.store, console, quiet=args.json)
    if args.json:
        print(json.dumps([o.as_dict() for o in outcomes], indent=2))
    else:
        for outcome in outcomes:
            console.print(_outcome_line(outcome), highlight=False)
        if embedded:
            console.print(embedded)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


# ---------------------------------------------------------------------- feeds


def _as_configured(settings: Settings, stored: list[FeedState]) -> list[FeedState]:
    """The stored states, seen through the current config (read-only: nothing is synced)."""
    configured = {feed.url: feed for feed in settings.feeds}
    shown = []
    for feed in stored:
        if feed.origin == "config" and feed.url not in configured:
            feed.enabled = False
        elif feed.url in configured:
            feed.enabled = configured[feed.url].enabled
            feed.name = configured[feed.url].name or feed.name
        shown.append(feed)
    return shown


async def cmd_feeds(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    try:
        async with open_core(settings, read_only=True) as core:
            feeds = _as_configured(settings, await core.store.list_feeds())
    except StoreError as error:
        if error.kind != "missing":
            raise
        feeds = []
    stored = {f.url for f in feeds}
    waiting = [f.url for f in settings.feeds if f.url not in stored and f.enabled]
    if args.json:
        print(json.dumps([
            {
                "url": f.url, "kind": str(f.kind) if f.kind else None, "enabled": f.enabled,
                "origin": f.origin, "failing": f.failing, "consecutive_failures": f.consecutive_failures,
                "last_error": f.last_error,
                "last_success_at": f.last_success_at.isoformat() if f.last_success_at else None,
                "next_attempt_at": f.next_attempt_at.isoformat() if f.next_attempt_at else None,
            }
            for f in feeds
        ] + [{"url": url, "kind": None, "enabled": True, "origin": "config", "failing": False,
              "consecutive_failures": 0, "last_error": None, "last_success_at": None,
              "next_attempt_at": None} for url in waiting], indent=2))
        return EXIT_OK
    table = Table(title="Feeds")
    for column in ("feed", "kind", "state", "last success", "last error"):
        table.add_column(column)
    for f in feeds:
        state = "disabled" if not f.enabled else (
            f"[red]failing ({f.consecutive_failures}x)[/]" if f.failing
            else (f"retrying ({f.consecutive_failures}x)" if f.consecutive_failures else "[green]ok[/]")
        )
        table.add_row(
            escape(f.label), str(f.kind or "?"), state,
            f"{f.last_success_at:%Y-%m-%d %H:%M}" if f.last_success_at else "never",
            escape(f.last_error or "") if f.consecutive_failures else "",
        )
    for url in waiting:
        table.add_row(escape(url), "?", "not polled yet", "never", "")
    console.print(table)
    return EXIT_OK


# ---------------------------------------------------------------------- preview


def _default_categories(settings: Settings) -> list[str]:
    found: list[str] = []
    for feed in settings.feeds:
        if feed.kind in (None, FeedKind.ARXIV_RSS):
            found += [c for c in categories_of_rss_url(feed.url) if c not in found]
    return found


async def cmd_preview(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    categories = list(args.category or [])
    if categories:
        known, unknown = split_categories(" ".join(categories))
        if unknown:
            console.print(f"[red]Unknown arXiv categories:[/] {escape(', '.join(unknown))}")
            return EXIT_USAGE
        categories = known
    else:
        categories = _default_categories(settings)

    failures: list[FeedOutcome] = []
    day, listing, hf_day, hf_papers = None, [], None, []
    empty = True
    try:
        async with open_core(settings, read_only=True) as core:
            if await core.store.count_papers() > 0:
                empty = False
                day, listing = await core.store.latest_listing(categories)
                hf_day, hf_papers = await core.store.latest_hf_day()
    except StoreError as error:
        if error.kind != "missing":
            raise
    if empty:
        async with open_core(settings) as core:
            console.print("[dim]The store is empty: fetching the feeds first…[/]")
            outcomes = await _poll_all(core, args)
            failures = [o for o in outcomes if not o.ok]
            for outcome in outcomes:
                console.print(_outcome_line(outcome), highlight=False)
            day, listing = await core.store.latest_listing(categories)
            hf_day, hf_papers = await core.store.latest_hf_day()

    if day is None and not hf_papers:
        if failures:
            console.print(
                "\n[bold red]No papers to show:[/] the feeds could not be reached "
                "(see above). Check the network, then run [bold]paperbot fetch[/]."
            )
        else:
            console.print("No announcements stored yet for "
                          f"{', '.join(categories) or 'these feeds'}.")
        return EXIT_FAILED

    entries = [DigestEntry(p, t, i) for i, (p, t) in enumerate(listing)]
    ranked = rank_entries(entries)
    shown = ranked[: args.limit]
    scope = ", ".join(categories) if categories else "all feeds"
    if day is not None:
        new = sum(1 for e in entries if e.announce_type == "new")
        console.rule(
            f"[bold]arXiv {escape(scope)}[/] · {day:%A %d %B %Y} · {len(ranked)} papers "
            f"({new} new, {len(ranked) - new} cross-listed)"
        )
        for number, entry in enumerate(shown, 1):
            _print_paper(console, number, entry)
        if len(ranked) > len(shown):
            console.print(f"[dim]… and {len(ranked) - len(shown)} more (use --limit)[/]")
    if hf_papers and not args.category:
        console.rule(f"[bold]Hugging Face Daily Papers[/] · {hf_day:%A %d %B %Y}")
        for number, paper in enumerate(hf_papers[: args.limit], 1):
            _print_paper(console, number, DigestEntry(paper, None, number))
    return EXIT_OK


def _print_paper(console: Console, number: int, entry: DigestEntry) -> None:
    paper = entry.paper
    link = paper.abs_url or paper.hf_url or ""
    title = escape(paper.title)
    heading = f"[link={link}]{title}[/link]" if link else title
    tags = []
    if entry.announce_type == "cross":
        tags.append("cross-list")
    if paper.hf_upvotes is not None:
        tags.append(f"▲ {paper.hf_upvotes}")
    if paper.hf_comments:
        tags.append(f"💬 {paper.hf_comments}")
    console.print(f"\n[bold]{number}. {heading}[/]" + (f"  [magenta]{' · '.join(tags)}[/]" if tags else ""))
    console.print(f"   [cyan]{escape(short_authors(paper.authors))}[/]")
    summary = paper.hf_ai_summary or paper.abstract
    if summary:
        console.print("   " + escape(trim(summary, 320)), highlight=False)
    meta = [", ".join(paper.categories[:4])] if paper.categories else []
    meta.append(link)
    if paper.code_url:
        meta.append(f"code: {paper.code_url}" + (f" ★ {paper.github_stars}" if paper.github_stars else ""))
    if paper.project_url:
        meta.append(f"project: {paper.project_url}")
    if paper.hf_thumbnail:
        meta.append(f"image: {paper.hf_thumbnail}")
    console.print("   [dim]" + escape(" · ".join(m for m in meta if m)) + "[/]", highlight=False)


# ---------------------------------------------------------------------- search


async def cmd_search(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    query = parse_query(
        " ".join(args.query),
        category=args.category,
        author=args.author,
        since_days=args.since,
        has_code=args.has_code,
    )
    err = Console(stderr=True, highlight=False)
    ranking, note = None, None
    try:
        async with open_core(settings, read_only=True) as core:
            empty = await core.store.count_papers() == 0
            if not empty:
                hits, ranking, note = await meaning_cli.search_hits(
                    settings, core.store, query, limit=args.limit, mode=args.mode)
    except StoreError as error:
        if error.kind != "missing":
            raise
        empty = True
    if empty and not query.is_empty:
        if args.json:
            print("[]")
        err.print(f"The store is empty: nothing to search yet ({escape(str(settings.database.path))}). "
                  "Run [bold]paperbot fetch[/] first.", soft_wrap=True)
        return EXIT_FAILED
    if empty:
        hits = []
    if note:
        err.print(f"[yellow]note:[/] {escape(note)}")
    if args.json:
        print(json.dumps([
            {
                "id": h.paper.key,
                "title": h.paper.title,
                "authors": h.paper.authors,
                "categories": h.paper.categories,
                "url": h.paper.abs_url or h.paper.hf_url,
                "pdf_url": h.paper.pdf_url,
                "code_url": h.paper.code_url,
                "announced": h.paper.announced.isoformat() if h.paper.announced else None,
                "hf_upvotes": h.paper.hf_upvotes,
                "matched_all_words": h.matched_all,
            }
            for h in hits
        ], indent=2, ensure_ascii=False))
        return EXIT_OK
    for note in query.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if query.is_empty:
        console.print("Nothing to search for: type some words, a phrase in quotes, or an arXiv id.")
        return EXIT_USAGE
    if not hits:
        console.print(f"No papers match [bold]{escape(query.describe())}[/].")
        if query.category_like_words:
            console.print(f"Did you mean a category filter? Try --category {query.category_like_words[0]}")
        elif sum(len(g) for g in query.groups) > 2:
            console.print("Try fewer words, or a phrase in quotes.")
        return EXIT_OK
    if ranking:
        console.print(f"[dim]ranked by {ranking}[/]")
    for number, hit in enumerate(hits, 1):
        _print_paper(console, number, DigestEntry(hit.paper, None, number))
    return EXIT_OK


# ---------------------------------------------------------------------- backfill


async def cmd_backfill(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.backfill import backfill

    known, unknown = split_categories(args.category)
    if unknown or len(known) != 1:
        console.print(f"[red]Not one arXiv category:[/] {escape(args.category)}")
        return EXIT_USAGE
    async with open_core(settings) as core:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console,
        ) as progress:
            task = progress.add_task(f"backfill {known[0]}", total=None, note="")

            def report(done: int, total: int | None, note: str) -> None:
                progress.update(task, completed=done, total=total, note=note)

            summary = await backfill(core, known[0], days=args.days, progress=report)
    console.print(
        f"{summary.fetched} papers fetched in {summary.pages} pages: "
        f"{summary.new} new to the store, {summary.updated} updated."
    )
    if summary.error:
        console.print(f"[red]Stopped early:[/] {escape(summary.error)}")
        return EXIT_FAILED
    return EXIT_OK


async def cmd_reindex(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    """Build the search index again from the database (it is derived: nothing is lost)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    store = Store(settings.database.location, busy_timeout_ms=settings.database.busy_timeout_ms,
                  index_dir=settings.database.search_index_dir, search_catch_up=False)
    await store.open()
    try:
        started = time.perf_counter()
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console,
        ) as progress:
            task = progress.add_task("reindex", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            count = await store.search_service.rebuild(report)
        seconds = time.perf_counter() - started
        console.print(f"Indexed {count:,} papers in {seconds:.1f} s into {store.index_dir}.")
    except IndexLockedError as error:
        console.print(f"[red]Not rebuilt:[/] {escape(str(error))} (stop the bot first, or give this"
                      " command its own [database] search_index_dir)")
        return EXIT_FAILED
    finally:
        await store.close()
    return EXIT_OK


# ---------------------------------------------------------------------- config, run, sync


def cmd_check_config(loaded: LoadedSettings, console: Console) -> int:
    source = str(loaded.source) if loaded.source else "built-in defaults (no config file found)"
    console.print(f"[green]Configuration is valid.[/] Source: {escape(source)}")
    data = loaded.settings.model_dump(mode="json")
    data["secrets"] = {TOKEN_ENV: mask_secret(discord_token())}
    if data.get("database", {}).get("url") or loaded.settings.database.effective_url:
        data["database"]["url"] = loaded.settings.database.display  # the password masked
    console.print_json(json.dumps(data))
    return EXIT_OK


def cmd_run(settings: Settings, console: Console) -> int:
    token = discord_token()
    if token is None:
        console.print(
            f"[bold red]{TOKEN_ENV} is not set.[/] paperbot reads the bot token from the environment.\n"
            "Create an application at https://discord.com/developers/applications, add a Bot, "
            "copy its token, then:\n"
            f"  export {TOKEN_ENV}='…your token…'\n  paperbot run\n"
            "See the README section 'Creating the Discord application'."
        )
        return EXIT_USAGE
    from bot.app import run_bot

    return run_bot(settings, token)


def cmd_sync(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    token = discord_token()
    if token is None:
        console.print(f"[bold red]{TOKEN_ENV} is not set.[/] Syncing commands needs the bot token.")
        return EXIT_USAGE
    from bot.app import sync_commands

    return sync_commands(settings, token, guild_id=args.guild, console=console)


# ---------------------------------------------------------------------- backup, restore


def cmd_backup(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from bot.store.backup import backup

    if settings.database.effective_url:
        raise StoreError("paperbot backup copies an SQLite file; for PostgreSQL use pg_dump")
    made = backup(Path(settings.database.path), Path(args.path),
                  busy_timeout_ms=settings.database.busy_timeout_ms, replace=args.force)
    console.print(f"Backed up {made.papers:,} papers (schema version {made.schema_version}, "
                  f"{made.size / 1_000_000:.1f} MB) to {escape(str(made.path))}; the copy passed "
                  "SQLite's quick_check.", soft_wrap=True)
    return EXIT_OK


def cmd_restore(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from bot.store.backup import restore

    if settings.database.effective_url:
        raise StoreError("paperbot restore puts back an SQLite file; for PostgreSQL use pg_restore")
    done = restore(Path(args.path), Path(settings.database.path))
    kept = (f"; the previous database is kept as {escape(str(done.set_aside))}"
            if done.set_aside else "")
    console.print(f"Restored {done.snapshot.papers:,} papers (schema version "
                  f"{done.snapshot.schema_version}) from {escape(str(args.path))} to "
                  f"{escape(str(settings.database.path))}{kept}.", soft_wrap=True)
    return EXIT_OK


# ---------------------------------------------------------------------- entry point


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is answered in one line (usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _verbose(parser: argparse.ArgumentParser, *, where: str) -> None:
    # On the subcommands with SUPPRESS, so `paperbot fetch -v` and `paperbot -v fetch` both work.
    parser.add_argument("-v", "--verbose", action="store_true",
                        default=False if where == "top" else argparse.SUPPRESS,
                        help="debug logging on stderr")


def _subcommand(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary, description=description)
    _verbose(parser, where=name)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="paperbot",
        description="Research papers from arXiv, Hugging Face and RSS, for Discord.",
        epilog="Exit codes: 0 done, 1 failed (a feed, the database, Discord; or the output was "
               "closed early), 2 bad command line or configuration, 3 Discord rejected the token, "
               "130 interrupted.",
    )
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PAPERBOT_CONFIG, else ./config.toml, else defaults)")
    _verbose(parser, where="top")
    parser.add_argument("--version", action="version", version=f"paperbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = _subcommand(sub, "fetch", "poll every feed once now",
                        "Poll every enabled feed once, store what is new, and print one line per "
                        "feed. A feed that failed before is retried at once.")
    fetch.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    fetch.add_argument("--force", action="store_true",
                       help="ignore the servers' cache lifetimes too (still a conditional GET)")
    fetch.add_argument("--progress", action="store_true",
                       help="report each feed's download, parse and store on stderr "
                            "(automatic on a terminal)")

    feeds = _subcommand(sub, "feeds", "each feed's state: last success, failures, backoff",
                        "List the feeds and how polling them has gone. Reads the database "
                        "without writing to it.")
    feeds.add_argument("--json", action="store_true", help="machine-readable list on stdout")

    preview = _subcommand(sub, "preview", "show the digest of the latest announcement",
                          "Show the latest arXiv announcement as a digest would rank it, and the "
                          "latest Hugging Face day. An empty store is fetched first.")
    preview.add_argument("--category", action="append", metavar="CAT",
                         help="arXiv category (repeatable; default: the configured arXiv feeds')")
    preview.add_argument("--limit", type=_bounded(MAX_LIMIT, "papers"), default=10, metavar="N",
                         help="papers to show per listing (default 10)")
    preview.add_argument("--progress", action="store_true",
                         help="when it fetches: report each feed's progress on stderr "
                              "(automatic on a terminal)")

    search = _subcommand(sub, "search", "search stored papers",
                         'Search the stored papers. Words, "a phrase", -excluded words, '
                         "author:name, cat:cs.LG or an arXiv id. Reads the database without "
                         "writing to it.")
    search.add_argument("query", nargs="*",
                        help='words, "a phrase", -excluded, author:name, cat:cs.LG or an arXiv id')
    search.add_argument("--category", metavar="C", help="only papers in this category (e.g. cs.CL)")
    search.add_argument("--author", metavar="A", help="only papers with an author of this name")
    search.add_argument("--since", type=_bounded(MAX_DAYS, "days"), metavar="DAYS",
                        help="only papers announced in the last DAYS days")
    search.add_argument("--has-code", action="store_true", help="only papers with a code link")
    search.add_argument("--limit", type=_bounded(MAX_LIMIT, "papers"), default=10, metavar="N",
                        help="at most N results (default 10)")
    search.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    search.add_argument("--mode", choices=meaning_cli.MODES, default="hybrid",
                        help="hybrid: by meaning and words (default); words; meaning")

    backfill = _subcommand(sub, "backfill", "load past papers of a category from the arXiv API",
                           "Load the papers of one arXiv category from the last N days through "
                           "the arXiv API, politely paced (3 s between pages).")
    backfill.add_argument("--category", required=True, metavar="CAT", help="one arXiv category")
    backfill.add_argument("--days", type=_bounded(MAX_DAYS, "days"), required=True, metavar="N",
                          help="how many days back")

    _subcommand(sub, "reindex", "rebuild the search index from the database (progress bar)",
                "Build the search index again from the database. The index is derived from "
                "the database: nothing is lost.")
    meaning_cli.add_parsers(sub)  # embed, similar
    for name in ("embed", "similar"):
        _verbose(sub.choices[name], where=name)
    copy = _subcommand(sub, "copy-store", "copy this SQLite store into an empty PostgreSQL database",
                       "Copy every table of the SQLite store into an empty PostgreSQL database, "
                       "with a progress bar; the row counts are compared at the end.")
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host:port/database")
    _subcommand(sub, "check-config", "validate and print the effective settings",
                "Validate the configuration and print the settings in effect (token masked).")
    _subcommand(sub, "run", "start the Discord bot (needs DISCORD_TOKEN)",
                "Start the bot: poll feeds, post digests, answer commands, until stopped "
                "(SIGTERM or Ctrl-C).")
    sync = _subcommand(sub, "sync", "register slash commands with Discord",
                       "Register the slash commands with Discord, globally (up to an hour to "
                       "appear) or for one server (instant).")
    sync.add_argument("--guild", type=int, metavar="ID", help="one server only (instant)")

    backup = _subcommand(sub, "backup", "copy the database safely, even while the bot runs",
                         "Copy the database with SQLite's online backup, safe while the bot "
                         "runs, then check the copy. PATH may be a folder (a dated file is "
                         "made in it).")
    backup.add_argument("path", metavar="PATH", help="file or folder to write the backup to")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")

    restore = _subcommand(sub, "restore", "put a backup back in place (stop the bot first)",
                          "Check a backup, set the current database aside (as "
                          "NAME.replaced-TIMESTAMP) and put the backup in its place. Stop the "
                          "bot first: restore refuses while another process uses the database.")
    restore.add_argument("path", metavar="BACKUP", help="a file made by `paperbot backup`")
    return parser


def _bounded(maximum: int, unit: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected at least 1, got {text}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"expected at most {maximum:,} {unit}, got {text}")
        return value

    return parse


_EXCLUDED = re.compile(r"^-[^-\d]")


def _split_excluded_words(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """Take `-word` (an excluded search word, as README shows) out of a search command line.

    argparse would read it as an unknown option; it is a query word unless it is one of
    search's options. Returns (the command line without them, the words).
    """
    commands = {"search"}
    position = 0
    while position < len(argv):
        token = argv[position]
        if token == "--config":
            position += 2
            continue
        if not token.startswith("-"):
            break
        position += 1
    if position >= len(argv) or argv[position] not in commands:
        return argv, []
    options: dict[str, bool] = {}  # option -> takes a value
    for action in _subparser(parser, argv[position])._actions:
        for option in action.option_strings:
            options[option] = action.nargs != 0
    kept, words = argv[: position + 1], []
    rest = iter(argv[position + 1:])
    for token in rest:
        if token == "--":
            kept.append(token)
            kept.extend(rest)
            break
        name = token.split("=", 1)[0]
        if name in options:
            kept.append(token)
            if options[name] and "=" not in token:
                kept.append(next(rest, ""))
        elif _EXCLUDED.match(token):
            words.append(token)
        else:
            kept.append(token)
    return kept, words


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def _one_line(err: Console, message: str) -> None:
    err.print(f"[bold red]paperbot:[/] {escape(message)}", soft_wrap=True, highlight=False)


def _quiet_stdout() -> None:
    """The reader went away (`paperbot search x | head -1`): stop writing, say nothing."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments, excluded = _split_excluded_words(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(arguments)
    if excluded:
        args.query = [*args.query, *excluded]
    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        loaded = load_settings(args.config)
    except ConfigError as error:
        err.print(f"[bold red]Configuration error[/]\n{escape(str(error))}")
        return EXIT_USAGE
    settings = loaded.settings
    _configure_logging(settings, args.verbose, args.command)
    database = settings.database.path

    try:
        if args.command == "check-config":
            return cmd_check_config(loaded, console)
        if args.command == "run":
            return cmd_run(settings, err)
        if args.command == "sync":
            return cmd_sync(settings, args, console)
        if args.command == "backup":
            return cmd_backup(settings, args, console)
        if args.command == "restore":
            return cmd_restore(settings, args, console)
        handler = {
            "fetch": cmd_fetch,
            "feeds": cmd_feeds,
            "preview": cmd_preview,
            "search": cmd_search,
            "backfill": cmd_backfill,
            "reindex": cmd_reindex,
            "embed": meaning_cli.cmd_embed,
            "similar": meaning_cli.cmd_similar,
            "copy-store": cmd_copy_store,
        }[args.command]
        code = asyncio.run(handler(settings, args, console))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_FAILED  # as rich does for its own writes: quiet, but the output was cut short
    except (StoreError, MigrationError) as error:
        _one_line(err, str(error))
        return EXIT_FAILED
    except sqlite3.Error as error:
        _one_line(err, str(explain(error, database, busy_timeout_ms=settings.database.busy_timeout_ms)))
        return EXIT_FAILED
    except asyncpg.PostgresError as error:
        _one_line(err, f"database {settings.database.display}: {error}")
        return EXIT_FAILED
    except OSError as error:
        _one_line(err, str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

