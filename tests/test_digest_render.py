"""Digest layout, pure: the real 1,101-item day, hostile titles, limits, empty days, DST."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.model import BOOKMARK_EMOJI, DigestConfig, DigestPlan, EmptyDays
from bot.digest.render import (
    SourceProblem,
    build_plan,
    embed_length,
    limit_problems,
    more_page,
    paper_embed,
)
from bot.digest.schedule import missed_run_date, next_fire_after, run_date_for, trigger_for
from bot.digest.select import DigestEntry, rank_entries
from bot.merge import StoredPaper, merge
from bot.models import AnnounceType, FeedKind
from bot.present import text_length
from bot.sources import parse_feed

BIG = "arxiv_rss_cs.LG_2026-05-12_1101items.xml"


def config(**overrides: object) -> DigestConfig:
    values: dict = {"guild_id": 1, "channel_id": 2, "categories": ["cs.LG"], "post_time": "09:00",
                    "timezone": "Europe/Berlin", "id": 7}
    values.update(overrides)
    return DigestConfig(**values)


def day_entries(real_fixture, name: str = BIG) -> list[DigestEntry]:
    parsed = parse_feed(real_fixture(name))
    entries = []
    for position, record in enumerate(parsed.papers):
        if record.announce_type in (AnnounceType.NEW, AnnounceType.CROSS):
            entries.append(DigestEntry(merge(None, record).paper, record.announce_type, position))
    return entries


def test_the_1101_item_day_becomes_a_capped_digest_within_limits(real_fixture) -> None:
    entries = day_entries(real_fixture)
    assert len(entries) == 485 + 248
    plan = build_plan(config(max_papers=25), run_id=3, run_date=date(2026, 5, 13),
                      ranked=rank_entries(entries), day=date(2026, 5, 12))
    kinds = [m.kind for m in plan.messages]
    assert kinds == ["overview"] + ["paper"] * 25 + ["more"]
    assert plan.paper_count == 733
    assert len(plan.extra_keys) == 733 - 25
    for message in plan.messages:
        assert limit_problems(message.content, message.embeds, message.buttons) == [], message.seq
    overview = plan.messages[0].embeds[0]
    assert "**733 papers** (485 new, 248 cross-listed)" in overview["description"]
    assert "Tuesday 12 May 2026" in overview["title"]
    assert all(m.reaction == BOOKMARK_EMOJI for m in plan.messages if m.kind == "paper")
    assert all(m.target == "thread" for m in plan.messages[1:])
    assert plan.thread_name and text_length(plan.thread_name) <= 100
    # Announcement order is kept when nothing else ranks papers: the listing's first new paper leads.
    assert plan.messages[1].paper_key == entries[0].paper.key
    more = plan.messages[-1]
    assert "708 more" in (more.content or "")
    assert more.buttons[0].custom_id == "pb:more:3:0"


def test_every_paper_of_the_big_day_renders_within_limits(real_fixture) -> None:
    """Not just the top 25: any paper could be first on some server's digest."""
    for entry in day_entries(real_fixture):
        embed = paper_embed(entry.paper, entry.announce_type, footer="paperbot digest #1 · 1/1")
        assert limit_problems(None, [embed]) == [], entry.paper.key


def _paper(**overrides: object) -> StoredPaper:
    values: dict = {"key": "2605.00001", "title": "A Title", "core_source": FeedKind.ARXIV_RSS,
                    "authors": ["Ada Lovelace"], "abstract": "Abstract.", "categories": ["cs.LG"],
                    "abs_url": "https://arxiv.org/abs/2605.00001", "pdf_url": "https://arxiv.org/pdf/2605.00001"}
    values.update(overrides)
    return StoredPaper(**values)


def test_hostile_titles_are_shown_literally_and_ping_nobody() -> None:
    evil = "@everyone free **nitro** [click](https://evil.example) `x` <@123456789012345678> ~~s~~"
    paper = _paper(title=evil, authors=["@here Mallory"])
    embed = paper_embed(paper)
    assert "@everyone" not in embed["title"]
    assert "\\*\\*nitro\\*\\*" in embed["title"]
    assert "\\[click\\](https://evil.example)" in embed["title"]
    assert "@here" not in embed["description"]
    plan = build_plan(config(), run_id=1, run_date=date(2026, 5, 13),
                      ranked=[DigestEntry(paper, AnnounceType.NEW, 0)], day=None)
    overview = plan.messages[0].embeds[0]["description"]
    # The title is a link whose label cannot close early: its ] and ( are escaped.
    assert "(https://arxiv.org/abs/2605.00001)" in overview
    assert re.search(r"(?<!\\)\]\(https://evil", overview) is None


def test_very_long_fields_are_cut_whole_and_fit() -> None:
    paper = _paper(
        title="Deep " * 600,
        authors=[f"Author Number{i} Surname" for i in range(500)],
        abstract=("word " * 3000) + "🧑‍🔬" * 50,
        hf_ai_summary=None,
        categories=["cs.LG", *[f"cs.{c}" for c in ("AI", "CL", "CV", "NE", "RO", "IR", "DS")]],
        code_url="https://github.com/" + "x" * 300,
        journal_ref="J. " * 400,
    )
    embed = paper_embed(paper, footer="f" * 3000)
    assert limit_problems(None, [embed]) == []
    assert embed["title"].endswith("…")
    assert "et al." in embed["description"]


