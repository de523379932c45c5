"""Any other RSS/Atom feed, via feedparser; arXiv links merge with the arXiv record."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.models import AnnounceType, FeedFormatError, FeedKind
from bot.sources import parse_feed

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"


def synthetic(name: str) -> bytes:
    return (SYNTHETIC / name).read_bytes()


def rss_key(basis: str) -> str:
    return "rss:" + hashlib.sha1(basis.encode()).hexdigest()[:16]


def test_journal_rss() -> None:
    feed = parse_feed(synthetic("generic_journal_rss_synthetic.xml"))
    assert feed.kind is FeedKind.RSS
    assert feed.title == "Example Lab & Friends: Reading List"
    assert feed.feed_date is None
    assert [p.key for p in feed.papers] == [
        "1706.03762",
        "2406.09414",
        rss_key("tag:journal.example.org,2026:5678"),
        rss_key("https://lab.example.org/notes/42"),
    ]
    assert all(p.source is FeedKind.RSS for p in feed.papers)


def test_item_linking_arxiv_pdf_is_keyed_by_arxiv_id() -> None:
    paper = parse_feed(synthetic("generic_journal_rss_synthetic.xml")).papers[0]
    assert paper.arxiv_id == "1706.03762" and paper.version == 7
    assert paper.abs_url == "https://arxiv.org/abs/1706.03762"
    assert paper.pdf_url == "https://arxiv.org/pdf/1706.03762"
    assert paper.title == "Attention Is All You Need"
    # one dc:creator string joined with commas and a final "and"
    assert paper.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit"]
    assert paper.abstract == (
        "The dominant sequence transduction models are based on complex recurrent networks & CNNs."
    )
    assert paper.categories == ["cs.CL", "cs.LG"]
    assert paper.submitted == datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC)
    assert paper.announced == date(2017, 6, 12)


def test_item_linking_hf_paper_page_is_keyed_by_arxiv_id() -> None:
    paper = parse_feed(synthetic("generic_journal_rss_synthetic.xml")).papers[1]
    assert paper.key == paper.arxiv_id == "2406.09414"
    assert paper.hf_url == "https://huggingface.co/papers/2406.09414"
    assert paper.abs_url == "https://arxiv.org/abs/2406.09414"


def test_plain_journal_item() -> None:
    paper = parse_feed(synthetic("generic_journal_rss_synthetic.xml")).papers[2]
    assert paper.arxiv_id is None
    assert paper.title == "A field study of Drosophila sleep"
    assert paper.abstract == "Flies sleep. We show that H2O matters."
    assert paper.authors == ["Smith, J.", "Doe, A.", "van der Berg, K."]
    assert paper.doi == "10.1234/example.5678"
    assert paper.abs_url == "https://journal.example.org/articles/10.1234/example.5678"
    assert paper.pdf_url == "https://journal.example.org/articles/5678.pdf"
    assert paper.submitted == datetime(2026, 3, 3, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert paper.announced == date(2026, 3, 3)


def test_link_only_item_keyed_by_link() -> None:
    paper = parse_feed(synthetic("generic_journal_rss_synthetic.xml")).papers[3]
    assert paper.title == "Untitled link-only note"
    assert paper.abstract == "" and paper.authors == [] and paper.announced is None


def test_keys_are_stable_across_parses() -> None:
    body = synthetic("generic_journal_rss_synthetic.xml")
    assert [p.key for p in parse_feed(body).papers] == [p.key for p in parse_feed(body).papers]


def test_atom_blog() -> None:
    feed = parse_feed(synthetic("generic_blog_atom_synthetic.xml"))
    assert feed.kind is FeedKind.RSS
    assert feed.title == "Example ML Blog"
    post, reading = feed.papers
    assert post.key == rss_key("tag:blog.example.org,2026:post-7")
    assert post.title == "Why softmax saturates"
    assert post.authors == ["Grace Hopper", "Alan Turing"]
    assert post.abstract == "A short note."
    assert post.categories == ["ml"]
    assert post.announced == date(2026, 8, 20)  # its own offset, not UTC
    assert post.updated == datetime(2026, 8, 21, 9, 0, tzinfo=UTC)
    # a related link to export.arxiv.org keys the post by the paper it discusses
    assert reading.key == "2605.08104" and reading.version == 2
    assert reading.title == r"Reading: MC$^2$ for $\ell_p$ balls"
    assert reading.authors == ["Smith, John"]  # one Atom author, "Last, First"
    assert reading.abstract == "Notes on the paper."


def test_empty_generic_feed() -> None:
    feed = parse_feed(synthetic("generic_empty_rss_synthetic.xml"))
    assert feed.kind is FeedKind.RSS
    assert feed.papers == []
    assert feed.title == "Quiet Journal: Latest Articles"


def test_arxiv_rss_through_feedparser_agrees_on_identity(real_fixture) -> None:
    body = real_fixture("arxiv_rss_cs.CL_2026-08-20_141items.xml")
    generic = parse_feed(body, FeedKind.RSS)
    native = parse_feed(body)
    assert [p.key for p in generic.papers] == [p.key for p in native.papers]
    first = generic.papers[0]
    assert first.announce_type is AnnounceType.NEW
    assert first.abstract.startswith("Although context windows have expanded significantly")
    assert first.authors == native.papers[0].authors


def test_legacy_rdf_through_feedparser_strips_creator_links(real_fixture) -> None:
    feed = parse_feed(real_fixture("arxiv_rss1_rdf_cs.LG_2024-01-29_196items.xml"), FeedKind.RSS)
    assert len(feed.papers) == 196
    assert feed.papers[0].authors == [
        "Abu Hanif Md. Ripon",
        "Muhammad Ahsan Ullah",
        "Arindam Kumar Paul",
        "Md. Mortaza Morshed",
    ]


def test_body_that_is_a_file_path_is_not_opened(tmp_path) -> None:
    # feedparser.parse(bytes) would open() the bytes as a file name; we must not.
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(synthetic("generic_journal_rss_synthetic.xml"))
    with pytest.raises(FeedFormatError):
        parse_feed(str(feed_file).encode(), FeedKind.RSS)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Hi</title></head><body><p>nope</p></body></html>",
        b"Rate exceeded.",
        b"",
        b"<rss><channel><title>cut",
    ],
)
def test_not_a_feed_via_feedparser(body: bytes) -> None:
    with pytest.raises(FeedFormatError):
        parse_feed(body, FeedKind.RSS)
