"""Shared test fixtures. Every peer a test talks to lives on loopback."""

from __future__ import annotations

import ipaddress
import os
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
from tests.meaning_support import embedder, meaning_on, model_cache  # noqa: F401  (search by meaning)
from tests.pgserver import INSTALL_HINT, PgServer


def pytest_configure(config: pytest.Config) -> None:
    """Every peer of a test lives on loopback: any other connection fails the test loudly."""
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the store test covers something only the SQLite backend has"
    )
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


@pytest.fixture(scope="session")
def pg_server() -> Any:
    """A throwaway PostgreSQL server for the session. Skips with the reason where PostgreSQL is not
    installed, but fails under CI=true: CI must run the PostgreSQL tests."""
    server = PgServer()
    if not server.available:
        reason = f"PostgreSQL is not installed here (no initdb/pg_ctl): {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for this test (dropped after it)."""
    url = await pg_server.new_database()
    yield url
    await pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
async def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where a store lives, once per backend: an SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    only = request.node.get_closest_marker("sqlite_only")
    if only is not None:
        pytest.skip(f"SQLite only: {only.args[0] if only.args else 'SQLite-specific'}")
    server = request.getfixturevalue("pg_server")
    url = await server.new_database()
    yield url
    await server.drop_database(url)


@pytest.fixture
async def store(store_target: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A real, migrated store on each backend: an SQLite file, then a PostgreSQL database
    (each with its derived search index in tmp_path)."""
    opened = await Store(store_target, index_dir=tmp_path / "search-index").open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real SQLite file, migrated: for tests about SQLite itself (its file, pragmas)."""
    opened = await Store(tmp_path / "store.db").open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def world(
    request: pytest.FixtureRequest, fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[World]:
    """A server (channel, admin, member) on the fake Discord, plus the loopback feed server; the
    bot's store is an SQLite file, then a PostgreSQL database (every end-to-end test on both)."""
    world = make_world(fake_discord, feed_server, tmp_path)
    if request.param == "postgres":
        only = request.node.get_closest_marker("sqlite_only")
        if only is not None:
            pytest.skip(f"SQLite only: {only.args[0] if only.args else 'SQLite-specific'}")
        server = request.getfixturevalue("pg_server")
        url = await server.new_database()
        world.sections["database"] = {"url": url, "search_index_dir": str(tmp_path / "paperbot.search")}
        world.rebuild_settings()
        yield world
        await server.drop_database(url)
        return
    yield world


@pytest.fixture
async def running_bot(world: World) -> AsyncIterator[World]:
    """paperbot itself (in-process, real discord.py) connected to the fake and ready."""
    async with world.run_bot():
        yield world
