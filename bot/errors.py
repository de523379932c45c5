"""Errors people can act on, and how Discord's expected refusals are worded for them."""

from __future__ import annotations

import discord
from discord import app_commands

# Discord JSON error codes that are expected events, not bugs.
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_INTERACTION = 10062
MISSING_ACCESS = 50001
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
ALREADY_ACKNOWLEDGED = 40060


# Discord's UI names where they differ from the API's.
_PERMISSION_NAMES = {"manage_guild": "Manage Server", "view_channel": "View Channel"}


def permission_name(flag: str) -> str:
    return _PERMISSION_NAMES.get(flag, flag.replace("_", " ").title())


class UserFacingError(Exception):
    """Raised by a command to tell the user something they can fix; shown as is, not logged as a bug."""


def discord_code(error: BaseException) -> int | None:
    return error.code if isinstance(error, discord.HTTPException) else None


def explain_for_user(error: BaseException) -> str | None:
    """A short message for an expected failure, or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError):
        return str(error)
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(permission_name(p) for p in error.missing_permissions)
        return f"You need the **{needed}** permission on this server to do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        needed = ", ".join(permission_name(p) for p in error.missing_permissions)
        return f"I am missing the **{needed}** permission here. Ask a server admin to grant it."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server, not in DMs."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You are not allowed to use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I could not understand {error.value!r} for that option."
    code = discord_code(error)
    if code in (MISSING_PERMISSIONS, MISSING_ACCESS):
        return ("I don't have permission to do that in that channel. A server admin can check my "
                "role's permissions there (View Channel, Send Messages, Embed Links).")
    if code == UNKNOWN_CHANNEL:
        return "That channel no longer exists."
    if code == CANNOT_DM:
        return ("I can't send you direct messages: your DMs are closed. Allow DMs from server members "
                "(Privacy Settings) and try again.")
    return None


def require_manage_server(interaction: discord.Interaction) -> bool:
    """Admin commands: Discord hides them from members without Manage Server, but a server's
    admins can unhide them in the integration settings, so the bot enforces it too."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise app_commands.MissingPermissions(["manage_guild"])
    return True
