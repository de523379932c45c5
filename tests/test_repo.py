"""The project's own promises about itself: CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**Run the whole test suite**", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", section, re.S)
    assert command is not None
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command.group(1).strip() in [line.strip() for line in ci]


async def test_every_slash_command_is_documented_in_the_readme() -> None:
    from bot.app import PaperBot
    from bot.config import parse_settings

    bot = PaperBot(parse_settings({}), sync_only=True)
    for extension in bot.extensions_to_load:
        await bot.load_extension(extension)
    names = [c.qualified_name for c in bot.tree.walk_commands() if not hasattr(c, "commands")]
    await bot.close()
    assert {"search", "digest add", "bookmarks export", "subscribe", "topic add"} <= set(names)
    readme = (ROOT / "README.md").read_text()
    assert [name for name in names if f"`/{name}" not in readme] == []
