"""Time in one place: aware UTC datetimes, their text form in the database, and a clock to inject."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime; tests pass their own."""


def to_db(moment: datetime | None) -> str | None:
    """Aware datetime -> sortable ISO text in UTC (the only form the store writes)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def date_to_db(day: date | None) -> str | None:
    return day.isoformat() if day else None


def date_from_db(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None
