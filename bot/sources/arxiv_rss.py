"""arXiv daily listings: RSS 2.0 and its Atom twin (rss.arxiv.org), legacy RSS 1.0/RDF.

One announcement day per body. What the three formats give us:

* RSS 2.0 (since 2024-01): `<guid>oai:arXiv.org:IDvN</guid>`, plain-text (TeX)
  `<description>` prefixed with `arXiv:IDvN Announce Type: T \\nAbstract: `, one
  comma-joined `dc:creator`, `<category>` per category, `arxiv:announce_type`,
  optional `arxiv:DOI` / `arxiv:journal_reference`, item `<pubDate>` only since
  2024-08-28 (before that only the channel `<pubDate>`).
* Atom (rss.arxiv.org/atom/<cat>): the same data as Atom entries (`<id>` holds the oai
  guid, `<summary>` the prefixed abstract, `<category term>`, `<published>` the
  announcement midnight), same `arxiv:` / `dc:` extension elements.
* RDF (export.arxiv.org/rss until 2024-01): HTML abstract, HTML links in `dc:creator`,
  no categories or announce type; the title ends `. (arXiv:IDvN [primary])` with
  ` UPDATED` for replacements, and the channel `dc:date` dates the listing.

Category order: in every captured RSS 2.0 listing the first `<category>` of a `new` or
`replace` item is the feed's own category, and the first one of a `cross` or
`replace-cross` item is a different one, while the list is not sorted; i.e. the
first category is the paper's primary and the rest follow. We keep that order.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from zoneinfo import ZoneInfo

from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
from bot.sources.common import (
    announce_type,
    fail,
    most_common,
    parse_iso_datetime,
    parse_rfc822,
    split_announce_prefix,
    to_date,
)
from bot.sources.ids import abs_url, parse_arxiv_id, pdf_url
from bot.sources.xmlstream import (
    ARXIV,
    ATOM,
    DC,
    RDF,
    RSS1,
    child_text,
    iter_xml,
    not_a_feed,
)
from bot.text import collapse_ws, split_authors, strip_html, tex_to_unicode

__all__ = ["parse_arxiv_listing"]

_EASTERN = ZoneInfo("America/New_York")

# Legacy RDF title suffix: `. (arXiv:2401.15088v1 [eess.SY])`, `... [cs.LG] UPDATED)`.
_RDF_SUFFIX_RE = re.compile(
    r"\.?\s*\(arXiv:(?P<id>[^\s\[\]()]+)\s*\[(?P<cat>[^\]]*)\]\s*(?P<flag>UPDATED|CROSS LISTED)?\s*\)\s*$"
)
_FEED_TITLE_RE = re.compile(r"^(?P<cats>.+?)\s+updates on arXiv\.org\s*$", re.I)
# Archives that are categories themselves (no subject classes), for RDF cross-lists.
_STANDALONE = frozenset(
    ["gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nucl-ex", "nucl-th", "quant-ph"]
)


def _dedup(values: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _title(text: str | None) -> str:
    return tex_to_unicode(collapse_ws(text or ""))


def _split_prefix(description: str) -> tuple[str, tuple[str, int | None] | None, str | None]:
    """Abstract without the `arXiv:ID Announce Type: X Abstract:` prefix, plus what it said."""
    abstract, id_text, type_text = split_announce_prefix(description)
    return abstract, parse_arxiv_id(id_text) if id_text else None, type_text


def _record(
    ident: tuple[str, int | None],
    *,
    title: str,
    abstract: str,
    authors: list[str],
    categories: list[str],
    atype: AnnounceType | None,
    announced: date | None,
    doi: str | None = None,
    journal_ref: str | None = None,
) -> PaperRecord:
    arxiv_id, version = ident
    return PaperRecord(
        key=arxiv_id,
        title=title,
        source=FeedKind.ARXIV_RSS,
        authors=authors,
        abstract=abstract,
        arxiv_id=arxiv_id,
        version=version,
        categories=_dedup(categories),
        announce_type=atype,
        announced=announced,
        abs_url=abs_url(arxiv_id),
        pdf_url=pdf_url(arxiv_id),
        doi=(collapse_ws(doi) or None) if doi else None,
        journal_ref=(collapse_ws(journal_ref) or None) if journal_ref else None,
    )


# ---------------------------------------------------------------- RSS 2.0 / Atom


def _rss2_item(item: ET.Element) -> tuple[PaperRecord, bool] | None:
    """One `<item>`; the flag says whether it carried its own pubDate."""
    title = link = description = guid = pub = atype_text = creator = doi = jref = None
    categories: list[str] = []
    for child in item:
        tag, text = child.tag, child.text
        if tag == "title":
            title = text
        elif tag == "link":
            link = text
        elif tag == "description":
            description = text
        elif tag == "guid":
            guid = text
        elif tag == "category":
            categories.append((text or "").strip())
        elif tag == "pubDate":
            pub = text
        elif tag == ARXIV + "announce_type":
            atype_text = text
        elif tag == DC + "creator":
            creator = text
        elif tag == ARXIV + "DOI":
            doi = text
        elif tag == ARXIV + "journal_reference":
            jref = text
    abstract, prefix_id, prefix_type = _split_prefix(description or "")
    ident = parse_arxiv_id(guid or "") or prefix_id or parse_arxiv_id(link or "")
    if ident is None:
        return None
    if ident[1] is None and prefix_id is not None and prefix_id[0] == ident[0]:
        ident = prefix_id
    announced = to_date(parse_rfc822(pub))
    record = _record(
        ident,
        title=_title(title),
        abstract=tex_to_unicode(collapse_ws(abstract)),
        authors=split_authors(creator or ""),
        categories=categories,
        atype=announce_type(atype_text) or announce_type(prefix_type),
        announced=announced,
        doi=doi,
        journal_ref=jref,
    )
    return record, announced is not None


def _finish_rss2(
    root: ET.Element, items: list[tuple[PaperRecord, bool]], skipped: int, body: bytes
) -> ParsedFeed:
    channel = root.find("channel")
    if channel is None:
        raise not_a_feed(root, "an RSS <channel>", body)
    papers = [record for record, _ in items]
    feed_date = to_date(parse_rfc822(child_text(channel, "pubDate")))
    if feed_date is None:
        feed_date = most_common(p.announced for p in papers)
    for record, dated in items:
        if not dated:  # items carry their own pubDate only since 2024-08-28
            record.announced = feed_date
    return ParsedFeed(
        kind=FeedKind.ARXIV_RSS,
        papers=papers,
        title=collapse_ws(child_text(channel, "title") or "") or None,
        feed_date=feed_date,
        skipped_items=skipped,
    )


def _atom_listing_entry(entry: ET.Element) -> PaperRecord | None:
    ident_text = title = summary = published = atype_text = creator = doi = jref = None
    links: list[str] = []
    names: list[str] = []
    categories: list[str] = []
    for child in entry:
        tag, text = child.tag, child.text
        if tag == ATOM + "id":
            ident_text = text
        elif tag == ATOM + "title":
            title = text
        elif tag == ATOM + "summary" or (tag == ATOM + "content" and summary is None):
            summary = text
        elif tag == ATOM + "link":
            links.append(child.get("href") or "")
        elif tag == ATOM + "category":
            categories.append((child.get("term") or "").strip())
        elif tag == ATOM + "published":
            published = text
        elif tag == ATOM + "author":
            names.append(collapse_ws(child_text(child, ATOM + "name") or ""))
        elif tag == ARXIV + "announce_type":
            atype_text = text
        elif tag == DC + "creator":
            creator = text
        elif tag == ARXIV + "DOI":
            doi = text
        elif tag == ARXIV + "journal_reference":
            jref = text
    abstract, prefix_id, prefix_type = _split_prefix(summary or "")
    ident = parse_arxiv_id(ident_text or "") or prefix_id
    for href in links:
        ident = ident or parse_arxiv_id(href)
    if ident is None:
        return None
    if ident[1] is None and prefix_id is not None and prefix_id[0] == ident[0]:
        ident = prefix_id
    authors = split_authors(creator) if creator else [tex_to_unicode(n) for n in names if n]
    return _record(
        ident,
        title=_title(title),
        abstract=tex_to_unicode(collapse_ws(abstract)),
        authors=authors,
        categories=categories,
        atype=announce_type(atype_text) or announce_type(prefix_type),
        announced=to_date(parse_iso_datetime(published)),
        doi=doi,
        journal_ref=jref,
    )


def _finish_atom_listing(root: ET.Element, papers: list[PaperRecord], skipped: int) -> ParsedFeed:
    feed_date = most_common(p.announced for p in papers)
    if feed_date is None:
        # Empty day: the feed's build time (just after midnight US Eastern) dates it.
        updated = parse_iso_datetime(child_text(root, ATOM + "updated"))
        feed_date = updated.astimezone(_EASTERN).date() if updated else None
    for paper in papers:
        if paper.announced is None:
            paper.announced = feed_date
    return ParsedFeed(
        kind=FeedKind.ARXIV_RSS,
        papers=papers,
        title=collapse_ws(child_text(root, ATOM + "title") or "") or None,
        feed_date=feed_date,
        skipped_items=skipped,
    )


# -------------------------------------------------------------------- legacy RDF


def _feed_categories(title: str | None) -> list[str]:
    m = _FEED_TITLE_RE.match(collapse_ws(title or ""))
    if m is None:
        return []
    return [c for c in re.split(r"[\s,+]+", m.group("cats")) if c]


def _in_feed(category: str, feed_cats: list[str]) -> bool:
    if not feed_cats:
        return True  # unknown feed: cannot tell a cross-list from a new paper
    return any(category == f or category.startswith(f + ".") for f in feed_cats)


def _rdf_item(item: ET.Element) -> tuple[PaperRecord, str, str | None] | None:
    """One RDF item, plus its primary category and title flag for the announce type."""
    raw_title = child_text(item, RSS1 + "title") or ""
    link = child_text(item, RSS1 + "link") or item.get(RDF + "about") or ""
    description = child_text(item, RSS1 + "description") or ""
    creator = child_text(item, DC + "creator") or ""
    title_text = collapse_ws(raw_title)
    m = _RDF_SUFFIX_RE.search(title_text)
    primary = flag = None
    ident = parse_arxiv_id(link)
    if m is not None:
        title_text = title_text[: m.start()]
        primary = m.group("cat").strip() or None
        flag = m.group("flag")
        suffix_ident = parse_arxiv_id(m.group("id"))
        if suffix_ident is not None and (ident is None or ident[0] == suffix_ident[0]):
            ident = suffix_ident
    if ident is None:
        return None
    record = _record(
        ident,
        title=tex_to_unicode(title_text),
        abstract=tex_to_unicode(strip_html(description)),
        authors=split_authors(strip_html(creator)),
        categories=[primary] if primary else [],
        atype=None,
        announced=None,
    )
    return record, primary or "", flag


def _finish_rdf(
    root: ET.Element, pending: list[tuple[PaperRecord, str, str | None]], skipped: int
) -> ParsedFeed:
    channel = root.find(RSS1 + "channel")
    title = child_text(channel, RSS1 + "title") if channel is not None else None
    dc_date = child_text(channel, DC + "date") if channel is not None else None
    feed_date = to_date(parse_iso_datetime(dc_date))
    feed_cats = _feed_categories(title)
    papers: list[PaperRecord] = []
    for record, primary, flag in pending:
        in_feed = _in_feed(primary, feed_cats) if primary else True
        if flag == "CROSS LISTED":
            record.announce_type = AnnounceType.CROSS
        elif flag == "UPDATED":
            record.announce_type = AnnounceType.REPLACE if in_feed else AnnounceType.REPLACE_CROSS
        else:
            record.announce_type = AnnounceType.NEW if in_feed else AnnounceType.CROSS
        if not in_feed:
            # A cross-list is in the feed's category too; say so when that is a
            # real category (cs.LG, hep-th) rather than a whole archive (cs).
            extra = [c for c in feed_cats if "." in c or c in _STANDALONE]
            record.categories = _dedup(record.categories + extra)
        record.announced = feed_date
        papers.append(record)
    return ParsedFeed(
        kind=FeedKind.ARXIV_RSS,
        papers=papers,
        title=collapse_ws(title or "") or None,
        feed_date=feed_date,
        skipped_items=skipped,
    )


# ------------------------------------------------------------------------ entry


def parse_arxiv_listing(body: bytes) -> ParsedFeed:
    """Parse an arXiv daily listing in any of its three formats (told apart by the root)."""
    rss_items: list[tuple[PaperRecord, bool]] = []
    rdf_items: list[tuple[PaperRecord, str, str | None]] = []
    atom_items: list[PaperRecord] = []
    skipped = {"item": 0, RSS1 + "item": 0, ATOM + "entry": 0}
    root: ET.Element | None = None
    for elem in iter_xml(body):
        tag = elem.tag
        if tag == "item":
            rss = _rss2_item(elem)
            if rss is None:
                skipped[tag] += 1
            else:
                rss_items.append(rss)
            elem.clear()
        elif tag == RSS1 + "item":
            rdf = _rdf_item(elem)
            if rdf is None:
                skipped[tag] += 1
            else:
                rdf_items.append(rdf)
            elem.clear()
        elif tag == ATOM + "entry":
            atom = _atom_listing_entry(elem)
            if atom is None:
                skipped[tag] += 1
            else:
                atom_items.append(atom)
            elem.clear()
        root = elem
    if root is None:  # pragma: no cover - the XML parser rejects a rootless body
        raise fail("XML without a root element", body)
    if root.tag == "rss":
        return _finish_rss2(root, rss_items, skipped["item"], body)
    if root.tag == RDF + "RDF":
        return _finish_rdf(root, rdf_items, skipped[RSS1 + "item"])
    if root.tag == ATOM + "feed":
        return _finish_atom_listing(root, atom_items, skipped[ATOM + "entry"])
    raise not_a_feed(root, "an arXiv listing (<rss>, <rdf:RDF> or Atom <feed>)", body)
