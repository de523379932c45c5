"""Bookmark exports, checked the way a user's tools read them.

The papers come from the captured feeds (parsed and merged as the bot does), so the
names, math and journal references are the real ones. BibTeX is read back with
bibtexparser v2 and decoded with pylatexenc (both independent of bot.export), CSV with
the csv module, Markdown with markdown-it (the parser rich ships).
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import bibtexparser
import pytest
from bibtexparser import middlewares as bm
from markdown_it import MarkdownIt
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from bot.export import (
    FORMATS,
    ExportItem,
    export_bibtex,
    export_csv,
    export_filename,
    export_markdown,
)
from bot.merge import StoredPaper, merge
from bot.sources import parse_feed

FIXTURES = Path(__file__).parent / "fixtures"
LG_2026 = "real/arxiv_rss_cs.LG_2026-05-12_1101items.xml"
LG_2024 = "real/arxiv_rss_cs.LG_2024-05-15_213items_null-rights.xml"
CL_2026 = "real/arxiv_rss_cs.CL_2026-08-20_141items.xml"
API_ELECTRON = "real/arxiv_api_NEWformat_all-electron_2025-11-21.xml"
API_AI = "real/arxiv_api_NEWformat_cs.AI_max20_2026-01-04.xml"
RDF_2024 = "real/arxiv_rss1_rdf_cs.LG_2024-01-29_196items.xml"
HF_2025 = "real/hf_daily_papers_2025-09-30_indent2_50items.json"
JOURNAL_RSS = "synthetic/generic_journal_rss_synthetic.xml"
SAVED = datetime(2026, 5, 12, 9, 30, tzinfo=UTC)


@cache
def _papers(name: str) -> dict[str, StoredPaper]:
    feed = parse_feed((FIXTURES / name).read_bytes())
    return {record.key: merge(None, record).paper for record in feed.papers}


def paper(name: str, key: str) -> StoredPaper:
    return _papers(name)[key]


@cache
def all_real_papers() -> tuple[StoredPaper, ...]:
    """Every distinct paper in every captured feed: ~1,900 real titles and names."""
    seen: dict[str, StoredPaper] = {}
    for path in sorted((FIXTURES / "real").iterdir()):
        if path.suffix not in (".xml", ".json"):
            continue
        try:
            papers = _papers(f"real/{path.name}")
        except ValueError:  # the captured error pages
            continue
        for key, value in papers.items():
            seen.setdefault(key, value)
    return tuple(seen.values())


def items(*papers: StoredPaper) -> list[ExportItem]:
    """Bookmarks newest first, one minute apart."""
    return [ExportItem(p, SAVED - timedelta(minutes=i)) for i, p in enumerate(papers)]


# A varied set: math, accents, old-style id, DOI + journal ref, particles, Jr, a group,
# `&`/`%` in titles, a key collision, a non-arXiv paper with `Last, First` names, a bare note.
SHOWCASE = [
    (LG_2026, "2605.09288"),  # MC$^2$
    (LG_2026, "2605.10335"),  # $\ell_p$-Norm
    (LG_2026, "2601.21739"),  # $\beta_1 = \beta_2$
    (LG_2026, "2605.08110"),  # Sindy Löwe
    (LG_2024, "nlin/0408039"),  # old-style id, DOI, announced 2024
    (LG_2026, "2605.09356"),  # DOI + journal ref
    (LG_2024, "2405.08342"),  # journal ref with `&`
    (LG_2024, "2405.08297"),  # title with `&`
    (LG_2026, "2605.08112"),  # title with `%`
    (CL_2026, "2307.12896"),  # Łukasz Dębowski, DOI + journal ref
    (API_ELECTRON, "1912.06461"),  # Jeroen P. G. van Dijk
    (API_AI, "2308.02540"),  # N. Van Cleemput
    (LG_2026, "2605.09998"),  # Tersoo Upaa Jr
    (LG_2026, "2605.08764"),  # the ENIGMA-Stroke Recovery Working Group
    (LG_2026, "2605.10585"),  # Pau de las Heras Molins
    (LG_2026, "2605.08202"),  # Qingjun Wang, "Beyond ..." 2026
    (LG_2026, "2601.15686"),  # Xinyu Wang, "Beyond ..." 2026
    (JOURNAL_RSS, "rss:322feb53ecfbcfa3"),  # non-arXiv, DOI, `Smith, J.`
    (JOURNAL_RSS, "rss:897c1bdf02fa5c54"),  # non-arXiv, no authors, no date
]


def showcase() -> list[StoredPaper]:
    return [paper(name, key) for name, key in SHOWCASE]


# ----------------------------------------------------------------------------- helpers


def parse_bib(text: str) -> bibtexparser.Library:
    library = bibtexparser.parse_string(text, append_middleware=[bm.SeparateCoAuthors(), bm.SplitNameParts()])
    assert library.failed_blocks == []
    return library


def fields(entry: bibtexparser.model.Entry) -> dict[str, str]:
    return {name: field.value for name, field in entry.fields_dict.items() if name != "author"}


_latex_context = get_default_latex_context_db()
_latex_context.add_context_category(
    "text-companion",
    prepend=True,
    macros=[
        MacroTextSpec("textbraceleft", "{"),
        MacroTextSpec("textbraceright", "}"),
        MacroTextSpec("textasciicircum", "^"),
        MacroTextSpec("textasciitilde", "~"),
        MacroTextSpec("textbackslash", "\\"),
    ],
)
_latex = LatexNodes2Text(latex_context=_latex_context, math_mode="verbatim", strict_latex_spaces=True)


def latex_to_text(value: str) -> str:
    """What LaTeX would print (math left as source), by an implementation that is not ours."""
    return _latex.latex_to_text(value).replace("”", "''").replace("“", "``")


def as_typeset(text: str) -> str:
    """The source text as LaTeX prints it: `--` is an en dash in a title too."""
    return text.replace("---", "—").replace("--", "–")


def unbraced(value: str) -> str:
    assert value.startswith("{") and value.endswith("}"), value
    return value[1:-1]


def bibtex_brace_errors(text: str) -> list[str]:
    """Entries whose braces do not balance by BibTeX's rule (every brace counts, `\\{` too)."""
    bad = []
    for chunk in text.split("\n@")[1:]:
        depth = 0
        for char in chunk:
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth < 0:
                break
        if depth != 0:
            bad.append(chunk[:60])
    return bad


