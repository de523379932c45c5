"""Small helpers shared by the source parsers: error messages, dates, announce types."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TypeVar

from bot.models import AnnounceType, FeedFormatError, ParsedFeed
from bot.text import collapse_ws

__all__ = [
    "INTERNAL_ERROR_PREFIX",
    "announce_type",
    "distrust_future_dates",
    "fail",
    "most_common",
    "parse_iso_datetime",
    "parse_rfc822",
    "repair_utf8",
    "snippet",
    "split_announce_prefix",
    "to_date",
]

# parse_feed's last-resort wrapper uses this prefix; tests assert it never shows up.
INTERNAL_ERROR_PREFIX = "internal parser error"


def snippet(body: bytes, limit: int = 80) -> str:
    """A short printable excerpt of a body, for error messages a human reads in a log."""
    head = body[: limit * 4].decode("utf-8", errors="replace")
    text = collapse_ws(head)
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


def fail(reason: str, body: bytes) -> FeedFormatError:
    """A FeedFormatError whose message says what was wrong and shows the start of the body."""
    return FeedFormatError(f"{reason}; body starts {snippet(body)}")


_XML_ENCODING_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def repair_utf8(body: bytes) -> tuple[bytes, int]:
    """A UTF-8 body with a few invalid bytes, made valid: (body, bytes replaced).

    One bad byte in a 141-paper listing makes expat and json refuse the whole document;
    replacing it with U+FFFD keeps the other 140 papers (and the caller says so). Bodies
    that declare another encoding, or are UTF-16, are left to the parser.
    """
    head = body[:256].lstrip(b"\xef\xbb\xbf")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body, 0
    declared = _XML_ENCODING_RE.match(head)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return body, 0
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="replace")
        replaced = text.count("\ufffd") - body.count("\ufffd".encode())
        return text.encode("utf-8"), max(replaced, 1)
    return body, 0


@lru_cache(maxsize=256)  # a listing repeats one pubDate on every item
def parse_rfc822(value: str | None) -> datetime | None:
    """RSS dates (`Tue, 12 May 2026 00:00:00 -0400`) as aware datetimes; None if unusable."""
    if not value or not value.strip():
        return None
    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def parse_iso_datetime(value: str | None) -> datetime | None:
    """ISO 8601 / RFC 3339 timestamps (Atom, HF) as aware datetimes; naive ones are UTC."""
    if not value or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except (TypeError, ValueError, OverflowError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


_ANNOUNCE_TYPES = {t.value: t for t in AnnounceType}
# arXiv's serializer documents a fifth type, "absonly" (an abstract-only update). It is
# an update, not news, which is all the bot distinguishes.
_ANNOUNCE_TYPES["absonly"] = AnnounceType.REPLACE


def announce_type(value: str | None) -> AnnounceType | None:
    """Map arXiv's announce_type text to the enum; unknown values give None, not an error."""
    if not value:
        return None
    return _ANNOUNCE_TYPES.get(value.strip().lower())


T = TypeVar("T")


def most_common(values: Iterable[T | None]) -> T | None:
    """The most frequent non-None value (first seen wins ties), e.g. a listing's day."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    return counts.most_common(1)[0][0]


FUTURE_SLACK = timedelta(days=2)  # arXiv dates a listing in US Eastern, HF in UTC: a day ahead is real


def distrust_future_dates(parsed: ParsedFeed, today: date) -> None:
    """Forget dates further ahead than any real listing can be (`2099-08-20`, year 9999).

    A far-future date would make that listing "the latest day" for ever and skew
    `--since`; the listing is kept, its papers dated by the day it was fetched (they
    were announced by then), and the feed's status says so.
    """
    limit = today + FUTURE_SLACK
    moment_limit = datetime.combine(limit, datetime.max.time(), tzinfo=UTC)
    dropped = 0
    if parsed.feed_date is not None and parsed.feed_date > limit:
        parsed.feed_date = None
        dropped += 1
    for record in parsed.papers:
        for name in ("announced", "hf_date"):
            value = getattr(record, name)
            if value is not None and value > limit:
                setattr(record, name, today)  # announced by the time we saw it, at the latest
                dropped += 1
        for name in ("submitted", "updated"):
            value = getattr(record, name)
            if value is not None and value > moment_limit:
                setattr(record, name, None)
                dropped += 1
    if dropped:
        parsed.notes.append(f"{dropped} date(s) in the far future ignored")


def to_date(dt: datetime | None) -> date | None:
    """The calendar date in the timestamp's own offset (arXiv announces in US Eastern)."""
    return dt.date() if dt is not None else None


# `arXiv:2605.08098v1 Announce Type: new \nAbstract: ...`; spacing varies
# (`Abstract:   We` in nlin/0408039v2).
_PREFIX_RE = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce\s+Type:\s*(?P<type>[A-Za-z-]+)\s*(?:Abstract:)?\s*"
)


def split_announce_prefix(description: str) -> tuple[str, str | None, str | None]:
    """Split arXiv's `arXiv:IDvN Announce Type: T Abstract:` prefix off an abstract.

    Returns (abstract, versioned id text, announce type text); the last two are None
    when there is no prefix.
    """
    m = _PREFIX_RE.match(description)
    if m is None:
        return description, None, None
    return description[m.end() :], m.group("id"), m.group("type")
