"""pytest fixtures for the fake Discord. Imported into tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .client import point_discord_py_at
from .server import FakeDiscord

__all__ = ["discord_py_at_fake", "fake_discord"]


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started ``FakeDiscord`` on 127.0.0.1 (ephemeral port), stopped after the test.

    Teardown fails the test if the fake hit an internal error or the client called a route
    the fake does not model: either would make the test's verdict meaningless.
    """
    fake = FakeDiscord()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    fake.check()


@pytest_asyncio.fixture
async def discord_py_at_fake(fake_discord: FakeDiscord) -> AsyncIterator[FakeDiscord]:
    """``fake_discord`` with discord.py's REST base and gateway URL pointed at it."""
    with point_discord_py_at(fake_discord):
        yield fake_discord
