"""Alerts on saved papers, end to end: a new version with its comment, published (DOI, journal),
code appearing on Hugging Face; each in the daily DM, each once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.community.alerts import describe_update
from bot.digest.model import BOOKMARK_EMOJI
from bot.merge import StoredPaper
from bot.models import FeedKind
from bot.store.readers import QueuedUpdate
from tests.botharness import World
from tests.feedserver import REAL
from tests.test_digests import CL, fast_sends, listing_keys
from tests.test_readers import Clock, post_digest, until

pytestmark = pytest.mark.timeout(120)


def api_answer(key: str, version: int, *, comment: str | None = None, journal: str | None = None,
               doi: str | None = None) -> str:
    extra = "".join([
        f"<arxiv:comment>{comment}</arxiv:comment>" if comment else "",
        f"<arxiv:journal_ref>{journal}</arxiv:journal_ref>" if journal else "",
        f"<arxiv:doi>{doi}</arxiv:doi>" if doi else "",
    ])
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">'
        "<id>https://arxiv.org/api/x</id><title>arXiv Query: id_list</title>"
        "<updated>2026-08-22T04:00:00Z</updated>"
        "<opensearch:itemsPerPage>1</opensearch:itemsPerPage>"
        "<opensearch:totalResults>1</opensearch:totalResults><opensearch:startIndex>0</opensearch:startIndex>"
        f"<entry><id>http://arxiv.org/abs/{key}v{version}</id>"
        "<title>Entity tracking in small language models</title>"
        "<updated>2026-08-22T13:50:01Z</updated><published>2026-08-19T13:50:01Z</published>"
        f'<link href="https://arxiv.org/abs/{key}v{version}" rel="alternate" type="text/html"/>'
        "<summary>We study entity tracking.</summary>"
        '<category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>'
        f'<arxiv:primary_category term="cs.CL"/>{extra}'
        "<author><name>Ada Lovelace</name></author></entry></feed>"
    )


def hf_day(key: str, *, github: str | None = None, stars: int | None = None) -> str:
    [item] = json.loads((REAL / "hf_daily_papers_2026-08-21_indent2.json").read_text())[:1]
    item["paper"]["id"] = key
    item["paper"].pop("githubRepo", None)
    item["paper"].pop("githubStars", None)
    if github:
        item["paper"]["githubRepo"] = github
        item["paper"]["githubStars"] = stars
    return json.dumps([item])


def alerts(world: World) -> list[str]:
    return [" ".join(f["value"] for e in m.embeds for f in e.get("fields", [])
                     if f["name"] == "Updates to your bookmarks")
            for m in world.fake.dm_messages(world.member)]


async def test_each_alert_on_a_saved_paper_comes_once_in_the_daily_dm(world: World) -> None:
    key = listing_keys(CL, "new")[0]
    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.serve_feed("/api/query", api_answer(key, 1), content_type="application/atom+xml")
    world.serve_feed("/api/daily_papers", hf_day(key), content_type="application/json")
    clock = Clock(datetime(2026, 8, 21, 6, 0, tzinfo=UTC))
    fast_sends(world.fake)
    async with world.run_bot(clock=clock) as bot:
        await bot.poll_feeds()
        cards = await post_digest(world, max_papers=1)
        await world.fake.react(world.member, cards[0].channel_id, cards[0], BOOKMARK_EMOJI)

        async def saved() -> bool:
            return [p.key for p, _ in await bot.store.list_bookmarks(world.member.id)] == [key]

        await until(saved)
        assert alerts(world) == []

        # Day 2: arXiv has v2, camera-ready, published in a journal.
        world.feeds.serve("/api/query", api_answer(key, 2, comment="Camera-ready, ACL 2026, 12 pages",
                                                   journal="Proc. ACL 2026"),
                          content_type="application/atom+xml")
        clock.now += timedelta(days=1)
        await bot.poll_feeds(force=True)
        [first] = alerts(world)
        assert "new version v1 → v2" in first
        assert "Camera-ready, ACL 2026, 12 pages" in first
        assert "published in Proc. ACL 2026" in first
        assert "code on Hugging Face" not in first

        # Day 3: Hugging Face now links the code. The version alert is not repeated.
        world.feeds.serve("/api/daily_papers", hf_day(key, github="https://github.com/lab/tracker", stars=42),
                          content_type="application/json")
        clock.now += timedelta(days=1)
        await bot.poll_feeds(force=True)
        first_again, second = alerts(world)
        assert first_again == first
        assert "code on Hugging Face: [lab/tracker](https://github.com/lab/tracker) ★ 42" in second
        assert "new version" not in second and "published" not in second

        # Day 4: the same feeds again: nothing new to tell.
        clock.now += timedelta(days=1)
        await bot.poll_feeds(force=True)
        assert len(world.fake.dm_messages(world.member)) == 2


def test_alert_lines_are_escaped_and_bounded() -> None:
    paper = StoredPaper(key="2608.00001", title="A *bold* claim " + "x" * 400, core_source=FeedKind.ARXIV_API,
                        abs_url="https://arxiv.org/abs/2608.00001", comment="@everyone " + "y" * 500,
                        github_stars=3)
    for kind, old, new in (("version", "v1", "v2"), ("doi", None, "10.1/" + "z" * 300),
                           ("journal_ref", None, "J. " + "q" * 300), ("code", None, "https://github.com/a/b")):
        line = describe_update(QueuedUpdate(paper, kind, old, new, 1))
        assert len(line) < 400, kind
        assert "*bold*" not in line and "@everyone" not in line
