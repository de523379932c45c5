"""Digests as data: a channel's settings, a day's run, and the plan of messages it posts.

A run's plan is fixed (and stored) when the run is claimed, so a restart in the
middle of posting finishes the very same digest instead of composing a new one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BOOKMARK_EMOJI = "🔖"
SUBSCRIBE_EMOJI = "🔔"

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class EmptyDays(StrEnum):
    """What an empty day posts: AUTO = nothing on weekends, one line on weekday holidays."""

    AUTO = "auto"
    NEVER = "never"
    ALWAYS = "always"


class RunStatus(StrEnum):
    POSTING = "posting"  # claimed; messages may be partly posted
    DONE = "done"
    EMPTY = "empty"  # nothing to post today (a line at most); counts as the day's digest
    FAILED = "failed"  # gave up today (permission, deleted channel); retried next run

    @property
    def finished(self) -> bool:
        return self in (RunStatus.DONE, RunStatus.EMPTY)


def parse_post_time(text: str) -> tuple[int, int, int]:
    """'9:05' -> (9, 5, 0); seconds are accepted ('09:05:30'). Raises ValueError with a reason."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time; write it as HH:MM in 24-hour form, e.g. 09:00")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone I know; use an IANA name such as Europe/Berlin"
        ) from None


@dataclass(slots=True)
class DigestConfig:
    guild_id: int
    channel_id: int
    categories: list[str]
    post_time: str
    timezone: str
    max_papers: int = 10
    include_hf: bool = False
    filter_query: str | None = None
    cross_lists: bool = True
    empty_days: EmptyDays = EmptyDays.AUTO
    id: int | None = None
    cursor: int | None = None
    paused: bool = False
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    created_by: int | None = None
    cadence: str = "daily"  # daily | weekly (a weekly recap of what the server liked)
    weekday: int | None = None  # 0 = Monday, for weekly

    @property
    def weekly(self) -> bool:
        return self.cadence == "weekly"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def time_parts(self) -> tuple[int, int, int]:
        return parse_post_time(self.post_time)

    @property
    def label(self) -> str:
        scope = " · ".join(self.categories) if self.categories else ""
        if self.include_hf:
            scope = f"{scope} + Hugging Face" if scope else "Hugging Face"
        if self.weekly:
            return f"Weekly recap · {scope}" if scope else "Weekly recap"
        return scope or "papers"


@dataclass(slots=True)
class Button:
    label: str
    custom_id: str | None = None  # persistent button handled by the bot
    url: str | None = None  # link button
    emoji: str | None = None


@dataclass(slots=True)
class PlannedMessage:
    """One message of a digest, ready to send: pure data, stored as JSON in the run."""

    seq: int
    kind: str  # overview | paper | topic | more | notice
    target: str  # channel | thread
    content: str | None = None
    embeds: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    paper_key: str | None = None
    topic_id: int | None = None
    reaction: str | None = None  # the bot's own reaction after posting
    marker: str = ""  # text in the message that identifies it, to find it again after a crash

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedMessage:
        data = dict(data)
        data["buttons"] = [Button(**b) for b in data.get("buttons", [])]
        return cls(**data)


@dataclass(slots=True)
class DigestPlan:
    day: date  # the announcement day it presents (the latest one among its papers)
    messages: list[PlannedMessage]
    thread_name: str | None
    paper_count: int  # papers selected in all, posted or behind "more"
    extra_keys: list[str] = field(default_factory=list)  # beyond the cap, for the "more" button

    @property
    def is_empty(self) -> bool:
        return self.paper_count == 0

    def to_json(self) -> str:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DigestPlan:
        data = json.loads(text)
        return cls(
            day=date.fromisoformat(data["day"]),
            messages=[PlannedMessage.from_dict(m) for m in data["messages"]],
            thread_name=data.get("thread_name"),
            paper_count=data["paper_count"],
            extra_keys=list(data.get("extra_keys", [])),
        )


@dataclass(slots=True)
class DigestRun:
    id: int
    digest_id: int
    run_date: date
    status: RunStatus
    trigger: str
    cursor_to: int | None
    plan: DigestPlan | None
    thread_id: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    posted: dict[int, int] = field(default_factory=dict)  # seq -> message id
    reacted: set[int] = field(default_factory=set)  # seqs whose reaction is on
