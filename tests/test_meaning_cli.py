"""`paperbot embed` and `paperbot similar` as a user runs them (subprocess, feeds on loopback)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.feedserver import FeedServer
from tests.test_cli import CL, run, write_config


def _meaning(model_cache: Path) -> str:
    return f'\n[meaning]\ncache_dir = "{model_cache}"\nfetch_model = false\nmax_tokens = 128\n'


async def test_embed_fills_the_store_once_and_similar_answers(
    feed_server: FeedServer, tmp_path: Path, model_cache: Path
) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    # A store filled while search by meaning was off (or by an older paperbot).
    plain = write_config(tmp_path / "plain.toml", [url])
    assert (await run(["--config", str(plain), "fetch"], tmp_path)).code == 0
    config = write_config(tmp_path / "config.toml", [url], _meaning(model_cache), meaning=True)

    first = await run(["--config", str(config), "embed"], tmp_path)
    assert first.code == 0, first.err
    assert re.search(r"141 papers embedded \(\d+ papers/s\); 141 in the vector index", first.out), first.out

    again = await run(["--config", str(config), "embed"], tmp_path)
    assert again.code == 0 and "0 papers embedded; 141 in the vector index" in again.out

    key = re.search(r"<link>https?://arxiv.org/abs/([0-9.]+)", (Path(__file__).parent / "fixtures" / "real" /
                                                                 CL).read_text()).group(1)
    similar = await run(["--config", str(config), "similar", f"https://arxiv.org/abs/{key}", "--limit", "3"],
                        tmp_path)
    assert similar.code == 0, similar.err
    assert f"({key}):" in similar.out
    assert len(re.findall(r"^\s*[123]\. ", similar.out, re.M)) == 3


async def test_embed_without_the_model_says_what_to_do(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", [],
                          f'\n[meaning]\nmodel_dir = "{tmp_path / "nowhere"}"\n', meaning=True)
    result = await run(["--config", str(config), "embed"], tmp_path)
    assert result.code == 1
    assert "model_dir" in result.out and "does not hold" in result.out


async def test_search_modes_from_the_command_line(
    feed_server: FeedServer, tmp_path: Path, model_cache: Path
) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=CL)
    config = write_config(tmp_path / "config.toml", [url], _meaning(model_cache), meaning=True)
    fetched = await run(["--config", str(config), "fetch"], tmp_path)
    assert fetched.code == 0 and "141 papers embedded for search by meaning" in fetched.out, fetched.out
    described = "do models make things up when summarising very long books"
    hybrid = await run(["--config", str(config), "search", described, "--json", "--limit", "3"], tmp_path)
    assert hybrid.code == 0, hybrid.err
    assert "2608.18082" in [h["id"] for h in json.loads(hybrid.out)]
    words = await run(["--config", str(config), "search", described, "--json", "--limit", "3",
                       "--mode", "words"], tmp_path)
    assert "2608.18082" not in [h["id"] for h in json.loads(words.out)]
    shown = await run(["--config", str(config), "search", described, "--limit", "3"], tmp_path)
    assert "ranked by meaning and words" in shown.out
