"""Any other RSS/Atom feed, through feedparser.

Journal and blog feeds are too varied for a hand parser, and they are small, so
feedparser's cost does not matter here. Items that point at an arXiv abstract or PDF
(or at a Hugging Face paper page, which is keyed by arXiv id) are keyed by the arXiv
id so they merge with the arXiv record; everything else gets a stable
`rss:<sha1(guid or link or title)[:16]>` key.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from bot.models import FeedKind, PaperRecord, ParsedFeed
from bot.sources.common import (
    announce_type,
    fail,
    parse_iso_datetime,
    parse_rfc822,
    split_announce_prefix,
    to_date,
)
from bot.sources.ids import abs_url, hf_url, parse_arxiv_id, pdf_url
from bot.sources.jsonfeed import is_json_feed, parse_json_feed
from bot.sources.xmlstream import refuse_entities
from bot.text import collapse_ws, split_authors, strip_html, tex_to_unicode

__all__ = ["parse_generic"]


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _datetime(entry: Any, field: str) -> datetime | None:
    """The entry's own timestamp (keeping its offset); feedparser's UTC tuple as fallback."""
    # dict.get, not entry.get: feedparser maps a missing `updated` to `published` (with a warning)
    raw = _str(dict.get(entry, field))
    if raw:
        parsed = parse_rfc822(raw) or parse_iso_datetime(raw)
        if parsed is not None:
            return parsed
    tup = dict.get(entry, f"{field}_parsed")
    if isinstance(tup, time.struct_time):
        try:
            return datetime(*tup[:6], tzinfo=UTC)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def _hf_paper_id(href: str) -> tuple[str, int | None] | None:
    """`https://huggingface.co/papers/2405.12345` -> the arXiv id it is keyed by."""
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in ("huggingface.co", "hf.co"):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) == 2 and segments[0] == "papers":
        return parse_arxiv_id(segments[1])
    return None


def _author_names(node: Any) -> list[str]:
    raw = [a.get("name") for a in node.get("authors") or [] if isinstance(a, dict) and a.get("name")]
    names = [n for n in raw if isinstance(n, str) and n.strip()]
    if not names and _str(node.get("author")):
        names = [node["author"]]
    return names


def _authors(entry: Any, feed_authors: list[str]) -> list[str]:
    """The entry's authors; an Atom feed's own `<author>` stands for entries without one."""
    names = _author_names(entry) or feed_authors
    if len(names) != 1:
        return [tex_to_unicode(strip_html(n)) for n in names]
    # One string may hold the whole list (`dc:creator` "A, B and C" or "Smith, J.; Doe, A.").
    single = strip_html(names[0]) if "<" in names[0] else names[0]
    parts = split_authors(single, and_joins=True)
    if len(parts) == 2 and ";" not in single and all(" " not in p for p in parts):
        return [tex_to_unicode(collapse_ws(single))]  # "Smith, John" is one person
    return parts


def _text(detail: Any, value: Any) -> str:
    """Plain text of a feedparser text construct (HTML when its type says so)."""
    text = value if isinstance(value, str) else ""
    kind = detail.get("type") if isinstance(detail, dict) else None
    if kind in ("text/html", "application/xhtml+xml") or "<" in text:
        return strip_html(text)
    return collapse_ws(text)


_DOI_RE = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.I)


def _doi(entry: Any, link: str | None) -> str | None:
    """The item's DOI: `prism:doi`, `dc:identifier` (`doi:10.1101/743294`) or a doi.org link."""
    for value in (entry.get("prism_doi"), entry.get("dc_identifier"), link):
        m = _DOI_RE.match(_str(value) or "")
        if m:
            return m.group(1)
    return None


def _doi_version(doi: str, hrefs: list[str | None]) -> int | None:
    """bioRxiv/medRxiv links carry the version after the DOI's suffix: `.../743294v2?rss=1`."""
    suffix = re.escape(doi.split("/", 1)[1])
    for href in hrefs:
        m = re.search(suffix + r"v(\d{1,3})(?![\d])", href or "", re.I)
        if m:
            return int(m.group(1))
    return None


