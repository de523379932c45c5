"""/search answers as Discord data: a page of results, the Save menu's options, and the
lines for "nothing found". Pure: no I/O, so "does it fit Discord's limits" is a unit test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.present import escape_markdown, md_link, short_authors, trim
from bot.present import fit_lines as present_fit_lines
from bot.search.query import SearchQuery
from bot.search.service import SearchHit

PAGE_SIZE = 5
MAX_RESULTS = 50  # fetched once per search, then paged through in memory

TITLE_CHARS = 200
AUTHOR_CHARS = 120
NOTE_CHARS = 200
MAX_NOTES = 5
OPTION_CHARS = 100  # Discord: select option label, description and value
MAX_URL_CHARS = 300  # a longer link (some RSS feeds) is left out rather than eat the page

COLOUR_RESULTS = 0x5865F2

EMPTY_QUERY = (
    "There is nothing to search for in that query: I search words, so emoji and punctuation alone "
    "match nothing. Try some words from the title or abstract, a `\"phrase in quotes\"`, "
    "`author:name`, or an arXiv id such as `2405.12345`."
)


@dataclass(frozen=True, slots=True)
class ResultRow:
    """What a result page shows of one hit: small, so a search session stays cheap to keep."""

    key: str
    title: str
    authors: str  # already shortened
    url: str | None
    category: str | None
    announced: date | None
    matched_all: bool
    has_code: bool
    hf_upvotes: int | None


def result_row(hit: SearchHit) -> ResultRow:
    paper = hit.paper
    return ResultRow(
        key=paper.key,
        title=" ".join(paper.title.split()) or paper.key,
        authors=short_authors(paper.authors, max_names=3),
        url=paper.abs_url or paper.hf_url,
        category=paper.primary_category,
        announced=paper.announced or paper.hf_date,
        matched_all=hit.matched_all,
        has_code=paper.code_url is not None,
        hf_upvotes=paper.hf_upvotes,
    )


def fit_lines(lines: Sequence[str], limit: int) -> str:
    """Whole lines within `limit`, and an ellipsis line when some are left out."""
    text, kept = present_fit_lines(lines, limit - 2)
    if kept == len(lines):
        return text
    if kept == 0:
        return trim(lines[0], limit)
    return text + "\n…"


def page_count(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def clamp_page(page: int, total: int) -> int:
    return min(max(page, 0), page_count(total) - 1)


def _row_lines(number: int, row: ResultRow) -> str:
    url = row.url if row.url and len(row.url) <= MAX_URL_CHARS else None
    title = md_link(trim(row.title, TITLE_CHARS), url)
    meta = [escape_markdown(trim(row.authors, AUTHOR_CHARS))]
    if row.category:
        meta.append(f"`{row.category}`")
    if row.announced:
        meta.append(f"{row.announced.day} {row.announced:%b %Y}")
    if row.has_code:
        meta.append("💻 code")
    if row.hf_upvotes is not None:
        meta.append(f"▲ {row.hf_upvotes}")
    meta.append(f"`{row.key}`")
    return f"**{number}.** {title}\n{' · '.join(meta)}"


def summary_line(rows: Sequence[ResultRow], *, capped: bool) -> str:
    strict = sum(1 for r in rows if r.matched_all)
    loose = len(rows) - strict
    more = "+" if capped else ""
    if loose == 0:
        noun = "paper matches" if strict == 1 else "papers match"
        return f"**{strict}{more} {noun}.**"
    if strict == 0:
        noun = "paper matches" if loose == 1 else "papers match"
        return f"No paper has every word; **{loose}{more} {noun} some of them.**"
    return f"**{strict} match every word**, and {loose}{more} more match some of them."


def results_embed(
    rows: Sequence[ResultRow],
    page: int,
    *,
    heading: str,
    notes: Sequence[str] = (),
    capped: bool = False,
    searcher: str | None = None,
    ranking: str | None = None,
) -> dict[str, Any]:
    """One page of results: numbered across pages, each a link, partial matches set apart."""
    page = clamp_page(page, len(rows))
    start = page * PAGE_SIZE
    shown = rows[start:start + PAGE_SIZE]
    lines = [f"ℹ️ *{escape_markdown(trim(note, NOTE_CHARS))}*" for note in list(notes)[:MAX_NOTES]]
    if ranking:  # ranked by meaning (bot/meaning/hybrid.py): one list, not "every word" first
        lines.append(f"**{len(rows)}{'+' if capped else ''} papers**, ranked by {ranking}.")
    else:
        lines.append(summary_line(rows, capped=capped))
    for offset, row in enumerate(shown):
        if not ranking and not row.matched_all and (offset == 0 or shown[offset - 1].matched_all):
            lines.append("*— matching only some of your words —*")
        lines.append(_row_lines(start + offset + 1, row))
    footer = f"Page {page + 1} of {page_count(len(rows))} · results {start + 1}–{start + len(shown)}"
    footer += f" of {len(rows)}{'+ (the best shown)' if capped else ''}"
    if searcher:
        footer += f" · searched by {searcher}"
    footer += " · 🔖 save one with the menu below"
    return {
        "title": trim(f"🔎 {heading}", 256),
        "description": fit_lines(lines, 4096),
        "color": COLOUR_RESULTS,
        "footer": {"text": trim(footer, 2048)},
    }


def save_options(rows: Sequence[ResultRow], page: int) -> list[tuple[str, str, str]]:
    """(label, value, description) for the Save menu: the page's results, numbered as shown."""
    page = clamp_page(page, len(rows))
    start = page * PAGE_SIZE
    options = []
    for number, row in enumerate(rows[start:start + PAGE_SIZE], start + 1):
        label = trim(f"{number}. {row.title}", OPTION_CHARS)
        description = trim(f"{row.key} · {row.authors}", OPTION_CHARS)
        options.append((label, row.key[:OPTION_CHARS], description))
    return options


