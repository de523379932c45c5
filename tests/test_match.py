"""Subscription matching agrees with the real search engine, on the real captured feeds."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import tantivy

import bot.match
import bot.search.index
from bot.match import CompiledSubscriptions, PaperText, Subscription, match, tokenize
from bot.models import FeedKind
from bot.search import SearchQuery, parse_query
from bot.sources import parse_feed
from bot.store import Store
from tests.test_search_query import HOSTILE
from tests.test_store import ingest

REAL = Path(__file__).parent / "fixtures" / "real"


@dataclass
class Day:
    """Every real fixture ingested by the real Store; its file, and its papers read back."""

    path: Path
    papers: list[PaperText]
    cache: dict[SearchQuery, list[int]] = field(default_factory=dict)

    def expected(self, query: SearchQuery) -> list[int]:
        return self.expected_many([query])[0]

    def expected_many(self, queries: list[SearchQuery]) -> list[list[int]]:
        """Ids of the papers /search finds with each query's strict reading (no limit), in id order."""

        async def search_all(missing: list[SearchQuery]) -> None:
            async with Store(self.path) as store:
                for query in missing:
                    self.cache[query] = await self._search(store, query)

        missing = list(dict.fromkeys(q for q in queries if q not in self.cache))
        if missing:
            asyncio.run(search_all(missing))
        return [self.cache[q] for q in queries]

    @staticmethod
    async def _search(store: Store, query: SearchQuery) -> list[int]:
        if query.arxiv_ids:  # a subscription ignores arXiv ids; with no words left it matches nothing
            if not query.match_all():
                return []
            query = replace(query, arxiv_ids=())
        hits = await store.search(query, limit=1_000_000)
        return sorted(h.paper.id or 0 for h in hits if h.matched_all)

    def text_of(self, paper_id: int) -> str:
        paper = next(p for p in self.papers if p.id == paper_id)
        return " ".join([paper.title, paper.abstract, *paper.authors])


async def _ingest_all(path: Path) -> list[PaperText]:
    async with Store(path) as store:
        for number, fixture in enumerate(sorted(REAL.iterdir())):
            if fixture.suffix not in (".xml", ".json"):
                continue
            try:
                parsed = parse_feed(fixture.read_bytes())
            except ValueError:
                continue
            if parsed.papers:
                await ingest(store, f"https://feeds.example/{number}", parsed.papers, kind=parsed.kind)
        with contextlib.closing(sqlite3.connect(path)) as db:
            keys = [r[0] for r in db.execute("SELECT key FROM papers ORDER BY id")]
        stored = await store.get_papers(keys)
    return [PaperText.from_stored(stored[key]) for key in keys]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    path = tmp_path_factory.mktemp("match") / "store.db"
    papers = asyncio.run(_ingest_all(path))
    assert len(papers) > 1800
    return Day(path, papers)


