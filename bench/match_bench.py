"""Subscription matching: 100,000 subscriptions against a 2,000-paper day.

Papers are the real captured feeds (the 1,101-item cs.LG listing and the others),
repeated under new ids to reach the day's size. Subscriptions follow a Zipf-like
popularity over about 33,000 distinct keywords and phrases taken from those feeds'
own text (stop words left out, phrases are frequent 2-3 word runs of titles and
abstracts, hyphenated ones kept as written), plus multi-word queries, prefixes,
`title:`, exclusions, OR, and a share of category and author subscriptions (2% of all
with the has-code option). A sample of the results is checked against the real search engine.

Times compiling the subscriptions from nothing, recompiling after `--changed` of them
were replaced (the compiled texts reused, as the bot does), matching as one bitset per
distinct query (`match_masks`, what the notify step uses), grouped by distinct query with
the papers listed (`match_groups`), and the per-subscription dict of `match()`; then peak
Python memory of each step with tracemalloc (a second pass: tracing slows Python down).
The goal (issue 9): recompile of what changed + match_masks within 1 s.

    python bench/match_bench.py [--subscriptions 100000] [--papers 2000] [--keywords 33000]
                                [--changed 1000]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Corpus
from bot.match import CompiledSubscriptions, PaperText, Subscription
from bot.notify import gc_paused
from bot.search import fts_tokens, parse_query
from bot.search.engine import matching_ids
from bot.search.index import IndexDoc, SearchIndex

_STOP_WORDS = (
    "a an and are as at be been but by can do for from has have how in into is it its may more most "
    "not of on or our over such than that the their them then there these they this those through to "
    "under up via was we were when where which while who will with within without both each also only "
    "other some using based show shows propose proposed paper results method methods approach new "
    "however across between two three one first well further"
)
STOP = frozenset(_STOP_WORDS.split(" "))


def build_papers(corpus: Corpus, count: int) -> list[PaperText]:
    unique = list({p.key: p for p in corpus.real}.values())
    papers = []
    while len(papers) < count:
        record = unique[len(papers) % len(unique)]
        papers.append(PaperText(
            id=100_000 + len(papers), title=record.title, abstract=record.abstract,
            authors=tuple(record.authors), categories=tuple(record.categories),
            has_code=bool(record.code_url or record.github_repo),
        ))
    return papers


def keyword_pool(corpus: Corpus, size: int) -> list[str]:
    """Distinct keywords and phrases, most frequent first, from the feeds' own text."""
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    for paper in corpus.real:
        for text in (paper.title, paper.abstract):
            raw = text.split()
            tokens = [fts_tokens(w) for w in raw]
            for i, parts in enumerate(tokens):
                if len(parts) == 1 and parts[0] not in STOP and len(parts[0]) > 2 and not parts[0].isdigit():
                    words[parts[0]] += 1
                elif len(parts) > 1 and all(p.isalpha() for p in parts):
                    phrases[raw[i].strip(".,;:()[]{}\"'").lower()] += 1  # self-supervised, as written
                for n in (2, 3):
                    run = tokens[i:i + n]
                    plain = all(len(t) == 1 and t[0].isalpha() and t[0] not in STOP for t in run)
                    if len(run) == n and plain:
                        phrases['"' + " ".join(t[0] for t in run) + '"'] += 1
    ranked = [w for w, _ in words.most_common()]
    ranked_phrases = [p for p, _ in phrases.most_common()]
    # Interleave: a popular phrase is about as popular as a popular word.
    pool: list[str] = []
    for i in range(max(len(ranked), len(ranked_phrases))):
        pool += [x for x in (ranked[i] if i < len(ranked) else None,
                             ranked_phrases[i] if i < len(ranked_phrases) else None) if x]
    return pool[:size]


def zipf_cumulative(n: int, s: float) -> list[float]:
    """Cumulative weights of a Zipf-like popularity over n ranked items (for random.choices)."""
    return list(accumulate(1.0 / (rank + 1) ** s for rank in range(n)))


