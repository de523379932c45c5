"""A tiny router over raw paths, so templates match discord.py's Route paths exactly."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

MAJOR_PARAMS = ("channel_id", "guild_id", "webhook_id", "webhook_token")


@dataclass
class ApiRequest:
    """A parsed REST request as route handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request the fake received (see ``fake.requests``)."""

    method: str
    path: str
    route: str | None
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    time: float
    status: int | None = None
    #: Discord's JSON error code when the response was an error, else None.
    code: int | None = None
    injected: bool = False

    def matches(self, pattern: str) -> bool:
        return pattern_matches(pattern, self.method, self.path, self.route)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}>"


Handler = Callable[[ApiRequest], Awaitable[Any]]


@dataclass
class RouteSpec:
    method: str
    template: str
    handler: Handler
    #: "bot": needs the bot token and counts toward the global limit. "token": interaction
    #: or webhook-token routes (no Authorization header, exempt from the global limit).
    auth: str = "bot"
    #: Per-route buckets apply (False for interaction callbacks).
    limited: bool = True
    regex: re.Pattern[str] = field(init=False)
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = re.findall(r"{(\w+)}", self.template)
        pattern = re.escape(self.template)
        for name in self.names:
            pattern = pattern.replace(re.escape("{" + name + "}"), "([^/]+)")
        self.regex = re.compile("^" + pattern + "$")

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        m = self.regex.match(raw_path)
        if m is None:
            return None
        return {name: unquote(value) for name, value in zip(self.names, m.groups(), strict=True)}


def pattern_matches(pattern: str, method: str, path: str, route: str | None) -> bool:
    """``"POST /channels/{channel_id}/messages"``, ``"POST /channels/*/messages"``, ``"/users/@me"``.

    A pattern names a route template or a glob over the concrete path; the method is optional.
    """
    pattern = pattern.strip()
    want_method = None
    if " " in pattern:
        want_method, pattern = pattern.split(" ", 1)
        if want_method.upper() != method:
            return False
    if route is not None and pattern == route:
        return True
    return fnmatch.fnmatchcase(path, pattern)


@dataclass
class Injection:
    """A scripted failure for the next ``count`` matching requests (see ``fake.inject``)."""

    pattern: str
    status: int
    count: int
    retry_after: float
    is_global: bool
    body: dict[str, Any] | None
    #: Apply after the request took effect (the response is lost, the write is not).
    after_processing: bool = False
    hits: int = 0

    @property
    def remaining(self) -> int:
        return self.count - self.hits


@dataclass
class RateLimitHit:
    """A 429 the fake sent (bucket, global, or injected)."""

    time: float
    method: str
    path: str
    scope: str
    retry_after: float
    is_global: bool
    injected: bool


def now() -> float:
    return time.monotonic()