@pytest.mark.parametrize("text", ["e\u0301" * 400, "🧑‍🔬" * 300, "한국어 " * 300, "a" * 5000])
def test_cuts_never_split_a_character(text: str) -> None:
    embed = paper_embed(_paper(title=text, abstract=text))
    for part in (embed["title"], embed["description"]):
        assert "\ufffd" not in part
        part.encode("utf-16-le")  # no lone surrogate
        assert not part.rstrip("…").endswith("\u200d")
        assert not (part.rstrip("…") and part.rstrip("…")[-1] == "\u0301" and part.rstrip("…")[-2:-1] != "e")
    assert limit_problems(None, [embed]) == []


@pytest.mark.parametrize(
    ("setting", "run_date", "expect_line"),
    [
        (EmptyDays.AUTO, date(2026, 8, 15), False),  # Saturday
        (EmptyDays.AUTO, date(2026, 11, 26), True),  # Thanksgiving, a weekday holiday
        (EmptyDays.NEVER, date(2026, 11, 26), False),
        (EmptyDays.ALWAYS, date(2026, 8, 16), True),  # Sunday
    ],
)
def test_empty_days_are_honest(setting: EmptyDays, run_date: date, expect_line: bool) -> None:
    plan = build_plan(config(empty_days=setting), run_id=1, run_date=run_date, ranked=[], day=None)
    assert plan.is_empty
    assert bool(plan.messages) == expect_line
    if expect_line:
        assert plan.messages[0].target == "channel"
        assert "No new papers" in (plan.messages[0].content or "")


def test_a_failing_source_is_named_on_an_empty_day_and_in_a_digest() -> None:
    problem = SourceProblem("arXiv cs.LG", datetime(2026, 5, 12, tzinfo=UTC), "HTTP 503: Rate exceeded.")
    empty = build_plan(config(empty_days=EmptyDays.NEVER), run_id=1, run_date=date(2026, 8, 15),
                       ranked=[], day=None, problems=[problem])
    assert "arXiv cs.LG" in (empty.messages[0].content or "")
    assert "Rate exceeded" in (empty.messages[0].content or "")
    full = build_plan(config(), run_id=1, run_date=date(2026, 5, 13),
                      ranked=[DigestEntry(_paper(), AnnounceType.NEW, 0)], day=None, problems=[problem])
    field = full.messages[0].embeds[0]["fields"][0]
    assert field["name"] == "Missing sources"
    assert "arXiv cs.LG" in field["value"]


def test_a_plan_survives_being_stored(real_fixture) -> None:
    entries = day_entries(real_fixture, "arxiv_rss_cs.CL_2026-08-20_141items.xml")
    plan = build_plan(config(categories=["cs.CL"]), run_id=9, run_date=date(2026, 8, 21),
                      ranked=rank_entries(entries), day=date(2026, 8, 20))
    again = DigestPlan.from_json(plan.to_json())
    assert again == plan


def test_hugging_face_upvotes_rank_first_then_announcement_order() -> None:
    a, b, c = (_paper(key=k) for k in ("1", "2", "3"))
    b.hf_upvotes = 5
    c.hf_upvotes = 50
    ranked = rank_entries([DigestEntry(a, AnnounceType.NEW, 0), DigestEntry(b, AnnounceType.NEW, 1),
                           DigestEntry(c, AnnounceType.CROSS, 2), DigestEntry(a, None, 3)])
    assert [e.paper.key for e in ranked] == ["3", "2", "1"]


def test_more_pages_fit(real_fixture) -> None:
    papers = [e.paper for e in day_entries(real_fixture)[:10]]
    page = more_page(papers, offset=20, total=708)
    assert page["title"] == "More papers (21–30 of 708)"
    assert embed_length(page) <= 6000
    assert limit_problems(None, [page]) == []


# ---------------------------------------------------------------------- when digests run


def test_a_dst_spring_forward_day_still_posts_at_local_time() -> None:
    digest = config(timezone="America/New_York", post_time="09:00")
    before = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # Saturday afternoon, EST
    first = next_fire_after(digest, before)
    second = trigger_for(digest).get_next_fire_time(first, first + timedelta(seconds=1))
    assert (first.date(), first.hour, first.utcoffset()) == (date(2026, 3, 8), 9, timedelta(hours=-4))
    assert second is not None
    assert (second.hour, second.astimezone(UTC).hour) == (9, 13)


def test_a_dst_fall_back_day_posts_once_at_local_time() -> None:
    digest = config(timezone="Europe/Berlin", post_time="09:00")
    fire = next_fire_after(digest, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    after = trigger_for(digest).get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert fire.astimezone(UTC) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET (was CEST)
    assert after is not None and after.astimezone(ZoneInfo("Europe/Berlin")).hour == 9


def test_the_repeated_hour_fires_twice_but_is_one_local_day() -> None:
    """01:30 happens twice in New York on 1 Nov 2026; both fires belong to the same run date."""
    digest = config(timezone="America/New_York", post_time="01:30")
    first = next_fire_after(digest, datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    second = trigger_for(digest).get_next_fire_time(first, first + timedelta(seconds=1))
    assert second is not None
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert run_date_for(digest, first) == run_date_for(digest, second) == date(2026, 11, 1)


def test_a_job_starting_late_after_midnight_keeps_its_day() -> None:
    digest = config(timezone="UTC", post_time="23:59:50")
    late = datetime(2026, 5, 13, 0, 0, 20, tzinfo=UTC)
    assert run_date_for(digest, late) == date(2026, 5, 12)


def test_a_missed_digest_is_caught_up_only_within_the_grace() -> None:
    digest = config(timezone="Europe/Berlin", post_time="09:00")
    grace = timedelta(hours=6)
    assert missed_run_date(digest, datetime(2026, 5, 12, 9, 30, tzinfo=UTC), grace) == date(2026, 5, 12)
    assert missed_run_date(digest, datetime(2026, 5, 12, 20, 0, tzinfo=UTC), grace) is None
