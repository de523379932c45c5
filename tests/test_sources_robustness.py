"""Hostile and broken input: only ParsedFeed or FeedFormatError may come out.

Seeded random fuzzing (no extra dependency), truncations and mutations of every real
fixture, XML entity tricks, plus the thread-safety and chunking the bot relies on when
it calls the parser through asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bot.models import FeedFormatError, FeedKind, ParsedFeed
from bot.sources import parse_feed, xmlstream
from bot.sources.common import INTERNAL_ERROR_PREFIX

REAL = Path(__file__).parent / "fixtures" / "real"
FIXTURES = sorted(p for p in REAL.iterdir() if p.suffix in (".xml", ".json", ".html", ".txt"))
KINDS: list[FeedKind | None] = [None, *FeedKind]
BIG = "arxiv_rss_cs.LG_2026-05-12_1101items.xml"


def outcome(body: bytes, kind: FeedKind | None) -> ParsedFeed | FeedFormatError:
    """Parse, and fail the test on any exception other than a deliberate FeedFormatError."""
    try:
        return parse_feed(body, kind)
    except FeedFormatError as exc:
        error = exc
    message = str(error)
    assert message
    assert not message.startswith(INTERNAL_ERROR_PREFIX), message
    return error


def kinds_for(name: str, size: int) -> list[FeedKind | None]:
    # feedparser needs ~1 s for the big listing; its path is fuzzed on the smaller files.
    return [None, FeedKind.ARXIV_RSS, FeedKind.ARXIV_API, FeedKind.HF_DAILY] if size > 500_000 else KINDS


def test_random_bytes() -> None:
    rng = random.Random(20260512)
    alphabets = [
        bytes(range(256)),
        b"<>/?!=\"' abcxyz:[]{}&;#\n",
        b'[]{}:,"0123456789 truefalsenul\\',
    ]
    for _ in range(600):
        alphabet = rng.choice(alphabets)
        body = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        for kind in KINDS:
            outcome(body, kind)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_truncations_of_real_fixtures(path: Path) -> None:
    body = path.read_bytes()
    cuts = sorted({*range(min(len(body), 64)), *range(0, len(body), max(1, len(body) // 12))})
    for cut in cuts:
        for kind in kinds_for(path.name, len(body)):
            outcome(body[:cut], kind)


@pytest.mark.parametrize(
    "name",
    [
        BIG,
        "arxiv_rss1_rdf_cs.LG_2024-01-29_196items.xml",
        "arxiv_api_OLDformat_electron-AND-proton_2025-08-20.xml",
        "hf_daily_papers_2025-09-30_indent2_50items.json",
    ],
)
def test_truncated_arxiv_and_hf_bodies_are_errors_not_partial_feeds(real_fixture, name) -> None:
    body = real_fixture(name)
    for fraction in (0.1, 0.5, 0.9, 0.999):
        with pytest.raises(FeedFormatError):
            parse_feed(body[: int(len(body) * fraction)])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_mutations_of_real_fixtures(path: Path) -> None:
    rng = random.Random(path.name)
    body = path.read_bytes()
    if len(body) > 500_000:
        body = body[:200_000] + body[-2_000:]  # keep the mutated big listing cheap
    junk = [b"<", b">", b"&", b"&amp;", b"]]>", b"\x00", b"\xff", b'"', b"{", b"}", b"\\", b"<!--"]
    for _ in range(10):
        data = bytearray(body)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data) + 1)
            op = rng.random()
            if op < 0.4:
                data[pos:pos] = rng.choice(junk)
            elif op < 0.7:
                del data[pos : pos + rng.randint(1, 200)]
            else:
                data[pos : pos + 1] = bytes([rng.randrange(256)])
        for kind in kinds_for(path.name, len(data)):
            outcome(bytes(data), kind)


@pytest.mark.parametrize(
    "body",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><rss><channel><title>&lol2;'
        b"</title></channel></rss>",
        # external entity
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<rss><channel><title>&xxe;</title></channel></rss>",
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "y">]><feed xmlns="http://www.w3.org/2005/Atom"/>',
    ],
)
@pytest.mark.parametrize("kind", [FeedKind.ARXIV_RSS, FeedKind.ARXIV_API])
def test_entity_declarations_refused_on_arxiv_paths(body: bytes, kind: FeedKind) -> None:
    with pytest.raises(FeedFormatError, match="entities"):
        parse_feed(body, kind)


@pytest.mark.parametrize(
    "body",
    [
        b"<rss><channel><item/><item><title>t</title></item></channel></rss>",
        b"<rss/>",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry/><entry><id/></entry></feed>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>',
        b"<a>" * 5000 + b"</a>" * 5000,
        b"<html><body>x</body></html>",
        b"<rss><channel><item><guid>oai:arXiv.org:2405.12345v1</guid><pubDate>Mon, 99 Foo 2024"
        b"</pubDate><category/></item></channel></rss>",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2405.12345v1'
        b'</id><title>t</title><published>not a date</published><link href="http://[x/abs/1"/>'
        b"</entry></feed>",
    ],
)
def test_odd_but_well_formed_xml(body: bytes) -> None:
    for kind in KINDS:
        outcome(body, kind)


def test_items_without_an_id_are_counted_as_skipped() -> None:
    feed = parse_feed(
        b"<rss><channel><title>cs.LG updates on arXiv.org</title><item><title>no id</title>"
        b"</item><item><guid>oai:arXiv.org:2405.12345v1</guid><title>ok</title></item>"
        b"</channel></rss>",
        FeedKind.ARXIV_RSS,
    )
    assert [p.key for p in feed.papers] == ["2405.12345"]
    assert feed.skipped_items == 1


def test_bad_arguments_are_caller_bugs() -> None:
    with pytest.raises(TypeError):
        parse_feed(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nope"):
        parse_feed(b"[]", "nope")  # type: ignore[arg-type]


def test_xml_is_fed_in_small_chunks(real_fixture, monkeypatch) -> None:
    """The big listing must reach expat in <= 64 KiB pieces, so a worker thread holds the
    GIL for about a millisecond at a time instead of one long C call."""
    sizes: list[int] = []

    class Recording(ET.XMLPullParser):
        def feed(self, data: bytes) -> None:
            sizes.append(len(data))
            super().feed(data)

    monkeypatch.setattr(xmlstream.ET, "XMLPullParser", Recording)
    body = real_fixture(BIG)
    assert len(parse_feed(body).papers) == 1101
    assert max(sizes) <= 64 * 1024
    assert sum(sizes) == len(body)
    assert len(sizes) >= len(body) // (64 * 1024)


async def test_concurrent_parses_in_threads_agree(real_fixture) -> None:
    bodies = [
        real_fixture(BIG),
        real_fixture("arxiv_api_NEWformat_cs.AI_max20_2026-01-04.xml"),
        real_fixture("hf_daily_papers_2025-09-30_indent2_50items.json"),
        real_fixture("arxiv_rss1_rdf_cs.LG_2024-01-29_196items.xml"),
    ]
    expected = [parse_feed(b) for b in bodies]
    results = await asyncio.gather(*(asyncio.to_thread(parse_feed, b) for b in bodies * 3))
    assert results == expected * 3
