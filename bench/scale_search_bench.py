"""/search at a million papers on both store backends: SQLite beside PostgreSQL, same data.

    python bench/scale_search_bench.py [--db /tmp/paperbot-bench-1000000.db] [--queries 100]

- The SQLite store is search_bench.py's big synthetic store (built there first, then reused).
- The PostgreSQL store is that same store moved with `paperbot copy-store` (the real code path,
  COPY in chunks, counts verified) into a local server kept in `--pg-dir` (started like the
  tests' one, as an unprivileged user, fsync off), so later runs reuse it. Its search index is
  its own directory, built from PostgreSQL by the bot's own code (`SearchService.rebuild`).
- Then the same query classes as search_bench.py, through `Store.search` (the function
  `paperbot search` and /search call: engine ids, then the page's rows from the store), on
  both stores in the same run: p50 / p95 / max per class. The engine is the same; what
  differs is where the 50 rows come from.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bench.search_bench import LIMIT, PER_DAY, START, percentiles, query_classes, warm_up
from bot.search import parse_query
from bot.store import Store
from bot.store.copy import copy_store
from tests.pgserver import PgServer

DATABASE = "paperbot_bench"


async def ensure_copy(server: PgServer, db: Path, papers: int) -> str:
    """The PostgreSQL copy of the SQLite store, made once (its time printed) and then reused."""
    admin = await asyncpg.connect(server.url())
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if exists:
            target = await asyncpg.connect(server.url(DATABASE))
            try:
                copied = await target.fetchval("SELECT COUNT(*) FROM papers")
            except asyncpg.UndefinedTableError:
                copied = 0
            finally:
                await target.close()
            if copied == papers:
                print(f"reusing the PostgreSQL copy ({copied:,} papers)")
                return server.url(DATABASE)
            await admin.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    url = server.url(DATABASE)
    print(f"copying {db} into PostgreSQL with copy-store …", flush=True)
    started = time.perf_counter()
    plan = await copy_store(db, url)
    seconds = time.perf_counter() - started
    rows = sum(t.target_rows for t in plan)
    print(f"copy-store: {rows:,} rows in {len(plan)} tables in {seconds:.0f} s"
          f" ({rows / seconds:,.0f} rows/s), counts verified")
    return url


async def main(args: argparse.Namespace) -> None:
    db: Path = args.db
    if not db.exists():
        raise SystemExit(f"{db}: build it first with bench/search_bench.py --papers 1000000")
    server = PgServer(keep=args.pg_dir)
    if not server.available:
        raise SystemExit("PostgreSQL is not installed (initdb/pg_ctl): apt-get install -y postgresql")
    server.start()
    try:
        sqlite_store = await Store(db, search_catch_up=False).open()
        total = await sqlite_store.count_papers()
        url = await ensure_copy(server, db, total)
        pg_store = await Store(url, index_dir=args.pg_dir / "search", search_catch_up=False).open()
        if (await asyncio.to_thread(pg_store.search_service.index.num_docs)) != total:
            started = time.perf_counter()
            indexed = await pg_store.search_service.rebuild()
            seconds = time.perf_counter() - started
            print(f"index build from PostgreSQL (SearchService.rebuild): {indexed:,} papers in"
                  f" {seconds:.0f} s = {indexed / seconds:,.0f} papers/s")
        else:
            await pg_store.search_service.catch_up()
        try:
            last_day = START + timedelta(days=(total - 1) // PER_DAY)
            classes = query_classes(Corpus(), db, total, last_day, args.queries)
            engines: list[tuple[str, Callable[..., Awaitable[list]]]] = [
                ("SQLite", sqlite_store.search), ("PostgreSQL", pg_store.search)]
            await warm_up([search for _name, search in engines], Corpus(), db, total, last_day)
            print(f"\n{total:,} papers on each backend; {args.queries} queries per class (limit {LIMIT});"
                  f" load average {os.getloadavg()[0]:.1f}")
            print(f"  {'query class':36s}"
                  + "".join(f" | {name + ' p50/p95/max ms':>32s}" for name, _ in engines))
            for name, cases in classes:
                row = f"  {name:36s}"
                for _engine, search in engines:
                    await search(parse_query(cases[0][0], **cases[0][1]), limit=LIMIT)  # warm
                    seconds = []
                    for text, options, _expected in cases:
                        started = time.perf_counter()
                        await search(parse_query(text, **options), limit=LIMIT)
                        seconds.append(time.perf_counter() - started)
                    p50, p95, worst = percentiles(seconds)
                    row += f" | {p50:10.1f} {p95:10.1f} {worst:10.1f}"
                print(row, flush=True)
        finally:
            await pg_store.close()
            await sqlite_store.close()
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/paperbot-bench-1000000.db"))
    parser.add_argument("--pg-dir", type=Path, default=Path("/tmp/paperbot-bench-pg"))
    parser.add_argument("--queries", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
