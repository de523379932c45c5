"""Bookmark exports for `/bookmarks export`: BibTeX, CSV and Markdown. Pure: no I/O.

Every exporter takes the user's bookmarks in the order given (newest first) and returns
the whole file as `str`; the caller encodes it as UTF-8 and attaches it. Zero items give
a valid file (a comment, a header row, a note). 10,000 items take well under a second.

Decisions, so a reader can check them against a user's complaint:

BibTeX
- Always `@misc`. What we hold is the arXiv record (or a feed item), and `journal_ref`
  is free text ("ICML 2026", "Phys. Rev. D 109, 084054 (2024)") that cannot be split
  into journal/volume/pages; an `@article` with that in `journal` prints wrongly in
  every style. The publisher DOI goes in `doi` and the journal reference in `note`,
  so the reader can still find the published version. arXiv's own DOIs are kept too.
- arXiv papers get `eprint` (no version: the cite stays valid across versions),
  `archivePrefix = {arXiv}`, `primaryClass` and `url` (abstract page). Non-arXiv
  papers get `url` and no eprint fields.
- The title is wrapped in a second pair of braces, `title = {{MC$^2$: ...}}`, so the
  authors' capitalization (acronyms, CamelCase, math) survives styles that
  sentence-case titles. Per-word protection would need to guess which words matter.
- LaTeX specials outside math are escaped (`\\&`, `\\%`, `\\#`, `\\_`, `\\$`, and
  `\\textbraceleft{}`, `\\textasciitilde{}`, ...). Braces become text commands rather than
  `\\{`, because BibTeX counts every brace, escaped or not, and one lone `\\{` would
  swallow the rest of the file. Math (`$...$`, `$$...$$`, `\\(...\\)`) is copied as
  written when its braces balance; only a bare `%`, `&` or `#` in it is escaped (LaTeX
  would read them as a comment or an alignment tab). Unbalanced math is escaped as text.
- Unicode stays UTF-8 (`Löwe`, `Dębowski`): biber and LaTeX since 2018 read it, and
  converting only "common" accents would leave everything else broken anyway. Classic
  8-bit BibTeX can cut a multibyte letter in `alpha` labels; use biber for that.
- Authors are written `von Last, Jr, First`: `Jeroen P. G. van Dijk` -> `van Dijk,
  Jeroen P. G.`, `Yves Le Traon` -> `Le Traon, Yves` (capitalized particles are joined
  to the surname), `Tersoo Upaa Jr` -> `Upaa, Jr, Tersoo`. Names already in `Last,
  First` form pass through. Organisations ("the ... Working Group") and names containing
  the word "and" are braced so BibTeX never splits them. An author "et al." becomes
  BibTeX's `others`.
- Year and month come from the arXiv id (`2405.12345`, `nlin/0408039`: the month v1
  got its id; a listing's announcement date may be a years-later cross-list), else
  the submission date, the announcement date, the Hugging Face day.
- Citation keys: `<first author's surname><year><first significant title word>`, ASCII
  lowercase letters and digits only (`Löwe` -> `lowe`, `Łukasz` -> `lukasz`), e.g.
  `coscia2026balora`. They depend only on the paper, so they are stable across exports.
  Papers that would share a key get `a`, `b`, ... in the order of their paper key
  (for arXiv: oldest id first), not bookmark order, so rearranging bookmarks never
  renames a cite. A paper bookmarked twice is written once.

CSV
- RFC 4180 (CRLF, quotes doubled, minimal quoting), UTF-8 without BOM, header row.
- Spreadsheet formula injection: a cell starting with `=`, `+`, `-`, `@`, a tab or CR
  (or their full-width forms) gets a leading `'`, which Excel, LibreOffice and Google
  Sheets show as text and never evaluate. The cost: such a title reads `'-Adjusted...`
  in other tools.

Markdown
- Titles and names are escaped (`\\[`, `\\]`, `\\*`, `\\_`, `` \\` ``, `\\$`, `\\<`, ...) so a
  link never breaks and TeX shows as written instead of being rendered as math. URLs
  have spaces, parentheses and angle brackets percent-encoded; only http(s) URLs are
  linked, anything else is shown as text.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from bot.merge import StoredPaper

__all__ = [
    "FORMATS",
    "ExportFormat",
    "ExportItem",
    "citation_keys",
    "export_bibtex",
    "export_csv",
    "export_filename",
    "export_markdown",
]


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One bookmark: the paper and when the user saved it."""

    paper: StoredPaper
    saved_at: datetime


