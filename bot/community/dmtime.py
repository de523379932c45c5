"""When each reader's daily DM is due: their own hour in their own time zone, or off.

A reader without settings follows the operator's default (`readers.dm_hour_utc`: right
after the day's ingestion when unset, else that UTC hour). A reader with an hour gets the
DM in the hourly round whose local hour is theirs; a DM whose hour passed while the bot was
down waits for the next day's (its papers stay queued, nothing is lost).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.store.community import DmSettings

INGEST = "ingest"  # right after a poll round
HOURLY = "hourly"  # the round at the top of each hour


def is_due(settings: DmSettings | None, now: datetime, *, trigger: str, default_hour_utc: int | None) -> bool:
    if settings is None:
        if default_hour_utc is None:
            return trigger == INGEST
        return trigger == HOURLY and now.astimezone(ZoneInfo("UTC")).hour == default_hour_utc
    if settings.off:
        return False
    if settings.hour is None:
        return trigger == INGEST
    return trigger == HOURLY and now.astimezone(ZoneInfo(settings.timezone)).hour == settings.hour


def next_delivery(settings: DmSettings, now: datetime) -> datetime | None:
    """The next time the reader's DM can go out (None: off, or as soon as papers arrive)."""
    if settings.off or settings.hour is None:
        return None
    local = now.astimezone(ZoneInfo(settings.timezone))
    candidate = local.replace(hour=settings.hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate = (candidate + timedelta(days=1)).replace(hour=settings.hour)
    return candidate