def heading_for(query: SearchQuery) -> str:
    described = " ".join(query.describe().split())
    return trim(described, 200) if described else "your search"


def no_results_text(query: SearchQuery, *, stored: int | None = None) -> str:
    """What to say when nothing matched: what was searched, and what to try next."""
    lines = [f"No stored paper matches **{escape_markdown(heading_for(query))}**."]
    lines += [f"ℹ️ {escape_markdown(trim(note, NOTE_CHARS))}" for note in list(query.notes)[:MAX_NOTES]]
    tips = []
    if query.category_like_words:
        word = query.category_like_words[0][:40]  # letters, dots and hyphens: safe in a code span
        tips.append(f"`{word}` looks like an arXiv category: did you mean the category filter "
                    f"(`category: {word}`) rather than a word to search for?")
    if query.arxiv_ids and not query.has_text:
        tips.append(f"`{query.arxiv_ids[0]}` is not stored yet: `/paper id:{query.arxiv_ids[0]}` fetches "
                    "it from arXiv.")
    words = sum(len(group) for group in query.groups)
    if words > 2:
        tips.append("Try fewer words, or the few you are surest of; put an exact title in `\"quotes\"`.")
    filters = query.filters
    used = [name for name, on in (("category", bool(filters.categories)), ("author", bool(filters.author)),
                                  ("since_days", filters.since is not None),
                                  ("has_code", filters.has_code)) if on]
    if used:
        tips.append(f"Try without the {', '.join(f'`{u}`' for u in used)} "
                    f"filter{'s' if len(used) > 1 else ''}.")
    if not tips:
        tips.append("Try another spelling, a shorter word (`transform*` matches every ending), or fewer "
                    "words.")
    if stored is not None:
        tips.append(f"I search the {stored:,} papers I have stored from the feeds I follow, not all of "
                    "arXiv.")
    return fit_lines(lines + [f"• {tip}" for tip in tips], 2000)