def build_subscriptions(corpus: Corpus, count: int, keywords: int) -> list[Subscription]:
    rng = corpus.rng
    pool = keyword_pool(corpus, keywords)
    weights = zipf_cumulative(len(pool), 0.75)
    author_counts = Counter(a for p in corpus.real for a in p.authors)
    authors = [a for a, _ in author_counts.most_common()]
    categories = [c for c, _ in Counter(c for p in corpus.real for c in p.categories).most_common()]
    categories += ["cs", "stat", "math", "eess", "physics", "q-bio"]

    category_weights = zipf_cumulative(len(categories), 1.0)
    author_weights = zipf_cumulative(len(authors), 0.6)

    def keyword() -> str:
        return rng.choices(pool, cum_weights=weights)[0]

    subs: list[Subscription] = []
    # A quarter of the users pick any keyword of the pool (the long tail); the rest follow popularity.
    tail = rng.sample(pool, min(len(pool), int(count * 0.25)))
    for word in tail:
        subs.append(Subscription(len(subs), "query", word))
    while len(subs) < count:
        roll = rng.random()
        if roll < 0.55:
            value, kind = keyword(), "query"
        elif roll < 0.65:
            value, kind = " ".join(keyword() for _ in range(rng.randint(2, 3))), "query"
        elif roll < 0.70:
            word = keyword().strip('"').split()[0]
            value = rng.choice([f"{word[:max(3, len(word) - 3)]}*", f"title:{word}",
                                f"{word} -{keyword()}", f"{word} OR {keyword()}"])
            kind = "query"
        elif roll < 0.85:
            value, kind = rng.choices(categories, cum_weights=category_weights)[0], "category"
        else:
            value, kind = rng.choices(authors, cum_weights=author_weights)[0], "author"
        subs.append(Subscription(len(subs), kind, value, has_code=rng.random() < 0.02))
    rng.shuffle(subs)
    return subs


def replace_some(corpus: Corpus, subs: list[Subscription], count: int) -> list[Subscription]:
    """The same subscriptions with `count` of them swapped for new ones (users came and went)."""
    rng = random.Random(7)
    pool = keyword_pool(corpus, 33_000)
    changed = subs[:]
    for n, i in enumerate(rng.sample(range(len(subs)), min(count, len(subs)))):
        first, second = rng.choice(pool), rng.choice(pool)
        value = f"{first} {second}" if n % 2 else f"{first} -{second}"
        changed[i] = Subscription(10_000_000 + n, "query", value)
    return changed


