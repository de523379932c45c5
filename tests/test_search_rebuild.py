"""Documents straight from the store's rows (what a rebuild and a catch-up index) must be those
of the decoded papers; `paperbot reindex` (SearchService.rebuild) must index every paper as the
catch-ups of ingested batches did, across chunks; a rebuild that fails must leave an index the
next start rebuilds."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import date
from pathlib import Path

import pytest

from bot.models import AnnounceType, FeedKind, PaperRecord
from bot.search import parse_query, service
from bot.search.index import (
    TERMS_ANALYZER,
    IndexDoc,
    IndexRow,
    IndexTerms,
    RowDocuments,
    SearchIndex,
    index_terms,
    stems,
)
from bot.sources import parse_feed
from bot.store import Store
from bot.timeutil import date_from_db
from tests.test_store import ingest

DAY = date(2026, 5, 4)

# Names a JSON array stores with escapes (quote, backslash, newline, tab) or outside ASCII.
AUTHORS = [
    ["Ada Lovelace", "José Müller-Lüdenscheidt"],
    ['Dwayne "The Rock" Johnson', "Back\\slash Person"],
    ["Line\nBreak Author", "Tab\tSeparated"],
    ["李 小龍", "Ørsted Ångström", "O'Brien-Smith"],
    [],
]


def rows() -> list[IndexRow]:
    """Rows as the store holds them: authors and categories as JSON text (ensure_ascii off)."""
    categories = [["cs.LG", "stat.ML"], ["hep-th"], ["cs.CL", "cs.LG"], ["math.AG", "math"], []]
    announced = ["2026-05-04", None, "2026-05-04T00:00:00+00:00", "2025-12-31", "2026-01-02"]
    return [
        (n + 1, f"Title {n}", json.dumps(a, ensure_ascii=False), f"Abstract {n}.",
         json.dumps(c, ensure_ascii=False), day, n % 2)
        for n, (a, c, day) in enumerate(zip(AUTHORS, categories, announced, strict=True))
    ]


def decoded(row: IndexRow) -> IndexDoc:
    """The reference: the row decoded field by field into what the index holds of a paper."""
    paper_id, title, authors, abstract, categories, announced, has_code = row
    return IndexDoc(paper_id, title, json.loads(authors), abstract, json.loads(categories),
                    date_from_db(announced) if announced else None, bool(has_code))


def test_documents_from_rows_are_the_documents_of_the_decoded_papers() -> None:
    build = RowDocuments()
    for _ in range(2):  # the second pass is answered from the caches
        for row, fast in zip(rows(), build(rows()), strict=True):
            slow = decoded(row).to_document().to_dict()
            fast_fields = fast.to_dict()
            assert fast_fields.keys() == slow.keys()
            for field in slow:
                if field == "authors":  # the same index terms at the same positions
                    assert stems(fast_fields[field][0]) == stems(slow[field][0]), row
                elif field in ("title", "abstract"):  # analyzed already: split at spaces
                    assert fast_fields[field][0].split() == slow[field][0].split(), row
                else:
                    assert sorted(fast_fields[field]) == sorted(slow[field]), (field, row)


def test_an_escaped_name_is_decoded_before_it_is_indexed() -> None:
    row = next(r for r in rows() if "Line" in r[2])
    terms = stems(RowDocuments()([row])[0].to_dict()["authors"][0])
    assert "break" in terms and "tab" in terms
    assert "nbreak" not in terms and "tsepar" not in terms  # not the escape's letter glued on


REAL = Path(__file__).parent / "fixtures" / "real"


def real_texts() -> list[str]:
    """Every title and abstract of the captured real feeds."""
    texts = []
    for path in sorted(REAL.iterdir()):
        if path.suffix in (".xml", ".json"):
            with contextlib.suppress(ValueError):
                texts += [t for p in parse_feed(path.read_bytes()).papers for t in (p.title, p.abstract)]
    return texts


def odd_texts(count: int) -> list[str]:
    """Words of letters, digits, marks, symbols and every kind of whitespace, from all of Unicode."""
    rng = random.Random(11)
    spaces = [c for c in map(chr, range(0x3000 + 1)) if c.isspace()] + ["\u200b", "-", "'", "."]
    pool = "aeiouxyzAEIÖÜß09½²①⑴ﬁǅİ̇e\u0301\u0345ǲæŒ李小龍العربية한국어𝐀٣Ⅻ" + "".join(spaces)
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 200))) for _ in range(count)]


def test_a_texts_terms_are_those_of_analyzing_it_whole() -> None:
    """What title and abstract reach the index as (each word analyzed once, cached) must split
    into exactly the terms, in the same order (positions), of the index's analyzer."""
    texts = real_texts() + odd_texts(2_000)
    assert len(texts) > 3_000
    for limit in (200_000, 7):  # a cache that fills and starts again many times
        terms = IndexTerms(limit)
        for _ in range(2):  # the second pass is answered from the cache
            for text in texts:
                cached = terms(text)
                assert TERMS_ANALYZER.analyze(cached) == stems(text), text  # as the index splits it
                assert cached.split() == index_terms(text).split(), text
        assert len(terms) <= limit


