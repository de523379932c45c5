"""Pure rendering for server feeds, /top and recaps: data in, Discord message dicts out.

Every text that comes from a feed is escaped and trimmed to Discord's limits here, so the
service only sends what `limit_problems` accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.digest.model import Button
from bot.merge import StoredPaper
from bot.models import PaperRecord, ParsedFeed
from bot.present import escape_markdown, fit_lines, md_link, short_authors, trim

DESCRIPTION = 4096
SAFE_DESCRIPTION = 3900
FEED_COLOUR = 0xE67E22
TOP_COLOUR = 0xF1C40F
FEED_MORE = "pb:feedmore"


def live_marker(post_id: int) -> str:
    """Footer text that identifies a live post, so a restart can find one that landed unrecorded."""
    return f"paperbot feed post #{post_id}"


def feed_more_custom_id(post_id: int, offset: int) -> str:
    return f"{FEED_MORE}:{post_id}:{offset}"


def item_link(paper: StoredPaper | PaperRecord) -> str | None:
    return paper.abs_url or paper.hf_url


def item_line(number: int, paper: StoredPaper | PaperRecord, *, extra: str = "") -> str:
    """One item of a list: number, linked title, authors (and a note such as a count)."""
    title = md_link(trim(paper.title or "(untitled)", 180), item_link(paper))
    who = escape_markdown(trim(short_authors(list(paper.authors), max_names=3), 160)) \
        if paper.authors else ""
    second = " · ".join(x for x in (who, extra) if x)
    return f"**{number}.** {title}" + (f"\n{second}" if second else "")


def live_post(
    feed_label: str, papers: Sequence[StoredPaper], *, post_id: int, cap: int,
) -> tuple[str, dict[str, Any], list[Button]]:
    """One poll's new items for a live feed: at most `cap` listed, the rest counted and paged."""
    shown = list(papers[:cap])
    description, listed = fit_lines([item_line(n, p) for n, p in enumerate(shown, 1)],
                                    SAFE_DESCRIPTION, separator="\n\n")
    more = len(papers) - listed
    if more > 0:
        description += f"\n\n…and **{more} more** new {'item' if more == 1 else 'items'}."
    new = len(papers)
    content = f"📰 **{new}** new {'item' if new == 1 else 'items'} from " \
              f"**{escape_markdown(trim(feed_label, 200))}**"
    embed = {
        "title": trim(feed_label, 256),
        "description": description,
        "color": FEED_COLOUR,
        "footer": {"text": live_marker(post_id)},
    }
    buttons = []
    if more > 0:
        buttons.append(Button(f"Show {more} more", custom_id=feed_more_custom_id(post_id, listed),
                              emoji="📜"))
    return content, embed, buttons


def feed_page(papers: Sequence[StoredPaper], *, offset: int, total: int, feed_label: str) -> dict[str, Any]:
    """A page of a live post's items beyond those it lists (opened by its button)."""
    lines = [item_line(offset + n, p) for n, p in enumerate(papers, 1)]
    description, _ = fit_lines(lines, SAFE_DESCRIPTION, separator="\n\n")
    last = offset + len(papers)
    return {
        "title": trim(f"{feed_label}: items {offset + 1}–{last} of {total}", 256),
        "description": description or "Nothing more.",
        "color": FEED_COLOUR,
    }


def feed_test_report(url: str, parsed: ParsedFeed, *, shown: int = 3) -> tuple[str, list[dict[str, Any]]]:
    """What /feed test shows: how the bot reads the feed now, and its first items as cards."""
    count = len(parsed.papers)
    title = escape_markdown(trim(parsed.title or url, 200))
    lines = [f"🔎 **{title}**", f"Read as: **{parsed.kind}** · {count} {'item' if count == 1 else 'items'}"]
    if parsed.feed_date:
        lines.append(f"Feed date: {parsed.feed_date.isoformat()}")
    if parsed.skipped_items:
        lines.append(f"⚠️ {parsed.skipped_items} items skipped (no usable id or link)")
    if not count:
        lines.append("The feed is empty right now; new items will appear when it has some.")
    else:
        lines.append(f"First {min(shown, count)} as they would be posted:")
    lines.append("Nothing was saved. Add it with `/feed add`.")
    embeds = []
    for number, paper in enumerate(parsed.papers[:shown], 1):
        description = escape_markdown(trim(short_authors(list(paper.authors), max_names=4), 300)) \
            if paper.authors else ""
        if paper.abstract:
            description += ("\n\n" if description else "") + escape_markdown(trim(paper.abstract, 500))
        embed: dict[str, Any] = {"title": trim(f"{number}. {escape_markdown(paper.title)}", 256),
                                 "description": description or "(no summary)", "color": FEED_COLOUR}
        if item_link(paper):
            embed["url"] = item_link(paper)
        embeds.append(embed)
    return "\n".join(lines), embeds


def top_embed(
    title: str, saved: Sequence[tuple[StoredPaper, int]], upvoted: Sequence[StoredPaper],
    *, since: datetime, footer: str | None = None,
) -> dict[str, Any]:
    """/top: the server's most saved papers with counts, then Hugging Face's most upvoted."""
    lines = [item_line(n, p, extra=f"🔖 **{count}** {'save' if count == 1 else 'saves'}"
                       + (f" · ▲ {p.hf_upvotes}" if p.hf_upvotes else ""))
             for n, (p, count) in enumerate(saved, 1)]
    saved_text, _ = fit_lines(lines, 1900, separator="\n")
    upvote_lines = [item_line(n, p, extra=f"▲ **{p.hf_upvotes}** upvotes")
                    for n, p in enumerate(upvoted, len(saved) + 1)]
    upvoted_text, _ = fit_lines(upvote_lines, 1900, separator="\n")
    parts = []
    parts.append("**Most saved in this server**\n" + (saved_text or "Nobody saved a paper in this period yet "
                                                      "(🔖 on a digest card, or Save)."))
    if upvoted_text:
        parts.append("**Top on Hugging Face**\n" + upvoted_text)
    embed: dict[str, Any] = {"title": trim(title, 256), "description": "\n\n".join(parts)[:DESCRIPTION],
                             "color": TOP_COLOUR}
    if footer:
        embed["footer"] = {"text": trim(footer, 2048)}
    return embed
