"""Shared test fixtures. Every peer a test talks to lives on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "real"


@pytest.fixture
def real_fixture():
    """Bytes of a captured real feed, by file name."""

    def read(name: str) -> bytes:
        return (REAL / name).read_bytes()

    return read
