"""A digest as Discord messages, always within Discord's limits. Pure: data in, data out.

Layout: one overview message in the channel (date, how many papers, the top
titles as links), a thread on it with one message per paper, and a last
message with a button for the papers beyond the cap. Nothing here talks to
Discord, so "does it fit" is a unit test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.digest.model import (
    BOOKMARK_EMOJI,
    SUBSCRIBE_EMOJI,
    Button,
    DigestConfig,
    DigestPlan,
    EmptyDays,
    PlannedMessage,
)
from bot.digest.select import DigestEntry
from bot.merge import StoredPaper
from bot.models import AnnounceType
from bot.present import escape_markdown, fit_lines, md_link, short_authors, text_length, trim

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_LIMIT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR_NAME = 256
EMBEDS_TOTAL = 6000
EMBEDS_PER_MESSAGE = 10
BUTTON_LABEL = 80
THREAD_NAME = 100

SUMMARY_CHARS = 700  # a card, not the whole abstract: keeps a thread of 25 papers readable
BUTTON_URL = 512  # Discord's limit on a link button's URL
LINK_URL_MAX = 800  # longer URLs are shown, not linked, so a field stays under 1,024
OVERVIEW_TITLES = 10

COLOUR_NEW = 0x5865F2
COLOUR_CROSS = 0x99AAB5
COLOUR_HF = 0xFFD21E
COLOUR_NOTICE = 0xFAA61A


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source a digest relies on that is failing: the digest says so rather than post less."""

    label: str
    since: datetime | None
    reason: str | None


def embed_length(embed: dict[str, Any]) -> int:
    total = text_length(embed.get("title", "")) + text_length(embed.get("description", ""))
    total += text_length(embed.get("footer", {}).get("text", ""))
    total += text_length(embed.get("author", {}).get("name", ""))
    for field in embed.get("fields", []):
        total += text_length(field["name"]) + text_length(field["value"])
    return total


def limit_problems(content: str | None, embeds: Sequence[dict[str, Any]],
                   buttons: Sequence[Button] = ()) -> list[str]:
    """Every way a message would break Discord's limits (empty list: it fits)."""
    problems = []
    if content is not None and text_length(content) > CONTENT_LIMIT:
        problems.append(f"content {text_length(content)} > {CONTENT_LIMIT}")
    if not content and not embeds:
        problems.append("empty message")
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"{len(embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    for embed in embeds:
        checks = [
            ("title", text_length(embed.get("title", "")), EMBED_TITLE),
            ("description", text_length(embed.get("description", "")), EMBED_DESCRIPTION),
            ("fields", len(embed.get("fields", [])), EMBED_FIELDS),
            ("footer", text_length(embed.get("footer", {}).get("text", "")), FOOTER),
        ]
        checks += [(f"field name {f['name'][:20]!r}", text_length(f["name"]), FIELD_NAME)
                   for f in embed.get("fields", [])]
        checks += [(f"field value {f['name'][:20]!r}", text_length(f["value"]), FIELD_VALUE)
                   for f in embed.get("fields", [])]
        problems += [f"{what} {size} > {limit}" for what, size, limit in checks if size > limit]
    total = sum(embed_length(e) for e in embeds)
    if total > EMBEDS_TOTAL:
        problems.append(f"embeds total {total} > {EMBEDS_TOTAL}")
    if len(buttons) > 25:
        problems.append("more than 25 buttons")
    problems += [f"button label {b.label!r}" for b in buttons if text_length(b.label) > BUTTON_LABEL]
    problems += [f"button URL of {len(b.url)}" for b in buttons if b.url and len(b.url) > BUTTON_URL]
    return problems


def _day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def marker(digest_id: int, day: date, seq: int, total: int) -> str:
    """Footer text that identifies a digest message, so a crashed run can find what it posted."""
    return f"paperbot digest #{digest_id} · {day.isoformat()} · {seq}/{total}"


