"""`paperbot copy-store --to postgresql://...`: the terminal side (progress bar, counts table)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.config import Settings
from bot.store.copy import CopyError, copy_store
from bot.store.dialect import is_postgres_url, mask_url


async def cmd_copy_store(settings: Settings, args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    target = args.to
    if not is_postgres_url(target):
        console.print("[bold red]--to must be a postgresql://user@host:port/database URL[/]")
        return 2
    source = settings.database.path
    console.print(f"Copying {escape(str(source))} into {escape(mask_url(target))}")
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=max(total, 1))
            bar.update(tasks[table], completed=done if total else 1)

        try:
            copied = await copy_store(source, target, progress=progress)
        except CopyError as error:
            console.print(f"[bold red]Not copied:[/] {escape(str(error))}")
            return 1
    table = Table(title="Rows per table (verified)")
    table.add_column("table")
    table.add_column("SQLite", justify="right")
    table.add_column("PostgreSQL", justify="right")
    for item in copied:
        table.add_row(item.name, f"{item.source_rows:,}", f"{item.target_rows:,}")
    console.print(table)
    console.print("[green]Copied and verified.[/] Set [database] url (or $PAPERBOT_DATABASE_URL) "
                  "to use it; each process rebuilds its search index from it at start.")
    return 0
