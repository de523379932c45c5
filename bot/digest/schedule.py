"""When digests run: cron triggers in each digest's time zone, and which day a run belongs to.

APScheduler's CronTrigger computes fire times in the zone itself, so a 09:00
digest stays at 09:00 local across DST changes. On the autumn day when a local
time happens twice, the trigger fires twice; the daily claim in the database
keeps the digest to once. Jobs live in memory and are rebuilt from the
database at start: the database, not the scheduler, is the source of truth.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.digest.model import DigestConfig

LATE_TOLERANCE = timedelta(minutes=1)


def trigger_for(config: DigestConfig) -> CronTrigger:
    hour, minute, second = config.time_parts
    if config.weekly:  # a weekly recap: its weekday only (APScheduler: 0 = Monday)
        return CronTrigger(day_of_week=config.weekday or 0, hour=hour, minute=minute, second=second,
                           timezone=config.zone)
    return CronTrigger(hour=hour, minute=minute, second=second, timezone=config.zone)


def local_fire_time(config: DigestConfig, day: date) -> datetime:
    hour, minute, second = config.time_parts
    return datetime.combine(day, time(hour, minute, second), tzinfo=config.zone)


def last_fire_at_or_before(config: DigestConfig, now: datetime) -> datetime:
    """The most recent scheduled time not after `now` (aware, in the digest's zone)."""
    local_now = now.astimezone(config.zone)
    day = local_now.date()
    candidate = local_fire_time(config, day)
    while candidate > local_now or (config.weekly and day.weekday() != (config.weekday or 0)):
        day -= timedelta(days=1)
        candidate = local_fire_time(config, day)
    return candidate


def next_fire_after(config: DigestConfig, now: datetime) -> datetime:
    fire = trigger_for(config).get_next_fire_time(None, now.astimezone(config.zone))
    assert fire is not None
    return fire


def run_date_for(config: DigestConfig, now: datetime) -> date:
    """The local day a run fired at `now` belongs to (a job that starts a few seconds late,
    past midnight, still belongs to the day it was scheduled for)."""
    return last_fire_at_or_before(config, now + LATE_TOLERANCE).date()


def missed_run_date(config: DigestConfig, now: datetime, grace: timedelta) -> date | None:
    """The day whose scheduled time passed while we were down, if still within `grace`."""
    fire = last_fire_at_or_before(config, now)
    if now - fire <= grace:
        return fire.date()
    return None
