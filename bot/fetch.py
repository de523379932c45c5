"""HTTP for feeds: one aiohttp session, conditional GET, caching headers, size caps,
and arXiv's access rule (one connection at a time, 3 s between requests) for the
whole process.

Redirects are followed by hand so that every hop passes the same checks: the
politeness limiter for arXiv hosts and, for feeds added from Discord, the
refusal of private and loopback addresses (bot/netguard.py: resolved once, the
checked address is the one connected to).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDict

from bot import __version__
from bot.config import Settings
from bot.netguard import AddressPolicy, AddressRefused, guarded_connector, literal_address, policy_from
from bot.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_FRESHNESS = timedelta(hours=24)  # never trust a cache header for longer than a day
MAX_RETRY_AFTER = 24 * 3600.0
_TAG = re.compile(r"<[^>]+>")


class FetchError(Exception):
    """A request that did not give us a feed body. `reason` is meant for people."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class FetchResponse:
    url: str  # after redirects
    status: int  # 200 or 304
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    fresh_until: datetime | None  # from Cache-Control max-age / Expires
    elapsed: float

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def user_agent(contact: str) -> str:
    contact_part = f"; {contact}" if contact else ""
    return f"paperbot/{__version__} (self-hosted Discord paper digest bot{contact_part})"


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == p or host.endswith("." + p) for p in patterns)


class PoliteLimiter:
    """At most one request at a time to a group of hosts, each starting at least `interval`
    after the previous one ended.

    Counting from the end (not the start) keeps the gap the server sees at or above
    the interval even when a request was slow to leave or to answer. One instance
    serves the whole process (feeds, backfill and look-ups alike), which is what
    arXiv's terms ask of a deployment.
    """

    def __init__(
        self, hosts: Iterable[str], interval: float, *, monotonic: Callable[[], float] = time.monotonic,
        gate: Callable[[float], AbstractAsyncContextManager[None]] | None = None,
    ):
        """`gate`: the same pacing across processes (several bot processes on one PostgreSQL
        database, or a `paperbot backfill` beside them): entered around each request, with
        the gap to hold after it."""
        self.hosts = tuple(h.lower() for h in hosts)
        self.interval = interval
        self._monotonic = monotonic
        self._gate = gate
        self._lock = asyncio.Lock()
        self._last_end: float | None = None

    def applies_to(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return host_matches(host, self.hosts)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._lock:
            if self._last_end is not None:
                wait = self._last_end + self.interval - self._monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                if self._gate is None:
                    yield
                else:
                    async with self._gate(self.interval):
                        yield
            finally:
                self._last_end = self._monotonic()


def _parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER))