QUERIES = [
    # words, stemming, case
    "transformer", "transformers", "Transformers", "TRANSFORMER", "transforming", "learning", "learned",
    "learns", "optimization", "optimize", "optimizing", "graph", "graphs", "GRAPH", "quantum", "the",
    "xyzzyqq", "llm", "LLMs", "agents", "agentic", "diffusion models", "reasoning benchmark",
    # phrases and hyphenation
    '"large language models"', '"large language model"', '"reinforcement learning"', '"language model"',
    '"neural network"', '"models large"', "self-supervised", '"self supervised"', "self supervised",
    "Self-Supervised Learning", "multi-agent", "state-of-the-art", "fine-tuning", '"fine tuning"',
    "finetuning", "real-world", "chain-of-thought", "in-context learning", "vision-language",
    # prefixes: FTS5 stems the prefix token too
    "transform*", "transformers*", "optim*", "diffus*", "lear*", "zz*", "qua*", "self-sup*", "gr*",
    "title:graph*", "abstract:agent*", "-transform* learning", "author:zh*",
    # columns
    "title:transformer", 'title:"language models"', "abstract:benchmark", "author:Wang", "au:Zhang",
    'author:"Yann LeCun"', "by:li", "title:learning -abstract:learning", "ti:survey abs:survey",
    "author:wang author:li", 'author:"Wang" title:graph',
    # excluded
    "learning -reinforcement", 'llm -"large language"', "graph -neural -network",
    "transformer -title:transformer", "-learning", "model -model", "-author:wang learning",
    # OR
    "diffusion OR transformer", 'quantum OR "graph neural" OR cat:math.OC', "OR diffusion OR",
    "graph OR", "privacy OR security -attack", "title:privacy OR abstract:fairness",
    # categories
    "cat:cs.CL", "cat:cs", "cat:stat", "cat:math.OC transformer", "cat:cs.CL cat:cs.CV", "cat:physics",
    "cat:eess.SP signal", "cat:cs.cl", "cat:stat.ML -learning", "cat:nonsense!!", "category:cs.LG graph",
    # diacritics
    "Löwe", "lowe", "LÖWE", "Ángeles", "angeles", "Ömer", "omer", "gonzález", "gonzalez", "author:Löwe",
    "naïve", "naive", "café",
    # things /search reads specially
    "2405.12345", "2605.12345 transformer", "foo:bar", "cs.LG", "https://example.com/x",
    "NEAR(graph neural, 3)", "graph AND neural", "graph NOT neural", "learning*", "title:", "a*b*c",
    # tokens FTS5 drops or splits: a combining mark alone, an enclosing mark inside a word
    "learning \u0301", "\u0301 OR learning", "learning -\u0301", "y\u20ddz graph", "author:\u0301",
    # one search token that FTS5 splits, ending in a prefix: a phrase whose last stem is a prefix
    "graph\u20ddneur*", "large\u20ddlangu*", "title:language\u20ddmod*",
    # FTS5 stems the prefix token, so these miss 'probabilities' / 'generalization' (as /search does)
    "probabili*", "generaliz*", "probab*", "generalization",
    *HOSTILE,
]


def _random_queries(papers: list[PaperText], count: int, seed: int = 7) -> list[str]:
    """Queries built from the papers' own text, so most of them find something."""
    rng = random.Random(seed)
    words_re = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
    queries: list[str] = []
    while len(queries) < count:
        paper = rng.choice(papers)
        field = rng.choice(["title", "abstract", "abstract", "authors"])
        text = " ".join(paper.authors) if field == "authors" else getattr(paper, field)
        words = words_re.findall(text)
        if len(words) < 4:
            continue
        i = rng.randrange(len(words) - 3)
        word, other = words[i], rng.choice(words)
        form = rng.randrange(10)
        if form == 0:
            query = word
        elif form == 1:
            query = f"{word} {other}"
        elif form == 2:
            query = '"' + " ".join(words[i:i + rng.randint(2, 4)]) + '"'
        elif form == 3:
            query = f"{word[:rng.randint(3, max(3, len(word)))]}*"
        elif form == 4:
            query = f"{'title' if field == 'title' else rng.choice(['title', 'abstract', 'author'])}:{word}"
        elif form == 5:
            query = f"{word} -{other}"
        elif form == 6:
            query = f"{word} OR {other} {rng.choice(words)}"
        elif form == 7:
            query = f'"{words[i]} {words[i + 1]}" cat:{rng.choice(paper.categories or ["cs"]).split(".")[0]}'
        elif form == 8:
            query = f"author:{rng.choice(paper.authors or ['x']).split()[-1]} {word}"
        else:
            query = f"{word.upper()} -title:{other.lower()}*"
        queries.append(query)
    return queries


def _disagreements(day: Day, queries: list[str], papers: list[PaperText] | None = None) -> list[str]:
    papers = papers if papers is not None else day.papers
    compiled = CompiledSubscriptions(Subscription(i, "query", q) for i, q in enumerate(queries))
    got = compiled.match(papers)
    order = {p.id: n for n, p in enumerate(papers)}
    problems = []
    expectations = day.expected_many([parse_query(text) for text in queries])
    for i, (text, everywhere) in enumerate(zip(queries, expectations, strict=True)):
        expected = sorted((p for p in everywhere if p in order), key=order.__getitem__)
        if got.get(i, []) != expected:
            extra = set(got.get(i, [])) - set(expected)
            missing = set(expected) - set(got.get(i, []))
            problems.append(f"{text[:60]!r}: {len(extra)} extra, {len(missing)} missing")
    return problems


def test_the_analyzer_is_the_one_the_index_uses() -> None:
    assert bot.match.analyze is bot.search.index.stems


def test_hand_written_queries_agree_with_the_engine(day: Day) -> None:
    assert _disagreements(day, QUERIES) == []


