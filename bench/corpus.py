"""A synthetic but realistic paper corpus for benchmarks.

Words, their frequencies, author names and categories come from the real captured
feeds in tests/fixtures/real, so term statistics (common words, rare words,
phrases) look like arXiv's. Titles of 6-14 words, abstracts of 120-220 words.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import contextlib

from bot.models import AnnounceType, FeedKind, PaperRecord
from bot.search import fts_tokens
from bot.sources import parse_feed

REAL = ROOT / "tests" / "fixtures" / "real"


class Corpus:
    def __init__(self, seed: int = 42):
        self.rng = random.Random(seed)
        self.real: list[PaperRecord] = []
        for path in sorted(REAL.iterdir()):
            if path.suffix in (".xml", ".json"):
                with contextlib.suppress(ValueError):
                    self.real += parse_feed(path.read_bytes()).papers
        words: Counter[str] = Counter()
        for paper in self.real:
            words.update(fts_tokens(paper.title + " " + paper.abstract))
        self.vocabulary = [w for w, _ in words.most_common() if len(w) > 1]
        self.weights = [words[w] for w in self.vocabulary]
        self.authors = sorted({a for p in self.real for a in p.authors})
        self.categories = sorted({c for p in self.real for c in p.categories if "." in c})

    def words(self, count: int) -> list[str]:
        return self.rng.choices(self.vocabulary, self.weights, k=count)

    def paper(self, number: int, day: date) -> PaperRecord:
        rng = self.rng
        key = f"{day:%y%m}.{number % 100000:05d}"
        title = " ".join(self.words(rng.randint(6, 14))).capitalize()
        primary = rng.choice(self.categories)
        extra = rng.sample(self.categories, rng.randint(0, 2))
        return PaperRecord(
            key=key, arxiv_id=key, version=1, title=title, source=FeedKind.ARXIV_RSS,
            authors=rng.sample(self.authors, rng.randint(1, 8)),
            abstract=" ".join(self.words(rng.randint(120, 220))) + ".",
            categories=[primary, *[c for c in extra if c != primary]],
            announce_type=AnnounceType.NEW if rng.random() < 0.7 else AnnounceType.CROSS,
            announced=day, abs_url=f"https://arxiv.org/abs/{key}", pdf_url=f"https://arxiv.org/pdf/{key}",
            code_url="https://github.com/example/repo" if rng.random() < 0.2 else None,
        )

    def days(self, total: int, per_day: int, start: date) -> Iterator[tuple[date, list[PaperRecord]]]:
        number = 0
        day = start
        while number < total:
            size = min(per_day, total - number)
            yield day, [self.paper(number + i, day) for i in range(size)]
            number += size
            day += timedelta(days=1)
