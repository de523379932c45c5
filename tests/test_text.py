"""Pure text helpers: whitespace, TeX accents, HTML stripping, author splitting."""

from __future__ import annotations

import pytest

from bot.text import collapse_ws, split_authors, strip_html, tex_to_unicode


def test_collapse_ws_joins_hard_wrapped_api_titles() -> None:
    wrapped = "Proton-ring and Electron-linac Collider (PRELC) as a (first)\n  TeV-range"
    assert collapse_ws(wrapped) == "Proton-ring and Electron-linac Collider (PRELC) as a (first) TeV-range"
    assert collapse_ws("  \t\n ") == ""


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        (r"Sindy L\"owe", "Sindy Löwe"),
        (r"Jos\'e", "José"),
        (r"\c{S}eng\"ul Do\u{g}an", "Şengül Doğan"),
        (r"{\"o}", "ö"),
        (r"\"{o}", "ö"),
        (r"Schr{\"o}dinger", "Schrödinger"),
        (r"\'{\i}", "í"),
        (r"Mart{\'\i}n", "Martín"),
        (r"S{\o}ren", "Søren"),
        (r"J\o rgen", "Jørgen"),
        (r"Stra\ss e", "Straße"),
        (r"{\ss}", "ß"),
        (r"{\aa}ngstr\"om", "ångström"),
        (r"{\L}ukasz D{\k{e}}bowski", "Łukasz Dębowski"),
        (r"\L{}ukasz", "Łukasz"),
        (r"Krsti\'c", "Krstić"),
        (r"Erd\H{o}s", "Erdős"),
        (r"\v{S}ekrst", "Šekrst"),
        (r"Marl\`ene", "Marlène"),
        (r"Ni\~no", "Niño"),
        (r"Fran\c{c}ois", "François"),
        (r"\r{a}", "å"),
        (r"R\&D, 50\% and a\_b", "R&D, 50% and a_b"),
    ],
)
def test_tex_accents_become_unicode(tex: str, text: str) -> None:
    assert tex_to_unicode(tex) == text


@pytest.mark.parametrize(
    "math",
    [
        "MC$^2$: Monte Carlo Correction for Fast Elliptic PDE Solving",
        r"PowerStep: Memory-Efficient Adaptive Optimization via $\ell_p$-Norm Steepest Descent",
        r"$(\alpha,\beta)$-Stability for Boosting Vector-Valued Prediction",
        r"a $\"o$ inside math and $\tilde{O}(\sqrt{T})$ and \(\hat x\) and \[\'e\]",
        r"100% literal percent, \cite{x}, \beta, \vec{v}, \textbf{bold}",
    ],
)
def test_math_and_unknown_macros_stay_exactly_as_written(math: str) -> None:
    assert tex_to_unicode(math) == math


def test_escaped_dollar_does_not_open_math() -> None:
    assert tex_to_unicode(r"costs \$5 for Cram\'er") == r"costs \$5 for Cramér"


def test_strip_html_legacy_rdf_abstract() -> None:
    html = "<p>upper bound $\\alpha_c$ &lt; .996, S&amp;P 500\n</p>\n<p>Second para.</p>"
    assert strip_html(html) == "upper bound $\\alpha_c$ < .996, S&P 500 Second para."


def test_strip_html_inline_tags_do_not_split_words() -> None:
    assert strip_html("H<sub>2</sub>O is <em>wet</em><br/>yes") == "H2O is wet yes"
    assert strip_html("<script>alert(1)</script>ok") == "ok"


def test_strip_html_decodes_double_escaped_rdf_creator() -> None:
    creator = '<a href="http://arxiv.org/find/cs/1/au:+Trottet_C/0/1/0/all/0/1">C&#xe9;cile Trottet</a>'
    assert strip_html(creator) == "Cécile Trottet"


def test_split_authors_comma_list() -> None:
    assert split_authors("Milad Yazdani, Shahriar Shalileh, Dena Shahriari") == [
        "Milad Yazdani",
        "Shahriar Shalileh",
        "Dena Shahriari",
    ]


def test_split_authors_commas_inside_affiliations_do_not_split() -> None:
    creator = (
        "Yao Sun (School of Aeronautical Engineering, Air Force Engineering University, "
        "Xi'an, China), Tengyu Jing (School of Information and Communication Engineering, "
        "Xidian University, Xi'an, China)"
    )
    assert split_authors(creator) == ["Yao Sun", "Tengyu Jing"]


def test_split_authors_repairs_nickname_mangle_with_parentheses() -> None:
    creator = "Ben Blum-Smith (Teresa),  Ningyuan (Teresa),  Huang, Marco Cuturi, Soledad Villar"
    assert split_authors(creator) == [
        "Ben Blum-Smith",
        "Ningyuan Huang",
        "Marco Cuturi",
        "Soledad Villar",
    ]


def test_split_authors_repairs_glued_nickname_of_early_2024_feed() -> None:
    creator = " OpenAIRai,  :Rai, Josh AchiamRai,  MichaelRai,  Pokorny, Michelle Pokrass"
    assert split_authors(creator) == ["OpenAI", "Josh Achiam", "Michael Pokorny", "Michelle Pokrass"]


def test_split_authors_keeps_mononyms_and_drops_bare_colon() -> None:
    assert split_authors(" NVIDIA,  :, Amala Sanjay Deshmukh") == ["NVIDIA", "Amala Sanjay Deshmukh"]
    assert split_authors("Saheed Obitayo,  Aakriti, Manoj Cherukumalli") == [
        "Saheed Obitayo",
        "Aakriti",
        "Manoj Cherukumalli",
    ]


def test_split_authors_and_joins_only_when_asked() -> None:
    assert split_authors("A. Smith, B. Jones and C. Brown", and_joins=True) == [
        "A. Smith",
        "B. Jones",
        "C. Brown",
    ]
    assert split_authors("A. Smith, B. Jones, and C. Brown", and_joins=True) == [
        "A. Smith",
        "B. Jones",
        "C. Brown",
    ]
    # arXiv never joins with "and"; collaboration names contain it.
    assert split_authors("The ATLAS and CMS Collaborations") == ["The ATLAS and CMS Collaborations"]


def test_split_authors_semicolon_lists() -> None:
    assert split_authors("Smith, J.; Doe, A.; van der Berg, K.") == [
        "Smith, J.",
        "Doe, A.",
        "van der Berg, K.",
    ]


def test_split_authors_unbalanced_parentheses_still_split() -> None:
    assert split_authors("Ann Lee (MIT, Bob Ray") == ["Ann Lee", "Bob Ray"]


def test_split_authors_tex_names() -> None:
    assert split_authors(
        r"Yannik K\"oster (Friedrich Schiller University Jena, Germany), Jean-R\'emi King"
    ) == [
        "Yannik Köster",
        "Jean-Rémi King",
    ]


@pytest.mark.parametrize("blank", ["", "   ", ",", " , ,"])
def test_split_authors_blank(blank: str) -> None:
    assert split_authors(blank) == []
