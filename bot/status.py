"""What /status shows an operator at a glance. Rendering is pure: a report in, an embed out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import discord

from bot.store import FeedState


@dataclass(slots=True)
class StatusReport:
    now: datetime
    started_at: datetime
    latency_seconds: float
    papers_total: int
    papers_today: int
    database_bytes: int
    feeds: list[FeedState]
    next_digests: list[str] = field(default_factory=list)  # lines, for this server
    digest_problems: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)  # several processes: shards, poller, heartbeat


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    return f"<t:{int(then.timestamp())}:R>"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def _size(num: int) -> str:
    size = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{num} B"  # pragma: no cover


def feed_state_line(feed: FeedState, now: datetime, *, admin: bool) -> str:
    name = discord.utils.escape_markdown(feed.label if (admin or feed.name) else _host(feed.url))
    if feed.failing:
        line = f"⚠️ **{name}**: failing ({feed.consecutive_failures} failures in a row)"
    elif feed.consecutive_failures:
        line = f"🟡 **{name}**: retrying after {feed.consecutive_failures} failure(s)"
    elif feed.last_success_at is None:
        line = f"⏳ **{name}**: not fetched yet"
    else:
        line = f"✅ **{name}**"
    line += f" · last success {_ago(now, feed.last_success_at)}"
    if admin and feed.consecutive_failures:
        if feed.last_error:
            line += f"\n  └ last error: {discord.utils.escape_markdown(feed.last_error[:180])}"
        if feed.next_attempt_at and feed.next_attempt_at > now:
            line += f"\n  └ next try {_ago(now, feed.next_attempt_at)}"
    return line


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.hostname or url) + parts.path


def render_status(report: StatusReport, *, admin: bool) -> discord.Embed:
    """The /status embed. Admins also see errors, backoff and the database size."""
    latency = report.latency_seconds
    latency_text = "connecting…" if not math.isfinite(latency) else f"{latency * 1000:.0f} ms"
    embed = discord.Embed(title="paperbot status", colour=discord.Colour.blurple())
    embed.add_field(name="Uptime", value=_duration(report.now - report.started_at))
    embed.add_field(name="Gateway latency", value=latency_text)
    embed.add_field(
        name="Papers", value=f"{report.papers_total:,} stored · {report.papers_today:,} new today"
    )
    feeds = [f for f in report.feeds if f.enabled]
    lines = [feed_state_line(f, report.now, admin=admin) for f in feeds] or ["No feeds configured."]
    _add_long_field(embed, "Feeds", lines)
    if report.next_digests:
        _add_long_field(embed, "Next digests", report.next_digests)
    if admin and report.digest_problems:
        _add_long_field(embed, "Digest problems", report.digest_problems)
    if admin and report.processes:
        _add_long_field(embed, "Processes", report.processes)
    if admin:
        embed.add_field(name="Database", value=_size(report.database_bytes))
    embed.timestamp = report.now
    return embed


def _add_long_field(embed: discord.Embed, name: str, lines: list[str]) -> None:
    """Fields hold 1,024 characters: split lines over several fields (at most 4), never mid-line."""
    chunk: list[str] = []
    fields_added = 0
    for line in lines:
        line = line[:1000]
        if chunk and len("\n".join([*chunk, line])) > 1024:
            embed.add_field(name=name if fields_added == 0 else f"{name} (cont.)",
                            value="\n".join(chunk), inline=False)
            fields_added += 1
            chunk = []
            if fields_added == 4:
                break
        chunk.append(line)
    if chunk and fields_added < 4:
        embed.add_field(name=name if fields_added == 0 else f"{name} (cont.)",
                        value="\n".join(chunk), inline=False)
