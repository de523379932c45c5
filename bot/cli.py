"""The `paperbot` command: the same core the bot uses, from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot import __version__
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
from bot.store import MigrationError, Store
from bot.taxonomy import categories_of_rss_url, split_categories

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

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
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    store = Store(settings.database.location, busy_timeout_ms=settings.database.busy_timeout_ms,
                  index_dir=settings.database.search_index_dir)
    await store.open()
    session = Fetcher.make_session(settings)
    try:
        fetcher = Fetcher(session, settings)
        ingestor = Ingestor(store, fetcher, settings)
        await ingestor.sync_feeds()
        yield Core(settings, store, fetcher, ingestor)
    finally:
        await session.close()
        await store.close()


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
        outcomes = await core.ingestor.poll_all(force=args.force, backoff=False)
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


async def cmd_feeds(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    async with open_core(settings) as core:
        feeds = await core.store.list_feeds()
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
        ], indent=2))
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

    async with open_core(settings) as core:
        failures: list[FeedOutcome] = []
        if await core.store.count_papers() == 0:
            console.print("[dim]The store is empty: fetching the feeds first…[/]")
            outcomes = await core.ingestor.poll_all(backoff=False)
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
        args.query,
        category=args.category,
        author=args.author,
        since_days=args.since,
        has_code=args.has_code,
    )
    async with open_core(settings) as core:
        hits, ranking, note = await meaning_cli.search_hits(settings, core.store, query, limit=args.limit,
                                                            mode=args.mode)
    if note:
        Console(stderr=True, highlight=False).print(f"[yellow]note:[/] {escape(note)}")
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

    store = Store(settings.database.path, busy_timeout_ms=settings.database.busy_timeout_ms,
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


# ---------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperbot",
        description="Research papers from arXiv, Hugging Face and RSS, for Discord.",
    )
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PAPERBOT_CONFIG, else ./config.toml, else defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"paperbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = sub.add_parser("fetch", help="poll every feed once now")
    fetch.add_argument("--json", action="store_true", help="machine-readable summary")
    fetch.add_argument("--force", action="store_true",
                       help="ignore the servers' cache lifetimes too (still a conditional GET)")

    feeds = sub.add_parser("feeds", help="each feed's state: last success, failures, backoff")
    feeds.add_argument("--json", action="store_true")

    preview = sub.add_parser("preview", help="show the digest of the latest announcement")
    preview.add_argument("--category", action="append", metavar="CAT", help="arXiv category (repeatable)")
    preview.add_argument("--limit", type=_positive, default=10, metavar="N")

    search = sub.add_parser("search", help="search stored papers")
    search.add_argument("query", help='words, "a phrase", author:name, cat:cs.LG or an arXiv id')
    search.add_argument("--category", metavar="C")
    search.add_argument("--author", metavar="A")
    search.add_argument("--since", type=_positive, metavar="DAYS")
    search.add_argument("--has-code", action="store_true")
    search.add_argument("--limit", type=_positive, default=10, metavar="N")
    search.add_argument("--json", action="store_true")
    search.add_argument("--mode", choices=meaning_cli.MODES, default="hybrid",
                        help="hybrid: by meaning and words (default); words; meaning")

    backfill = sub.add_parser("backfill", help="load past papers of a category from the arXiv API")
    backfill.add_argument("--category", required=True, metavar="CAT")
    backfill.add_argument("--days", type=_positive, required=True, metavar="N")

    sub.add_parser("reindex", help="rebuild the search index from the database (progress bar)")
    meaning_cli.add_parsers(sub)  # embed, similar

    sub.add_parser("check-config", help="validate and print the effective settings")
    sub.add_parser("run", help="start the Discord bot (needs DISCORD_TOKEN)")
    sync = sub.add_parser("sync", help="register slash commands with Discord")
    sync.add_argument("--guild", type=int, metavar="ID", help="one server only (instant)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a number of at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        loaded = load_settings(args.config)
    except ConfigError as error:
        err.print(f"[bold red]Configuration error[/]\n{escape(str(error))}")
        return EXIT_USAGE
    settings = loaded.settings
    _configure_logging(settings, args.verbose, args.command)

    try:
        if args.command == "check-config":
            return cmd_check_config(loaded, console)
        if args.command == "run":
            return cmd_run(settings, err)
        if args.command == "sync":
            return cmd_sync(settings, args, console)
        handler = {
            "fetch": cmd_fetch,
            "feeds": cmd_feeds,
            "preview": cmd_preview,
            "search": cmd_search,
            "backfill": cmd_backfill,
            "reindex": cmd_reindex,
            "embed": meaning_cli.cmd_embed,
            "similar": meaning_cli.cmd_similar,
        }[args.command]
        return asyncio.run(handler(settings, args, console))
    except MigrationError as error:
        err.print(f"[bold red]Database error:[/] {escape(str(error))}")
        return EXIT_FAILED
    except OSError as error:
        err.print(f"[bold red]Error:[/] {escape(str(error))}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

