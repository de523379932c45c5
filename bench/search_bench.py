"""/search at scale: the engine the bot uses and the old FTS5 path, side by side, per query class.

    python bench/search_bench.py [--papers 1000000] [--db PATH] [--queries 200] [--skip-fts]

- Builds (once, then reuses) a store of N synthetic papers (bench/corpus.py: the real feeds'
  vocabulary, authors and categories), written straight into the schema by SQL in one
  transaction, so a million papers take minutes, not an hour. The search index is then built
  by the bot's own code (`SearchService.rebuild`, what `paperbot reindex` runs): its rate is
  the index build figure. The old FTS5 table is built next to it for the reference.
- Times every query class through `Store.search` (the function `paperbot search` and /search
  call: from the parsed query to the page's rows, limit 50) and through the old FTS5 search
  (bench/fts_reference.py) on the same database, in the same run. Before the timed queries, 20
  other queries per class (another seed) run untimed, so the files are in the page cache as in
  a running bot rather than cold from disk after a build or a copy.
- `--since` queries count back from the corpus's last day.
- Ingest: appends daily batches of 2,000 new papers through `record_feed_batch` (merge, write,
  index update) to the big store and reports papers/s.
- Disk: database and index sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bench.fts_reference import FtsReference, ensure_fts
from bot.models import FeedKind, ParsedFeed
from bot.search import parse_query
from bot.store import Store

PER_DAY = 2_000
START = date(2020, 1, 1)
LIMIT = 50  # what /search fetches (bot.search.render.MAX_RESULTS)


def build_store(db: Path, corpus: Corpus, papers: int) -> float:
    """Write N papers straight into a migrated, empty store; return the seconds it took.

    The same distributions as Corpus.paper (words by frequency, titles of 6-14 words,
    abstracts of 120-220, 1-8 authors, 1-3 categories, 20% with code), drawn with
    precomputed cumulative weights so that a million papers take minutes."""
    rng = random.Random(42)
    vocabulary = corpus.vocabulary
    cum = list(itertools.accumulate(corpus.weights))
    authors, categories = corpus.authors, corpus.categories
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    stamp = "2024-01-01T00:00:00+00:00"
    next_id = 1
    while next_id <= papers:
        day = START + timedelta(days=(next_id - 1) // PER_DAY)
        rows, cats = [], []
        for _ in range(min(PER_DAY, papers - next_id + 1)):
            title = " ".join(rng.choices(vocabulary, cum_weights=cum, k=rng.randint(6, 14))).capitalize()
            abstract = " ".join(rng.choices(vocabulary, cum_weights=cum, k=rng.randint(120, 220))) + "."
            cats_of = list(dict.fromkeys(rng.sample(categories, rng.randint(1, 3))))
            key = f"{next_id:07d}"
            rows.append((
                next_id, key, key, 1, title, json.dumps(rng.sample(authors, rng.randint(1, 8)),
                                                        ensure_ascii=False),
                abstract, json.dumps(cats_of), cats_of[0], "arxiv-rss", day.isoformat(),
                f"https://arxiv.org/abs/{key}",
                "https://github.com/example/repo" if rng.random() < 0.2 else None, stamp, stamp,
            ))
            cats += [(c, next_id, int(i == 0)) for i, c in enumerate(cats_of)]
            next_id += 1
        conn.executemany(
            "INSERT INTO papers (id, key, arxiv_id, version, title, authors, abstract, categories,"
            " primary_category, core_source, announced, abs_url, code_url, first_seen, last_changed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT OR IGNORE INTO paper_categories (category, paper_id, is_primary)"
                         " VALUES (?, ?, ?)", cats)
        if (next_id - 1) % 100_000 < PER_DAY:
            print(f"  {next_id - 1:,} papers written", flush=True)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


async def _migrate_only(db: Path) -> None:
    store = Store(db, search_catch_up=False)
    await store.open()
    await store.close()


def cpu_seconds() -> float:
    """CPU time of this process, every thread (tantivy indexes in its own threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return statistics.median(ms), p95, ms[-1]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def query_classes(corpus: Corpus, db: Path, total: int, last_day: date,
                  queries: int, seed: int = 7) -> list[tuple[str, list[tuple[str, dict, str]]]]:
    """Per query class, its cases (text, parse_query options, "key<TAB>title" of the expected
    paper or ""), drawn
    with a fixed seed from the store's own titles and abstracts and the corpus's vocabulary.
    The two very cheap classes of common words get 20 cases (their cost barely varies)."""
    rng = corpus.rng
    rng.seed(seed)
    conn = sqlite3.connect(db)
    sample_ids = rng.sample(range(1, total + 1), queries)
    known = {paper_id: (key, title) for paper_id, key, title in conn.execute(
        f"SELECT id, key, title FROM papers WHERE id IN ({','.join(map(str, sample_ids))})")}
    abstracts = [a for (a,) in conn.execute(
        f"SELECT abstract FROM papers WHERE id IN ({','.join(map(str, sample_ids[:queries]))})")]
    conn.close()

    def known_item() -> tuple[str, dict, str]:
        key, title = known[rng.choice(sample_ids)]
        words = title.split()
        start = rng.randint(0, max(0, len(words) - 4))
        return " ".join(words[start:start + 4]), {}, f"{key}\t{title}"

    def phrase() -> tuple[str, dict, str]:
        words = rng.choice(abstracts).rstrip(".").split()
        size = rng.randint(2, 3)
        start = rng.randint(0, len(words) - size)
        return '"' + " ".join(words[start:start + size]) + '"', {}, ""

    def prefix() -> tuple[str, dict, str]:
        word = rng.choice([w for w in corpus.vocabulary[:3000] if len(w) >= 6])
        return word[: rng.randint(4, 5)] + "*", {}, ""

    makers: list[tuple[str, Callable[[], tuple[str, dict, str]]]] = [
        ("known item (4 title words)", known_item),
        ("2-3 topical words", lambda: (" ".join(corpus.words(rng.randint(2, 3))), {}, "")),
        ("one very common word", lambda: (rng.choice(corpus.vocabulary[:5]), {}, "")),
        ("phrase (2-3 words of an abstract)", phrase),
        ("stop-word phrase", lambda: (rng.choice(['"of the"', '"in the"', '"to the"', '"on the"',
                                                  '"and the"']), {}, "")),
        ("prefix*", prefix),
        ("category + 2 words", lambda: (" ".join(corpus.words(2)),
                                        {"category": rng.choice(corpus.categories)}, "")),
        ("since 30 days + 2 words", lambda: (" ".join(corpus.words(2)),
                                             {"since_days": 30, "today": last_day}, "")),
        ("author only", lambda: ("", {"author": rng.choice(corpus.authors)}, "")),
    ]
    return [(name, [make() for _ in range(queries if name not in ("stop-word phrase", "one very common word")
                                          else 20)])
            for name, make in makers]


async def warm_up(searches: list[Callable[..., Awaitable[list]]], corpus: Corpus, db: Path, total: int,
                  last_day: date) -> None:
    """Untimed: 20 other queries per class (another seed), so the index and the rows are in the
    page cache as in a running bot, not cold from disk after the store was built or copied."""
    for _name, cases in query_classes(corpus, db, total, last_day, 20, seed=8):
        for text, options, _expected in cases:
            for search in searches:
                await search(parse_query(text, **options), limit=LIMIT)


async def main(args: argparse.Namespace) -> None:
    corpus = Corpus()
    db: Path = args.db or Path(f"/tmp/paperbot-bench-{args.papers}.db")
    index_dir: Path = args.index_dir or db.with_name(db.stem + ".search")
    if not db.exists():
        print(f"building a store of {args.papers:,} papers in {db} …", flush=True)
        await _migrate_only(db)
        seconds = build_store(db, corpus, args.papers)
        print(f"store written in {seconds:.0f} s ({args.papers / seconds:,.0f} papers/s, direct SQL)")
    store = Store(db, search_catch_up=False, index_dir=index_dir)
    await store.open()
    total = await store.count_papers()
    if args.rebuild or store.search_service.index.num_docs() != total \
            or store.search_service.index.watermark != await store.last_paper_change():
        started, cpu = time.perf_counter(), cpu_seconds()
        indexed = await store.search_service.rebuild()
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        print(f"index build (SearchService.rebuild = paperbot reindex): {indexed:,} papers in {seconds:.1f} s"
              f" = {indexed / seconds:,.0f} papers/s; CPU time {cpu:.0f} s (all threads) ="
              f" {indexed / cpu:,.0f} papers per CPU-second; load average {os.getloadavg()[0]:.1f}")
    else:
        print(f"reusing {db} and its index ({total:,} papers)")
    fts = None
    if not args.skip_fts:
        started = time.perf_counter()
        if ensure_fts(db):
            print(f"old FTS5 table built for the reference in {time.perf_counter() - started:.0f} s")
        fts = await FtsReference(db).open()

    last_day = START + timedelta(days=(total - 1) // PER_DAY)
    classes = query_classes(corpus, db, total, last_day, args.queries)

    engines: list[tuple[str, Callable[..., Awaitable[list]]]] = [("paperbot (tantivy)", store.search)]
    if fts is not None:
        engines.append(("old FTS5", fts.search))

    await warm_up([store.search], corpus, db, total, last_day)
    print(f"\n{total:,} papers; last day {last_day}; {args.queries} queries per class (limit {LIMIT});"
          f" load average {os.getloadavg()[0]:.1f}")
    header = f"  {'query class':36s}" + "".join(f" | {name + ' p50/p95/max ms':>36s}" for name, _ in engines)
    print(header)
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    for name, cases in classes:
        count = len(cases)
        row = f"  {name:36s}"
        for engine_name, search in engines:
            if engine_name == "old FTS5" and count > args.fts_queries:
                run_cases = cases[: args.fts_queries]
            else:
                run_cases = cases
            seconds, rank1, twin = [], 0, 0
            await search(parse_query(run_cases[0][0], **run_cases[0][1]), limit=LIMIT)  # warm
            for text, options, expected in run_cases:
                started = time.perf_counter()
                hits = await search(parse_query(text, **options), limit=LIMIT)
                seconds.append(time.perf_counter() - started)
                if expected and hits:
                    key, title = expected.split("\t", 1)
                    rank1 += hits[0].paper.key == key
                    # another paper with the very same title: the words typed cannot tell them apart
                    twin += hits[0].paper.key != key and hits[0].paper.title == title
            p50, p95, worst = percentiles(seconds)
            results.setdefault(name, {})[engine_name] = (p50, p95, worst)
            extra = (f" rank-1 {rank1}/{len(run_cases)}" + (f" (+{twin} same title)" if twin else "")
                     if name.startswith("known") else "")
            row += f" | {p50:9.1f} {p95:9.1f} {worst:9.1f}{extra:>7s}"
        print(row, flush=True)

    if args.ingest:
        feed = await store.upsert_feed("https://rss.arxiv.org/rss/bench-ingest", kind=FeedKind.ARXIV_RSS,
                                       name="bench ingest")
        stamp = time.time_ns()
        corpus.rng.seed(stamp)  # new titles each run, not copies of the last run's
        batches = [(day, [dataclasses.replace(p, key=f"i{stamp}.{n}.{i}", arxiv_id=f"i{stamp}.{n}.{i}")
                          for i, p in enumerate(batch)])
                   for n, (day, batch) in enumerate(corpus.days(args.ingest, PER_DAY, last_day))]
        started, cpu = time.perf_counter(), cpu_seconds()
        for day, batch in batches:
            parsed = ParsedFeed(kind=FeedKind.ARXIV_RSS, papers=batch, feed_date=day)
            await store.record_feed_batch(
                feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed,
                fingerprint=parsed.fingerprint(), etag=None, last_modified=None, fresh_until=None,
                kind=FeedKind.ARXIV_RSS)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        print(f"\ningest: {args.ingest:,} papers in batches of {PER_DAY:,} through record_feed_batch"
              f" (merge, write, index update) onto the {total:,}-paper store: {seconds:.1f} s ="
              f" {args.ingest / seconds:,.0f} papers/s; CPU time {cpu:.1f} s ="
              f" {args.ingest / cpu:,.0f} papers per CPU-second")

    await store.close()
    if fts is not None:
        await fts.close()
    wal = Path(str(db) + "-wal")
    fts_pages = 0
    with sqlite3.connect(db) as conn, contextlib.suppress(sqlite3.Error):
        fts_pages = conn.execute(
            "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'papers_fts%'").fetchone()[0] or 0
    size = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    print(f"\ndisk: database {size / 1e6:,.0f} MB (of which the reference's FTS5 table"
          f" {fts_pages / 1e6:,.0f} MB, not part of paperbot's schema),"
          f" search index {dir_size(index_dir) / 1e6:,.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--index-dir", type=Path,
                        help="the search index directory (default: beside the database)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--fts-queries", type=int, default=60, help="queries per class for the slow old path")
    parser.add_argument("--skip-fts", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if it is current")
    parser.add_argument("--ingest", type=int, default=10_000, help="papers to ingest at the end (0: none)")
    parser.add_argument("--json", type=Path)
    asyncio.run(main(parser.parse_args()))