def test_no_character_analyzes_to_an_empty_term_or_one_holding_a_space() -> None:
    """Why splitting the space-joined terms again gives them back, for every code point; and every
    character Python splits a text at is one the analyzer splits at too."""
    ascii_space = set(" \t\n\r\x0b\x0c")
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        assert all(term and not ascii_space & set(term) for term in stems(char)), hex(code)
        if char.isspace():
            assert stems(f"a{char}b") == ["a", "b"], hex(code)


def paper(n: int, authors: list[str], categories: list[str], announced: date | None) -> PaperRecord:
    key = f"2605.{n:05d}"
    return PaperRecord(
        key=key, arxiv_id=key, version=1, title=f"Lattice telemetry study {n}", source=FeedKind.ARXIV_RSS,
        authors=authors, abstract=f"We measure graph number {n} and its lattice.", categories=categories,
        announce_type=AnnounceType.NEW, announced=announced,
        code_url="https://github.com/example/repo" if n % 3 == 0 else None,
    )


QUERIES = [
    ("lattice", {}),
    ("telemetry", {"author": "José Müller-Lüdenscheidt"}),
    ("", {"author": "Rock Johnson"}),
    ("", {"author": "Back slash"}),
    ("", {"author": "Line Break Author"}),
    ("", {"author": "Ørsted"}),
    ('author:"O\'Brien-Smith"', {}),
    ("", {"author": "李 小龍"}),
    ("lattice", {"category": "cs"}),
    ("lattice", {"category": "hep-th"}),
    ("graph", {"category": "math.AG"}),
    ("lattice", {"has_code": True}),
    ("lattice", {"since_days": 3, "today": date(2026, 5, 6)}),
    ("graph 7", {}),
]


async def answers(store: Store) -> list[list[tuple[float, str]]]:
    """Per query, its papers with their scores; papers of equal score in key order (a
    rebuild's threads spread papers over segments, so ties may come in another order)."""
    found = []
    for text, options in QUERIES:
        hits = await store.search(parse_query(text, **options), limit=50)
        found.append(sorted((-round(h.rank, 4), h.paper.key) for h in hits))
    return found


async def test_a_rebuild_answers_every_query_as_the_index_kept_up_by_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "REBUILD_CHUNK", 4)  # several chunks through the read-ahead
    categories = [["cs.LG", "stat.ML"], ["hep-th"], ["cs.CL"], ["math.AG"], ["cond-mat.str-el", "cs.LG"]]
    papers = [paper(n, AUTHORS[n % len(AUTHORS)], categories[n % len(categories)],
                    date(2026, 5, 1 + n % 5) if n % 7 else None) for n in range(1, 24)]
    async with Store(tmp_path / "store.db") as store:
        await ingest(store, "https://feeds.example/a", papers)
        kept_up = await answers(store)
        assert all(kept_up[1:8]), kept_up  # every author query finds its papers

        progress: list[tuple[int, int]] = []
        assert await store.search_service.rebuild(lambda done, total: progress.append((done, total))) == 23
        assert await answers(store) == kept_up
        assert progress == [(4, 23), (8, 23), (12, 23), (16, 23), (20, 23), (23, 23)]
        assert store.search_service.index.watermark == await store.last_paper_change()


async def test_a_rebuild_that_fails_midway_leaves_an_index_the_next_start_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "REBUILD_CHUNK", 4)
    papers = [paper(n, ["Ada Lovelace"], ["cs.LG"], DAY) for n in range(1, 12)]
    db = tmp_path / "store.db"
    async with Store(db) as store:
        await ingest(store, "https://feeds.example/a", papers)
        calls = 0
        add = SearchIndex.add_uncommitted

        def failing(self: SearchIndex, documents):  # the second chunk fails (disk full, say)
            nonlocal calls
            calls += 1
            if calls == 2:
                raise OSError("No space left on device")
            return add(self, documents)

        monkeypatch.setattr(SearchIndex, "add_uncommitted", failing)
        with pytest.raises(OSError, match="No space"):
            await store.search_service.rebuild()
        assert store.search_service.index.watermark == 0  # never ahead of what the index holds
        monkeypatch.setattr(SearchIndex, "add_uncommitted", add)

    monkeypatch.setattr(service, "CATCH_UP_BATCH", 5)  # 11 papers: a start rebuilds, not replays
    async with Store(db) as store:
        found = [h.paper.key for h in await store.search(parse_query("lattice"), limit=50)]
        assert sorted(found) == sorted(p.key for p in papers)
