"""A corpus of hostile and malformed feeds, served over loopback HTTP next to a good feed.

For every one: no crash, the good feed's papers all stored, and a clear status for the
hostile feed (what happened, in words a person can act on). The bodies are made from the
real captures (cut, re-encoded, poisoned) or written in their exact shapes.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from aiohttp import web

from bot.config import Settings
from bot.fetch import Fetcher
from bot.ingest import FeedOutcome, Ingestor
from bot.search import parse_query
from bot.sources import parse_feed
from bot.sources.common import INTERNAL_ERROR_PREFIX
from bot.store import Store
from tests.feedserver import REAL, FeedServer
from tests.listings import Item, arxiv_rss, hf_body, hf_items

CL = (REAL / "arxiv_rss_cs.CL_2026-08-20_141items.xml").read_bytes()
HF = hf_body(hf_items("hf_daily_papers_2026-08-21_indent2.json"))
GOOD = arxiv_rss("cs.CV", date(2026, 8, 20), [
    Item("2608.50001", "A good paper", categories=["cs.CV"]),
    Item("2608.50002", "Another good paper", categories=["cs.CV"]),
    Item("2608.50003", "A third good paper", categories=["cs.CV"]),
])
GOOD_KEYS = ["2608.50001", "2608.50002", "2608.50003"]
TIMEOUT = 1.5
MAX_BYTES = 1_000_000

LAUGHS = "".join(
    f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
)
LAUGHS_DTD = f'<!DOCTYPE rss [<!ENTITY l0 "lol">{LAUGHS}]>'


def listing_with(items_xml: bytes, *, prolog: bytes = b"") -> bytes:
    """An arXiv listing (the real channel header) holding these raw items."""
    head, _, _ = GOOD.partition(b"    <item>")
    if prolog:
        head = head.replace(b"?>\n", b"?>\n" + prolog + b"\n", 1)
    return head + items_xml + b"  </channel>\n</rss>\n"


def one_item(arxiv_id: str, title: str, *, guid: str | None = None) -> bytes:
    body = arxiv_rss("cs.CV", date(2026, 8, 20), [Item(arxiv_id, title, categories=["cs.CV"])])
    item = b"    <item>" + body.split(b"    <item>", 1)[1].split(b"  </channel>")[0]
    if guid is not None:
        item = item.replace(f"oai:arXiv.org:{arxiv_id}v1".encode(), guid.encode())
        item = item.replace(f"https://arxiv.org/abs/{arxiv_id}".encode(), b"https://arxiv.org/abs/x")
        item = item.replace(f"arXiv:{arxiv_id}v1".encode(), b"arXiv:x")
    return item


def generic_rss(items: str, *, encoding: str = "utf-8", prolog: str = "") -> bytes:
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n{prolog}'
            '<rss version="2.0"><channel><title>A journal</title><link>https://j.example.org/</link>'
            f"<description>Articles</description>{items}</channel></rss>\n")
    return text.encode(encoding)


def rss_item(guid: str, title: str, link: str = "") -> str:
    return (f"<item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid>"
            f"<link>{link or 'https://j.example.org/' + guid}</link><description>x</description></item>")


ATOM_BLOG = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Lab blog</title><id>urn:lab</id>
<updated>2026-08-20T10:00:00Z</updated><author><name>Jane Roe</name></author>
<entry><title>Post</title><id>urn:lab:1</id><link href="https://lab.example.org/1"/>
<updated>2026-08-20T10:00:00Z</updated><summary>Hello.</summary></entry></feed>
"""


# ------------------------------------------------------------------ servers


