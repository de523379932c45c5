"""Memory of a process answering searches on a big store: anonymous memory vs the mapped index.

    python bench/memory_bench.py [--db /tmp/paperbot-bench-1000000.db] [--queries 300]

Opens the store as the bot does (`Store.open`, which opens and catches up the search index),
answers a mix of searches through `Store.search` (limit 50, as /search), then reads the
kernel's accounting of this process: anonymous resident memory (Python objects, SQLite's
caches, tantivy's heap) and, separately, the resident pages of the memory-mapped index files
(page cache the kernel can drop and share between processes).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bot.search import parse_query
from bot.store import Store


def mapped_kib(prefix: str) -> tuple[int, int]:
    """(resident KiB, mapped size KiB) of this process's mappings of files under prefix."""
    rss = size = 0
    current = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5:  # a mapping's header line
                current = len(head) >= 6 and head[5].startswith(prefix)
            elif current and head[0] == "Rss:":
                rss += int(head[1])
            elif current and head[0] == "Size:":
                size += int(head[1])
    return rss, size


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def main(db: Path, queries: int) -> None:
    corpus = Corpus()
    rng = random.Random(11)
    before = status_kib("RssAnon")
    store = await Store(db).open()
    total = await store.count_papers()
    started = time.perf_counter()
    texts = []
    for _ in range(queries):
        kind = rng.randrange(5)
        if kind == 0:
            texts.append((" ".join(corpus.words(rng.randint(2, 4))), {}))
        elif kind == 1:
            texts.append((rng.choice(corpus.vocabulary[:5]), {}))
        elif kind == 2:
            texts.append(('"' + " ".join(corpus.words(2)) + '"', {}))
        elif kind == 3:
            texts.append((" ".join(corpus.words(2)), {"category": rng.choice(corpus.categories)}))
        else:
            texts.append(("", {"author": rng.choice(corpus.authors)}))
    for text, options in texts:
        await store.search(parse_query(text, **options), limit=50)
    seconds = time.perf_counter() - started
    index_rss, index_size = mapped_kib(str(store.index_dir.resolve()))
    db_rss, _db_size = mapped_kib(str(db.resolve()))
    print(f"{total:,} papers; {queries} searches in {seconds:.1f} s")
    print(f"anonymous resident memory (RssAnon): {status_kib('RssAnon') / 1024:,.0f} MiB"
          f" (Python and imports before opening the store: {before / 1024:,.0f} MiB)")
    print(f"search index mapped: {index_rss / 1024:,.0f} MiB resident of {index_size / 1024:,.0f} MiB mapped"
          f" (file-backed page cache, shared, reclaimable)")
    print(f"database file mapped: {db_rss / 1024:,.0f} MiB resident; process RSS total"
          f" {status_kib('VmRSS') / 1024:,.0f} MiB, peak {status_kib('VmHWM') / 1024:,.0f} MiB")
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/paperbot-bench-1000000.db"))
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.queries))
