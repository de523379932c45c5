"""Chunked ElementTree parsing for the arXiv formats.

The parsers run in a worker thread (`asyncio.to_thread`) next to the event loop that
serves Discord's gateway. `ET.fromstring` on the 2.2 MB listing would hold the GIL for
one ~25 ms C call; feeding `XMLPullParser` 64 KiB at a time gives the interpreter a
switch point about every millisecond. Items are handled as soon as they close and are
then cleared, so memory stays flat too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from bot.models import FeedFormatError
from bot.sources.common import fail

__all__ = [
    "ARXIV",
    "ATOM",
    "CHUNK_SIZE",
    "DC",
    "OPENSEARCH",
    "RDF",
    "RSS1",
    "child_text",
    "iter_xml",
    "not_a_feed",
    "refuse_entities",
]

CHUNK_SIZE = 64 * 1024

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


def _prolog(body: bytes) -> bytes:
    """The document's start as UTF-8 bytes, whatever its encoding (UTF-16 with a BOM too)."""
    head = body[:64 * 1024]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="replace").encode("utf-8")
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def refuse_entities(body: bytes) -> None:
    """Refuse a document whose DTD declares entities (billion laughs, external entities).

    No feed needs them. ElementTree does not fetch external entities and expat >= 2.4
    caps expansion, and feedparser leaves them unexpanded, but a feed that declares
    entities has no business here: refused outright, for every format.
    """
    head = _prolog(body)
    doctype = head.find(b"<!DOCTYPE")
    if doctype != -1 and head.find(b"<!ENTITY", doctype) != -1:
        raise fail("XML declares entities (refused)", body)


def _guard(body: bytes) -> None:
    """Refuse bodies that are not XML at all, or that declare entities."""
    if _prolog(body)[:1] != b"<":
        raise fail("not XML", body)
    refuse_entities(body)


def iter_xml(body: bytes) -> Iterator[ET.Element]:
    """Yield every element of the document as it closes; the root comes last.

    Only "end" events are requested (half the Python-level work of start+end). Raises
    FeedFormatError for anything that is not well-formed XML, including a truncated
    document, which is only detected once the whole body has been fed.
    """
    _guard(body)
    parser = ET.XMLPullParser(events=("end",))
    try:
        for offset in range(0, len(body), CHUNK_SIZE):
            parser.feed(body[offset : offset + CHUNK_SIZE])
            for _, elem in parser.read_events():
                yield elem
        parser.close()
    except ET.ParseError as exc:
        raise fail(f"malformed XML ({exc})", body) from None
    for _, elem in parser.read_events():
        yield elem


def child_text(elem: ET.Element, tag: str) -> str | None:
    """Text of the first child with this tag, or None."""
    child = elem.find(tag)
    return child.text if child is not None else None


def not_a_feed(root: ET.Element, expected: str, body: bytes) -> FeedFormatError:
    """Error for well-formed XML with the wrong root (an XHTML page, another format)."""
    return fail(f"expected {expected}, got <{root.tag}>", body)
