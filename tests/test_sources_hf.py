"""Hugging Face Daily Papers: four schema generations of the same JSON list."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from bot.models import FeedFormatError, FeedKind, PaperRecord, ParsedFeed
from bot.sources import parse_feed

HF_2024_03 = "hf_daily_papers_2024-03-21_raw_compact.json"
HF_2024_06 = "hf_daily_papers_2024-06-14_indent4.json"
HF_2025_09 = "hf_daily_papers_2025-09-30_indent2_50items.json"
HF_2026_08 = "hf_daily_papers_2026-08-21_indent2.json"


def by_key(feed: ParsedFeed) -> dict[str, PaperRecord]:
    return {p.key: p for p in feed.papers}


@pytest.mark.parametrize(
    ("name", "count", "day"),
    [
        (HF_2024_03, 18, date(2024, 3, 21)),
        (HF_2024_06, 28, date(2024, 6, 14)),
        (HF_2025_09, 50, date(2025, 9, 30)),
        (HF_2026_08, 17, date(2026, 8, 21)),
    ],
)
def test_hf_counts_and_day(real_fixture, name, count, day) -> None:
    feed = parse_feed(real_fixture(name))
    assert feed.kind is FeedKind.HF_DAILY
    assert len(feed.papers) == count
    assert feed.skipped_items == 0
    assert feed.feed_date == day
    for paper in feed.papers:
        assert paper.source is FeedKind.HF_DAILY
        assert paper.key == paper.arxiv_id
        assert paper.hf_date == day
        assert paper.announce_type is None
        assert paper.hf_url == f"https://huggingface.co/papers/{paper.key}"
        assert paper.abs_url == f"https://arxiv.org/abs/{paper.key}"
        assert paper.pdf_url == f"https://arxiv.org/pdf/{paper.key}"
        assert paper.hf_upvotes is not None and paper.hf_comments is not None
        assert paper.title and paper.abstract and paper.authors
        assert "\n" not in paper.title


def test_early_schema(real_fixture) -> None:
    feed = parse_feed(real_fixture(HF_2024_03))
    first = feed.papers[0]
    assert first.key == "2403.13248"
    assert first.title == "Mora: Enabling Generalist Video Generation via A Multi-Agent Framework"
    assert first.authors == [
        "Zhengqing Yuan",
        "Ruoxi Chen",
        "Zhaoxu Li",
        "Haolong Jia",
        "Lifang He",
        "Chi Wang",
        "Lichao Sun",
    ]
    assert first.hf_upvotes == 47
    assert first.hf_comments == 3
    assert first.hf_ai_summary is None and first.hf_ai_keywords == []
    assert first.github_repo is None and first.code_url is None and first.github_stars is None
    assert first.submitted == datetime(2024, 3, 20, 2, 19, 21, tzinfo=UTC)
    # an older arXiv paper featured that day: hf_date is the Daily Papers day
    old = by_key(feed)["2401.13923"]
    assert old.title == "Towards 3D Molecule-Text Interpretation in Language Models"
    assert old.hf_date == date(2024, 3, 21)
    assert old.submitted == datetime(2024, 1, 25, 3, 42, tzinfo=UTC)


def test_many_authors(real_fixture) -> None:
    papers = by_key(parse_feed(real_fixture(HF_2024_06)))
    assert papers["2406.09414"].title == "Depth Anything V2"
    assert papers["2406.09414"].hf_upvotes == 45
    cvqa = papers["2406.05967"]
    assert cvqa.title == "CVQA: Culturally-diverse Multilingual Visual Question Answering Benchmark"
    assert len(cvqa.authors) == 75


def test_2025_schema_ai_fields_hidden_author_and_day(real_fixture) -> None:
    feed = parse_feed(real_fixture(HF_2025_09))
    papers = by_key(feed)
    sla = papers["2509.24006"]
    # hard-wrapped upstream, one line here
    assert (
        sla.title == "SLA: Beyond Sparsity in Diffusion Transformers via Fine-Tunable Sparse-Linear Attention"
    )
    assert sla.hf_upvotes == 78
    assert sla.hf_comments == 2
    assert sla.hf_ai_summary is not None
    assert sla.hf_ai_summary.startswith(
        "SLA, a trainable attention method combining sparse and linear attention"
    )
    assert sla.hf_ai_keywords[:3] == ["Diffusion Transformer", "attention latency", "sequence length"]
    # top-level publishedAt (2025-09-28) is the arXiv time here, not the Daily Papers day
    assert sla.hf_date == date(2025, 9, 30)
    assert sla.submitted == datetime(2025, 9, 28, 17, 58, 59, tzinfo=UTC)
    rema = papers["2509.22518"]
    assert "Bo Li" in rema.authors  # hidden: true in the JSON, still an author
    assert len(rema.authors) == 8
    repo = papers["2509.24897"]
    assert repo.github_repo == repo.code_url == "https://github.com/FrankYang-17/RealUnify"
    assert repo.github_stars == 2
    assert sum(p.github_repo is not None for p in feed.papers) == 25
    assert sum(p.project_url is not None for p in feed.papers) == 16
    assert all(p.hf_ai_summary for p in feed.papers)


def test_2026_schema(real_fixture) -> None:
    feed = parse_feed(real_fixture(HF_2026_08))
    top = feed.papers[0]
    assert top.key == "2608.19880"
    assert top.title == "EnvHarness: Awakening Static Worlds for Agent Learning"
    assert top.hf_upvotes == 163
    assert top.hf_comments == 1
    assert top.github_repo == "https://github.com/google-research/envharness"
    assert top.github_stars == 8
    assert top.project_url == "https://envharness.com/"
    assert top.authors[:2] == ["Chengsong Huang", "Zifeng Wang"]
    assert len(top.authors) == 17
    no_summary = by_key(feed)["2608.19861"]
    assert no_summary.hf_ai_summary is None  # ai_summary missing on 1 of 17 items
    assert no_summary.github_stars == 0  # zero is a value, not "absent"
    assert sum(p.hf_ai_summary is None for p in feed.papers) == 1
    assert sum(p.github_stars is not None for p in feed.papers) == 12


def test_empty_day_is_an_empty_feed() -> None:
    feed = parse_feed(b"[]")
    assert feed.kind is FeedKind.HF_DAILY
    assert feed.papers == [] and feed.feed_date is None


def test_fields_fall_back_to_top_level() -> None:
    body = json.dumps(
        [
            {
                "paper": {"id": "2405.12345", "title": "T", "authors": [{"name": "A B"}]},
                "publishedAt": "2024-05-21T01:00:00.000Z",
                "summary": "Top-level summary.",
                "upvotes": 5,
                "numComments": 2,
                "githubRepo": "https://github.com/x/y",
            }
        ]
    ).encode()
    paper = parse_feed(body).papers[0]
    assert paper.abstract == "Top-level summary."
    assert paper.hf_upvotes == 5 and paper.hf_comments == 2
    assert paper.github_repo == "https://github.com/x/y"
    assert paper.hf_date == date(2024, 5, 21)


def test_odd_items_are_skipped_not_fatal() -> None:
    body = json.dumps(
        [
            {"paper": {"id": "2405.12345", "title": "Good", "upvotes": True, "authors": "x"}},
            {"paper": {"title": "no id"}},
            "not an object",
            {"paper": {"id": "not-arxiv", "title": "Kept with an hf key"}},
        ]
    ).encode()
    feed = parse_feed(body)
    assert [p.key for p in feed.papers] == ["2405.12345", "hf:not-arxiv"]
    assert feed.papers[0].hf_upvotes is None  # a bool is not a count
    assert feed.papers[0].authors == []
    assert feed.papers[1].arxiv_id is None and feed.papers[1].abs_url is None
    assert feed.skipped_items == 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "Invalid date"}',
        b"[1, 2, 3]",
        b'[{"foo": 1}]',
        b"[{",
        b"[" * 100_000,
        b'["\xff\xfe"]',
    ],
)
def test_json_that_is_not_the_list_raises(body: bytes) -> None:
    with pytest.raises(FeedFormatError):
        parse_feed(body, FeedKind.HF_DAILY)
    with pytest.raises(FeedFormatError):
        parse_feed(body)