def _entry(entry: Any, feed_authors: list[str]) -> PaperRecord | None:
    link = _str(entry.get("link"))
    guid = _str(entry.get("id"))
    title = _text(entry.get("title_detail"), entry.get("title"))
    hrefs = [link, guid] + [_str(lk.get("href")) for lk in entry.get("links") or [] if isinstance(lk, dict)]
    ident = None
    hf_ident = None
    for href in hrefs:
        if href:
            ident = ident or parse_arxiv_id(href)
            hf_ident = hf_ident or _hf_paper_id(href)
    ident = ident or hf_ident
    basis = guid or link or title
    if not basis:
        return None
    pdf_link = next(
        (
            _str(lk.get("href"))
            for lk in entry.get("links") or []
            if isinstance(lk, dict) and lk.get("type") == "application/pdf"
        ),
        None,
    )
    summary = entry.get("summary")
    summary_detail = entry.get("summary_detail")
    content = entry.get("content")
    if not _str(summary) and isinstance(content, list) and content and isinstance(content[0], dict):
        summary, summary_detail = content[0].get("value"), content[0]
    abstract, _, prefix_type = split_announce_prefix(_text(summary_detail, summary))
    published = _datetime(entry, "published")
    updated = _datetime(entry, "updated")
    doi = _doi(entry, link)
    categories: list[str] = []
    for tag in entry.get("tags") or []:
        term = _str(tag.get("term")) if isinstance(tag, dict) else None
        if term and term not in categories:
            categories.append(term)
    # Identity: an arXiv id; else, for a preprint whose link and guid name the version
    # (bioRxiv's `.../743294v2?rss=1`), its DOI, so v2 updates v1; else a hash of the guid.
    version = ident[1] if ident else (_doi_version(doi, hrefs) if doi else None)
    if ident:
        key = ident[0]
    elif doi and version is not None:
        key = "doi:" + doi.lower()
    else:
        key = "rss:" + hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    return PaperRecord(
        key=key,
        title=tex_to_unicode(title) if ident else title,
        source=FeedKind.RSS,
        authors=_authors(entry, feed_authors),
        abstract=abstract,
        arxiv_id=ident[0] if ident else None,
        version=version,
        categories=categories,
        announce_type=announce_type(_str(entry.get("arxiv_announce_type")) or prefix_type) if ident else None,
        announced=to_date(published or updated),
        submitted=published,
        updated=updated,
        abs_url=abs_url(ident[0]) if ident else link,
        pdf_url=pdf_url(ident[0]) if ident else pdf_link,
        hf_url=hf_url(ident[0]) if hf_ident else None,
        doi=doi,
    )


def entry_to_record(entry: Any, feed_authors: list[str]) -> PaperRecord | None:
    """One feedparser-shaped entry as a paper (also used for JSON Feed items)."""
    return _entry(entry, feed_authors)


def parse_generic(body: bytes, content_type: str | None = None) -> ParsedFeed:
    """Parse any RSS/Atom feed feedparser understands, or a JSON Feed."""
    if is_json_feed(body.lstrip()):
        return parse_json_feed(body)
    headers = {"content-type": content_type} if content_type else None
    refuse_entities(body)
    try:
        # A stream, never the bytes themselves: given bytes, feedparser first tries
        # open(body) as a *file name*, so b"/etc/passwd" would read a local file.
        result = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # feedparser is third-party: anything it throws is "bad feed"
        raise fail(f"feedparser failed ({type(exc).__name__})", body) from exc
    entries = result.get("entries") or []
    feed = result.get("feed") or {}
    feed_title = _str(feed.get("title"))
    if not entries and (not result.get("version") or (result.get("bozo") and not feed_title)):
        reason = result.get("bozo_exception")
        detail = f" ({reason})" if reason else ""
        raise fail(f"not an RSS/Atom feed{detail}", body)
    papers: list[PaperRecord] = []
    skipped = 0
    feed_authors = _author_names(feed)
    for entry in entries:
        record = _entry(entry, feed_authors)
        if record is None:
            skipped += 1
        else:
            papers.append(record)
    return ParsedFeed(
        kind=FeedKind.RSS,
        papers=papers,
        title=collapse_ws(strip_html(feed_title)) if feed_title else None,
        feed_date=None,
        skipped_items=skipped,
    )
