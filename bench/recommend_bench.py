"""/recommend evaluated the arxiv-sanity-lite way, beside its tf-idf + linear SVM.

Readers are built from the real papers of tests/fixtures/real with a signal independent of both
methods: each reader follows one narrower arXiv category (cs.RO, quant-ph, eess.AS, …, those with
at least 8 papers; not cs.LG/cs.AI/stat.ML/cs.CL, which hold most of the corpus). For each
reader and each round: 5 papers of the category are the bookmarks, 1 more is held out, and the
"day" is the held-out paper among 300 papers drawn from outside the category. Both methods
rank the day; the figure is the held-out paper's mean rank (1 = first; lower is better) and how
often it is in the top 10.

- paperbot: `rank_for_reader` (bot/meaning/service.py), exactly what /recommend runs: the
  nearest bookmark's cosine plus a class-balanced ridge model of the bookmarks against the day,
  on the model's vectors.
- baseline: arxiv-sanity-lite's recipe: tf-idf of title + abstract (1-2 grams, sublinear tf),
  a linear SVM (C=0.01, balanced) with the bookmarks as positives and every other paper of the
  corpus outside the day as negatives, ranking the day by decision value.

    pip install scikit-learn   # this bench only
    python bench/recommend_bench.py [--db PATH] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.relevance_bench import build_store
from bot.config import parse_settings
from bot.meaning import build_service
from bot.meaning.service import rank_for_reader
from bot.store import Store

BROAD = {"cs.LG", "cs.AI", "stat.ML", "cs.CL"}


def tfidf(texts: dict[int, str]):
    """Features for every paper, computed once (as arxiv-sanity-lite does for its whole corpus)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    order = list(texts)
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_df=0.5, max_features=20_000,
                          stop_words="english")
    return vec.fit_transform([texts[pid] for pid in order]), {pid: i for i, pid in enumerate(order)}


def svm_ranks(features, row: dict[int, int], bookmarks: list[int], day: list[int], target: int) -> int:
    from sklearn.svm import LinearSVC

    day_set, marked = set(day), set(bookmarks)
    train = [pid for pid in row if pid not in day_set]
    x_train = features[[row[pid] for pid in train]]
    x_day = features[[row[pid] for pid in day]]
    y = [1 if pid in marked else 0 for pid in train]
    clf = LinearSVC(C=0.01, class_weight="balanced", max_iter=10_000, tol=1e-6)
    clf.fit(x_train, y)
    scores = clf.decision_function(x_day)
    order = sorted(range(len(day)), key=lambda i: -scores[i])
    return [day[i] for i in order].index(target) + 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--day", type=int, default=300)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.db"
    settings = parse_settings({"database": {"path": str(db)},
                               "meaning": {"cache_dir": str(Path.home() / ".cache" / "paperbot-bench")}})
    async with Store(db) as store:
        if await store.count_papers() == 0:
            await build_store(store)
        service = await build_service(settings, store).start()
        await service.embed_pending()
        ids = await store._fetchall("SELECT id FROM papers")  # bench only: every paper
        papers = await store.papers_by_ids([r[0] for r in ids])
    texts = {p.id: f"{p.title}. {p.abstract}" for p in papers}
    features, row = tfidf(texts)
    by_cat: dict[str, list[int]] = {}
    for p in papers:
        for c in set(p.categories) - BROAD:
            by_cat.setdefault(c, []).append(p.id)
    readers = {c: pids for c, pids in by_cat.items() if len(pids) >= 8}
    rng = random.Random(1)
    ours, svm = [], []
    for _cat, pids in sorted(readers.items()):
        inside = set(pids)
        outside = [p.id for p in papers if p.id not in inside]
        for _ in range(args.rounds):
            chosen = rng.sample(pids, 6)
            bookmarks, held = chosen[:5], chosen[5]
            day = [*rng.sample(outside, args.day), held]
            ranked = rank_for_reader(service.index, bookmarks, day)
            ours.append([pid for pid, _, _ in ranked].index(held) + 1)
            svm.append(svm_ranks(features, row, bookmarks, day, held))
    n = len(ours)
    print(f"{len(readers)} readers (one narrow category each) × {args.rounds} rounds = {n} held-out "
          f"bookmarks; a day of {args.day + 1} papers")
    for name, ranks in (("paperbot /recommend (embeddings)", ours), ("tf-idf + linear SVM", svm)):
        top10 = sum(1 for r in ranks if r <= 10) / n
        print(f"  {name:<34} mean rank {statistics.mean(ranks):6.1f}   median {statistics.median(ranks):5.1f}"
              f"   in top 10: {top10:.0%}")


if __name__ == "__main__":
    asyncio.run(main())
