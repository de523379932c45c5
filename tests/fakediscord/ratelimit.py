"""Per-route buckets and the per-token global limit, with Discord's headers and 429 bodies."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

#: Route-key -> (limit, window seconds). Keys are "METHOD /template" as in discord.py's Route.
DEFAULT_ROUTE_LIMITS: dict[str, tuple[int, float]] = {
    "POST /channels/{channel_id}/messages": (5, 5.0),
    "PATCH /channels/{channel_id}/messages/{message_id}": (5, 5.0),
    "DELETE /channels/{channel_id}/messages/{message_id}": (5, 1.0),
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": (1, 0.25),
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": (1, 0.25),
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}": (1, 0.25),
    "POST /channels/{channel_id}/messages/{message_id}/threads": (10, 10.0),
    "POST /users/@me/channels": (10, 10.0),
}


@dataclass
class RateLimits:
    """Tunable limits. Assign before or during a test: ``fake.rate_limits.global_limit = 10``."""

    enabled: bool = True
    #: Requests per ``global_window`` per bot token (interaction endpoints are exempt).
    global_limit: int = 50
    global_window: float = 1.0
    routes: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_ROUTE_LIMITS))
    #: Limit for every other route, per route and major parameter.
    default: tuple[int, float] = (50, 1.0)

    def route_limit(self, route_key: str) -> tuple[int, float]:
        return self.routes.get(route_key, self.default)

    def set_route(self, route_key: str, limit: int, per: float) -> None:
        self.routes[route_key] = (limit, per)


@dataclass
class _Window:
    limit: int
    per: float
    started: float
    used: int = 0

    def reset_at(self) -> float:
        return self.started + self.per


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    scope: str = "user"
    is_global: bool = False


def bucket_hash(route_key: str) -> str:
    """An opaque, stable bucket id like Discord's ``X-RateLimit-Bucket``."""
    return hashlib.sha1(route_key.encode()).hexdigest()[:16]


class RateLimiter:
    """Fixed windows opened by the first request, as Discord's buckets behave."""

    def __init__(self, config: RateLimits) -> None:
        self.config = config
        self._buckets: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None

    def reset(self) -> None:
        self._buckets.clear()
        self._global = None

    def check_global(self) -> Decision:
        cfg = self.config
        t = time.monotonic()
        w = self._global
        if w is None or t >= w.reset_at() or (w.limit, w.per) != (cfg.global_limit, cfg.global_window):
            w = self._global = _Window(cfg.global_limit, cfg.global_window, t)
        if w.used >= w.limit:
            retry = max(w.reset_at() - t, 0.001)
            return Decision(
                False,
                {
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                    "Retry-After": str(math.ceil(retry)),
                },
                retry_after=retry,
                scope="global",
                is_global=True,
            )
        w.used += 1
        return Decision(True, {})

    def check_route(self, route_key: str, major: str) -> Decision:
        limit, per = self.config.route_limit(route_key)
        t = time.monotonic()
        key = (route_key, major)
        w = self._buckets.get(key)
        if w is None or t >= w.reset_at() or (w.limit, w.per) != (limit, per):
            w = self._buckets[key] = _Window(limit, per, t)
        reset_after = max(w.reset_at() - t, 0.0)
        allowed = w.used < w.limit
        if allowed:
            w.used += 1
        headers = {
            "X-RateLimit-Limit": str(w.limit),
            "X-RateLimit-Remaining": str(max(w.limit - w.used, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(route_key),
        }
        if allowed:
            return Decision(True, headers)
        retry = max(reset_after, 0.001)
        headers["X-RateLimit-Scope"] = "user"
        headers["Retry-After"] = str(math.ceil(retry))
        return Decision(False, headers, retry_after=retry, scope="user")
