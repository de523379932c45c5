"""/subscriptions settings: each reader's DM hour and time zone, or off (validation and wording)."""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING

from discord import app_commands

from bot.community.dmtime import next_delivery
from bot.digest.model import parse_timezone
from bot.errors import UserFacingError
from bot.store.community import DmSettings

if TYPE_CHECKING:
    from bot.app import PaperBot

COMMON_ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York",
                "America/Chicago", "America/Los_Angeles", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo",
                "Australia/Sydney"]


def zone_choices(current: str) -> list[app_commands.Choice[str]]:
    needle = current.strip().lower().replace(" ", "_")
    zones = COMMON_ZONES if not needle else sorted(
        (z for z in zoneinfo.available_timezones() if needle in z.lower()),
        key=lambda z: (not z.lower().split("/")[-1].startswith(needle), z))
    return [app_commands.Choice(name=z, value=z) for z in zones[:25]]


def describe(settings: DmSettings | None, bot: PaperBot) -> str:
    if settings is None:
        hour = bot.settings.readers.dm_hour_utc
        default = "right after the day's papers arrive" if hour is None else f"at {hour:02d}:00 UTC"
        return f"📬 Your daily DM comes {default} (the server's default)."
    if settings.off:
        return ("📭 Your daily DM is **off**: matches and bookmark alerts wait, unsent. "
                "`off:False` turns it on.")
    if settings.hour is None:
        return "📬 Your daily DM comes right after the day's papers arrive."
    upcoming = next_delivery(settings, bot.clock())
    when = f" (next: <t:{int(upcoming.timestamp())}:F>)" if upcoming else ""
    return f"📬 Your daily DM comes at **{settings.hour:02d}:00 {settings.timezone}**{when}."


async def dm_settings_answer(
    bot: PaperBot, user_id: int, *, hour: int | None, timezone: str | None, off: bool | None, reset: bool,
) -> str:
    """Apply what the reader asked (nothing: just show) and say what their DM time is now."""
    store = bot.store
    current = (await store.dm_settings_of([user_id])).get(user_id)
    if reset:
        await store.clear_dm_settings(user_id)
        return describe(None, bot)
    if hour is None and timezone is None and off is None:
        return describe(current, bot)
    zone = current.timezone if current else "UTC"
    if timezone is not None:
        try:
            zone = parse_timezone(timezone).key
        except ValueError as error:
            raise UserFacingError(str(error)) from None
    new_hour = hour if hour is not None else (current.hour if current else None)
    if timezone is not None and new_hour is None:
        raise UserFacingError("Give an `hour` too: the time zone says when that hour is.")
    new_off = off if off is not None else (current.off if current else False)
    await store.set_dm_settings(user_id, hour=new_hour, timezone=zone, off=new_off)
    return describe(DmSettings(new_hour, zone, new_off), bot)
