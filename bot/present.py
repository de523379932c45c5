"""Text shaping shared by every place that shows a paper (Discord, terminal). Pure.

Lengths are measured in UTF-16 code units, which is never less than the count of
code points, so whatever Discord counts, a text within our limit is within its
limit. Cuts never split a character, a combining sequence or an emoji sequence,
and prefer word boundaries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import quote

import discord

_MENTION = re.compile(r"@(everyone|here|[!&]?\d{15,21})")
_BRACKET = re.compile(r"(?<!\\)([\[\]])")
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}


def text_length(text: str) -> int:
    """Length as Discord's limits are safely measured (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _cut_point(text: str, budget: int) -> int:
    """The largest index whose prefix fits `budget` UTF-16 units and ends on a whole character."""
    used = 0
    cut = len(text)
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            cut = index
            break
    # Never leave a combining mark, joiner or variation selector without what it attaches to.
    while 0 < cut < len(text) and (
        unicodedata.combining(text[cut]) or text[cut] in _JOINERS or text[cut - 1] == "\u200d"
    ):
        cut -= 1
    return cut


def trim(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """At most `limit` (UTF-16) long, cut at a word boundary when one is near, ellipsis included."""
    text = " ".join(text.split())
    if text_length(text) <= limit:
        return text
    budget = limit - text_length(ellipsis)
    if budget <= 0:
        return ellipsis[: max(0, limit)]
    cut = text[: _cut_point(text, budget)]
    space = cut.rfind(" ")
    if space >= len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + ellipsis


def escape_markdown(text: str) -> str:
    """Show text literally in Discord: markdown characters escaped, mentions defused.

    Mentions cannot ping anyway (every message sets allowed_mentions to none); a zero-width
    space keeps '@everyone' or '<@id>' from even looking like one.
    """
    escaped = _BRACKET.sub(r"\\\1", discord.utils.escape_markdown(text))
    return _MENTION.sub("@\u200b\\1", escaped)


def safe_url(url: str) -> str:
    """A URL that cannot break out of a markdown link: spaces and parentheses encoded."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~.-_")


def md_link(label: str, url: str | None) -> str:
    """A markdown link whose label is escaped (so `]` or `)` in a title cannot break it)."""
    label = escape_markdown(label)
    return f"[{label}]({safe_url(url)})" if url else label


def short_authors(authors: Sequence[str], *, max_names: int = 3) -> str:
    """'A, B, C' or 'A, B, C et al.' when there are more than `max_names`."""
    if not authors:
        return "Unknown authors"
    if len(authors) <= max_names:
        return ", ".join(authors)
    return ", ".join(authors[:max_names]) + " et al."


def fit_lines(lines: Sequence[str], limit: int, *, separator: str = "\n") -> tuple[str, int]:
    """Join whole lines while they fit in `limit`; never cut a line (or a link) in half.

    Returns the text and how many lines it holds, so callers can count what was left out.
    """
    out: list[str] = []
    used = 0
    for line in lines:
        cost = text_length(line) + (text_length(separator) if out else 0)
        if used + cost > limit:
            break
        out.append(line)
        used += cost
    return separator.join(out), len(out)
