"""Shared test fixtures. Every peer a test talks to lives on loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, parse_settings
from bot.store import Store
from tests.botharness import World, make_world
from tests.fakediscord import FakeDiscord
from tests.fakediscord.fixtures import *  # noqa: F403  (fake_discord, discord_py_at_fake)
from tests.feedserver import FeedServer


def pytest_configure(config: pytest.Config) -> None:
    """Every peer of a test lives on loopback: any other connection fails the test loudly."""
    original = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                raise ConnectionRefusedError(f"tests may only connect to loopback, not {host}")
        return original(self, address)

    socket.socket.connect = loopback_only  # type: ignore[method-assign]


FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "real"


@pytest.fixture
def real_fixture() -> Callable[[str], bytes]:
    """Bytes of a captured real feed, by file name."""

    def read(name: str) -> bytes:
        return (REAL / name).read_bytes()

    return read


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = await FeedServer().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: a database in tmp_path, the given feeds, overrides by section."""

    def build(feeds: list[dict[str, Any]] | None = None, **sections: dict[str, Any]) -> Settings:
        data: dict[str, Any] = {"database": {"path": str(tmp_path / "paperbot.db")}}
        data["feeds"] = feeds or []
        data.setdefault("http", {})["contact"] = "tests@example.invalid"
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        return parse_settings(data, "test settings")

    return build


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real SQLite file, migrated."""
    opened = await Store(tmp_path / "store.db").open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def world(fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path) -> World:
    """A server (channel, admin, member) on the fake Discord, plus the loopback feed server."""
    return make_world(fake_discord, feed_server, tmp_path)


@pytest.fixture
async def running_bot(world: World) -> AsyncIterator[World]:
    """paperbot itself (in-process, real discord.py) connected to the fake and ready."""
    async with world.run_bot():
        yield world
