"""One pace for every Discord REST call of the process.

discord.py slows down only after Discord has answered 429, and gives up after
five tries; many digests posted at once would lose messages. So every REST
request (each retry included) waits here for its slot first, just under
Discord's global limit of 50 requests/s. Interaction responses and followups
are exempt, as they are on Discord: they must beat the 3-second deadline and
never queue behind a digest fan-out.

It hooks in through aiohttp's request tracing, which discord.py exposes as
`Client(http_trace=...)`, so discord.py itself stays unmodified.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp

_EXEMPT = re.compile(r"/interactions/\d+/[^/]+/callback|/webhooks/\d+/[^/]+")


class RequestPacer:
    """Spaces request starts at least 1/rate seconds apart across all coroutines."""

    def __init__(self, rate_per_second: float, *, monotonic: Callable[[], float] = time.monotonic):
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_per_second
        self.interval = 1.0 / rate_per_second
        self.processes = 1
        self._monotonic = monotonic
        self._next_slot = 0.0
        self.paced = 0  # requests that went through the pacer
        self.waited_seconds = 0.0

    def share_with(self, processes: int) -> None:
        """Discord's global limit is per bot, not per process: with several processes live on
        one database (their heartbeats), each takes an equal share of the rate."""
        self.processes = max(1, processes)
        self.interval = self.processes / self.rate

    async def wait_turn(self) -> None:
        now = self._monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.interval
        self.paced += 1
        delay = slot - now
        if delay > 0:
            self.waited_seconds += delay
            await asyncio.sleep(delay)

    def trace_config(self, api_base_url: str) -> aiohttp.TraceConfig:
        """An aiohttp TraceConfig that paces requests to `api_base_url`, except interactions."""
        base = api_base_url.rstrip("/")

        async def on_request_start(
            session: aiohttp.ClientSession, context: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            url = str(params.url)
            if not url.startswith(base):
                return
            if _EXEMPT.search(url[len(base):]):
                return
            await self.wait_turn()

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request_start)
        return trace
