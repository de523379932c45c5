"""detect_kind: the body decides, URL and Content-Type only break ties."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import FeedFormatError, FeedKind
from bot.sources import detect_kind, parse_feed

REAL = Path(__file__).parent / "fixtures" / "real"
SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"

EXPECTED = {
    "arxiv_api_NEWformat_all-electron_2025-11-21.xml": FeedKind.ARXIV_API,
    "arxiv_api_NEWformat_cs.AI_max20_2026-01-04.xml": FeedKind.ARXIV_API,
    "arxiv_api_NEWformat_electron-AND-proton_2025-11-11_links-without-rel.xml": FeedKind.ARXIV_API,
    "arxiv_api_NEWformat_id_list_nonexistent_2025-11-11.xml": FeedKind.ARXIV_API,
    "arxiv_api_OLDformat_electron-AND-proton_2025-08-20.xml": FeedKind.ARXIV_API,
    "arxiv_api_OLDformat_id_list_nonexistent_2025-08-20.xml": FeedKind.ARXIV_API,
    "arxiv_api_OLDformat_id_list_with-missing-id_2025-08-24.xml": FeedKind.ARXIV_API,
    "arxiv_rss1_rdf_cs.AI_EMPTY_2023-07-04.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss1_rdf_cs.LG_2024-01-29_196items.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_cs.CL_2026-08-20_141items.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_cs.LG_2024-05-15_213items_null-rights.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_cs.LG_2026-05-12_1101items.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_cs.LG_EMPTY_holiday_2025-11-28.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_cs.LG_EMPTY_weekend_2026-08-16.xml": FeedKind.ARXIV_RSS,
    "arxiv_rss_physics_EMPTY_holiday_2025-12-31.xml": FeedKind.ARXIV_RSS,
    "hf_daily_papers_2024-03-21_raw_compact.json": FeedKind.HF_DAILY,
    "hf_daily_papers_2024-06-14_indent4.json": FeedKind.HF_DAILY,
    "hf_daily_papers_2025-09-30_indent2_50items.json": FeedKind.HF_DAILY,
    "hf_daily_papers_2026-08-21_indent2.json": FeedKind.HF_DAILY,
}
SYNTHETIC_EXPECTED = {
    "arxiv_atom_cs.CL_2026-08-20_synthetic.xml": FeedKind.ARXIV_RSS,
    "arxiv_atom_cs.LG_EMPTY_2026-08-16_synthetic.xml": FeedKind.ARXIV_RSS,
    "arxiv_api_error_incorrect_id_synthetic.xml": FeedKind.ARXIV_API,
    "generic_journal_rss_synthetic.xml": FeedKind.RSS,
    "generic_blog_atom_synthetic.xml": FeedKind.RSS,
    "generic_empty_rss_synthetic.xml": FeedKind.RSS,
}


def test_every_real_fixture_is_covered() -> None:
    on_disk = {p.name for p in REAL.iterdir() if p.suffix in (".xml", ".json")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize(("name", "kind"), list(EXPECTED.items()))
def test_real_fixtures_detected(name: str, kind: FeedKind) -> None:
    body = (REAL / name).read_bytes()
    assert detect_kind(body) is kind
    # a misleading URL or Content-Type does not override what the body says
    assert detect_kind(body, "text/html", "https://example.com/feed") is kind
    assert parse_feed(body, url="https://huggingface.co/api/daily_papers").kind is kind


@pytest.mark.parametrize(("name", "kind"), list(SYNTHETIC_EXPECTED.items()))
def test_synthetic_fixtures_detected(name: str, kind: FeedKind) -> None:
    assert detect_kind((SYNTHETIC / name).read_bytes()) is kind


def test_url_hint_breaks_tie_for_bare_feed() -> None:
    bare_atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>'
    assert detect_kind(bare_atom) is FeedKind.RSS
    assert detect_kind(bare_atom, url="http://export.arxiv.org/api/query?id_list=1") is FeedKind.ARXIV_API
    assert detect_kind(bare_atom, url="https://rss.arxiv.org/atom/cs.LG") is FeedKind.ARXIV_RSS
    bare_rss = b'<rss version="2.0"><channel><title>x</title></channel></rss>'
    assert detect_kind(bare_rss, url="https://rss.arxiv.org/rss/cs.LG") is FeedKind.ARXIV_RSS
    assert detect_kind(bare_rss, url="https://example.org/rss/cs.LG") is FeedKind.RSS


def test_leading_bom_whitespace_and_comments() -> None:
    body = (
        b"\xef\xbb\xbf\n  <!-- <html> --><?xml-stylesheet href='x'?>"
        + (REAL / "arxiv_rss_cs.LG_EMPTY_weekend_2026-08-16.xml").read_bytes().split(b"?>", 1)[1]
    )
    assert detect_kind(body) is FeedKind.ARXIV_RSS


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"  \n ", "empty body"),
        (b"Rate exceeded.", "neither XML nor JSON"),
        (b'{"error": "x"}', "JSON object"),
        ((REAL / "arxiv_api_error_503_2026-01-08.html").read_bytes(), "HTML page"),
        (b"<?xml version='1.0'?>", "without a root"),
    ],
)
def test_not_feeds_raise(body: bytes, reason: str) -> None:
    with pytest.raises(FeedFormatError, match=reason):
        detect_kind(body)
