"""arXiv daily listings: RSS 2.0 (real captures), legacy RSS 1.0/RDF (real), Atom (synthetic)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bot.models import AnnounceType, FeedKind, PaperRecord, ParsedFeed
from bot.sources import parse_feed

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"

LG_1101 = "arxiv_rss_cs.LG_2026-05-12_1101items.xml"
CL_141 = "arxiv_rss_cs.CL_2026-08-20_141items.xml"
LG_213 = "arxiv_rss_cs.LG_2024-05-15_213items_null-rights.xml"
CL_91 = "arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml"
RDF_196 = "arxiv_rss1_rdf_cs.LG_2024-01-29_196items.xml"


def by_key(feed: ParsedFeed) -> dict[str, PaperRecord]:
    return {p.key: p for p in feed.papers}


def announce_counts(feed: ParsedFeed) -> dict[str, int]:
    return dict(Counter(str(p.announce_type) for p in feed.papers))


@pytest.fixture
def lg_1101(real_fixture) -> ParsedFeed:
    return parse_feed(real_fixture(LG_1101))


# ------------------------------------------------------------------ counts, dates


@pytest.mark.parametrize(
    ("name", "total", "counts", "feed_date"),
    [
        (
            LG_1101,
            1101,
            {"new": 485, "cross": 248, "replace": 251, "replace-cross": 117},
            date(2026, 5, 12),
        ),
        (CL_141, 141, {"new": 72, "cross": 27, "replace": 27, "replace-cross": 15}, date(2026, 8, 20)),
        (LG_213, 213, {"new": 61, "cross": 55, "replace": 48, "replace-cross": 49}, date(2024, 5, 15)),
        (CL_91, 91, {"new": 41, "cross": 7, "replace": 35, "replace-cross": 8}, date(2024, 3, 4)),
        (RDF_196, 196, {"new": 30, "cross": 27, "replace": 67, "replace-cross": 72}, date(2024, 1, 29)),
    ],
)
def test_listing_counts_and_date(real_fixture, name, total, counts, feed_date) -> None:
    feed = parse_feed(real_fixture(name))
    assert feed.kind is FeedKind.ARXIV_RSS
    assert len(feed.papers) == total
    assert len({p.key for p in feed.papers}) == total
    assert feed.skipped_items == 0
    assert announce_counts(feed) == counts
    assert feed.feed_date == feed_date
    # every item is dated with the listing's day, whether or not it has its own pubDate
    assert {p.announced for p in feed.papers} == {feed_date}


@pytest.mark.parametrize(
    ("name", "feed_date", "title"),
    [
        ("arxiv_rss_cs.LG_EMPTY_weekend_2026-08-16.xml", date(2026, 8, 16), "cs.LG updates on arXiv.org"),
        ("arxiv_rss_cs.LG_EMPTY_holiday_2025-11-28.xml", date(2025, 11, 28), "cs.LG updates on arXiv.org"),
        (
            "arxiv_rss_physics_EMPTY_holiday_2025-12-31.xml",
            date(2025, 12, 31),
            "physics updates on arXiv.org",
        ),
        ("arxiv_rss1_rdf_cs.AI_EMPTY_2023-07-04.xml", date(2023, 7, 4), "cs.AI updates on arXiv.org"),
    ],
)
def test_empty_listing_is_a_feed_not_an_error(real_fixture, name, feed_date, title) -> None:
    feed = parse_feed(real_fixture(name))
    assert feed.kind is FeedKind.ARXIV_RSS
    assert feed.papers == []
    assert feed.feed_date == feed_date
    assert feed.title == title


def test_feed_date_is_channel_pubdate_not_late_last_build_date(lg_1101) -> None:
    # lastBuildDate is "Wed, 13 May 2026 02:12:57 +0000"; the listing is Tuesday's.
    assert lg_1101.feed_date == date(2026, 5, 12)


# ---------------------------------------------------------------- field values


def test_first_item_of_big_listing(lg_1101) -> None:
    paper = lg_1101.papers[0]
    assert paper.key == paper.arxiv_id == "2605.08098"
    assert paper.version == 1
    assert paper.title == (
        "Reinforcement learning for inverse structural design and rapid laser cutting of kirigami prototypes"
    )
    assert paper.authors == ["Milad Yazdani", "Shahriar Shalileh", "Dena Shahriari"]
    assert paper.categories == ["cs.LG"]
    assert paper.announce_type is AnnounceType.NEW
    assert paper.abstract.startswith("Kirigami is an increasingly useful fabrication method")
    assert paper.abstract.endswith("under hard geometric feasibility constraints.")
    assert "Announce Type" not in paper.abstract
    assert paper.abs_url == "https://arxiv.org/abs/2605.08098"
    assert paper.pdf_url == "https://arxiv.org/pdf/2605.08098"
    assert paper.source is FeedKind.ARXIV_RSS
    assert paper.submitted is None and paper.updated is None


def test_feed_order_is_kept(lg_1101) -> None:
    assert [p.key for p in lg_1101.papers[:3]] == ["2605.08098", "2605.08102", "2605.08104"]


@pytest.mark.parametrize(
    ("key", "title"),
    [
        ("2605.08104", "Distributional Reinforcement Learning via the Cramér Distance"),
        ("2605.09221", "The Pokémon Theorem and other Fairness Impossibility Results"),
        (
            "2605.09349",
            "Mutual Information Optimal Density Control of Linear Systems and Generalized "
            "Schrödinger Bridges with Reference Refinement",
        ),
        ("2512.18928", "The Ensemble Schrödinger Bridge filter for Nonlinear Data Assimilation"),
        ("2605.09288", "MC$^2$: Monte Carlo Correction for Fast Elliptic PDE Solving"),
        (
            "2605.10335",
            r"PowerStep: Memory-Efficient Adaptive Optimization via $\ell_p$-Norm Steepest Descent",
        ),
        ("2602.18866", r"$(\alpha,\beta)$-Stability for Boosting Vector-Valued Prediction"),
        (
            "2601.21739",
            r"Why Adam Works Better with $\beta_1 = \beta_2$: The Missing Gradient Scale "
            "Invariance Principle",
        ),
    ],
)
def test_titles_tex_accents_converted_math_kept(lg_1101, key, title) -> None:
    assert by_key(lg_1101)[key].title == title


@pytest.mark.parametrize(
    ("key", "name", "count"),
    [
        ("2605.08110", "Sindy Löwe", 3),
        ("2605.08223", "José-Tomás Prieto", 4),
        ("2605.08300", "Şengül Doğan", 3),
    ],
)
def test_tex_accent_authors(lg_1101, key, name, count) -> None:
    paper = by_key(lg_1101)[key]
    assert name in paper.authors
    assert len(paper.authors) == count


def test_no_author_name_keeps_tex_or_affiliation(real_fixture) -> None:
    for name in (LG_1101, CL_141, LG_213, CL_91, RDF_196):
        for paper in parse_feed(real_fixture(name)).papers:
            for author in paper.authors:
                assert "\\" not in author and "(" not in author and "<" not in author, (
                    paper.key,
                    author,
                )
                assert author == author.strip() and "  " not in author


# The 7 dc:creator values of the 1101-item listing that carry parenthesized affiliations.
AFFILIATION_CREATORS = {
    "2605.08230": ["Kabi Raj Tiruwa", "Abhisan Ghimire", "Anuj Kumar Shah"],
    "2605.08495": [
        "Hubert Banville",
        "Stéphane d'Ascoli",
        "Simon Dahan",
        "Jérémy Rapin",
        "Marlène Careil",
        "Yohann Benchetrit",
        "Jarod Lévy",
        "Saarang Panchavati",
        "Antoine Ratouchniak",
        "Mingfang Zhang",  # "Mingfang (Lucy) Zhang", split in two by arXiv's feed
        "Elisa Cascardi",
        "Katelyn Begany",
        "Teon Brooks",
        "Jean-Rémi King",
    ],
    "2605.10551": [
        "H. Ibrahim Erdogan",
        "Punith Raviswamy",
        "Nikita Agrawal",
        "Yannik Köster",
        "Stefan Zechel",
        "Ulrich S. Schubert",
        "Ruben Mayer",
        "Christopher Kuenneth",
    ],
    "2605.10668": ["Francis Bach"],
    "2605.08594": ["Logashree Venkatasubramanian", "Zishen Wan", "Viveck Cadambe"],
    "2605.09396": ["Dier Tang", "Guangyue Han"],
    "2508.04750": ["Enqiang Zhu", "Zhenbin Deng", "Shengzhi Wang", "Yi-Kun Tang", "Chanjuan Liu"],
}


@pytest.mark.parametrize(("key", "authors"), list(AFFILIATION_CREATORS.items()))
def test_affiliation_commas_do_not_split_authors(lg_1101, key, authors) -> None:
    assert by_key(lg_1101)[key].authors == authors


def test_longest_creator_with_team_name_prefix(lg_1101) -> None:
    # " NVIDIA,  :, Amala Sanjay Deshmukh, ...": 3,267 characters, "NVIDIA: A, B, ..." upstream.
    paper = by_key(lg_1101)["2604.24954"]
    assert paper.title == "Nemotron 3 Nano Omni: Efficient and Open Multimodal Intelligence"
    assert len(paper.authors) == 218
    assert paper.authors[:2] == ["NVIDIA", "Amala Sanjay Deshmukh"]
    assert paper.authors[-1] == "Udi Karpas"
    assert ":" not in paper.authors


def test_doi_and_journal_ref(lg_1101) -> None:
    papers = by_key(lg_1101)
    assert papers["2605.09356"].doi == "10.1109/jiot.2026.3690200"
    assert papers["2605.09356"].journal_ref == "IEEE Internet of Things Journal, 2026"
    assert papers["2605.08955"].doi == "10.1016/j.jbi.2012.08.004"
    assert papers["2605.08955"].journal_ref is None
    assert papers["2605.08098"].doi is None
    assert sum(p.doi is not None for p in lg_1101.papers) == 31
    assert sum(p.journal_ref is not None for p in lg_1101.papers) == 28


def test_plain_text_abstract_keeps_angle_brackets(real_fixture, lg_1101) -> None:
    # The new RSS description is TeX/plain text, not HTML: "<T,I,F>" is content.
    cl = by_key(parse_feed(real_fixture(CL_141)))
    assert "Neutrosophic Bias Index NBI<T,I,F>; the I component" in cl["2608.18107"].abstract
    assert "an Opus template <uint D> HMC win" in by_key(lg_1101)["2605.09708"].abstract


def test_categories_primary_first(real_fixture) -> None:
    # Checked on every captured RSS 2.0 listing: new/replace items list the feed's own
    # category first; cross/replace-cross items list another (their primary) first and
    # contain the feed category further on. The list is not sorted.
    for name, feed_cat in ((LG_1101, "cs.LG"), (CL_141, "cs.CL"), (LG_213, "cs.LG"), (CL_91, "cs.CL")):
        for paper in parse_feed(real_fixture(name)).papers:
            assert feed_cat in paper.categories
            is_cross = paper.announce_type in (AnnounceType.CROSS, AnnounceType.REPLACE_CROSS)
            assert (paper.categories[0] != feed_cat) is is_cross, paper.key
    nlin = by_key(parse_feed(real_fixture(LG_213)))["nlin/0408039"]
    assert nlin.categories == ["nlin.AO", "cs.LG", "math.DS", "nlin.CD", "stat.ML"]


def test_cross_and_replace_items(real_fixture) -> None:
    cl = by_key(parse_feed(real_fixture(CL_141)))
    cross = cl["2608.18131"]
    assert cross.announce_type is AnnounceType.CROSS
    assert cross.categories == ["cs.AI", "cs.CL", "cs.CY"]
    replaced = cl["2307.12896"]
    assert replaced.announce_type is AnnounceType.REPLACE and replaced.announce_type.is_update
    assert replaced.version == 5
    assert replaced.authors == ["Łukasz Dębowski"]
    assert replaced.doi == "10.1080/09296174.2025.2455764"
    assert replaced.journal_ref == "Journal of Quantitative Linguistics, 32(2), 128-165, 2025"


def test_old_style_id_without_rights_and_with_spaced_abstract(real_fixture) -> None:
    feed = parse_feed(real_fixture(LG_213))
    paper = by_key(feed)["nlin/0408039"]
    assert paper.arxiv_id == "nlin/0408039"
    assert paper.version == 2
    assert paper.announce_type is AnnounceType.CROSS
    assert paper.abstract.startswith("We derive a class of macroscopic differential equations")
    assert paper.abs_url == "https://arxiv.org/abs/nlin/0408039"
    assert paper.pdf_url == "https://arxiv.org/pdf/nlin/0408039"
    assert paper.authors == ["Yuzuru Sato", "Eizo Akiyama", "James P. Crutchfield"]
    assert paper.doi == "10.1016/j.physd.2005.06.031"
    # items of this capture have no pubDate: the channel date is used
    assert paper.announced == date(2024, 5, 15)


def test_affiliations_in_2024_listing(real_fixture) -> None:
    papers = by_key(parse_feed(real_fixture(LG_213)))
    assert papers["2405.08034"].authors == ["Yao Sun", "Tengyu Jing", "Jiapeng Wang", "Wei Wang"]
    assert papers["2405.08097"].authors == [
        "Ben Blum-Smith",
        "Ningyuan Huang",
        "Marco Cuturi",
        "Soledad Villar",
    ]
    assert papers["2303.12797"].authors == [
        "Julie Keisler",
        "El-Ghazali Talbi",
        "Sandra Claudel",
        "Gilles Cabriel",
    ]
    assert papers["2405.08038"].authors == [
        "Quentin Ferdinand",
        "Gilles Le Chenadec",
        "Benoit Clement",
        "Panagiotis Papadakis",
        "Quentin Oliveau",
    ]


def test_early_2024_glued_nickname_in_gpt4_report(real_fixture) -> None:
    # Upstream "Michael (Rai) Pokorny": the early-2024 feed glued "Rai" onto all 191
    # authors before him and split him into "  MichaelRai,  Pokorny".
    feed = parse_feed(real_fixture(CL_91))
    paper = by_key(feed)["2303.08774"]
    assert paper.title == "GPT-4 Technical Report"
    assert paper.version == 5
    assert paper.announce_type is AnnounceType.REPLACE
    assert len(paper.authors) == 280
    assert paper.authors[:3] == ["OpenAI", "Josh Achiam", "Steven Adler"]
    assert "Michael Pokorny" in paper.authors
    assert paper.authors[-1] == "Barret Zoph"
    assert not any(a.endswith("Rai") for a in paper.authors)


def test_early_2024_listing_has_no_doi(real_fixture) -> None:
    feed = parse_feed(real_fixture(CL_91))
    assert all(p.doi is None for p in feed.papers)
    assert sum(p.journal_ref is not None for p in feed.papers) == 3


# ------------------------------------------------------------------- legacy RDF


def test_rdf_items(real_fixture) -> None:
    feed = parse_feed(real_fixture(RDF_196))
    papers = by_key(feed)
    first = feed.papers[0]
    assert first.key == "2401.15088"
    assert first.version == 1
    # the `. (arXiv:2401.15088v1 [eess.SY])` suffix is gone, "&" decoded once
    assert first.title == (
        "Design & Implementation of Automatic Machine Condition Monitoring and Maintenance "
        "System in Limited Resource Situations"
    )
    assert first.announce_type is AnnounceType.CROSS
    assert first.categories == ["eess.SY", "cs.LG"]
    assert first.authors == [
        "Abu Hanif Md. Ripon",
        "Muhammad Ahsan Ullah",
        "Arindam Kumar Paul",
        "Md. Mortaza Morshed",
    ]
    assert first.abstract.startswith("In the era of the fourth industrial revolution, it is essential")
    assert "<p>" not in first.abstract and "\n" not in first.abstract
    assert papers["2401.15089"].announce_type is AnnounceType.NEW
    assert papers["2401.15089"].categories == ["cs.LG"]
    updated = papers["2307.14023"]
    assert updated.title == (
        "Are Transformers with One Layer Self-Attention Using Low-Rank Weight Matrices "
        "Universal Approximators?"
    )
    assert updated.version == 3
    assert updated.announce_type is AnnounceType.REPLACE
    replace_cross = papers["2312.16762"]
    assert replace_cross.title == r"Backstepping Neural Operators for $2\times 2$ Hyperbolic PDEs"
    assert replace_cross.announce_type is AnnounceType.REPLACE_CROSS
    assert replace_cross.authors[-1] == "Miroslav Krstić"


def test_rdf_abstract_html_unescaped(real_fixture) -> None:
    papers = by_key(parse_feed(real_fixture(RDF_196)))
    assert "that $\\alpha_c$ < .996, while Krauth" in papers["2401.15092"].abstract


def test_rdf_creators_from_html_links(real_fixture) -> None:
    papers = by_key(parse_feed(real_fixture(RDF_196)))
    assert papers["2311.08149"].authors == [
        "Cécile Trottet",
        "Manuel Schürch",
        "Ahmed Allam",
        "Imon Barua",
        "Liubov Petelytska",
        "Oliver Distler",
        "Anna-Maria Hoffmann-Vold",
        "Michael Krauthammer",
        "the EUSTAR collaborators",
    ]
    assert papers["2303.04488"].authors[0] == "Maciej Mikuła"


# ------------------------------------------------------------ Atom (synthetic)


def test_atom_listing_matches_rss_listing_of_same_day(real_fixture) -> None:
    atom = parse_feed((SYNTHETIC / "arxiv_atom_cs.CL_2026-08-20_synthetic.xml").read_bytes())
    rss = by_key(parse_feed(real_fixture(CL_141)))
    assert atom.kind is FeedKind.ARXIV_RSS
    assert atom.title == "cs.CL updates on arXiv.org"
    assert atom.feed_date == date(2026, 8, 20)
    assert [p.key for p in atom.papers] == [
        "2608.18082",
        "2608.18083",
        "2608.18094",
        "2608.18578",
        "2608.18816",
        "2608.18131",
        "2307.12896",
        "2511.04707",
    ]
    for paper in atom.papers:
        assert paper == rss[paper.key]


def test_atom_listing_fields(real_fixture) -> None:
    atom = by_key(parse_feed((SYNTHETIC / "arxiv_atom_cs.CL_2026-08-20_synthetic.xml").read_bytes()))
    assert atom["2608.18578"].authors == ["Shayan Shahrabi-Farahani", "Dara Rahmati"]
    assert atom["2608.18083"].authors == ["Karolina Drożdż", "Micha Heilbron"]
    assert atom["2608.18816"].doi == "10.53765/20512201.32.11.096"
    assert atom["2608.18816"].journal_ref == "Journal of Consciousness Studies 32 (11): 96-120. 2025"
    assert atom["2511.04707"].announce_type is AnnounceType.REPLACE_CROSS
    assert atom["2511.04707"].version == 2
    assert atom["2511.04707"].categories == ["cs.CR", "cs.AI", "cs.CL", "cs.LG"]


def test_empty_atom_listing_dated_from_build_time() -> None:
    feed = parse_feed((SYNTHETIC / "arxiv_atom_cs.LG_EMPTY_2026-08-16_synthetic.xml").read_bytes())
    assert feed.kind is FeedKind.ARXIV_RSS
    assert feed.papers == []
    assert feed.feed_date == date(2026, 8, 16)  # 04:00 UTC is midnight in New York
