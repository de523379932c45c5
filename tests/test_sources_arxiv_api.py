"""arXiv API responses, old and new generation, plus its error shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import FeedFormatError, FeedKind, PaperRecord, ParsedFeed
from bot.sources import parse_feed

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"

NEW_ELECTRON = "arxiv_api_NEWformat_all-electron_2025-11-21.xml"
NEW_CS_AI = "arxiv_api_NEWformat_cs.AI_max20_2026-01-04.xml"
NEW_NO_REL = "arxiv_api_NEWformat_electron-AND-proton_2025-11-11_links-without-rel.xml"
NEW_EMPTY = "arxiv_api_NEWformat_id_list_nonexistent_2025-11-11.xml"
OLD_E_P = "arxiv_api_OLDformat_electron-AND-proton_2025-08-20.xml"
OLD_EMPTY = "arxiv_api_OLDformat_id_list_nonexistent_2025-08-20.xml"
OLD_MISSING = "arxiv_api_OLDformat_id_list_with-missing-id_2025-08-24.xml"


def by_key(feed: ParsedFeed) -> dict[str, PaperRecord]:
    return {p.key: p for p in feed.papers}


@pytest.mark.parametrize(
    ("name", "papers", "total", "skipped"),
    [
        (NEW_ELECTRON, 10, 175141, 0),
        (NEW_CS_AI, 20, 156470, 0),
        (NEW_NO_REL, 10, 7432, 0),
        (NEW_EMPTY, 0, 0, 0),
        (OLD_E_P, 10, 7370, 0),
        (OLD_EMPTY, 0, 1, 0),  # old API: totalResults 1 and no entry
        # The capture has four <entry>: one real paper and three phantoms (no id,
        # title or summary; term="" categories). SOURCES.md says "4 (1 phantom)".
        (OLD_MISSING, 1, 4, 3),
    ],
)
def test_api_counts(real_fixture, name, papers, total, skipped) -> None:
    feed = parse_feed(real_fixture(name))
    assert feed.kind is FeedKind.ARXIV_API
    assert len(feed.papers) == papers
    assert feed.total_results == total
    assert feed.skipped_items == skipped
    assert feed.feed_date is None  # a query result is not a dated listing
    for paper in feed.papers:
        assert paper.source is FeedKind.ARXIV_API
        assert paper.announce_type is None and paper.announced is None
        assert paper.title and paper.abstract and paper.authors
        assert paper.submitted is not None and paper.submitted.tzinfo is not None
        assert paper.updated is not None and paper.updated >= paper.submitted
        assert paper.abs_url == f"https://arxiv.org/abs/{paper.key}"
        assert paper.pdf_url == f"https://arxiv.org/pdf/{paper.key}"


def test_old_format_hard_wrapped_title_and_per_element_namespaces(real_fixture) -> None:
    feed = parse_feed(real_fixture(OLD_E_P))
    assert feed.title == (
        "ArXiv Query: search_query=all:electron AND all:proton&id_list=&start=0&max_results=10"
    )
    papers = by_key(feed)
    first = feed.papers[0]
    assert first.key == "astro-ph/9904306" and first.version == 1
    assert first.title == "Improved scenario of baryogenesis"
    assert first.authors == ["D. L. Khokhlov"]
    assert first.comment == "3 pages LaTeX"
    assert first.categories == ["astro-ph"]
    assert first.abstract.startswith("It is assumed that, in the primordial plasma, at the temperatures")
    assert "\n" not in first.abstract
    wrapped = papers["hep-ph/9411242"]
    assert wrapped.title == (
        "Proton-ring and Electron-linac Collider (PRELC) as a (first) "
        "TeV-rangeelectron-proton or photon-proton collider"
    )
    # name only: the arxiv:affiliation next to it is not part of the author
    assert wrapped.authors == ["Raimo Vuopionperä"]
    assert "$10^{31}$ to $10^{32}$" in wrapped.abstract
    assert wrapped.submitted == datetime(1994, 11, 8, 11, 19, 41, tzinfo=UTC)


def test_new_format_fields(real_fixture) -> None:
    feed = parse_feed(real_fixture(NEW_ELECTRON))
    assert feed.title == "arXiv Query: search_query=all:electron&id_list=&start=0&max_results=10"
    papers = by_key(feed)
    cuprates = papers["cond-mat/0011267"]
    assert cuprates.title == "The electronic structure of cuprates from high energy spectroscopy"
    assert len(cuprates.authors) == 8
    assert cuprates.authors[0] == "Mark S. Golden"
    assert cuprates.categories == ["cond-mat.supr-con", "cond-mat.str-el"]
    assert cuprates.journal_ref == "J. Electron Spectr. Relat. Phenom. 117-118, 203 (2001)"
    assert cuprates.doi is None
    with_doi = papers["1401.3078"]
    assert with_doi.version == 2
    assert with_doi.doi == "10.1016/j.elspec.2014.01.005"
    assert with_doi.journal_ref == "J. Electron Spectrosc. Relat. Phenom. 195, 249 (2014)"
    assert sum(p.doi is not None for p in feed.papers) == 4
    assert sum(p.journal_ref is not None for p in feed.papers) == 10


def test_links_without_rel_or_title(real_fixture) -> None:
    # 2025-11-11 capture: <link href=".../abs/..."/> and <link href=".../pdf/..."/> only.
    feed = parse_feed(real_fixture(NEW_NO_REL))
    first = feed.papers[0]
    assert first.key == "nucl-ex/0408020"
    assert first.abs_url == "https://arxiv.org/abs/nucl-ex/0408020"
    assert first.pdf_url == "https://arxiv.org/pdf/nucl-ex/0408020"
    assert first.title == (
        "Two-photon exchange and elastic scattering of electrons/positrons on the proton. "
        "(Proposal for an experiment at VEPP-3)"
    )
    assert len(first.authors) == 9 and first.authors[-1] == "H. de Vries"
    assert first.categories == ["nucl-ex", "hep-ph"]
    assert first.submitted == datetime(2004, 8, 18, 23, 13, 32, tzinfo=UTC)
    assert first.updated == datetime(2005, 9, 17, 15, 4, 24, tzinfo=UTC)
    cern = by_key(feed)["1309.4668"]
    assert cern.doi == "10.5170/CERN-2013-002.237"
    assert cern.journal_ref == "CERN Yellow Report CERN-2013-002, pp.237-240"
    assert cern.authors == ["A. Pertica", "S. J. Payne"]


def test_relevance_ordered_results_with_affiliations_and_unicode(real_fixture) -> None:
    feed = parse_feed(real_fixture(NEW_CS_AI))
    assert feed.papers[0].key == "cs/9909009"
    assert feed.papers[0].title == "The Rough Guide to Constraint Propagation"
    papers = by_key(feed)
    spanish = papers["1309.2351"]
    assert spanish.title == (
        "Elementos de ingeniería de explotación de la información aplicados a la "
        "investigación tributaria fiscal"
    )
    assert spanish.authors == ["Rodrigo Lopez-Pablos"]
    assert "análise fiscal" in spanish.abstract
    assert papers["2511.16035"].authors == [
        "Kieron Kretschmar",
        "Walter Laurito",
        "Sharan Maiya",
        "Samuel Marks",
    ]
    assert papers["2507.10475"].authors == ["İsmail Tarım", "Aytuğ Onan"]
    # its own arXiv DOI, and a journal_ref that is just its arXiv id
    assert papers["2011.02565"].doi == "10.48550/arXiv.2011.02565"
    assert papers["2011.02565"].journal_ref == "arXiv:2011.02565 [cs.AI]"
    assert papers["2501.09029"].categories == ["cs.CR", "cs.AI"]


def test_phantom_entry_skipped_and_msc_class_dropped(real_fixture) -> None:
    feed = parse_feed(real_fixture(OLD_MISSING))
    assert [p.key for p in feed.papers] == ["2201.13452"]
    paper = feed.papers[0]
    assert paper.title == (
        "Asymptotic Analysis for a Nonlinear Reaction-Diffusion System Modeling an Infectious Disease"
    )
    assert paper.authors == ["Hong-Ming Yin", "Jun Zou"]
    assert paper.comment == "34 pages"
    # <category term="35"> is an MSC class, not an arXiv category
    assert paper.categories == ["math.AP"]


def test_api_error_entry_raises_with_arxiv_message() -> None:
    body = (SYNTHETIC / "arxiv_api_error_incorrect_id_synthetic.xml").read_bytes()
    with pytest.raises(FeedFormatError, match=r"incorrect id format for 1234\.12345v"):
        parse_feed(body)
    with pytest.raises(FeedFormatError, match="arXiv API error"):
        parse_feed(body, FeedKind.ARXIV_API)


@pytest.mark.parametrize(
    ("name", "snippet"),
    [
        ("arxiv_api_error_503_2026-01-08.html", "<title>503</title>"),
        ("arxiv_api_error_rate_exceeded_2026-01-08.txt", "Rate exceeded."),
    ],
)
@pytest.mark.parametrize("kind", [None, FeedKind.ARXIV_API, FeedKind.ARXIV_RSS, FeedKind.RSS])
def test_error_bodies_raise_feed_format_error(real_fixture, name, snippet, kind) -> None:
    with pytest.raises(FeedFormatError) as info:
        parse_feed(real_fixture(name), kind)
    assert snippet in str(info.value)  # the message shows what came back


def test_error_bodies_as_hf_kind(real_fixture) -> None:
    for name in ("arxiv_api_error_503_2026-01-08.html", "arxiv_api_error_rate_exceeded_2026-01-08.txt"):
        with pytest.raises(FeedFormatError, match="not JSON"):
            parse_feed(real_fixture(name), FeedKind.HF_DAILY)


def test_listing_passed_as_api_is_not_an_api_answer(real_fixture) -> None:
    with pytest.raises(FeedFormatError, match="expected an Atom <feed>, got <rss>"):
        parse_feed(real_fixture("arxiv_rss_cs.LG_EMPTY_weekend_2026-08-16.xml"), FeedKind.ARXIV_API)