# ------------------------------------------------------------------------- LaTeX text

_TEX_TEXT_ESCAPES = {
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}
_TEX_TEXT_RE = re.compile(r"[&%#_${}~^\\]")
# An escaped dollar (a literal `$`, as bot.text leaves it), then the math forms bot.text keeps.
_TEX_MATH_RE = re.compile(r"\\\$|\$\$(?:\\.|[^$\\])+\$\$|\$(?:\\.|[^$\\])+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
_TEX_MATH_BARE_RE = re.compile(r"(?<!\\)([%&#])")


def _braces_balanced(text: str) -> bool:
    """BibTeX's own rule: every brace counts, backslash or not."""
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _tex_text(text: str) -> str:
    return _TEX_TEXT_RE.sub(lambda m: _TEX_TEXT_ESCAPES[m.group(0)], text)


def tex_escape(text: str) -> str:
    """Text for a BibTeX field: specials escaped outside math, balanced math kept as written."""
    text = " ".join(text.split())
    out: list[str] = []
    pos = 0
    for m in _TEX_MATH_RE.finditer(text):
        out.append(_tex_text(text[pos : m.start()]))
        segment = m.group(0)
        if segment == "\\$":
            out.append("\\$")
        elif _braces_balanced(segment):
            out.append(_TEX_MATH_BARE_RE.sub(r"\\\1", segment))
        else:
            out.append(_tex_text(segment))
        pos = m.end()
    out.append(_tex_text(text[pos:]))
    return "".join(out)


def _verbatim(value: str) -> str:
    """A URL/DOI for a verbatim field: never escaped, but it must not unbalance the entry."""
    value = value.strip()
    for char, code in (("\\", "%5C"), ("{", "%7B"), ("}", "%7D"), (" ", "%20")):
        value = value.replace(char, code)
    return "".join(value.split())


# ---------------------------------------------------------------------------- names

_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
# Capitalized particles that belong to the surname when they are not the first word:
# `Guy Van den Broeck`, `Yves Le Traon`, `Paolo Di Lorenzo`, `Luc De Raedt`.
_CAP_PARTICLES = frozenset(
    {
        "Van", "Von", "Vander", "Der", "Den", "De", "Del", "Della", "Dalla", "Dello", "Dei",
        "Di", "Da", "Dal", "Du", "Des", "Dos", "Das", "Le", "La", "Lo", "Ter", "Ten", "Al", "El",
    }
)  # fmt: skip
_ORG_WORDS = frozenset(
    {
        "group", "team", "consortium", "collaboration", "committee", "university", "institute",
        "laboratory", "lab", "labs", "inc", "inc.", "ltd", "ltd.", "corporation", "foundation",
        "society", "association", "center", "centre", "network", "initiative", "project",
        "organization", "organisation", "council", "agency", "department", "alliance",
    }
)  # fmt: skip
_ET_AL_RE = re.compile(r"^et\.?\s*al\.?$", re.I)


@dataclass(frozen=True, slots=True)
class _Name:
    bibtex: str  # the name as written in the author field
    family: str  # for the citation key


def _split_name(raw: str) -> _Name | None:
    """One display name -> `von Last, Jr, First`, the form BibTeX cannot misread."""
    name = " ".join(raw.split()).strip(" ,;")
    if not name:
        return None
    if _ET_AL_RE.match(name):
        return _Name("others", "")
    words = name.split(" ")
    lowered = [w.lower().strip(",") for w in words]
    # `the X Working Group`; a lowercase first word is only a particle in `van der Berg, K.` form.
    is_org = (
        any(w in _ORG_WORDS for w in lowered)
        or ("," not in name and words[0][:1].islower())
        or name.count(",") > 2
    )
    if is_org or "and" in lowered:
        family = next((w for w in words if w[:1].isupper()), words[0])
        return _Name("{" + tex_escape(name) + "}", family)
    if "," in name:  # already `Last, First` (or `Last, Jr, First`)
        family = name.split(",", 1)[0]
        return _Name(tex_escape(name), family)
    if len(words) == 1:
        return _Name(tex_escape(name), name)
    suffix = ""
    if len(words) >= 3 and words[-1].lower() in _SUFFIXES:
        suffix = words.pop()
    split = len(words) - 1
    for i in range(1, len(words) - 1):
        word = words[i]
        if word[:1].islower() or word in _CAP_PARTICLES:
            split = i
            break
    first, last = " ".join(words[:split]), " ".join(words[split:])
    parts = [last, suffix, first] if suffix else [last, first]
    return _Name(", ".join(tex_escape(p) for p in parts), last)


def _bibtex_authors(authors: Iterable[str]) -> tuple[str, str]:
    """The author field and the first author's family name (for the key)."""
    names = [n for n in (_split_name(a) for a in authors) if n is not None]
    family = next((n.family for n in names if n.bibtex != "others"), "")
    return " and ".join(n.bibtex for n in names), family


# ---------------------------------------------------------------------- keys & dates

_ASCII_FOLD = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
        "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i",
        "ŋ": "ng", "Ŋ": "NG", "ħ": "h", "Ħ": "H",
    }
)  # fmt: skip
_KEY_DROP_RE = re.compile(r"[^a-z0-9]+")
_STOPWORDS = frozenset(
    {
        "a", "an", "the", "on", "of", "in", "for", "and", "or", "to", "with", "at", "by", "from",
        "via", "is", "are", "do", "does", "can", "how", "what", "why", "when", "towards", "toward",
        "into", "as", "be", "we", "our", "its", "it", "this", "that", "not", "no", "vs",
    }
)  # fmt: skip
_NEW_ID_RE = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}$")
_OLD_ID_RE = re.compile(r"^[a-z-]+(?:\.[A-Z]{2})?/(\d{2})(\d{2})\d{3}$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _ascii_key_part(text: str) -> str:
    """`Löwe` -> `lowe`, `Łukasz` -> `lukasz`; anything without a Latin letter -> ``."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _KEY_DROP_RE.sub("", folded.lower())


def _title_word(title: str) -> str:
    """The first significant title word, math dropped: `MC$^2$: Monte...` -> `mc`."""
    plain = _TEX_MATH_RE.sub(" ", title)
    for word in re.split(r"[\s\-–—/:]+", plain):
        part = _ascii_key_part(word)
        if part and part not in _STOPWORDS:
            return part
    return ""


def _arxiv_year_month(arxiv_id: str | None) -> tuple[int, int] | None:
    if not arxiv_id:
        return None
    m = _NEW_ID_RE.match(arxiv_id) or _OLD_ID_RE.match(arxiv_id)
    if not m:
        return None
    yy, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return None
    return (1900 + yy if yy >= 91 else 2000 + yy), month


def paper_year_month(paper: StoredPaper) -> tuple[int, int] | None:
    """When the paper first appeared: the arXiv id's month is the most stable answer."""
    from_id = _arxiv_year_month(paper.arxiv_id)
    if from_id:
        return from_id
    for when in (paper.submitted, paper.announced, paper.hf_date):
        if when is not None:
            return when.year, when.month
    return None


def _base_key(paper: StoredPaper, family: str) -> str:
    year_month = paper_year_month(paper)
    year = str(year_month[0]) if year_month else ""
    return (_ascii_key_part(family) or "anon") + year + _title_word(paper.title)


def _suffix(n: int) -> str:
    """1 -> a, 26 -> z, 27 -> aa: bijective base 26, so suffixes never run out."""
    letters = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return letters


def _unique_papers(items: Iterable[ExportItem]) -> list[StoredPaper]:
    seen: set[str] = set()
    papers: list[StoredPaper] = []
    for item in items:
        if item.paper.key not in seen:
            seen.add(item.paper.key)
            papers.append(item.paper)
    return papers


def citation_keys(papers: Sequence[StoredPaper]) -> dict[str, str]:
    """Paper key -> citation key, unique within the set and independent of its order."""
    bases = {p.key: _base_key(p, _bibtex_authors(p.authors)[1]) for p in papers}
    all_bases = set(bases.values())
    used: set[str] = set()
    tried: dict[str, int] = {}  # suffixes already spent per base: 10,000 alike papers stay linear
    keys: dict[str, str] = {}
    for paper_key in sorted(bases, key=lambda k: (bases[k], k)):
        base = bases[paper_key]
        n = tried.get(base, 0)
        candidate = base + _suffix(n)
        # A suffixed key must not take another paper's natural key (`smith2024a` from "A...").
        while candidate in used or (n and candidate in all_bases):
            n += 1
            candidate = base + _suffix(n)
        tried[base] = n + 1
        used.add(candidate)
        keys[paper_key] = candidate
    return keys


# --------------------------------------------------------------------------- BibTeX


def _bibtex_entry(paper: StoredPaper, key: str) -> str:
    author, _ = _bibtex_authors(paper.authors)
    fields: list[tuple[str, str]] = []
    if paper.title.strip():
        fields.append(("title", "{{" + tex_escape(paper.title) + "}}"))
    if author:
        fields.append(("author", "{" + author + "}"))
    year_month = paper_year_month(paper)
    if year_month:
        fields.append(("year", "{" + str(year_month[0]) + "}"))
        fields.append(("month", _MONTHS[year_month[1] - 1]))  # a macro: every style knows it
    if paper.arxiv_id:
        fields.append(("eprint", "{" + _verbatim(paper.arxiv_id) + "}"))
        fields.append(("archivePrefix", "{arXiv}"))
        if paper.primary_category:
            fields.append(("primaryClass", "{" + _verbatim(paper.primary_category) + "}"))
    if paper.doi and paper.doi.strip():
        fields.append(("doi", "{" + _verbatim(paper.doi) + "}"))
    url = paper.abs_url or paper.hf_url or paper.project_url
    if url and url.strip():
        fields.append(("url", "{" + _verbatim(url) + "}"))
    if paper.journal_ref and paper.journal_ref.strip():
        fields.append(("note", "{" + tex_escape(paper.journal_ref) + "}"))
    body = "".join(f"  {name} = {value},\n" for name, value in fields)
    return f"@misc{{{key},\n{body}}}\n"


def export_bibtex(items: Sequence[ExportItem]) -> str:
    """A `.bib` file, one `@misc` per paper, in bookmark order."""
    papers = _unique_papers(items)
    keys = citation_keys(papers)
    noun = "entry" if len(papers) == 1 else "entries"
    header = f"% paperbot bookmarks: {len(papers)} {noun}. UTF-8; biber or LaTeX 2018+ reads it.\n"
    if not papers:
        return header
    return header + "\n" + "\n".join(_bibtex_entry(p, keys[p.key]) for p in papers)


# ------------------------------------------------------------------------------ CSV

CSV_COLUMNS = (
    "id",
    "title",
    "authors",
    "categories",
    "announced",
    "saved_at",
    "abs_url",
    "pdf_url",
    "code_url",
    "doi",
    "journal_ref",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def _csv_cell(value: str | None) -> str:
    """A cell a spreadsheet shows as text: formula-looking values get a leading `'`."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def export_csv(items: Sequence[ExportItem]) -> str:
    """One row per bookmark, in bookmark order, under a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        paper = item.paper
        row = (
            paper.arxiv_id or paper.key,
            paper.title,
            "; ".join(paper.authors),
            "; ".join(paper.categories),
            paper.announced.isoformat() if paper.announced else "",
            item.saved_at.isoformat(timespec="seconds"),
            paper.abs_url,
            paper.pdf_url,
            paper.code_url,
            paper.doi,
            paper.journal_ref,
        )
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue()


# ------------------------------------------------------------------------- Markdown

MARKDOWN_MAX_AUTHORS = 10
_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>$|~])")
_MD_ENTITY_RE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_URL_UNSAFE = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "\\": "%5C"}


