"""Interaction bookkeeping: deadlines, responses, followups, and the result tests assert on."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from .models import FLAG_EPHEMERAL, Message

# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback (response) types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

RESPONSE_NAMES = {
    1: "pong",
    4: "message",
    5: "deferred",
    6: "deferred_update",
    7: "update",
    8: "autocomplete",
    9: "modal",
}


class InteractionNotAnswered(AssertionError):
    """The bot never gave an initial response a user would have seen."""


@dataclass(eq=False)
class Interaction:
    """What the fake knows about one interaction it dispatched. Live: updated as the bot acts.

    ``content``/``embeds``/``components``/``ephemeral`` describe the original response as the
    user finally sees it (after a deferred edit or a component update).
    """

    id: int
    token: str
    type: int
    user_id: int
    guild_id: int | None
    channel_id: int
    payload: dict[str, Any]
    dispatched_at: float
    deadline: float
    expires: float
    #: The message a component lives on (component interactions).
    source_message_id: int | None = None
    response_type: int | None = None
    responded_at: float | None = None
    #: The original response message (type 4/5), or the updated component message (6/7).
    message: Message | None = None
    followups: list[Message] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    deadline_missed: bool = False
    #: Times the bot tried a callback after the deadline (each got 10062).
    late_callbacks: int = 0
    #: Rejected callbacks: (status, code) pairs, e.g. (400, 40060) for a second response.
    rejected: list[tuple[int, int]] = field(default_factory=list)
    edits: int = 0
    deleted: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- what a user would see ---------------------------------------------------------

    @property
    def responded(self) -> bool:
        return self.response_type is not None

    @property
    def response_name(self) -> str | None:
        return None if self.response_type is None else RESPONSE_NAMES.get(self.response_type)

    @property
    def deferred(self) -> bool:
        return self.response_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def content(self) -> str | None:
        return None if self.message is None else self.message.content

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return [] if self.message is None else self.message.embeds

    @property
    def components(self) -> list[dict[str, Any]]:
        return [] if self.message is None else self.message.components

    @property
    def flags(self) -> int:
        return 0 if self.message is None else self.message.flags

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def response_latency(self) -> float | None:
        """Seconds from dispatch to the initial response."""
        if self.responded_at is None:
            return None
        return self.responded_at - self.dispatched_at

    def all_text(self) -> str:
        """Original response plus followups, content and embed text, for loose assertions."""
        parts: list[str] = []
        for msg in ([self.message] if self.message else []) + self.followups:
            parts.append(msg.content)
            for e in msg.embeds:
                parts.extend(str(e.get(k) or "") for k in ("title", "description"))
                for f in e.get("fields") or []:
                    parts.extend([str(f.get("name")), str(f.get("value"))])
        return "\n".join(p for p in parts if p)

    # -- waiting ------------------------------------------------------------------------

    def is_complete(self) -> bool:
        """Initial response given and, after a "thinking" defer, its answer arrived too."""
        if self.response_type is None:
            return False
        if self.response_type == DEFERRED_CHANNEL_MESSAGE:
            return self.edits > 0 or bool(self.followups) or self.deleted
        # A deferred update (6) may legitimately change nothing visible (a silent ack), so it
        # completes at once; pass ``settle=`` to wait for a later edit.
        return True

    def _touch(self) -> None:
        self.changed.set()

    async def wait(self, predicate: Any, timeout: float) -> bool:  # noqa: ASYNC109
        end = time.monotonic() + timeout
        while not predicate():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return bool(predicate())
        return True

    async def wait_for_followups(
        self,
        n: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Message]:
        """Wait until the bot has sent at least ``n`` followups; returns them."""
        ok = await self.wait(lambda: len(self.followups) >= n, timeout)
        if not ok:
            raise TimeoutError(f"expected {n} followup(s), got {len(self.followups)}")
        return self.followups

    def __repr__(self) -> str:
        return (
            f"<Interaction id={self.id} type={self.type} response={self.response_name} "
            f"content={self.content!r} followups={len(self.followups)} "
            f"deadline_missed={self.deadline_missed}>"
        )
