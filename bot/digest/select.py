"""Which papers a digest holds, and in what order. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.merge import StoredPaper
from bot.models import AnnounceType


@dataclass(frozen=True, slots=True)
class DigestEntry:
    paper: StoredPaper
    announce_type: AnnounceType | None
    position: int  # announcement order


def rank_entries(
    entries: Sequence[DigestEntry], topic_hits: Mapping[str, int] | None = None
) -> list[DigestEntry]:
    """Hugging Face upvotes where known, then matches to server topics, then announcement order.

    Each paper appears once, at its earliest position.
    """
    topic_hits = topic_hits or {}
    unique: dict[str, DigestEntry] = {}
    for entry in entries:
        kept = unique.get(entry.paper.key)
        if kept is None or entry.position < kept.position:
            unique[entry.paper.key] = entry

    def key(entry: DigestEntry) -> tuple[int, int, int, int]:
        upvotes = entry.paper.hf_upvotes
        return (
            0 if upvotes is not None else 1,
            -(upvotes or 0),
            -topic_hits.get(entry.paper.key, 0),
            entry.position,
        )

    return sorted(unique.values(), key=key)