# ----------------------------------------------------------------------------- BibTeX


def test_bibtex_round_trips_every_showcase_paper() -> None:
    papers = showcase()
    library = parse_bib(export_bibtex(items(*papers)))
    assert len(library.entries) == len(papers)
    for entry, source in zip(library.entries, papers, strict=True):  # bookmark order kept
        got = fields(entry)
        assert entry.entry_type == "misc"
        assert latex_to_text(unbraced(got["title"])) == source.title
        if source.authors:
            assert len(entry["author"]) == len(source.authors)
        else:
            assert "author" not in entry.fields_dict
        if source.arxiv_id:
            assert got["eprint"] == source.arxiv_id
            assert got["archivePrefix"] == "arXiv"
            assert got["primaryClass"] == source.categories[0]
        else:
            assert "eprint" not in got and "archivePrefix" not in got
        assert got["url"] == source.abs_url
        assert got.get("doi") == source.doi
        if source.journal_ref:
            assert latex_to_text(got["note"]) == source.journal_ref
    keys = [entry.key for entry in library.entries]
    assert len(set(keys)) == len(keys)


def test_bibtex_keeps_math_as_written_and_double_braces_titles() -> None:
    library = parse_bib(export_bibtex(items(*showcase()[:3])))
    titles = [entry["title"] for entry in library.entries]  # parser strips the outer braces
    assert titles == [
        "{MC$^2$: Monte Carlo Correction for Fast Elliptic PDE Solving}",
        r"{PowerStep: Memory-Efficient Adaptive Optimization via $\ell_p$-Norm Steepest Descent}",
        r"{Why Adam Works Better with $\beta_1 = \beta_2$: The Missing Gradient Scale Invariance Principle}",
    ]


