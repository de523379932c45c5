"""Why two papers are close: the key terms they share, or their common topic (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[a-z][a-z0-9\-]{2,}")

# Words that say nothing about a paper's subject in an abstract.
_STOPWORD_TEXT = """
a about above across after again against all almost also although always among an and another any
are around as at based be because been before being below between both but by can could did do does
doing done during each either enough even every few for from further had has have having here how
however if in into is it its itself just large less many may might more most much must new no nor
not now of off often on once one only or other our out over own paper papers per present propose
proposed proposes provide rather result results same several should show shows shown significant
significantly since so some such than that the their them then there these they this those through
thus to too under until up upon us use used uses using very via was we well were what when where
whether which while who whose why will with within without would yet approach approaches method
methods model models novel task tasks work demonstrate demonstrates existing however further first
two three address achieve achieves across different effective effectively improve improves improved
performance state-of-the-art recent recently study studies framework frameworks introduce introduces
data experiments experimental evaluate evaluation extensive key main problem problems challenge
challenges challenging various code available github https http www com org release released public
publicly outperforms outperform learning based-on existing leverage leverages enables enable
allowing allows make makes made
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(text: str) -> list[str]:
    """Content words of a text, lower-case, in order."""
    return [w.strip("-") for w in _WORD.findall(text.lower()) if w.strip("-") not in STOPWORDS]


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def shared_terms(a_title: str, a_text: str, b_title: str, b_text: str, *, limit: int = 3,
                 rarity: dict[str, float] | None = None) -> list[str]:
    """Key terms both papers use, title words first, then rarer (or longer) words first."""
    a_words = {_stem(w): w for w in terms(a_title + " " + a_text)}
    b_title_stems = {_stem(w) for w in terms(b_title)}
    a_title_stems = {_stem(w) for w in terms(a_title)}
    b_stems = {_stem(w) for w in terms(b_title + " " + b_text)}
    common = [s for s in a_words if s in b_stems]

    def weight(stem: str) -> tuple[float, ...]:
        in_titles = (stem in a_title_stems) + (stem in b_title_stems)
        rare = rarity.get(stem, 1.0) if rarity else 0.0
        return (-in_titles, -rare, -len(stem))

    common.sort(key=weight)
    return [a_words[s] for s in common[:limit]]


def rarity_table(texts: Iterable[str]) -> dict[str, float]:
    """1 / document frequency of each stem over a set of texts: rarer shared words say more."""
    counts: dict[str, int] = {}
    for text in texts:
        for stem in {_stem(w) for w in terms(text)}:
            counts[stem] = counts.get(stem, 0) + 1
    return {stem: 1.0 / n for stem, n in counts.items()}


def why_line(shared: Sequence[str], a_categories: Sequence[str], b_categories: Sequence[str]) -> str:
    """One line: the shared key terms, else the shared topic, else nothing specific."""
    if shared:
        return "shares " + ", ".join(f"*{t}*" for t in shared)
    common = [c for c in a_categories if c in b_categories]
    if common:
        return f"same topic ({common[0]})"
    return "close in meaning"
