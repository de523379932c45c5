"""Search by meaning at scale: embedding throughput, the vector index at N papers, and hybrid
/search latency on an N-paper store, with memory.

    python bench/meaning_scale_bench.py --papers 1000000 --store /tmp/paperbot-bench-1000000.db

- Throughput: the real model embeds the real papers of tests/fixtures/real (title + abstract),
  as ingestion does (Embedder.embed in batches); papers/s, wall and CPU time.
- Vectors: N unit vectors made from those real embeddings (each a real paper's vector plus
  noise, cosine ~0.8 to it): topic clusters like a real store's, which random vectors are not.
- The index: bot.meaning.index.VectorIndex as the bot builds it (tail, then compact() into the
  usearch HNSW file, memory-mapped); build time, file size, process RSS.
- Meaning search: 169 real queries (the relevance bench's paraphrases and titles), each embedded
  by the model and searched (k=100): p50/p95, and recall@10 against exact search.
- Hybrid: with --store (a store, e.g. bench/search_bench.py's synthetic 1M one; copied, never
  written), the whole /search path, hybrid_hits: word engine (tantivy, over the whole store) +
  meaning + rows + fusion, for 200 queries of real-vocabulary words; p50/p95. The index's paper
  ids are the store's ids 1..N (the synthetic store has no real abstracts to embed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.relevance_bench import paraphrases
from bot.meaning.index import VectorIndex
from bot.meaning.model import load_embedder, paper_text
from bot.sources import parse_feed

REAL = ROOT / "tests" / "fixtures" / "real"
CACHE = Path.home() / ".cache" / "paperbot-bench"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def real_papers() -> list:
    papers = {}
    for path in sorted(REAL.iterdir()):
        if path.suffix in (".xml", ".json"):
            with contextlib.suppress(ValueError):
                for record in parse_feed(path.read_bytes()).papers:
                    papers.setdefault(record.key, record)
    return list(papers.values())


def mapped_rss_mb(path: Path) -> float:
    """Resident pages of one memory-mapped file in this process (the index base)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0]:
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total / 1024


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def synthetic(real: np.ndarray, n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    sigma = 0.75 / np.sqrt(real.shape[1])  # noise norm ~0.75: cosine to the base vector ~0.8
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        base = real[rng.integers(0, len(real), stop - start)]
        block = base + rng.normal(0, sigma, size=base.shape).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


async def hybrid_latency(store_path: Path, index: VectorIndex, embedder, queries: list[str]) -> list[float]:
    from bot.meaning.hybrid import hybrid_hits
    from bot.meaning.service import MeaningService
    from bot.search import parse_query
    from bot.store import Store

    store = Store(store_path, index_dir=store_path.with_suffix(".search"), search_catch_up=False)
    await store.open()
    try:
        service = MeaningService(store, None, None)
        service.embedder, service.index = embedder, index  # the index built above, ids 1..N
        times, cpu = [], []
        for text in queries:
            started, cpu0 = time.perf_counter(), time.process_time()
            await hybrid_hits(parse_query(text), limit=50, mode="hybrid", word_search=store.search,
                              meaning=service, load=store.papers_by_ids)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu0) * 1000)
        return times, cpu
    finally:
        await store.close()


