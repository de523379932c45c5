"""Text shaping shared by every place that shows a paper (Discord, terminal). Pure."""

from __future__ import annotations

from collections.abc import Sequence


def short_authors(authors: Sequence[str], *, max_names: int = 3) -> str:
    """'A, B, C' or 'A, B, C et al.' when there are more than `max_names`."""
    if not authors:
        return "Unknown authors"
    if len(authors) <= max_names:
        return ", ".join(authors)
    return ", ".join(authors[:max_names]) + " et al."


def trim(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut at a word boundary so the result, ellipsis included, is at most `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[:limit]
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space >= (limit - len(ellipsis)) * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + ellipsis
