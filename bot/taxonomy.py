"""arXiv's category taxonomy, and the arXiv RSS URLs that serve categories."""

from __future__ import annotations

from functools import cache
from importlib import resources
from urllib.parse import urlsplit


@cache
def categories() -> dict[str, str]:
    """Every arXiv category (and archive) code -> its name, in arXiv's order."""
    text = (resources.files("bot") / "data" / "arxiv_categories.tsv").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            table[code] = name
    return table


@cache
def _by_folded() -> dict[str, str]:
    return {code.lower(): code for code in categories()}


def canonical(code: str) -> str | None:
    """'cs.lg' -> 'cs.LG'; None when arXiv has no such category."""
    return _by_folded().get(code.strip().lower())


def describe(code: str) -> str:
    name = categories().get(code)
    return f"{code} ({name})" if name else code


def suggest(text: str, limit: int = 25) -> list[tuple[str, str]]:
    """Categories for autocomplete: code prefix matches first, then name matches."""
    needle = text.strip().lower()
    table = categories()
    if not needle:
        return list(table.items())[:limit]
    by_code = [(c, n) for c, n in table.items() if c.lower().startswith(needle)]
    by_name = [(c, n) for c, n in table.items() if needle in n.lower() and (c, n) not in by_code]
    return (by_code + by_name)[:limit]


def split_categories(text: str) -> tuple[list[str], list[str]]:
    """'cs.LG, cs.cl foo' -> (['cs.LG', 'cs.CL'], ['foo']): known codes and unknown words."""
    known: list[str] = []
    unknown: list[str] = []
    for word in text.replace(",", " ").replace("+", " ").split():
        code = canonical(word)
        if code:
            if code not in known:
                known.append(code)
        else:
            unknown.append(word)
    return known, unknown


def rss_url(category: str, base: str) -> str:
    return base.rstrip("/") + "/" + category


def categories_of_rss_url(url: str) -> list[str]:
    """The categories an arXiv RSS/Atom URL serves: .../rss/cs.LG+cs.CL -> ['cs.LG', 'cs.CL']."""
    path = urlsplit(url).path.rstrip("/")
    head, _, last = path.rpartition("/")
    if not head.endswith(("/rss", "/atom")) and head not in ("/rss", "/atom"):
        return []
    found = [canonical(part) or part for part in last.split("+") if part]
    return [c for c in found if c]