def test_bibtex_escapes_latex_specials_outside_math() -> None:
    real = [paper(LG_2024, "2405.08297"), paper(LG_2026, "2605.08112")]
    crafted = replace(
        paper(LG_2026, "2605.08110"),
        key="2605.99999",
        arxiv_id="2605.99999",
        title=r"C# & F_2: 100% of {sets} ~ ^ \ in $\{0,1\}^n$ for $5 or 50%$ and $a}{b$",
    )
    text = export_bibtex(items(*real, crafted))
    titles = [unbraced(entry["title"]) for entry in parse_bib(text).entries]
    assert (
        titles[0]
        == "Distance-Restricted Explanations: Theoretical Underpinnings \\& Efficient Implementation"
    )
    assert titles[1].endswith(r"Decision Compliance by 49\%")
    assert titles[2].startswith(r"C\# \& F\_2: 100\% of \textbraceleft{}sets\textbraceright{} ")
    assert r"$\{0,1\}^n$" in titles[2]  # balanced math copied as written
    assert r"$5 or 50\%$" in titles[2]  # a bare % would comment out the rest of the line in LaTeX
    assert "$a}{b$" not in titles[2]  # unbalanced "math" would break the .bib: escaped as text
    assert latex_to_text(titles[2]) == crafted.title.replace("50%", r"50\%")
    assert bibtex_brace_errors(text) == []


def test_bibtex_of_every_captured_paper_parses_and_balances() -> None:
    papers = all_real_papers()
    assert len(papers) > 1500
    text = export_bibtex(items(*papers))
    assert bibtex_brace_errors(text) == []
    library = parse_bib(text)
    assert len(library.entries) == len(papers)
    for entry, source in zip(library.entries, papers, strict=True):
        assert latex_to_text(unbraced(entry["title"])) == as_typeset(source.title)
        # No name is lost or split in two ("and" inside a name, stray commas).
        assert len(entry.fields_dict["author"].value) == len(source.authors), source.authors


def test_bibtex_names_split_where_a_reader_expects() -> None:
    by_key = {e.key: e for e in parse_bib(export_bibtex(items(*showcase()))).entries}
    author = {
        key: [(n.first, n.von, n.last, n.jr) for n in e["author"]]
        for key, e in by_key.items()
        if "author" in e.fields_dict
    }
    assert author["coscia2026balora"][1] == (["Sindy"], [], ["Löwe"], [])  # UTF-8 kept
    assert author["boter2019sparse"][2] == (["Jeroen", "P.", "G."], ["van"], ["Dijk"], [])
    assert author["larson2023top"][1] == (["N."], [], ["Van", "Cleemput"], [])
    assert author["karten2026continual"][2] == (["Tersoo"], [], ["Upaa"], ["Jr"])
    assert author["dhinagar2026anchoring"][7] == ([], [], ["{the ENIGMA-Stroke Recovery Working Group}"], [])
    assert author["delasherasmolins2026controllability"][0] == (
        ["Pau"],
        ["de", "las"],
        ["Heras", "Molins"],
        [],
    )
    assert author["debowski2023corrections"] == [(["Łukasz"], [], ["Dębowski"], [])]
    assert author["smith2026field"][2] == (["K."], ["van", "der"], ["Berg"], [])  # `Last, First` kept


def test_every_captured_name_reads_back_as_written() -> None:
    text = export_bibtex(items(*all_real_papers()))
    for entry, source in zip(parse_bib(text).entries, all_real_papers(), strict=True):
        for name, original in zip(entry["author"], source.authors, strict=True):
            if "," in original:
                continue
            words = [*name.first, *name.von, *name.last, *name.jr]
            assert latex_to_text(" ".join(words)).strip("{}") == " ".join(original.split())


