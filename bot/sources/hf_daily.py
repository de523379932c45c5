"""Hugging Face Daily Papers (`/api/daily_papers?date=...`): a JSON list.

Each element wraps the arXiv paper in `paper` and adds Daily-Papers fields at the top
level. Four schema generations exist (2024-03 compact, 2024-06 with thumbnails,
2025 with `submittedOnDailyAt`/`ai_summary`/`githubRepo`, 2026 with `organization`),
and fields wander between `paper` and the top level, so every field is read from
`paper` first and from the top level second. The top-level `publishedAt` is the day
the paper was added to Daily Papers in early generations but the arXiv time in later
ones; `paper.submittedOnDailyAt`, when present, is the reliable Daily-Papers day.

All JSON is untrusted: every value is type-checked, so odd input yields skipped
items or FeedFormatError, never a TypeError.
"""

from __future__ import annotations

import json
from datetime import UTC, date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.models import FeedKind, PaperRecord, ParsedFeed
from bot.sources.common import fail, most_common, parse_iso_datetime
from bot.sources.ids import abs_url, hf_url, parse_arxiv_id, pdf_url
from bot.text import collapse_ws, tex_to_unicode

__all__ = ["parse_hf_daily"]


class _Item:
    """Field lookup over one list element: `paper` first, then the top level."""

    __slots__ = ("paper", "top")

    def __init__(self, top: dict[str, Any]) -> None:
        paper = top.get("paper")
        self.paper: dict[str, Any] = paper if isinstance(paper, dict) else {}
        self.top = top

    def get(self, key: str) -> Any:
        value = self.paper.get(key)
        return value if value is not None else self.top.get(key)

    def text(self, key: str) -> str | None:
        value = self.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        return None

    def integer(self, key: str) -> int | None:
        value = self.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return None


def _authors(value: Any) -> list[str]:
    """`authors[].name`, including authors HF marks `hidden` (hidden from the UI, still authors)."""
    if not isinstance(value, list):
        return []
    names: list[str] = []
    for author in value:
        name = author.get("name") if isinstance(author, dict) else author
        if isinstance(name, str) and name.strip():
            names.append(tex_to_unicode(collapse_ws(name)))
    return names


def _keywords(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [collapse_ws(k) for k in value if isinstance(k, str) and k.strip()]


def _day_of(raw: Any) -> date | None:
    dt = parse_iso_datetime(raw) if isinstance(raw, str) else None
    return dt.astimezone(UTC).date() if dt else None


def _url_day(url: str | None) -> date | None:
    """The `?date=YYYY-MM-DD` a file was asked for, if any."""
    if not url:
        return None
    try:
        values = parse_qs(urlsplit(url).query).get("date") or []
        return date.fromisoformat(values[0]) if values else None
    except ValueError:
        return None


def _file_day(items: list[_Item], url: str | None) -> date | None:
    """One file is one Daily-Papers day.

    The `?date=` asked for wins; else the day `paper.submittedOnDailyAt` names most
    often. Files without it (the `?date=` form of some generations) carry only a
    top-level `publishedAt`, which is the arXiv time for some items, so a few fall on
    the day before: the latest of those days is the file's day.
    """
    asked = _url_day(url)
    if asked is not None:
        return asked
    daily = most_common(_day_of(i.paper.get("submittedOnDailyAt")) for i in items)
    if daily is not None:
        return daily
    published = [d for d in (_day_of(i.top.get("publishedAt")) for i in items) if d]
    return max(published) if published else None


def _record(item: _Item, day: date | None) -> PaperRecord | None:
    paper_id = item.text("id")
    title = item.text("title")
    if paper_id is None or title is None:
        return None
    ident = parse_arxiv_id(paper_id)
    github = item.text("githubRepo")
    published = item.paper.get("publishedAt")
    record = PaperRecord(
        key=ident[0] if ident else f"hf:{paper_id}",
        title=tex_to_unicode(collapse_ws(title)),
        source=FeedKind.HF_DAILY,
        authors=_authors(item.get("authors")),
        abstract=collapse_ws(item.text("summary") or ""),
        arxiv_id=ident[0] if ident else None,
        version=ident[1] if ident else None,
        announce_type=None,
        submitted=parse_iso_datetime(published) if isinstance(published, str) else None,
        abs_url=abs_url(ident[0]) if ident else None,
        pdf_url=pdf_url(ident[0]) if ident else None,
        hf_url=hf_url(ident[0] if ident else paper_id),
        code_url=github,
        project_url=item.text("projectPage"),
        hf_upvotes=item.integer("upvotes"),
        hf_ai_summary=(collapse_ws(item.text("ai_summary") or "") or None),
        hf_ai_keywords=_keywords(item.get("ai_keywords")),
        github_repo=github,
        github_stars=item.integer("githubStars"),
        hf_comments=item.integer("numComments"),
        hf_date=day,
        hf_thumbnail=_thumbnail(item.top.get("thumbnail")),
    )
    return record


def _thumbnail(value: object) -> str | None:
    """Daily Papers' image for the paper: an https URL, or nothing (never a relative path)."""
    if isinstance(value, str) and value.startswith("https://") and len(value) <= 2000:
        return value
    return None


def parse_hf_daily(body: bytes, url: str | None = None) -> ParsedFeed:
    """Parse one Daily Papers response. `[]` (a day without papers) is an empty feed.

    `url` (the address fetched) names the day when it carries `?date=`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise fail(f"not JSON ({type(exc).__name__})", body) from None
    if not isinstance(data, list):
        raise fail(f"JSON is a {type(data).__name__}, not the Daily Papers list", body)
    items = [_Item(e) if isinstance(e, dict) else None for e in data]
    day = _file_day([i for i in items if i is not None], url)
    papers: list[PaperRecord] = []
    skipped = 0
    for item in items:
        record = _record(item, day) if item is not None else None
        if record is None:
            skipped += 1
        else:
            papers.append(record)
    if data and not papers:
        raise fail("JSON list holds no Daily Papers items", body)
    return ParsedFeed(
        kind=FeedKind.HF_DAILY,
        papers=papers,
        title=None,
        feed_date=day if papers else None,
        skipped_items=skipped,
    )
