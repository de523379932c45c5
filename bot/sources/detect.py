"""Tell which parser a body needs by sniffing its first bytes.

The body decides; the URL and Content-Type are only hints for a feed that looks
generic (arXiv's own formats carry unmistakable markers). Anything that is plainly
not a feed (empty, HTML, `Rate exceeded.`, a JSON object) raises FeedFormatError here
already, so callers get the same error type whether or not they pass `kind`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.models import FeedKind
from bot.sources.common import fail
from bot.sources.jsonfeed import is_json_feed
from bot.sources.xmlstream import refuse_entities

__all__ = ["detect_kind"]

_SNIFF_BYTES = 16 * 1024
_WS = b"\xef\xbb\xbf \t\r\n"
_COMMENT_RE = re.compile(rb"<!--.*?(?:-->|\Z)", re.S)
_ROOT_RE = re.compile(rb"<([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)")

# Channel-level markers of an arXiv daily listing (items of other feeds may link to
# arxiv.org, so a bare "arxiv.org" is not enough).
_LISTING_RE = re.compile(
    rb"rss\.arxiv\.org/|<(?:\w+:)?announce_type>|updates on arXiv\.org\s*</title>"
    rb"|<channel rdf:about=\"https?://(?:export\.)?arxiv\.org/",
    re.I,
)
_API_RE = re.compile(rb"opensearch|<title[^>]*>\s*arXiv Query:|arxiv\.org/api/", re.I)


def _head(body: bytes) -> bytes:
    head = body[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 XML: sniff a UTF-8 copy
        head = head.decode("utf-16", errors="replace").encode("utf-8")
    return head.lstrip(_WS)


def _url_hint(url: str | None) -> tuple[str, str]:
    if not url:
        return "", ""
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.path
    except ValueError:
        return "", ""


def detect_kind(body: bytes, content_type: str | None = None, url: str | None = None) -> FeedKind:
    """The FeedKind of a fetched body; FeedFormatError when it is not a feed at all."""
    head = _head(body)
    if not head:
        raise fail("empty body", body)
    host, path = _url_hint(url)
    first = head[:1]
    if first == b"[":
        return FeedKind.HF_DAILY
    if first == b"{":
        if is_json_feed(head):
            return FeedKind.RSS  # a JSON Feed: the generic parser reads it
        raise fail("JSON object, not the Daily Papers list nor a JSON Feed", body)
    if first != b"<":
        hint = f" (Content-Type {content_type})" if content_type else ""
        raise fail(f"neither XML nor JSON{hint}", body)
    refuse_entities(body)  # before sniffing: a long DTD would hide the root element
    sniff = _COMMENT_RE.sub(b"", head)
    m = _ROOT_RE.search(sniff)
    if m is None:
        raise fail("XML without a root element", body)
    root = m.group(1).decode("ascii", errors="replace")
    local = root.rsplit(":", 1)[-1].lower()
    if local == "html":
        raise fail("HTML page, not a feed", body)
    arxiv_host = host == "arxiv.org" or host.endswith(".arxiv.org")
    if local == "feed":
        if _API_RE.search(sniff):
            return FeedKind.ARXIV_API
        if _LISTING_RE.search(sniff):
            return FeedKind.ARXIV_RSS
        if arxiv_host and path.startswith("/api/"):
            return FeedKind.ARXIV_API
        if arxiv_host and path.startswith(("/atom/", "/rss/")):
            return FeedKind.ARXIV_RSS
        return FeedKind.RSS
    if local in ("rss", "rdf"):
        if _LISTING_RE.search(sniff) or (arxiv_host and path.startswith(("/rss/", "/atom/"))):
            return FeedKind.ARXIV_RSS
        return FeedKind.RSS
    return FeedKind.RSS  # some other XML root: let feedparser judge it
