"""Relevance of /search by mode: MRR@10 on paraphrase queries and on exact-word queries.

The corpus is every paper of the captured real feeds (tests/fixtures/real). Two labelled sets,
the answer to each query being one paper:
- paraphrases: bench/data/paraphrases.tsv, descriptions of real abstracts written for this
  benchmark (a reader who remembers the idea, not the title);
- exact words: /search's known-item queries (tests/test_search_cog.py) plus, for 100 papers
  drawn with a fixed seed, four consecutive words of the title (as bench/search_bench.py).

    python bench/relevance_bench.py [--db PATH]   (--db keeps the embedded store between runs)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import parse_settings
from bot.meaning import build_service
from bot.meaning.hybrid import MODES, hybrid_hits
from bot.sources import parse_feed
from bot.store import Store

REAL = ROOT / "tests" / "fixtures" / "real"
PARAPHRASES = ROOT / "bench" / "data" / "paraphrases.tsv"
KNOWN_ITEMS = [  # tests/test_search_cog.py, those without options
    ("hallucination detection novel summarization", "2608.18082"),
    ("catastrophic forgetting incremental", "2405.08015"),
    ("Cramér distance reinforcement", "2605.08104"),
    ("Visual Jigsaw Post-Training", "2509.25190"),
    ("Bayesian low-rank adaptation", "2605.08110"),
    ("author:heilbron entity", "2608.18083"),
    ("Multiplayer Nash Preference Optimization zebrafish", "2509.23102"),
]


async def build_store(store: Store) -> None:
    for path in sorted(REAL.iterdir()):
        if path.suffix not in (".xml", ".json"):
            continue
        with contextlib.suppress(ValueError):
            parsed = parse_feed(path.read_bytes())
            if not parsed.papers:
                continue
            feed = await store.upsert_feed(f"http://127.0.0.1/{path.name}", kind=parsed.kind, name=None)
            await store.record_feed_batch(
                feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed,
                fingerprint=parsed.fingerprint(), etag=None, last_modified=None, fresh_until=None,
                kind=parsed.kind)


def paraphrases() -> list[tuple[str, str]]:
    rows = []
    for line in PARAPHRASES.read_text().splitlines():
        if line.startswith(("#", "key\t")) or not line.strip():
            continue
        key, query = line.split("\t", 1)
        rows.append((query, key))
    return rows


async def title_queries(store: Store, n: int = 100, seed: int = 5) -> list[tuple[str, str]]:
    from bot.meaning.fuse import words

    rng = random.Random(seed)
    ids = sorted(await store.recent_paper_ids(days=100_000, limit=1_000_000))
    papers = await store.papers_by_ids(rng.sample(ids, min(len(ids), n * 2)))
    out = []
    for paper in papers:
        w = [t for t in words(paper.title) if len(t) > 1]
        if len(w) < 5:
            continue
        start = rng.randrange(0, len(w) - 3)
        out.append((" ".join(w[start:start + 4]), paper.key))
        if len(out) == n:
            break
    return out


def reciprocal_rank(keys: list[str], answer: str, cutoff: int = 10) -> float:
    for i, key in enumerate(keys[:cutoff]):
        if key == answer:
            return 1.0 / (i + 1)
    return 0.0


async def run_queries(store: Store, service, queries: list[tuple[str, str]], mode: str
                      ) -> tuple[float, list[float]]:
    """The path /search and `paperbot search` take: parse, then hybrid_hits in the mode."""
    from bot.search import parse_query

    rr, times = [], []
    for text, answer in queries:
        started = time.perf_counter()
        hits = await hybrid_hits(parse_query(text), limit=10, mode=mode, word_search=store.search,
                                 meaning=service, load=store.papers_by_ids)
        times.append((time.perf_counter() - started) * 1000)
        rr.append(reciprocal_rank([h.paper.key for h in hits], answer))
    return statistics.mean(rr), times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, help="store to (re)use; default: a fresh temporary one")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.db"
    settings = parse_settings({"database": {"path": str(db)},
                               "meaning": {"max_tokens": args.max_tokens,
                                           "cache_dir": str(Path.home() / ".cache" / "paperbot-bench")}})
    async with Store(db) as store:
        if await store.count_papers() == 0:
            await build_store(store)
        await store.search_service.catch_up()
        service = await build_service(settings, store).start()
        if not service.ready:
            raise SystemExit(service.problem)
        started = time.perf_counter()
        embedded = await service.embed_pending()
        if embedded:
            took = time.perf_counter() - started
            print(f"embedded {embedded} papers in {took:.1f} s ({embedded / took:.0f} papers/s)")
        total = await store.count_papers()
        sets = {"paraphrase": paraphrases(), "exact words": KNOWN_ITEMS + await title_queries(store)}
        print(f"\n{total} real papers; model {service.model_id}")
        print(f"{'query set':<14}{'queries':>8}" + "".join(f"{m:>10}" for m in MODES) + "   (MRR@10)")
        latencies: dict[str, list[float]] = {m: [] for m in MODES}
        for name, queries in sets.items():
            scores = []
            for mode in MODES:
                mrr, times = await run_queries(store, service, queries, mode)
                scores.append(mrr)
                latencies[mode] += times
            print(f"{name:<14}{len(queries):>8}" + "".join(f"{s:>10.3f}" for s in scores))
        print("\nlatency per query, ms (p50 / p95):")
        for mode, times in latencies.items():
            times.sort()
            print(f"  {mode:<8} {statistics.median(times):6.1f} / {times[int(len(times) * 0.95)]:6.1f}")


if __name__ == "__main__":
    asyncio.run(main())