def test_random_queries_from_the_papers_agree_with_the_engine(day: Day) -> None:
    queries = _random_queries(day.papers, 400)
    assert _disagreements(day, queries) == []
    found = [ids for ids in day.expected_many([parse_query(q) for q in queries]) if ids]
    assert len(found) > 300  # the test is about queries that find things, not empty sets


def test_papers_in_any_order_come_back_in_that_order(day: Day) -> None:
    shuffled = day.papers[:]
    random.Random(3).shuffle(shuffled)
    assert _disagreements(day, QUERIES[:40], shuffled[:700]) == []  # a part of the day, shuffled


def test_the_fixtures_exercise_what_the_agreement_test_claims(day: Day) -> None:
    """The reference itself shows stemming, hyphenation, diacritics and prefixes at work here."""
    def ids(text: str) -> set[int]:
        return set(day.expected(parse_query(text)))

    plural, singular = ids("transformers"), ids("transformer")
    assert plural == singular and len(plural) > 20
    assert any(not re.search(r"(?i)transformers", day.text_of(i)) for i in plural)
    hyphen = ids("self-supervised")
    assert hyphen == ids('"self supervised"')
    assert any(re.search(r"(?i)self supervised", day.text_of(i)) for i in hyphen)
    assert any(re.search(r"(?i)self-supervised", day.text_of(i)) for i in hyphen)
    assert ids("Löwe") == ids("lowe") != set()
    assert ids("optim*") > ids("optimization") != set()
    assert ids("transformers*") == ids("transform*")  # the prefix token is stemmed too
    assert ids("learning -reinforcement") < ids("learning")
    assert 0 < len(ids("cat:cs.CL")) < len(ids("cat:cs")) < len(day.papers)
    # A lone combining mark separates words, in fts_tokens and in the index alike.
    assert ids("learning \u0301") == ids("learning") and ids("\u0301 OR learning") == ids("learning")


def _phrases_as_and(self: bot.match._Day, term: tuple[int, tuple[str, ...], bool]) -> int:
    column, stems, prefix = term
    mask = self.everything
    for k, stem in enumerate(stems):
        mask &= self.stem_mask(stem, prefix and k == len(stems) - 1, column)
    return mask


def _any_column(self: bot.match._Day, stem: str, prefix: bool, column: int,
                *, original=bot.match._Day.stem_mask) -> int:
    return original(self, stem, prefix, bot.match._ANY_COLUMN)


def _analyzer(*filters: str):
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    for name in filters:
        builder = builder.filter(getattr(tantivy.Filter, name)() if name != "stemmer"
                                 else tantivy.Filter.stemmer("english"))
    return builder.build().analyze


@pytest.mark.parametrize(
    ("target", "setting", "value"),
    [(bot.match, "analyze", _analyzer("lowercase", "ascii_fold")),  # no stemming
     (bot.match, "analyze", _analyzer("lowercase", "stemmer")),  # accents kept
     (bot.match._Day, "_term_mask", _phrases_as_and),  # a phrase read as AND
     (bot.match._Day, "stem_mask", _any_column)],  # title: and author: ignored
    ids=["no-stemming", "accents-kept", "phrases-as-and", "columns-ignored"],
)
def test_the_agreement_test_catches_a_wrong_analysis(
    day: Day, monkeypatch: pytest.MonkeyPatch, target: object, setting: str, value: object
) -> None:
    monkeypatch.setattr(target, setting, value)
    assert _disagreements(day, QUERIES)


def test_category_subscriptions(day: Day) -> None:
    values = ["cs.CL", "cs.cl", "cs", "stat", "math.OC", "physics", "eess", "hep-th", "not a category!", ""]
    subs = [Subscription(i, "category", v) for i, v in enumerate(values)]
    got = match(subs, day.papers)
    expected = day.expected_many([parse_query("", category=value) for value in values])
    for i, value in enumerate(values):
        assert got.get(i, []) == expected[i], value
    assert len(got[2]) > len(got[0]) > 0
    assert got[0] == got[1]
    assert 8 not in got and 9 not in got
    for paper in (p for p in day.papers if p.id in set(got[3])):
        assert any(c.startswith("stat.") for c in paper.categories)