def spot_check(subs: list[Subscription], papers: list[PaperText], result: dict[int, list[int]],
               count: int) -> int:
    """Compare sampled word subscriptions with the real search engine over the same papers."""
    with tempfile.TemporaryDirectory() as folder:
        index = SearchIndex(folder).open()
        docs = [IndexDoc(p.id, p.title, list(p.authors), p.abstract, list(p.categories), None, p.has_code)
                for p in papers]
        index.apply([d.to_document() for d in docs], [], 1, fresh=True)
        ids = [p.id for p in papers]
        checked = 0
        for sub in random.Random(1).sample(subs, len(subs)):
            if checked >= count:
                break
            if sub.kind == "category" or sub.has_code:
                continue
            query = parse_query(sub.value) if sub.kind == "query" else parse_query("", author=sub.value)
            if query.filters.categories or not query.match_all():
                continue
            expected = sorted(matching_ids(index, query, ids))
            if result.get(sub.id, []) != expected:
                raise SystemExit(f"disagreement with the search engine for {sub}: {len(expected)} expected")
            checked += 1
        index.close()
    return checked


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--keywords", type=int, default=33_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", type=int, default=300, help="subscriptions to check with the engine")
    parser.add_argument("--changed", type=int, default=1000, help="subscriptions replaced before recompiling")
    args = parser.parse_args()

    corpus = Corpus()
    papers = build_papers(corpus, args.papers)
    subs = build_subscriptions(corpus, args.subscriptions, args.keywords)
    print(f"keyword/phrase pool: {len(keyword_pool(corpus, args.keywords)):,} distinct values from the feeds")
    kinds = Counter(s.kind for s in subs)
    distinct_text = len({(s.kind, s.value) for s in subs})
    with_code = sum(p.has_code for p in papers)
    print(f"{len(papers):,} papers ({with_code} with code); {len(subs):,} subscriptions:"
          f" {kinds['query']:,} query, {kinds['category']:,} category, {kinds['author']:,} author;"
          f" {distinct_text:,} distinct values")

    changed = replace_some(corpus, subs, args.changed)
    compile_s, recompile_s, masks_s, groups_s, match_s = [], [], [], [], []
    with gc_paused():  # as the bot runs them (bot.notify.gc_paused): no full collections mid-run
        for _ in range(args.runs):
            started = time.perf_counter()
            compiled = CompiledSubscriptions(subs)
            compile_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            recompiled = CompiledSubscriptions(changed, reuse=compiled)
            recompile_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            recompiled.match_masks(papers)
            masks_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            groups = compiled.match_groups(papers)
            groups_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = compiled.match(papers)
            match_s.append(time.perf_counter() - started)

    pairs = sum(len(g.subscription_ids) * len(g.paper_ids) for g in groups)
    assert pairs == sum(len(v) for v in result.values())
    assert recompiled.match(papers) == CompiledSubscriptions(changed).match(papers)  # reuse changes nothing
    masks = compiled.match_masks(papers)
    assert [(ids, mask.bit_count()) for ids, mask in masks] == [
        (g.subscription_ids, len(g.paper_ids)) for g in groups]
    checked = spot_check(subs, papers, result, args.check)
    per_sub = sorted(len(v) for v in result.values())
    median = per_sub[len(per_sub) // 2] if per_sub else 0

    tracemalloc.start()
    compiled = CompiledSubscriptions(subs)
    _, peak_compile = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    groups = compiled.match_groups(papers)
    _, peak_groups = tracemalloc.get_traced_memory()
    del groups
    tracemalloc.reset_peak()
    base2, _ = tracemalloc.get_traced_memory()
    result = compiled.match(papers)
    _, peak_match = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"{compiled.query_count:,} distinct compiled queries, {compiled.term_count:,} distinct terms")
    print(f"recompile after {args.changed:,} of the subscriptions were replaced: "
          f"{recompiled.parsed_now:,} texts parsed, the rest reused")
    print(f"{pairs:,} (subscription, paper) matches; {len(result):,} subscriptions with at least one;"
          f" median {median}, max {per_sub[-1] if per_sub else 0} papers per matching subscription")
    print()
    print(f"  {'step':44s} {'best':>8s} {'worst':>8s} {'peak Python memory':>20s}")
    rows = [
        ("compile (parse, tokenize, group)", compile_s, peak_compile),
        (f"recompile, {args.changed:,} replaced (reuse=)", recompile_s, None),
        ("match_masks (one bitset per distinct query)", masks_s, None),
        ("match_groups (one result per distinct query)", groups_s, peak_groups - base),
        ("match (dict of a list per subscription)", match_s, peak_match - base2),
    ]
    for name, seconds, peak in rows:
        memory = mib(peak) if peak is not None else "-"
        print(f"  {name:44s} {min(seconds):7.2f}s {max(seconds):7.2f}s {memory:>20s}")
    both = [a + b for a, b in zip(recompile_s, masks_s, strict=True)]
    print(f"  {'recompile of what changed + match_masks':44s} {min(both):7.2f}s {max(both):7.2f}s")
    print(f"\n  {checked} sampled word/phrase/author subscriptions agree with the real search engine")
    print(f"  process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
          f" ({args.runs} timed runs; tracemalloc pass separate)")


if __name__ == "__main__":
    main()
