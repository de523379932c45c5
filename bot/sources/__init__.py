"""Feed parsing: fetched bytes in, normalized `ParsedFeed` out.

Everything here is pure (no I/O, no shared mutable state) and thread-safe, because
the bot calls it through `asyncio.to_thread` next to the event loop that serves
Discord's gateway. The arXiv formats are parsed with a chunked ElementTree pull
parser so a 2 MB listing never holds the GIL for more than about a millisecond.

`parse_feed` raises `FeedFormatError` for anything that is not a feed (an HTML error
page, `Rate exceeded.`, truncated XML, the wrong JSON) and nothing else for any bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.models import FeedFormatError, FeedKind, ParsedFeed
from bot.sources.arxiv_api import parse_arxiv_api
from bot.sources.arxiv_rss import parse_arxiv_listing
from bot.sources.common import INTERNAL_ERROR_PREFIX, repair_utf8, snippet
from bot.sources.detect import detect_kind
from bot.sources.generic import parse_generic
from bot.sources.hf_daily import parse_hf_daily
from bot.sources.ids import parse_arxiv_id

__all__ = ["FeedFormatError", "detect_kind", "parse_arxiv_id", "parse_feed"]

_PARSERS: dict[FeedKind, Callable[[bytes, str | None], ParsedFeed]] = {
    FeedKind.ARXIV_RSS: lambda body, _ct: parse_arxiv_listing(body),
    FeedKind.ARXIV_API: lambda body, _ct: parse_arxiv_api(body),
    FeedKind.HF_DAILY: lambda body, _ct: parse_hf_daily(body),
    FeedKind.RSS: parse_generic,
}


def parse_feed(
    body: bytes,
    kind: FeedKind | None = None,
    *,
    content_type: str | None = None,
    url: str | None = None,
) -> ParsedFeed:
    """Parse a fetched body into papers, in feed order.

    `kind=None` detects the format from the content (`url` and `content_type` are
    hints). A feed with no items (weekend, holiday, `totalResults` 0) is a normal
    ParsedFeed with `papers == []`. Raises FeedFormatError, with a reason and the
    start of the body, for anything that is not a feed of that kind.
    """
    if isinstance(body, bytearray | memoryview):
        body = bytes(body)
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        raise TypeError(f"parse_feed needs bytes, got {type(body).__name__}")
    resolved = FeedKind(kind) if kind is not None else None  # a bad kind is a caller bug
    try:
        if resolved is None:
            resolved = detect_kind(body, content_type, url)
        notes: list[str] = []
        if resolved is not FeedKind.RSS:  # feedparser copes with encodings on its own
            body, replaced = repair_utf8(body)
            if replaced:
                notes.append(f"{replaced} invalid UTF-8 byte(s) replaced with U+FFFD")
        if resolved is FeedKind.HF_DAILY:
            parsed = parse_hf_daily(body, url)
        else:
            parsed = _PARSERS[resolved](body, content_type)
        parsed.notes.extend(notes)
        return parsed
    except FeedFormatError:
        raise
    except Exception as exc:
        # Last line of defence for the bot: a parser bug on odd input must not take
        # the poller down. The fuzz tests fail if this is ever reached.
        raise FeedFormatError(
            f"{INTERNAL_ERROR_PREFIX} ({type(exc).__name__}: {exc}); body starts {snippet(body)}"
        ) from exc