def paper_embed(
    paper: StoredPaper, announce_type: AnnounceType | None = None, *, footer: str | None = None,
    number: int | None = None,
) -> dict[str, Any]:
    """A paper's card: linked title, authors, HF summary or trimmed abstract, categories, signals."""
    link = paper.abs_url or paper.hf_url
    prefix = f"{number}. " if number is not None else ""
    title = trim(prefix + escape_markdown(paper.title), EMBED_TITLE)
    lines = [f"*{escape_markdown(trim(short_authors(paper.authors, max_names=4), 300))}*"]
    if paper.hf_ai_summary:
        lines.append(f"🤗 {escape_markdown(trim(paper.hf_ai_summary, SUMMARY_CHARS))}")
    elif paper.abstract:
        lines.append(escape_markdown(trim(paper.abstract, SUMMARY_CHARS)))
    fields = []
    if paper.categories:
        shown = [f"**{paper.categories[0]}**", *paper.categories[1:6]]
        cross = " (cross-list)" if announce_type == AnnounceType.CROSS else ""
        fields.append({"name": "Categories", "value": " · ".join(shown) + cross, "inline": True})
    if paper.hf_upvotes is not None:
        comments = f" · 💬 {paper.hf_comments}" if paper.hf_comments else ""
        fields.append({"name": "Hugging Face", "value": f"▲ {paper.hf_upvotes} upvotes{comments}",
                       "inline": True})
    if paper.code_url:
        stars = f" ★ {paper.github_stars}" if paper.github_stars else ""
        label = trim(paper.code_url.removeprefix("https://").removeprefix("github.com/"), 80)
        fields.append({"name": "Code", "value": _short_link(label, paper.code_url) + stars, "inline": True})
    if paper.project_url:
        label = trim(paper.project_url.removeprefix("https://").removeprefix("http://").rstrip("/"), 80)
        fields.append({"name": "Project page", "value": _short_link(label, paper.project_url),
                       "inline": True})
    if paper.journal_ref or paper.doi:
        published = escape_markdown(trim(paper.journal_ref or f"doi:{paper.doi}", 300))
        fields.append({"name": "Published", "value": published, "inline": False})
    embed: dict[str, Any] = {
        "title": title,
        # Each part is bounded (authors 300, summary 700 before escaping): joined, far below 4,096.
        "description": "\n\n".join(lines),
        "color": COLOUR_CROSS if announce_type == AnnounceType.CROSS else (
            COLOUR_HF if paper.hf_upvotes is not None else COLOUR_NEW),
        "fields": fields,
    }
    if link:
        embed["url"] = link
    if paper.hf_thumbnail:  # Daily Papers' image, beside the text
        embed["thumbnail"] = {"url": paper.hf_thumbnail}
    if footer:
        embed["footer"] = {"text": trim(footer, FOOTER)}
    return embed


def _short_link(label: str, url: str) -> str:
    """A linked label; a URL too long for a field (Discord: 1,024 per value) is shown as text."""
    return md_link(label, url) if len(url) <= LINK_URL_MAX else escape_markdown(label)


def paper_buttons(paper: StoredPaper) -> list[Button]:
    """🔖 Save and 🧭 Similar (persistent), then links: PDF, Hugging Face page, code."""
    buttons = [Button("Save", custom_id=f"pb:save:{paper.key}", emoji="🔖"),
               Button("Similar", custom_id=f"pb:similar:{paper.key}", emoji="🧭")]
    if paper.pdf_url:
        buttons.append(Button("PDF", url=paper.pdf_url, emoji="📄"))
    if paper.hf_url:
        buttons.append(Button("Hugging Face", url=paper.hf_url, emoji="🤗"))
    if paper.code_url:
        buttons.append(Button("Code", url=paper.code_url, emoji="💻"))
    return [b for b in buttons if not b.url or len(b.url) <= BUTTON_URL]  # Discord refuses longer


def _counts_line(entries: Sequence[DigestEntry]) -> str:
    new = sum(1 for e in entries if e.announce_type == AnnounceType.NEW)
    cross = sum(1 for e in entries if e.announce_type == AnnounceType.CROSS)
    hf = sum(1 for e in entries if e.announce_type is None)
    parts = []
    if new:
        parts.append(f"{new} new")
    if cross:
        parts.append(f"{cross} cross-listed")
    if hf:
        parts.append(f"{hf} from Hugging Face Daily Papers")
    total = len(entries)
    noun = "paper" if total == 1 else "papers"
    return f"**{total} {noun}**" + (f" ({', '.join(parts)})" if parts else "")


