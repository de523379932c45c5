"""The `paperbot` command as a user runs it: a subprocess, feeds served on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from aiohttp import web

from tests.feedserver import REAL, FeedServer

CL = "arxiv_rss_cs.CL_2026-08-20_141items.xml"


def paperbot_command() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("paperbot")
    if script.exists():
        return [str(script)]
    found = shutil.which("paperbot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


@dataclass
class Result:
    code: int
    out: str
    err: str


async def run(args: list[str], cwd: Path, *, env: dict[str, str] | None = None) -> Result:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOT_CONFIG")}
    environment.update({"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        *paperbot_command(), *args, cwd=cwd, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return Result(process.returncode or 0, out.decode(), err.decode())


def write_config(path: Path, feeds: list[str], extra: str = "", *, meaning: bool = False) -> Path:
    lines = ['[database]', 'path = "data/paperbot.db"', "", "[http]", 'contact = "cli-test@example.invalid"']
    if not meaning:  # search by meaning loads a model: tests/test_meaning_cli.py turns it on
        lines += ["", "[meaning]", "enabled = false"]
    for url in feeds:
        lines += ["", "[[feeds]]", f'url = "{url}"']
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


async def test_fetch_then_search_give_correct_results(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])

    fetched = await run(["--config", str(config), "fetch", "--json"], tmp_path)
    assert fetched.code == 0, fetched.err
    summary = json.loads(fetched.out)
    assert summary[0]["status"] == "new"
    assert (summary[0]["items"], summary[0]["new"], summary[0]["updated"]) == (141, 99, 0)
    assert (summary[0]["older"], summary[0]["skipped"]) == (42, 0)  # replacements: older papers
    assert (tmp_path / "data" / "paperbot.db").exists()

    found = await run(["--config", str(config), "search", "entity tracking narratives", "--json"], tmp_path)
    assert found.code == 0, found.err
    hits = json.loads(found.out)
    assert hits[0]["title"].startswith("Entity tracking emerges in sub-billion parameter language models")
    assert set(hits[0]) >= {"id", "title", "authors", "categories", "url"}
    assert hits[0]["url"] == f"https://arxiv.org/abs/{hits[0]['id']}"
    assert isinstance(hits[0]["authors"], list) and len(hits[0]["authors"]) > 1
    assert "cs.CL" in hits[0]["categories"]

    again = await run(["--config", str(config), "fetch"], tmp_path)
    assert again.code == 0
    assert "unchanged" in again.out


async def test_search_filters_and_hostile_text(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])
    await run(["--config", str(config), "fetch"], tmp_path)
    for text in ['"unbalanced', "NEAR( a b", "🦜 AND OR -", "x" * 10_000]:
        result = await run(["--config", str(config), "search", text, "--json"], tmp_path)
        assert result.code == 0, result.err
        assert "Traceback" not in result.err
        json.loads(result.out)
    by_author = await run(["--config", str(config), "search", "hallucination", "--author", "Ruizhi Zhang",
                           "--json"], tmp_path)
    assert [h["id"] for h in json.loads(by_author.out)] == ["2608.18082"]


async def test_preview_fetches_into_an_empty_store_and_shows_the_digest(feed_server: FeedServer,
                                                                        tmp_path: Path) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url])
    result = await run(["--config", str(config), "preview", "--category", "cs.CL", "--limit", "3"], tmp_path)
    assert result.code == 0, result.err
    assert "fetching the feeds first" in result.out
    assert "Thursday 20 August 2026" in result.out
    assert "99 papers (72 new, 27 cross-listed)" in result.out
    assert "LongNovel: A Multi-Scale Benchmark" in result.out  # the first new paper
    assert "… and 96 more" in result.out


async def test_preview_offline_says_which_feed_and_why(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", ["http://127.0.0.1:9/rss/cs.LG"])
    result = await run(["--config", str(config), "preview"], tmp_path)
    assert result.code == 1
    assert "Traceback" not in result.err + result.out
    assert "127.0.0.1:9/rss/cs.LG" in result.out
    assert "cannot reach" in result.out
    assert "could not be reached" in result.out


async def test_a_bad_config_names_the_key_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[polling]\ninterval_minutes = "often"\n[[feeds]]\nurl = "ftp://x"\n')
    result = await run(["--config", str(config), "fetch"], tmp_path)
    assert result.code == 2
    assert "polling.interval_minutes" in result.err
    assert "feeds[0].url" in result.err
    assert "Traceback" not in result.err


async def test_check_config_masks_the_token(tmp_path: Path) -> None:
    result = await run(["check-config"], tmp_path, env={"DISCORD_TOKEN": "MTIz.secret-token-value"})
    assert result.code == 0
    assert "built-in defaults" in result.out
    assert "secret-token-value" not in result.out
    assert "hidden" in result.out
    assert "rss.arxiv.org/rss/cs.LG" in result.out


async def test_run_without_a_token_explains_how_to_get_one(tmp_path: Path) -> None:
    result = await run(["run"], tmp_path)
    assert result.code == 2
    assert "DISCORD_TOKEN is not set" in result.err
    assert "discord.com/developers/applications" in result.err


async def test_backfill_pages_through_the_api_politely(feed_server: FeedServer, tmp_path: Path) -> None:
    """Two real API pages (their totals set to 30 so the run ends), served by query offset."""
    first = (REAL / "arxiv_api_NEWformat_cs.AI_max20_2026-01-04.xml").read_bytes()
    second = (REAL / "arxiv_api_NEWformat_all-electron_2025-11-21.xml").read_bytes()
    pages = {
        0: re.sub(rb"<opensearch:totalResults>\d+<", b"<opensearch:totalResults>30<", first),
        20: re.sub(rb"<opensearch:totalResults>\d+<", b"<opensearch:totalResults>30<", second),
    }
    queries: list[dict[str, list[str]]] = []

    def answer(request: web.Request) -> tuple[int, bytes, str]:
        query = parse_qs(request.query_string)
        queries.append(query)
        return 200, pages.get(int(query["start"][0]), b""), "application/atom+xml"

    api = feed_server.serve("/api/query", handler=answer)
    config = write_config(
        tmp_path / "config.toml", [],
        extra=f'\n[arxiv]\napi_url = "{api}"\npolite_hosts = ["127.0.0.1"]\nmin_interval_seconds = 0.5\n',
    )
    result = await run(["--config", str(config), "backfill", "--category", "cs.AI", "--days", "3"], tmp_path)
    assert result.code == 0, result.err
    assert "30 papers fetched in 2 pages: 30 new" in result.out
    assert [q["start"] for q in queries] == [["0"], ["20"]]
    assert queries[0]["search_query"][0].startswith("cat:cs.AI AND submittedDate:[")
    starts = [r.started for r in feed_server.requests]
    assert starts[1] - starts[0] >= 0.5  # counted from the end of the first answer

    found = await run(["--config", str(config), "search", "cuprates high energy spectroscopy", "--json"],
                      tmp_path)
    assert json.loads(found.out)[0]["id"] == "cond-mat/0011267"


async def test_a_manual_fetch_retries_a_failed_feed_at_once(feed_server: FeedServer, tmp_path: Path) -> None:
    """The scheduled poller backs off; a person running `paperbot fetch` does not wait for it."""
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    feed_server.fail_next("/rss/cs.CL", 503, body=b"<html><title>503</title></html>")
    config = write_config(tmp_path / "config.toml", [url])
    failed = await run(["--config", str(config), "fetch", "--json"], tmp_path)
    assert failed.code == 1
    assert json.loads(failed.out)[0]["status"] == "failed"
    again = await run(["--config", str(config), "fetch", "--json"], tmp_path)
    assert again.code == 0, again.err
    assert json.loads(again.out)[0]["status"] == "new"
    assert "INFO" not in again.err  # the terminal commands keep the log for problems
