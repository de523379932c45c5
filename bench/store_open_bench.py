"""What opening the store costs on a large file, and how fast `paperbot backup` copies it.

Builds (or reuses, with --db) a store of N papers (bench/search_bench.py's generator), then
times: a read-write open (what `fetch` does), a read-only open (`search`, `feeds`), an open
with SQLite's quick_check (what `run` does before it logs in), and an online backup.

    python bench/store_open_bench.py [--papers 100000] [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bench.search_bench import _migrate_only, build_store
from bot.store import Store
from bot.store.backup import backup


async def timed_open(path: Path, **options: bool) -> float:
    started = time.perf_counter()
    store = await Store(path).open(**options)
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="reuse (or build once into) this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if not path.exists():
            await _migrate_only(path)
            await asyncio.to_thread(build_store, path, Corpus(seed=7), args.papers)
        # The first open may migrate and build the search index; the figures are the steady state.
        print(f"{'first open':>20}: {await timed_open(path) * 1000:8.1f} ms (migrations, index build)")
        size = path.stat().st_size / 1e6
        print(f"store: {path} ({size:.0f} MB)")
        for label, options in (("read-write open", {}), ("read-only open", {"read_only": True}),
                               ("open + quick_check", {"check_integrity": True})):
            runs = [await timed_open(path, **options) for _ in range(3)]
            print(f"{label:>20}: {min(runs) * 1000:8.1f} ms (best of 3)")
        started = time.perf_counter()
        made = await asyncio.to_thread(backup, path, Path(tmp) / "copy.db")
        elapsed = time.perf_counter() - started
        print(f"{'backup':>20}: {elapsed * 1000:8.1f} ms for {made.papers:,} papers "
              f"({made.size / 1e6 / elapsed:.0f} MB/s, copy checked)")


if __name__ == "__main__":
    asyncio.run(main())