def test_bibtex_year_month_come_from_the_arxiv_id_then_dates() -> None:
    old = paper(LG_2024, "nlin/0408039")
    assert old.announced == date(2024, 5, 15)  # a 2024 listing of a 2004 paper
    library = parse_bib(export_bibtex(items(old, paper(LG_2026, "2605.08110"), *showcase()[-2:])))
    years = [(fields(e).get("year"), fields(e).get("month")) for e in library.entries]
    assert years == [("2004", "aug"), ("2026", "may"), ("2026", "mar"), (None, None)]
    assert library.entries[0].key == "sato2004stability"


def test_citation_keys_are_ascii_unique_and_readable() -> None:
    papers = all_real_papers()
    keys = [e.key for e in parse_bib(export_bibtex(items(*papers))).entries]
    assert all(re.fullmatch(r"[a-z0-9]+", key) for key in keys)
    assert len(set(keys)) == len(keys)
    showcase_keys = [e.key for e in parse_bib(export_bibtex(items(*showcase()))).entries]
    assert showcase_keys[:4] == [
        "hsu2026mc",
        "lu2026powerstep",
        "fernandezhernandez2026adam",
        "coscia2026balora",
    ]
    assert "debowski2023corrections" in showcase_keys
    assert "anonuntitled" in showcase_keys
    # Letters with no combining-accent decomposition still fold: ß -> ss, ı -> i.
    folded = [paper(LG_2026, "2603.16964"), paper(RDF_2024, "2401.15245")]
    assert [e.key for e in parse_bib(export_bibtex(items(*folded))).entries] == [
        "rossberg2026behavior",
        "yildirim2024genplusss",
    ]


def test_colliding_keys_get_suffixes_that_do_not_depend_on_bookmark_order() -> None:
    newer, older = paper(LG_2026, "2605.08202"), paper(LG_2026, "2601.15686")
    forward = {e["eprint"]: e.key for e in parse_bib(export_bibtex(items(newer, older))).entries}
    backward = {e["eprint"]: e.key for e in parse_bib(export_bibtex(items(older, newer))).entries}
    assert forward == backward == {"2601.15686": "wang2026beyond", "2605.08202": "wang2026beyonda"}
    # Alone, each keeps the plain key only if it sorts first: the older paper.
    alone = parse_bib(export_bibtex(items(older))).entries[0].key
    assert alone == "wang2026beyond"


def test_suffixed_key_never_takes_another_papers_natural_key() -> None:
    older, newer = paper(LG_2026, "2601.15686"), paper(LG_2026, "2605.08202")
    # A paper whose own key is what the collision suffix would produce.
    lookalike = replace(newer, key="2605.77777", arxiv_id="2605.77777", title="Beyonda: a real word")
    keys = {e["eprint"]: e.key for e in parse_bib(export_bibtex(items(older, newer, lookalike))).entries}
    assert keys["2605.77777"] == "wang2026beyonda"
    assert keys["2601.15686"] == "wang2026beyond"
    assert keys["2605.08202"] == "wang2026beyondb"


def test_bibtex_urls_and_dois_stay_verbatim_but_cannot_unbalance_the_file() -> None:
    p = replace(paper(LG_2026, "2605.08110"), abs_url="https://example.org/a b}c_d", doi="10.1000/x}1_2")
    text = export_bibtex(items(p, paper(LG_2026, "2605.09288")))
    assert bibtex_brace_errors(text) == []
    got = fields(parse_bib(text).entries[0])
    assert (got["url"], got["doi"]) == ("https://example.org/a%20b%7Dc_d", "10.1000/x%7D1_2")
    assert parse_bib(text).entries[1].key == "hsu2026mc"  # the next entry was not swallowed


def test_a_paper_bookmarked_twice_is_one_entry() -> None:
    p = paper(LG_2026, "2605.08110")
    library = parse_bib(export_bibtex([ExportItem(p, SAVED), ExportItem(p, SAVED - timedelta(days=3))]))
    assert [e.key for e in library.entries] == ["coscia2026balora"]