def test_author_subscriptions(day: Day) -> None:
    authors = sorted({a for p in day.papers for a in p.authors})
    values = [*random.Random(5).sample(authors, 30), "Yann LeCun", "lecun", "LÖWE", "Wang Li",
              "!!!", "", "  "]
    subs = [Subscription(i, "author", v) for i, v in enumerate(values)]
    got = match(subs, day.papers)
    expected = day.expected_many([parse_query("", author=value) for value in values[:-3]])
    for i, value in enumerate(values[:-3]):
        assert got.get(i, []) == expected[i], value
        if i < 30:
            assert got[i], value  # every real author finds their own paper
    assert not any(i in got for i in range(len(values) - 3, len(values)))  # no name: nothing


def test_has_code_applies(day: Day) -> None:
    with_code = [p.id for p in day.papers if p.has_code]
    assert with_code
    subs = [Subscription(1, "query", "learning", has_code=True),
            Subscription(2, "category", "cs", has_code=True),
            Subscription(3, "author", "Wang", has_code=True),
            Subscription(4, "query", "", has_code=True)]
    got = match(subs, day.papers)
    assert got[1] == day.expected(parse_query("learning", has_code=True))
    assert got.get(2, []) == day.expected(parse_query("", category="cs", has_code=True))
    assert got.get(3, []) == day.expected(parse_query("", author="Wang", has_code=True))
    assert got[4] == with_code  # a has-code filter alone lists the papers with code, like /search
    assert set(got[1]) <= set(with_code)


@pytest.mark.parametrize("text", [*HOSTILE, "", "   ", "\x00", "\ud800 lone surrogate", "x" * 10_000,
                                  '"' * 500, "NEAR(" * 300, "🦜" * 1000])
def test_hostile_query_text_never_raises(day: Day, text: str) -> None:
    papers = day.papers[:300]
    got = match([Subscription(1, "query", text), Subscription(2, "author", text),
                 Subscription(3, "category", text)], papers)
    subset = {p.id for p in papers}
    assert got.get(1, []) == [i for i in day.expected(parse_query(text)) if i in subset]
    query = parse_query(text)
    if not query.has_text and not query.filters.categories:
        assert 1 not in got  # an empty query matches nothing


def test_empty_queries_match_nothing(day: Day) -> None:
    texts = ["", "   ", "-learning", '-"large language"', "🦜🔥", "::::", "2405.12345",
             "2405.12345 cat:cs.LG"]
    assert match([Subscription(i, "query", t) for i, t in enumerate(texts)], day.papers) == {}


def test_odd_inputs() -> None:
    paper = PaperText(7, "Self-Supervised Graphs \ud800", "An abstract.", ["Ada L\u00f6we"], ["cs.LG"])
    subs = [Subscription(1, "query", "graph"), Subscription(2, "nonsense", "graph"),
            Subscription(3, "author", "lowe")]
    compiled = CompiledSubscriptions(subs)
    assert compiled.invalid == (2,)
    assert compiled.match([paper]) == {1: [7], 3: [7]}
    assert compiled.match([]) == {}
    assert match([], [paper]) == {}
    # an id given twice gets the union of what its values find, in paper order
    other = PaperText(8, "Quantum walks", "", [], ["quant-ph"])
    twice = [Subscription(5, "query", "quantum"), Subscription(5, "query", "graph"),
             Subscription(5, "query", "x")]
    assert match(twice, [paper, other]) == {5: [7, 8]}


def test_tokenize_is_the_index_analysis() -> None:
    assert tokenize(["Transformers running", "Löwe", "self-supervised", "\u0301", ""]) == [
        ("transform", "run"), ("low",), ("self", "supervis"), (), ()]


def test_many_subscriptions_sharing_three_queries(day: Day) -> None:
    variants = [["Transformers", "transformer", "TRANSFORMER", "transformers"],
                ['"reinforcement learning"', "reinforcement-learning", '"Reinforcement Learning"'],
                ["cat:cs.CL -llm", "-LLMs cat:cs.CL"]]
    subs = [Subscription(i, "query", variants[i % 3][i % len(variants[i % 3])]) for i in range(1000)]
    compiled = CompiledSubscriptions(subs)
    assert compiled.query_count == 3 and compiled.subscription_count == 1000
    got = compiled.match(day.papers)
    expected = [day.expected(parse_query(v[0])) for v in variants]
    assert all(expected)
    assert got == {i: expected[i % 3] for i in range(1000)}
    groups = compiled.match_groups(day.papers)
    assert sorted(len(g.subscription_ids) for g in groups) == [333, 333, 334]
    for group in groups:
        assert list(group.paper_ids) == expected[group.subscription_ids[0] % 3]
    got[0].append(-1)  # each subscription has its own list
    assert got[3] == expected[0]


