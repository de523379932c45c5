"""`paperbot embed` and `paperbot similar`: the meaning service from a terminal."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.markup import escape

from bot.config import Settings
from bot.meaning import MeaningService, MeaningUnavailable, build_service
from bot.sources.ids import parse_arxiv_id
from bot.store import Store


def add_parsers(sub: argparse._SubParsersAction) -> None:
    embed = sub.add_parser(
        "embed", help="compute the vectors search by meaning needs (resumable)",
        description="Compute the vectors that search by meaning needs for every stored paper "
                    "that lacks one. Resumable: an interrupted run continues where it stopped.")
    embed.add_argument("--rebuild-index", action="store_true",
                       help="also rebuild the vector index from the stored vectors")
    similar = sub.add_parser(
        "similar", help="papers closest in meaning to one paper",
        description="List the stored papers closest in meaning to one paper, with why.")
    similar.add_argument("paper", help="arXiv id or URL")
    similar.add_argument("--limit", type=_limit, default=5, metavar="N",
                         help="how many papers (1 to 100, default 5)")


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 1 to 100, got {text}")
    return value


async def _open(settings: Settings) -> tuple[Store, MeaningService]:
    store = Store(settings.database.path, busy_timeout_ms=settings.database.busy_timeout_ms)
    await store.open()
    service = await build_service(settings, store).start()
    return store, service


async def cmd_embed(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    store, service = await _open(settings)
    try:
        if not service.ready:
            console.print(f"[red]{escape(service.problem or 'unavailable')}[/]")
            return 1
        if args.rebuild_index:
            await service.rebuild_index()
        started = time.perf_counter()
        with Progress(TextColumn("[bold]embed"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("embed", total=None)
            count = await service.embed_pending(lambda done, total: progress.update(task, completed=done,
                                                                                     total=total))
        elapsed = time.perf_counter() - started
        rate = f" ({count / elapsed:.0f} papers/s)" if count and elapsed > 0 else ""
        assert service.index is not None
        console.print(f"{count:,} papers embedded{rate}; {len(service.index):,} in the vector index "
                      f"(model {service.model_id}).")
        return 0
    finally:
        await store.close()


async def cmd_similar(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    parsed = parse_arxiv_id(args.paper)
    key = parsed[0] if parsed else None
    store, service = await _open(settings)
    try:
        if not service.ready:
            console.print(f"[red]{escape(service.problem or 'unavailable')}[/]")
            return 1
        paper = await store.get_paper(key or args.paper.strip())
        if paper is None:
            console.print(f"No stored paper {escape(args.paper)}.")
            return 2
        await service.embed_pending()
        console.print(f"Closest to [bold]{escape(paper.title)}[/] ({paper.key}):")
        for number, rel in enumerate(await service.similar(paper, args.limit), 1):
            console.print(f"{number:>2}. [bold]{escape(rel.paper.title)}[/] ({rel.paper.key}) "
                          f"{rel.similarity:.2f}\n    {escape(rel.why.replace('*', ''))}")
        return 0
    finally:
        await store.close()


MODES = ("hybrid", "words", "meaning")


async def embed_after_fetch(settings: Settings, store: Store, console: Console, *, quiet: bool) -> str | None:
    """`paperbot fetch` embeds what it ingested, as the bot does after each poll."""
    if not settings.meaning.enabled:
        return None
    service = await build_service(settings, store).start()
    if not service.ready:
        return f"search by meaning: {service.problem}"
    if await service.pending() == 0:
        return None
    count = await service.embed_pending()
    return None if quiet else f"{count:,} papers embedded for search by meaning."


async def search_hits(settings: Settings, store: Store, query, *, limit: int, mode: str):
    """(hits, ranking label, note) for `paperbot search`, the way /search ranks them."""
    from bot.meaning.hybrid import hybrid_hits, meaning_text, ranking_label

    service = None
    note = None
    if mode != "words" and meaning_text(query):
        service = await build_service(settings, store).start()
        if service.ready:
            pending = await service.pending()
            if pending:
                note = (f"{pending:,} papers are not embedded yet; `paperbot embed` adds them to "
                        "search by meaning")
        elif mode == "hybrid":
            note = f"{service.problem}; searching by words"
    try:
        hits = await hybrid_hits(query, limit=limit, mode=mode, word_search=store.search, meaning=service,
                                 load=store.papers_by_ids)
    except MeaningUnavailable as problem:
        return [], None, str(problem)
    return hits, ranking_label(mode, query, service), note
