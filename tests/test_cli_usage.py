"""The command line's edges: absurd numbers, -excluded words, closed pipes, help, -v, progress."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import re
from pathlib import Path

import pytest

from bot.cli import build_parser
from tests.feedserver import FeedServer
from tests.test_cli import CL, paperbot_command, run, write_config


async def fetched(feed_server: FeedServer, tmp_path: Path) -> Path:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])
    result = await run(["--config", str(config), "fetch"], tmp_path)
    assert result.code == 0, result.err
    return config


@pytest.mark.parametrize(("args", "expected"), [
    (["search", "x", "--since", "800000"], "argument --since: expected at most 36,500 days, got 800000"),
    (["search", "x", "--limit", "99999999999999999999"],
     "argument --limit: expected at most 10,000 papers, got 99999999999999999999"),
    (["backfill", "--category", "cs.CL", "--days", "99999999"],
     "argument --days: expected at most 36,500 days, got 99999999"),
    (["preview", "--limit", "0"], "argument --limit: expected at least 1, got 0"),
    (["search", "x", "--since", "soon"], "argument --since: expected a whole number, got 'soon'"),
])
async def test_numbers_out_of_range_are_answered_in_one_line(
        tmp_path: Path, args: list[str], expected: str) -> None:
    result = await run(args, tmp_path)
    assert result.code == 2
    assert "Traceback" not in result.err and "OverflowError" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert expected in lines[0]
    assert lines[0].startswith(f"paperbot {args[0]}: error:")


async def test_excluded_words_are_query_words(feed_server: FeedServer, tmp_path: Path) -> None:
    config = await fetched(feed_server, tmp_path)
    everything = await run(["--config", str(config), "search", "language", "--limit", "200", "--json"],
                           tmp_path)
    without = await run(["--config", str(config), "search", "language", "-models", "--limit", "200",
                         "--json"], tmp_path)
    assert everything.code == 0 and without.code == 0, without.err
    all_hits = {h["id"]: h["title"] for h in json.loads(everything.out)}
    kept = {h["id"]: h["title"] for h in json.loads(without.out)}
    assert kept and set(kept) < set(all_hits)
    assert any("models" in title.lower() for title in all_hits.values())
    assert not any(re.search(r"\bmodels\b", title.lower()) for title in kept.values())
    # Options still work around the excluded word, and a leading one too.
    first = await run(["--config", str(config), "search", "-models", "language", "--limit", "200",
                       "--json"], tmp_path)
    assert first.code == 0 and {h["id"] for h in json.loads(first.out)} == set(kept)


@pytest.mark.parametrize("output", [[], ["--json"]])
async def test_a_closed_pipe_ends_quietly(feed_server: FeedServer, tmp_path: Path, output: list[str]) -> None:
    """`paperbot search x | head -1`: the reader left; no 'Broken pipe', no traceback."""
    config = await fetched(feed_server, tmp_path)
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOT_CONFIG")}
    environment.update({"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
    reader, writer = os.pipe()
    os.close(reader)  # gone before the first line
    try:
        process = await asyncio.create_subprocess_exec(
            *paperbot_command(), "--config", str(config), "search", "language", "--limit", "50",
            "--mode", "words", *output, cwd=tmp_path, env=environment, stdout=writer,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(writer)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert err.decode() == ""
    assert process.returncode == 1  # quiet, but the output was cut short (README, "Exit codes")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_subcommand_has_a_description_and_every_option_a_help_text() -> None:
    commands = _subparsers(build_parser())
    assert {"fetch", "feeds", "preview", "search", "backfill", "check-config", "run", "sync",
            "backup", "restore"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description and len(parser.description) > 30, name
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


async def test_help_shows_the_description_and_exit_codes(tmp_path: Path) -> None:
    result = await run(["search", "--help"], tmp_path)
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "-excluded" in text and "Reads the database without writing to it" in text
    top = await run(["--help"], tmp_path)
    assert "Exit codes: 0 done, 1 failed" in " ".join(top.out.split())


@pytest.mark.parametrize("where", ["before", "after"])
async def test_verbose_works_before_and_after_the_subcommand(
        feed_server: FeedServer, tmp_path: Path, where: str) -> None:
    config = await fetched(feed_server, tmp_path)
    args = ["-v", "feeds"] if where == "before" else ["feeds", "-v"]
    result = await run(["--config", str(config), *args], tmp_path)
    assert result.code == 0, result.err
    assert "DEBUG" in result.err
    quiet = await run(["--config", str(config), "feeds"], tmp_path)
    assert "DEBUG" not in quiet.err


def _big_feed(items: int) -> str:
    entries = "".join(
        f"<item><title>Bulk paper {i}</title><link>https://example.org/p/{i}</link>"
        f"<guid>https://example.org/p/{i}</guid><description>Abstract {i}.</description></item>"
        for i in range(items)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bulk</title>'
            f"<link>https://example.org/</link><description>bulk</description>{entries}</channel></rss>")


async def test_fetch_reports_progress_on_a_slow_and_a_large_feed(
        feed_server: FeedServer, tmp_path: Path) -> None:
    slow = feed_server.serve("/slow.xml", fixture=CL, delay=3.5)
    large = feed_server.serve("/large.xml", _big_feed(20_000))
    config = write_config(tmp_path / "config.toml", [slow, large])
    result = await run(["--config", str(config), "fetch", "--progress"], tmp_path)
    assert result.code == 0, result.err
    err = result.err
    assert f"… {slow}: downloading" in err
    assert re.search(rf"… {re.escape(slow)}: still downloading \(\d+ s\)", err)
    assert re.search(rf"… {re.escape(large)}: parsing \d+\.\d MB", err)
    assert f"… {large}: storing 20,000 items" in err
    assert "20000 new" in result.out.replace(",", "")
    # Without --progress and without a terminal: nothing on stderr.
    again = await run(["--config", str(config), "fetch", "--force"], tmp_path)
    assert "downloading" not in again.err


async def test_preview_reports_progress_when_it_fetches(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])
    result = await run(["--config", str(config), "preview", "--category", "cs.CL", "--progress"], tmp_path)
    assert result.code == 0, result.err
    assert f"… {url}: storing 141 items" in result.err


async def test_search_on_an_empty_store_says_so(feed_server: FeedServer, tmp_path: Path) -> None:
    empty_feed = feed_server.serve(
        "/empty.xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>E</title>'
        "<link>https://example.org/</link><description>e</description></channel></rss>")
    config = write_config(tmp_path / "config.toml", [empty_feed])
    for _ in range(2):  # no file yet; then a file with no papers
        result = await run(["--config", str(config), "search", "attention"], tmp_path)
        assert result.code == 1
        assert "The store is empty: nothing to search yet" in result.err
        assert "paperbot fetch" in result.err
        assert (await run(["--config", str(config), "fetch"], tmp_path)).code == 0


async def test_fetch_on_a_terminal_shows_a_live_status_without_the_flag(
        feed_server: FeedServer, tmp_path: Path) -> None:
    large = feed_server.serve("/large.xml", _big_feed(5_000))
    config = write_config(tmp_path / "config.toml", [large])
    primary, secondary = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOT_CONFIG")}
    environment.update({"COLUMNS": "160", "TERM": "xterm"})
    try:
        process = await asyncio.create_subprocess_exec(
            *paperbot_command(), "--config", str(config), "fetch", cwd=tmp_path, env=environment,
            stdout=asyncio.subprocess.PIPE, stderr=secondary,
        )
    finally:
        os.close(secondary)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other side closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reading = asyncio.create_task(asyncio.to_thread(drain))
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    await asyncio.wait_for(reading, 10)
    os.close(primary)
    assert process.returncode == 0
    seen = b"".join(chunks).decode(errors="replace")
    assert "storing 5,000 items" in seen
    assert "5000 new" in out.decode().replace(",", "")
