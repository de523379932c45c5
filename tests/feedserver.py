"""A real HTTP server on loopback that serves feeds the way their hosts do.

Routes are set per test: a body (or a fixture file) with headers, or a
behaviour: 304 on a matching validator, an error status with Retry-After, a
slow answer, a redirect. Every request is recorded with its arrival time so
tests can measure spacing and concurrency.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

REAL = Path(__file__).parent / "fixtures" / "real"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # send a strong ETag and honour If-None-Match
    delay: float = 0.0  # seconds before answering
    redirect_to: str | None = None
    # statuses for the next calls, consumed first: e.g. [503, 429]
    failures: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    # computes the answer from the request (query string...): returns (status, body, content type)
    handler: Callable[[web.Request], tuple[int, bytes, str]] | None = None


@dataclass
class Seen:
    path: str
    method: str
    headers: dict[str, str]
    started: float  # time.monotonic() at arrival
    finished: float = 0.0
    status: int = 0


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.active = 0
        self.max_active = 0
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.on_request: Callable[[Seen], None] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body: bytes | str | None = None, *, fixture: str | None = None,
              **options: object) -> str:
        if fixture is not None:
            body = (REAL / fixture).read_bytes()
        if isinstance(body, str):
            body = body.encode()
        self.routes[path] = Route(body=body or b"", **options)  # type: ignore[arg-type]
        return self.url(path)

    def fail_next(self, path: str, status: int, *, headers: dict[str, str] | None = None,
                  body: bytes = b"", times: int = 1) -> None:
        self.routes[path].failures.extend([(status, headers or {}, body)] * times)

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.path_qs if request.query_string else request.path, request.method,
                    dict(request.headers), time.monotonic())
        self.requests.append(seen)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            response = await self._respond(request, seen)
            seen.status = response.status
            return response
        finally:
            self.active -= 1
            seen.finished = time.monotonic()

    async def _respond(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.failures:
            status, headers, body = route.failures.pop(0)
            return web.Response(status=status, headers=headers, body=body)
        if route.redirect_to:
            raise web.HTTPFound(route.redirect_to)
        if route.handler is not None:
            status, body, content_type = route.handler(request)
            return web.Response(status=status, body=body, content_type=content_type)
        headers = dict(route.headers)
        if route.etag:
            tag = '"' + hashlib.sha256(route.body).hexdigest() + '"'
            headers["ETag"] = tag
            if request.headers.get("If-None-Match") == tag:
                return web.Response(status=304, headers=headers)
        return web.Response(
            status=route.status, body=route.body, headers=headers, content_type=route.content_type
        )