def _problem_lines(problems: Sequence[SourceProblem]) -> list[str]:
    lines = []
    for problem in problems:
        since = f" since <t:{int(problem.since.timestamp())}:R>" if problem.since else ""
        reason = f": {escape_markdown(trim(problem.reason, 160))}" if problem.reason else ""
        lines.append(f"⚠️ **{escape_markdown(problem.label)}** could not be fetched{since}{reason}. "
                     "Papers from it may be missing.")
    return lines


def empty_day_line(config: DigestConfig, run_date: date, problems: Sequence[SourceProblem]) -> str | None:
    """What an empty day posts: a short line, or None for nothing."""
    if problems:
        return "📭 No papers to post today.\n" + "\n".join(_problem_lines(problems))
    weekend = run_date.weekday() >= 5
    if config.empty_days == EmptyDays.NEVER or (config.empty_days == EmptyDays.AUTO and weekend):
        return None
    why = "arXiv announces nothing on weekends" if weekend else (
        "an arXiv holiday, or nothing was announced")
    return f"📭 No new papers in {escape_markdown(config.label)} today ({why})."


@dataclass(frozen=True, slots=True)
class TopicGroup:
    """A server topic and the digest's papers that match it."""

    topic_id: int
    name: str
    keys: frozenset[str]


def group_by_topic(
    shown: Sequence[DigestEntry], topics: Sequence[TopicGroup]
) -> list[tuple[TopicGroup | None, list[DigestEntry]]]:
    """Papers under their first matching topic (topics in order of their best paper), then the rest."""
    placed: set[str] = set()
    groups: list[tuple[TopicGroup | None, list[DigestEntry]]] = []
    order = sorted(
        (t for t in topics if any(e.paper.key in t.keys for e in shown)),
        key=lambda t: min(i for i, e in enumerate(shown) if e.paper.key in t.keys),
    )
    for topic in order:
        members = [e for e in shown if e.paper.key in topic.keys and e.paper.key not in placed]
        if members:
            groups.append((topic, members))
            placed.update(e.paper.key for e in members)
    rest = [e for e in shown if e.paper.key not in placed]
    if rest:
        groups.append((None, rest))
    return groups