class RawServer:
    """Answers the feed server cannot give: a drip, a body cut short, a dropped connection."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> RawServer:
        app = web.Application()
        app.router.add_get("/drip", self._drip)
        app.router.add_get("/cut-short", self._cut_short)
        app.router.add_get("/drop", self._drop)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/gzip-lie", self._gzip_lie)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        for n in range(0, len(CL), 64):  # 64 bytes every 0.2 s: a 300 KB listing in 15 minutes
            await response.write(CL[n:n + 64])
            await asyncio.sleep(0.2)
        return response

    async def _cut_short(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = len(CL)
        await response.prepare(request)
        await response.write(CL[: len(CL) // 3])
        assert request.transport is not None
        request.transport.close()
        return response

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)  # chunked, no Content-Length
        chunk = b"<!-- padding -->" * 4096
        try:
            for _ in range(1000):
                await response.write(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    async def _gzip_lie(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=GOOD, headers={"Content-Type": "application/rss+xml",
                                                "Content-Encoding": "gzip"})


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    server = await RawServer().start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Servers:
    feeds: FeedServer
    raw: RawServer


# ------------------------------------------------------------------ the corpus


Check = Callable[[FeedOutcome, Store, datetime], Awaitable[None]]


@dataclass
class Case:
    id: str
    serve: Callable[[Servers, str], str]  # (servers, path) -> the feed's URL
    status: str
    error: str | None = None  # words the status must hold
    check: Check | None = None
    options: dict[str, Any] = field(default_factory=dict)


def body(data: bytes, *, status: int = 200, content_type: str = "application/rss+xml",
         headers: dict[str, str] | None = None, etag: bool = True) -> Callable[[Servers, str], str]:
    def serve(s: Servers, path: str) -> str:
        return s.feeds.serve(path, data, status=status, content_type=content_type,
                             headers=headers or {}, etag=etag)
    return serve


def raw(path: str) -> Callable[[Servers, str], str]:
    return lambda s, _path: s.raw.url(path)


def redirect_loop(s: Servers, path: str) -> str:
    s.feeds.serve(path + "-b", b"", redirect_to=s.feeds.url(path))
    return s.feeds.serve(path, b"", redirect_to=s.feeds.url(path + "-b"))


def redirect_self(s: Servers, path: str) -> str:
    return s.feeds.serve(path, b"", redirect_to=s.feeds.url(path))


def redirect_chain(s: Servers, path: str) -> str:
    s.feeds.serve(path + "-3", HF, content_type="application/json")
    s.feeds.serve(path + "-2", b"", redirect_to=s.feeds.url(path + "-3"))
    return s.feeds.serve(path, b"", redirect_to=s.feeds.url(path + "-2"))


def redirect_to(target: str) -> Callable[[Servers, str], str]:
    def serve(s: Servers, path: str) -> str:
        return s.feeds.serve(path, b"", status=302, headers={"Location": target}, etag=False)
    return serve


def retry_after(minimum: float, maximum: float) -> Check:
    async def check(outcome: FeedOutcome, store: Store, now: datetime) -> None:
        assert outcome.next_attempt_at is not None
        wait = (outcome.next_attempt_at - now).total_seconds()
        assert minimum <= wait <= maximum, wait
    return check


def stored(*keys: str, notes: str | None = None, skipped: int | None = None) -> Check:
    async def check(outcome: FeedOutcome, store: Store, now: datetime) -> None:
        found = await store.get_papers(list(keys))
        assert sorted(found) == sorted(keys)
        if notes is not None:
            assert any(notes in n for n in outcome.notes), outcome.notes
        if skipped is not None:
            assert outcome.skipped == skipped
    return check


async def count_sightings(store: Store, key: str) -> int:
    async with aiosqlite.connect(store.path) as db, db.execute(
        "SELECT COUNT(*) FROM sightings s JOIN papers p ON p.id = s.paper_id WHERE p.key = ?", (key,)
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def duplicates_once(outcome: FeedOutcome, store: Store, now: datetime) -> None:
    assert await count_sightings(store, "2608.60001") == 1
    paper = await store.get_paper("2608.60001")
    assert paper is not None and paper.title == "Twice listed"


async def dated_today(outcome: FeedOutcome, store: Store, now: datetime) -> None:
    assert outcome.feed_date is None
    assert any("far future" in n for n in outcome.notes)
    paper = await store.get_paper("2608.18082")
    assert paper is not None and paper.announced is not None and paper.announced <= now.date()
    day, _ = await store.latest_listing()
    assert day is not None and day <= now.date() + timedelta(days=2)


async def no_terminal_escapes(outcome: FeedOutcome, store: Store, now: datetime) -> None:
    paper = await store.get_paper("2608.70001")
    assert paper is not None and paper.title == "[31mRed alert[0m title"
    assert "\x1b" not in paper.title


async def latin1_read(outcome: FeedOutcome, store: Store, now: datetime) -> None:
    hits = await store.search(parse_query("Café"))
    assert hits and hits[0].paper.title == "Café society"


def hf_with_junk() -> bytes:
    good = hf_items("hf_daily_papers_2026-08-21_indent2.json")[:2]
    return json.dumps([1, None, "paper", {"paper": 5}, {"paper": {"id": "2608.1"}}, *good]).encode()


def hf_with_escape() -> bytes:
    item = hf_items("hf_daily_papers_2026-08-21_indent2.json")[0]
    item["paper"]["id"] = "2608.70001"
    item["paper"]["title"] = "\x1b[31mRed alert\x1b[0m title"
    item["title"] = item["paper"]["title"]
    return json.dumps([item]).encode()


def future_listing() -> bytes:
    return CL.replace(b"20 Aug 2026", b"20 Aug 2099")


def year_9999() -> bytes:
    items = hf_items("hf_daily_papers_2026-08-21_indent2.json")[:3]
    for item in items:
        item["paper"]["submittedOnDailyAt"] = "9999-12-31T23:59:59.000Z"
        item["paper"]["publishedAt"] = "+10000-01-01T00:00:00Z"
        item["publishedAt"] = "9999-12-31T23:59:59.000Z"
    return json.dumps(items).encode()


WINDOWS_1252 = CL.replace(b"Although context windows", b"\x93Although\x94 context windows", 1)
HF_LATIN1 = HF.replace(b'"summary": "', b'"summary": "Caf\xe9 ', 1)
DATE_IN_2H = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)

CORPUS: list[Case] = [
    # broken documents
    Case("truncated-xml", body(CL[: len(CL) // 2]), "failed", "malformed XML"),
    Case("truncated-json", body(HF[: len(HF) // 2], content_type="application/json"), "failed",
         "not JSON"),
    Case("nul-bytes-in-xml", body(CL.replace(b"<item>", b"<it\x00em>", 3)), "failed", "malformed XML"),
    Case("deeply-nested-json", body(b"[" * 200_000 + b"]" * 200_000, content_type="application/json"),
         "failed", "not JSON"),
    # entity expansion and external entities
    Case("billion-laughs-arxiv", body(listing_with(one_item("2608.60002", "&l9;"),
                                                   prolog=LAUGHS_DTD.encode())),
         "failed", "declares entities"),
    Case("billion-laughs-generic", body(generic_rss(rss_item("g1", "&l9;"), prolog=LAUGHS_DTD)),
         "failed", "declares entities"),
    Case("external-entity", body(generic_rss(
        rss_item("g1", "&x;"), prolog='<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>')),
        "failed", "declares entities"),
    Case("quadratic-blowup", body(generic_rss(
        rss_item("g1", "&big;" * 2000), prolog=f'<!DOCTYPE rss [<!ENTITY big "{"x" * 50_000}">]>')),
        "failed", "declares entities"),
    # error pages and rate limits
    Case("html-200", body(b"<!DOCTYPE html><html><head><title>Oops</title></head>"
                          b"<body>Service unavailable</body></html>", content_type="text/html"),
         "failed", "HTML page"),
    Case("arxiv-503-page-served-200", body((REAL / "arxiv_api_error_503_2026-01-08.html").read_bytes(),
                                           content_type="text/html"), "failed", "HTML page"),
    Case("rate-exceeded-200", body(b"Rate exceeded.", content_type="text/plain"), "failed",
         "neither XML nor JSON"),
    Case("rate-exceeded-503-retry-after", body(b"Rate exceeded.", status=503, content_type="text/plain",
                                               headers={"Retry-After": "3600"}),
         "failed", "HTTP 503", retry_after(3600, 3700)),
    Case("429-retry-after-seconds", body(b"Too Many Requests", status=429, content_type="text/plain",
                                         headers={"Retry-After": "7200"}),
         "failed", "HTTP 429", retry_after(7200, 7300)),
    Case("429-retry-after-date", body(b"", status=429, headers={"Retry-After": DATE_IN_2H}),
         "failed", "HTTP 429", retry_after(6000, 7300)),
    Case("503-retry-after-absurd", body(b"", status=503, headers={"Retry-After": "999999999"}),
         "failed", "HTTP 503", retry_after(86_000, 86_500)),
    Case("503-retry-after-garbage", body(b"", status=503, headers={"Retry-After": "soon"}),
         "failed", "HTTP 503", retry_after(290, 310)),
    Case("500-html", body(b"<html><body><h1>Internal Server Error</h1></body></html>", status=500,
                          content_type="text/html"), "failed", "HTTP 500 Internal Server Error"),
    Case("404", body(b"not here", status=404, content_type="text/plain"), "failed", "HTTP 404"),
    Case("410-gone", body(b"", status=410), "failed", "HTTP 410"),
    # redirects
    Case("redirect-loop", redirect_loop, "failed", "too many redirects"),
    Case("redirect-to-itself", redirect_self, "failed", "too many redirects"),
    Case("redirect-without-location", body(b"", status=302, etag=False), "failed",
         "redirect without a Location"),
    Case("redirect-to-a-file", redirect_to("file:///etc/passwd"), "failed", "refused redirect"),
    Case("redirect-to-ftp", redirect_to("ftp://127.0.0.1/feed.xml"), "failed", "refused redirect"),
    Case("redirect-chain-that-ends-well", redirect_chain, "new"),
    # transport faults
    Case("slow-drip", raw("/drip"), "failed", "timed out"),
    Case("body-cut-short", raw("/cut-short"), "failed", "cannot reach"),
    Case("connection-dropped", raw("/drop"), "failed", "cannot reach"),
    Case("too-large-declared", body(b"<rss>" + b" " * (MAX_BYTES + 10) + b"</rss>"), "failed",
         "response too large"),
    Case("too-large-streamed", raw("/endless"), "failed", "response too large"),
    Case("gzip-lie", raw("/gzip-lie"), "failed", "cannot reach"),
    Case("empty-body", body(b""), "failed", "empty body"),
    Case("whitespace-body", body(b" \r\n\t \n"), "failed", "empty body"),
    # encodings
    Case("utf16-listing", body(CL.decode().replace("encoding='UTF-8'", "encoding='UTF-16'")
                               .encode("utf-16")), "new", check=stored("2608.18082")),
    Case("latin1-declared", body(generic_rss(rss_item("g-cafe", "Café society"),
                                             encoding="iso-8859-1")), "new", check=latin1_read),
    Case("windows-1252-bytes-in-utf8", body(WINDOWS_1252), "new",
         check=stored("2608.18082", notes="invalid UTF-8")),
    Case("latin1-bytes-in-json", body(HF_LATIN1, content_type="application/json"), "new",
         check=stored("2608.19880", notes="invalid UTF-8")),
    Case("wrong-content-type", body(CL, content_type="text/html"), "new", check=stored("2608.18082")),
    # items
    Case("duplicate-guids-arxiv", body(listing_with(one_item("2608.60001", "Twice listed") * 2)),
         "new", check=duplicates_once),
    Case("duplicate-guids-generic", body(generic_rss(rss_item("dup", "First") + rss_item("dup", "Second")
                                                     + rss_item("other", "Other"))), "new"),
    Case("items-without-ids", body(listing_with(one_item("2608.60003", "Fine")
                                                + one_item("2608.60004", "Garbled", guid="garbled"))),
         "new", check=stored("2608.60003", skipped=1)),
    Case("generic-items-without-anything", body(generic_rss("<item></item><item><description>x"
                                                            "</description></item>"
                                                            + rss_item("k", "Kept"))),
         "new", check=stored(skipped=2)),
    Case("all-items-without-ids", body(listing_with(one_item("2608.60005", "x", guid="bad"))),
         "failed", "none of its 1 items has a usable id"),
    Case("arxiv-api-phantom-entry", body((REAL / "arxiv_api_OLDformat_id_list_with-missing-id_2025-08-24"
                                                 ".xml").read_bytes(), content_type="application/atom+xml"),
         "new", check=stored("2201.13452", skipped=3)),
    Case("json-object-not-list", body(b'{"error": "Invalid date"}', content_type="application/json"),
         "failed", "JSON object"),
    Case("json-list-with-junk", body(hf_with_junk(), content_type="application/json"), "new",
         check=stored("2608.19880", skipped=5)),
    Case("terminal-escapes-in-title", body(hf_with_escape(), content_type="application/json"), "new",
         check=no_terminal_escapes),
    Case("huge-title", body(listing_with(one_item("2608.60006", "word " * 100_000))), "new",
         check=stored("2608.60006")),
    # dates
    Case("dates-in-the-far-future", body(future_listing()), "new", check=dated_today),
    Case("year-9999-and-10000", body(year_9999(), content_type="application/json"), "new",
         check=stored("2608.19880", notes="far future")),
    Case("empty-generic-feed", body(generic_rss("")), "empty"),
]


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40
    assert len({c.id for c in CORPUS}) == len(CORPUS)


# ------------------------------------------------------------------ running it


async def build(make_settings: Callable[..., Settings], urls: list[str],
                db: Path) -> tuple[Ingestor, Store, Any]:
    settings = make_settings(feeds=[{"url": u} for u in urls],
                             database={"path": str(db)},
                             http={"timeout_seconds": TIMEOUT, "max_response_bytes": MAX_BYTES},
                             polling={"backoff_base_minutes": 5})
    store = await Store(settings.database.path).open()
    session = Fetcher.make_session(settings)
    ingestor = Ingestor(store, Fetcher(session, settings), settings)
    await ingestor.sync_feeds()
    return ingestor, store, session


async def assert_clear(outcome: FeedOutcome, case: Case, store: Store, now: datetime) -> None:
    text = json.dumps(outcome.as_dict())  # every status is reportable as is
    assert INTERNAL_ERROR_PREFIX not in text and "Traceback" not in text
    assert outcome.status == case.status, (case.id, outcome.status, outcome.error)
    if case.status == "failed":
        assert outcome.error and case.error and case.error in outcome.error, (case.id, outcome.error)
        assert outcome.feed.last_error == outcome.error  # the feed's status says it too
        assert not outcome.ok
    if case.check is not None:
        await case.check(outcome, store, now)


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
async def test_a_hostile_feed_next_to_a_good_one(case: Case, feed_server: FeedServer, raw_server: RawServer,
                                                 make_settings, tmp_path: Path) -> None:
    servers = Servers(feed_server, raw_server)
    good = feed_server.serve("/good/cs.CV", GOOD)
    hostile = case.serve(servers, f"/hostile/{case.id}")
    ingestor, store, session = await build(make_settings, [good, hostile], tmp_path / "db.sqlite")
    try:
        now = datetime.now(UTC)
        outcomes = {o.feed.url: o for o in await asyncio.wait_for(ingestor.poll_all(), 30)}
        assert outcomes[good].status == "new" and outcomes[good].new == 3
        assert sorted(await store.get_papers(GOOD_KEYS)) == GOOD_KEYS  # no good paper lost
        await assert_clear(outcomes[hostile], case, store, now)
    finally:
        await session.close()
        await store.close()


async def test_the_whole_corpus_at_once(feed_server: FeedServer, raw_server: RawServer,
                                        make_settings, tmp_path: Path) -> None:
    """Every hostile feed in one poll round, with the real 141-paper listing among them."""
    servers = Servers(feed_server, raw_server)
    good = feed_server.serve("/good/cs.CL", CL)
    urls = {case.id: case.serve(servers, f"/hostile/{case.id}") for case in CORPUS}
    ingestor, store, session = await build(make_settings, [good, *urls.values()], tmp_path / "all.db")
    try:
        outcomes = {o.feed.url: o for o in await asyncio.wait_for(ingestor.poll_all(), 60)}
        assert len(outcomes) == len(CORPUS) + 1
        assert outcomes[good].status == "new"
        listing = await store.get_papers([p.key for p in parse_feed(CL).papers])
        assert len(listing) == 141
        for case in CORPUS:
            assert outcomes[urls[case.id]].status == case.status, case.id
            if case.error:
                assert case.error in (outcomes[urls[case.id]].error or ""), case.id
    finally:
        await session.close()
        await store.close()


async def test_a_feed_that_changes_kind(feed_server: FeedServer, raw_server: RawServer,
                                        make_settings, tmp_path: Path) -> None:
    """An arXiv listing's address starts serving a blog's Atom feed, then an HTML page."""
    url = feed_server.serve("/changes", CL)
    ingestor, store, session = await build(make_settings, [url], tmp_path / "kind.db")
    try:
        first = (await ingestor.poll_all())[0]
        assert (first.status, str(first.feed.kind)) == ("new", "arxiv-rss")
        feed_server.serve("/changes", ATOM_BLOG, content_type="application/atom+xml")
        second = (await ingestor.poll_all(force=True))[0]
        assert (second.status, second.new, str(second.feed.kind)) == ("new", 1, "rss")
        feed_server.serve("/changes", b"<html><body>Moved</body></html>", content_type="text/html")
        third = (await ingestor.poll_all(force=True))[0]
        assert third.status == "failed" and "HTML page" in (third.error or "")
        assert await store.count_papers() == 142  # nothing stored before was lost
    finally:
        await session.close()
        await store.close()


async def test_redirects_into_private_space_are_refused(feed_server: FeedServer, make_settings,
                                                        tmp_path: Path) -> None:
    """Feeds added from Discord (origin admin) that lead to private or local addresses.

    The operator allows 127.0.0.1 (where the loopback feed server stands in for the public
    internet); every other private address, however written or reached, stays refused.
    """
    port = feed_server.port
    feed_server.serve("/secret", CL)
    to_loopback = feed_server.serve("/public/to-loopback", b"", status=302, etag=False,
                                    headers={"Location": f"http://127.0.0.2:{port}/secret"})
    to_metadata = feed_server.serve("/public/to-metadata", b"", status=302, etag=False,
                                    headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    to_private = feed_server.serve("/public/to-private", b"", status=302, etag=False,
                                   headers={"Location": "http://10.0.0.7/feed.xml"})
    disguised = feed_server.serve("/public/disguised", b"", status=302, etag=False,
                                  headers={"Location": f"http://[::ffff:127.0.0.2]:{port}/secret"})
    direct = f"http://127.0.0.2:{port}/secret"
    good = feed_server.serve("/public/good", GOOD)
    settings = make_settings(feeds=[], database={"path": str(tmp_path / "private.db")},
                             http={"timeout_seconds": TIMEOUT,
                                   "allowed_private_networks": ["127.0.0.1/32"]})
    store = await Store(settings.database.path).open()
    session = Fetcher.make_session(settings)
    ingestor = Ingestor(store, Fetcher(session, settings), settings)
    try:
        refused = (to_loopback, to_metadata, to_private, disguised, direct)
        for url in (*refused, good):
            await store.upsert_feed(url, kind=None, name=None, origin="admin")
        outcomes = {o.feed.url: o for o in await ingestor.poll_all()}
        for url in refused:
            assert outcomes[url].status == "failed"
            assert "refused" in (outcomes[url].error or ""), outcomes[url].error
        assert outcomes[good].status == "new" and outcomes[good].new == 3
        assert not [r for r in feed_server.requests if r.path == "/secret"]  # never fetched
    finally:
        await session.close()
        await store.close()