def md_escape(text: str) -> str:
    """Inline Markdown text that renders as written and cannot end a link early."""
    text = _MD_SPECIAL_RE.sub(r"\\\1", " ".join(text.split()))
    return _MD_ENTITY_RE.sub(r"\\&", text)


def _md_url(url: str | None) -> str | None:
    """A link destination that cannot break out of `(...)`, or None when not http(s)."""
    if not url:
        return None
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")):
        return None
    return "".join(_URL_UNSAFE.get(c, c) for c in url if c not in "\r\n\t")


def _md_link(text: str, url: str | None) -> str:
    target = _md_url(url)
    return f"[{text}]({target})" if target else text


def _md_authors(authors: Sequence[str]) -> str:
    if not authors:
        return "Unknown authors"
    shown = ", ".join(md_escape(a) for a in authors[:MARKDOWN_MAX_AUTHORS])
    if len(authors) > MARKDOWN_MAX_AUTHORS:
        shown += f" et al. ({len(authors)} authors)"
    return shown


def _md_item(number: int, item: ExportItem) -> str:
    paper = item.paper
    title = md_escape(paper.title) or "(untitled)"
    lines = [f"{number}. {_md_link(title, paper.abs_url or paper.hf_url or paper.project_url)}"]
    lines.append(f"   - Authors: {_md_authors(paper.authors)}")
    where = [md_escape(", ".join(paper.categories))] if paper.categories else []
    if paper.arxiv_id:
        where.append(f"arXiv:{md_escape(paper.arxiv_id)}")
    if paper.journal_ref:
        where.append(md_escape(paper.journal_ref))
    if where:
        lines.append(f"   - {' · '.join(where)}")
    links = [
        _md_link(label, url)
        for label, url in (
            ("PDF", paper.pdf_url),
            ("Code", paper.code_url),
            ("Hugging Face", paper.hf_url),
            ("Project", paper.project_url),
            ("DOI", f"https://doi.org/{paper.doi.strip()}" if paper.doi else None),
        )
        if _md_url(url)
    ]
    if links:
        lines.append(f"   - Links: {' · '.join(links)}")
    lines.append(f"   - Saved: {item.saved_at.date().isoformat()}")
    return "\n".join(lines) + "\n"