def build_plan(
    config: DigestConfig,
    *,
    run_id: int,
    run_date: date,
    ranked: Sequence[DigestEntry],
    day: date | None,
    problems: Sequence[SourceProblem] = (),
    topics: Sequence[TopicGroup] = (),
) -> DigestPlan:
    """The messages of one digest, in posting order. `ranked` is every selected paper, best first;
    papers matching the server's topics are grouped under a header per topic (🔔 subscribes)."""
    digest_id = config.id or 0
    extra = [e.paper.key for e in ranked[config.max_papers:]]
    day = day or run_date
    groups = group_by_topic(list(ranked[: config.max_papers]), topics)
    with_headers = any(topic is not None for topic, _ in groups)
    shown = [e for _, members in groups for e in members]

    if not shown:
        line = empty_day_line(config, run_date, problems)
        messages = []
        if line is not None:
            messages.append(PlannedMessage(
                seq=0, kind="notice", target="channel",
                content=trim(line, CONTENT_LIMIT), marker=f"digest #{digest_id} {run_date.isoformat()}",
            ))
        return DigestPlan(day=day, messages=messages, thread_name=None, paper_count=0)

    headers = len(groups) if with_headers else 0
    total = len(shown) + headers + 1 + (1 if extra else 0)
    title_lines = []
    for number, entry in enumerate(shown[:OVERVIEW_TITLES], 1):
        upvotes = f" ▲{entry.paper.hf_upvotes}" if entry.paper.hf_upvotes is not None else ""
        label = trim(entry.paper.title, 120)
        title_lines.append(f"{number}. {md_link(label, entry.paper.abs_url or entry.paper.hf_url)}{upvotes}")
    description = [f"{_counts_line(ranked)} · the top {len(shown)} in the thread below", ""]
    if with_headers:
        named = [f"**{escape_markdown(t.name)}** ({len(m)})" for t, m in groups if t is not None]
        description += ["Topics: " + " · ".join(named), ""]
    description += title_lines
    if len(shown) > OVERVIEW_TITLES:
        description.append(f"…and {len(shown) - OVERVIEW_TITLES} more in the thread")
    if extra:
        description.append(f"({len(extra)} more behind the button at the end of the thread)")
    overview: dict[str, Any] = {
        "title": trim(f"📚 {config.label} · {_day(day)}", EMBED_TITLE),
        "description": fit_lines(description, EMBED_DESCRIPTION)[0],
        "color": COLOUR_NEW,
        "footer": {"text": marker(digest_id, run_date, 1, total)},
    }
    if problems:
        overview["fields"] = [{"name": "Missing sources",
                               "value": fit_lines(_problem_lines(problems), FIELD_VALUE)[0], "inline": False}]
    messages = [PlannedMessage(seq=0, kind="overview", target="channel", embeds=[overview],
                               marker=marker(digest_id, run_date, 1, total))]
    number = 0
    for topic, members in groups:
        if with_headers:
            seq = len(messages)
            mark = marker(digest_id, run_date, seq + 1, total)
            if topic is not None:
                count = f"{len(members)} {'paper' if len(members) == 1 else 'papers'}"
                content = (f"📌 **{escape_markdown(topic.name)}** · {count}\n"
                           f"React {SUBSCRIBE_EMOJI} to get this topic's new papers by DM.\n-# {mark}")
                messages.append(PlannedMessage(seq=seq, kind="topic", target="thread", content=content,
                                               topic_id=topic.topic_id, reaction=SUBSCRIBE_EMOJI,
                                               marker=mark))
            else:
                messages.append(PlannedMessage(seq=seq, kind="notice", target="thread",
                                               content=f"**Other papers**\n-# {mark}", marker=mark))
        for entry in members:
            number += 1
            seq = len(messages)
            mark = marker(digest_id, run_date, seq + 1, total)
            messages.append(PlannedMessage(
                seq=seq, kind="paper", target="thread",
                embeds=[paper_embed(entry.paper, entry.announce_type, footer=mark, number=number)],
                buttons=paper_buttons(entry.paper), paper_key=entry.paper.key,
                reaction=BOOKMARK_EMOJI, marker=mark,
            ))
    if extra:
        seq = len(messages)
        mark = marker(digest_id, run_date, seq + 1, total)
        messages.append(PlannedMessage(
            seq=seq, kind="more", target="thread",
            content=f"…and **{len(extra)} more** {'paper' if len(extra) == 1 else 'papers'} "
                    f"in {escape_markdown(config.label)} today.\n-# {mark}",
            buttons=[Button(f"Show {min(len(extra), 10)} more", custom_id=more_custom_id(run_id, 0),
                            emoji="📜")],
            marker=mark,
        ))
    thread_name = trim(f"{config.label} · {day.day} {day:%b %Y} · {len(shown)} papers", THREAD_NAME)
    return DigestPlan(day=day, messages=messages, thread_name=thread_name,
                      paper_count=len(ranked), extra_keys=extra)


def more_custom_id(run_id: int, offset: int) -> str:
    return f"pb:more:{run_id}:{offset}"


MORE_PAGE = 10


def more_page(papers: Sequence[StoredPaper], *, offset: int, total: int) -> dict[str, Any]:
    """One ephemeral page of the papers beyond a digest's cap: numbered, linked titles."""
    lines = []
    for number, paper in enumerate(papers, offset + 1):
        authors = escape_markdown(short_authors(paper.authors, max_names=2))
        lines.append(f"**{number}.** {md_link(trim(paper.title, 200), paper.abs_url or paper.hf_url)}"
                     f"\n{authors}")
    return {
        "title": f"More papers ({offset + 1}–{offset + len(papers)} of {total})",
        "description": fit_lines(lines, EMBED_DESCRIPTION, separator="\n\n")[0],
        "color": COLOUR_NEW,
    }