def test_ten_thousand_alike_bookmarks_export_fast_with_unique_keys() -> None:
    base = paper(LG_2026, "2605.08110")
    many = [replace(base, key=f"2605.{i:05d}", arxiv_id=f"2605.{i:05d}") for i in range(10_000)]
    bookmarks = items(*many)
    started = time.perf_counter()
    bib = export_bibtex(bookmarks)
    rows = export_csv(bookmarks)
    md = export_markdown(bookmarks)
    assert time.perf_counter() - started < 5
    keys = [e.key for e in parse_bib(bib).entries]
    assert len(set(keys)) == 10_000
    assert keys[:2] == ["coscia2026balora", "coscia2026baloraa"]
    assert len(list(csv.reader(io.StringIO(rows, newline="")))) == 10_001
    assert md.count("\n10000. [BaLoRA") == 1


# -------------------------------------------------------------------------------- CSV


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_has_one_row_per_bookmark_and_reads_back() -> None:
    papers = showcase()
    bookmarks = items(*papers)
    text = export_csv(bookmarks)
    assert text.startswith(
        "id,title,authors,categories,announced,saved_at,abs_url,pdf_url,code_url,doi,journal_ref\r\n"
    )
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # RFC 4180 line ends
    rows = read_csv(text)
    assert len(rows) == len(papers)
    for row, bookmark in zip(rows, bookmarks, strict=True):
        p = bookmark.paper
        assert row["id"] == (p.arxiv_id or p.key)
        assert row["title"] == p.title
        assert row["authors"] == "; ".join(p.authors)
        assert row["categories"] == "; ".join(p.categories)
        assert row["announced"] == (p.announced.isoformat() if p.announced else "")
        assert datetime.fromisoformat(row["saved_at"]) == bookmark.saved_at
        assert (row["abs_url"], row["pdf_url"], row["doi"]) == (p.abs_url, p.pdf_url or "", p.doi or "")
        assert row["journal_ref"] == (p.journal_ref or "")
    assert rows[3]["authors"] == "Dario Coscia; Sindy Löwe; Max Welling"
    assert rows[4]["id"] == "nlin/0408039"


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    p = replace(paper(LG_2026, "2605.08238"), title='A "quoted", title\nwith a line break')
    text = export_csv(items(p))
    row = read_csv(text)[0]
    assert row["title"] == p.title
    assert row["journal_ref"].startswith('F. Yasmin et.al., "Resource-Aware')  # real ref with quotes/commas


@pytest.mark.parametrize(
    "title", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
)
def test_csv_defuses_spreadsheet_formulas(title: str) -> None:
    p = replace(paper(LG_2026, "2605.08110"), title=title, authors=["=cmd|' /C calc'!A0", "Ada Lovelace"])
    row = read_csv(export_csv(items(p)))[0]
    assert row["title"] == "'" + title
    assert row["authors"].startswith("'=cmd")
    assert row["id"] == "2605.08110"  # ordinary cells untouched


def test_csv_keeps_ordinary_text_and_code_links() -> None:
    hf = paper(HF_2025, "2509.24897")
    row = read_csv(export_csv(items(hf)))[0]
    assert row["title"] == hf.title
    assert row["code_url"] == "https://github.com/FrankYang-17/RealUnify"


# --------------------------------------------------------------------------- Markdown

_md = MarkdownIt("commonmark")


def rendered_links(text: str) -> list[tuple[str, str]]:
    """(link text as shown, href) for every link, read by a CommonMark parser."""
    links: list[tuple[str, str]] = []
    for block in _md.parse(text):
        children = block.children or []
        for i, token in enumerate(children):
            if token.type != "link_open":
                continue
            shown = []
            for inner in children[i + 1 :]:
                if inner.type == "link_close":
                    break
                assert inner.type in ("text", "softbreak"), inner.type  # no stray emphasis/HTML
                shown.append(inner.content)
            links.append(("".join(shown), str(token.attrs["href"])))
    return links