def freshness(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When a response stops being fresh, from Cache-Control (or Expires); None: revalidate."""
    cache_control = str(headers.get("Cache-Control", "")).lower()
    directives = {}
    for part in cache_control.split(","):
        name, _, arg = part.strip().partition("=")
        directives[name] = arg.strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return None
    lifetime: float | None = None
    if directives.get("max-age", "").isdigit():
        lifetime = float(directives["max-age"])
        age = str(headers.get("Age", "")).strip()
        if age.isdigit():
            lifetime -= float(age)
    elif headers.get("Expires"):
        try:
            expires = email.utils.parsedate_to_datetime(str(headers["Expires"]))
            if expires.tzinfo is not None:
                lifetime = (expires - now).total_seconds()
        except (TypeError, ValueError):
            lifetime = None
    if lifetime is None or lifetime <= 0:
        return None
    return now + min(timedelta(seconds=lifetime), MAX_FRESHNESS)


def _snippet(body: bytes, limit: int = 160) -> str:
    text = body[:4096].decode("utf-8", "replace")
    text = " ".join(_TAG.sub(" ", text).split())
    return text[:limit] + ("…" if len(text) > limit else "")


def check_literal_host(url: str, policy: AddressPolicy) -> None:
    """A URL whose host is an IP literal never reaches the resolver: check it here."""
    host = urlsplit(url).hostname or ""
    address = literal_address(host)
    if address is not None:
        policy.check(host, address)


def _check_peer(response: aiohttp.ClientResponse, url: str, policy: AddressPolicy) -> None:
    """Belt and braces: re-check the address actually connected to."""
    connection = response.connection
    transport = connection.transport if connection else None
    peer = transport.get_extra_info("peername") if transport else None
    if peer:
        address = ipaddress.ip_address(str(peer[0]).split("%")[0])
        if not policy.allows(address):
            raise FetchError(f"refused: {urlsplit(url).hostname} connected to {address}, "
                             "a private or local address")


class Fetcher:
    """Fetches feed bodies politely. Share one per process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        limiter: PoliteLimiter | None = None,
        gate: Callable[[float], AbstractAsyncContextManager[None]] | None = None,
    ):
        self.session = session
        self.settings = settings
        self.clock = clock
        self.limiter = limiter or PoliteLimiter(
            settings.arxiv.polite_hosts, settings.arxiv.min_interval_seconds, gate=gate
        )
        self.max_bytes = settings.http.max_response_bytes
        self.policy = policy_from(settings.http.allow_private_addresses,
                                  settings.http.allowed_private_networks)
        self.timeout = aiohttp.ClientTimeout(
            total=settings.http.timeout_seconds, sock_connect=min(10.0, settings.http.timeout_seconds)
        )

    @staticmethod
    def make_session(settings: Settings) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"User-Agent": user_agent(settings.http.contact)},
            connector=aiohttp.TCPConnector(limit=8, limit_per_host=2, ttl_dns_cache=300),
        )

    def _guarded_session(self) -> aiohttp.ClientSession:
        """A session of its own for one untrusted feed: a connector that only connects to
        addresses the policy allowed (resolved once, then pinned), and a pool of its own, so
        a slow or hostile feed holds no connection another feed is waiting for."""
        return aiohttp.ClientSession(
            headers={"User-Agent": user_agent(self.settings.http.contact)},
            connector=guarded_connector(self.policy, limit=2),
        )

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        public_only: bool = False,
        accept: str = "application/rss+xml, application/atom+xml, application/xml, "
        "application/json;q=0.9, text/xml;q=0.8, */*;q=0.5",
    ) -> FetchResponse:
        """GET a feed, conditionally when validators are given. Raises FetchError."""
        started = time.monotonic()
        if public_only:
            # An untrusted feed gets one deadline for all its hops, so a slow drip or a chain of
            # slow redirects cannot hold its poll (and its server's next poll) for long.
            try:
                async with asyncio.timeout(self.settings.http.timeout_seconds * 2), \
                        self._guarded_session() as session:
                    return await self._follow(session, url, etag, last_modified, accept, started, True)
            except TimeoutError:
                raise FetchError(
                    f"timed out after {self.settings.http.timeout_seconds * 2:g} s"
                ) from None
        return await self._follow(self.session, url, etag, last_modified, accept, started, False)

    async def _follow(
        self, session: aiohttp.ClientSession, url: str, etag: str | None, last_modified: str | None,
        accept: str, started: float, public_only: bool,
    ) -> FetchResponse:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            if public_only:
                try:
                    check_literal_host(current, self.policy)
                except AddressRefused as refused:
                    raise FetchError(refused.reason) from None
            headers = {"Accept": accept}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            if self.limiter.applies_to(current):
                async with self.limiter.slot():
                    result = await self._request(session, current, headers, public_only)
            else:
                result = await self._request(session, current, headers, public_only)
            if isinstance(result, str):  # a redirect
                current = result
                continue
            status, response_headers, body, content_type = result
            now = self.clock()
            return FetchResponse(
                url=current,
                status=status,
                body=body,
                content_type=content_type,
                etag=response_headers.get("ETag") or (etag if status == 304 else None),
                last_modified=response_headers.get("Last-Modified")
                or (last_modified if status == 304 else None),
                fresh_until=freshness(response_headers, now),
                elapsed=time.monotonic() - started,
            )
        raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")

    async def _request(
        self, session: aiohttp.ClientSession, url: str, headers: dict[str, str], public_only: bool
    ) -> str | tuple[int, CIMultiDict[str], bytes, str | None]:
        try:
            async with session.get(
                url, headers=headers, allow_redirects=False, timeout=self.timeout
            ) as response:
                if public_only:
                    _check_peer(response, url, self.policy)
                status = response.status
                response_headers = CIMultiDict(response.headers)
                if status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"HTTP {status} redirect without a Location", status=status)
                    target = urljoin(url, location)
                    if urlsplit(target).scheme not in ("http", "https"):
                        raise FetchError(f"refused redirect to {target!r}", status=status)
                    return target
                if status == 304:
                    return status, response_headers, b"", None
                length = response.content_length
                if length is not None and length > self.max_bytes:
                    raise FetchError(
                        f"response too large ({length:,} bytes; the limit is {self.max_bytes:,})",
                        status=status,
                    )
                body = await self._read_capped(response)
                if status >= 400:
                    retry_after = _parse_retry_after(response.headers.get("Retry-After"), self.clock())
                    detail = _snippet(body)
                    raise FetchError(
                        f"HTTP {status} {response.reason or ''}".rstrip()
                        + (f": {detail}" if detail else ""),
                        status=status,
                        retry_after=retry_after,
                    )
                if status != 200:
                    raise FetchError(f"unexpected HTTP {status}", status=status)
                return status, response_headers, body, response.content_type
        except FetchError:
            raise
        except AddressRefused as refused:
            raise FetchError(refused.reason) from None
        except TimeoutError:
            raise FetchError(
                f"timed out after {self.settings.http.timeout_seconds:g} s"
            ) from None
        except aiohttp.ClientError as error:
            raise FetchError(f"cannot reach {urlsplit(url).netloc}: {error}") from None

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(
                    f"response too large (over {self.max_bytes:,} bytes)", status=response.status
                )
            chunks.append(chunk)
        return b"".join(chunks)