def export_markdown(items: Sequence[ExportItem]) -> str:
    """A titled, numbered list in bookmark order (newest first, as given)."""
    head = "# paperbot bookmarks\n\n"
    if not items:
        return head + "No bookmarks yet.\n"
    noun = "bookmark" if len(items) == 1 else "bookmarks"
    head += f"{len(items)} {noun}, newest first.\n\n"
    return head + "\n".join(_md_item(n, item) for n, item in enumerate(items, 1))


# -------------------------------------------------------------------------- formats


class ExportFormat(NamedTuple):
    """How to render one format and how to name and label the attachment."""

    render: Callable[[Sequence[ExportItem]], str]
    extension: str
    mime_type: str


FORMATS: dict[str, ExportFormat] = {
    "bibtex": ExportFormat(export_bibtex, "bib", "text/x-bibtex; charset=utf-8"),
    "csv": ExportFormat(export_csv, "csv", "text/csv; charset=utf-8"),
    "markdown": ExportFormat(export_markdown, "md", "text/markdown; charset=utf-8"),
}


def export_filename(fmt: str, when: date) -> str:
    """`paperbot-bookmarks-2026-05-12.bib`: dated, so repeated exports do not overwrite."""
    try:
        extension = FORMATS[fmt].extension
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    day = when.date() if isinstance(when, datetime) else when
    return f"paperbot-bookmarks-{day.isoformat()}.{extension}"