def test_compiled_subscriptions_are_safe_to_share_between_threads(day: Day) -> None:
    compiled = CompiledSubscriptions(Subscription(i, "query", q) for i, q in enumerate(QUERIES[:60]))
    papers = day.papers[:500]
    alone = compiled.match(papers)

    def run(_: int) -> dict[int, list[int]]:
        return compiled.match(papers)

    with ThreadPoolExecutor(4) as pool:
        assert all(r == alone for r in pool.map(run, range(8)))


def test_runs_in_a_worker_thread(day: Day) -> None:
    subs = [Subscription(1, "query", "graph neural"), Subscription(2, "category", "cs.CL")]
    got = asyncio.run(asyncio.to_thread(match, subs, day.papers))
    assert got[1] == day.expected(parse_query("graph neural"))


def test_from_stored_paper_needs_an_id() -> None:
    from bot.merge import StoredPaper

    stored = StoredPaper(key="2605.00001", title="T", core_source=FeedKind.ARXIV_RSS, authors=["A B"],
                         categories=["cs.LG"], code_url="https://github.com/x/y", id=3)
    text = PaperText.from_stored(stored)
    assert (text.id, text.has_code) == (3, True)
    assert (tuple(text.authors), tuple(text.categories)) == (("A B",), ("cs.LG",))
    stored.id = None
    with pytest.raises(ValueError, match="no id"):
        PaperText.from_stored(stored)


def test_recompiling_parses_only_new_texts_and_matches_as_from_scratch(day: Day) -> None:
    queries = _random_queries(day.papers, 120, seed=11)
    subs = [Subscription(i, "query", q) for i, q in enumerate(queries)]
    subs += [Subscription(500, "category", "cs"), Subscription(501, "author", day.papers[3].authors[0]),
             Subscription(502, "query", "learning")]
    first = CompiledSubscriptions(subs)
    assert first.parsed_now == len({(s.kind, s.value) for s in subs})
    # Ten users leave; new ones come: a new text, an old text, the same text with has-code.
    changed = [*subs[10:], Subscription(600, "query", '"neural network" -graph'),
               Subscription(601, "query", queries[20]), Subscription(602, "query", "learning", has_code=True)]
    again = CompiledSubscriptions(changed, reuse=first)
    assert again.parsed_now == 2  # the phrase, and "learning" with has-code; nothing else
    got = again.match(day.papers)
    assert got == CompiledSubscriptions(changed).match(day.papers)
    assert not set(range(10)) & set(got)
    assert got[602] == day.expected(parse_query("learning", has_code=True)) != got[502]
    assert got.get(600, []) == day.expected(parse_query('"neural network" -graph'))
    assert again.match_groups(day.papers) == CompiledSubscriptions(changed).match_groups(day.papers)


def test_match_masks_are_the_groups_as_bitsets(day: Day) -> None:
    compiled = CompiledSubscriptions(Subscription(i, "query", q) for i, q in enumerate(QUERIES))
    papers = day.papers[:900]
    masks = compiled.match_masks(papers)
    groups = compiled.match_groups(papers)
    assert len(masks) == len(groups) > 10
    for (subscription_ids, mask), group in zip(masks, groups, strict=True):
        assert subscription_ids == group.subscription_ids
        assert [papers[i].id for i in range(len(papers)) if mask >> i & 1] == list(group.paper_ids)


def test_compiled_subscriptions_leave_little_for_the_garbage_collector(day: Day) -> None:
    """They live as long as the bot: strings and flat arrays, not objects per query that every
    full collection walks again (a stall of the event loop, whichever thread collects)."""
    subs = [Subscription(i, "query", f"word{i} -other{i % 7}") for i in range(3000)]
    subs += [Subscription(5000 + i, "author", f"Ada Lovelace{i}") for i in range(500)]
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        compiled = CompiledSubscriptions(subs)
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert compiled.query_count == 3500
    assert grown < 600  # the author phrases' stem pairs (500), and no object per query
    got = compiled.match(day.papers)
    assert got == {} or all(i >= 5000 for i in got)  # and it still matches
