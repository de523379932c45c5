"""Pointing an unmodified discord.py at the fake, and running a client for the length of a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import discord
import yarl

if TYPE_CHECKING:
    from .server import FakeDiscord


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Send discord.py's REST and gateway traffic to ``fake``; restore the real URLs after.

    These are the only two knobs: REST (interaction callbacks and followups included) goes to
    ``Route.BASE``; a plain ``Client`` connects to ``DEFAULT_GATEWAY`` (an AutoShardedClient
    without ``shard_count`` asks ``/gateway/bot`` first, which the fake answers too).
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_client(
    client: discord.Client,
    fake: FakeDiscord,
    *,
    token: str | None = None,
    ready_timeout: float = 10.0,
) -> AsyncIterator[discord.Client]:
    """Start ``client`` against ``fake`` (already pointed at it), wait for ``on_ready``, and
    close it afterwards, surfacing any exception ``client.start`` died with."""
    task: asyncio.Task[Any] = asyncio.create_task(
        client.start(token or fake.token), name="fakediscord-client"
    )
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # raises the start() failure (e.g. LoginFailure)
            raise RuntimeError("client.start() returned before the client was ready")
        if ready not in done:
            raise TimeoutError(f"client not ready within {ready_timeout}s")
        yield client
    finally:
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
        if not client.is_closed():
            await client.close()
        if not task.done():
            try:
                await asyncio.wait_for(task, 5)
            except TimeoutError:
                task.cancel()
        if task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                raise exc
