"""arXiv API responses (export.arxiv.org/api/query): Atom plus opensearch.

Two generations are in the wild. The old one (to ~Oct 2025) declares `xmlns:arxiv`
on every arxiv element and hard-wraps titles/summaries; the new one declares the
namespaces once, does not wrap, reorders elements, and on 2025-11-11 briefly served
entry links with no rel/type/title at all. ElementTree resolves both namespace styles
to the same tags, links are classified by their href path, and whitespace is collapsed,
so one code path reads both.

Oddities handled: the phantom entry for a missing id (no id/title/summary, only
`term=""` categories) is skipped and counted; `totalResults` may be 1 with no entry;
an error is an HTTP-200 feed with one entry whose id is `.../api/errors#...` and whose
title is `Error`, which we turn into FeedFormatError with arXiv's message.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from bot.models import FeedKind, PaperRecord, ParsedFeed
from bot.sources.common import fail, parse_iso_datetime
from bot.sources.ids import abs_url, parse_arxiv_id, pdf_url
from bot.sources.xmlstream import ARXIV, ATOM, OPENSEARCH, child_text, iter_xml, not_a_feed
from bot.text import collapse_ws, tex_to_unicode

__all__ = ["parse_arxiv_api"]

# arXiv taxonomy terms (cs.LG, hep-th, cond-mat.str-el). The API also lists MSC and
# ACM classes as <category> (`35`, `68T05`, `I.2.7`), which are not arXiv categories.
_CATEGORY_RE = re.compile(r"[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z]+(?:-[a-z]+)?)?")


def _is_error_entry(ident: str | None, title: str | None) -> bool:
    if ident and "/api/errors" in ident:
        return True
    return ident is None and collapse_ws(title or "") == "Error"


def _url_path(href: str) -> str:
    try:
        return urlsplit(href).path if "://" in href else ""
    except ValueError:
        return ""


def _doi_from_url(href: str) -> str | None:
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host in ("doi.org", "dx.doi.org") and len(parts.path) > 1:
        return parts.path[1:]
    return None


def _entry(entry: ET.Element, body: bytes) -> PaperRecord | None:
    ident_text = title = summary = published = updated = comment = jref = doi = None
    primary: str | None = None
    categories: list[str] = []
    authors: list[str] = []
    abs_link = pdf_link = doi_link = None
    for child in entry:
        tag = child.tag
        if tag == ATOM + "id":
            ident_text = child.text
        elif tag == ATOM + "title":
            title = child.text
        elif tag == ATOM + "summary":
            summary = child.text
        elif tag == ATOM + "published":
            published = child.text
        elif tag == ATOM + "updated":
            updated = child.text
        elif tag == ATOM + "author":
            name = collapse_ws(child_text(child, ATOM + "name") or "")
            if name:
                authors.append(tex_to_unicode(name))
        elif tag == ATOM + "category":
            categories.append((child.get("term") or "").strip())
        elif tag == ARXIV + "primary_category":
            primary = (child.get("term") or "").strip() or None
        elif tag == ATOM + "link":
            # Classify by where the link points, not by rel/title (absent on 2025-11-11).
            href = (child.get("href") or "").strip()
            path = _url_path(href)
            if _doi_from_url(href):
                doi_link = doi_link or href
            elif path.startswith("/abs/"):
                abs_link = abs_link or href
            elif path.startswith("/pdf/"):
                pdf_link = pdf_link or href
        elif tag == ARXIV + "comment":
            comment = child.text
        elif tag == ARXIV + "journal_ref":
            jref = child.text
        elif tag == ARXIV + "doi":
            doi = child.text
    if _is_error_entry(ident_text, title):
        message = collapse_ws(summary or title or "unknown error")
        raise fail(f"arXiv API error: {message}", body)
    ident = parse_arxiv_id(ident_text or "")
    if ident is None:
        ident = parse_arxiv_id(abs_link or "") or parse_arxiv_id(pdf_link or "")
    if ident is None or not collapse_ws(title or ""):
        return None  # the phantom entry of a missing id
    arxiv_id, version = ident
    link_ident = parse_arxiv_id(abs_link or "")
    pdf_ident = parse_arxiv_id(pdf_link or "")
    return PaperRecord(
        key=arxiv_id,
        title=tex_to_unicode(collapse_ws(title or "")),
        source=FeedKind.ARXIV_API,
        authors=authors,
        abstract=tex_to_unicode(collapse_ws(summary or "")),
        arxiv_id=arxiv_id,
        version=version,
        categories=_categories(primary, categories),
        announce_type=None,
        submitted=parse_iso_datetime(published),
        updated=parse_iso_datetime(updated),
        abs_url=abs_url(link_ident[0] if link_ident else arxiv_id),
        pdf_url=pdf_url(pdf_ident[0] if pdf_ident else arxiv_id),
        doi=collapse_ws(doi or "") or (_doi_from_url(doi_link) if doi_link else None),
        journal_ref=collapse_ws(jref or "") or None,
        comment=collapse_ws(comment or "") or None,
    )


def _categories(primary: str | None, others: list[str]) -> list[str]:
    """Primary first, then the rest in feed order, without blanks, repeats or MSC/ACM codes."""
    out: list[str] = []
    for term in [primary or "", *others]:
        if term and term not in out and _CATEGORY_RE.fullmatch(term):
            out.append(term)
    return out


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def parse_arxiv_api(body: bytes) -> ParsedFeed:
    """Parse one arXiv API response page."""
    papers: list[PaperRecord] = []
    skipped = 0
    root: ET.Element | None = None
    for elem in iter_xml(body):
        if elem.tag == ATOM + "entry":
            record = _entry(elem, body)
            if record is None:
                skipped += 1
            else:
                papers.append(record)
            elem.clear()
        root = elem
    if root is None or root.tag != ATOM + "feed":
        raise not_a_feed(root if root is not None else ET.Element("?"), "an Atom <feed>", body)
    return ParsedFeed(
        kind=FeedKind.ARXIV_API,
        papers=papers,
        title=collapse_ws(child_text(root, ATOM + "title") or "") or None,
        feed_date=None,  # a query result, not a dated listing
        total_results=_int(child_text(root, OPENSEARCH + "totalResults")),
        skipped_items=skipped,
    )