def test_markdown_lists_bookmarks_newest_first_with_intact_links() -> None:
    papers = showcase()
    text = export_markdown(items(*papers))
    assert text.startswith("# paperbot bookmarks\n")
    title_links = [link for link in rendered_links(text) if link[0] not in ("PDF", "Code", "DOI")]
    expected = [(p.title, p.abs_url) for p in papers]
    assert title_links == expected  # math shows as TeX source, no link broken, order kept
    assert "Sindy Löwe" in text
    assert "[DOI](https://doi.org/10.1016/j.physd.2005.06.031)" in text
    assert "(https://arxiv.org/pdf/nlin/0408039)" in text


def test_markdown_escapes_titles_that_would_break_links() -> None:
    hostile = r"Attack [of] the (clones)](javascript:alert(1)) *bold* _it_ `code` <b>x</b> $\ell_p$ &amp; \["
    p = replace(paper(LG_2026, "2605.08110"), title=hostile, abs_url="https://example.org/a (b)")
    links = rendered_links(export_markdown(items(p)))
    assert links[0] == (hostile, "https://example.org/a%20%28b%29")
    assert [href for _, href in links if "javascript" in href] == []


def test_markdown_links_only_web_urls() -> None:
    p = replace(paper(LG_2026, "2605.08110"), abs_url="javascript:alert(1)", pdf_url="data:text/html,x")
    text = export_markdown(items(p))
    assert rendered_links(text) == []
    assert "javascript:" not in text and "data:" not in text  # not even as a link CommonMark would drop
    assert "BaLoRA: Bayesian Low-Rank Adaptation of Large Scale Models" in text


def test_markdown_shortens_long_author_lists_and_links_code() -> None:
    long = paper(LG_2026, "2605.08195")  # 39 authors
    ten = paper(LG_2026, "2605.08738")  # exactly 10
    hf = paper(HF_2025, "2509.24897")
    text = export_markdown(items(long, ten, hf))
    lines = [line for line in text.splitlines() if line.startswith("   - Authors: ")]
    assert lines[0] == "   - Authors: " + ", ".join(long.authors[:10]) + " et al. (39 authors)"
    assert lines[1] == "   - Authors: " + ", ".join(ten.authors)
    assert ("Code", "https://github.com/FrankYang-17/RealUnify") in rendered_links(text)
    assert "   - Saved: 2026-05-12" in text


# ---------------------------------------------------------------- empty, names, formats


def test_empty_exports_are_valid_files() -> None:
    library = parse_bib(export_bibtex([]))
    assert library.entries == []
    assert "0 entries" in library.comments[0].comment  # says it is empty rather than looking broken
    assert read_csv(export_csv([])) == []
    assert export_csv([]).startswith("id,title,")
    md = export_markdown([])
    assert md.startswith("# paperbot bookmarks") and "No bookmarks" in md


def test_formats_and_filenames() -> None:
    when = date(2026, 5, 12)
    assert export_filename("bibtex", when) == "paperbot-bookmarks-2026-05-12.bib"
    assert export_filename("csv", when) == "paperbot-bookmarks-2026-05-12.csv"
    assert export_filename("markdown", when) == "paperbot-bookmarks-2026-05-12.md"
    assert export_filename("csv", datetime(2026, 5, 12, 23, 59, tzinfo=UTC)).endswith("2026-05-12.csv")
    with pytest.raises(ValueError, match="pdf"):
        export_filename("pdf", when)
    bookmarks = items(paper(LG_2026, "2605.08110"))
    assert FORMATS["bibtex"].render(bookmarks) == export_bibtex(bookmarks)
    assert FORMATS["csv"].render(bookmarks) == export_csv(bookmarks)
    assert FORMATS["markdown"].render(bookmarks) == export_markdown(bookmarks)
    assert {name: fmt.mime_type.split(";")[0] for name, fmt in FORMATS.items()} == {
        "bibtex": "text/x-bibtex",
        "csv": "text/csv",
        "markdown": "text/markdown",
    }