def status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory_only(args: argparse.Namespace) -> None:
    """A fresh process holding what the bot holds for search by meaning: the model and the mapped
    index (no synthetic matrix), after the bench's queries."""
    before = status_mb("VmRSS")
    embedder = load_embedder(None, CACHE, max_tokens=args.max_tokens)
    after_model = status_mb("VmRSS")
    index = VectorIndex(args.keep, embedder.model_id, embedder.dim).open()
    queries = [q for q, _ in paraphrases()] + [p.title for p in random.Random(4).sample(real_papers(), 100)]
    for text in queries:
        index.search(embedder.embed_one(text), 100)
    print(f"memory, {len(index):,} vectors: interpreter {before:.0f} MB; "
          f"+ model {after_model - before:.0f} MB; "
          f"after {len(queries)} queries RSS {status_mb('VmRSS'):.0f} MB = anonymous "
          f"{status_mb('RssAnon'):.0f} MB + file-backed {status_mb('RssFile'):.0f} MB, of which the index "
          f"file's pages {mapped_rss_mb(index._path):.0f} MB (shared page cache, reclaimable)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="an N-paper store to measure hybrid /search on (copied)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--keep", type=Path, help="folder keeping the built index between runs (reused)")
    parser.add_argument("--no-throughput", action="store_true", help="reuse the saved real vectors")
    parser.add_argument("--queries", type=int, default=200, help="hybrid queries")
    parser.add_argument("--memory-only", action="store_true",
                        help="with --keep: only what the bot holds (model + mapped index) after queries")
    args = parser.parse_args()
    if args.memory_only:
        return memory_only(args)
    print(f"start: RSS {rss_mb():.0f} MB")

    embedder = load_embedder(None, CACHE, max_tokens=args.max_tokens)
    papers = real_papers()
    texts = [paper_text(p.title, p.abstract) for p in papers]
    cache = CACHE / f"real-vectors-{len(texts)}-{embedder.model_id.replace(':', '_')}.npy"
    if args.no_throughput and cache.exists():
        vectors = np.load(cache)
    else:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        vectors = embedder.embed(texts)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        np.save(cache, vectors)
        print(f"embedding: {len(texts)} real papers in {wall:.1f} s = {len(texts) / wall:.0f} papers/s wall, "
              f"{len(texts) / cpu:.0f} per CPU-second (CPU {cpu:.1f} s on {os.cpu_count()} cores; "
              f"load average {os.getloadavg()[0]:.1f})")
    one = []
    for text in [q for q, _ in paraphrases()]:
        started = time.perf_counter()
        embedder.embed_one(text)
        one.append((time.perf_counter() - started) * 1000)
    print(f"one query's embedding: p50 {statistics.median(one):.1f} ms, p95 {pct(one, 0.95):.1f} ms")

    n = args.papers
    data = synthetic(vectors, n)
    print(f"vectors: {n:,} SYNTHETIC unit vectors (real paper vectors plus noise, cosine ~0.8 to them)")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="meaning-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        probe = VectorIndex(folder, embedder.model_id, embedder.dim).open()
        if len(probe) != n:
            del probe
            index = VectorIndex(folder, embedder.model_id, embedder.dim, compact_at=n + 1)
            index.clear()
            started = time.perf_counter()
            for start in range(0, n, 50_000):
                block = data[start:start + 50_000]
                index.add([(start + i + 1, start + i + 1, block[i].tobytes()) for i in range(len(block))])
            tail_s = time.perf_counter() - started
            started = time.perf_counter()
            index.compact()
            build_s = time.perf_counter() - started
            print(f"index: {n:,} vectors, tail {tail_s:.1f} s, HNSW build (compact) {build_s:.1f} s "
                  f"= {n / build_s:,.0f}/s (load average {os.getloadavg()[0]:.1f})")
            del index
        else:
            print(f"index: {n:,} vectors, reused from {folder}")
            del probe
        rss_before = rss_mb()
        opened = VectorIndex(folder, embedder.model_id, embedder.dim).open()
        base_path = opened._path
        file_mb = opened.memory_bytes()["base_file"] / 2**20
        print(f"index file {file_mb:.0f} MB, memory-mapped; RSS {rss_before:.0f} MB before opening it, "
              f"{rss_mb():.0f} MB after")
        queries = [q for q, _ in paraphrases()] + [p.title for p in random.Random(4).sample(papers, 100)]
        for _ in range(2):  # the first pass pages the graph in from disk; the second is the steady state
            times, search_times, results, cpu = [], [], [], []
            for text in queries:
                started, cpu0 = time.perf_counter(), time.process_time()
                vec = embedder.embed_one(text)
                mid = time.perf_counter()
                results.append((vec, opened.search(vec, 100)))
                done = time.perf_counter()
                times.append((done - started) * 1000)
                cpu.append((time.process_time() - cpu0) * 1000)
                search_times.append((done - mid) * 1000)
            recalls = []  # against exact search, computed after the timed loop (a big matrix product)
            for qv, found in results:
                exact = np.argpartition(-(data @ qv), 10)[:10] + 1
                recalls.append(len({f.paper_id for f in found[:10]} & set(exact.tolist())) / 10)
            print(f"meaning search (embed the query + k=100): p50 {statistics.median(times):.1f} ms, "
                  f"p95 {pct(times, 0.95):.1f} ms; the index search alone p50 "
                  f"{statistics.median(search_times):.2f} / p95 {pct(search_times, 0.95):.2f} ms; "
                  f"recall@10 vs exact {statistics.mean(recalls):.3f}; CPU time per query p50 "
                  f"{statistics.median(cpu):.1f} / p95 {pct(cpu, 0.95):.1f} ms "
                  f"(load average {os.getloadavg()[0]:.1f})")
        print(f"index pages resident after {2 * len(queries)} queries: {mapped_rss_mb(base_path):.0f} MB "
              f"of the {file_mb:.0f} MB file; process RSS {rss_mb():.0f} MB (of which the bench's own "
              f"float32 copy of the vectors, for recall: {data.nbytes / 2**20:.0f} MB)")
        if args.store:
            copy = folder / "store.db"
            if not copy.exists():
                shutil.copy(args.store, copy)
            search_dir = args.store.with_suffix(".search")
            if search_dir.exists() and not copy.with_suffix(".search").exists():
                shutil.copytree(search_dir, copy.with_suffix(".search"))
            rng = random.Random(9)
            words = [w for t in texts for w in t.split() if w.isalpha() and len(w) > 3]
            hq = [" ".join(rng.sample(words, rng.randint(2, 5))) for _ in range(args.queries)]
            for _ in range(2):
                times, cpu = asyncio.run(hybrid_latency(copy, opened, embedder, hq))
                print(f"hybrid /search on a copy of {args.store.name} with {n:,} vectors (hybrid_hits, "
                      f"limit 50): p50 {statistics.median(times):.1f} ms, p95 {pct(times, 0.95):.1f} ms "
                      f"(load average {os.getloadavg()[0]:.1f}); CPU time per query (every thread) "
                      f"p50 {statistics.median(cpu):.1f} ms, p95 {pct(cpu, 0.95):.1f} ms")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB (includes the bench's own float32 copy of every vector)")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
