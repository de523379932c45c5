"""/similar, /recommend and the "for you" DM section as Discord payloads (pure: dicts and tuples)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.meaning.service import Recommendation, Related
from bot.merge import StoredPaper
from bot.present import escape_markdown, md_link, short_authors, trim

OPTION_CHARS = 100  # Discord: a select option's label, value and description
COLOR = 0x3BA55C


def _title_link(paper: StoredPaper, limit: int = 150) -> str:
    return md_link(trim(paper.title, limit), paper.abs_url or paper.hf_url)


def similar_embed(paper: StoredPaper, related: Sequence[Related]) -> dict[str, Any]:
    lines = []
    for number, rel in enumerate(related, 1):
        lines.append(f"**{number}.** {_title_link(rel.paper)} · `{rel.paper.key}`\n"
                     f"{escape_markdown(trim(short_authors(rel.paper.authors), 120))} — {rel.why}")
    return {
        "title": trim(f"🧭 Papers like: {paper.title}", 256),
        "url": paper.abs_url or paper.hf_url,
        "description": "\n\n".join(lines) or "No other stored paper is close to this one yet.",
        "color": COLOR,
        "footer": {"text": "Ranked by meaning (title and abstract) · 🔖 the menu saves one"},
    }


def recommend_embed(recs: Sequence[Recommendation], *, days: int) -> dict[str, Any]:
    lines = []
    for number, rec in enumerate(recs, 1):
        lines.append(f"**{number}.** {_title_link(rec.paper)} · `{rec.paper.key}`\n"
                     f"because you saved *{escape_markdown(trim(rec.because.title, 90))}* — {rec.why}")
    return {
        "title": "✨ Recommended for you",
        "description": "\n\n".join(lines),
        "color": COLOR,
        "footer": {"text": f"New papers of the last {days} days closest to your bookmarks · "
                           "/recommend daily:on adds them to your daily DM"},
    }


def for_you_field(recs: Sequence[Recommendation], *, limit: int = 1000) -> dict[str, Any] | None:
    """The daily DM's "For you" section, within an embed field's 1,024 characters."""
    if not recs:
        return None
    lines: list[str] = []
    used = 0
    for rec in recs:
        line = (f"• {_title_link(rec.paper, 90)} — because you saved "
                f"*{escape_markdown(trim(rec.because.title, 60))}*")
        if used + len(line) + 1 > limit:
            break
        lines.append(line)
        used += len(line) + 1
    return {"name": "✨ For you", "value": "\n".join(lines), "inline": False} if lines else None


def save_options(papers: Sequence[StoredPaper]) -> list[tuple[str, str, str]]:
    """(label, value, description) for a 🔖 Save menu: numbered as listed, the value a paper key."""
    return [(trim(f"{n}. {p.title}", OPTION_CHARS), p.key[:OPTION_CHARS],
             trim(f"{p.key} · {short_authors(p.authors)}", OPTION_CHARS))
            for n, p in enumerate(papers, 1)]
