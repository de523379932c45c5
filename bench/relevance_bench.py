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
from dataclasses import dataclass
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


# ---------------------------------------------------------------- held-out tuning of the fusion

FOLDS = 5
GRID = {"coverage": (0.0, 0.1, 0.2, 0.3, 0.45, 0.6), "power": (1.0, 2.0, 3.0),
        "rank": (0.0, 0.1, 0.2, 0.4)}


@dataclass
class Captured:
    """One hybrid query's fusion inputs, so other weights can be scored without searching again."""

    answer: str
    exact_keys: list[str]  # arXiv ids typed in the query: first in every mode
    keys: dict[int, str]  # candidate id -> paper key
    found: list  # bot.meaning.fuse.Evidence


async def capture(store: Store, service, queries: list[tuple[str, str]]) -> list[Captured]:
    """Run hybrid /search as the bot does, recording what the fusion was given."""
    from bot.meaning import hybrid
    from bot.meaning.fuse import evidence
    from bot.search import parse_query

    out: list[Captured] = []
    real_fuse = hybrid.fuse
    for text, answer in queries:
        seen: list = []

        def recording(query, papers, sims, word_rank, *, limit, author_only=False, weights=None,
                      seen=seen):
            seen.append((query, dict(papers), dict(sims), list(word_rank)))
            return real_fuse(query, papers, sims, word_rank, limit=limit, author_only=author_only)

        hybrid.fuse = recording
        try:
            hits = await hybrid.hybrid_hits(parse_query(text), limit=10, mode="hybrid",
                                            word_search=store.search, meaning=service,
                                            load=store.papers_by_ids)
        finally:
            hybrid.fuse = real_fuse
        exact = [h.paper.key for h in hits if h.rank == float("inf")]
        if not seen:  # answered without fusion (no free text): nothing to tune
            out.append(Captured(answer, [h.paper.key for h in hits], {}, []))
            continue
        query, papers, sims, word_rank = seen[0]
        out.append(Captured(answer, exact, {pid: p.key for pid, p in papers.items()},
                            evidence(query, papers, sims, word_rank)))
    return out


def captured_mrr(items: list[Captured], weights) -> float:
    from bot.meaning.fuse import weigh

    rr = []
    for c in items:
        keys = c.exact_keys + [c.keys[f.paper_id] for f in weigh(c.found, limit=10, weights=weights)]
        rr.append(reciprocal_rank(keys, c.answer))
    return statistics.mean(rr) if rr else 0.0


def tune(para: list[Captured], exact: list[Captured], floor: float = 0.95):
    """The grid's weights with the best paraphrase MRR among those keeping exact words >= floor
    (all on the tuning queries); ties go to the smaller bonuses."""
    import itertools

    from bot.meaning.fuse import Weights

    best, best_key = None, None
    for cov, power, rank in itertools.product(GRID["coverage"], GRID["power"], GRID["rank"]):
        w = Weights(coverage=cov, power=power, rank=rank)
        p, e = captured_mrr(para, w), captured_mrr(exact, w)
        key = (e >= floor, round(p, 6), round(e, 6), -cov, -rank)
        if best_key is None or key > best_key:
            best, best_key = w, key
    return best


def folds(n: int, k: int, seed: int = 11) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def held_out(para: list[Captured], exact: list[Captured], k: int = FOLDS) -> tuple[float, float, list]:
    """k-fold: tune on k-1 parts of both sets, score the part left out; mean over the k parts
    (each query scored once, by weights that never saw it)."""
    p_folds, e_folds = folds(len(para), k), folds(len(exact), k, seed=12)
    p_rr: list[float] = []
    e_rr: list[float] = []
    chosen = []
    for i in range(k):
        p_tune = [para[j] for f, fold in enumerate(p_folds) if f != i for j in fold]
        e_tune = [exact[j] for f, fold in enumerate(e_folds) if f != i for j in fold]
        w = tune(p_tune, e_tune)
        chosen.append(w)
        p_rr += [captured_mrr([para[j]], w) for j in p_folds[i]]
        e_rr += [captured_mrr([exact[j]], w) for j in e_folds[i]]
    return statistics.mean(p_rr), statistics.mean(e_rr), chosen


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
        from bot.meaning.fuse import DEFAULT_WEIGHTS

        para_c = await capture(store, service, sets["paraphrase"])
        exact_c = await capture(store, service, sets["exact words"])
        print(f"\nhybrid with the shipped weights {DEFAULT_WEIGHTS} (re-scored from the captured "
              f"candidates): paraphrase {captured_mrr(para_c, DEFAULT_WEIGHTS):.3f}, "
              f"exact words {captured_mrr(exact_c, DEFAULT_WEIGHTS):.3f}")
        p_ho, e_ho, chosen = held_out(para_c, exact_c)
        print(f"hybrid, {FOLDS}-fold held out (weights tuned on the other folds of both sets, each "
              f"query scored once by weights that never saw it): paraphrase {p_ho:.3f}, "
              f"exact words {e_ho:.3f}")
        for i, w in enumerate(chosen):
            print(f"  fold {i + 1}: coverage {w.coverage}, power {w.power}, rank {w.rank}")
        w = tune(para_c, exact_c)
        print(f"the same tuning on every query (what bot/meaning/fuse.py ships; in-sample, not the "
              f"headline): coverage {w.coverage}, power {w.power}, rank {w.rank}: paraphrase "
              f"{captured_mrr(para_c, w):.3f}, exact words {captured_mrr(exact_c, w):.3f}")
        print("\nlatency per query, ms (p50 / p95):")
        for mode, times in latencies.items():
            times.sort()
            print(f"  {mode:<8} {statistics.median(times):6.1f} / {times[int(len(times) * 0.95)]:6.1f}")


if __name__ == "__main__":
    asyncio.run(main())
