"""Richer cards: Hugging Face's thumbnail, upvotes, comments, project page, code with stars, on
digest and /paper cards and in the terminal preview; every card within Discord's limits."""

from __future__ import annotations

import json
from pathlib import Path

from bot.digest.render import limit_problems, paper_buttons, paper_embed
from bot.merge import StoredPaper
from bot.models import FeedKind
from bot.sources import parse_feed
from tests.botharness import World
from tests.feedserver import REAL, FeedServer
from tests.test_cli import run, write_config
from tests.test_digests import CL, add_digest, digest_thread, fast_sends, paper_key

HF = "hf_daily_papers_2026-08-21_indent2.json"
FIRST = json.loads((REAL / HF).read_text())[0]
KEY = FIRST["paper"]["id"]


def test_the_parser_keeps_daily_papers_thumbnail_and_refuses_odd_ones() -> None:
    items = json.loads((REAL / HF).read_text())
    items[1]["thumbnail"] = "javascript:alert(1)"
    papers = {p.key: p for p in parse_feed(json.dumps(items).encode(), FeedKind.HF_DAILY).papers}
    assert papers[KEY].hf_thumbnail == FIRST["thumbnail"]
    assert papers[KEY].hf_thumbnail.startswith("https://")
    assert papers[items[1]["paper"]["id"]].hf_thumbnail is None


def test_a_card_with_every_signal_and_huge_values_stays_within_limits() -> None:
    paper = StoredPaper(
        key="2608.00001", title="T" * 600, core_source=FeedKind.HF_DAILY, authors=["A" * 300] * 40,
        abstract="x " * 5000, hf_ai_summary="s " * 3000, categories=["cs.LG"] * 30,
        abs_url="https://arxiv.org/abs/2608.00001", hf_upvotes=10**9, hf_comments=10**9,
        project_url="https://example.org/" + "p" * 3000, code_url="https://github.com/" + "c" * 3000,
        github_stars=10**9, journal_ref="J" * 3000, hf_thumbnail="https://cdn.example.org/t.png",
    )
    embed = paper_embed(paper, footer="f" * 5000, number=1)
    buttons = paper_buttons(paper)
    assert limit_problems(None, [embed], buttons) == []
    assert "Code" not in [b.label for b in buttons]  # a 3,000-character URL cannot be a button
    names = [f["name"] for f in embed["fields"]]
    assert {"Hugging Face", "Code", "Project page", "Published"} <= set(names)
    assert embed["thumbnail"] == {"url": "https://cdn.example.org/t.png"}


def _card_checks(embed: dict) -> None:
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["thumbnail"]["url"] == FIRST["thumbnail"]
    assert fields["Hugging Face"] == f"▲ {FIRST['paper']['upvotes']} upvotes · 💬 {FIRST['numComments']}"
    assert FIRST["paper"]["projectPage"] in fields["Project page"]
    assert f"★ {FIRST['paper']['githubStars']}" in fields["Code"]


async def test_digest_and_paper_cards_show_hugging_face_signals(world: World) -> None:
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.serve_feed("/api/daily_papers", fixture=HF, content_type="application/json")
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, include_hf=True, max_papers=5)
        await world.fake.invoke(world.admin, world.guild, world.channel, "digest", subcommand="now",
                                options={"digest": 1})
        [card] = [m for m in digest_thread(world.fake, world.channel) if paper_key(m) == KEY]
        _card_checks(card.embeds[0])
        answer = await world.fake.invoke(world.member, world.guild, world.channel, "paper",
                                         options={"id": KEY})
        await answer.wait_for_followups(2)
        _card_checks(answer.followups[-1].embeds[0])


async def test_the_terminal_preview_shows_the_same_signals(feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.serve("/api/daily_papers", fixture=HF, content_type="application/json")
    config = write_config(tmp_path / "config.toml", [url])
    result = await run(["--config", str(config), "preview", "--limit", "1"], tmp_path)
    assert result.code == 0, result.err
    out = " ".join(result.out.split())
    assert f"▲ {FIRST['paper']['upvotes']} · 💬 {FIRST['numComments']}" in out
    assert f"★ {FIRST['paper']['githubStars']}" in out
    assert "project: " + FIRST["paper"]["projectPage"] in out
    assert "image: https://" in out
