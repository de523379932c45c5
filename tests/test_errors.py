"""Discord's expected refusals become short messages people can act on; bugs do not."""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.errors import UserFacingError, explain_for_user


def http_error(cls: type[discord.HTTPException], status: int, code: int) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="x")
    return cls(response, {"code": code, "message": "m"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (http_error(discord.Forbidden, 403, 50013), "don't have permission"),
        (http_error(discord.Forbidden, 403, 50001), "don't have permission"),
        (http_error(discord.NotFound, 404, 10003), "no longer exists"),
        (http_error(discord.Forbidden, 403, 50007), "DMs are closed"),
        (app_commands.MissingPermissions(["manage_guild"]), "Manage Server"),
        (app_commands.NoPrivateMessage(), "in a server"),
        (UserFacingError("That time zone is unknown."), "That time zone is unknown."),
    ],
)
def test_expected_refusals_are_explained(error: Exception, expected: str) -> None:
    message = explain_for_user(error)
    assert message is not None
    assert expected in message


def test_a_bug_is_not_explained_away() -> None:
    assert explain_for_user(RuntimeError("boom")) is None
    assert explain_for_user(http_error(discord.HTTPException, 500, 0)) is None
