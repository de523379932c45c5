"""The weekly recap: what a server liked this week, as a digest plan (pure).

A recap is a digest with `cadence = weekly`, so it is claimed, planned, posted and recorded
by the same machinery as the daily digest (bot/digest/service.py): exactly once, finished
after a crash without repeats. Only what it holds differs: one overview message in the
channel and a thread with the week's most saved papers in this server (with counts), the
week's top Hugging Face papers (with upvotes), and the most active topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.community.render import TOP_COLOUR, item_line
from bot.digest.model import DigestConfig, DigestPlan, PlannedMessage
from bot.digest.render import marker
from bot.merge import StoredPaper
from bot.present import escape_markdown, fit_lines, md_link, trim

WEEK = timedelta(days=7)
LISTED = 10
OVERVIEW_EACH = 3


@dataclass(frozen=True, slots=True)
class TopicActivity:
    name: str
    papers: int  # the week's new papers matching the topic
    new_followers: int  # 🔔 this week


@dataclass(frozen=True, slots=True)
class WeekFacts:
    start: datetime
    end: datetime
    saved: Sequence[tuple[StoredPaper, int]]
    upvoted: Sequence[StoredPaper]
    topics: Sequence[TopicActivity]

    @property
    def empty(self) -> bool:
        return not self.saved and not self.upvoted and not any(t.papers or t.new_followers
                                                               for t in self.topics)


def _saved_lines(saved: Sequence[tuple[StoredPaper, int]]) -> list[str]:
    return [item_line(n, p, extra=f"🔖 **{c}** {'save' if c == 1 else 'saves'}"
                      + (f" · ▲ {p.hf_upvotes}" if p.hf_upvotes else ""))
            for n, (p, c) in enumerate(saved, 1)]


def _upvoted_lines(upvoted: Sequence[StoredPaper]) -> list[str]:
    return [item_line(n, p, extra=f"▲ **{p.hf_upvotes}** upvotes"
                      + (f" · 💬 {p.hf_comments}" if p.hf_comments else ""))
            for n, p in enumerate(upvoted, 1)]


def _topic_lines(topics: Sequence[TopicActivity]) -> list[str]:
    return [f"**{n}.** 📌 **{escape_markdown(trim(t.name, 80))}**: {t.papers} new "
            f"{'paper' if t.papers == 1 else 'papers'}"
            + (f" · 🔔 +{t.new_followers} {'follower' if t.new_followers == 1 else 'followers'}"
               if t.new_followers else "")
            for n, t in enumerate(topics, 1)]


def _section(title: str, lines: list[str], empty: str, footer: str) -> dict[str, Any]:
    description, _ = fit_lines(lines, 3900, separator="\n")
    return {"title": title, "description": description or empty, "color": TOP_COLOUR,
            "footer": {"text": footer}}


def _range(facts: WeekFacts) -> str:
    first, last = facts.start.date(), (facts.end - timedelta(seconds=1)).date()
    return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"


def build_recap_plan(config: DigestConfig, *, run_date: date, facts: WeekFacts) -> DigestPlan:
    """The recap's messages in posting order: overview in the channel, three sections in a thread."""
    digest_id = config.id or 0
    paper_count = len(facts.saved) + len(facts.upvoted)
    if facts.empty:
        mark = marker(digest_id, run_date, 1, 1)
        line = (f"📅 **Weekly recap** ({_range(facts)}): a quiet week, nothing was saved here and no "
                f"Hugging Face papers came in. 🔖 on any card counts for next week.\n-# {mark}")
        return DigestPlan(day=run_date, messages=[PlannedMessage(
            seq=0, kind="notice", target="channel", content=line, marker=mark)],
            thread_name=None, paper_count=0)
    total = 4
    overview_lines = []
    if facts.saved:
        overview_lines.append("**🔖 Most saved here**")
        overview_lines += [f"{n}. {md_link(trim(p.title, 100), p.abs_url or p.hf_url)} · {c}"
                           for n, (p, c) in enumerate(facts.saved[:OVERVIEW_EACH], 1)]
    if facts.upvoted:
        overview_lines.append("**🤗 Top on Hugging Face**")
        overview_lines += [f"{n}. {md_link(trim(p.title, 100), p.abs_url or p.hf_url)} · ▲{p.hf_upvotes}"
                           for n, p in enumerate(facts.upvoted[:OVERVIEW_EACH], 1)]
    active = [t for t in facts.topics if t.papers or t.new_followers]
    if active:
        overview_lines.append("**📌 Most active topics:** " + " · ".join(
            f"{escape_markdown(trim(t.name, 40))} ({t.papers})" for t in active[:OVERVIEW_EACH]))
    overview_lines.append("Full lists in the thread below.")
    overview = {
        "title": trim(f"📅 {config.label} · {_range(facts)}", 256),
        "description": fit_lines(overview_lines, 3900)[0],
        "color": TOP_COLOUR,
        "footer": {"text": marker(digest_id, run_date, 1, total)},
    }
    messages = [PlannedMessage(seq=0, kind="overview", target="channel", embeds=[overview],
                               marker=marker(digest_id, run_date, 1, total))]
    sections = [
        ("🔖 Most saved in this server this week", _saved_lines(facts.saved[:LISTED]),
         "Nothing was saved this week (🔖 on any card, or Save)."),
        ("🤗 Top on Hugging Face this week", _upvoted_lines(facts.upvoted[:LISTED]),
         "No Hugging Face papers this week."),
        ("📌 Most active topics", _topic_lines(active[:LISTED]),
         "No topic had new papers this week (admins add topics with /topic add)."),
    ]
    for title, lines, empty in sections:
        seq = len(messages)
        mark = marker(digest_id, run_date, seq + 1, total)
        messages.append(PlannedMessage(seq=seq, kind="notice", target="thread",
                                       embeds=[_section(title, lines, empty, mark)], marker=mark))
    thread_name = trim(f"Weekly recap · {_range(facts)}", 100)
    return DigestPlan(day=run_date, messages=messages, thread_name=thread_name, paper_count=paper_count)
